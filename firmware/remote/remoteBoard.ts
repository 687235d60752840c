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
    REASON_EVICTED,
    RESYNC_DONE,
    RESYNC_LEN,
    RESYNC_REASON_SHIFT,
} from "../protocol/messages"
import { PipelineChannel } from "../protocol/ports"
import { Held, VERIFY_LEN, VERIFY_SPAN } from "../pipeline/verify"
import { seqAfter } from "../seq"
import { StoreError } from "../store/types"
import { Clock } from "../../hal/clock"
import { HoldReason, seqComplete, takeManifest, tryApply } from "./remoteApply"
import { MemberState, overflow, resend, STAGING_RETRY_MS, stagePortion, StagingWrite } from "./remoteStaging"

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
    /** Reads a staged version back, checked against its record's CRC (Corrupt when not). */
    readPinned?(p: { member: number; lba: number; seq: number }, done: (err: number, data: Buffer | null) => void): void
    /** Reads the applied version of an lba: done(0, null) when there is none, Corrupt when it
     * reads back damaged (absent: no online verify). */
    read?(member: number, lba: number, done: (err: number, data: Buffer | null) => void): void
}

/** Unapplied seqs the remote keeps track of when not told otherwise: arrivals per member, and
 * final manifests. It must be more than the members' history bound (they suspend at theirs). */
export const REMOTE_SEQS = 512

const RESYNC_REQUEST = Buffer.from([Msg.ResyncRequest])
const RESYNC_WAIT = Buffer.from([Msg.ResyncWait])
/** How often the remote looks at its members' links during a resync. */
const WATCH_MS = 250

/**
 * The remote board: stages each member's portions per seq as they arrive over that member's
 * link, and applies seq s, atomically on its flash, only when
 *   - the manifest of s is final (it came from the group's shuttle, through any member),
 *   - every member of the manifest has sent all its portions of s (SEQ_DONE, and the count of
 *     staged portions matches both SEQ_DONE and the manifest), and
 *   - the seq before s in the group's chain (the manifest's prevSeq) is applied.
 * So the remote image is always every write up to some seq, for every board at once.
 *
 * Arrivals and staging (firmware/remote/remoteStaging.ts) and the apply
 * (firmware/remote/remoteApply.ts) are functions that take the remote; members whose comment
 * begins "Internal" are for them.
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
    /** Times a member's session was ended to have it send its unapplied seqs again. */
    resends = 0
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
        if (clock) this.armWatch()
    }

    private armWatch(): void {
        const self = this
        ;(this.clock as Clock).setTimer(WATCH_MS, () => {
            self.watch()
            self.armWatch()
        })
    }

    /** During a resync: tells the members when it waits for a member whose link is down (a
     * member holding its app's acknowledgements for the resync suspends), and asks for the
     * copies again once every link is up. */
    private watch(): void {
        const up = this.allUp()
        if (this.resyncing && !up && !this.waiting) {
            this.waiting = true
            for (let i = 0; i < this.members.length; i++) if (this.members[i].channel.isUp()) this.members[i].channel.send(RESYNC_WAIT)
        } else if (up && this.waiting) {
            this.waiting = false
            for (let i = 0; i < this.members.length; i++) if (!this.members[i].resyncDone) this.request(this.members[i])
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
            if (ms.requestPending) self.request(ms)
        })
    }

    /** Asks a member for its copy while the resync waits for it, once every member's link is
     * up (a suspended member resumes when asked: before all are there, the resync could not
     * end) and the channel takes it. */
    private request(ms: MemberState): void {
        ms.requestPending = this.resyncing && !ms.resyncDone && (!this.allUp() || !ms.channel.send(RESYNC_REQUEST))
    }

    private requestAll(): void {
        for (let i = 0; i < this.members.length; i++) if (this.members[i].requestPending) this.request(this.members[i])
    }

    /** Every member's link is up, but those of evicted members. */
    private allUp(): boolean {
        for (let i = 0; i < this.members.length; i++) if (!this.members[i].evicted && !this.members[i].channel.isUp()) return false
        return true
    }

    /** The member is in the group and its copy is in (DONE): a resync's commit applies it. */
    memberCopied(member: number): boolean {
        const ms = this.members[member]
        return ms !== undefined && !ms.evicted && ms.resyncDone
    }

    appliedSeq(): number {
        return this.store.appliedSeq()
    }

    /** Resume state for a new session: the applied seq, u32. */
    resumeState(): Buffer {
        const b = Buffer.alloc(4)
        putU32(b, 0, this.appliedSeq())
        return b
    }

    private onSessionUp(ms: MemberState, resumed: boolean): void {
        if (!resumed) {
            // a new session: the member sends every unapplied seq again from the start; it may
            // have restarted, so its copy is announced again or made again
            ms.session++
            ms.arrivals = []
            ms.resyncDone = false
            ms.channel.send(encodeApplied(this.appliedSeq()))
            if (this.waiting) ms.channel.send(RESYNC_WAIT)
        }
        this.request(ms)
        this.requestAll()
    }

    isResyncing(): boolean {
        return this.resyncing
    }

    /**
     * RESYNC from a member. A member whose confirmed seq is after the applied seq cannot send the
     * seqs between (its flash no longer holds them): the remote enters a full resync and asks
     * every member to copy what the remote lacks. A member's DONE gives its `from` and `to`.
     */
    private onResync(ms: MemberState, msg: Buffer): void {
        const from = getU32(msg, 5)
        const to = getU32(msg, 9)
        const reason = msg[13] >> RESYNC_REASON_SHIFT
        // an evicted member is out of the group: it holds nothing up
        if (ms.evicted || reason === REASON_EVICTED) return
        if (reason !== 0) {
            this.suspendedMember = ms.member
            this.suspendReason = reason
        }
        if (!this.resyncing) {
            // from a member that has its history (or a stale announcement): nothing to do; a
            // member that suspended needs the resync to resume, whatever its base
            if (!seqAfter(getU32(msg, 1), this.appliedSeq()) && reason === 0) return
            this.startResync()
        }
        if ((msg[13] & RESYNC_DONE) === 0) {
            // the member copies (again), or suspended: its earlier copy no longer stands, and
            // what it staged up to its base is copied again (superseded at the commit anyway)
            ms.resyncDone = false
            const base = getU32(msg, 1)
            if (seqAfter(base, this.appliedSeq())) this.store.dropStaged(ms.member, base, () => {})
            this.request(ms)
            return
        }
        // a copy stays good while the image grows: the blocks it skipped are on the remote as
        // of its base, and newer versions only came from this member
        if (seqAfter(from, to)) return
        ms.resyncDone = true
        ms.resyncFrom = from
        ms.resyncTo = to
        tryApply(this)
    }

    /**
     * EVICTED or ADMITTED of a member, from any member's link: the newest news wins (an
     * ADMITTED over an EVICTED of the same seq; an EVICTED restored at boot, seq 0, only over
     * none), whatever order the links bring them in.
     */
    private onMembership(ms: MemberState, admitted: boolean, seq: number): void {
        const h = ms.membershipSeq
        const newer = h < 0 || (admitted ? !seqAfter(h, seq) : seq !== 0 && seqAfter(seq, h))
        if (!newer) return
        ms.membershipSeq = seq
        if (ms.evicted === !admitted) return
        ms.evicted = !admitted
        // an evicted member's portions may never come; an admitted one copies its whole image,
        // which the group's next resync applies
        if (admitted) ms.resyncDone = false
        else tryApply(this)
    }

    /** Holds at the applied seq (the gold image) until every member's copy is in, and asks
     * every member for its copy. */
    startResync(): void {
        this.resyncing = true
        this.resyncsStarted++
        if (this.onResyncStarted) this.onResyncStarted()
        this.lastHold = HoldReason.Resync
        for (let i = 0; i < this.members.length; i++) {
            this.members[i].resyncDone = false
            this.request(this.members[i])
        }
    }

    private onMessage(ms: MemberState, msg: Buffer, len: number): void {
        if (len < 1) return
        const type = msg[0]
        if (type === Msg.Portion && len > PORTION_HEADER) stagePortion(this, ms, msg, len)
        else if (type === Msg.SeqDone) {
            const d = decodeSeqDone(msg, len)
            if (!d) this.messagesRejected++
            else if (seqAfter(d.seq, this.appliedSeq())) {
                const a = ms.arrivalsFor(d.seq, true, this.maxSeqs)
                if (!a) return overflow(this, ms)
                a.done = d
                tryApply(this)
            }
        } else if (type === Msg.Resync && len === RESYNC_LEN) this.onResync(ms, msg)
        else if (type === Msg.Verify && len === VERIFY_LEN && msg[5] <= VERIFY_SPAN && this.store.read) {
            // a new request replaces one under way (the member asks again after a new session)
            ms.verifyJob++
            ms.verifyFrom = getU32(msg, 1)
            ms.verifyN = msg[5]
            ms.verifyAt = 0
            this.answerVerify(ms, ms.verifyJob)
        } else if ((type === Msg.Evicted || type === Msg.Admitted) && len === MEMBERSHIP_LEN && msg[1] < this.members.length)
            this.onMembership(this.members[msg[1]], type === Msg.Admitted, getU32(msg, 2))
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

    /**
     * The store is full while staging a portion of `seq`: if versions of later seqs take the
     * room, they are discarded (durably) and every member sends its unapplied seqs again, in
     * seq order, so the seqs that apply first are staged first and their apply frees room. Not
     * in a full resync, whose one commit needs every copy (the remote's flash must hold one).
     */
    makeRoom(seq: number): void {
        const st = this.store
        if (this.discarding || this.resyncing || !st.discardAbove || !st.pinnedSeqs) return
        const staged = st.pinnedSeqs()
        if (staged.length === 0 || !seqAfter(staged[staged.length - 1], seq)) return
        this.discarding = true
        const self = this
        st.discardAbove(seq, (err) => {
            self.discarding = false
            if (err !== 0) return
            self.storeFull = false
            self.discardsForRoom++
            for (let i = 0; i < self.members.length; i++) if (!self.members[i].evicted) resend(self, self.members[i])
        })
    }

    /**
     * In a full resync: the seq to apply, once every member (but evicted ones) has made its
     * copy: the first final seq at or after the newest `to` whose chain of manifests reaches back
     * to the oldest `from` (or to the applied seq), every seq of it complete (checked by the
     * caller for the seq itself, here for the ones before it). Null while that is not so
     * (lastHold says why).
     */
    resyncTarget(): Manifest | null {
        let target = 0
        let low = 0
        let any = false
        for (let i = 0; i < this.members.length; i++) {
            const ms = this.members[i]
            if (ms.evicted) continue
            if (!ms.resyncDone) {
                this.lastHold = HoldReason.Resync
                return null
            }
            if (!any || seqAfter(ms.resyncTo, target)) target = ms.resyncTo
            if (!any || seqAfter(low, ms.resyncFrom)) low = ms.resyncFrom
            any = true
        }
        let best: Manifest | null = null
        for (let i = 0; i < this.manifests.length; i++) {
            const m = this.manifests[i]
            if (!seqAfter(target, m.seq) && (!best || seqAfter(best.seq, m.seq))) best = m
        }
        this.lastHold = HoldReason.NoManifest
        if (!best || !any) return null
        let m = best
        for (let n = 0; n < this.manifests.length; n++) {
            if (n > 0 && !this.complete(m)) {
                this.lastHold = HoldReason.MissingPortions
                return null
            }
            const prev = m.prevSeq
            if (!seqAfter(m.seq, prev)) return null
            // below every member's first needed seq, or at the applied one: the chain is whole
            if (seqAfter(low, prev) || !seqAfter(prev, this.appliedSeq())) return best
            let found: Manifest | null = null
            for (let j = 0; j < this.manifests.length; j++) if (this.manifests[j].seq === prev) found = this.manifests[j]
            if (!found) return null
            m = found
        }
        return null
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
