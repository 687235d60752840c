// The live run's terminal dashboard: one row per board, redrawn in place on a terminal, or
// one plain line per period when stdout is not a terminal (Node only).
import { reasonText } from "../../firmware/console/commands"
import { FaultEvent } from "../faultLog"
import { BoardSnapshot, RemoteSnapshot, Snapshot } from "../timeline"

export interface DashboardView {
    snapshot: Snapshot
    /** Per board: link goodput over the newest sample interval (bytes/s). */
    goodput: number[]
    seed: number
    mode: string
    faults: string[]
    durationMs: number
    /** Multiple of real time; Infinity: as fast as possible. */
    speed: number
    wallMs: number
    /** Virtual time the run is behind its pace (ms, 0 when on time). */
    behindMs: number
    /** Per board (primaries, then the remote): console port, or -1. */
    ports: number[]
    writesAcked: number
    faultsInjected: Record<string, number>
    lastFault: FaultEvent | null
    /** "running", "stopping: the remote catches up", "done". */
    phase: string
}

export function formatBytesPerSecond(v: number): string {
    if (v < 1000) return Math.round(v) + " B/s"
    if (v < 1e6) return (v / 1000).toFixed(1) + " kB/s"
    return (v / 1e6).toFixed(2) + " MB/s"
}

export function formatSeconds(ms: number): string {
    return (ms / 1000).toFixed(1) + " s"
}

function speedText(speed: number): string {
    return speed === Infinity ? "max" : speed + "x"
}

function pad(s: string, n: number): string {
    return s.length >= n ? s : s + " ".repeat(n - s.length)
}

function padLeft(s: string, n: number): string {
    return s.length >= n ? s : " ".repeat(n - s.length) + s
}

/** A bar of `width` cells filled to `fraction`. */
function bar(fraction: number, width: number): string {
    const f = Math.max(0, Math.min(1, fraction))
    const full = Math.round(f * width)
    return "#".repeat(full) + ".".repeat(width - full)
}

function faultCounts(f: Record<string, number>): string {
    const parts: string[] = []
    for (const [k, v] of Object.entries(f)) if (v > 0) parts.push(k + " " + v)
    return parts.length > 0 ? parts.join(", ") : "none"
}

export const COLUMNS_HELP = [
    "capture: seq stamped on new writes   released: newest seq every member adopted (writes up to it are acknowledged)",
    "aux ring: portions waiting in RAM    spill: portions sent from the flash log   goodput: payload delivered to the remote",
    "RPO lag: age of the oldest acknowledged write the remote has not applied, and closed seqs not yet confirmed",
]

/** A primary's state column: `susp` while it runs with replication suspended. */
function stateWord(b: BoardSnapshot): string {
    return b.up && b.suspended ? "susp" : b.state
}

/** The remote's mirror column: applied seq, staged portions, and whether it holds its image
 * for a suspended member (said in full on the line below) or for a full resync. */
function mirrorText(r: RemoteSnapshot): string {
    const base = `applied seq ${r.appliedSeq}, staged ${r.stagedPortions}`
    if (r.suspendedMember >= 0) return base + ", held"
    return base + (r.resyncing ? ", full resync" : "")
}

/** The dashboard's lines (without colour). */
export function renderDashboard(v: DashboardView): string[] {
    const s = v.snapshot
    const lines: string[] = []
    lines.push(
        `seqmirror  ${s.boards.length} primary board(s) + remote   seed ${v.seed}   mode ${v.mode}   faults ${v.faults.length > 0 ? v.faults.join(",") : "none"}`
    )
    const behind = v.behindMs > 500 ? `   (behind by ${formatSeconds(v.behindMs)})` : ""
    lines.push(
        `virtual ${formatSeconds(s.t)} of ${formatSeconds(v.durationMs)}   speed ${speedText(v.speed)}   wall ${formatSeconds(v.wallMs)}${behind}   ${v.phase}`
    )
    lines.push("")
    lines.push(
        pad("board", 11) +
            pad("state", 6) +
            padLeft("capture", 8) +
            padLeft("released", 9) +
            "  " +
            pad("aux ring", 20) +
            padLeft("spill", 6) +
            padLeft("goodput", 11) +
            "  " +
            pad("RPO lag", 18) +
            "console"
    )
    for (const b of s.boards) {
        const ring = b.ringSlots > 0 ? `${padLeft(String(b.ringUsed), 3)}/${b.ringSlots} ${bar(b.ringUsed / b.ringSlots, 10)}` : "-"
        const port = v.ports[b.member] >= 0 ? `port ${v.ports[b.member]}` : ""
        lines.push(
            pad("primary " + b.member, 11) +
                pad(stateWord(b), 6) +
                padLeft(b.up ? String(b.captureSeq) : "-", 8) +
                padLeft(b.up ? String(b.releasedSeq) : "-", 9) +
                "  " +
                pad(ring, 20) +
                padLeft(String(b.spill), 6) +
                padLeft(formatBytesPerSecond(v.goodput[b.member] ?? 0), 11) +
                "  " +
                pad(`${b.rpoLagMs} ms, ${b.rpoLagSeqs} seq`, 18) +
                port
        )
    }
    const r = s.remote
    const rport = v.ports[s.boards.length] >= 0 ? `port ${v.ports[s.boards.length]}` : ""
    const verdict = r.violations === 0 ? `consistent so far (${r.checks} applies checked)` : `NOT CONSISTENT (${r.violations} violations)`
    lines.push(pad("remote", 11) + pad(r.state, 6) + pad(mirrorText(r), 37) + pad(verdict, 43) + rport)
    if (r.up && r.suspendedMember >= 0)
        lines.push(" ".repeat(17) + `holding its image: suspended by member ${r.suspendedMember} (${reasonText(r.suspendReason, 0)})`)
    lines.push("")
    lines.push(`writes acknowledged ${v.writesAcked}   faults injected: ${faultCounts(v.faultsInjected)}`)
    const lf = v.lastFault
    lines.push(lf ? `last event at ${formatSeconds(lf.t)}: ${lf.target}: ${lf.detail}` : "last event: none")
    const firstPort = v.ports.find((p) => p >= 0)
    if (v.phase !== "running") lines.push("the run is over: the summary follows")
    else
        lines.push(
            firstPort !== undefined ? `consoles: nc 127.0.0.1 PORT (type help)   Ctrl-C stops and prints the summary` : "Ctrl-C stops and prints the summary"
        )
    return lines
}

/** One line for logs (stdout is not a terminal). */
export function renderPlainLine(v: DashboardView): string {
    const s = v.snapshot
    const parts = [`t ${formatSeconds(s.t)}`]
    for (const b of s.boards)
        parts.push(
            b.up
                ? `p${b.member}${b.suspended ? " suspended" : ""} seq ${b.captureSeq}/${b.releasedSeq} ring ${b.ringSlots > 0 ? Math.round((b.ringUsed * 100) / b.ringSlots) : 0}% spill ${b.spill} ${formatBytesPerSecond(v.goodput[b.member] ?? 0)} rpo ${b.rpoLagMs} ms`
                : `p${b.member} ${b.state}`
        )
    const r = s.remote
    const held = r.up && r.suspendedMember >= 0 ? ` held (member ${r.suspendedMember} suspended)` : ""
    parts.push(`remote ${r.up ? "applied " + r.appliedSeq : r.state}${held} ${r.violations === 0 ? "consistent" : "NOT CONSISTENT"}`)
    return parts.join(" | ")
}

/** Redraws a block of lines in place on a terminal (ANSI). */
export class Screen {
    private height = 0

    constructor(private out: NodeJS.WriteStream) {}

    draw(lines: string[], colour: (line: string, i: number) => string = (l) => l): void {
        const width = Math.max(20, (this.out.columns ?? 120) - 1)
        let s = this.height > 0 ? `\x1b[${this.height}F` : "\x1b[?25l"
        lines.forEach((l, i) => {
            s += colour(l.length > width ? l.slice(0, width) : l, i) + "\x1b[K\n"
        })
        s += "\x1b[J"
        this.height = lines.length
        this.out.write(s)
    }

    /** Leaves the block on screen and shows the cursor again. */
    release(): void {
        this.out.write("\x1b[?25h")
        this.height = 0
    }
}
