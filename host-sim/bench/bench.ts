// `seqmirror bench`: how close seqmirror comes to what the hardware allows (Node only).
// docs/PERFORMANCE.md shows the table, how to reproduce it and what limits each figure.
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { NOR_PROGRAM_TYP_MS } from "../../hal/spiNor"
import { PORTION_HEADER } from "../../firmware/protocol/messages"
import { defaultSimOptions } from "../sim"
import { Cell, chipScaleRow, ChipScaleRow, WRITE_AMPLIFICATION_HEAD, writeAmplificationRows } from "./storeFigures"
import { imageSize, ImageSize, PROJECT_ROOT } from "./devs"
import { FixedRam, measureFixedRam } from "./fixedRam"
import { BusShare, LapFigures, measureBusShare, measureLap } from "./lapTime"
import { defaultMessageCount, LinkEfficiencyRow, measureLinkEfficiency } from "./linkEfficiency"
import { AckLatencyRow, FoldingRow, measureAckLatency, measureFolding, measureRpo, measureSimSpeed, RpoRow, SimSpeedRow } from "./simFigures"
import { measureVmSpeed, VmSpeed } from "./vmSpeed"
import { measureRestore, measureResync, ResyncRow, RestoreRow } from "./resync"

/** What one run measures; the quick plan (for the test suite) is the same with less of each. */
export interface BenchPlan {
    quick: boolean
    /** Messages per link measurement (0: the measurement's default, about 70 s of line time). */
    linkMessages: number
    /** Acknowledgement latency: run length, and the start-up left out (long enough for the
     * flash log to wrap, so that garbage collection runs as it does in service). */
    ackRunMs: number
    ackWarmupMs: number
    /** Start-up left out of the RPO figures. */
    warmupMs: number
    lapRunMs: number
    /** Window of the bus busy share rows (after 3 s of boot and warm-up). */
    busShareRunMs: number
    rpoRunMs: number
    foldingRunMs: number
    speedRunMs: number
    speedReps: number
    vmNodeFrames: number
    storeWritesPerLba: number
    /** Workload time before the remote is replaced, in the full resync rows. */
    resyncFillMs: number
    /** Seeds pooled in the latency and RPO rows. */
    seeds: number
}

export function benchPlan(quick: boolean): BenchPlan {
    return quick
        ? {
              quick,
              linkMessages: 800,
              ackRunMs: 6000,
              ackWarmupMs: 2000,
              warmupMs: 2000,
              lapRunMs: 300,
              busShareRunMs: 2000,
              rpoRunMs: 5000,
              foldingRunMs: 5000,
              speedRunMs: 5000,
              speedReps: 1,
              vmNodeFrames: 300,
              storeWritesPerLba: 1,
              resyncFillMs: 5000,
              seeds: 1,
          }
        : {
              quick,
              linkMessages: 0,
              ackRunMs: 180000,
              ackWarmupMs: 60000,
              warmupMs: 5000,
              lapRunMs: 4000,
              busShareRunMs: 20000,
              rpoRunMs: 65000,
              foldingRunMs: 60000,
              speedRunMs: 60000,
              speedReps: 3,
              vmNodeFrames: 3000,
              storeWritesPerLba: 10,
              resyncFillMs: 30000,
              seeds: 3,
          }
}

export const BAUDS = [115200, 921600]
export const FRAME_LOSSES = [0, 0.01]
export const BUS_RATES = [100000, 400000]
export const GROUP_SIZES = [2, 4, 8]
/** Board latency from a STOP to the board's own next START: none (the simulator's firmware
 * takes no time) and 50 µs (an interrupt and a short run-loop turn). */
export const BOARD_LATENCIES_MS = [0, 0.05]
export const OFFERED_LOADS = [0.5, 0.8, 1, 1.5]
/** The bounded-RPO target of the paced rows. */
export const RPO_TARGET_MS = 1000
export const RPO_BOARDS = 4
export const RPO_BAUD = 115200
/** The groups whose acknowledgement latency is measured: the simulator's default bus, and the
 * slowest lap of the lap table. */
export const ACK_GROUPS: [number, number][] = [
    [4, 400000],
    [8, 100000],
]

export interface LinkRow {
    baud: number
    /** Every frame sealed (docs/FORMAT-link.md §11). */
    sealed: boolean
    targetFrameLoss: number
    frameLoss: number
    messageBytes: number
    /** Message bytes delivered over baud/10 × the time the line was busy. */
    efficiency: number
    /** The same for the 256 data bytes of each portion only. */
    dataEfficiency: number
    lineBusy: number
    retransmissions: number
}

export interface LapRow {
    boards: number
    bitRate: number
    boardLatencyMs: number
    laps: number
    lapMs: number
    physicalMs: number
    ratio: number
}

export interface BusShareRow {
    boards: number
    bitRate: number
    /** "idle" (no writes) or "default" (the simulator's default workload). */
    workload: string
    /** Bits on the wire over bit rate × time. */
    busBusy: number
    handoversPerSec: number
    seqsPerSec: number
}

/** The chips the store is measured over whole (1 MB, and the W25Q128JV's 16 MB). */
const CHIP_SIZES = [1 << 20, 16 << 20]
/** The mount goals at 16 MB, and the heap of a board (docs/HARDWARE.md, "RAM"). */
const MOUNT_CLEAN_GOAL_MS = 100
const MOUNT_CUT_GOAL_MS = 500
const BOARD_HEAP_BYTES = 64 * 1024

/** The idle group's busy share the goals ask for at the simulator's default bus rate. */
export const IDLE_BUS_GOAL = 0.05

export interface Goal {
    goal: string
    target: string
    measured: string
    /** null: a figure the goals ask for without a target. */
    met: boolean | null
}

export interface BenchReport {
    quick: boolean
    wallMs: number
    /** Wall time of each part of the run. */
    sectionsMs: Record<string, number>
    linkEfficiency: LinkRow[]
    ackLatency: { pageProgramMs: number; fromMs: number; toMs: number; rows: (AckLatencyRow & { lapMs: number; goalMs: number })[] }
    shuttleLap: LapRow[]
    busShare: BusShareRow[]
    rpoLag: {
        boards: number
        baud: number
        blockSize: number
        linkCapacityBytesPerSec: number
        rpoTargetMs: number
        /** Whether this simulator knows SimOptions.rpoTargetMs; without it the paced rows run unpaced. */
        pacingSupported: boolean
        windowMs: number
        rows: RpoRow[]
    }
    writeFolding: FoldingRow[]
    /** A new remote with a blank flash, resynced in full by an idle group. */
    resync: ResyncRow[]
    /** A new primary with a blank flash, restored from the remote (an idle group). */
    restore: RestoreRow[]
    simSpeed: SimSpeedRow[]
    vm: VmSpeed
    image: { board: ImageSize; configUpToDate: boolean; fixedRam: FixedRam }
    store: { head: string[]; rows: Cell[][] }
    /** The store over a whole chip: 1 MB and the W25Q128JV's 16 MB. */
    chipScale: ChipScaleRow[]
    goals: Goal[]
}

function r(x: number, d = 3): number {
    const f = Math.pow(10, d)
    return Math.round(x * f) / f
}

function linkRow(e: LinkEfficiencyRow): LinkRow {
    if (!e.completed || e.errors.length > 0) throw new Error("link measurement at " + e.baud + " baud did not complete: " + e.errors.join("; "))
    return {
        baud: e.baud,
        sealed: e.sealed,
        targetFrameLoss: e.targetFrameLoss,
        frameLoss: r(e.frameLoss, 4),
        messageBytes: 256 + e.header,
        efficiency: r(e.efficiency, 4),
        dataEfficiency: r(e.dataEfficiency, 4),
        lineBusy: r(e.utilization, 4),
        retransmissions: e.retransmissions,
    }
}

function lapRow(f: LapFigures): LapRow {
    return {
        boards: f.size,
        bitRate: f.bitRate,
        boardLatencyMs: f.boardLatencyMs,
        laps: f.laps,
        lapMs: r(f.lapMs),
        physicalMs: r(f.physicalMs),
        ratio: r(f.ratio()),
    }
}

function busShareRow(f: BusShare): BusShareRow {
    return {
        boards: f.boards,
        bitRate: f.bitRate,
        workload: f.workload,
        busBusy: r(f.busBusy, 4),
        handoversPerSec: r(f.handoversPerSec, 1),
        seqsPerSec: r(f.seqsPerSec, 2),
    }
}

function configUpToDate(): boolean {
    const res = spawnSync(process.execPath, [join(PROJECT_ROOT, "bin", "gen-board-config.mjs"), "--check"], { cwd: PROJECT_ROOT, encoding: "utf8" })
    return res.status === 0
}

export function runBench(plan: BenchPlan, onProgress: (what: string) => void = () => {}): BenchReport {
    const started = performance.now()
    const sectionsMs: Record<string, number> = {}
    let section = ""
    let sectionStart = started
    const progress = (what: string) => {
        const now = performance.now()
        if (section !== "") sectionsMs[section] = Math.round(now - sectionStart)
        section = what
        sectionStart = now
        onProgress(what)
    }

    progress("link efficiency")
    const linkEfficiency: LinkRow[] = []
    for (const sealed of [false, true])
        for (const baud of BAUDS)
            for (const loss of FRAME_LOSSES)
                linkEfficiency.push(linkRow(measureLinkEfficiency(baud, loss, PORTION_HEADER, {}, plan.linkMessages || defaultMessageCount(baud), sealed)))

    progress("shuttle lap time")
    const shuttleLap: LapRow[] = []
    for (const latency of BOARD_LATENCIES_MS)
        for (const rate of BUS_RATES) for (const size of GROUP_SIZES) shuttleLap.push(lapRow(measureLap(size, rate, latency, 1, plan.lapRunMs)))
    const lapOf = (size: number, rate: number): number => {
        const row = shuttleLap.find((l) => l.boards === size && l.bitRate === rate && l.boardLatencyMs === 0)
        return row ? row.lapMs : measureLap(size, rate, 0, 1, plan.lapRunMs).lapMs
    }

    progress("bus busy share, idle and loaded")
    const busShare: BusShareRow[] = []
    for (const rate of BUS_RATES)
        for (const size of GROUP_SIZES)
            for (const w of ["idle", "default"] as const) busShare.push(busShareRow(measureBusShare(size, rate, w, plan.busShareRunMs)))

    const seeds: number[] = []
    for (let i = 1; i <= plan.seeds; i++) seeds.push(i)

    progress("acknowledgement latency")
    const pageProgramMs = NOR_PROGRAM_TYP_MS
    const ackRows: BenchReport["ackLatency"]["rows"] = []
    for (const [boards, rate] of ACK_GROUPS)
        for (const mode of ["consistent", "none"] as const) {
            const row = measureAckLatency(mode, boards, rate, pageProgramMs, plan.ackRunMs, plan.ackWarmupMs, seeds)
            const lapMs = lapOf(boards, rate)
            ackRows.push({ ...row, lapMs, goalMs: r(pageProgramMs + 1.5 * lapMs) })
        }

    progress("RPO lag under offered load")
    const rpoRows: RpoRow[] = []
    for (const target of [0, RPO_TARGET_MS])
        for (const load of OFFERED_LOADS) rpoRows.push(measureRpo(load, target, "pull-ahead", RPO_BOARDS, RPO_BAUD, 256, plan.rpoRunMs, plan.warmupMs, seeds))
    // the other congestion policy where the history bound is reached: the overloads
    for (const target of [0, RPO_TARGET_MS])
        for (const load of OFFERED_LOADS)
            if (load > 1) rpoRows.push(measureRpo(load, target, "block", RPO_BOARDS, RPO_BAUD, 256, plan.rpoRunMs, plan.warmupMs, seeds))

    progress("write folding")
    const writeFolding = [
        measureFolding("simulator default: 50% of writes to 5% of lbas", 0.5, 0.05, 4, plan.foldingRunMs),
        measureFolding("hot spot: 90% of writes to 2% of lbas", 0.9, 0.02, 4, plan.foldingRunMs),
        measureFolding("uniform: no hot spot", 0, 0.05, 4, plan.foldingRunMs),
    ]

    progress("full resync")
    const resync: ResyncRow[] = []
    for (const baud of BAUDS) for (const boards of [1, RPO_BOARDS]) resync.push(measureResync(boards, baud, plan.resyncFillMs))

    progress("restore of a primary")
    const restore: RestoreRow[] = []
    for (const baud of BAUDS) for (const boards of [1, RPO_BOARDS]) restore.push(measureRestore(boards, baud, plan.resyncFillMs))

    progress("simulator speed")
    const simSpeed = [
        measureSimSpeed("sim default: 20 writes/s per board + bursts", 4, 20, {}, plan.speedRunMs, plan.speedReps),
        measureSimSpeed("light: 2 writes/s per board, no bursts", 4, 2, { burstEveryMs: 0 }, plan.speedRunMs, plan.speedReps),
    ]

    progress("data path in the DeviceScript VM")
    const vm = measureVmSpeed(BAUDS, plan.vmNodeFrames)

    progress("board image and fixed RAM")
    const image = { board: imageSize("firmware/main.ts", true), configUpToDate: configUpToDate(), fixedRam: measureFixedRam() }

    progress("block store")
    const store = { head: WRITE_AMPLIFICATION_HEAD, rows: writeAmplificationRows([256], [0.25, 0.5, 0.75], plan.storeWritesPerLba) }

    progress("block store over a whole chip")
    const chipScale = CHIP_SIZES.map((c) => chipScaleRow(c))

    progress("")
    const report: BenchReport = {
        quick: plan.quick,
        wallMs: 0,
        sectionsMs,
        linkEfficiency,
        ackLatency: { pageProgramMs, fromMs: plan.ackWarmupMs, toMs: plan.ackRunMs, rows: ackRows },
        shuttleLap,
        busShare,
        rpoLag: {
            boards: RPO_BOARDS,
            baud: RPO_BAUD,
            blockSize: 256,
            linkCapacityBytesPerSec: RPO_BAUD / 10,
            rpoTargetMs: RPO_TARGET_MS,
            pacingSupported: "rpoTargetMs" in defaultSimOptions(),
            windowMs: plan.rpoRunMs - plan.warmupMs,
            rows: rpoRows,
        },
        writeFolding,
        resync,
        restore,
        simSpeed,
        vm,
        image,
        store,
        chipScale,
        goals: [],
    }
    report.goals = goals(report)
    report.wallMs = Math.round(performance.now() - started)
    return report
}

function goals(b: BenchReport): Goal[] {
    const out: Goal[] = []
    const clean = b.linkEfficiency.filter((l) => l.targetFrameLoss === 0)
    const lossy = b.linkEfficiency.filter((l) => l.targetFrameLoss > 0)
    const min = (xs: number[]) => xs.reduce((a, x) => Math.min(a, x), Infinity)
    const max = (xs: number[]) => xs.reduce((a, x) => Math.max(a, x), -Infinity)
    for (const sealed of [false, true]) {
        const how = sealed ? ", every frame sealed" : ""
        const c = clean.filter((l) => l.sealed === sealed).map((l) => l.efficiency)
        const x = lossy.filter((l) => l.sealed === sealed).map((l) => l.efficiency)
        out.push({ goal: "link efficiency, clean line" + how, target: ">= 0.95", measured: min(c).toFixed(4) + " (lowest)", met: min(c) >= 0.95 })
        out.push({ goal: "link efficiency, 1% frame loss" + how, target: ">= 0.85", measured: min(x).toFixed(4) + " (lowest)", met: min(x) >= 0.85 })
    }
    for (const latency of BOARD_LATENCIES_MS) {
        const ratios = b.shuttleLap.filter((l) => l.boardLatencyMs === latency).map((l) => l.ratio)
        out.push({
            goal: "lap time / bus physical time, board latency " + latency * 1000 + " µs",
            target: "<= 1.5",
            measured: max(ratios).toFixed(3) + " (highest)",
            met: max(ratios) <= 1.5,
        })
    }
    for (const rate of BUS_RATES) {
        const idle = b.busShare.filter((x) => x.workload === "idle" && x.bitRate === rate).map((x) => x.busBusy)
        const target = rate === 400000 ? IDLE_BUS_GOAL : null
        out.push({
            goal: "bus busy share of an idle group, 2 to 8 boards at " + rate / 1000 + " kHz",
            target: target === null ? "(no target)" : "<= " + target,
            measured: max(idle).toFixed(4) + " (highest)",
            met: target === null ? null : max(idle) <= target,
        })
    }
    for (const a of b.ackLatency.rows.filter((x) => x.mode === "consistent")) {
        const group = a.boards + " boards at " + a.busBitRate / 1000 + " kHz"
        out.push({
            goal: "ack p99, mode consistent, " + group,
            target: "<= page program + 1.5 laps = " + a.goalMs.toFixed(2) + " ms",
            measured: a.latencyMs.p99.toFixed(3) + " ms",
            met: a.latencyMs.p99 <= a.goalMs,
        })
        out.push({
            goal: "of which the wait for the release (after durable), p99, " + group,
            target: "<= 1.5 laps = " + (1.5 * a.lapMs).toFixed(2) + " ms",
            measured: a.releaseWaitMs.p99.toFixed(3) + " ms",
            met: a.releaseWaitMs.p99 <= 1.5 * a.lapMs,
        })
    }
    const full = b.chipScale.find((c) => c.capacityBytes === 16 << 20)
    if (full) {
        out.push({
            goal: "mount of a 16 MB store at 8 MHz SPI after a clean stop",
            target: "<= " + MOUNT_CLEAN_GOAL_MS + " ms",
            measured: r(full.cleanMountMs, 1) + " ms",
            met: full.cleanMountMs <= MOUNT_CLEAN_GOAL_MS,
        })
        out.push({
            goal: "mount of a 16 MB store at 8 MHz SPI after a power cut",
            target: "<= " + MOUNT_CUT_GOAL_MS + " ms",
            measured: r(full.cutMountMs, 1) + " ms",
            met: full.cutMountMs <= MOUNT_CUT_GOAL_MS,
        })
        out.push({
            goal: "the store's RAM for a 16 MB chip within the board's heap",
            target: "<= " + BOARD_HEAP_BYTES / 1024 + " KB",
            measured: Math.round(full.indexRamBytes / 1024) + " KB",
            met: full.indexRamBytes <= BOARD_HEAP_BYTES,
        })
    }
    for (let i = 0; i < b.simSpeed.length; i++) {
        const speed = b.simSpeed[i]
        const target = i === 0 ? 2000 : 5000
        out.push({
            goal: "simulator speed, 4+1 boards (" + speed.workload + ")",
            target: ">= " + target + "x real time",
            measured: speed.speed + "x",
            met: speed.speed >= target,
        })
    }
    for (const l of b.vm.links)
        out.push({
            goal: "DeviceScript VM keeps up with a " + l.baud + " baud link",
            target: l.baud === 115200 ? "yes" : "(no target)",
            measured: (l.keepsUp ? "yes" : "no") + " (receive path needs " + (100 * l.decodeCpuShare).toFixed(1) + "% of the VM)",
            met: l.baud === 115200 ? l.keepsUp : null,
        })
    for (const l of b.vm.sealed.links)
        out.push({
            goal: "DeviceScript VM seals and opens every frame of a " + l.baud + " baud link",
            target: "yes",
            measured:
                (l.keepsUp ? "yes" : "no") +
                " (sealing needs " +
                (100 * l.encodeCpuShare).toFixed(1) +
                "%, opening " +
                (100 * l.decodeCpuShare).toFixed(1) +
                "% of the VM)",
            met: l.keepsUp,
        })
    return out
}

// ---- the table

function mdTable(head: string[], rows: (string | number)[][]): string {
    // a blank line first: a Markdown table does not start inside a paragraph
    const lines = ["", "| " + head.join(" | ") + " |", "|" + head.map(() => "---").join("|") + "|"]
    for (const row of rows) lines.push("| " + row.map((c) => (typeof c === "number" && !Number.isInteger(c) ? String(r(c)) : String(c))).join(" | ") + " |")
    return lines.join("\n")
}

function pct(x: number): string {
    return (100 * x).toFixed(1) + " %"
}

function kBps(x: number): string {
    return x >= 1e6 ? (x / 1e6).toFixed(1) + " MB/s" : (x / 1000).toFixed(1) + " KB/s"
}

export function formatBench(b: BenchReport): string {
    const out: string[] = []
    out.push("seqmirror bench" + (b.quick ? " --quick (shortened runs: figures are indicative only)" : "") + ", " + (b.wallMs / 1000).toFixed(1) + " s")
    out.push("")
    out.push("Link efficiency: portion messages (" + b.linkEfficiency[0].messageBytes + " B) delivered / (baud/10 x line busy time)")
    out.push(
        mdTable(
            ["baud", "sealed", "frame loss (target / measured)", "efficiency", "portion data only", "line busy", "retransmissions"],
            b.linkEfficiency.map((l) => [
                l.baud,
                l.sealed ? "yes" : "no",
                pct(l.targetFrameLoss) + " / " + pct(l.frameLoss),
                l.efficiency.toFixed(4),
                l.dataEfficiency.toFixed(4),
                l.lineBusy.toFixed(4),
                l.retransmissions,
            ])
        )
    )
    out.push("")
    out.push(
        "Host-write acknowledgement latency, 20 writes/s per board, writes issued from " +
            b.ackLatency.fromMs / 1000 +
            " s to " +
            b.ackLatency.toMs / 1000 +
            " s, " +
            b.ackLatency.rows[0].seeds +
            " seed(s) pooled (page program " +
            b.ackLatency.pageProgramMs +
            " ms; lap = loaded lap at that size and bus rate)"
    )
    out.push(
        mdTable(
            [
                "mode",
                "boards",
                "bus",
                "writes",
                "p50 ms",
                "p99 ms",
                "max ms",
                "p50 / page program",
                "p99 / page program",
                "store write p50 / p99 ms",
                "waited for an erase",
                "release wait p50 / p99 ms",
                "lap ms",
                "remote consistent",
            ],
            b.ackLatency.rows.map((a) => [
                a.mode,
                a.boards,
                a.busBitRate / 1000 + " kHz",
                a.writes,
                a.latencyMs.p50,
                a.latencyMs.p99,
                a.latencyMs.max,
                a.p50Ratio,
                a.p99Ratio,
                a.storeWriteMs.p50 + " / " + a.storeWriteMs.p99,
                pct(a.eraseWaitShare),
                a.releaseWaitMs.p50 + " / " + a.releaseWaitMs.p99,
                a.lapMs,
                a.groupConsistent ? "yes" : "no",
            ])
        )
    )
    out.push("")
    out.push("Shuttle lap time under load against the bus's physical time for the same bytes")
    out.push(
        mdTable(
            ["boards", "bus", "board latency", "laps", "lap ms", "physical ms", "ratio"],
            b.shuttleLap.map((l) => [l.boards, l.bitRate / 1000 + " kHz", l.boardLatencyMs * 1000 + " µs", l.laps, l.lapMs, l.physicalMs, l.ratio.toFixed(3)])
        )
    )
    out.push("")
    out.push(
        "Group bus busy share (bits on the wire / (bit rate x time)), a whole simulated group idle and under the simulator's default workload (20 writes/s per board + bursts)"
    )
    out.push(
        mdTable(
            ["boards", "bus", "workload", "bus busy", "hand-overs/s", "seqs/s"],
            b.busShare.map((x) => [x.boards, x.bitRate / 1000 + " kHz", x.workload, x.busBusy.toFixed(4), x.handoversPerSec, x.seqsPerSec])
        )
    )
    out.push("")
    const rp = b.rpoLag
    out.push(
        "RPO lag, " +
            rp.boards +
            " boards, " +
            rp.baud +
            " baud (" +
            rp.linkCapacityBytesPerSec +
            " B/s per link), uniform writes of " +
            rp.blockSize +
            " B, " +
            (rp.windowMs / 1000).toFixed(0) +
            " s window, " +
            rp.rows[0].seeds +
            " seed(s) pooled; pacing target " +
            rp.rpoTargetMs +
            " ms" +
            (rp.pacingSupported ? "" : " (this simulator has no pacing: paced rows run unpaced)")
    )
    out.push(
        mdTable(
            [
                "offered",
                "pacing",
                "congestion",
                "writes/s per board",
                "acked",
                "refused",
                "suspensions",
                "acked suspended",
                "RPO p50 ms",
                "RPO p99 ms",
                "RPO p50 seqs",
                "RPO p99 seqs",
                "link efficiency",
            ],
            rp.rows.map((x) => [
                pct(x.offeredLoad),
                x.pacing ? x.rpoTargetMs + " ms" : "off",
                x.congestion,
                x.writesPerSecPerBoard,
                pct(x.ackedShare),
                pct(x.failedShare),
                x.suspensions,
                x.ackedDuringSuspension,
                x.rpoLagMs.p50,
                x.rpoLagMs.p99,
                x.rpoLagSeqs.p50,
                x.rpoLagSeqs.p99,
                x.linkEfficiency,
            ])
        )
    )
    out.push("")
    out.push("Write folding: bytes the apps wrote against portion bytes sent (4 boards, 20 writes/s per board + bursts)")
    out.push(
        mdTable(
            ["workload", "writes", "bytes written", "portion bytes sent", "saved", "folded in the aux ring"],
            b.writeFolding.map((f) => [f.workload, f.writesAcked, f.bytesWritten, f.portionBytesSent, pct(f.savedShare), f.ringFolds])
        )
    )
    out.push("")
    out.push(
        "Full resync of a new remote with a blank flash, the group idle, from the first RESYNC to the commit (before it the new remote mounts its blank flash and the links reconnect), " +
            "against its two physical limits: the busiest member's copy at the link's byte rate (baud / 10), and the flash's datasheet time for the erases and programs of the slowest member's copy"
    )
    out.push(
        mdTable(
            [
                "boards",
                "baud",
                "blocks copied",
                "image bytes",
                "boot + reconnect ms",
                "copy ms",
                "its erases + programs, datasheet ms",
                "link limit ms",
                "resync ms",
                "link used",
                "resync / slower limit",
                "consistent",
            ],
            b.resync.map((x) => [
                x.boards,
                x.baud,
                x.blocks,
                x.imageBytes,
                x.startMs,
                x.copyMs,
                x.copyFlashMs,
                x.linkMs,
                x.resyncMs,
                x.efficiency.toFixed(3),
                x.overLimit.toFixed(3),
                x.consistent ? "yes" : "NO",
            ])
        )
    )
    out.push("")
    out.push(
        "Restore of a primary lost with its flash: a new board with a blank flash takes its image back from the remote, the group idle, from its first RESTORE to its image's end, " +
            "against the link's limit: the blocks at the link's byte rate (baud / 10)"
    )
    out.push(
        mdTable(
            ["boards", "baud", "blocks", "image bytes", "link limit ms", "restore ms", "link used", "consistent"],
            b.restore.map((x) => [x.boards, x.baud, x.blocks, x.imageBytes, x.linkMs, x.restoreMs, x.efficiency.toFixed(3), x.consistent ? "yes" : "NO"])
        )
    )
    out.push("")
    out.push("Simulator speed, 4+1 boards (virtual seconds per wall second; per CPU second)")
    out.push(
        mdTable(
            ["workload", "virtual s", "wall s", "speed", "speed per CPU s", "events per virtual s"],
            b.simSpeed.map((s) => [
                s.workload,
                (s.virtualMs / 1000).toFixed(1),
                (s.wallMs / 1000).toFixed(2),
                s.speed + "x",
                s.speedCpu + "x",
                s.eventsPerVirtualSecond,
            ])
        )
    )
    out.push("")
    const v = b.vm
    out.push(
        "Link data path (" +
            v.frame.portions +
            " portions, " +
            v.frame.payloadBytes +
            " B payload, " +
            v.frame.wireBytes +
            " B on the wire per frame), DeviceScript VM (WASM, this machine) against Node"
    )
    out.push(
        mdTable(
            ["path", "VM ms/frame", "VM payload", "Node payload", "VM slower by"],
            [
                [
                    "encode: CRC-32C + COBS",
                    v.vm.encode.msPerFrame,
                    kBps(v.vm.encode.payloadBytesPerSec),
                    kBps(v.node.encode.payloadBytesPerSec),
                    v.vmSlowdown.encode + "x",
                ],
                [
                    "decode: COBS + CRC check",
                    v.vm.decode.msPerFrame,
                    kBps(v.vm.decode.payloadBytesPerSec),
                    kBps(v.node.decode.payloadBytesPerSec),
                    v.vmSlowdown.decode + "x",
                ],
            ]
        )
    )
    out.push(
        mdTable(
            ["link", "line B/s", "VM time to send at line rate", "VM time to receive at line rate", "keeps up"],
            v.links.map((l) => [l.baud + " baud", l.lineBytesPerSec, pct(l.encodeCpuShare), pct(l.decodeCpuShare), l.keepsUp ? "yes" : "no"])
        )
    )
    out.push("")
    out.push("same frames in the VM and on Node: " + (v.sameResult ? "yes" : "NO"))
    out.push("")
    const sv = v.sealed
    out.push(
        "The same path with every frame sealed (AES-256-CCM, 8-byte tag: " +
            sv.frame.wireBytes +
            " B on the wire per frame): the runtime's native cipher in the VM against Node's"
    )
    out.push(
        mdTable(
            ["path", "VM ms/frame", "VM payload", "Node payload"],
            [
                ["seal + CRC-32C + COBS", sv.vm.encode.msPerFrame, kBps(sv.vm.encode.payloadBytesPerSec), kBps(sv.node.encode.payloadBytesPerSec)],
                ["COBS + CRC check + open", sv.vm.decode.msPerFrame, kBps(sv.vm.decode.payloadBytesPerSec), kBps(sv.node.decode.payloadBytesPerSec)],
            ]
        )
    )
    out.push(
        mdTable(
            ["link", "line B/s", "VM time to seal at line rate", "VM time to open at line rate", "keeps up"],
            sv.links.map((l) => [l.baud + " baud", l.lineBytesPerSec, pct(l.encodeCpuShare), pct(l.decodeCpuShare), l.keepsUp ? "yes" : "no"])
        )
    )
    out.push("")
    out.push("same sealed frames in the VM and on Node: " + (sv.sameResult ? "yes" : "NO"))
    out.push("")
    const im = b.image
    out.push("Board image and fixed RAM")
    out.push(
        mdTable(
            ["image", "function bytecode", "VM limit", "data (strings, header)", "total", "fits", "config up to date"],
            [
                [
                    im.board.entry,
                    im.board.functionBytes,
                    im.board.limitBytes,
                    im.board.dataBytes,
                    im.board.totalBytes,
                    im.board.fits ? "yes" : "no",
                    im.configUpToDate ? "yes" : "no",
                ],
            ]
        )
    )
    const fr = im.fixedRam
    out.push("")
    out.push(
        "Fixed RAM of a primary (" +
            fr.config +
            ": aux ring " +
            fr.auxRingBytes +
            " B, flash " +
            fr.flashBytes +
            " B, block " +
            fr.blockSize +
            " B; link payload " +
            fr.linkMaxPayload +
            " B, windows " +
            fr.txWindow +
            "/" +
            fr.rxWindow +
            "; " +
            fr.lbaCount +
            " lbas)"
    )
    out.push(
        mdTable(
            ["part", "Buffers B", "array elements", "bytes (elements at 8 B)"],
            fr.parts.map((p) => [p.part, p.bufferBytes, p.arraySlots, p.bytes]).concat([["total", "", "", fr.totalBytes]])
        )
    )
    out.push("")
    out.push("Block store, 1 MB primary, uniform random writes (virtual time)")
    out.push(mdTable(b.store.head, b.store.rows))
    out.push("")
    out.push(
        "The block store over a whole chip at 8 MHz SPI: the boot scan of a full store (nine in ten of its slots written) after a clean stop and after a power cut that tore a record, of the same chip with 8 blocks written, and the full store's RAM (its index, sector tables and queue)"
    )
    out.push(
        mdTable(
            ["chip", "sectors", "blocks", "mount after a clean stop ms", "after a power cut ms", "8 blocks written ms", "store RAM B"],
            b.chipScale.map((c) => [
                c.capacityBytes / 1048576 + " MB",
                c.sectors,
                c.blocks,
                r(c.cleanMountMs, 1),
                r(c.cutMountMs, 1),
                r(c.emptyMountMs, 1),
                c.indexRamBytes,
            ])
        )
    )
    out.push("")
    out.push("Goals")
    out.push(
        mdTable(
            ["goal", "target", "measured", "met"],
            b.goals.map((g) => [g.goal, g.target, g.measured, g.met === null ? "-" : g.met ? "yes" : "NO"])
        )
    )
    return out.join("\n") + "\n"
}

/** The `bench` command: prints the table, or with --json one JSON object. */
export function cmdBench(args: string[]): number {
    const { values } = parseArgs({ args, options: { json: { type: "boolean" }, quick: { type: "boolean" } }, allowPositionals: false, strict: true })
    const progress = values.json ? () => {} : (what: string) => (what ? process.stderr.write("bench: " + what + "\n") : true)
    const report = runBench(benchPlan(values.quick === true), progress)
    process.stdout.write(values.json ? JSON.stringify(report) + "\n" : formatBench(report))
    return 0
}
