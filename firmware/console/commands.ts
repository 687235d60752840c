import { Clock } from "../../hal/clock"
import { Console } from "../../hal/console"
import { PrimaryChannel } from "../link/primary"
import { PrimaryBoard, Resync } from "../pipeline/primary"
import { repairBoard, Verifier, verifyBoard } from "../pipeline/verify"
import { ShuttleAgent } from "../shuttle/agent"
import { BlockStore } from "../store/blockStore"
import { changing, parseNumberArg, Shell, ShellCommand, ShellError } from "./shell"
import {
    addrText,
    addSealStats,
    addStoreStats,
    append,
    channelLine,
    jsonFlag,
    noArgs,
    noLines,
    NOT_RUNNING,
    percent,
    readBlock,
    reasonText,
    seconds,
    StatList,
    statsLines,
} from "./commandText"

export { addRemoteCommands } from "./remoteCommands"
export type { RemoteParts } from "./remoteCommands"
export { NOT_RUNNING, reasonText } from "./commandText"

/**
 * The board commands of the serial console: what an operator asks a primary board or the
 * remote board. The same code runs on a board and in the simulator; the simulator adds its
 * fault commands next to these (host-sim/console/hub.ts).
 *
 * Output is short and stable: a few lines of `word value` text, so a person reads it and a
 * script can match it; `stats --json` prints one JSON line for scripts. A board whose firmware
 * is not running (booting, or powered off in the simulator) answers one line saying so.
 *
 * The remote's commands are in firmware/console/remoteCommands.ts; what both print and how
 * they read their arguments in firmware/console/commandText.ts.
 */

/** What the console reads of a running primary board. */
export interface PrimaryParts {
    member: number
    /** The board's group bus address. */
    address: number
    clock: Clock
    board: PrimaryBoard
    store: BlockStore
    channel: PrimaryChannel
    /** The shuttle agent, or null for a group of one (its cycle needs no shuttle). */
    agent: ShuttleAgent | null
}

/**
 * Registers help-level board commands of a primary on `shell`: status, stats [--json], seq,
 * ring, link, shuttle, group, read <lba>, evict <address>, admit <address>. `parts()` gives the running board's
 * parts, or null while it is not running. `extraStatus()`, when given, adds lines to `status`
 * (the simulator tells of the faults it holds).
 */
export function addPrimaryCommands(shell: Shell, out: Console, parts: () => PrimaryParts | null, extraStatus?: () => string[]): void {
    const more = extraStatus ? extraStatus : noLines
    shell.add(
        new ShellCommand("status", "status", "the board at a glance", (args) => {
            noArgs("status", args)
            const p = parts()
            return append(p ? primaryStatus(p) : [NOT_RUNNING], more())
        })
    )
    shell.add(
        new ShellCommand("stats", "stats [--json]", "every counter; --json: one JSON line", (args) => {
            const json = jsonFlag("stats", args)
            const p = parts()
            if (!p) return [NOT_RUNNING]
            return statsLines(primaryStats(p), json)
        })
    )
    shell.add(
        new ShellCommand("seq", "seq", "capture, released and unconfirmed seqs", (args) => {
            noArgs("seq", args)
            const p = parts()
            return p ? primarySeq(p) : [NOT_RUNNING]
        })
    )
    shell.add(
        new ShellCommand("ring", "ring", "the aux ring: fill, seqs waiting, folding, spill", (args) => {
            noArgs("ring", args)
            const p = parts()
            return p ? primaryRing(p) : [NOT_RUNNING]
        })
    )
    shell.add(
        new ShellCommand("link", "link", "the link channel to the remote", (args) => {
            noArgs("link", args)
            const p = parts()
            return p ? primaryLink(p) : [NOT_RUNNING]
        })
    )
    shell.add(
        new ShellCommand("shuttle", "shuttle", "the shuttle as this board last saw it", (args) => {
            noArgs("shuttle", args)
            const p = parts()
            return p ? primaryShuttle(p) : [NOT_RUNNING]
        })
    )
    shell.add(
        new ShellCommand("group", "group", "the members of the consistency group", (args) => {
            noArgs("group", args)
            const p = parts()
            return p ? primaryGroup(p) : [NOT_RUNNING]
        })
    )
    shell.add(
        new ShellCommand("read", "read <lba>", "read one block of this board's store", (args) => {
            if (args.length !== 1) throw new ShellError("read takes one lba")
            const p = parts()
            if (!p) return [NOT_RUNNING]
            const lba = parseNumberArg("lba", args[0], p.board.opts.lbaCount - 1)
            readBlock(out, p.store, p.member, lba, "lba " + lba)
            return []
        })
    )
    shell.add(
        changing(
            new ShellCommand("damage", "damage [accept]", "a damaged block that holds replication; accept: give it up and resync", (args) => {
                if (args.length > 1 || (args.length === 1 && args[0] !== "accept")) throw new ShellError("damage takes no argument, or accept")
                const p = parts()
                if (!p) return [NOT_RUNNING]
                const b = p.board
                if (b.damagedLba < 0) return ["no damaged block" + (b.damagedReads > 0 ? " (" + b.damagedReads + " found before)" : "")]
                const what = "lba " + b.damagedLba + (b.damagedSeq !== 0 ? ", seq " + b.damagedSeq + " waits for it" : ", the resync's copy waits for it")
                if (args.length === 0)
                    return [
                        "damaged: " + what,
                        "write the lba again (the resync copies the new data), or `damage accept`: the remote keeps its older copy of it",
                    ]
                const lba = b.damagedLba
                b.acceptDamage()
                return ["lba " + lba + " given up: replication suspends and resyncs the rest; the remote keeps its older copy of it"]
            }),
            (args) => args.length > 0
        )
    )
    shell.add(
        new ShellCommand("verify", "verify", "compare this board's image with the remote's (in the background; again: its progress)", (args) => {
            noArgs("verify", args)
            const p = parts()
            if (!p) return [NOT_RUNNING]
            const v = p.board.verifier
            if (!v) return [NO_VERIFY]
            if (verifyBoard(p.board)) return ["verify started: " + p.board.opts.lbaCount + " lbas, compared with the remote's applied image"]
            return [verifyLine(v)]
        })
    )
    shell.add(
        changing(
            new ShellCommand("repair", "repair", "resync the blocks the last verify found different", (args) => {
                noArgs("repair", args)
                const p = parts()
                if (!p) return [NOT_RUNNING]
                const v = p.board.verifier
                if (!v) return [NO_VERIFY]
                if (v.running) return ["verify is still running: " + verifyLine(v)]
                if (!repairBoard(p.board)) return ["nothing to repair: " + verifyLine(v)]
                return ["repairing " + v.mismatched + " block(s): replication suspends and resyncs them with the writes since, in one commit on the remote"]
            })
        )
    )
    shell.add(
        changing(membershipCommand("evict", "remove a member from the group (until admitted again)", parts, (agent, addr) => agent.evict(addr), "evicting", ""))
    )
    shell.add(
        changing(
            membershipCommand(
                "admit",
                "take an evicted member back into the group; it copies its whole image to the remote",
                parts,
                (agent, addr) => agent.admit(addr),
                "admitting",
                "; the group then resyncs with its whole image"
            )
        )
    )
}

const NO_VERIFY = "this board has no online verify (a board image has it when group.verifyEveryMs is set)"

/** A verify pass's figures, as `verify` prints them. */
function verifyLine(v: Verifier): string {
    const what = v.checked + " compared, " + v.mismatched + " different, " + v.skipped + " not compared (in flight or written since)"
    return (v.running ? "verify running: " : v.passes > 0 ? "last verify: " : "no verify yet: ") + what
}

/** `evict <address>` or `admit <address>`: the operator's change of the group, carried out by
 * the agent at this board's next shuttle visit. */
function membershipCommand(
    name: string,
    help: string,
    parts: () => PrimaryParts | null,
    act: (agent: ShuttleAgent, address: number) => string | null,
    doing: string,
    then: string
): ShellCommand {
    return new ShellCommand(name, name + " <address>", help, (args) => {
        if (args.length !== 1) throw new ShellError(name + " takes one member address, e.g. 0x12")
        const p = parts()
        if (!p) return [NOT_RUNNING]
        if (!p.agent) throw new ShellError("this board runs alone: there is no group to " + name + (name === "evict" ? " from" : " to"))
        const addr = parseNumberArg("address", args[0], 0x7f)
        const why = act(p.agent, addr)
        if (why !== null) throw new ShellError("cannot " + name + " " + addrText(addr) + ": " + why)
        return [doing + " " + addrText(addr) + ": takes effect at this board's next shuttle visit" + then]
    })
}

function primaryStatus(p: PrimaryParts): string[] {
    const b = p.board
    const lines: string[] = []
    lines.push("primary " + p.member + " addr " + addrText(p.address) + ", clock " + seconds(p.clock.millis()))
    lines.push("seq capture " + b.captureSeq() + " released " + b.releasedSeq() + (b.isAdopted() ? "" : " (not adopted yet)"))
    lines.push(
        "ring " +
            b.ring.count +
            "/" +
            b.ring.slots +
            " (" +
            percent(b.ring.count, b.ring.slots) +
            "), closed seqs waiting " +
            b.closedWaiting() +
            ", writes waiting " +
            b.writesWaiting()
    )
    lines.push("link " + p.channel.state() + ", " + p.channel.unacknowledged() + " unacknowledged")
    if (b.suspended)
        lines.push(
            "replication suspended since seq " +
                b.suspendedSeq +
                " (" +
                reasonText(b.suspendReason, b.opts.suspendAfterMs ? b.opts.suspendAfterMs : 0) +
                "), " +
                b.ackedDuringSuspension +
                " writes acknowledged while suspended"
        )
    if (b.damagedLba >= 0) lines.push("ALARM: lba " + b.damagedLba + " is damaged on flash; replication waits for the operator (`damage`)")
    if (b.resync === Resync.Copying) lines.push("full resync: copying block " + b.resyncLba + " of " + b.opts.lbaCount + ", " + b.resyncCopied + " copied")
    else if (b.resync === Resync.Done) lines.push("full resync: " + b.resyncCopied + " blocks copied, waiting for the remote to apply them")
    if (p.agent)
        lines.push("shuttle epoch " + p.agent.epochOf() + ", " + p.agent.members().length + " members" + (p.agent.isEvicted() ? ", this board is evicted" : ""))
    else lines.push("shuttle none (group of one)")
    return lines
}

function primarySeq(p: PrimaryParts): string[] {
    const b = p.board
    const closed = b.closedSeqs()
    let list = ""
    const show = closed.length < 8 ? closed.length : 8
    for (let i = 0; i < show; i++) list += " " + closed[i].seq + "(" + closed[i].portions + ")"
    if (closed.length > show) list += " ..."
    return [
        "capture " + b.captureSeq() + ", released " + b.releasedSeq() + ", confirmed by the remote " + p.store.confirmedSeq(),
        "closed, not confirmed: " + closed.length + (closed.length > 0 ? ":" + list : ""),
    ]
}

function primaryRing(p: PrimaryParts): string[] {
    const ring = p.board.ring
    let seqs = ""
    let n = 0
    let cur = -1
    let count = 0
    for (let i = 0; i < ring.count; i++) {
        const s = ring.seqAt(i)
        if (s !== cur) {
            if (count > 0) seqs += " " + cur + "x" + count
            if (count > 0) n++
            cur = s
            count = 0
        }
        count++
    }
    if (count > 0) {
        seqs += " " + cur + "x" + count
        n++
    }
    return [
        "ring " + ring.count + "/" + ring.slots + " portions (" + percent(ring.count, ring.slots) + "), block " + ring.blockSize + " B",
        "waiting by seq:" + (n > 0 ? seqs : " none"),
        "folded " + ring.folded + ", seqs spilled " + p.board.seqsSpilled + ", portions sent from flash " + p.board.portionsFromFlash,
    ]
}

function primaryLink(p: PrimaryParts): string[] {
    const ch = p.channel
    return [channelLine(ch), "generation " + ch.generation + ", reconnect attempts " + ch.reconnectAttempts() + ", rto " + Math.round(ch.rto()) + " ms"]
}

function primaryShuttle(p: PrimaryParts): string[] {
    const a = p.agent
    if (!a) return ["no shuttle: a group of one closes its seqs by itself"]
    const f = a.lastShuttle()
    const c = a.counters
    const lap = a.lastLapMs >= 0 ? Math.round(a.lastLapMs * 10) / 10 + " ms" : "not measured"
    return [
        "epoch " + a.epochOf() + ", S " + f.seq + ", released " + a.releasedSeq() + (a.isRunning() ? "" : " (stopped)"),
        "last lap " + lap + ", estimate " + Math.round(a.lapEstimateMs() * 10) / 10 + " ms",
        "visits " + c.visits + ", laps " + c.laps + ", increments " + c.increments + ", regenerations " + c.regenerations + ", bad frames " + c.badFrames,
    ]
}

function primaryGroup(p: PrimaryParts): string[] {
    const a = p.agent
    if (!a) return ["group of one: " + addrText(p.address) + " (this board)"]
    const ms = a.members()
    const f = a.lastShuttle()
    let list = ""
    for (let i = 0; i < ms.length; i++) {
        list += " " + addrText(ms[i])
        if (ms[i] === p.address) list += "(this)"
        const k = f.indexOf(ms[i])
        if (k >= 0 && (f.absent & (1 << k)) !== 0) list += "(absent)"
    }
    return ["group of " + ms.length + ":" + list + (a.isEvicted() ? "; this board is evicted" : "")]
}

function primaryStats(p: PrimaryParts): StatList {
    const s = new StatList()
    const b = p.board
    s.add("member", p.member)
    s.add("captureSeq", b.captureSeq())
    s.add("releasedSeq", b.releasedSeq())
    s.add("confirmedSeq", p.store.confirmedSeq())
    s.add("closedSeqs", b.closedSeqs().length)
    s.add("writesIssued", b.writesIssued)
    s.add("writesAcked", b.writesAcked)
    s.add("writesFailed", b.writesFailed)
    s.flag("suspended", b.suspended)
    s.add("suspendReason", b.suspendReason)
    s.add("suspendedSeq", b.suspendedSeq)
    s.add("suspensions", b.suspensions)
    s.add("ackedDuringSuspension", b.ackedDuringSuspension)
    s.add("writesWaiting", b.writesWaiting())
    s.add("ringUsed", b.ring.count)
    s.add("ringSlots", b.ring.slots)
    s.add("ringFolded", b.ring.folded)
    s.add("seqsSpilled", b.seqsSpilled)
    s.add("portionsSent", b.portionsSent)
    s.add("bytesSent", b.bytesSent)
    s.add("portionsFromFlash", b.portionsFromFlash)
    s.add("seqsHeld", b.seqsHeld)
    s.add("heldDiffered", b.heldDiffered)
    s.add("resyncsStarted", b.resyncsStarted)
    s.add("resyncCopied", b.resyncCopied)
    s.add("resyncUnreadable", b.resyncUnreadable)
    s.add("damagedLba", b.damagedLba)
    s.add("damagedSeq", b.damagedSeq)
    s.add("damagedReads", b.damagedReads)
    const v = b.verifier
    if (v) {
        s.flag("verifyRunning", v.running)
        s.add("verifyPasses", v.passes)
        s.add("verifyChecked", v.checked)
        s.add("verifyMismatched", v.mismatched)
        s.add("verifySkipped", v.skipped)
    }
    addChannelStats(s, p.channel)
    addStoreStats(s, p.store)
    const a = p.agent
    if (a) {
        s.add("shuttleEpoch", a.epochOf())
        s.add("shuttleMembers", a.members().length)
        s.add("shuttleVisits", a.counters.visits)
        s.add("shuttleLaps", a.counters.laps)
        s.add("shuttleIncrements", a.counters.increments)
        s.add("shuttleRegenerations", a.counters.regenerations)
        s.add("shuttleBadFrames", a.counters.badFrames)
        s.add("lastLapMs", a.lastLapMs)
    }
    return s
}

function addChannelStats(s: StatList, ch: PrimaryChannel): void {
    const c = ch.counters
    s.add("linkUp", ch.isUp() ? 1 : 0)
    s.add("linkSession", ch.session())
    s.add("framesSent", c.framesSent)
    s.add("framesReceived", c.framesReceived)
    s.add("retransmissions", c.retransmissions)
    s.add("droppedCrc", c.droppedCrc)
    s.add("droppedMalformed", c.droppedMalformed)
    s.add("linkDeaths", c.linkDeaths)
    s.add("payloadBytesSent", c.payloadBytesSent)
    s.add("messagesAcked", c.messagesAcked)
    addSealStats(s, [ch], 0)
}
