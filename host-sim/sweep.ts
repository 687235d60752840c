// Runs many seeded simulations, in parallel worker processes, and gathers their verdicts (Node only).
import { fork } from "node:child_process"
import { availableParallelism } from "node:os"
import { fileURLToPath } from "node:url"
import { replayCommand, runSim, SimOptions, SimResult } from "./sim"
import { drawDuration, formatMs } from "./simEvents"

export interface SweepFailure {
    seed: number
    replay: string
    /** True when the remote showed an unsafe state or an acknowledged write was lost (not only
     * a failure to catch up). */
    unsafe: boolean
    violations: string[]
}

/** The fault classes of `--faults`, in the order the help gives them. */
export const FAULT_CLASSES = ["power", "link", "bus", "reboot", "slow", "replace", "death", "rot", "remotefail", "ram", "attack", "replace-primary"]

/** The counters of a run's faultsInjected that each fault class adds to. */
export const CLASS_COUNTERS: Record<string, string[]> = {
    power: ["power", "remotePower"],
    link: ["linkOutage", "linkBytesLost", "linkBitErrors", "linkDuplicates"],
    bus: ["busNacks", "busGlitches", "shuttleLost"],
    reboot: ["reboot"],
    slow: ["slowFlash"],
    replace: ["remoteReplaced"],
    death: ["death"],
    rot: ["rot", "badReads"],
    remotefail: ["remoteFlashFail", "remoteFlashDead"],
    ram: ["ramFlips"],
    attack: ["attackInjected", "attackReplayed", "attackPosed", "attackFlipped"],
    "replace-primary": ["primaryReplaced"],
}

/** The fault classes a sweep's options ask for (`--faults`) that none of its runs injected: a
 * class the runs never allowed (docs/OPERATIONS.md: `replace-primary` with `--faults all` in
 * long runs) tests nothing, and a sweep that passes says nothing of it. */
export function classesNotInjected(options: string, injected: Record<string, number>): string[] {
    const m = /(?:^| )--faults (\S+)/.exec(options)
    if (!m) return []
    const asked = m[1] === "all" ? FAULT_CLASSES : m[1].split(",")
    return asked.filter((c) => CLASS_COUNTERS[c] !== undefined && CLASS_COUNTERS[c].every((k) => !((injected[k] ?? 0) > 0)))
}

/** Part `index` (1-based) of `count` of a sweep over the seeds `of` (see shardRange). */
export interface SweepShard {
    index: number
    count: number
    of: [number, number]
}

export interface SweepSummary {
    /** The options every seed ran with (those of sim, as a command line without --seed): parts
     * of one sweep have the same. */
    options: string
    /** The seeds this summary covers, as ranges first..last (one, but for a combined summary
     * of parts that leave gaps). */
    seeds: Array<[number, number]>
    /** The part of a sweep this is (--shard), or null. */
    shard: SweepShard | null
    /** Summaries combined into this one (--combine); 1 for a sweep run. */
    parts: number
    runs: number
    violations: number
    failedSeeds: number[]
    unsafeRuns: number
    failures: SweepFailure[]
    /** Faults injected over all runs, by class. */
    faultsInjected: Record<string, number>
    /** Frames the sealed links dropped over all runs (SimResult.framesRejected). */
    framesRejected: Record<string, number>
    /** Virtual time simulated over all runs, ms. */
    virtualMs: number
    /** Totals over all runs: writes the apps saw fail, suspensions of replication, full
     * resyncs the remote committed, writes acknowledged while replication was suspended. */
    writesFailed: number
    suspensions: number
    resyncs: number
    ackedDuringSuspension: number
    /** Restores of replaced boards that ended. */
    restores: number
    /** Runs with a disaster (--disaster) whose failback completed. */
    failbacks: number
    /** The fewest and the most seqs the remote applied in a run (see seqCrossings). */
    seqsApplied: [number, number]
    /** Runs whose applied seqs went past 2^31 - 1 to 2^31 (where seqAfter's half turn lies),
     * and past 2^32 - 1 to 0 (the wrap of the u32 seqs): with --first-seq, what the sweep
     * actually tested of the seqs' wrap. */
    runsPast2to31: number
    runsPastWrap: number
    /** Worker threads (over every part, combined). */
    workers: number
    /** Wall time of the run (combined: of the longest part, as parts run side by side). */
    wallMs: number
}

/** What a worker sends back for one seed: the parts of the result a summary needs. */
export interface SeedOutcome {
    seed: number
    consistent: boolean
    safe: boolean
    violations: string[]
    violationCount: number
    faultsInjected: Record<string, number>
    framesRejected: Record<string, number>
    virtualMs: number
    writesFailed: number
    suspensions: number
    resyncs: number
    ackedDuringSuspension: number
    restores: number
    failbacks: number
    /** The group's first seq (--first-seq) and the seqs the remote applied from it. */
    firstSeq: number
    seqsApplied: number
    /** The command that replays this seed's run. */
    replay: string
}

/** The seqs a run's remote applied, from the group's first seq to its applied seq (the seq
 * before the first counts as applied when the run starts). */
export function seqsAppliedIn(firstSeq: number, appliedSeq: number): number {
    return (appliedSeq - ((firstSeq - 1) >>> 0)) >>> 0
}

/** Whether the seqs first..first + count - 1 go past 2^31 - 1 to 2^31, and past 2^32 - 1 to 0. */
export function seqCrossings(firstSeq: number, count: number): { past2to31: boolean; pastWrap: boolean } {
    return { past2to31: (0x80000000 - firstSeq) >>> 0 < count, pastWrap: firstSeq !== 0 && (0 - firstSeq) >>> 0 < count }
}

export function outcomeOf(r: SimResult, firstSeq = 1): SeedOutcome {
    return {
        firstSeq,
        seqsApplied: seqsAppliedIn(firstSeq, r.appliedSeq),
        seed: r.seed,
        writesFailed: r.writesFailed,
        suspensions: r.suspensions,
        resyncs: r.resyncs,
        ackedDuringSuspension: r.ackedDuringSuspension,
        restores: r.restores,
        failbacks: r.disaster && r.disaster.failedBack ? 1 : 0,
        replay: r.replay,
        consistent: r.consistent,
        safe: r.safe,
        violations: r.violations.slice(0, 5),
        violationCount: r.violations.length,
        faultsInjected: r.faultsInjected,
        framesRejected: r.framesRejected,
        virtualMs: r.virtualMs,
    }
}

/**
 * The options of one seed's run: the base options with the seed, and with `durationRange` a
 * duration drawn for the seed uniformly in the range (the same every time). Scheduled events
 * that would begin after the drawn duration are left out: they would not happen (and the
 * replay command must be one sim accepts).
 */
export function seedOptions(base: SimOptions, seed: number, durationRange?: [number, number]): SimOptions {
    const o: SimOptions = { ...base, seed }
    if (durationRange) {
        o.durationMs = drawDuration(seed, durationRange[0], durationRange[1])
        if (o.powerOff) o.powerOff = o.powerOff.filter((e) => e.atMs < o.durationMs)
        if (o.linkDown) o.linkDown = o.linkDown.filter((e) => e.atMs < o.durationMs)
        // (a disaster after the drawn duration would not happen either)
        if (o.disasterMs !== undefined) if (o.disasterMs >= o.durationMs) delete o.disasterMs
    }
    return o
}

export function runSeed(base: SimOptions, seed: number, durationRange?: [number, number]): SeedOutcome {
    return outcomeOf(runSim(seedOptions(base, seed, durationRange)), base.firstSeq ?? 1)
}

/** What a sweep worker process is given (sweepWorker.ts), as JSON in its one argument. */
export interface SweepWorkerData {
    base: SimOptions
    durationRange?: [number, number]
}

export interface SweepOptions {
    base: SimOptions
    first: number
    last: number
    /** Worker threads; 1 runs the seeds in this thread. Default: the cores available. */
    workers?: number
    /** Each seed's duration is drawn in [min, max] ms (see seedOptions); absent: base's. */
    durationRange?: [number, number]
    /** Called for every failed seed as soon as it is known. */
    onFailure?: (f: SweepFailure) => void
    /** Called after every seed with the runs done so far and the failures among them. */
    onProgress?: (done: number, failed: number) => void
    /** The part of a larger sweep these seeds are (recorded in the summary). */
    shard?: SweepShard
}

/**
 * The seeds of part `index` (1-based) of `count` of the sweep over first..last: the range cut
 * into `count` consecutive parts whose sizes differ by one at most (the first ones larger), as
 * vitest's --shard cuts its list of test files. The parts together are the whole range, each
 * seed in exactly one. Null when a part would be empty.
 */
export function shardRange(first: number, last: number, index: number, count: number): [number, number] | null {
    const total = last - first + 1
    if (!(count >= 1 && index >= 1 && index <= count) || total < count) return null
    const size = Math.floor(total / count)
    const extra = total % count
    const from = first + (index - 1) * size + Math.min(index - 1, extra)
    return [from, from + size - 1 + (index <= extra ? 1 : 0)]
}

/** The options of a sweep's runs as a command line (sim's options, without --seed; a drawn
 * duration as its range). */
export function sweepOptions(base: SimOptions, durationRange?: [number, number]): string {
    let cmd = replayCommand({ ...base, seed: 0 })
        .replace(/^npx seqmirror sim /, "")
        .replace(/ ?--seed 0\b/, "")
    if (durationRange && durationRange[1] > durationRange[0])
        cmd = cmd.replace(/--duration \S+/, `--duration ${formatMs(durationRange[0])}..${formatMs(durationRange[1])}`)
    return cmd
}

/** Runs seeds first..last with the base options; each failure carries its replay command. */
export async function runSweep(o: SweepOptions): Promise<SweepSummary> {
    const started = Date.now()
    const total = o.last - o.first + 1
    const workers = Math.max(1, Math.min(o.workers ?? availableParallelism(), total))
    const outcomes: SeedOutcome[] = []
    let failures = 0
    const failed = (out: SeedOutcome) => {
        if (!out.consistent) {
            failures++
            const f: SweepFailure = {
                seed: out.seed,
                replay: out.replay,
                unsafe: !out.safe,
                violations: out.violations,
            }
            if (o.onFailure) o.onFailure(f)
        }
        if (o.onProgress) o.onProgress(outcomes.length, failures)
    }
    if (workers === 1) {
        for (let seed = o.first; seed <= o.last; seed++) {
            const out = runSeed(o.base, seed, o.durationRange)
            outcomes.push(out)
            failed(out)
        }
    } else {
        let next = o.first
        await new Promise<void>((resolve, reject) => {
            let running = workers
            for (let i = 0; i < workers; i++) {
                // a process each (not a thread): its heap and its collector to itself, and the
                // collector on the worker's own thread, so that two workers on two cores do not
                // share them with each other's collector threads
                const w = fork(
                    fileURLToPath(new URL("./sweepWorker.mjs", import.meta.url)),
                    [JSON.stringify({ base: o.base, durationRange: o.durationRange } satisfies SweepWorkerData)],
                    {
                        execArgv: ["--single-threaded-gc"],
                        stdio: ["ignore", "inherit", "inherit", "ipc"],
                    }
                )
                const feed = () => {
                    if (next > o.last) {
                        w.send("stop")
                        return
                    }
                    w.send(next++)
                }
                w.on("message", (out: SeedOutcome | "ready") => {
                    if (out !== "ready") {
                        outcomes.push(out)
                        failed(out)
                    }
                    feed()
                })
                w.on("error", reject)
                w.on("exit", (code, signal) => {
                    if (code !== 0) reject(new Error(`sweep worker exited with ${signal ?? "code " + code}`))
                    else if (--running === 0) resolve()
                })
            }
        })
    }
    outcomes.sort((a, b) => a.seed - b.seed)
    const s = emptySummary(sweepOptions(o.base, o.durationRange), [[o.first, o.last]], o.shard ?? null, 1, workers)
    s.runs = outcomes.length
    for (const out of outcomes) {
        for (const [k, v] of Object.entries(out.faultsInjected)) s.faultsInjected[k] = (s.faultsInjected[k] ?? 0) + v
        for (const [k, v] of Object.entries(out.framesRejected)) s.framesRejected[k] = (s.framesRejected[k] ?? 0) + v
        s.virtualMs += out.virtualMs
        s.writesFailed += out.writesFailed
        s.suspensions += out.suspensions
        s.resyncs += out.resyncs
        s.ackedDuringSuspension += out.ackedDuringSuspension
        s.restores += out.restores
        s.failbacks += out.failbacks
        addSeqsApplied(s, out.seqsApplied, out.seqsApplied)
        const c = seqCrossings(out.firstSeq, out.seqsApplied)
        if (c.past2to31) s.runsPast2to31++
        if (c.pastWrap) s.runsPastWrap++
        if (!out.safe) s.unsafeRuns++
        if (!out.consistent) {
            s.violations += out.violationCount
            s.failedSeeds.push(out.seed)
            s.failures.push({ seed: out.seed, replay: out.replay, unsafe: !out.safe, violations: out.violations })
        }
    }
    s.wallMs = Date.now() - started
    return s
}

/**
 * One summary of the parts of a sweep: the shards of one (every one of them), or runs of the
 * same options over seed ranges that do not overlap. Counts and totals add up, failures are
 * listed by seed, the wall time is the longest part's (parts run side by side, on other
 * machines). Throws an Error saying what does not fit: other options, a seed in two parts, a
 * shard missing or twice.
 */
export function combineSummaries(parts: SweepSummary[]): SweepSummary {
    if (parts.length === 0) throw new Error("nothing to combine")
    const options = parts[0].options
    for (const p of parts) if (p.options !== options) throw new Error(`the parts ran different options: "${options}" and "${p.options}"`)
    const sharded = parts.filter((p) => p.shard !== null)
    if (sharded.length > 0) {
        if (sharded.length !== parts.length) throw new Error("some parts are shards of a sweep and some are not")
        const { count, of } = sharded[0].shard!
        const seen = new Set<number>()
        for (const p of sharded) {
            const sh = p.shard!
            if (sh.count !== count || sh.of[0] !== of[0] || sh.of[1] !== of[1])
                throw new Error(`the parts are shards of different sweeps (${of[0]}..${of[1]} in ${count} and ${sh.of[0]}..${sh.of[1]} in ${sh.count})`)
            if (seen.has(sh.index)) throw new Error(`shard ${sh.index}/${count} is given twice`)
            seen.add(sh.index)
        }
        const missing: number[] = []
        for (let i = 1; i <= count; i++) if (!seen.has(i)) missing.push(i)
        if (missing.length > 0)
            throw new Error(`shard${missing.length > 1 ? "s" : ""} ${missing.map((i) => i + "/" + count).join(", ")} of seeds ${of[0]}..${of[1]} missing`)
    }
    // the seed ranges, sorted and merged where they touch; an overlap counts a seed twice
    const ranges = parts.flatMap((p) => p.seeds.map((r) => [r[0], r[1]] as [number, number])).sort((a, b) => a[0] - b[0])
    const seeds: Array<[number, number]> = []
    for (const r of ranges) {
        const prev = seeds[seeds.length - 1]
        if (prev && r[0] <= prev[1]) throw new Error(`seeds ${Math.max(r[0], prev[0])}..${Math.min(r[1], prev[1])} are in two parts`)
        if (prev && r[0] === prev[1] + 1) prev[1] = r[1]
        else seeds.push([r[0], r[1]])
    }
    const s = emptySummary(
        options,
        seeds,
        null,
        parts.reduce((n, p) => n + p.parts, 0),
        0
    )
    for (const p of parts) {
        s.runs += p.runs
        s.violations += p.violations
        s.failedSeeds.push(...p.failedSeeds)
        s.unsafeRuns += p.unsafeRuns
        s.failures.push(...p.failures)
        for (const [k, v] of Object.entries(p.faultsInjected)) s.faultsInjected[k] = (s.faultsInjected[k] ?? 0) + v
        for (const [k, v] of Object.entries(p.framesRejected ?? {})) s.framesRejected[k] = (s.framesRejected[k] ?? 0) + v
        s.virtualMs += p.virtualMs
        s.writesFailed += p.writesFailed
        s.suspensions += p.suspensions
        s.resyncs += p.resyncs
        s.ackedDuringSuspension += p.ackedDuringSuspension
        s.restores += p.restores
        s.failbacks += p.failbacks
        // (a summary written before these fields were kept has none)
        if (p.seqsApplied && p.seqsApplied[0] >= 0) addSeqsApplied(s, p.seqsApplied[0], p.seqsApplied[1])
        s.runsPast2to31 += p.runsPast2to31 ?? 0
        s.runsPastWrap += p.runsPastWrap ?? 0
        s.workers += p.workers
        s.wallMs = Math.max(s.wallMs, p.wallMs)
    }
    s.failedSeeds.sort((a, b) => a - b)
    s.failures.sort((a, b) => a.seed - b.seed)
    return s
}

/** Widens the summary's range of seqs applied per run to take [fewest, most]. */
function addSeqsApplied(s: SweepSummary, fewest: number, most: number): void {
    if (s.seqsApplied[0] < 0 || fewest < s.seqsApplied[0]) s.seqsApplied[0] = fewest
    if (most > s.seqsApplied[1]) s.seqsApplied[1] = most
}

/** A summary with nothing counted yet. */
function emptySummary(options: string, seeds: Array<[number, number]>, shard: SweepSummary["shard"], parts: number, workers: number): SweepSummary {
    return {
        options,
        seeds,
        shard,
        parts,
        runs: 0,
        violations: 0,
        failedSeeds: [],
        unsafeRuns: 0,
        failures: [],
        faultsInjected: {},
        framesRejected: {},
        virtualMs: 0,
        writesFailed: 0,
        suspensions: 0,
        resyncs: 0,
        ackedDuringSuspension: 0,
        restores: 0,
        failbacks: 0,
        seqsApplied: [-1, 0],
        runsPast2to31: 0,
        runsPastWrap: 0,
        workers,
        wallMs: 0,
    }
}
