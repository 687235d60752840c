import { Clock } from "../../hal/clock"
import { Console } from "../../hal/console"
import { hex32 } from "../codec/bytes"
import { crc32c } from "../codec/crc32c"
import { PrimaryChannel } from "../link/primary"
import { RemoteChannel } from "../link/remote"
import { PrimaryBoard, Resync, SuspendReason } from "../pipeline/primary"
import { repairBoard, Verifier, verifyBoard } from "../pipeline/verify"
import { HoldReason, RemoteBoard } from "../remote/remoteBoard"
import { ShuttleAgent } from "../shuttle/agent"
import { BlockStore } from "../store/blockStore"
import { storeErrorName } from "../store/types"
import { changing, parseNumberArg, Shell, ShellCommand, ShellError } from "./shell"

/**
 * The board commands of the serial console: what an operator asks a primary board or the
 * remote board. The same code runs on a board and in the simulator; the simulator adds its
 * fault commands next to these (host-sim/console/hub.ts).
 *
 * Output is short and stable: a few lines of `word value` text, so a person reads it and a
 * script can match it; `stats --json` prints one JSON line for scripts. A board whose firmware
 * is not running (booting, or powered off in the simulator) answers one line saying so.
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

/** Answer of every board command while the firmware is not running. */
export const NOT_RUNNING = "board not running (booting or powered off)"

/** Longest block read prints in hex. */
const READ_HEX_BYTES = 16

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

/** Registers the remote's commands: status, stats [--json], seq, link, group, read <member> <lba>. */
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
            return ["mirrors " + r.channels.length + " member(s): 0.." + (r.channels.length - 1) + ", applied seq " + r.store.appliedSeq()]
        })
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

// ---- primary

function primaryStatus(p: PrimaryParts): string[] {
    const b = p.board
    const lines: string[] = []
    lines.push("primary " + p.member + " addr " + addrText(p.address) + ", clock " + seconds(p.clock.millis()))
    lines.push("seq capture " + b.captureSeq() + " released " + b.releasedSeq() + (b.isAdopted() ? "" : " (not adopted yet)"))
    lines.push(
        "ring " +
            b.ring.used() +
            "/" +
            b.ring.slots +
            " (" +
            percent(b.ring.used(), b.ring.slots) +
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
    for (let i = 0; i < ring.used(); i++) {
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
        "ring " + ring.used() + "/" + ring.slots + " portions (" + percent(ring.used(), ring.slots) + "), block " + ring.blockSize + " B",
        "waiting by seq:" + (n > 0 ? seqs : " none"),
        "folded " + ring.folded + ", seqs spilled " + p.board.seqsSpilled + ", portions sent from flash " + p.board.portionsFromFlash,
    ]
}

function primaryLink(p: PrimaryParts): string[] {
    const ch = p.channel
    return [channelLine(ch), "generation " + ch.generation + ", reconnect attempts " + ch.reconnectAttempts() + ", rto " + Math.round(ch.rto()) + " ms"]
}

function channelLine(ch: PrimaryChannel | RemoteChannel): string {
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
    s.add("ringUsed", b.ring.used())
    s.add("ringSlots", b.ring.slots)
    s.add("ringFolded", b.ring.folded)
    s.add("seqsSpilled", b.seqsSpilled)
    s.add("portionsSent", b.portionsSent)
    s.add("bytesSent", b.bytesSent)
    s.add("portionsFromFlash", b.portionsFromFlash)
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

// ---- remote

/** What the remote waits for; `delta`: a member suspended, so the resync under way copies
 * only what changed since the remote's image. */
function holdText(h: HoldReason, delta: boolean): string {
    if (h === HoldReason.NoManifest) return "waiting for a manifest"
    if (h === HoldReason.MissingPortions) return "waiting for portions"
    if (h === HoldReason.Applying) return "applying"
    if (h === HoldReason.Resync) return (delta ? "delta" : "full") + " resync: waiting for members' copies"
    return "idle"
}

function remoteStatus(r: RemoteParts): string[] {
    let up = 0
    for (let m = 0; m < r.channels.length; m++) if (r.channels[m].isUp()) up++
    const b = r.board
    const held = b.suspendedMember >= 0
    const lines = [
        "remote, clock " + seconds(r.clock.millis()),
        "applied seq " + r.store.appliedSeq() + ", staged portions " + b.stagedPortions() + ", " + holdText(b.lastHold, held),
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
    lines.push("links up " + up + "/" + r.channels.length)
    return lines
}

function remoteSeq(r: RemoteParts): string[] {
    const staged = r.store.pinnedSeqs()
    let list = ""
    const show = staged.length < 8 ? staged.length : 8
    for (let i = 0; i < show; i++) list += " " + staged[i]
    if (staged.length > show) list += " ..."
    return ["applied " + r.store.appliedSeq() + ", seqs applied since boot " + r.board.seqsApplied, "staged seqs:" + (show > 0 ? list : " none")]
}

function remoteStats(r: RemoteParts): StatList {
    const s = new StatList()
    s.add("appliedSeq", r.store.appliedSeq())
    s.add("seqsApplied", r.board.seqsApplied)
    s.add("resyncsStarted", r.board.resyncsStarted)
    s.add("resyncsApplied", r.board.resyncsApplied)
    s.add("suspendedMember", r.board.suspendedMember)
    s.add("suspendReason", r.board.suspendReason)
    s.add("stagedPortions", r.board.stagedPortions())
    s.add("manifestsRejected", r.board.manifestsRejected)
    s.add("messagesRejected", r.board.messagesRejected)
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

// ---- shared

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

/** Named counters (and yes/no flags) in a fixed order: printed as text or as one JSON object. */
class StatList {
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

/** The sealed link's drops (docs/FORMAT-link.md §11): frames that did not authenticate, replays,
 * HELLOs refused (`more`: those refused before they reached a channel). */
function addSealStats(s: StatList, chs: (PrimaryChannel | RemoteChannel)[], more: number): void {
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

function addStoreStats(s: StatList, st: BlockStore): void {
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

function statsLines(s: StatList, json: boolean): string[] {
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

function readBlock(out: Console, store: BlockStore, member: number, lba: number, what: string): void {
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

function noArgs(name: string, args: string[]): void {
    if (args.length > 0) throw new ShellError(name + ' takes no argument, not "' + args[0] + '"')
}

function jsonFlag(name: string, args: string[]): boolean {
    if (args.length === 0) return false
    if (args.length === 1 && args[0] === "--json") return true
    throw new ShellError(name + ' takes only --json, not "' + args[0] + '"')
}

/** a followed by b (DeviceScript arrays have no concat). */
function append(a: string[], b: string[]): string[] {
    for (let i = 0; i < b.length; i++) a.push(b[i])
    return a
}

function noLines(): string[] {
    return []
}

function addrText(a: number): string {
    return "0x" + hex32(a).slice(6)
}

function seconds(ms: number): string {
    return Math.round(ms / 100) / 10 + " s"
}

function percent(n: number, of: number): string {
    return (of > 0 ? Math.round((n * 100) / of) : 0) + "%"
}
