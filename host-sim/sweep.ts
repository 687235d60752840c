// Runs many seeded simulations, in parallel worker threads, and gathers their verdicts (Node only).
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import { runSim, SimOptions, SimResult } from "./sim"
import { drawDuration } from "./simEvents"

export interface SweepFailure {
    seed: number
    replay: string
    /** True when the remote showed an unsafe state or an acknowledged write was lost (not only
     * a failure to catch up). */
    unsafe: boolean
    violations: string[]
}

export interface SweepSummary {
    runs: number
    violations: number
    failedSeeds: number[]
    unsafeRuns: number
    failures: SweepFailure[]
    /** Faults injected over all runs, by class. */
    faultsInjected: Record<string, number>
    /** Virtual time simulated over all runs, ms. */
    virtualMs: number
    /** Totals over all runs: writes the apps saw fail, suspensions of replication, full
     * resyncs the remote committed, writes acknowledged while replication was suspended. */
    writesFailed: number
    suspensions: number
    resyncs: number
    ackedDuringSuspension: number
    workers: number
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
    virtualMs: number
    writesFailed: number
    suspensions: number
    resyncs: number
    ackedDuringSuspension: number
    /** The command that replays this seed's run. */
    replay: string
}

export function outcomeOf(r: SimResult): SeedOutcome {
    return {
        seed: r.seed,
        writesFailed: r.writesFailed,
        suspensions: r.suspensions,
        resyncs: r.resyncs,
        ackedDuringSuspension: r.ackedDuringSuspension,
        replay: r.replay,
        consistent: r.consistent,
        safe: r.safe,
        violations: r.violations.slice(0, 5),
        violationCount: r.violations.length,
        faultsInjected: r.faultsInjected,
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
    }
    return o
}

export function runSeed(base: SimOptions, seed: number, durationRange?: [number, number]): SeedOutcome {
    return outcomeOf(runSim(seedOptions(base, seed, durationRange)))
}

/** What a sweep worker thread is given (sweepWorker.ts). */
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
}

/** Runs seeds first..last with the base options; each failure carries its replay command. */
export async function runSweep(o: SweepOptions): Promise<SweepSummary> {
    const started = Date.now()
    const total = o.last - o.first + 1
    const workers = Math.max(1, Math.min(o.workers ?? availableParallelism(), total))
    const outcomes: SeedOutcome[] = []
    const failed = (out: SeedOutcome) => {
        if (out.consistent) return
        const f: SweepFailure = {
            seed: out.seed,
            replay: out.replay,
            unsafe: !out.safe,
            violations: out.violations,
        }
        if (o.onFailure) o.onFailure(f)
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
                const w = new Worker(new URL("./sweepWorker.mjs", import.meta.url), { workerData: { base: o.base, durationRange: o.durationRange } satisfies SweepWorkerData })
                const feed = () => {
                    if (next > o.last) {
                        w.postMessage(null)
                        return
                    }
                    w.postMessage(next++)
                }
                w.on("message", (out: SeedOutcome | "ready") => {
                    if (out !== "ready") {
                        outcomes.push(out)
                        failed(out)
                    }
                    feed()
                })
                w.on("error", reject)
                w.on("exit", (code) => {
                    if (code !== 0) reject(new Error(`sweep worker exited with code ${code}`))
                    else if (--running === 0) resolve()
                })
            }
        })
    }
    outcomes.sort((a, b) => a.seed - b.seed)
    const s: SweepSummary = {
        runs: outcomes.length,
        violations: 0,
        failedSeeds: [],
        unsafeRuns: 0,
        failures: [],
        faultsInjected: {},
        virtualMs: 0,
        writesFailed: 0,
        suspensions: 0,
        resyncs: 0,
        ackedDuringSuspension: 0,
        workers,
        wallMs: 0,
    }
    for (const out of outcomes) {
        for (const [k, v] of Object.entries(out.faultsInjected)) s.faultsInjected[k] = (s.faultsInjected[k] ?? 0) + v
        s.virtualMs += out.virtualMs
        s.writesFailed += out.writesFailed
        s.suspensions += out.suspensions
        s.resyncs += out.resyncs
        s.ackedDuringSuspension += out.ackedDuringSuspension
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
