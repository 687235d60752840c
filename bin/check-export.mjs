#!/usr/bin/env node
// An independent consistency checker for a run exported with `seqmirror sim --export DIR`.
// It uses nothing of seqmirror's code: only the files and the rules in docs/EXPORT.md.
//
//   node bin/check-export.mjs DIR [--json]
//
// Prints the verdict (consistent, safe, caughtUp, violations) and exits 0 when consistent,
// 1 when not, 2 when the files cannot be read.
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
            throw new Error(`${path}:${i + 1}: not JSON: ${e.message}`)
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
    if (run.format !== "seqmirror-export" || run.version !== 1) throw new Error(`${dir}: not a seqmirror export of version 1`)
    const writes = []
    for (let b = 0; b < run.boards; b++) writes.push([])
    for (const w of readJsonLines(join(dir, "writes.jsonl"))) writes[w.board][w.counter - 1] = w
    const remote = readImage(join(dir, "remote.jsonl"))
    const primaries = readImage(join(dir, "primaries.jsonl"))
    const applied = remote.head.appliedSeq
    const safety = []
    const liveness = []

    // acknowledged writes in order of acknowledgement, fed to the index as time goes on
    const ackOrder = []
    for (const list of writes) for (const w of list) if (w && w.ackedAt !== null) ackOrder.push(w)
    ackOrder.sort((x, y) => x.ackedAt - y.ackedAt)
    const index = new AckedIndex(run.boards)
    let fed = 0
    const ackUntil = (t) => {
        while (fed < ackOrder.length && ackOrder[fed].ackedAt < t) index.add(ackOrder[fed++])
    }

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

    /** The dependency rule and the newest-write rule on an image view[b][lba] = counter, with
     * the writes the index holds as acknowledged. */
    const checkImage = (view, where, out) => {
        const A = view.map((row) => row.reduce((a, c) => (c > a ? c : a), 0))
        for (let b = 0; b < view.length; b++)
            for (let lba = 0; lba < view[b].length; lba++) {
                const c = view[b][lba]
                if (c > 0) {
                    const w = writes[b][c - 1]
                    const d = w ? w.deps.findIndex((dep, k) => dep > A[k]) : -1
                    if (d >= 0) out.push(`${where}: write ${b}:${c} (lba ${lba}) is visible but write ${d}:${w.deps[d]} it depends on is not`)
                }
                const e = index.newest(b, lba, A[b])
                if (c < e) out.push(`${where}: board ${b} lba ${lba} shows write ${c} but acknowledged write ${e} is older than a visible write`)
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
    for (const a of readJsonLines(join(dir, "applies.jsonl"))) {
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
        ackUntil(a.t)
        if (safety.length < 50) checkImage(replay, `remote after apply of seq ${a.seq}`, safety)
    }
    ackUntil(Infinity)

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
            if (c < s) safety.push(`remote: board ${b} lba ${lba} shows write ${c} but acknowledged write ${s} has an applied seq`)
            const all = index.newest(b, lba, Infinity)
            if (c < all) liveness.push(`remote: board ${b} lba ${lba} never received acknowledged write ${all} (shows ${c})`)
        }

    // the primaries: no acknowledged write lost
    for (let b = 0; b < run.boards; b++)
        for (let lba = 0; lba < primaries.head.lbaCount; lba++) {
            const c = shown(primaries, "primary " + b, b, lba, safety)
            const e = index.newest(b, lba, Infinity)
            if (c !== null && c < e) safety.push(`primary ${b}: lba ${lba} lost acknowledged write ${e} (shows ${c})`)
        }

    let acked = 0
    for (const list of writes) for (const w of list) if (w && w.ackedAt !== null) acked++
    return {
        consistent: safety.length === 0 && liveness.length === 0,
        safe: safety.length === 0,
        caughtUp: liveness.length === 0,
        appliedSeq: applied,
        appliesChecked,
        /** The applies replayed in order give the final remote image. */
        appliesMatchImage: replay.every((row, b) => row.every((c, lba) => c === view[b][lba])),
        writes: writes.reduce((n, l) => n + l.length, 0),
        writesAcked: acked,
        violations: safety.concat(liveness).slice(0, 50),
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
        process.stdout.write(`${v.writes} writes (${v.writesAcked} acknowledged), remote applied seq ${v.appliedSeq}, ${v.appliesChecked} applies replayed${v.appliesMatchImage ? "" : " (they do not add up to the final image)"}\n`)
        process.stdout.write(`verdict: ${v.consistent ? "consistent" : "NOT CONSISTENT"} (safe ${v.safe}, caught up ${v.caughtUp})\n`)
        for (const x of v.violations.slice(0, 20)) process.stdout.write(`  violation: ${x}\n`)
        const agrees = v.consistent === v.recorded.consistent && v.safe === v.recorded.safe && v.caughtUp === v.recorded.caughtUp
        process.stdout.write(`the run's own verdict: ${v.recorded.consistent ? "consistent" : "NOT CONSISTENT"} (${agrees ? "agrees" : "DISAGREES"})\n`)
    }
    process.exit(v.consistent ? 0 : 1)
}
