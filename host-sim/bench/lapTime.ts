import { i2cTransferMs } from "../models/i2cBus"
import { FrameType } from "../../firmware/shuttle/frames"
import { defaultSimOptions, Simulation } from "../sim"
import { TestGroup } from "./shuttleRig"

/**
 * Lap time of the shuttle under load against the bus's physical time for the same bytes.
 * Run `npx tsx host-sim/bench/lapTime.ts` for the table.
 *
 * Load: every member writes a portion every `writeEveryMs`, so every member has data at every
 * visit and S moves once per lap. A lap is measured between two visits of the lap's first
 * member. The physical time of a lap is what the I2C transfers of that lap (shuttle hand-overs
 * and the release general call: START, address, data with ACKs, STOP) take at the bit rate;
 * the lap time adds each board's latency from the STOP to its own START (`boardLatencyMs`).
 */
export class LapFigures {
    constructor(
        public size: number,
        public bitRate: number,
        public boardLatencyMs: number,
        public laps: number,
        public lapMs: number,
        public physicalMs: number,
        public shuttleBytes: number,
        public releaseBytes: number
    ) {}

    ratio(): number {
        return this.lapMs / this.physicalMs
    }
}

export function measureLap(size: number, bitRate: number, boardLatencyMs: number, writeEveryMs = 1, runMs = 4000): LapFigures {
    const g = new TestGroup({ size, bitRate, seed: 1, bus: { deliveryDelayMs: boardLatencyMs } }).start()
    // warm up: the first shuttle, and steady frame sizes
    const writer = () => {
        for (const h of g.hosts) h.write(1, 256)
        g.k.setTimer(writeEveryMs, writer)
    }
    writer()
    g.run(500)
    const anchor = g.agents[0]
    // measure whole laps: from one visit of member 0 to a later one
    const visits: number[] = []
    let physical = 0
    let shuttleBytes = 0
    let shuttleFrames = 0
    let releaseBytes = 0
    let releaseFrames = 0
    const log: { at: number; ms: number }[] = []
    g.bus.observe((t) => {
        const ms = i2cTransferMs(bitRate, t.data.length)
        log.push({ at: t.endMs, ms })
        if (t.to === 0 && t.data[0] === FrameType.Release) {
            releaseBytes += t.data.length
            releaseFrames++
        } else if (t.data[0] === FrameType.Shuttle) {
            shuttleBytes += t.data.length
            shuttleFrames++
        }
    })
    let lastLaps = anchor.counters.laps
    const probe = () => {
        if (anchor.counters.laps !== lastLaps) {
            lastLaps = anchor.counters.laps
            visits.push(g.k.millis())
        }
        g.k.setTimer(0.001, probe)
    }
    probe()
    g.run(runMs)
    const first = visits[0]
    const last = visits[visits.length - 1]
    for (const e of log) if (e.at > first && e.at <= last) physical += e.ms
    const laps = visits.length - 1
    return new LapFigures(
        size,
        bitRate,
        boardLatencyMs,
        laps,
        (last - first) / laps,
        physical / laps,
        shuttleFrames ? shuttleBytes / shuttleFrames : 0,
        releaseFrames ? releaseBytes / releaseFrames : 0
    )
}

/** An idle group (no writes): lap time and the share of time the bus is busy. */
export function measureIdle(size: number, bitRate: number, runMs = 5000): { lapMs: number; busyFraction: number; seqMoves: number } {
    const g = new TestGroup({ size, bitRate, seed: 1 }).start()
    g.run(500)
    const laps0 = g.agents[0].counters.laps
    const busy0 = g.bus.counters.busyMs
    const seq0 = g.hosts[0].capture
    g.run(runMs)
    const laps = g.agents[0].counters.laps - laps0
    return { lapMs: runMs / laps, busyFraction: (g.bus.counters.busyMs - busy0) / runMs, seqMoves: g.hosts[0].capture - seq0 }
}

/** How busy the group bus is in a whole simulated group (boards, links, remote), idle or under
 * the simulator's default workload. */
export class BusShare {
    constructor(
        public boards: number,
        public bitRate: number,
        /** "idle": no writes at all; "default": the simulator's default workload (20 writes/s
         * per board, a burst of 20 writes every 2 s). */
        public workload: "idle" | "default",
        public windowMs: number,
        /** Bits on the wire (START, address, data, ACKs, STOP) over bit rate × time. */
        public busBusy: number,
        public handoversPerSec: number,
        /** Seqs released per second (the group's seq throughput). */
        public seqsPerSec: number,
        /** Idle pauses longer than the base pause, per second (the group was quiet). */
        public longPausesPerSec: number
    ) {}
}

/** Runs a simulated group of `boards` primaries on a bus at `bitRate`, idle or under the default
 * workload, and measures the bus from `warmupMs` (boot, mounts, first shuttle) for `windowMs`. */
export function measureBusShare(boards: number, bitRate: number, workload: "idle" | "default", windowMs = 20000, warmupMs = 3000): BusShare {
    const o = defaultSimOptions()
    o.boards = boards
    o.durationMs = warmupMs + windowMs
    // idle: one write per board in about a million seconds, no bursts
    const sim = new Simulation(o, { busBitRate: bitRate }, workload === "idle" ? { rate: 1e-6, burstEveryMs: 0 } : {})
    const k = sim.kernel
    sim.start()
    k.run(warmupMs, Number.MAX_SAFE_INTEGER)
    const bus = sim.shuttleBus!
    const sum = (f: (c: { handovers: number; longPauses: number }) => number) => {
        let n = 0
        for (const a of sim.agents) if (a) n += f(a.counters)
        return n
    }
    const busy0 = bus.counters.busyMs
    const hand0 = sum((c) => c.handovers)
    const long0 = sum((c) => c.longPauses)
    const seq0 = sim.agents[0]!.releasedSeq()
    const t0 = k.millis()
    k.run(warmupMs + windowMs, Number.MAX_SAFE_INTEGER)
    const s = (k.millis() - t0) / 1000
    return new BusShare(
        boards,
        bitRate,
        workload,
        k.millis() - t0,
        (bus.counters.busyMs - busy0) / (1000 * s),
        (sum((c) => c.handovers) - hand0) / s,
        ((sim.agents[0]!.releasedSeq() - seq0) >>> 0) / s,
        (sum((c) => c.longPauses) - long0) / s
    )
}

function fmt(v: number, d: number): string {
    return v.toFixed(d)
}

export function lapTable(latencies: number[]): string[] {
    const lines = ["| boards | bus | board latency | lap time | physical time | ratio | shuttle frame | release frame |", "|---|---|---|---|---|---|---|---|"]
    for (const latency of latencies)
        for (const rate of [100000, 400000])
            for (const size of [2, 4, 8]) {
                const f = measureLap(size, rate, latency)
                lines.push(
                    "| " +
                        size +
                        " | " +
                        rate / 1000 +
                        " kHz | " +
                        fmt(latency, 2) +
                        " ms | " +
                        fmt(f.lapMs, 2) +
                        " ms | " +
                        fmt(f.physicalMs, 2) +
                        " ms | " +
                        fmt(f.ratio(), 3) +
                        " | " +
                        fmt(f.shuttleBytes, 1) +
                        " B | " +
                        fmt(f.releaseBytes, 1) +
                        " B |"
                )
            }
    return lines
}

export function busShareTable(windowMs: number): string[] {
    const lines = ["| boards | bus | workload | bus busy | hand-overs/s | seqs/s | long pauses/s |", "|---|---|---|---|---|---|---|"]
    for (const rate of [100000, 400000])
        for (const size of [2, 4, 8])
            for (const w of ["idle", "default"] as const) {
                const f = measureBusShare(size, rate, w, windowMs)
                lines.push(
                    "| " +
                        size +
                        " | " +
                        rate / 1000 +
                        " kHz | " +
                        w +
                        " | " +
                        fmt(f.busBusy, 4) +
                        " | " +
                        fmt(f.handoversPerSec, 1) +
                        " | " +
                        fmt(f.seqsPerSec, 2) +
                        " | " +
                        fmt(f.longPausesPerSec, 2) +
                        " |"
                )
            }
    return lines
}

// `npx tsx host-sim/bench/lapTime.ts` prints the table
if (typeof process !== "undefined" && process.argv[1] && process.argv[1].endsWith("lapTime.ts")) {
    console.log(lapTable([0, 0.05, 0.2, 1]).join("\n"))
    console.log("")
    console.log("| idle group | bus | lap time | bus busy |")
    console.log("|---|---|---|---|")
    for (const rate of [100000, 400000])
        for (const size of [2, 4, 8]) {
            const f = measureIdle(size, rate)
            console.log("| " + size + " boards | " + rate / 1000 + " kHz | " + fmt(f.lapMs, 2) + " ms | " + fmt(100 * f.busyFraction, 1) + " % |")
        }
    console.log("")
    console.log(busShareTable(20000).join("\n"))
}
