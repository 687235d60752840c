// Writes a run's history, events and final images as JSON lines, so that a checker written
// without this code base can repeat the consistency verdict (format: docs/EXPORT.md) (Node only).
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { hex32 } from "../firmware/codec/bytes"
import { crc32c } from "../firmware/codec/crc32c"
import { PrimaryBoard } from "../firmware/pipeline/primary"
import { RemoteBoard } from "../firmware/remote/remoteBoard"
import { ShuttleAgent } from "../firmware/shuttle/agent"
import { FOREVER_MS, Simulation, SimResult } from "./sim"
import { decodeBlock, encodeBlock, WriteRecord } from "./workload"

export const EXPORT_FORMAT = "seqmirror-export"
export const EXPORT_VERSION = 2

export interface ExportFiles {
    run: string
    writes: string
    applies: string
    events: string
    remote: string
    primaries: string
}

/** A board in the events: a member index, or "remote". */
type Board = number | "remote"

/**
 * Records, from the start of a run, what the export needs beyond the simulator's own history:
 * - one step counter over every issue, acknowledgement, apply and event, so that records with
 *   the same time have a defined order (docs/EXPORT.md, "Order");
 * - what every apply on the remote made visible (the simulator's own list, so the files and
 *   `portionsApplied` count the same portions);
 * - the events: power cuts, replacements, boards up again, link outages, suspensions and
 *   resumptions, resyncs started and committed, evictions.
 * It only listens: the run is the same with it or without it. Create it before the run starts.
 */
export class ApplyRecorder {
    readonly lines: string[] = []
    readonly events: string[] = []
    private step = 0
    private readonly issueStep = new Map<WriteRecord, number>()
    private readonly ackStep = new Map<WriteRecord, number>()

    constructor(private sim: Simulation) {
        const h = sim.history
        const issue = h.issue.bind(h)
        h.issue = (board, lba, now) => {
            const w = issue(board, lba, now)
            this.issueStep.set(w, ++this.step)
            return w
        }
        const acked = h.acked.bind(h)
        h.acked = (w, seq, now) => {
            acked(w, seq, now)
            this.ackStep.set(w, ++this.step)
        }
        const prevApply = sim.onApply
        sim.onApply = (seq, visible) => {
            if (prevApply) prevApply(seq, visible)
            this.lines.push(JSON.stringify({ seq, t: this.now(), step: ++this.step, portions: visible }))
        }
        this.followGroup()
    }

    /** The step of a write's issue and acknowledgement (null: never acknowledged). */
    stepsOf(w: WriteRecord): { issueStep: number; ackStep: number | null } {
        return { issueStep: this.issueStep.get(w) ?? 0, ackStep: this.ackStep.get(w) ?? null }
    }

    private now(): number {
        return round3(this.sim.kernel.millis())
    }

    private event(kind: string, board: Board, more: Record<string, unknown> = {}): void {
        this.events.push(JSON.stringify({ t: this.now(), step: ++this.step, kind, board, ...more }))
    }

    private followGroup(): void {
        const sim = this.sim
        const g = sim.group
        const prevCut = g.onPowerCut
        g.onPowerCut = (p, offMs, replaced) => {
            if (prevCut) prevCut(p, offMs, replaced)
            const off = offMs >= FOREVER_MS ? null : round3(offMs)
            this.event(replaced ? "replace" : "power-cut", p ? p.member : "remote", { offMs: off })
        }
        g.wires.forEach((w, b) => {
            const prev = w.onUpChange
            w.onUpChange = (up) => {
                if (prev) prev(up)
                this.event(up ? "link-up" : "link-down", b)
            }
        })
        for (const p of g.primaries) {
            const prev = p.onUp
            p.onUp = () => {
                if (prev) prev()
                this.event("up", p.member, { boot: p.boots })
                if (p.board) this.followPrimary(p.member, p.board)
            }
        }
        const r = g.remote
        const prevUp = r.onUp
        r.onUp = () => {
            if (prevUp) prevUp()
            this.event("up", "remote", { boot: r.boots, appliedSeq: r.board ? r.board.appliedSeq() : 0 })
            if (r.board) this.followRemote(r.board)
        }
        const prevLost = sim.onLost
        sim.onLost = (member, shown, issued) => {
            if (prevLost) prevLost(member, shown, issued)
            this.event("lost", member, { shown, issued })
        }
        const prevAgent = sim.onAgent
        sim.onAgent = (member, agent) => {
            if (prevAgent) prevAgent(member, agent)
            this.followAgent(member, agent)
        }
    }

    /** Suspensions and resumptions of one boot of a primary: its suspend() and the end of a
     * suspension in watch(). */
    private followPrimary(member: number, board: PrimaryBoard): void {
        const suspend = board.suspend.bind(board)
        board.suspend = (reason) => {
            const was = board.suspended
            suspend(reason)
            if (!was && board.suspended) this.event("suspend", member, { seq: board.suspendedSeq, reason: board.suspendReason })
        }
        const watch = board.watch.bind(board)
        board.watch = () => {
            const was = board.suspended
            watch()
            if (was && !board.suspended) this.event("resume", member)
        }
    }

    /** Resyncs of one boot of the remote: started, and committed (with the seq). */
    private followRemote(board: RemoteBoard): void {
        board.onResyncStarted = () => this.event("resync-start", "remote", { appliedSeq: board.appliedSeq() })
        let committed = board.resyncsApplied
        const prev = board.onApplied
        board.onApplied = (seq, m) => {
            if (board.resyncsApplied > committed) this.event("resync-commit", "remote", { seq })
            committed = board.resyncsApplied
            if (prev) prev(seq, m)
        }
    }

    /** Evictions and admissions a member's agent carries out or learns of. */
    private followAgent(member: number, agent: ShuttleAgent): void {
        const prevEvicted = agent.onEvicted
        const prevAdmitted = agent.onAdmitted
        const members = this.sim.group.primaries
        const targetOf = (address: number) => {
            const t = members.find((p) => p.address === address)
            return t ? t.member : null
        }
        agent.onEvicted = (address, self, seq) => {
            if (prevEvicted) prevEvicted(address, self, seq)
            this.event("evict", member, { target: targetOf(address), address, self })
        }
        agent.onAdmitted = (address, self, seq) => {
            if (prevAdmitted) prevAdmitted(address, self, seq)
            this.event("admit", member, { target: targetOf(address), address, self })
        }
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

function jsonLines(lines: string[]): string {
    return lines.join("\n") + (lines.length > 0 ? "\n" : "")
}

/**
 * Exports a finished run into `dir` (created if needed): run.json, writes.jsonl, applies.jsonl,
 * events.jsonl, remote.jsonl, primaries.jsonl. Reads the final images through the firmware
 * (in virtual time), so call it after the run finished.
 */
export function exportRun(sim: Simulation, result: SimResult, rec: ApplyRecorder, dir: string): ExportFiles {
    mkdirSync(dir, { recursive: true })
    const g = sim.group.opts
    const files: ExportFiles = {
        run: join(dir, "run.json"),
        writes: join(dir, "writes.jsonl"),
        applies: join(dir, "applies.jsonl"),
        events: join(dir, "events.jsonl"),
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
                counters: {
                    writesIssued: result.writesIssued,
                    writesAcked: result.writesAcked,
                    writesFailed: result.writesFailed,
                    portionsApplied: result.portionsApplied,
                    manifestPortionsApplied: result.manifestPortionsApplied,
                    applies: rec.lines.length,
                    events: rec.events.length,
                },
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
            const steps = rec.stepsOf(w)
            lines.push(
                JSON.stringify({
                    board: w.board,
                    lba: w.lba,
                    counter: w.counter,
                    deps: w.deps,
                    seq: acked ? w.seq : null,
                    issuedAt: round3(w.issuedAt),
                    issueStep: steps.issueStep,
                    ackedAt: acked ? round3(w.ackedAt) : null,
                    ackStep: acked ? steps.ackStep : null,
                    failed: w.failed,
                    digest: digest(block),
                })
            )
        }
    writeFileSync(files.writes, jsonLines(lines))
    writeFileSync(files.applies, jsonLines(rec.lines))
    writeFileSync(files.events, jsonLines(rec.events))

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
