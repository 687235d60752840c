import { seqAfter } from "../seq"
import { StoreError } from "../store/types"
import type { RemoteBoard, RemoteStore } from "./remoteBoard"
import { newestHeard, raiseFloor } from "./remoteRestore"
import { MemberState, STAGING_RETRY_MS } from "./remoteStaging"

/*
 * Promote and fail back (RemoteBoard, firmware/remote/remoteBoard.ts; docs/OPERATIONS.md,
 * "Promote the remote" and "Fail back"). Each function takes the remote.
 *
 * Promote: the remote fences the primaries (their links refuse every HELLO that does not come
 * to restore, RefuseReason.Fenced), waits until nothing is being applied or staged, discards
 * what is staged above its applied seq P (one discard record), and then records P and the
 * promotion in its store's metadata, in that order. From then on its image, as of P, is
 * writable for every member's volume: each write is staged at the next seq and committed at
 * once, so the image stays every write up to some seq, as before. A power cut before the
 * promotion's record leaves a remote that was never promoted (its primaries are fenced only
 * in RAM); after it, the remote boots promoted.
 *
 * Fail back: the remote takes no more writes, finishes those it took, and records that it is
 * failing back. Boards restoring from it (firmware/boot/restore.ts: new boards, or boards
 * whose flash was lost) have copied what changed on it pass after pass; once each member's
 * board has made a whole pass over an image that no longer changes, the remote records that
 * it is no longer promoted, lifts the fence, and the boards end their restores and replicate
 * in the normal direction from the image they hold, which is the remote's.
 */

/** Metadata keys of the remote's store: the promotion (0 or absent: none, 1: promoted, 2:
 * failing back) and the seq of the promoted image. */
export const META_PROMOTED = 6
export const META_PROMOTED_SEQ = 7
const PROMOTED = 1
const FAILING_BACK = 2

/** Errors of promote, failback and writes to the promoted image, besides the store's. */
export const enum PromoteError {
    /** The remote is not promoted (or no longer takes writes: it fails back). */
    NotPromoted = 32,
    /** A promotion under way, or as many writes waiting as the remote holds. */
    Busy = 33,
}

/** What a promotion found: acknowledged data the primaries had sent that is not in the
 * promoted image, as far as the remote heard of it. */
export class PromoteReport {
    constructor(
        /** The promoted image's seq. */
        public seq: number,
        /** Seqs above it the remote had heard of (a manifest or a member's data). */
        public seqsLost: number,
        /** Writes in them: per seq, the manifest's portions, or what arrived when no manifest
         * did (a lower bound: writes of seqs the remote never heard of are not counted). */
        public writesLost: number,
        /** Age, at the promotion, of the oldest data the remote heard of and did not apply
         * (ms; 0: none). */
        public oldestMs: number,
        /** Age, at the promotion, of its last apply since boot (ms; -1: none): writes the
         * primaries acknowledged since may be lost, heard of or not. */
        public appliedAgeMs: number
    ) {}
}

/** A write to the promoted image, waiting for its turn. */
export class PromotedWrite {
    constructor(
        public member: number,
        public lba: number,
        public data: Buffer,
        public done: (err: number, seq: number) => void
    ) {}
}

/** Writes to a promoted image that may wait, per member of the group. */
export const PROMOTED_WRITES_PER_MEMBER = 4

/** What the remote heard above its applied seq: seqs, writes and the oldest's age. */
function lossOf(r: RemoteBoard): PromoteReport {
    const applied = r.appliedSeq()
    const seqs: number[] = []
    const writes: number[] = []
    let oldest = -1
    const count = (seq: number, n: number) => {
        if (!seqAfter(seq, applied)) return
        for (let i = 0; i < seqs.length; i++)
            if (seqs[i] === seq) {
                if (n > writes[i]) writes[i] = n
                return
            }
        seqs.push(seq)
        writes.push(n)
    }
    for (let i = 0; i < r.manifests.length; i++) count(r.manifests[i].seq, r.manifests[i].totalPortions())
    for (let i = 0; i < r.members.length; i++) {
        const a = r.members[i].arrivals
        for (let j = 0; j < a.length; j++) {
            if (!seqAfter(a[j].seq, applied)) continue
            // the members' portions of one seq add up
            let n = 0
            for (let k = 0; k < r.members.length; k++) {
                const b = r.members[k].arrivalsFor(a[j].seq, false)
                if (b) n += b.received
            }
            count(a[j].seq, n)
            if (a[j].at >= 0) if (oldest < 0 || a[j].at < oldest) oldest = a[j].at
        }
    }
    let total = 0
    for (let i = 0; i < writes.length; i++) total += writes[i]
    const now = r.clock ? r.clock.millis() : 0
    return new PromoteReport(applied, seqs.length, total, oldest < 0 ? 0 : now - oldest, r.appliedAt < 0 ? -1 : now - r.appliedAt)
}

/**
 * Promotes the remote: done(None, report) once its image is writable; done(err, null) when its
 * store could not record it (the remote stays fenced in RAM: promote again).
 */
export function promote(r: RemoteBoard, done: (err: number, report: PromoteReport | null) => void): void {
    const st = r.store as Required<RemoteStore>
    if (r.promoted) return done(r.promoteReady ? StoreError.None : PromoteError.Busy, null)
    r.promoted = true
    r.promoteReady = false
    r.failingBack = false
    r.failbackAsked = false
    // (an apply under way may still end: the REFUSEs name the seq again once it is recorded)
    r.promotedSeq = r.imageSeq()
    fenceAll(r, true)
    const report = lossOf(r)
    const top = newestHeard(r)
    const failed = (err: number) => {
        // (the primaries stay fenced until the remote restarts: promote again)
        r.promoted = false
        done(err, null)
    }
    const step = () => {
        // nothing under way: no apply, discard or staging write
        if (r.applying || r.discarding || r.stagingInFlight > 0 || r.stagingQueue.length > 0) {
            if (r.clock) r.clock.setTimer(STAGING_RETRY_MS, step)
            return
        }
        const p = r.imageSeq()
        st.discardAbove(r.discardFloor(), (err) => {
            if (err !== StoreError.None) return failed(err)
            r.manifests = []
            r.resyncing = false
            r.waiting = false
            for (let i = 0; i < r.members.length; i++) {
                const ms = r.members[i]
                ms.arrivals = []
                ms.resyncDone = false
                ms.requestPending = false
            }
            st.setMeta(META_PROMOTED_SEQ, p, (e1) => {
                if (e1 !== StoreError.None) return failed(e1)
                st.setMeta(META_PROMOTED, PROMOTED, (e2) => {
                    if (e2 !== StoreError.None) return failed(e2)
                    r.promotedSeq = p
                    fenceAll(r, true)
                    // the promoted image's writes take seqs after every one the primaries used
                    raiseFloor(r, top)
                    r.promoteReady = true
                    r.promotions++
                    r.lastPromote = report
                    done(StoreError.None, report)
                })
            })
        })
    }
    step()
}

/** At boot: the promotion recorded in the store, if any (the remote runs promoted, or failing
 * back, with its primaries fenced). */
export function promotedAtBoot(r: RemoteBoard): void {
    const st = r.store
    if (!st.meta) return
    const m = st.meta(META_PROMOTED)
    if (m !== PROMOTED && m !== FAILING_BACK) return
    r.promoted = true
    r.promoteReady = true
    r.failingBack = m === FAILING_BACK
    r.failbackAsked = r.failingBack
    r.promotedSeq = st.meta(META_PROMOTED_SEQ) >>> 0
    fenceAll(r, true)
}

function fenceAll(r: RemoteBoard, on: boolean): void {
    if (r.onFence) r.onFence(on, r.promotedSeq)
}

/**
 * A write to the promoted image of `member`'s volume: done(None, seq) once it is applied
 * (durable and visible), done(Refused) when the remote is not promoted or fails back,
 * done(Busy) when PROMOTED_WRITES_PER_MEMBER per member wait already.
 */
export function writePromoted(r: RemoteBoard, member: number, lba: number, data: Buffer, done: (err: number, seq: number) => void): void {
    if (!r.promoted || !r.promoteReady || r.failbackAsked || member < 0 || member >= r.members.length) return done(PromoteError.NotPromoted, 0)
    if (r.promotedQ.length >= PROMOTED_WRITES_PER_MEMBER * r.members.length) return done(PromoteError.Busy, 0)
    r.promotedQ.push(new PromotedWrite(member, lba, data, done))
    if (r.promotedQ.length === 1) nextWrite(r)
}

/** Writes the oldest waiting write at the next seq, and commits it: one at a time. A commit
 * that fails is tried again (the write is staged: no other may be committed before it). A
 * staging write that fails may have landed, as may one a power cut interrupted: before a write
 * after either, what is staged above the applied seq is discarded (a commit of its seq would
 * make it visible). */
function nextWrite(r: RemoteBoard): void {
    if (r.promotedQ.length === 0) return afterWrites(r)
    const w = r.promotedQ[0]
    const st = r.store as Required<RemoteStore>
    const later = (f: () => void) => {
        if (r.clock) r.clock.setTimer(STAGING_RETRY_MS, f)
    }
    if (!r.promotedClean) {
        st.discardAbove(r.discardFloor(), (e) => {
            if (e !== StoreError.None) return later(() => nextWrite(r))
            r.promotedClean = true
            nextWrite(r)
        })
        return
    }
    let seq = (r.appliedSeq() + 1) >>> 0
    if (r.seqFloor >= 0) if (seqAfter(r.seqFloor, r.appliedSeq())) seq = (r.seqFloor + 1) >>> 0
    const finish = (err: number) => {
        r.promotedQ.shift()
        if (err === StoreError.None) r.promotedWrites++
        w.done(err, seq)
        nextWrite(r)
    }
    const commit = () => {
        st.commit(seq, (err) => {
            if (err !== StoreError.None) return later(commit)
            finish(err)
        })
    }
    st.write(w.member, w.lba, seq, w.data, (err) => {
        if (err === StoreError.None) return commit()
        r.promotedClean = false
        finish(err)
    })
}

/**
 * Fail back: the promoted image takes no more writes; once those waiting are in, the remote
 * records that it fails back. done(None) then; the role goes back to the primaries when each
 * member's board holds the image (caughtUp).
 */
export function failback(r: RemoteBoard, done: (err: number) => void): void {
    const st = r.store as Required<RemoteStore>
    if (!r.promoted || !r.promoteReady) return done(PromoteError.NotPromoted)
    if (r.failbackAsked) return done(StoreError.None)
    r.failbackAsked = true
    for (let i = 0; i < r.members.length; i++) r.members[i].caughtUp = false
    r.afterWrites = () => {
        st.setMeta(META_PROMOTED, FAILING_BACK, (err) => {
            if (err !== StoreError.None) {
                r.failbackAsked = false
                return done(err)
            }
            r.failingBack = true
            done(StoreError.None)
        })
    }
    if (r.promotedQ.length === 0) afterWrites(r)
}

function afterWrites(r: RemoteBoard): void {
    const f = r.afterWrites
    r.afterWrites = null
    if (f) f()
}

/** Member `ms`'s board made a whole pass over the image failing back: once every member's
 * has, the remote is no longer promoted. */
export function caughtUp(r: RemoteBoard, ms: MemberState): void {
    ms.caughtUp = true
    if (!r.failingBack) return
    for (let i = 0; i < r.members.length; i++) if (!r.members[i].caughtUp) return
    // (passes meanwhile see an image that is not frozen, and come again)
    r.failingBack = false
    const st = r.store as Required<RemoteStore>
    const seq = r.appliedSeq()
    st.setMeta(META_PROMOTED, 0, (err) => {
        // not recorded: the boards' next passes come back here
        if (err !== StoreError.None) {
            ms.caughtUp = false
            r.failingBack = true
            return
        }
        r.promoted = false
        r.failbackAsked = false
        r.promoteReady = false
        r.failbacks++
        fenceAll(r, false)
        if (r.onFailedBack) r.onFailedBack(seq)
    })
}
