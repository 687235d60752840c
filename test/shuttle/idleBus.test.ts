import { describe, expect, it } from "vitest"
import { Prng } from "../../host-sim/prng"
import { measureBusShare } from "../../host-sim/bench/lapTime"
import { FrameType } from "../../firmware/shuttle/frames"
import { TestGroup } from "./harness"

// Everything here runs in virtual time (the simulator's kernel): no sleeps, no wall clock.

const MIN_CYCLE_MS = 100

/** Busy share of the bus over the next `ms`, the hand-overs in it, and for each member the
 * longest time from passing the shuttle on to its next visit (what its lap timer measures). */
function window(g: TestGroup, ms: number): { busy: number; handovers: number; longest: number[] } {
    const busy0 = g.bus.counters.busyMs
    const hand0 = g.totalCounter("handovers")
    const passedAt = g.addrs.map(() => -1)
    const longest = g.addrs.map(() => 0)
    const stop = g.k.millis() + ms
    g.bus.observe((t) => {
        if (t.to === 0 || t.data[0] !== FrameType.Shuttle || !t.ack || t.endMs > stop) return
        const to = g.addrs.indexOf(t.to)
        if (passedAt[to] >= 0) longest[to] = Math.max(longest[to], t.endMs - passedAt[to])
        passedAt[to] = -1
        passedAt[g.addrs.indexOf(t.from)] = t.endMs
    })
    g.run(ms)
    for (let i = 0; i < g.addrs.length; i++) if (passedAt[i] >= 0) longest[i] = Math.max(longest[i], stop - passedAt[i])
    return { busy: (g.bus.counters.busyMs - busy0) / ms, handovers: g.totalCounter("handovers") - hand0, longest }
}

describe("an idle group's bus", () => {
    for (const rate of [100000, 400000, 1000000])
        for (const size of [2, 4, 8]) {
            it(size + " boards at " + rate / 1000 + " kHz: the pause grows to its bound, the bus is mostly free, and nobody takes the shuttle as lost", () => {
                const g = new TestGroup({ size, bitRate: rate, agent: { idlePauseMaxMs: MIN_CYCLE_MS } }).start()
                g.run(2000)
                const w = window(g, 30000)
                // one lap per pause at the bound: the bus time of n hand-overs over 100 ms and that
                const bound = size === 8 && rate === 100000 ? 0.17 : rate === 100000 ? 0.08 : 0.05
                expect(w.busy).toBeLessThan(bound)
                // n hand-overs a lap, a lap a little over the bound
                expect(w.handovers).toBeLessThan((size * 30000) / MIN_CYCLE_MS)
                expect(w.handovers).toBeGreaterThan((size * 30000) / (MIN_CYCLE_MS + 25))
                // the first shuttle is the only one ever made: no member's lap timer ran out
                expect(g.totalCounter("regenerations")).toBe(1)
                // and no member waited longer than its own lap timeout (taken as it is now, after
                // passing on a quiet shuttle); every member but the lap's first waited through
                // pauses at the bound
                for (let i = 0; i < size; i++) {
                    if (i > 0) expect(w.longest[i]).toBeGreaterThan(MIN_CYCLE_MS)
                    expect(w.longest[i]).toBeLessThan(g.agents[i].lapTimeoutMs())
                }
                expect(g.captures()).toEqual(g.hosts.map(() => 1))
                expect(g.violations).toEqual([])
            })
        }

    it("the lost-shuttle timeout covers the longest idle pause, and a lost shuttle is still replaced", () => {
        const g = new TestGroup({ size: 4, bitRate: 400000, agent: { idlePauseMaxMs: MIN_CYCLE_MS } }).start()
        g.run(3000)
        // the lap's first member pauses before it passes the shuttle on, so its wait is a lap;
        // every other member waits more than a lap plus the longest pause, and they still time
        // out in the order of their rank (the lowest live member regenerates first)
        expect(g.agents[0].lapTimeoutMs()).toBeCloseTo(3 * g.agents[0].lapEstimateMs(), 6)
        for (let i = 1; i < 4; i++) {
            expect(g.agents[i].lapTimeoutMs()).toBeGreaterThan(g.agents[i].lapEstimateMs() + MIN_CYCLE_MS)
            expect(g.agents[i].lapTimeoutMs()).toBeGreaterThan(g.agents[i - 1].lapTimeoutMs())
        }
        const before = g.totalCounter("regenerations")
        g.bus.dropNext((_f, to, d) => to !== 0 && d[0] === FrameType.Shuttle)
        g.run(2000)
        expect(g.totalCounter("regenerations")).toBe(before + 1)
        // the group is quiet again after the new shuttle: long pauses resume
        const long0 = g.totalCounter("longPauses")
        g.run(2000)
        expect(g.totalCounter("longPauses") - long0).toBeGreaterThan(10)
        expect(g.violations).toEqual([])
    })

    it("a first member skipped for a lap starts its pause again from the base (its successor's timeout has no growth)", () => {
        // 3 boards at 1 MHz with a 150 ms bound: the lap estimate is about 26 ms, so a member
        // that passed the shuttle on as the lap's first waits 4 estimates (about 105 ms) at
        // rank 1, less than one pause at the bound
        const g = new TestGroup({ size: 3, bitRate: 1000000, agent: { idlePauseMaxMs: 150 } }).start()
        g.run(3000)
        expect(g.totalCounter("longPauses")).toBeGreaterThan(10)
        expect(g.agents[1].lapTimeoutMs() - g.agents[1].lapEstimateMs() * 4).toBeLessThan(150)
        // member 0, the lap's first with its pause grown to the bound, does not answer one
        // hand-over (and its retry): member 2 marks it absent and member 1 starts the lap; then
        // member 0 answers again and is the lap's first once more
        let phase = 0
        let heldFrom = -1
        let firstHold = -1
        g.bus.observe((t) => {
            if (t.to === 0 || t.data[0] !== FrameType.Shuttle) return
            if (phase === 2 && t.to === g.addrs[0] && t.ack && heldFrom < 0) heldFrom = t.endMs
            if (phase === 2 && t.from === g.addrs[0] && t.ack && heldFrom >= 0 && firstHold < 0) firstHold = t.endMs - heldFrom
            if (phase === 0 && t.from === g.addrs[0] && t.ack) {
                g.bus.setPowered(g.addrs[0], false)
                phase = 1
            } else if (phase === 1 && t.from === g.addrs[2] && t.to === g.addrs[1] && t.ack) {
                g.bus.setPowered(g.addrs[0], true)
                phase = 2
            }
        })
        g.run(3000)
        expect(phase).toBe(2)
        expect(g.totalCounter("absentMarked")).toBe(1)
        // member 1 passed the shuttle on as the lap's first and waits without the pause's growth:
        // member 0, back as the lap's first, does not resume its grown pause
        expect(g.totalCounter("regenerations")).toBe(1)
        expect(firstHold).toBeGreaterThanOrEqual(0)
        expect(firstHold).toBeLessThan(30)
        expect(g.violations).toEqual([])
    })

    it("the first write after a quiet spell closes its seq within one cycle time and two laps", () => {
        const g = new TestGroup({ size: 8, bitRate: 100000, agent: { idlePauseMaxMs: MIN_CYCLE_MS } }).start()
        g.run(5000)
        const lap = g.agents[0].lapEstimateMs()
        const prng = new Prng(3)
        for (let k = 0; k < 20; k++) {
            g.run(1000 + prng.int(500))
            const i = prng.int(8)
            const at = g.k.millis()
            const seq = g.hosts[i].write(1)
            while (g.hosts[i].capture === seq && g.k.millis() < at + 1000) g.run(1)
            expect(g.hosts[i].capture).toBe(seq + 1)
            expect(g.k.millis() - at).toBeLessThan(MIN_CYCLE_MS + 2 * lap)
        }
        expect(g.violations).toEqual([])
    })
})

/** A loaded group as the simulator's default workload drives it: every board writes about 20
 * times a second at uniform random gaps, and may close a seq once `MIN_CYCLE_MS` has passed
 * since it adopted the last one (the pipeline's minimum cycle time). */
function loaded(idlePauseMaxMs: number, size: number, rate: number) {
    const g = new TestGroup({ size, bitRate: rate, seed: 5, agent: { idlePauseMaxMs } })
    for (const h of g.hosts)
        h.mayClose = () => {
            const last = h.adopts.length > 0 ? h.adopts[h.adopts.length - 1].at : -Infinity
            return g.k.millis() - last >= MIN_CYCLE_MS
        }
    g.start()
    const latencies: number[] = []
    const prng = new Prng(11)
    const writer = (i: number) => {
        const at = g.k.millis()
        g.hosts[i].write(1, 256, () => latencies.push(g.k.millis() - at))
        g.k.setTimer(prng.int(100000) / 1000, () => writer(i))
    }
    for (let i = 0; i < size; i++) writer(i)
    g.run(2000)
    latencies.length = 0
    const seq0 = g.hosts[0].capture
    const busy0 = g.bus.counters.busyMs
    g.run(30000)
    latencies.sort((a, b) => a - b)
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
    return {
        seqs: g.hosts[0].capture - seq0,
        writes: latencies.length,
        p50: p(0.5),
        p99: p(0.99),
        max: latencies[latencies.length - 1],
        busy: (g.bus.counters.busyMs - busy0) / 30000,
        violations: g.violations,
    }
}

describe("a loaded group is as fast as before", () => {
    for (const [size, rate] of [
        [4, 400000],
        [8, 100000],
    ])
        it(size + " boards at " + rate / 1000 + " kHz: seq throughput and acknowledgement latency with the growing pause match a fixed pause", () => {
            // before: the pause never grew (its bound is the base pause)
            const before = loaded(20, size, rate)
            const after = loaded(MIN_CYCLE_MS, size, rate)
            expect(before.violations).toEqual([])
            expect(after.violations).toEqual([])
            expect(after.writes).toBeGreaterThan(size * 20 * 30 * 0.9)
            // a seq about every cycle time, in both
            expect(before.seqs).toBeGreaterThan(30000 / (MIN_CYCLE_MS + 30))
            expect(after.seqs).toBeGreaterThanOrEqual(before.seqs * 0.98)
            // acknowledgements wait for a release as long as before
            expect(after.p50).toBeLessThanOrEqual(before.p50 + 0.5)
            expect(after.p99).toBeLessThanOrEqual(before.p99 * 1.05 + 0.5)
        })
})

describe("a whole simulated group (boards, links, remote) on the simulator's default bus", () => {
    it("idle, the bus is busy under 5 % of the time; under the default workload, seqs move every cycle time", () => {
        const idle = measureBusShare(4, 400000, "idle", 20000)
        expect(idle.busBusy).toBeLessThan(0.05)
        expect(idle.handoversPerSec).toBeLessThan(50)
        expect(idle.seqsPerSec).toBe(0)
        const busy = measureBusShare(4, 400000, "default", 20000)
        expect(busy.seqsPerSec).toBeGreaterThan(8)
        expect(busy.busBusy).toBeGreaterThan(idle.busBusy * 3)
    })
})
