import { getU32, putU32 } from "../codec/bytes"
import { crc32cUpdate } from "../codec/crc32c"
import {
    decodeManifest,
    decodeSeqDone,
    encodeApplied,
    Manifest,
    Msg,
    MEMBERSHIP_LEN,
    PORTION_HEADER,
    RESTORE_LEN,
    RESUME_HELD,
    RESUME_NONE,
    RESYNC_LEN,
} from "../protocol/messages"
import { PipelineChannel } from "../protocol/ports"
import { Held, VERIFY_LEN, VERIFY_SPAN } from "../pipeline/verify"
import { seqAfter } from "../seq"
import { StoreError } from "../store/types"
import { Clock } from "../../hal/clock"
import { HoldReason, seqComplete, takeManifest, tryApply } from "./remoteApply"
import { armWatch, requestAll, requestCopy, RESYNC_WAIT, takeMembership, takeResync } from "./remoteResync"
import { MemberState, overflow, STAGING_RETRY_MS, stagePortion, StagingWrite } from "./remoteStaging"
import { takeRestore } from "./remoteRestore"
import { noteHeld, rebuildHeld, sendHeld, takeHeld } from "./remoteHeld"
import { PromoteReport, PromotedWrite } from "./remotePromote"

export { HoldReason } from "./remoteApply"
export { STAGING_PER_MEMBER } from "./remoteStaging"

/** What the remote needs from its block store: staging and the atomic apply. */
export interface RemoteStore {
    /** Stages a portion durably (not visible until its seq is applied). `crc`: the block's
     * CRC-32C as its PORTION carried it (the record's CRC goes on from it). */
    write(member: number, lba: number, seq: number, data: Buffer, done: (err: number) => void, crc?: number): void
    /** Makes every staged version with seq ≤ `seq` visible at once (one commit record). */
    commit(seq: number, done: (err: number) => void): void
    appliedSeq(): number
    /** Some seq was applied (committed) on this store; false: appliedSeq's 0 is no seq
     * (absent: always true). */
    hasApplied?(): boolean
    /** Forgets `member`'s staged versions with seqs at or before `upTo` (RAM only). */
    dropStaged(member: number, upTo: number, done: (err: number) => void): void
    /** Drops every staged version with seq above `seq`, durably (absent: a full store waits). */
    discardAbove?(seq: number, done: (err: number) => void): void
    /** Versions the store holds (visible and staged), and the records it can hold in all
     * (absent: the remote stages until the store says it is full). */
    liveVersions?(): number
    capacityRecords?(): number
    /** Seqs above the applied one with staged versions, oldest first (absent: no checks). */
    pinnedSeqs?(): number[]
    /** The staged versions of `seq` (member < 0: of every member). */
    pinned?(member: number, seq: number): { member: number; lba: number; seq: number }[]
    /** A staged version of (member, lba, seq) is held: from RAM, no flash access (absent:
     * every portion is written). */
    hasStaged?(member: number, lba: number, seq: number): boolean
    /** Reads a staged version back, checked against its record's CRC (Corrupt when not). */
    readPinned?(p: { member: number; lba: number; seq: number }, done: (err: number, data: Buffer | null) => void): void
    /** Reads the applied version of an lba: done(0, null) when there is none, Corrupt when it
     * reads back damaged (absent: no online verify). */
    read?(member: number, lba: number, done: (err: number, data: Buffer | null) => void): void
    /** The lowest lba at or above `from` of `member` whose applied version is newer than `base`
     * (any applied version when `any`), -1 when none (absent: no restore). */
    nextApplied?(member: number, from: number, base: number, any: boolean): number
    /** Persistent metadata (absent: no promotion). */
    meta?(key: number): number
    setMeta?(key: number, value: number, done: (err: number) => void): void
}

/** Unapplied seqs the remote keeps track of when not told otherwise: arrivals per member, and
 * final manifests. It must be more than the members' history bound (they suspend at theirs). */
export const REMOTE_SEQS = 512

/**
 * The remote board: stages each member's portions per seq as they arrive over that member's
 * link, and applies seq s, atomically on its flash, only when
 *   - the manifest of s is final (it came from the group's shuttle, through any member),
 *   - every member of the manifest has sent all its portions of s (SEQ_DONE, and the count of
 *     staged portions matches both SEQ_DONE and the manifest), and
 *   - the seq before s in the group's chain (the manifest's prevSeq) is applied.
 * So the remote image is always every write up to some seq, for every board at once.
 *
 * The class holds the remote's state, what other modules call and the messages' dispatch; the
 * steps are functions in files of their own that take the remote: arrivals and staging
 * (firmware/remote/remoteStaging.ts), the apply (firmware/remote/remoteApply.ts), and the full
 * resync, evictions and discards (firmware/remote/remoteResync.ts). Members whose comment
 * begins "Internal" are for those files only.
 */
export class RemoteBoard {
    /** Internal: what the remote knows of each member; the final manifests of the seqs it has
     * not applied; an apply is under way; the portions waiting to be staged, and those in the
     * store's hands. */
    members: MemberState[] = []
    manifests: Manifest[] = []
    applying = false
    stagingQueue: StagingWrite[] = []
    stagingInFlight = 0
    /** Seqs applied, in order, with the time of each apply (the simulator's checker reads it). */
    onApplied: ((seq: number, manifest: Manifest) => void) | null = null
    /** Called when a portion is staged durably (the simulator's checker follows it). */
    onStaged: ((member: number, lba: number, seq: number, data: Buffer) => void) | null = null
    seqsApplied = 0
    /** When the last seq was applied (ms of the remote's clock; -1: none since boot). */
    appliedAt = -1
    manifestsRejected = 0
    messagesRejected = 0
    lastHold = HoldReason.None
    /** Most portions of one member ever waiting to be staged (at most STAGING_PER_MEMBER). */
    stagingPeak = 0
    /** Internal: a full resync is under way: the remote stays at its applied seq until every
     * member's copy has arrived, then applies the group's image in one commit. */
    resyncing = false
    resyncsStarted = 0
    resyncsApplied = 0
    /** PORTIONs whose data did not match their CRC (a bit flipped after the capture): dropped,
     * and the member asked to send again. */
    portionsBadCrc = 0
    /** Staged versions that read back damaged before their apply: the member sends again. */
    stagedDamaged = 0
    /** Staged versions that read back damaged and that a later version the same apply makes
     * visible supersedes: passed over. */
    stagedDamagedSuperseded = 0
    /** Times a member's session was ended to have it send its unapplied seqs again. */
    resends = 0
    /** Portions sent again whose version was staged already, whole: not written again. */
    stagedAlready = 0
    /** Seqs a new session did not send again, since the remote held them (HELD), and SEQ_DONEs
     * with HELD for versions the remote no longer held so (the member then sent again). */
    seqsFoundHeld = 0
    heldMismatches = 0
    /** Internal: what the flash holds staged is known (after a boot, once read back): a new
     * session's HELD goes only then (firmware/remote/remoteHeld.ts). */
    heldReady = true
    /** Restores begun: a member whose board came back blank asked for its image. */
    restoresStarted = 0
    /** Told when a restore has begun: everything staged above `applied` was discarded (the
     * simulator's checker forgets it too). */
    onRestoreBegun: ((member: number, applied: number) => void) | null = null
    /** Store errors in a row; the flash has failed for good past FLASH_FAILED_AFTER (the
     * console and stats say so; the image stays as applied). */
    flashErrorsInRow = 0
    flashFailed = false
    /** Applies whose seq could no longer be applied once their staged versions were read back
     * (a member's copy stopped standing meanwhile): chosen again. */
    appliesRechosen = 0
    /** Times a member's data or a manifest came past the bound of unapplied seqs (maxSeqs):
     * not kept, and the member's session renewed (it sends them again from the applied seq). */
    overBound = 0
    /** Times the store was full of staged versions of seqs after one that must apply first:
     * those were discarded and the members send them again. */
    discardsForRoom = 0
    /** Internal: later seqs' versions are being discarded (makeRoom). */
    discarding = false
    /** Internal: the store refused a staging write as full, and no apply or discard has freed
     * room since: staging writes wait rather than have the store look for room it does not
     * have, but for one try a second (its collector may find room after all). */
    storeFull = false
    fullSince = 0
    probing = false
    /** Told when a full resync starts (the simulator's export records it). */
    onResyncStarted: (() => void) | null = null
    /** A seq applies only with every portion its manifest counts. Never false on a remote
     * that runs: the simulator turns the check off (--mutate manifest-check) to show that its
     * checker catches the harm. */
    checkPortions = true
    /** Told when the remote's flash is found failed for good (the console prints it). */
    onFlashFailed: (() => void) | null = null
    /** The member that last said it suspended replication (-1: none since the last resync's
     * commit), and its reason (SuspendReason of firmware/pipeline/primary.ts). */
    suspendedMember = -1
    suspendReason = 0

    /** Internal: the resync waits for a member whose link is down, and the members know. */
    waiting = false

    /** Promoted (firmware/remote/remotePromote.ts): the remote holds the writable role, its
     * primaries fenced; promoteReady once the promotion is recorded; the image's seq then. */
    promoted = false
    promoteReady = false
    promotedSeq = 0
    /** Fail back asked (no more writes), and recorded (the boards' passes find it frozen). */
    failbackAsked = false
    failingBack = false
    /** Internal: the newest seq the primaries used before a promotion or restore (later seqs
     * start after it), the promoted image's writes waiting (the first is under way), and what
     * runs once none waits. (-1: none yet; any u32 is a seq once the u32 seqs have wrapped.) */
    seqFloor = -1
    promotedQ: PromotedWrite[] = []
    /** Nothing is staged above the applied seq since this boot's first check (a write may
     * take the next seq). */
    promotedClean = false
    afterWrites: (() => void) | null = null
    promotions = 0
    failbacks = 0
    /** Writes applied to the promoted image. */
    promotedWrites = 0
    /** Replication messages dropped because the remote is promoted. */
    fencedDrops = 0
    /** What the last promotion found lost (null: none since boot). */
    lastPromote: PromoteReport | null = null
    /** Fences (true) or lets in (false) every member's primaries, `seq`: the promoted image's
     * (the remote's firmware sets it: its link channels refuse them). */
    onFence: ((fenced: boolean, seq: number) => void) | null = null
    /** Told when the role went back to the primaries, at the image's seq. */
    onFailedBack: ((seq: number) => void) | null = null

    /**
     * What the remote holds in RAM is bounded by its configuration: per member, STAGING_PER_MEMBER
     * portions waiting to be staged (its link's credit) and `maxSeqs` seqs' arrivals; `maxSeqs`
     * final manifests (docs/DESIGN.md, "Fixed memory").
     */
    constructor(
        readonly store: RemoteStore,
        channels: PipelineChannel[],
        readonly clock: Clock | null = null,
        readonly maxSeqs = REMOTE_SEQS
    ) {
        for (let i = 0; i < channels.length; i++) {
            const ms = new MemberState(i, channels[i])
            this.members.push(ms)
            this.listen(ms)
        }
        if (clock) {
            armWatch(this)
            rebuildHeld(this)
        }
    }

    private listen(ms: MemberState): void {
        const self = this
        ms.channel.onMessage((msg, len) => {
            self.onMessage(ms, msg, len)
            ms.grant()
        })
        ms.grant()
        ms.channel.onSessionUp((resumed, _resume) => self.onSessionUp(ms, resumed))
        ms.channel.onWritable(() => {
            if (ms.heldPending) sendHeld(self, ms)
            if (ms.requestPending) requestCopy(self, ms)
        })
    }

    /** The member is in the group and its copy is in (DONE): a resync's commit applies it. */
    memberCopied(member: number): boolean {
        const ms = this.members[member]
        return ms !== undefined && !ms.evicted && ms.resyncDone
    }

    /** The applied seq; on a store that has applied nothing, the blank base (blankBase). */
    appliedSeq(): number {
        if (this.appliedNothing()) return this.blankBase
        return this.store.appliedSeq()
    }

    /** `seq` is not applied yet: after the applied seq, or any seq on a store that has applied
     * none (until a member announces a base, its blank base 0 is no seq of the group's: past
     * 2^31 the group's seqs lie before it). */
    unapplied(seq: number): boolean {
        if (this.appliedNothing()) return true
        return seqAfter(seq, this.store.appliedSeq())
    }

    /** The store has applied no seq yet (a blank flash: a new remote). */
    appliedNothing(): boolean {
        return this.store.hasApplied !== undefined && !this.store.hasApplied()
    }

    /**
     * What a store that has applied nothing takes as its applied seq, in RAM: 0 for a new group
     * (its first seq is 1, whose manifest follows seq 0), or, once a member announces a resync,
     * a seq 2^30 before that member's base (takeResync). A group's seqs lie within its history
     * of each other, so all of them are then after it, wherever the u32 seqs have wrapped to:
     * with 0, a group past 2^31 seqs would have its seqs taken as applied already.
     */
    blankBase = 0
    blankBaseSet = false

    /** The seq of the applied image as members and restores are told it: 0 when the store has
     * applied none (its blank base is no seq of the group's). */
    imageSeq(): number {
        if (this.appliedNothing()) return 0
        return this.store.appliedSeq()
    }

    /**
     * The seq above which every version staged is unapplied, for a discard of them all (a
     * promotion, a restore): the applied seq; on a store that has applied nothing, before the
     * oldest seq it holds staged too, since after a boot its blank base is 0 until a member
     * announces a resync, and past 2^31 the group's seqs lie before 0.
     */
    discardFloor(): number {
        let p = this.appliedSeq()
        const st = this.store
        if (this.appliedNothing())
            if (st.pinnedSeqs) {
                const seqs = st.pinnedSeqs()
                if (seqs.length > 0) {
                    const o = (seqs[0] - 1) >>> 0
                    if (seqAfter(p, o)) p = o
                }
            }
        return p
    }

    /** Resume state for a new session: the applied seq, u32, and flags, u8: 0x01, HELD comes
     * first in the session (the member waits for it before it sends a seq again); 0x02, no seq
     * applied yet (RESUME_NONE). */
    resumeState(): Buffer {
        const b = Buffer.alloc(5)
        putU32(b, 0, this.appliedSeq())
        b[4] = RESUME_HELD
        if (this.appliedNothing()) b[4] = RESUME_HELD | RESUME_NONE
        return b
    }

    private onSessionUp(ms: MemberState, resumed: boolean): void {
        if (!resumed) {
            // a new session: the member sends every unapplied seq again from the start; it may
            // have restarted, so its copy is announced again or made again
            ms.session++
            ms.arrivals = []
            ms.resyncDone = false
            ms.restoreReady = false
            ms.passOn = false
            ms.passReading = false
            // (a store that applied nothing has no seq to confirm: RESUME_NONE says so)
            if (!this.appliedNothing()) ms.channel.send(encodeApplied(this.appliedSeq()))
            if (this.heldReady) sendHeld(this, ms)
            if (this.waiting) ms.channel.send(RESYNC_WAIT)
        }
        requestCopy(this, ms)
        requestAll(this)
    }

    isResyncing(): boolean {
        return this.resyncing
    }

    private onMessage(ms: MemberState, msg: Buffer, len: number): void {
        if (len < 1) return
        const type = msg[0]
        // promoted: a restore and verify only (a HELLO_RESTORE session of a board)
        if (this.promoted)
            if (type !== Msg.Restore && type !== Msg.Verify) {
                this.fencedDrops++
                return
            }
        if (type === Msg.Portion && len > PORTION_HEADER) stagePortion(this, ms, msg, len)
        else if (type === Msg.SeqDone) {
            const d = decodeSeqDone(msg, len)
            if (!d) this.messagesRejected++
            else if (this.unapplied(d.seq)) {
                const a = ms.arrivalsFor(d.seq, true, this.maxSeqs, this.clock ? this.clock.millis() : -1)
                if (!a) return overflow(this, ms)
                if (!takeHeld(this, ms, a, d)) return
                a.done = d
                noteHeld(this, ms, a)
                tryApply(this)
            }
        } else if (type === Msg.Resync && len === RESYNC_LEN) takeResync(this, ms, msg)
        else if (type === Msg.Restore && len === RESTORE_LEN) takeRestore(this, ms, msg)
        else if (type === Msg.Verify && len === VERIFY_LEN && msg[5] <= VERIFY_SPAN && this.store.read) {
            // a new request replaces one under way (the member asks again after a new session)
            ms.verifyJob++
            ms.verifyFrom = getU32(msg, 1)
            ms.verifyN = msg[5]
            ms.verifyAt = 0
            this.answerVerify(ms, ms.verifyJob)
        } else if ((type === Msg.Evicted || type === Msg.Admitted) && len === MEMBERSHIP_LEN && msg[1] < this.members.length)
            takeMembership(this, this.members[msg[1]], type === Msg.Admitted, getU32(msg, 2))
        else if (type === Msg.Manifest) {
            const m = decodeManifest(msg, len)
            if (!m) this.manifestsRejected++
            else this.onManifest(ms, m)
        } else this.messagesRejected++
    }

    /** A final manifest, through any member's link (firmware/remote/remoteApply.ts). */
    private onManifest(ms: MemberState, m: Manifest): void {
        takeManifest(this, ms, m)
    }

    /** Every member's portions of m have arrived (seqComplete, firmware/remote/remoteApply.ts). */
    complete(m: Manifest): boolean {
        return seqComplete(this, m)
    }

    /** Online verify: reads the applied version of each lba asked for, then answers VERIFIED
     * (docs/FORMAT.md, "Verify and repair"). */
    private answerVerify(ms: MemberState, job: number): void {
        if (job !== ms.verifyJob) return
        const b = ms.verifyBuf
        const self = this
        if (ms.verifyAt < ms.verifyN) {
            const st = this.store as Required<RemoteStore>
            st.read(ms.member, ms.verifyFrom + ms.verifyAt, (err: number, data: Buffer | null) => {
                if (job !== ms.verifyJob) return
                if (err !== 0 && err !== StoreError.Corrupt) {
                    // the store is busy or its flash failed for now: the same lba again
                    if (self.clock) self.clock.setTimer(STAGING_RETRY_MS, () => self.answerVerify(ms, job))
                    return
                }
                const o = VERIFY_LEN + 5 * ms.verifyAt
                b[o] = err !== 0 ? Held.Damaged : data ? Held.Block : Held.None
                putU32(b, o + 1, err === 0 && data ? crc32cUpdate(0, data, 0, data.length) : 0)
                ms.verifyAt++
                self.answerVerify(ms, job)
            })
            return
        }
        const len = VERIFY_LEN + 5 * ms.verifyN
        b[0] = Msg.Verified
        putU32(b, 1, ms.verifyFrom)
        b[5] = ms.verifyN
        if (!ms.channel.send(len === b.length ? b : b.slice(0, len))) {
            if (this.clock) this.clock.setTimer(STAGING_RETRY_MS, () => self.answerVerify(ms, job))
            return
        }
        ms.verifyN = 0
    }

    /** Staged portions waiting for their seq to be applied, over all members. */
    stagedPortions(): number {
        let n = 0
        for (let i = 0; i < this.members.length; i++) for (let j = 0; j < this.members[i].arrivals.length; j++) n += this.members[i].arrivals[j].received
        return n
    }

    /** What the remote holds in RAM now, to compare with its bounds: portions waiting to be
     * staged, the most arrivals one member has, and the final manifests kept. */
    held(): { stagingQueue: number; arrivals: number; manifests: number } {
        let arrivals = 0
        for (let i = 0; i < this.members.length; i++) arrivals = Math.max(arrivals, this.members[i].arrivals.length)
        return { stagingQueue: this.stagingQueue.length, arrivals: arrivals, manifests: this.manifests.length }
    }

    /** The data of the portions waiting to be staged (the simulator's ram fault class flips
     * bits in them). */
    stagingData(): Buffer[] {
        const out: Buffer[] = []
        for (let i = 0; i < this.stagingQueue.length; i++) out.push(this.stagingQueue[i].data)
        return out
    }

    portionsReceived(member: number): number {
        return this.members[member].portionsReceived
    }
}
