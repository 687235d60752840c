import { Console } from "../../hal/console"
import { hex32 } from "../codec/bytes"
import { crc32c } from "../codec/crc32c"
import { PrimaryChannel } from "../link/primary"
import { RemoteChannel } from "../link/remote"
import { SuspendReason } from "../pipeline/primary"
import { BlockStore } from "../store/blockStore"
import { storeErrorName } from "../store/types"
import { ShellError } from "./shell"

// What the board commands of both families print and how they read their arguments
// (firmware/console/commands.ts, firmware/console/remoteCommands.ts): short, stable
// `word value` lines, counters as text or one JSON line, blocks in hex.

/** Answer of every board command while the firmware is not running. */
export const NOT_RUNNING = "board not running (booting or powered off)"

/** Longest block read prints in hex. */
const READ_HEX_BYTES = 16

/**
 * Why a member suspended replication (SuspendReason), as the consoles print it; `afterMs`, the
 * group's suspend time, is said when known (> 0).
 */
export function reasonText(r: number, afterMs: number): string {
    const t = afterMs > 0 ? " " + seconds(afterMs) + " or more" : ""
    if (r === SuspendReason.History) return "replication history at its bound"
    if (r === SuspendReason.Stalled) return "a write waited" + t + ": the group cannot release"
    if (r === SuspendReason.Link) return "link down" + t
    if (r === SuspendReason.Damage) return "the loss of a damaged block was accepted"
    if (r === SuspendReason.Evicted) return "this board was evicted from the group"
    if (r === SuspendReason.Admitted) return "admitted again: copying its whole image"
    if (r === SuspendReason.Repair) return "repairing the blocks a verify found different"
    if (r === SuspendReason.Manifests) return "final manifests the remote needs were lost to the group"
    return "reason " + r
}

export function channelLine(ch: PrimaryChannel | RemoteChannel): string {
    const c = ch.counters
    return (
        ch.state() +
        ", session " +
        ch.session() +
        ", frames sent " +
        c.framesSent +
        " retransmitted " +
        c.retransmissions +
        ", dropped crc " +
        c.droppedCrc +
        " malformed " +
        c.droppedMalformed +
        ", deaths " +
        c.linkDeaths
    )
}

/** Named counters (and yes/no flags) in a fixed order: printed as text or as one JSON object. */
export class StatList {
    keys: string[] = []
    values: number[] = []
    /** Per key: a flag, printed true or false. */
    flags: boolean[] = []
    add(key: string, value: number): void {
        this.keys.push(key)
        this.values.push(value)
        this.flags.push(false)
    }
    flag(key: string, on: boolean): void {
        this.keys.push(key)
        this.values.push(on ? 1 : 0)
        this.flags.push(true)
    }
    text(i: number): string {
        if (this.flags[i]) return this.values[i] !== 0 ? "true" : "false"
        return "" + this.values[i]
    }
}

/** The sealed link's drops (docs/FORMAT-link.md §11): frames that did not authenticate, replays,
 * HELLOs refused (`more`: those refused before they reached a channel). */
export function addSealStats(s: StatList, chs: (PrimaryChannel | RemoteChannel)[], more: number): void {
    let auth = 0
    let replay = 0
    let refused = more
    for (let i = 0; i < chs.length; i++) {
        auth += chs[i].counters.droppedAuth
        replay += chs[i].counters.droppedReplay
        refused += chs[i].counters.handshakesRefused
    }
    s.add("droppedAuth", auth)
    s.add("droppedReplay", replay)
    s.add("handshakesRefused", refused)
}

export function addStoreStats(s: StatList, st: BlockStore): void {
    const t = st.stats
    s.add("storeWrites", t.writes)
    s.add("storeReads", t.reads)
    s.add("flashPrograms", t.programs)
    s.add("flashErases", t.erases)
    s.add("gcRuns", t.gcRuns)
    s.add("freeSectors", st.freeSectors())
    s.add("storeFull", t.full)
    s.add("flashErrors", t.flashErrors)
}

export function statsLines(s: StatList, json: boolean): string[] {
    if (json) {
        const o: Record<string, number | boolean> = {}
        for (let i = 0; i < s.keys.length; i++) o[s.keys[i]] = s.flags[i] ? s.values[i] !== 0 : s.values[i]
        return [JSON.stringify(o)]
    }
    const lines: string[] = []
    let line = ""
    for (let i = 0; i < s.keys.length; i++) {
        const item = s.keys[i] + " " + s.text(i)
        if (line.length > 0 && line.length + item.length > 76) {
            lines.push(line)
            line = ""
        }
        line += (line.length > 0 ? ", " : "") + item
    }
    if (line.length > 0) lines.push(line)
    return lines
}

export function readBlock(out: Console, store: BlockStore, member: number, lba: number, what: string): void {
    store.read(member, lba, (err, data) => {
        if (err !== 0) out.writeLine("error: read " + what + ": " + storeErrorName(err))
        else if (!data) out.writeLine(what + ": never written")
        else {
            let hex = ""
            const n = data.length < READ_HEX_BYTES ? data.length : READ_HEX_BYTES
            for (let i = 0; i < n; i += 4) hex += " " + hex32(word(data, i)).slice(0, 2 * (n - i < 4 ? n - i : 4))
            out.writeLine(what + ": " + data.length + " B, crc32c " + hex32(crc32c(data)) + ", begins" + hex)
        }
    })
}

/** Big-endian word at i (bytes past the end read as 0), for printing bytes in order. */
function word(b: Buffer, i: number): number {
    let v = 0
    for (let k = 0; k < 4; k++) v = v * 256 + (i + k < b.length ? b[i + k] : 0)
    return v
}

export function noArgs(name: string, args: string[]): void {
    if (args.length > 0) throw new ShellError(name + ' takes no argument, not "' + args[0] + '"')
}

export function jsonFlag(name: string, args: string[]): boolean {
    if (args.length === 0) return false
    if (args.length === 1 && args[0] === "--json") return true
    throw new ShellError(name + ' takes only --json, not "' + args[0] + '"')
}

/** a followed by b (DeviceScript arrays have no concat). */
export function append(a: string[], b: string[]): string[] {
    for (let i = 0; i < b.length; i++) a.push(b[i])
    return a
}

export function noLines(): string[] {
    return []
}

export function addrText(a: number): string {
    return "0x" + hex32(a).slice(6)
}

export function seconds(ms: number): string {
    return Math.round(ms / 100) / 10 + " s"
}

export function percent(n: number, of: number): string {
    return (of > 0 ? Math.round((n * 100) / of) : 0) + "%"
}
