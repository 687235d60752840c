import { Clock, Timer } from "../../hal/clock"
import { getU32 } from "../codec/bytes"
import { seqAfter, seqNext } from "../seq"
import { AuxRing } from "./auxRing"
import { LbaTable } from "./lbaTable"
import { Hold, Need } from "../shuttle/host"
import { Manifest, Msg, PORTION_HEADER } from "../protocol/messages"
import { PinnedPortion, PipelineChannel, PipelineStore } from "../protocol/ports"
import { SeqTotals } from "../protocol/seqTotals"
import { Verifier } from "./verify"
import type { RpoPacing } from "./rpoPacing"
import { HISTORY_SEQS, historyRoom, historySlack, PrimaryOptions, Resync, SeqFlag, SuspendReason, WRITES_WAITING, WriteError } from "./primaryTypes"
import { ackNow, ackWaiting, atBound, checkHistory, flushUnstamped, PendingWrite, remoteConfirmed, stamp, suspendTime } from "./primaryAck"
import { pumpBoard, takeHeld } from "./primaryPump"
import { addSeq, announceResync, keepManifest, newSession, recoverSeq, resyncStep, startResync, track } from "./primaryResync"

export {
    AckMode,
    Congestion,
    HISTORY_SEQS,
    historyLimit,
    historyRoom,
    historySlack,
    Resync,
    SeqFlag,
    SuspendReason,
    WRITES_WAITING,
    WriteError,
} from "./primaryTypes"
export type { PrimaryOptions } from "./primaryTypes"

/** The newer of `top` (negative: none) and `seq` (0: none). */
function newerKnown(top: number, seq: number): number {
    if (seq === 0) return top
    if (top >= 0) if (!seqAfter(seq, top)) return top
    return seq
}

/**
 * A primary board's replication pipeline: capture (stamp each write with the capture seq and
 * make it durable), acknowledgement (only once the seq is released, in mode consistent), the aux
 * ring with write folding and the spill path, and transmission of closed seqs over the channel
 * in seq order.
 *
 * The cycle is driven from outside through captureSeq/hasDataToSend/mayClose/adopt/release/
 * manifestFinal: by the shuttle agent in a group, or by SoloCycle for a single board.
 *
 * The class holds the board's state and what other modules call; the pipeline's steps are
 * functions in files of their own that take the board: a write's way to its acknowledgement
 * (firmware/pipeline/primaryAck.ts), transmission and the flash read-back
 * (firmware/pipeline/primaryPump.ts), and the full resync, a new session, tracking and the
 * recovery's seqs (firmware/pipeline/primaryResync.ts); its options and states are in
 * firmware/pipeline/primaryTypes.ts. A function called with the board costs no method-table
 * entry in the board image. Members whose comment begins "Internal" are for those files and
 * GroupPrimaryBoard only.
 * @devsWhenUsed
 */
export class PrimaryBoard {
    readonly ring: AuxRing
    /*
     * What the board holds grows with nothing but its configuration (docs/DESIGN.md, "Fixed
     * memory"); the bounded-memory test reads these lengths:
     * - seqs and manifestsKept: maxHistorySeqs, and its slack more while acknowledgements hold
     *   (historySlack; then the board suspends and drops them), in room allocated at start
     *   (historyRoom);
     * - unstamped, unacked and paced: maxWritesWaiting app writes between them, and one copy
     *   of a resync;
     * - manifests: maxHistorySeqs; pendingCtrl: one RESYNC and one membership message per member.
     */
    /**
     * What the board knows of each of its seqs, from capture until the remote confirms it: seq
     * records, oldest first, the newest the capture seq's. `seqs` records are held in lists of
     * historyRoom entries each, allocated at start (they keep their length): the seq, its
     * distinct lbas (portions; its bytes are a block each), its state (SeqFlag) and when its
     * first write was stamped (-1: none yet; after a boot: the boot). Internal: the lists.
     */
    seqs = 0
    seqOf: number[] = []
    portionsOf: number[] = []
    stateOf: number[] = []
    firstWriteOf: number[] = []
    /** Internal: the history bound, seq records and kept manifests (maxHistorySeqs), and how
     * many of them a hold may reach before the board suspends (historySlack past the bound). */
    historySeqs: number
    holdRoom: number
    /** Internal: a seq was adopted since the start (isAdopted). */
    adopted!: boolean
    /** Internal: the group released the capture seq since the board started: new writes are
     * stamped (until then they wait unstamped). */
    stamping!: boolean
    /** Internal: the group released a seq, and the newest it released (releasedSeq). */
    hasReleased!: boolean
    released!: number
    /** Internal: the lbas written with the capture seq. */
    lbasInSeq: LbaTable
    unstamped: PendingWrite[] = []
    unacked: PendingWrite[] = []
    /** Manifests waiting to go out, and every manifest the remote has not applied yet (a new
     * session, after the remote rebooted, gets them again: the remote keeps them in RAM), in
     * their wire encoding (MANIFEST); a manifest in both lists is one Buffer. */
    manifests: Buffer[] = []
    manifestsKept: Buffer[] = []
    /** Internal: what went to the link of the seq being sent; the versions to send of it when it
     * goes from flash (the spill path) and the next one. A read from flash counts only while its
     * list is still this one (a new session sends the seq again from its start). */
    sentPortions!: number
    sentBytes!: number
    fromFlash!: PinnedPortion[] | null
    fromFlashNext!: number
    /** Internal: per seq record, what the remote's HELD says it holds staged of the seq (count
     * of versions, -1: nothing said, and their digest); the seq being sent from flash is only
     * compared with it (its digest so far in heldSum), not sent. */
    heldCount: number[] = []
    heldDigest: number[] = []
    checking = false
    heldSum = 0
    /** Internal: a new session's HELD has not come yet (no seq is sent again before it). */
    heldWait = false
    heldTmp: Buffer
    /** Internal: the portion being sent: from the aux ring it goes at once, from flash it waits
     * as the pending message (nothing else writes the buffer before it is sent; the channel
     * copies what it takes); a read from flash is under way. */
    portionBuf: Buffer
    pendingMsg!: Buffer | null
    reading!: boolean
    /** Internal: the newest seq the remote said it applied (remoteAppliedSeq). */
    remoteApplied = 0
    paced: PendingWrite[] = []
    /** The newest EVICTED or ADMITTED of each member, told again at every new session. */
    membership: Buffer[] = []
    /** Control messages (EVICTED, ADMITTED, RESYNC) still to send in this session. */
    pendingCtrl: Buffer[] = []
    /** The full resync's state (for the console too). */
    resync = Resync.Off
    /** The lba being copied (the next one once its read is done), whether its read is under
     * way, and whether the app wrote it during the read (it is then read again). */
    resyncLba = 0
    resyncBusy!: boolean
    resyncHit!: boolean
    /** Internal: the remote's applied seq when the resync began, and the newest seq of a
     * version the remote gets from this board (a copy or a version after the confirmed seq). */
    resyncApplied!: number
    resyncTo = 0
    /** Internal: the newest seq whose blocks the copy takes (the confirmed seq, or later:
     * extendCopy). */
    resyncBase!: number
    /** Internal: the next resync copies every block this board holds, not only those after the
     * remote's applied seq (a board admitted again: the remote's image of it is from before). */
    copyAll!: boolean
    /** Blocks copied by the full resync under way. */
    resyncCopied = 0
    resyncsStarted = 0
    /** Blocks a full resync left out: damaged, their loss accepted (acceptDamage). */
    resyncUnreadable = 0
    /**
     * A durable version that reads back damaged (its CRC still fails after READ_TRIES reads)
     * is never left out of its seq: the lba, and the seq that waits for it (0: a resync's copy
     * waits), until the operator decides (acceptDamage, or a new write of the lba); -1: none.
     * The remote stays at its last consistent image meanwhile.
     */
    damagedLba = -1
    damagedSeq = 0
    /** Times a version was found damaged. */
    damagedReads = 0
    /** Blocks given up (acceptDamage): a bit per lba; a resync leaves such a block out until
     * the app writes the lba again. */
    readonly lost: Buffer
    /** Online verify against the remote's image (`verify`, `repair`): absent unless the boot
     * attached one (attachVerifier). */
    verifier?: Verifier
    /** Told when the operator accepts a loss (the simulator's checker excuses that block). */
    onLossAccepted?: (lba: number) => void
    /** Internal: reads of the version being read that failed their CRC so far. */
    readTries = 0
    /** Internal: the damaged version's seq: a newer version of its lba (a new write) ends the
     * wait. */
    damagedAt!: number
    /** Bounded-RPO pacing: absent unless the options set a target (attachPacing). */
    rpo?: RpoPacing
    /** Internal: the timer that lets paced acknowledgements go. */
    paceTimer!: Timer | null
    private lastAdoptAt = -1
    /** Replication is suspended: writes are acknowledged once durable, their seqs are tracked
     * (confirmed locally, so the store keeps only the newest version of each block and its seq
     * says the block is dirty), nothing more goes to the remote until a resync. */
    suspended = false
    suspendReason = SuspendReason.None
    /** The capture seq when replication last suspended. */
    suspendedSeq = 0
    private suspendedAt!: number
    /** Internal: resumed, the resync starts at the first adopt of a seq after the tracked ones. */
    resumePending!: boolean
    /** Internal: the remote asked for this board's copy (every member's link was up), and has
     * not said since that its resync waits for a member whose link is down. */
    resyncAsked!: boolean
    /** Internal: when the remote last said that its resync waits for a member whose link is
     * down (RESYNC_WAIT after it had asked). */
    resyncWaitAt = 0
    /** Internal: when its last resync ended, the remote having applied its copy (-1: none). */
    resyncEndedAt = -1
    private linkUpAt!: number

    // counters
    writesIssued = 0
    writesAcked = 0
    writesFailed = 0
    /** Writes refused because the board held its bound of writes not yet answered. */
    writesBusy = 0
    /** Internal: a bit per lba: a write of it is in the store's hands; later ones wait in
     * storeWait. */
    storing: Buffer
    storeWait: PendingWrite[] = []
    /** Internal: app writes taken and not yet answered (in the store's hands, or waiting in a
     * list). */
    writesHeld = 0
    suspensions = 0
    /** Writes acknowledged before their release, while replication was suspended. */
    ackedDuringSuspension = 0
    portionsSent = 0
    bytesSent = 0
    portionsFromFlash = 0
    seqsSpilled = 0
    /** Seqs a new session did not send again, since the remote held them (HELD), and seqs the
     * remote named whose versions here were others (sent whole). */
    seqsHeld = 0
    heldDiffered = 0
    /** Called at every acknowledgement (the simulator measures latency and RPO with it). */
    onAck?: (lba: number, seq: number, issuedAt: number) => void

    constructor(
        readonly opts: PrimaryOptions,
        readonly clock: Clock,
        readonly store: PipelineStore,
        readonly channel: PipelineChannel
    ) {
        this.ring = new AuxRing(opts.auxRingBytes, opts.blockSize)
        this.heldTmp = Buffer.alloc(8)
        this.lbasInSeq = new LbaTable(opts.maxLbasPerSeq)
        this.lost = Buffer.alloc((opts.lbaCount + 7) >> 3)
        this.storing = Buffer.alloc((opts.lbaCount + 7) >> 3)
        this.portionBuf = Buffer.alloc(PORTION_HEADER + opts.blockSize)
        let bound = HISTORY_SEQS
        if (opts.maxHistorySeqs) bound = opts.maxHistorySeqs
        this.historySeqs = bound
        let members = opts.groupMembers
        if (!members) members = 1
        this.holdRoom = bound + historySlack(bound, members)
        const room = historyRoom(bound, members)
        for (let i = 0; i < room; i++) {
            this.seqOf.push(0)
            this.portionsOf.push(0)
            this.stateOf.push(0)
            this.firstWriteOf.push(-1)
            this.heldCount.push(-1)
            this.heldDigest.push(0)
        }
        addSeq(this, 1)
        const self = this
        channel.onWritable(() => pumpBoard(self))
        // a message from the remote: APPLIED, its resync's requests, a verify's answer
        channel.onMessage((msg, len) => {
            const b = self
            const type = msg[0]
            if (len === 1) {
                if (type === Msg.ResyncRequest) {
                    b.resyncAsked = true
                    startResync(b)
                } else if (type === Msg.ResyncWait) {
                    if (b.resyncAsked) b.resyncWaitAt = b.clock.millis()
                    b.resyncAsked = false
                }
            } else if (type === Msg.Applied) {
                if (len === 5) remoteConfirmed(b, getU32(msg, 1))
            } else if (type === Msg.Held) takeHeld(b, msg, len)
            else if (type === Msg.Verified) if (b.verifier) b.verifier.onVerified(msg, len, b)
        })
        channel.onSessionUp((resumed, resume) => {
            if (!resumed) newSession(self, resume)
            pumpBoard(self)
        })
        this.linkUpAt = clock.millis()
    }

    /**
     * Restores what the board's flash holds after a boot: every pinned seq of this member is
     * not yet confirmed by the remote and will be sent again from flash (recoverSeq). New
     * writes wait until the cycle adopts a seq.
     */
    recover(maxSeqSeen: number, confirmed: number, highestAdopted: number): void {
        const seqs = this.store.pinnedSeqs(this.opts.member)
        // the newest seq the board knows of: `highestAdopted` is negative when it kept none, and
        // the store says 0 for none (past 2^31 a seq lies before 0: 0 must not count)
        // (a board that suspended confirmed its tracked seqs itself: never stamp one again)
        let top = newerKnown(newerKnown(highestAdopted, maxSeqSeen), confirmed)
        if (top < 0) top = 0
        this.seqs = 0
        // every seq after the confirmed one up to the newest this board adopted goes to the
        // remote again, marked short: what survived on flash, or nothing where all was lost (it
        // was never acknowledged), so the remote never waits for portions that cannot come
        let s = seqNext(confirmed)
        if (seqAfter(top, (confirmed + MAX_RECOVERED) >>> 0)) s = (top - MAX_RECOVERED) >>> 0
        let k = 0
        for (; k < seqs.length; k++) {
            if (!seqAfter(s, seqs[k])) break
            recoverSeq(this, seqs[k])
        }
        for (; !seqAfter(s, top); s = seqNext(s)) {
            // (a seq with no version pinned gets 0 portions)
            recoverSeq(this, s)
            if (k < seqs.length) if (seqs[k] === s) k++
        }
        for (; k < seqs.length; k++) recoverSeq(this, seqs[k])
        // new writes never get a seq used before the power cut, and none at all until the
        // group has released the seq this board adopts: while it was off, the group may have
        // released seqs after its own (see release)
        // the board may have stamped writes with this seq too before the cut (its adoption was
        // not saved yet) and reported their totals: they never became durable
        const i = addSeq(this, seqNext(top))
        this.stateOf[i] = SeqFlag.Short
        this.adopted = false
        this.stamping = false
        if (this.recovered) this.recovered()
    }

    // ---- the app's side

    /** Writes one block. `done(0, seq)` is the acknowledgement; `done(code, seq)` a failure. */
    write(lba: number, data: Buffer, done: (err: number, seq: number) => void): void {
        let bad = lba < 0
        if (lba >= this.opts.lbaCount) bad = true
        if (Math.floor(lba) !== lba) bad = true
        if (bad) {
            done(WriteError.BadLba, 0)
            return
        }
        if (data.length !== this.opts.blockSize) {
            done(WriteError.BadLength, 0)
            return
        }
        let most = WRITES_WAITING
        if (this.opts.maxWritesWaiting) most = this.opts.maxWritesWaiting
        if (this.writesHeld >= most) {
            this.writesBusy++
            done(WriteError.Busy, 0)
            return
        }
        const now = this.clock.millis()
        this.writesHeld++
        this.writesIssued++
        if (this.resyncBusy) if (lba === this.resyncLba) this.resyncHit = true
        this.lost[lba >> 3] = this.lost[lba >> 3] & ~(1 << (lba & 7))
        const w = new PendingWrite(lba, data, done, now)
        if (this.unstamped.length === 0) if (stamp(this, w)) return
        this.unstamped.push(w)
    }

    // ---- suspend, track, resume

    /** A seq at or before the store's confirmed seq that is still open in the group was
     * confirmed by this board itself when it suspended: the shuttle carries TRACKED for it, so
     * the remote never applies it alone, only through a resync. */
    isTracked(seq: number): boolean {
        if (!this.store.hasConfirmed()) return false
        return !seqAfter(seq, this.store.confirmedSeq())
    }

    /**
     * Suspends replication: the capture seq and everything before it are confirmed locally, so
     * the store frees their history (only the newest version of each block stays, its seq
     * marking it dirty) and the board keeps no seq records for them; the remote is told and
     * holds its last consistent image; writes are acknowledged once durable, as soon as the
     * group knows the seq is tracked. Normal replication resumes by a delta resync.
     */
    suspend(reason: SuspendReason): void {
        if (this.suspended) return
        this.suspended = true
        this.suspendReason = reason
        this.suspendedAt = this.clock.millis()
        this.suspendedSeq = this.captureSeq()
        this.suspensions++
        this.resumePending = false
        this.resyncAsked = false
        // a copy under way would land in tracked seqs: it starts again after the resume
        this.resync = Resync.Off
        track(this)
        announceResync(this)
        // the paced and stamped-but-waiting writes are acknowledged as their seqs are marked
        while (this.paced.length > 0) ackNow(this, this.paced.shift() as PendingWrite)
        flushUnstamped(this)
        ackWaiting(this)
    }

    /**
     * Suspends when a cause holds for the suspend time (or the history bound is reached);
     * resumes when the causes have cleared. The cycle calls it often: SoloCycle at every tick,
     * a group member at every shuttle visit (a member the shuttle does not reach regenerates
     * one within the lap timeout).
     */
    watch(): void {
        const now = this.clock.millis()
        const up = this.channel.isUp()
        if (up) this.linkUpAt = now
        const after = this.opts.suspendAfterMs
        const t = suspendTime(this)
        if (this.suspended) {
            // the cause has cleared: the remote asks for the copies (only once every member's
            // link is up: before that a resync could not end), the capture seq's local
            // confirmation is durable (its writes are tracked), the group releases it again
            // (every member adopted it), and the suspend time has passed. The resync starts once
            // the board adopts a seq after the tracked ones (writes stamped until then are
            // still tracked).
            const c = this.captureSeq()
            if (up)
                if (this.resyncAsked)
                    if (now - this.suspendedAt >= t)
                        if (this.isTracked(c))
                            if (this.hasReleased)
                                if (!seqAfter(c, this.released))
                                    if (!atBound(this)) {
                                        this.suspended = false
                                        this.resumePending = true
                                        this.suspendReason = SuspendReason.None
                                    }
            return
        }
        checkHistory(this)
        if (this.suspended) return
        if (!after) return
        // a write has waited the suspend time or more for a seq or its release (or for pacing:
        // the queues are in issue order)
        const at = now - t
        let stalled = waitedSince(this.unstamped, at)
        if (!stalled) stalled = waitedSince(this.unacked, at)
        // a resync's own hold counts only while the remote has not asked for the copies, or once
        // it has waited the suspend time for a member whose link is down (under a load the
        // remote cannot take, the hold ends with the resync's commit; a link down a moment, as
        // while the remote renews a member's session, does not throw a finished copy away)
        if (!stalled) if (this.resync === Resync.Off || (!this.resyncAsked && now - this.resyncWaitAt >= t)) stalled = waitedSince(this.paced, at)
        if (stalled) return this.suspend(SuspendReason.Stalled)
        // the link was down the suspend time while the board holds seqs for the remote
        if (now - this.linkUpAt >= t) {
            if (this.seqs > 1) return this.suspend(SuspendReason.Link)
            if (this.portionsOf[0] > 0) this.suspend(SuspendReason.Link)
        }
    }

    // ---- the cycle's side (shuttle agent or SoloCycle)

    /** The newest seq the remote said it applied (its APPLIED messages): every write stamped
     * with it or earlier is in the remote's image. Not the store's confirmed seq, which a
     * board that suspends raises itself. */
    remoteAppliedSeq(): number {
        return this.remoteApplied
    }

    captureSeq(): number {
        return this.seqOf[this.seqs - 1]
    }

    /** The newest seq the group released (0: none yet). */
    releasedSeq(): number {
        if (!this.hasReleased) return 0
        return this.released
    }

    isAdopted(): boolean {
        return this.adopted === true
    }

    hasDataToSend(): boolean {
        if (this.portionsOf[this.seqs - 1] > 0) return true
        return this.needsClose() !== Need.None
    }

    /** Why the board cannot go on without the next seq: writes wait for one (the capture seq
     * can take no more lbas), it resumes (it needs a seq after its tracked ones), or its copy is
     * announced as of the capture seq (the remote applies it once that seq is final). */
    needsClose(): Need {
        if (this.unstamped.length > 0) return Need.Room
        if (this.resumePending) return Need.Resume
        if (this.resync !== Resync.Done) return Need.None
        if (seqAfter(this.captureSeq(), this.resyncTo)) return Need.None
        return Need.Final
    }

    /** The board's part in keeping the capture seq open (ShuttleHost.holdsSeq): Copying while
     * its copy is under way; Held while its history is at its bound in a resync and it needs no
     * next seq (the remote confirms nothing before the resync's commit: a seq closed per cycle
     * until then would take the history past its bound and suspend the board, which throws the
     * copy away). */
    holdsSeq(): number {
        if (this.resync === Resync.Off) return Hold.None
        let h = Hold.None
        if (this.resync === Resync.Copying) h = Hold.Copying
        if (this.needsClose() === Need.None) if (this.lbasInSeq.count < this.lbasInSeq.capacity) if (atBound(this)) h = h | Hold.Held
        return h
    }

    /** The minimum cycle time has passed, not too many closed seqs wait for transmission, and
     * no resync holds the capture seq open (holdsSeq, Held). */
    mayClose(): boolean {
        if (this.lastAdoptAt >= 0) if (this.clock.millis() - this.lastAdoptAt < this.opts.minCycleMs) return false
        if (this.holdsSeq() & Hold.Held) return false
        return this.closedWaiting() < this.opts.maxClosedSeqs
    }

    /** Closed seqs not yet fully handed to the link. */
    closedWaiting(): number {
        let n = 0
        for (let i = 0; i < this.seqs; i++) if ((this.stateOf[i] & (SeqFlag.Closed | SeqFlag.Sent)) === SeqFlag.Closed) n++
        return n
    }

    /**
     * Starts stamping writes with `seq`. When `seq` is newer than the capture seq, this closes
     * the capture seq and returns its final totals (they cannot change any more: later writes
     * get `seq`); adopting the capture seq again closes nothing and returns zero totals. A seq
     * before the capture seq: invariant 1 says never (a group member may reopen its newest
     * recovered seq: adoptEarlier).
     */
    adopt(seq: number): SeqTotals {
        const c = this.seqs - 1
        const cur = this.seqOf[c]
        if (seqAfter(cur, seq)) {
            if (this.adoptEarlier) return this.adoptEarlier(seq)
            throw new Error("capture seq would decrease")
        }
        this.adopted = true
        if (seq === cur) {
            flushUnstamped(this)
            return new SeqTotals(seq, 0, 0)
        }
        this.stateOf[c] = this.stateOf[c] | SeqFlag.Closed
        const portions = this.portionsOf[c]
        const totals = new SeqTotals(cur, portions, portions * this.opts.blockSize)
        // a tracked seq is never sent: the resync carries what it changed
        if (this.isTracked(cur)) this.seqs--
        addSeq(this, seq)
        this.lbasInSeq.clear()
        this.lastAdoptAt = this.clock.millis()
        if (this.suspended) track(this)
        // seqs the group adopts while this board's history waits count too (with no write of
        // its own, a member's seq records still grow while the remote does not confirm them)
        else checkHistory(this)
        if (this.resumePending)
            if (seqAfter(seq, this.store.confirmedSeq())) {
                // the first seq after the tracked ones: replication is normal again from it, and
                // the delta resync copies the blocks the tracked seqs changed
                this.resumePending = false
                startResync(this)
            }
        flushUnstamped(this)
        pumpBoard(this)
        return totals
    }

    /** Every member has adopted `seq`: writes stamped with it or earlier may be acknowledged. */
    release(seq: number): void {
        if (!this.stamping)
            if (!seqAfter(this.captureSeq(), seq)) {
                // the first release of this board's capture seq since it started: stamping begins
                this.stamping = true
                flushUnstamped(this)
            }
        if (this.hasReleased) if (!seqAfter(seq, this.released)) return
        this.released = seq
        this.hasReleased = true
        ackWaiting(this)
    }

    /** The final group totals of a seq: forwarded to the remote over this board's link. */
    manifestFinal(m: Manifest): void {
        keepManifest(this, m)
        pumpBoard(this)
    }

    /** Totals of the closed seqs the remote has not confirmed, oldest first. */
    closedSeqs(): SeqTotals[] {
        const out: SeqTotals[] = []
        for (let i = 0; i < this.seqs; i++)
            if (this.stateOf[i] & SeqFlag.Closed) {
                const portions = this.portionsOf[i]
                out.push(new SeqTotals(this.seqOf[i], portions, portions * this.opts.blockSize))
            }
        return out
    }

    // ---- a group member's hooks (GroupPrimaryBoard); a group of one has none

    /** After recover: a group member's final manifests come back from flash (a group of one
     * makes its manifests again from its recovered seqs: SoloCycle). */
    protected recovered?(): void

    /** Adopts a seq before the capture seq: a group member may reopen its newest recovered
     * seq. */
    protected adoptEarlier?(seq: number): SeqTotals

    /** The group knows `seq` is tracked (a group of one needs no shuttle to know). */
    trackedKnown?(seq: number): boolean

    /**
     * The copy extends past the seqs it covers when the remote could not complete them (a
     * group member whose manifests were lost); true when it did and the scan starts again. A
     * group of one makes every manifest itself: never.
     */
    extendCopy?(): boolean

    /** The first seq after `base` whose data the remote needs from this board (`from` of its
     * RESYNC); a group of one holds every seq after its base. */
    heldFrom?(base: number): number

    // ---- transmission and what the remote says

    /** Hands as much as the channel takes to it (pumpBoard). */
    pump(): void {
        pumpBoard(this)
    }

    /**
     * The operator accepts the loss of the damaged block: the board suspends (if it has not)
     * and resyncs its current data without that block, so the remote's image goes on
     * consistent but for it (it keeps its older copy). False when no block is damaged.
     */
    acceptDamage(): boolean {
        const lba = this.damagedLba
        if (lba < 0) return false
        this.lost[lba >> 3] |= 1 << (lba & 7)
        this.damagedLba = -1
        if (this.onLossAccepted) this.onLossAccepted(lba)
        if (!this.suspended) this.suspend(SuspendReason.Damage)
        else resyncStep(this)
        return true
    }

    // ---- status

    writesWaiting(): number {
        return this.unstamped.length + this.unacked.length + this.paced.length
    }
}

/** Seqs before the newest a rebooted board adopted that it reports to the remote at most. */
const MAX_RECOVERED = 64

/** The oldest write of `q` was issued at `at` or before. */
function waitedSince(q: PendingWrite[], at: number): boolean {
    if (q.length === 0) return false
    return q[0].issuedAt <= at
}
