import { Clock } from "../../hal/clock"
import { Console } from "../../hal/console"
import { RemoteChannel } from "../link/remote"
import { HoldReason, RemoteBoard } from "../remote/remoteBoard"
import { BlockStore } from "../store/blockStore"
import { failback, promote, PromoteError, PromoteReport, writePromoted } from "../remote/remotePromote"
import { storeErrorName } from "../store/types"
import { changing, parseNumberArg, Shell, ShellCommand, ShellError } from "./shell"
import {
    addSealStats,
    addStoreStats,
    append,
    channelLine,
    jsonFlag,
    noArgs,
    noLines,
    NOT_RUNNING,
    readBlock,
    reasonText,
    seconds,
    StatList,
    statsLines,
} from "./commandText"

// The console's commands of the remote board (firmware/console/commands.ts).

/** What the console reads of the running remote board. */
export interface RemoteParts {
    clock: Clock
    board: RemoteBoard
    store: BlockStore
    /** One channel per member, in member order. */
    channels: RemoteChannel[]
    /** The group's suspend time (group.suspendAfterMs), for the reason a member suspended
     * (0: not known). */
    suspendAfterMs: number
    /** HELLOs refused before they reached a member's channel (a host's listener), if any. */
    refusedElsewhere?: () => number
}

/** Registers the remote's commands: status, stats [--json], seq, link, group, read <member> <lba>,
 * promote, failback, write <member> <lba> <text>. */
export function addRemoteCommands(shell: Shell, out: Console, parts: () => RemoteParts | null, extraStatus?: () => string[]): void {
    const more = extraStatus ? extraStatus : noLines
    shell.add(
        new ShellCommand("status", "status", "the remote at a glance", (args) => {
            noArgs("status", args)
            const r = parts()
            return append(r ? remoteStatus(r) : [NOT_RUNNING], more())
        })
    )
    shell.add(
        new ShellCommand("stats", "stats [--json]", "every counter; --json: one JSON line", (args) => {
            const json = jsonFlag("stats", args)
            const r = parts()
            if (!r) return [NOT_RUNNING]
            return statsLines(remoteStats(r), json)
        })
    )
    shell.add(
        new ShellCommand("seq", "seq", "the applied seq and what waits to be applied", (args) => {
            noArgs("seq", args)
            const r = parts()
            return r ? remoteSeq(r) : [NOT_RUNNING]
        })
    )
    shell.add(
        new ShellCommand("link", "link", "the link channel of every member", (args) => {
            noArgs("link", args)
            const r = parts()
            if (!r) return [NOT_RUNNING]
            const lines: string[] = []
            for (let m = 0; m < r.channels.length; m++) lines.push("member " + m + ": " + channelLine(r.channels[m]))
            return lines
        })
    )
    shell.add(
        new ShellCommand("group", "group", "the members this remote mirrors", (args) => {
            noArgs("group", args)
            const r = parts()
            if (!r) return [NOT_RUNNING]
            return ["mirrors " + r.channels.length + " member(s): 0.." + (r.channels.length - 1) + ", " + appliedText(r.store)]
        })
    )
    shell.add(
        changing(
            new ShellCommand("promote", "promote", "make this image writable and fence the primaries (their site is lost)", (args) => {
                noArgs("promote", args)
                const r = parts()
                if (!r) return [NOT_RUNNING]
                const b = r.board
                if (b.promoted) return [b.promoteReady ? "promote: promoted already, as of seq " + b.promotedSeq : "promote: under way"]
                promote(b, (err, report) => {
                    if (err !== 0)
                        return out.writeLine(
                            "error: promote: " + promoteErrorText(err) + ": the primaries stay fenced until the remote restarts; promote again"
                        )
                    const lines = promotedLines(report as PromoteReport)
                    for (let i = 0; i < lines.length; i++) out.writeLine(lines[i])
                })
                return ["promote: fencing the primaries; the image as of seq " + r.store.appliedSeq() + " becomes writable"]
            })
        )
    )
    shell.add(
        changing(
            new ShellCommand("failback", "failback", "hand the writable role back to the primaries once their boards hold this image", (args) => {
                noArgs("failback", args)
                const r = parts()
                if (!r) return [NOT_RUNNING]
                const b = r.board
                if (!b.promoted) return ["failback: not promoted"]
                if (b.failbackAsked) return ["failback: under way, at seq " + r.store.appliedSeq() + ": " + waitingText(b)]
                const prev = b.onFailedBack
                b.onFailedBack = (seq) => {
                    b.onFailedBack = prev
                    out.writeLine("failback: done: every member's board holds the image as of seq " + seq + "; the primaries hold the writable role again")
                    if (prev) prev(seq)
                }
                failback(b, (err) => {
                    if (err !== 0) return out.writeLine("error: failback: " + promoteErrorText(err))
                    out.writeLine("failback: the image is final at seq " + r.store.appliedSeq() + "; " + waitingText(b))
                })
                return ["failback: the remote takes no more writes"]
            })
        )
    )
    shell.add(
        changing(
            new ShellCommand("write", "write <member> <lba> <text>", "write a block of a promoted image: the text, padded with zeros", (args) => {
                if (args.length < 3) throw new ShellError("write takes a member, an lba and the text")
                const r = parts()
                if (!r) return [NOT_RUNNING]
                const m = parseNumberArg("member", args[0], r.channels.length - 1)
                const lba = parseNumberArg("lba", args[1], 0xffffff)
                let text = args[2]
                for (let i = 3; i < args.length; i++) text += " " + args[i]
                const bs = r.store.blockSize()
                if (text.length > bs) throw new ShellError("the text is " + text.length + " characters, longer than a " + bs + "-byte block")
                const block = Buffer.alloc(bs)
                // (ASCII: other characters are written as "?")
                for (let i = 0; i < text.length; i++) {
                    const c = text.charCodeAt(i)
                    block[i] = c < 128 ? c : 63
                }
                const what = "member " + m + " lba " + lba
                writePromoted(r.board, m, lba, block, (err, seq) => {
                    if (err !== 0) return out.writeLine("error: write " + what + ": " + promoteErrorText(err))
                    out.writeLine("write: " + what + " applied at seq " + seq)
                })
                return []
            })
        )
    )
    shell.add(
        new ShellCommand("read", "read <member> <lba>", "read one applied block of a member", (args) => {
            if (args.length !== 2) throw new ShellError("read takes a member and an lba")
            const r = parts()
            if (!r) return [NOT_RUNNING]
            const m = parseNumberArg("member", args[0], r.channels.length - 1)
            const lba = parseNumberArg("lba", args[1], 0xffffff)
            readBlock(out, r.store, m, lba, "member " + m + " lba " + lba)
            return []
        })
    )
}

/** The promotion's lines: the image, and the failover's data loss as the remote knows it. */
export function promotedLines(p: PromoteReport): string[] {
    return [
        "promoted: the image as of seq " + p.seq + " is writable for every member's volume; the primaries are fenced",
        "failover data loss: " +
            p.writesLost +
            " write(s) in " +
            p.seqsLost +
            " seq(s) the remote heard of and had not applied" +
            (p.seqsLost > 0 ? ", the oldest heard " + seconds(p.oldestMs) + " before the promotion" : "") +
            " (writes of seqs it never heard of are not counted)",
        p.appliedAgeMs >= 0
            ? "the image's last apply was " + seconds(p.appliedAgeMs) + " before the promotion: writes acknowledged since then may be lost"
            : "no apply since the remote's boot",
    ]
}

function promoteErrorText(err: number): string {
    if (err === PromoteError.NotPromoted) return "not promoted (or failing back)"
    if (err === PromoteError.Busy) return "a promotion under way"
    return "store: " + storeErrorName(err)
}

/** The members whose boards do not hold the image yet, in a failback. */
function waitingText(b: RemoteBoard): string {
    let list = ""
    for (let m = 0; m < b.members.length; m++) if (!b.members[m].caughtUp) list += (list === "" ? "" : ", ") + m
    return list === "" ? "every member's board holds it" : "waiting for the boards of member(s) " + list + " to restore from it"
}

/** What the remote waits for; `delta`: a member suspended, so the resync under way copies
 * only what changed since the remote's image. */
function holdText(h: HoldReason, delta: boolean): string {
    if (h === HoldReason.NoManifest) return "waiting for a manifest"
    if (h === HoldReason.MissingPortions) return "waiting for portions"
    if (h === HoldReason.Applying) return "applying"
    if (h === HoldReason.Resync) return (delta ? "delta" : "full") + " resync: waiting for members' copies"
    return "idle"
}

/** The store's applied seq, or that it has applied none (a blank store: its 0 is no seq). */
export function appliedText(st: BlockStore): string {
    return st.hasApplied() ? "applied seq " + st.appliedSeq() : "applied no seq yet"
}

function remoteStatus(r: RemoteParts): string[] {
    let up = 0
    for (let m = 0; m < r.channels.length; m++) if (r.channels[m].isUp()) up++
    const b = r.board
    const held = b.suspendedMember >= 0
    const lines = [
        "remote, clock " + seconds(r.clock.millis()),
        appliedText(r.store) + ", staged portions " + b.stagedPortions() + ", " + holdText(b.lastHold, held),
    ]
    if (held)
        lines.push(
            "holding its image at seq " +
                r.store.appliedSeq() +
                ": member " +
                b.suspendedMember +
                " suspended replication (" +
                reasonText(b.suspendReason, r.suspendAfterMs) +
                ")"
        )
    if (b.promoted)
        lines.push(
            b.failbackAsked
                ? "failing back at seq " + r.store.appliedSeq() + ": " + waitingText(b)
                : (b.promoteReady ? "promoted" : "promoting") +
                      " as of seq " +
                      b.promotedSeq +
                      ": the image is writable (" +
                      b.promotedWrites +
                      " writes since), the primaries are fenced"
        )
    for (let m = 0; m < b.members.length; m++)
        if (b.members[m].restoreReady) lines.push("member " + m + " restores its image from this one, as of seq " + r.store.appliedSeq())
    lines.push("links up " + up + "/" + r.channels.length)
    return lines
}

function remoteSeq(r: RemoteParts): string[] {
    const staged = r.store.pinnedSeqs()
    let list = ""
    const show = staged.length < 8 ? staged.length : 8
    for (let i = 0; i < show; i++) list += " " + staged[i]
    if (staged.length > show) list += " ..."
    return [appliedText(r.store) + ", seqs applied since boot " + r.board.seqsApplied, "staged seqs:" + (show > 0 ? list : " none")]
}

function remoteStats(r: RemoteParts): StatList {
    const s = new StatList()
    s.add("appliedSeq", r.store.appliedSeq())
    s.add("seqsApplied", r.board.seqsApplied)
    s.add("resyncsStarted", r.board.resyncsStarted)
    s.add("resyncsApplied", r.board.resyncsApplied)
    s.add("restoresStarted", r.board.restoresStarted)
    s.add("promoted", r.board.promoted ? (r.board.failbackAsked ? 2 : 1) : 0)
    s.add("promotedSeq", r.board.promotedSeq)
    s.add("promotions", r.board.promotions)
    s.add("promotedWrites", r.board.promotedWrites)
    s.add("failbacks", r.board.failbacks)
    s.add("fencedDrops", r.board.fencedDrops)
    s.add("suspendedMember", r.board.suspendedMember)
    s.add("suspendReason", r.board.suspendReason)
    s.add("stagedPortions", r.board.stagedPortions())
    s.add("manifestsRejected", r.board.manifestsRejected)
    s.add("messagesRejected", r.board.messagesRejected)
    // damage the remote caught before an apply, and the member sessions it renewed for it
    s.add("portionsBadCrc", r.board.portionsBadCrc)
    s.add("stagedDamaged", r.board.stagedDamaged)
    s.add("stagedDamagedSuperseded", r.board.stagedDamagedSuperseded)
    s.add("resends", r.board.resends)
    s.add("stagedAlready", r.board.stagedAlready)
    s.add("seqsFoundHeld", r.board.seqsFoundHeld)
    s.add("heldMismatches", r.board.heldMismatches)
    let received = 0
    let up = 0
    for (let m = 0; m < r.channels.length; m++) {
        received += r.board.portionsReceived(m)
        if (r.channels[m].isUp()) up++
    }
    s.add("portionsReceived", received)
    s.add("linksUp", up)
    let frames = 0
    let retx = 0
    let crc = 0
    let delivered = 0
    for (let m = 0; m < r.channels.length; m++) {
        const c = r.channels[m].counters
        frames += c.framesSent
        retx += c.retransmissions
        crc += c.droppedCrc
        delivered += c.payloadBytesDelivered
    }
    s.add("framesSent", frames)
    s.add("retransmissions", retx)
    s.add("droppedCrc", crc)
    s.add("payloadBytesDelivered", delivered)
    addSealStats(s, r.channels, r.refusedElsewhere ? r.refusedElsewhere() : 0)
    addStoreStats(s, r.store)
    return s
}
