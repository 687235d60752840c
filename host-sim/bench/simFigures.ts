// Figures measured on whole simulated groups (Node only): acknowledgement latency, RPO lag under
// offered load, write folding, and the simulator's own speed.
import { percentiles, Percentiles, SimOptions, Simulation, defaultSimOptions } from "../sim"
import { GroupOptions } from "../group"
import { WorkloadOptions } from "../workload"
import { NOR_ERASE_TYP_MS } from "../../hal/spiNor"

/**
 * Measurements of one run inside a window of virtual time [fromMs, toMs): the start-up (boot,
 * mount, link handshake, first shuttle) is left out, and so is the drain after the workload.
 * RPO lag is sampled every `sampleMs`: in ms, now minus the acknowledgement time of the oldest
 * write that is acknowledged and not yet applied on the remote (the simulator's definition: from
 * its acknowledgement the app counts on the write, and a failed primary would lose it); in seqs,
 * the newest acknowledged seq minus the remote's applied seq, over the group.
 */
export class WindowedRun {
    readonly sim: Simulation
    readonly ackLatencyMs: number[] = []
    /** From durable on the board's flash to acknowledged: the wait for the seq's release. */
    readonly releaseWaitMs: number[] = []
    /** From issued to durable: the block store's write, queueing and garbage collection included. */
    readonly storeWriteMs: number[] = []
    readonly rpoLagMs: number[] = []
    readonly rpoLagSeqs: number[] = []
    private newestAckedSeq: number[] = []
    private scanFrom: number[] = []
    wallMs = 0
    cpuMs = 0
    /** The run's verdict: no dependency broken on the remote, no acknowledged write lost. */
    safe = false

    constructor(
        readonly opts: SimOptions,
        readonly fromMs: number,
        groupOpts: Partial<GroupOptions> = {},
        workload: Partial<WorkloadOptions> = {},
        readonly sampleMs = 100
    ) {
        this.sim = new Simulation(opts, groupOpts, workload)
        const self = this
        for (let b = 0; b < opts.boards; b++) {
            this.newestAckedSeq.push(-1)
            this.scanFrom.push(0)
            const p = this.sim.group.primaries[b]
            const onUp = p.onUp
            p.onUp = () => {
                if (onUp) onUp()
                const board = p.board!
                const store = p.store!
                const k = self.sim.kernel
                // when each write became durable, by lba and seq in order: writes of one lba and
                // seq become durable and are acknowledged in the order they were issued
                const durableAt: Record<string, number[]> = {}
                const write = store.write.bind(store)
                store.write = (member, lba, seq, data, done) =>
                    write(member, lba, seq, data, (err) => {
                        if (err === 0) (durableAt[lba + ":" + seq] ??= []).push(k.millis())
                        done(err)
                    })
                const onAck = board.onAck
                board.onAck = (lba, seq, issuedAt) => {
                    if (onAck) onAck(lba, seq, issuedAt)
                    if (self.newestAckedSeq[b] < 0 || ((seq - self.newestAckedSeq[b]) | 0) > 0) self.newestAckedSeq[b] = seq
                    const at = durableAt[lba + ":" + seq]?.shift()
                    if (at !== undefined && issuedAt >= self.fromMs && issuedAt < self.opts.durationMs) {
                        self.releaseWaitMs.push(k.millis() - at)
                        self.storeWriteMs.push(at - issuedAt)
                    }
                }
            }
        }
    }

    run(): this {
        const k = this.sim.kernel
        const self = this
        const sample = () => {
            self.sample()
            if (k.millis() + self.sampleMs < self.opts.durationMs) k.setTimer(self.sampleMs, sample)
        }
        k.setTimer(this.fromMs, sample)
        const cpu0 = process.cpuUsage()
        const t0 = performance.now()
        const result = this.sim.run()
        this.wallMs = performance.now() - t0
        const cpu = process.cpuUsage(cpu0)
        this.cpuMs = (cpu.user + cpu.system) / 1000
        this.safe = result.safe
        // mode none gives up group consistency by design; in mode consistent a violation is a bug
        if (!result.safe && this.opts.mode === "consistent")
            throw new Error("benchmark run broke consistency: " + result.violations[0] + " (replay: " + result.replay + ")")
        for (const list of this.sim.history.writes)
            for (const w of list)
                if (w.ackedAt >= 0 && w.issuedAt >= this.fromMs && w.issuedAt < this.opts.durationMs) this.ackLatencyMs.push(w.ackedAt - w.issuedAt)
        return this
    }

    private sample(): void {
        const now = this.sim.kernel.millis()
        const applied = this.sim.group.appliedSeq()
        let lagMs = 0
        let lagSeqs = 0
        for (let b = 0; b < this.opts.boards; b++) {
            const writes = this.sim.history.writes[b]
            let i = this.scanFrom[b]
            // writes before i are applied or failed; find the oldest acknowledged, unapplied one (a
            // board acknowledges its writes in the order it took them)
            while (i < writes.length && (writes[i].failed || (writes[i].ackedAt >= 0 && ((writes[i].seq - applied) | 0) <= 0))) i++
            this.scanFrom[b] = i
            for (; i < writes.length; i++) {
                const w = writes[i]
                if (w.ackedAt >= 0 && ((w.seq - applied) | 0) > 0) {
                    lagMs = Math.max(lagMs, now - w.ackedAt)
                    break
                }
            }
            if (this.newestAckedSeq[b] >= 0) lagSeqs = Math.max(lagSeqs, (this.newestAckedSeq[b] - applied) | 0)
        }
        this.rpoLagMs.push(lagMs)
        this.rpoLagSeqs.push(lagSeqs)
    }

    /** Portions and their data bytes the primaries handed to their links, and writes folded
     * into a waiting portion of the aux ring. */
    sent(): { portions: number; bytes: number; ringFolds: number; wireBytes: number } {
        let portions = 0
        let bytes = 0
        let ringFolds = 0
        let wireBytes = 0
        for (const p of this.sim.group.primaries) {
            if (!p.board) continue
            portions += p.board.portionsSent
            bytes += p.board.bytesSent
            ringFolds += p.board.ring.folded
        }
        for (const w of this.sim.group.wires) wireBytes += w.a.counters.sent
        return { portions, bytes, ringFolds, wireBytes }
    }
}

function simOptions(boards: number, mode: "consistent" | "none", rate: number, durationMs: number, seed = 1): SimOptions {
    const o = defaultSimOptions()
    o.boards = boards
    o.mode = mode
    o.rate = rate
    o.durationMs = durationMs
    o.seed = seed
    return o
}

function r3(x: number): number {
    return Math.round(x * 1000) / 1000
}

// ---- acknowledgement latency

export interface AckLatencyRow {
    mode: "consistent" | "none"
    boards: number
    busBitRate: number
    writesPerSecPerBoard: number
    /** Runs pooled (seeds 1, 2, ...). */
    seeds: number
    writes: number
    /** The remote image stayed dependent-write consistent (mode none may break it). */
    groupConsistent: boolean
    latencyMs: Percentiles
    /** The part of the latency after the write was durable: the wait for its seq's release
     * (mode consistent; zero in mode none). */
    releaseWaitMs: Percentiles
    /** The part before: the block store's write, from issued to durable on flash. */
    storeWriteMs: Percentiles
    /** Share of writes whose store write took longer than a sector erase's typical half
     * (they waited for an erase of the garbage collection). */
    eraseWaitShare: number
    /** p50 and p99 over the flash page-program time. */
    p50Ratio: number
    p99Ratio: number
}

/**
 * Latency from the app's write to its acknowledgement, for writes issued in the window. The
 * workload is the simulator's (hot spot, up to 4 writes outstanding per board) without its
 * bursts, so that queueing behind a burst does not hide what the protocol adds.
 */
export function measureAckLatency(
    mode: "consistent" | "none",
    boards: number,
    busBitRate: number,
    pageProgramMs: number,
    durationMs: number,
    warmupMs: number,
    seeds: number[]
): AckLatencyRow {
    const rate = 20
    const latencies: number[] = []
    const waits: number[] = []
    const stores: number[] = []
    let safe = true
    for (const seed of seeds) {
        const run = new WindowedRun(simOptions(boards, mode, rate, durationMs, seed), warmupMs, { busBitRate }, { burstEveryMs: 0 }).run()
        for (const x of run.ackLatencyMs) latencies.push(x)
        for (const x of run.releaseWaitMs) waits.push(x)
        for (const x of run.storeWriteMs) stores.push(x)
        safe = safe && run.safe
    }
    const lat = percentiles(latencies)
    return {
        mode,
        boards,
        busBitRate,
        writesPerSecPerBoard: rate,
        seeds: seeds.length,
        writes: latencies.length,
        groupConsistent: safe,
        latencyMs: lat,
        releaseWaitMs: percentiles(waits),
        storeWriteMs: percentiles(stores),
        eraseWaitShare: r3(stores.filter((x) => x > NOR_ERASE_TYP_MS / 2).length / Math.max(1, stores.length)),
        p50Ratio: r3(lat.p50 / pageProgramMs),
        p99Ratio: r3(lat.p99 / pageProgramMs),
    }
}

// ---- RPO lag under offered load

export interface RpoRow {
    /** Offered load: writes/s × block size over the link's capacity baud/10 (per board; each
     * board has its own link). */
    offeredLoad: number
    pacing: boolean
    rpoTargetMs: number
    /** At the history bound: "pull-ahead" (suspend, track, resync) or "block". */
    congestion: string
    /** Suspensions over the runs, and writes acknowledged while suspended. */
    suspensions: number
    ackedDuringSuspension: number
    writesPerSecPerBoard: number
    /** Runs pooled (seeds 1, 2, ...). */
    seeds: number
    /** Writes acknowledged in the window. */
    writesAcked: number
    /** Writes acknowledged in the window (throughput), and writes issued in it and refused (the
     * store had no room: versions pinned for the remote fill its log), over the writes offered
     * in the window. */
    ackedShare: number
    failedShare: number
    rpoLagMs: Percentiles
    rpoLagSeqs: Percentiles
    /** Link efficiency of the run (message bytes over line capacity while busy), as `sim` reports. */
    linkEfficiency: number
}

/**
 * RPO lag with each board offered `load` × its link's capacity in writes of one block, spread
 * uniformly over the lbas (no hot spot: folding would lower the load the link sees), without
 * bursts. `rpoTargetMs` > 0 turns on bounded-RPO pacing (SimOptions.rpoTargetMs).
 */
export function measureRpo(
    load: number,
    rpoTargetMs: number,
    congestion: "pull-ahead" | "block",
    boards: number,
    baud: number,
    blockSize: number,
    durationMs: number,
    warmupMs: number,
    seeds: number[]
): RpoRow {
    const rate = (load * baud) / 10 / blockSize
    const lagMs: number[] = []
    const lagSeqs: number[] = []
    let acked = 0
    let failed = 0
    let efficiency = 0
    let suspensions = 0
    let early = 0
    for (const seed of seeds) {
        const o = simOptions(boards, "consistent", rate, durationMs, seed)
        o.baud = baud
        // bounded-RPO pacing: 0 = off (a simulator without the option ignores it)
        ;(o as SimOptions & { rpoTargetMs: number }).rpoTargetMs = rpoTargetMs
        o.congestion = congestion
        const run = new WindowedRun(o, warmupMs, { blockSize }, { burstEveryMs: 0, hotShare: 0 }).run()
        for (const p of run.sim.group.primaries)
            if (p.board) {
                suspensions += p.board.suspensions
                early += p.board.ackedDuringSuspension
            }
        for (const x of run.rpoLagMs) lagMs.push(x)
        for (const x of run.rpoLagSeqs) lagSeqs.push(x)
        for (const list of run.sim.history.writes)
            for (const w of list) {
                if (w.ackedAt >= warmupMs && w.ackedAt < durationMs) acked++
                else if (w.failed && w.issuedAt >= warmupMs && w.issuedAt < durationMs) failed++
            }
        efficiency += linkEfficiencyOf(run) / seeds.length
    }
    const offered = ((durationMs - warmupMs) / 1000) * boards * rate * seeds.length
    return {
        offeredLoad: load,
        pacing: rpoTargetMs > 0,
        rpoTargetMs,
        congestion,
        suspensions,
        ackedDuringSuspension: early,
        writesPerSecPerBoard: r3(rate),
        seeds: seeds.length,
        writesAcked: acked,
        ackedShare: r3(acked / offered),
        failedShare: r3(failed / offered),
        rpoLagMs: percentiles(lagMs),
        rpoLagSeqs: percentiles(lagSeqs),
        linkEfficiency: r3(efficiency),
    }
}

function linkEfficiencyOf(run: WindowedRun): number {
    let payload = 0
    let capacity = 0
    for (const ch of run.sim.group.remote.channels) payload += ch.counters.payloadBytesDelivered
    for (const w of run.sim.group.wires) capacity += (w.a.counters.busyMs * run.opts.baud) / 10000
    return capacity > 0 ? r3(payload / capacity) : 0
}

// ---- write folding

export interface FoldingRow {
    workload: string
    hotShare: number
    hotFraction: number
    boards: number
    writesAcked: number
    bytesWritten: number
    portionsSent: number
    portionBytesSent: number
    bytesSaved: number
    savedShare: number
    /** Of the folded writes, those replaced in place in the aux ring (the rest were folded
     * before they reached it: the seq already held the lba). */
    ringFolds: number
}

/** Bytes the apps wrote against portion bytes the primaries sent, whole run (drain included). */
export function measureFolding(name: string, hotShare: number, hotFraction: number, boards: number, durationMs: number): FoldingRow {
    const run = new WindowedRun(simOptions(boards, "consistent", 20, durationMs), 0, {}, { hotShare, hotFraction }).run()
    const blockSize = run.sim.group.opts.blockSize
    const acked = run.sim.history.totalAcked()
    const s = run.sent()
    const written = acked * blockSize
    return {
        workload: name,
        hotShare,
        hotFraction,
        boards,
        writesAcked: acked,
        bytesWritten: written,
        portionsSent: s.portions,
        portionBytesSent: s.bytes,
        bytesSaved: written - s.bytes,
        savedShare: r3((written - s.bytes) / written),
        ringFolds: s.ringFolds,
    }
}

// ---- simulator speed

export interface SimSpeedRow {
    workload: string
    boards: number
    writesPerSecPerBoard: number
    virtualMs: number
    wallMs: number
    cpuMs: number
    /** Virtual seconds per wall second (and per CPU second: less disturbed by other load). */
    speed: number
    speedCpu: number
    eventsPerVirtualSecond: number
}

/** A `seqmirror sim` run, as the command runs it (its workload, the checker after every apply,
 * the catch-up and the final judgement; no measuring hooks of the other sections), best of
 * `reps`. */
export function measureSimSpeed(workload: string, boards: number, rate: number, over: Partial<WorkloadOptions>, durationMs: number, reps: number): SimSpeedRow {
    let best: SimSpeedRow | null = null
    for (let i = 0; i < reps; i++) {
        const o = simOptions(boards, "consistent", rate, durationMs)
        const sim = new Simulation(o, {}, over)
        const cpu0 = process.cpuUsage()
        const t0 = performance.now()
        const result = sim.run()
        const wallMs = performance.now() - t0
        const cpu = process.cpuUsage(cpu0)
        const cpuMs = (cpu.user + cpu.system) / 1000
        if (!result.consistent) throw new Error("benchmark run failed: " + result.violations[0] + " (replay: " + result.replay + ")")
        const virtualMs = sim.kernel.millis()
        const row: SimSpeedRow = {
            workload,
            boards,
            writesPerSecPerBoard: rate,
            virtualMs: Math.round(virtualMs),
            wallMs: Math.round(wallMs),
            cpuMs: Math.round(cpuMs),
            speed: Math.round(virtualMs / wallMs),
            speedCpu: Math.round(virtualMs / Math.max(1, cpuMs)),
            eventsPerVirtualSecond: Math.round((sim.kernel.eventsRun * 1000) / virtualMs),
        }
        if (!best || row.speed > best.speed) best = row
    }
    return best!
}
