#!/usr/bin/env node
// An independent consistency checker for a run exported with `seqmirror sim --export DIR`.
// It uses nothing of seqmirror's code: only the files and the rules in docs/EXPORT.md.
//
//   node bin/check-export.mjs DIR [--json]
//
// Prints the verdict (consistent, safe, caughtUp, violations) and exits 0 when consistent,
// 1 when not, 2 when the files cannot be read. An export that contradicts itself (a write's
// dependency vector other than its issue and acknowledgement times give, a digest that is not
// the block its board, lba and counter make, counters other than the files hold) is a
// violation too.
import { readFileSync } from "node:fs"
import { join } from "node:path"

function readJsonLines(path) {
    const text = readFileSync(path, "utf8")
    const out = []
    text.split("\n").forEach((line, i) => {
        if (line.trim() === "") return
        try {
            out.push(JSON.parse(line))
        } catch (e) {
            throw new Error(`${path}:${i + 1}: not JSON: ${e.message}`, { cause: e })
        }
    })
    return out
}

/** Reads an image file: its header and blocks[board][lba] = { counter, digest }. */
function readImage(path) {
    const lines = readJsonLines(path)
    const head = lines[0]
    if (!head || head.kind !== "image") throw new Error(`${path}: the first line is not the image header`)
    const blocks = []
    for (let b = 0; b < head.boards; b++) blocks.push(new Array(head.lbaCount).fill(null))
    for (const l of lines.slice(1)) {
        if (l.kind !== "block") throw new Error(`${path}: unexpected line kind ${l.kind}`)
        blocks[l.board][l.lba] = l
    }
    return { head, blocks }
}

/** CRC-32C (Castagnoli, reflected, initial and final XOR 0xFFFFFFFF). */
const CRC_TABLE = (() => {
    const t = new Uint32Array(256)
    for (let i = 0; i < 256; i++) {
        let c = i
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
        t[i] = c >>> 0
    }
    return t
})()

function crc32c(bytes) {
    let c = 0xffffffff
    for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
}

/** The block a write writes (docs/EXPORT.md, "Block contents"). */
export function writeBlock(board, lba, counter, size) {
    const b = new Uint8Array(size)
    const u32 = (off, v) => {
        for (let i = 0; i < 4; i++) b[off + i] = (v >>> (8 * i)) & 0xff
    }
    u32(0, 0x31574d53)
    b[4] = board
    u32(8, lba)
    u32(12, counter)
    let x = (Math.imul(board + 1, 0x9e3779b1) ^ Math.imul(counter, 0x85ebca6b)) >>> 0
    for (let i = 16; i < size; i++) {
        x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6b) >>> 0
        b[i] = x & 0xff
    }
    return b
}

const hex8 = (v) => v.toString(16).padStart(8, "0")

/** (time, step) order: a before b. */
const before = (ta, sa, tb, sb) => ta < tb || (ta === tb && sa < sb)

/** Acknowledged write counters per (board, lba), sorted, for "the newest up to c". */
class AckedIndex {
    constructor(boards) {
        this.lists = []
        for (let b = 0; b < boards; b++) this.lists.push(new Map())
    }
    add(w) {
        const m = this.lists[w.board]
        const list = m.get(w.lba) ?? []
        let i = list.length
        list.push(w.counter)
        while (i > 0 && list[i - 1] > w.counter) {
            list[i] = list[i - 1]
            list[i - 1] = w.counter
            i--
        }
        m.set(w.lba, list)
    }
    /** The newest acknowledged counter <= upTo (0 when none). */
    newest(b, lba, upTo) {
        const list = this.lists[b].get(lba)
        if (!list) return 0
        let lo = 0
        let hi = list.length
        while (lo < hi) {
            const mid = (lo + hi) >> 1
            if (list[mid] <= upTo) lo = mid + 1
            else hi = mid
        }
        return lo > 0 ? list[lo - 1] : 0
    }
}

export function checkExport(dir) {
    const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8"))
    if (run.format !== "seqmirror-export" || run.version !== 2) throw new Error(`${dir}: not a seqmirror export of version 2`)
    const writes = []
    for (let b = 0; b < run.boards; b++) writes.push([])
    for (const w of readJsonLines(join(dir, "writes.jsonl"))) writes[w.board][w.counter - 1] = w
    const remote = readImage(join(dir, "remote.jsonl"))
    const primaries = readImage(join(dir, "primaries.jsonl"))
    const applies = readJsonLines(join(dir, "applies.jsonl"))
    const events = readJsonLines(join(dir, "events.jsonl"))
    const applied = remote.head.appliedSeq
    const safety = []
    const liveness = []
    const integrity = []

    // acknowledged writes in (time, step) order, fed to the index as time goes on
    const ackOrder = []
    for (const list of writes) for (const w of list) if (w && w.ackedAt !== null) ackOrder.push(w)
    ackOrder.sort((x, y) => (before(x.ackedAt, x.ackStep, y.ackedAt, y.ackStep) ? -1 : before(y.ackedAt, y.ackStep, x.ackedAt, x.ackStep) ? 1 : 0))
    const index = new AckedIndex(run.boards)
    let fed = 0
    const ackUntil = (t, step) => {
        while (fed < ackOrder.length && before(ackOrder[fed].ackedAt, ackOrder[fed].ackStep, t, step)) index.add(ackOrder[fed++])
    }

    // the export's own consistency: digests, counters, steps that follow the times
    let allWrites = 0
    for (let b = 0; b < run.boards; b++)
        writes[b].forEach((w, i) => {
            allWrites++
            if (!w) return void integrity.push(`export: board ${b} has no write ${i + 1}`)
            const d = hex8(crc32c(writeBlock(w.board, w.lba, w.counter, run.blockSize)))
            if (w.digest !== d && integrity.length < 20) integrity.push(`export: write ${b}:${w.counter} has digest ${w.digest}, its block's is ${d}`)
            if (w.ackedAt !== null && before(w.ackedAt, w.ackStep, w.issuedAt, w.issueStep))
                integrity.push(`export: write ${b}:${w.counter} is acknowledged before it is issued`)
        })
    const timed = []
    for (const list of writes)
        for (const w of list) {
            if (!w) continue
            timed.push([w.issuedAt, w.issueStep])
            if (w.ackedAt !== null) timed.push([w.ackedAt, w.ackStep])
        }
    for (const a of applies) timed.push([a.t, a.step])
    for (const e of events) timed.push([e.t, e.step])
    timed.sort((x, y) => x[1] - y[1])
    for (let i = 1; i < timed.length; i++)
        if (timed[i][1] === timed[i - 1][1] || timed[i][0] < timed[i - 1][0]) {
            integrity.push(`export: step ${timed[i][1]} at ${timed[i][0]} ms does not follow step ${timed[i - 1][1]} at ${timed[i - 1][0]} ms`)
            break
        }
    const c = run.counters
    const listed = applies.reduce((n, a) => n + a.portions.length, 0)
    let acked0 = 0
    for (const list of writes) for (const w of list) if (w && w.ackedAt !== null) acked0++
    const counters = [
        ["writesIssued", allWrites],
        ["writesAcked", acked0],
        ["portionsApplied", listed],
        ["applies", applies.length],
        ["events", events.length],
    ]
    for (const [k, n] of counters) if (c[k] !== n) integrity.push(`export: run.json counts ${k} ${c[k]}, the files hold ${n}`)

    // dependencies from the times alone: a write depends on every write acknowledged before
    // it was issued, on any board; the exported vectors must say the same
    const issueOrder = []
    for (const list of writes) for (const w of list) if (w) issueOrder.push(w)
    issueOrder.sort((x, y) => (before(x.issuedAt, x.issueStep, y.issuedAt, y.issueStep) ? -1 : 1))
    const high = new Array(run.boards).fill(0)
    const deps = writes.map(() => [])
    let k = 0
    let depErrors = 0
    for (const w of issueOrder) {
        while (k < ackOrder.length && before(ackOrder[k].ackedAt, ackOrder[k].ackStep, w.issuedAt, w.issueStep)) {
            const x = ackOrder[k++]
            if (x.counter > high[x.board]) high[x.board] = x.counter
        }
        deps[w.board][w.counter - 1] = high.slice()
        const d = high.findIndex((v, b) => v !== w.deps[b])
        if (d >= 0 && depErrors++ < 10)
            integrity.push(
                `export: write ${w.board}:${w.counter} lists deps [${w.deps}] but the writes acknowledged before its issue give [${high}] (board ${d})`
            )
    }
    if (depErrors > 10) integrity.push(`export: ${depErrors - 10} more writes list other deps than their times give`)

    /** The counter an image block shows: 0 for none; null (and a violation) for a block no
     * write of this place produced. */
    const shown = (img, where, b, lba, out) => {
        const blk = img.blocks[b][lba]
        if (!blk || blk.digest === null) return 0
        const w = blk.counter === null ? null : writes[b][blk.counter - 1]
        if (!w || w.lba !== lba || w.digest !== blk.digest) {
            out.push(`${where}: board ${b} lba ${lba} holds a block no write produced`)
            return null
        }
        return blk.counter
    }

    // boards lost with their flash (events `lost`): their writes after what the remote showed,
    // up to those issued then, are lost (lostFrom < counter <= lostTo, per lba; an earlier loss
    // of a block stays excused)
    const lostFrom = writes.map(() => [])
    const lostTo = writes.map(() => [])
    const lose = (e) => {
        for (let lba = 0; lba < e.shown.length; lba++) {
            const prev = lostFrom[e.board][lba]
            lostFrom[e.board][lba] = prev !== undefined && prev < e.shown[lba] ? prev : e.shown[lba]
            lostTo[e.board][lba] = e.issued
        }
    }
    const excused = (b, lba, c) => lostTo[b][lba] !== undefined && c > lostFrom[b][lba] && c <= lostTo[b][lba]
    /** Every write of board d after `from` up to `to` is excused. */
    const lostAfter = (d, from, to) => {
        for (let c = from + 1; c <= to; c++) {
            const w = writes[d][c - 1]
            if (!w || !excused(d, w.lba, c)) return false
        }
        return true
    }

    /** The dependency rule and the newest-write rule on an image view[b][lba] = counter, with
     * the writes the index holds as acknowledged. */
    const checkImage = (view, where, out) => {
        const A = view.map((row) => row.reduce((a, c) => (c > a ? c : a), 0))
        for (let b = 0; b < view.length; b++)
            for (let lba = 0; lba < view[b].length; lba++) {
                const c = view[b][lba]
                if (c > 0) {
                    const wd = deps[b][c - 1]
                    const d = wd ? wd.findIndex((dep, k) => dep > A[k] && !lostAfter(k, A[k], dep)) : -1
                    if (d >= 0) out.push(`${where}: write ${b}:${c} (lba ${lba}) is visible but write ${d}:${wd[d]} it depends on is not`)
                }
                const e = index.newest(b, lba, A[b])
                if (c < e && !excused(b, lba, e))
                    out.push(`${where}: board ${b} lba ${lba} shows write ${c} but acknowledged write ${e} is older than a visible write`)
            }
        return A
    }

    // the remote after every apply: the portions each apply made visible, replayed in order
    const replay = []
    const replaySeq = []
    for (let b = 0; b < run.boards; b++) {
        replay.push(new Array(remote.head.lbaCount).fill(0))
        replaySeq.push(new Array(remote.head.lbaCount).fill(0))
    }
    let appliesChecked = 0
    // a replaced remote starts blank: its image holds nothing until its own applies
    const replaced = events.filter((e) => e.kind === "replace" && e.board === "remote").map((e) => e.step)
    let nextReplace = 0
    const losses = events.filter((e) => e.kind === "lost")
    let nextLoss = 0
    for (const a of applies) {
        while (nextReplace < replaced.length && replaced[nextReplace] < a.step) {
            nextReplace++
            for (let b = 0; b < run.boards; b++) {
                replay[b].fill(0)
                replaySeq[b].fill(0)
            }
        }
        while (nextLoss < losses.length && losses[nextLoss].step < a.step) lose(losses[nextLoss++])
        for (const [b, lba, seq, counter] of a.portions) {
            if (counter === null) {
                safety.push(`remote: apply of seq ${a.seq} made visible a block no write produced (board ${b} lba ${lba})`)
                continue
            }
            const cur = replaySeq[b][lba]
            if (seq > cur || (seq === cur && counter > replay[b][lba])) {
                replay[b][lba] = counter
                replaySeq[b][lba] = seq
            }
        }
        appliesChecked++
        ackUntil(a.t, a.step)
        if (safety.length < 50) checkImage(replay, `remote after apply of seq ${a.seq}`, safety)
    }
    ackUntil(Infinity, 0)
    while (nextLoss < losses.length) lose(losses[nextLoss++])

    // the final remote image: A[b] is the highest counter of board b it shows
    const view = []
    for (let b = 0; b < run.boards; b++) {
        const row = []
        for (let lba = 0; lba < remote.head.lbaCount; lba++) {
            const c = shown(remote, "remote", b, lba, safety)
            row.push(c === null ? 0 : c)
        }
        view.push(row)
    }
    checkImage(view, "remote", safety)
    // newest acknowledged write per (board, lba) with a seq the remote applied
    const appliedNewest = writes.map(() => new Map())
    for (const w of ackOrder) if (w.seq <= applied && w.counter > (appliedNewest[w.board].get(w.lba) ?? 0)) appliedNewest[w.board].set(w.lba, w.counter)
    for (let b = 0; b < run.boards; b++)
        for (let lba = 0; lba < remote.head.lbaCount; lba++) {
            const c = view[b][lba]
            if (c > 0) {
                const w = writes[b][c - 1]
                if (w.seq !== null && w.seq > applied) safety.push(`remote: write ${b}:${c} of seq ${w.seq} is visible above the applied seq ${applied}`)
            }
            const s = appliedNewest[b].get(lba) ?? 0
            if (c < s && !excused(b, lba, s)) safety.push(`remote: board ${b} lba ${lba} shows write ${c} but acknowledged write ${s} has an applied seq`)
            const all = index.newest(b, lba, Infinity)
            if (c < all && !excused(b, lba, all)) liveness.push(`remote: board ${b} lba ${lba} never received acknowledged write ${all} (shows ${c})`)
        }

    // the primaries: no acknowledged write lost
    for (let b = 0; b < run.boards; b++)
        for (let lba = 0; lba < primaries.head.lbaCount; lba++) {
            const c = shown(primaries, "primary " + b, b, lba, safety)
            const e = index.newest(b, lba, Infinity)
            if (c !== null && c < e && !excused(b, lba, e)) safety.push(`primary ${b}: lba ${lba} lost acknowledged write ${e} (shows ${c})`)
        }

    const acked = acked0
    const kinds = {}
    for (const e of events) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1
    return {
        consistent: safety.length === 0 && liveness.length === 0 && integrity.length === 0,
        safe: safety.length === 0,
        /** The export agrees with itself: digests, counters, steps and dependency vectors. */
        intact: integrity.length === 0,
        caughtUp: liveness.length === 0,
        appliedSeq: applied,
        appliesChecked,
        /** The applies replayed in order give the final remote image. */
        appliesMatchImage: replay.every((row, b) => row.every((c, lba) => c === view[b][lba])),
        writes: writes.reduce((n, l) => n + l.length, 0),
        writesAcked: acked,
        portionsApplied: listed,
        events: kinds,
        violations: integrity.concat(safety, liveness).slice(0, 50),
        recorded: run.verdict,
    }
}

const invokedDirectly = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href
if (invokedDirectly) {
    const args = process.argv.slice(2)
    const json = args.includes("--json")
    const dir = args.find((a) => !a.startsWith("--"))
    if (!dir) {
        process.stderr.write("usage: node bin/check-export.mjs DIR [--json]\n")
        process.exit(2)
    }
    let v
    try {
        v = checkExport(dir)
    } catch (e) {
        process.stderr.write(`check-export: ${e.message}\n`)
        process.exit(2)
    }
    if (json) process.stdout.write(JSON.stringify(v) + "\n")
    else {
        process.stdout.write(
            `${v.writes} writes (${v.writesAcked} acknowledged), remote applied seq ${v.appliedSeq}, ${v.appliesChecked} applies replayed${v.appliesMatchImage ? "" : " (they do not add up to the final image)"}\n`
        )
        const ev = Object.entries(v.events)
            .map(([k, n]) => `${k} ${n}`)
            .join(", ")
        process.stdout.write(`${v.portionsApplied} portions made visible; events: ${ev || "none"}\n`)
        process.stdout.write(
            `verdict: ${v.consistent ? "consistent" : "NOT CONSISTENT"} (safe ${v.safe}, caught up ${v.caughtUp}, export intact ${v.intact})\n`
        )
        for (const x of v.violations.slice(0, 20)) process.stdout.write(`  violation: ${x}\n`)
        const agrees = v.intact && v.consistent === v.recorded.consistent && v.safe === v.recorded.safe && v.caughtUp === v.recorded.caughtUp
        process.stdout.write(`the run's own verdict: ${v.recorded.consistent ? "consistent" : "NOT CONSISTENT"} (${agrees ? "agrees" : "DISAGREES"})\n`)
    }
    process.exit(v.consistent ? 0 : 1)
}
