import fc from "fast-check"
import { performance } from "node:perf_hooks"
import { mutate } from "./mutate"
import { mix, Rng } from "./rng"
import { isKnown } from "./known"
import { FuzzFailure, hex, Target } from "./target"

/** Inputs drawn from the valid arbitrary per batch. */
export const BATCH = 500

/**
 * The inputs of a campaign, each a function of (target, seed, index) alone: a valid encoding
 * from the target's arbitrary, or mutations of one (or of a corpus seed). A hang found by the
 * watchdog is reported by regenerating the input at its index.
 */
export class InputSource {
    private batchNo = -1
    private batch: Buffer[] = []

    constructor(
        readonly target: Target,
        readonly seed: number,
        readonly corpus: readonly Buffer[]
    ) {}

    private load(no: number): void {
        if (no === this.batchNo) return
        this.batchNo = no
        this.batch = fc.sample(this.target.valid, { seed: mix(this.seed, no, 0x5a11d) | 0, numRuns: BATCH })
    }

    input(i: number): Buffer {
        const t = this.target
        this.load(Math.floor(i / BATCH))
        const rng = new Rng(mix(this.seed, i))
        const share = t.validShare ?? 0.25
        if (rng.chance(share)) return this.batch[i % BATCH]
        const pool = this.corpus.length > 0 && rng.chance(0.3) ? this.corpus : this.batch
        const base = rng.pick(pool)
        if (t.mutate) return t.mutate(rng, base, this.batch)
        let b = mutate(rng, base, this.batch, t.maxLen)
        if (t.reseal && rng.chance(0.5)) b = t.reseal(b, rng)
        return b
    }
}

export interface Failure {
    target: string
    index: number
    input: string
    message: string
}

/** Runs one input: null when every property held, else what failed. */
export function runOne(t: Target, input: Buffer): string | null {
    const started = performance.now()
    try {
        t.run(input)
    } catch (e) {
        if (e instanceof FuzzFailure) return e.message
        const err = e as Error
        return "exception: " + (err && err.stack ? err.stack.split("\n").slice(0, 4).join(" | ") : String(e))
    }
    const ms = performance.now() - started
    if (ms > t.timeLimitMs) {
        // a slow run may be the machine (another process, a garbage collection): it counts
        // only if two more runs are slow too
        const times = [ms]
        for (let k = 0; k < 2; k++) {
            const again = performance.now()
            try {
                t.run(input)
            } catch {
                /* it passed the first time: only the time counts here */
            }
            times.push(performance.now() - again)
        }
        if (Math.min(...times) > t.timeLimitMs) return `slow: ${times.map((x) => x.toFixed(1)).join(", ")} ms, over the bound of ${t.timeLimitMs} ms`
    }
    return null
}

export interface CampaignStats {
    target: string
    inputs: number
    ms: number
    failures: Failure[]
}

/**
 * Runs inputs [from, to) of a campaign. `progress(i)` is called every 256 inputs (the
 * watchdog follows it). Stops early after `maxFailures` distinct failure messages (known
 * failures, test/fuzz/known.ts, are reported but do not stop it).
 */
export function campaign(
    t: Target,
    seed: number,
    corpus: readonly Buffer[],
    from: number,
    to: number,
    progress?: (i: number) => void,
    maxFailures = 5
): CampaignStats {
    const src = new InputSource(t, seed, corpus)
    const failures: Failure[] = []
    const seen = new Set<string>()
    const started = performance.now()
    let i = from
    for (; i < to; i++) {
        if (progress && (i & 255) === 0) progress(i)
        let input: Buffer
        let msg: string | null
        try {
            input = src.input(i)
            msg = runOne(t, input)
        } catch (e) {
            // the campaign's own generator failed: a bug of the campaign, reported as such
            input = Buffer.alloc(0)
            msg = "the input generator threw: " + (e as Error).message
        }
        if (msg === null) continue
        const key = msg.replace(/\d+/g, "#").slice(0, 120)
        if (seen.has(key)) continue
        seen.add(key)
        failures.push({ target: t.name, index: i, input: hex(input), message: msg })
        if (failures.filter((f) => !isKnown(t.name, f.message)).length >= maxFailures) {
            i++
            break
        }
    }
    return { target: t.name, inputs: i - from, ms: performance.now() - started, failures }
}

/** Shrinks a failing input: drops runs of bytes and lowers bytes while it still fails the same
 * way (the message with numbers masked). */
export function minimize(t: Target, input: Buffer, budget = 2000): Buffer {
    const first = runOne(t, input)
    if (first === null) return input
    const key = (m: string | null) => (m === null ? null : m.replace(/\d+/g, "#").slice(0, 60))
    const want = key(first)
    let best = input
    let tries = 0
    const fails = (b: Buffer) => {
        tries++
        return key(runOne(t, b)) === want
    }
    for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && tries < budget; chunk >>= 1) {
        for (let at = 0; at + chunk <= best.length && tries < budget;) {
            const cand = Buffer.concat([best.subarray(0, at), best.subarray(at + chunk)])
            if (fails(cand)) best = cand
            else at += chunk
        }
    }
    return best
}
