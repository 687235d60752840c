// Runs many seeded simulations, in parallel worker threads, and gathers their verdicts (Node only).
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import { replayCommand, runSim, SimOptions, SimResult } from "./sim"

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
}

export function outcomeOf(r: SimResult): SeedOutcome {
    return {
        seed: r.seed,
        consistent: r.consistent,
        safe: r.safe,
        violations: r.violations.slice(0, 5),
        violationCount: r.violations.length,
        faultsInjected: r.faultsInjected,
        virtualMs: r.virtualMs,
    }
}

export function runSeed(base: SimOptions, seed: number): SeedOutcome {
    return outcomeOf(runSim({ ...base, seed }))
}

export interface SweepOptions {
    base: SimOptions
    first: number
    last: number
    /** Worker threads; 1 runs the seeds in this thread. Default: the cores available. */
    workers?: number
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
            replay: replayCommand({ ...o.base, seed: out.seed }),
            unsafe: !out.safe,
            violations: out.violations,
        }
        if (o.onFailure) o.onFailure(f)
    }
    if (workers === 1) {
        for (let seed = o.first; seed <= o.last; seed++) {
            const out = runSeed(o.base, seed)
            outcomes.push(out)
            failed(out)
        }
    } else {
        let next = o.first
        await new Promise<void>((resolve, reject) => {
            let running = workers
            for (let i = 0; i < workers; i++) {
                const w = new Worker(new URL("./sweepWorker.mjs", import.meta.url), { workerData: o.base })
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
        workers,
        wallMs: 0,
    }
    for (const out of outcomes) {
        for (const [k, v] of Object.entries(out.faultsInjected)) s.faultsInjected[k] = (s.faultsInjected[k] ?? 0) + v
        s.virtualMs += out.virtualMs
        if (!out.safe) s.unsafeRuns++
        if (!out.consistent) {
            s.violations += out.violationCount
            s.failedSeeds.push(out.seed)
            s.failures.push({ seed: out.seed, replay: replayCommand({ ...o.base, seed: out.seed }), unsafe: !out.safe, violations: out.violations })
        }
    }
    s.wallMs = Date.now() - started
    return s
}
