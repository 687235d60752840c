import { getU32 } from "../codec/bytes"
import { crc32cUpdate } from "../codec/crc32c"
import { PORTION_HEADER, SeqDone } from "../protocol/messages"
import { PipelineChannel } from "../protocol/ports"
import { VERIFY_LEN, VERIFY_SPAN } from "../pipeline/verify"
import { StoreError } from "../store/types"
import type { RemoteBoard } from "./remoteBoard"
import { makeRoom } from "./remoteResync"
import { tryApply } from "./remoteApply"
import { addShare, noteHeld } from "./remoteHeld"

/*
 * The remote's arrivals and staging (RemoteBoard, firmware/remote/remoteBoard.ts): what each
 * member sent of each seq in its current session, and the staging of its portions on the
 * remote's flash, a bounded number at a time, again after a refusal, never dropped; a member
 * whose data cannot be taken sends it again in a new session. Each function takes the remote.
 */

/** Portions of one seq received from one member in its current session. */
export class Arrivals {
    received = 0
    bytes = 0
    staging = 0
    done: SeqDone | null = null
    /** The digest of the portions staged (firmware/remote/remoteHeld.ts). */
    digest = 0
    constructor(
        public seq: number,
        /** When the remote first heard of the seq from this member (ms; -1: not known). */
        public at: number
    ) {}
}

/** A seq of one member that the remote holds staged whole: the count of its versions and
 * their digest (HELD, firmware/remote/remoteHeld.ts). */
export class HeldSeq {
    constructor(
        public seq: number,
        public count: number,
        public digest: number
    ) {}
}

/** A portion waiting to be staged, or in the store's hands. */
export class StagingWrite {
    constructor(
        public ms: MemberState,
        public session: number,
        public arrivals: Arrivals,
        public lba: number,
        public seq: number,
        public data: Buffer,
        public crc: number
    ) {}
}

const STAGING_IN_FLIGHT = 8
/** Portions of one member that may wait to be staged: its link's receive credit is what is left
 * (flow control), so the remote's RAM for staging is bounded whatever the load. */
export const STAGING_PER_MEMBER = 8
/** Pause before a staging write the store refused is tried again. */
export const STAGING_RETRY_MS = 20
/** Flash failures in a row (staging writes and commits) after which the remote says its flash
 * failed for good; it goes on trying, slower, and holds its image meanwhile. */
const FLASH_FAILED_AFTER = 50
export const FLASH_FAILED_RETRY_MS = 1000
/** Eighths of the store's records the remote fills before staging waits for room (an apply, or
 * discarded later seqs: makeRoom). */
const STAGE_SHARE = 7
/** While the store is full, a staging write tries it once in this long (the others wait). */
const FULL_TRY_MS = 1000

/** What the remote knows of one member: its session, arrivals, staging and resync. */
export class MemberState {
    /** Counts sessions, so that a staging write of an earlier session is not counted. */
    session = 0
    arrivals: Arrivals[] = []
    portionsReceived = 0
    /** Staging writes the store refused (each is tried again). */
    stagingRetries = 0
    /** This member's portions waiting to be staged: queued, or in the store's hands. */
    staging = 0
    /** The group evicted this member (a member told the remote), and has not admitted it again. */
    evicted = false
    /** The seq of the newest EVICTED or ADMITTED of this member heard (-1: none). */
    membershipSeq = -1
    /** Full resync: the member has copied what the remote lacked (DONE). It holds its seqs from
     * resyncFrom on (its confirmed seq + 1), and the resync applies at resyncTo or after. */
    resyncDone = false
    /** A RESYNC_REQUEST the channel could not take yet. */
    requestPending = false
    resyncFrom = 0
    resyncTo = 0
    /** Online verify: the span asked for (verifyN 0: none), how far the answer is, and the
     * answer itself (VERIFIED); verifyJob tells an earlier request's reads from this one's. */
    verifyFrom = 0
    verifyN = 0
    verifyAt = 0
    verifyJob = 0
    verifyBuf: Buffer
    /** Restore (firmware/remote/remoteRestore.ts): the remote holds its applied image for this
     * member's restore in this session. A pass is under way (passOn): the next lba it looks
     * from, every lba (passAny) or those newer than passBase, the applied seq it began at and
     * whether the image stayed as it was since (passFrozen), the answers the board still takes
     * (passCredit), and an answer being read or waiting for room (passReading). */
    restoreReady = false
    passOn = false
    passCursor = 0
    passAny = false
    passBase = 0
    passApplied = 0
    passFrozen = false
    passCredit = 0
    passReading = false
    /** The pass's lba read back damaged once: read again before it is answered damaged. */
    passReread = false
    /** Fail back (firmware/remote/remotePromote.ts): the member's board holds the image. */
    caughtUp = false
    /** The member's unapplied seqs the remote holds staged whole (at most the remote's maxSeqs),
     * and a HELD the channel could not take yet (firmware/remote/remoteHeld.ts). */
    held: HeldSeq[] = []
    heldPending = false
    constructor(
        public member: number,
        public channel: PipelineChannel
    ) {
        this.verifyBuf = Buffer.alloc(VERIFY_LEN + 5 * VERIFY_SPAN)
    }

    /** The arrivals of `seq`; with `create`, new ones unless `max` are kept already (null). */
    arrivalsFor(seq: number, create: boolean, max = 0, now = -1): Arrivals | null {
        for (let i = 0; i < this.arrivals.length; i++) if (this.arrivals[i].seq === seq) return this.arrivals[i]
        if (!create) return null
        if (max > 0 && this.arrivals.length >= max) return null
        const a = new Arrivals(seq, now)
        this.arrivals.push(a)
        return a
    }

    heldFor(seq: number): HeldSeq | null {
        for (let i = 0; i < this.held.length; i++) if (this.held[i].seq === seq) return this.held[i]
        return null
    }

    /** Holds `seq` as `count` versions with `digest` (unless `max` seqs are held already). */
    setHeld(seq: number, count: number, digest: number, max: number): void {
        const h = this.heldFor(seq)
        if (h) {
            h.count = count
            h.digest = digest
        } else if (this.held.length < max) this.held.push(new HeldSeq(seq, count, digest))
    }

    /** Receive credit: the room left for the member's portions (messages wait in its link,
     * and the member stops sending, while there is none). */
    grant(): void {
        this.channel.setReceiveCredit(this.staging < STAGING_PER_MEMBER ? STAGING_PER_MEMBER - this.staging : 0)
    }

    /** One of its portions is no longer waiting to be staged. */
    unstage(): void {
        this.staging--
        this.grant()
    }
}

/** A PORTION from a member: checked against its CRC, then queued for staging. */
export function stagePortion(r: RemoteBoard, ms: MemberState, msg: Buffer, len: number): void {
    const seq = getU32(msg, 1)
    const lba = getU32(msg, 5)
    if (!r.unapplied(seq)) return // already applied: a resend
    const crc = getU32(msg, 9)
    if (crc32cUpdate(0, msg, PORTION_HEADER, len) !== crc) {
        // changed after its capture (RAM): never staged; the member sends it again from flash
        r.portionsBadCrc++
        resend(r, ms)
        return
    }
    const a = ms.arrivalsFor(seq, true, r.maxSeqs, r.clock ? r.clock.millis() : -1)
    if (!a) return overflow(r, ms)
    const data = Buffer.alloc(len - PORTION_HEADER)
    data.set(msg.slice(PORTION_HEADER, len), 0)
    a.staging++
    if (++ms.staging > r.stagingPeak) r.stagingPeak = ms.staging
    r.stagingQueue.push(new StagingWrite(ms, ms.session, a, lba, seq, data, crc))
    stageNext(r)
}

/** Feeds staging writes to the store, at most STAGING_IN_FLIGHT at a time (the store's
 * queue is bounded; the links of all members share it). */
function stageNext(r: RemoteBoard): void {
    while (r.stagingInFlight < STAGING_IN_FLIGHT && r.stagingQueue.length > 0) submit(r, r.stagingQueue.shift() as StagingWrite)
}

function submit(r: RemoteBoard, w: StagingWrite): void {
    const st = r.store
    // the same version already staged (a member sends its unapplied seqs again in each new
    // session: after the remote's power cut, a renewal, its own boot): read back whole and
    // the same data, it is not written again, nor does it wait for room. That spares the
    // flash a program and its share of an erase per portion. Anything else (not there,
    // damaged, different, an error) goes the way of a new portion
    if (w.session === w.ms.session)
        if (st.hasStaged && st.readPinned)
            if (st.hasStaged(w.ms.member, w.lba, w.seq)) {
                r.stagingInFlight++
                st.readPinned({ member: w.ms.member, lba: w.lba, seq: w.seq }, (err, data) => {
                    if (err === 0 && data && data.length === w.data.length && crc32cUpdate(0, data, 0, data.length) === w.crc) {
                        r.stagedAlready++
                        // (what is staged is the flash's copy, whatever became of the buffer)
                        w.data = data
                        return stagedDone(r, w, 0, false)
                    }
                    r.stagingInFlight--
                    place(r, w)
                })
                return
            }
    place(r, w)
}

/** Writes w once the store has room for it and its buffer still matches its CRC. */
function place(r: RemoteBoard, w: StagingWrite): void {
    const clock = r.clock
    if (clock)
        if (w.session === w.ms.session)
            if (r.storeFull ? r.probing || clock.millis() - r.fullSince < FULL_TRY_MS : !roomLeft(r)) {
                // a portion of a seq before staged ones may free their room (makeRoom); any other
                // waits for an apply
                makeRoom(r, w.seq)
                clock.setTimer(STAGING_RETRY_MS, () => retryStaging(r, w))
                return
            }
    if (w.session === w.ms.session && crc32cUpdate(0, w.data, 0, w.data.length) !== w.crc) {
        // the staging buffer changed in RAM while it waited: not staged, sent again
        r.portionsBadCrc++
        w.arrivals.staging--
        w.ms.unstage()
        resend(r, w.ms)
        return
    }
    r.stagingInFlight++
    if (r.storeFull) r.probing = true
    writeStaged(r, w)
}

/** The staging write of w (counted in flight). */
function writeStaged(r: RemoteBoard, w: StagingWrite): void {
    r.store.write(w.ms.member, w.lba, w.seq, w.data, (err) => stagedDone(r, w, err, true), w.crc)
}

/** A staging write in flight ended with err (0: w is staged; `written`: by a write, else
 * found staged already); the next may go. */
function stagedDone(r: RemoteBoard, w: StagingWrite, err: number, written: boolean): void {
    r.stagingInFlight--
    r.probing = false
    staged(r, w, err, written)
    stageNext(r)
}

/**
 * Has the member send every seq the remote has not applied again, from its flash: its
 * session ends (RemoteChannel.renew), and the new one starts from the applied seq. What the
 * member staged before stays on flash, superseded by the new copies of the same versions.
 */
export function resend(r: RemoteBoard, ms: MemberState): void {
    r.resends++
    // what arrived in this session no longer counts (nor do its staging writes under way), and
    // nothing staged of the member is taken for held: it may be what needs sending again
    ms.session++
    ms.arrivals = []
    ms.held = []
    if (ms.channel.renew) ms.channel.renew()
}

/** The store holds less than STAGE_SHARE eighths of the records it can: a staging write may
 * go (past it, the collector would move live data round and round to find room). */
function roomLeft(r: RemoteBoard): boolean {
    const st = r.store
    // a full resync's one commit needs every copy: it stages until the store is full
    if (r.resyncing || !st.liveVersions || !st.capacityRecords) return true
    return st.liveVersions() * 8 < st.capacityRecords() * STAGE_SHARE
}

/** More unapplied seqs than the remote keeps: what came is not kept, and the member sends
 * every unapplied seq again in a new session (never more RAM). */
export function overflow(r: RemoteBoard, ms: MemberState): void {
    r.overBound++
    resend(r, ms)
}

/** A store error `err` of a write or read the remote tries again: counted in a row, past
 * FLASH_FAILED_AFTER the flash has failed for good; not a queue full of calls (the store is
 * busy, not failing). */
export function flashError(r: RemoteBoard, err: StoreError): void {
    if (err === StoreError.QueueFull) return
    if (++r.flashErrorsInRow >= FLASH_FAILED_AFTER && !r.flashFailed) {
        r.flashFailed = true
        if (r.onFlashFailed) r.onFlashFailed()
    }
}

export function flashOk(r: RemoteBoard): void {
    r.flashErrorsInRow = 0
    r.flashFailed = false
}

function staged(r: RemoteBoard, w: StagingWrite, err: number, written: boolean): void {
    const a = w.arrivals
    const ms = w.ms
    if (w.session !== ms.session) {
        a.staging--
        ms.unstage()
        return
    }
    if (err === StoreError.BadArgument) {
        // a portion no store takes (longer than a block, an lba out of range): it came
        // corrupt past the link's CRC, or from a broken primary; retrying cannot help, and
        // its seq never completes (the resync of a new session brings the member's data)
        a.staging--
        ms.unstage()
        r.messagesRejected++
        return
    }
    if (err !== 0) {
        // the store is busy, full until its collector or a commit frees room, or its flash
        // failed for now: the portion is staged again later, never dropped (the seq could
        // never complete without it)
        ms.stagingRetries++
        if (err === StoreError.Full) {
            r.storeFull = true
            if (r.clock) r.fullSince = r.clock.millis()
            makeRoom(r, w.seq)
        } else flashError(r, err)
        if (r.clock) r.clock.setTimer(r.flashFailed ? FLASH_FAILED_RETRY_MS : STAGING_RETRY_MS, () => retryStaging(r, w))
        else retryStaging(r, w)
        return
    }
    // (a version found staged says nothing of the flash's programs, nor of its room)
    if (written) {
        flashOk(r)
        r.storeFull = false
    }
    a.staging--
    ms.unstage()
    a.received++
    a.bytes += w.data.length
    addShare(a, w.lba, w.crc)
    noteHeld(r, ms, a)
    if (r.onStaged) r.onStaged(ms.member, w.lba, w.seq, w.data)
    ms.portionsReceived++
    tryApply(r)
}

function retryStaging(r: RemoteBoard, w: StagingWrite): void {
    r.stagingQueue.push(w)
    stageNext(r)
}
