// Scheduled events of a simulation run given on the command line (--power-off, --link-down),
// durations and duration ranges: parsing, validation and the text the replay command carries
// (Node only; no side effects, so the tests import it).
import { Prng } from "./prng"

/** A bad option value; the command line prints its message as one line and exits 2. */
export class OptionError extends Error {}

function bad(msg: string): never {
    throw new OptionError(msg)
}

/** Which board an event hits: a primary (0-based member index) or the remote. */
export type EventTarget = number | "remote"

/** A board powered off at `atMs` of virtual time, for `forMs`, or for good (null). */
export interface PowerOffEvent {
    target: EventTarget
    atMs: number
    forMs: number | null
}

/** A member's link (`remote`: every link) down from `atMs` for `forMs`. */
export interface LinkDownEvent {
    target: EventTarget
    atMs: number
    forMs: number
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/

/** "500ms", "10s", "2m", "1h"; a bare number is seconds. */
export function parseDurationMs(s: string, what = "duration"): number {
    const m = DURATION.exec(s.trim())
    if (!m) bad(`bad ${what} "${s}" (use e.g. 500ms, 10s, 2m)`)
    const v = parseFloat(m[1])
    const unit = m[2] ?? "s"
    return v * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60000 : 3600000)
}

/** A duration "60s" ([60000, 60000]) or a range "10s..10m" ([10000, 600000]). */
export function parseDurationRange(s: string): [number, number] {
    const parts = s.split("..")
    if (parts.length > 2) bad(`bad duration "${s}" (use e.g. 60s, or a range 10s..10m)`)
    const lo = parseDurationMs(parts[0])
    const hi = parts.length === 2 ? parseDurationMs(parts[1]) : lo
    if (!(lo > 0)) bad("--duration must be positive")
    if (hi < lo) bad(`--duration ${s}: the range is empty`)
    return [lo, hi]
}

/** The duration a sweep gives `seed` when --duration is a range: uniform in [lo, hi] (whole ms
 * when the bounds are), drawn from a generator of the seed's own, so a seed always gets the same. */
export function drawDuration(seed: number, lo: number, hi: number): number {
    if (hi <= lo) return lo
    const rng = new Prng((seed ^ 0xd0a7) >>> 0)
    const span = Math.floor(hi - lo)
    return lo + rng.int(span + 1)
}

/** Milliseconds as the replay command writes them: "10000ms". */
export function formatMs(ms: number): string {
    return `${ms}ms`
}

function parseTarget(s: string, boards: number, opt: string, item: string): EventTarget {
    if (s === "remote") return "remote"
    if (!/^\d+$/.test(s)) bad(`--${opt} ${item}: "${s}" is neither a member index (0..${boards - 1}) nor remote`)
    const m = Number(s)
    if (m >= boards) bad(`--${opt} ${item}: member ${m} does not exist (the group has members 0..${boards - 1})`)
    return m
}

/** The items of a repeatable option whose values may also be comma-separated lists. */
function items(values: string | string[] | undefined): string[] {
    if (values === undefined) return []
    const list = typeof values === "string" ? [values] : values
    const out: string[] = []
    for (const v of list) for (const x of v.split(",")) out.push(x.trim())
    return out
}

interface Parsed {
    target: EventTarget
    atMs: number
    forMs: number | null
    item: string
}

function parseItems(opt: string, values: string | string[] | undefined, boards: number, endMs: number, needFor: boolean): Parsed[] {
    const out: Parsed[] = []
    const form = needFor ? "M@T+D" : "M@T[+D]"
    for (const item of items(values)) {
        const m = /^([^@+]*)@([^@+]*)(?:\+([^@+]*))?$/.exec(item)
        if (!m) bad(`--${opt} "${item}": use ${form}, e.g. 2@10s+60s (M a member index or remote)`)
        const target = parseTarget(m[1], boards, opt, item)
        const atMs = parseDurationMs(m[2], `time in --${opt} ${item}:`)
        let forMs: number | null = null
        if (m[3] !== undefined) {
            forMs = parseDurationMs(m[3], `duration in --${opt} ${item}:`)
            if (!(forMs > 0)) bad(`--${opt} ${item}: the duration must be positive`)
        } else if (needFor) bad(`--${opt} "${item}": the duration is missing; use ${form}, e.g. 1@10s+5s`)
        if (atMs >= endMs) bad(`--${opt} ${item}: ${formatMs(atMs)} is not before the end of the workload (${formatMs(endMs)})`)
        out.push({ target, atMs, forMs, item })
    }
    return out
}

/** Two power-offs of one board must not overlap (an off board cannot go off again); link
 * outages may (a link is down while any outage of it lasts). */
function checkOverlaps(opt: string, list: Parsed[]): void {
    const sorted = list.slice().sort((a, b) => a.atMs - b.atMs)
    for (let i = 0; i < sorted.length; i++)
        for (let j = i + 1; j < sorted.length; j++) {
            const a = sorted[i]
            const b = sorted[j]
            if (a.target === b.target && (a.forMs === null || a.atMs + a.forMs > b.atMs)) bad(`--${opt} ${b.item} overlaps ${a.item}`)
        }
}

/** --power-off values: "M@T[+D]" items (repeated options, comma lists or both). `endMs`: the
 * end of the workload (an event must begin before it). */
export function parsePowerOff(values: string | string[] | undefined, boards: number, endMs: number): PowerOffEvent[] {
    const list = parseItems("power-off", values, boards, endMs, false)
    checkOverlaps("power-off", list)
    return list.map((p) => ({ target: p.target, atMs: p.atMs, forMs: p.forMs }))
}

/** --link-down values: "M@T+D" items; `remote` takes every link down. */
export function parseLinkDown(values: string | string[] | undefined, boards: number, endMs: number): LinkDownEvent[] {
    return parseItems("link-down", values, boards, endMs, true).map((p) => ({ target: p.target, atMs: p.atMs, forMs: p.forMs as number }))
}

/** The option value that gives the events again (for the replay command). */
export function formatEvents(events: ReadonlyArray<{ target: EventTarget; atMs: number; forMs: number | null }>): string {
    return events.map((e) => `${e.target}@${formatMs(e.atMs)}${e.forMs === null ? "" : "+" + formatMs(e.forMs)}`).join(",")
}
