// Writes a run's history and final images as JSON lines, so that a checker written without
// this code base can repeat the consistency verdict (format: docs/EXPORT.md) (Node only).
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { hex32 } from "../firmware/codec/bytes"
import { crc32c } from "../firmware/codec/crc32c"
import { Simulation, SimResult } from "./sim"
import { decodeBlock, encodeBlock } from "./workload"

export const EXPORT_FORMAT = "seqmirror-export"
export const EXPORT_VERSION = 1

export interface ExportFiles {
    run: string
    writes: string
    applies: string
    remote: string
    primaries: string
}

/**
 * Records, from the start of a run, what every apply on the remote made visible: the portions
 * staged for the applied seq or earlier since the previous apply (as board, lba, seq, write
 * counter). With it a checker can repeat the check after every apply, not only the final one.
 * Create it before the run starts.
 */
export class ApplyRecorder {
    readonly lines: string[] = []
    private staged: Array<[number, number, number, number | null]> = []

    constructor(private sim: Simulation) {
        const g = sim.group
        const prevStaged = g.onStaged
        g.onStaged = (m, lba, seq, data) => {
            if (prevStaged) prevStaged(m, lba, seq, data)
            const id = decodeBlock(data)
            this.staged.push([m, lba, seq, id && id.board === m && id.lba === lba ? id.counter : null])
        }
        const prevApplied = g.onApplied
        g.onApplied = (seq, portions) => {
            if (prevApplied) prevApplied(seq, portions)
            this.applied(seq)
        }
    }

    private applied(seq: number): void {
        const visible: Array<[number, number, number, number | null]> = []
        const keep: Array<[number, number, number, number | null]> = []
        for (const e of this.staged) (((e[2] - seq) | 0) > 0 ? keep : visible).push(e)
        this.staged = keep
        this.lines.push(JSON.stringify({ seq, t: round3(this.sim.kernel.millis()), portions: visible }))
    }
}

function digest(data: Buffer): string {
    return hex32(crc32c(data))
}

/** One block of an image: the write it holds (counter), or null when it holds none. */
function blockLine(board: number, lba: number, data: Buffer | null): string {
    if (!data) return JSON.stringify({ kind: "block", board, lba, counter: 0, digest: null })
    const id = decodeBlock(data)
    const counter = id && id.board === board && id.lba === lba ? id.counter : null
    return JSON.stringify({ kind: "block", board, lba, counter, digest: digest(data) })
}

/**
 * Exports a finished run into `dir` (created if needed): run.json, writes.jsonl, applies.jsonl,
 * remote.jsonl, primaries.jsonl. Reads the final images through the firmware (in virtual
 * time), so call it after the run finished.
 */
export function exportRun(sim: Simulation, result: SimResult, applies: ApplyRecorder, dir: string): ExportFiles {
    mkdirSync(dir, { recursive: true })
    const g = sim.group.opts
    const files: ExportFiles = {
        run: join(dir, "run.json"),
        writes: join(dir, "writes.jsonl"),
        applies: join(dir, "applies.jsonl"),
        remote: join(dir, "remote.jsonl"),
        primaries: join(dir, "primaries.jsonl"),
    }
    const o = sim.opts
    writeFileSync(
        files.run,
        JSON.stringify(
            {
                format: EXPORT_FORMAT,
                version: EXPORT_VERSION,
                seed: o.seed,
                boards: o.boards,
                mode: o.mode,
                faults: o.faults,
                durationMs: o.durationMs,
                rate: o.rate,
                baud: o.baud,
                lbaCount: g.lbaCount,
                blockSize: g.blockSize,
                virtualMs: result.virtualMs,
                appliedSeq: result.appliedSeq,
                verdict: { consistent: result.consistent, safe: result.safe, caughtUp: result.caughtUp, violations: result.violations },
                replay: result.replay,
            },
            null,
            2
        ) + "\n"
    )
    const block = Buffer.alloc(g.blockSize)
    const lines: string[] = []
    for (let b = 0; b < sim.history.boards; b++)
        for (const w of sim.history.writes[b]) {
            encodeBlock(block, w.board, w.lba, w.counter)
            const acked = w.ackedAt >= 0
            lines.push(
                JSON.stringify({
                    board: w.board,
                    lba: w.lba,
                    counter: w.counter,
                    deps: w.deps,
                    seq: acked ? w.seq : null,
                    issuedAt: round3(w.issuedAt),
                    ackedAt: acked ? round3(w.ackedAt) : null,
                    failed: w.failed,
                    digest: digest(block),
                })
            )
        }
    writeFileSync(files.writes, lines.join("\n") + (lines.length > 0 ? "\n" : ""))
    writeFileSync(files.applies, applies.lines.join("\n") + (applies.lines.length > 0 ? "\n" : ""))

    const remote = sim.readImage((b, lba, done) => sim.group.readRemote(b, lba, done))
    const appliedSeq = sim.group.appliedSeq()
    const rl = [JSON.stringify({ kind: "image", side: "remote", appliedSeq, boards: o.boards, lbaCount: g.lbaCount, blockSize: g.blockSize })]
    for (let b = 0; b < o.boards; b++) for (let lba = 0; lba < g.lbaCount; lba++) rl.push(blockLine(b, lba, remote[b][lba]))
    writeFileSync(files.remote, rl.join("\n") + "\n")

    const pl = [JSON.stringify({ kind: "image", side: "primaries", boards: o.boards, lbaCount: g.lbaCount, blockSize: g.blockSize })]
    for (let b = 0; b < o.boards; b++) {
        const p = sim.group.primaries[b]
        const img = sim.readImage((bb, lba, done) => {
            if (bb !== b || !p.store || !p.up) return done(null)
            p.store.read(b, lba, (err, data) => done(err === 0 ? data : null))
        })
        for (let lba = 0; lba < g.lbaCount; lba++) pl.push(blockLine(b, lba, img[b][lba]))
    }
    writeFileSync(files.primaries, pl.join("\n") + "\n")
    return files
}

function round3(x: number): number {
    return Math.round(x * 1000) / 1000
}
