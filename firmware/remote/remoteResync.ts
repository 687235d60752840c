import { Clock } from "../../hal/clock"
import { getU32 } from "../codec/bytes"
import { Manifest, Msg, REASON_EVICTED, RESYNC_DONE, RESYNC_REASON_SHIFT } from "../protocol/messages"
import { seqAfter } from "../seq"
import type { RemoteBoard } from "./remoteBoard"
import { HoldReason, tryApply } from "./remoteApply"
import { MemberState, resend } from "./remoteStaging"
import { forgetHeld } from "./remoteHeld"

/*
 * The remote's full resync and its discards (RemoteBoard, firmware/remote/remoteBoard.ts): a
 * member that cannot send the seqs the remote lacks (or that suspended) makes the remote hold
 * its applied image and ask every member for a copy of what changed, which it applies in one
 * commit; evictions and admissions of members; and staged versions of later seqs discarded
 * when the store is full of them. Each function takes the remote.
 */

export const RESYNC_REQUEST = Buffer.from([Msg.ResyncRequest])
export const RESYNC_WAIT = Buffer.from([Msg.ResyncWait])
/** How often the remote looks at its members' links during a resync. */
const WATCH_MS = 250

/** Looks at the members' links every WATCH_MS (watchLinks). */
export function armWatch(r: RemoteBoard): void {
    ;(r.clock as Clock).setTimer(WATCH_MS, () => {
        watchLinks(r)
        armWatch(r)
    })
}

/** During a resync: tells the members when it waits for a member whose link is down (a
 * member holding its app's acknowledgements for the resync suspends), and asks every member
 * again once every link is up. */
function watchLinks(r: RemoteBoard): void {
    const up = allUp(r)
    if (r.resyncing && !up && !r.waiting) {
        r.waiting = true
        for (let i = 0; i < r.members.length; i++) if (r.members[i].channel.isUp()) r.members[i].channel.send(RESYNC_WAIT)
    } else if (up && r.waiting) {
        r.waiting = false
        // a member whose copy is done hears that the resync waits no more (it announces the
        // copy again), or it would take its own wait at the history bound for a stall
        for (let i = 0; i < r.members.length; i++) {
            const ms = r.members[i]
            if (ms.resyncDone) ms.channel.send(RESYNC_REQUEST)
            else requestCopy(r, ms)
        }
    }
}

/** Asks a member for its copy while the resync waits for it, once every member's link is
 * up (a suspended member resumes when asked: before all are there, the resync could not
 * end) and the channel takes it. */
export function requestCopy(r: RemoteBoard, ms: MemberState): void {
    ms.requestPending = r.resyncing && !ms.resyncDone && (!allUp(r) || !ms.channel.send(RESYNC_REQUEST))
}

/** The requests the channels could not take yet, again. */
export function requestAll(r: RemoteBoard): void {
    for (let i = 0; i < r.members.length; i++) if (r.members[i].requestPending) requestCopy(r, r.members[i])
}

/** Every member's link is up, but those of evicted members. */
function allUp(r: RemoteBoard): boolean {
    for (let i = 0; i < r.members.length; i++) if (!r.members[i].evicted && !r.members[i].channel.isUp()) return false
    return true
}

/**
 * RESYNC from a member. A member whose confirmed seq is after the applied seq cannot send the
 * seqs between (its flash no longer holds them): the remote enters a full resync and asks
 * every member to copy what the remote lacks. A member's DONE gives its `from` and `to`.
 */
export function takeResync(r: RemoteBoard, ms: MemberState, msg: Buffer): void {
    const from = getU32(msg, 5)
    const to = getU32(msg, 9)
    const reason = msg[13] >> RESYNC_REASON_SHIFT
    // an evicted member is out of the group: it holds nothing up
    if (ms.evicted || reason === REASON_EVICTED) return
    // a store that has applied nothing: every seq of the group's from this base on is after
    // its applied seq (RemoteBoard.blankBase), whatever the u32 seqs have wrapped to
    if (r.appliedNothing())
        if (!r.blankBaseSet) {
            r.blankBase = (getU32(msg, 1) - 0x40000000) >>> 0
            r.blankBaseSet = true
        }
    if (reason !== 0) {
        r.suspendedMember = ms.member
        r.suspendReason = reason
    }
    if (!r.resyncing) {
        // from a member that has its history (or a stale announcement): nothing to do; a
        // member that suspended needs the resync to resume, whatever its base
        if (!seqAfter(getU32(msg, 1), r.appliedSeq()) && reason === 0) return
        startResync(r)
    }
    // what the member staged up to its base, its copy holds (it is copied again, or was):
    // superseded at the commit anyway, it is not kept for it. Said again at every new
    // session, so that the store also forgets the versions a boot of the remote found again
    // (a drop is in RAM only), or a long resync under power cuts fills the store with them
    const base = getU32(msg, 1)
    if (seqAfter(base, r.appliedSeq())) {
        forgetHeld(r, ms, base)
        r.store.dropStaged(ms.member, base, () => {})
    }
    if ((msg[13] & RESYNC_DONE) === 0) {
        // the member copies (again), or suspended: its earlier copy no longer stands
        ms.resyncDone = false
        requestCopy(r, ms)
        return
    }
    // a copy stays good while the image grows: the blocks it skipped are on the remote as
    // of its base, and newer versions only came from this member
    if (seqAfter(from, to)) return
    ms.resyncDone = true
    ms.resyncFrom = from
    ms.resyncTo = to
    tryApply(r)
}

/**
 * EVICTED or ADMITTED of a member, from any member's link: the newest news wins (an
 * ADMITTED over an EVICTED of the same seq; an EVICTED restored at boot, seq 0, only over
 * none), whatever order the links bring them in.
 */
export function takeMembership(r: RemoteBoard, ms: MemberState, admitted: boolean, seq: number): void {
    const h = ms.membershipSeq
    const newer = h < 0 || (admitted ? !seqAfter(h, seq) : seq !== 0 && seqAfter(seq, h))
    if (!newer) return
    ms.membershipSeq = seq
    if (ms.evicted === !admitted) return
    ms.evicted = !admitted
    // an evicted member's portions may never come; an admitted one copies its whole image,
    // which the group's next resync applies
    if (admitted) ms.resyncDone = false
    else tryApply(r)
}

/** Holds at the applied seq (the gold image) until every member's copy is in, and asks
 * every member for its copy. */
export function startResync(r: RemoteBoard): void {
    r.resyncing = true
    r.resyncsStarted++
    if (r.onResyncStarted) r.onResyncStarted()
    r.lastHold = HoldReason.Resync
    for (let i = 0; i < r.members.length; i++) {
        r.members[i].resyncDone = false
        requestCopy(r, r.members[i])
    }
}

/**
 * In a full resync: the seq to apply, once every member (but evicted ones) has made its
 * copy: the first final seq at or after the newest `to` whose chain of manifests reaches back
 * to the oldest `from` (or to the applied seq), every seq of it complete (checked by the
 * caller for the seq itself, here for the ones before it). Null while that is not so
 * (lastHold says why).
 */
export function resyncTarget(r: RemoteBoard): Manifest | null {
    let target = 0
    let low = 0
    let any = false
    for (let i = 0; i < r.members.length; i++) {
        const ms = r.members[i]
        if (ms.evicted) continue
        if (!ms.resyncDone) {
            r.lastHold = HoldReason.Resync
            return null
        }
        if (!any || seqAfter(ms.resyncTo, target)) target = ms.resyncTo
        if (!any || seqAfter(low, ms.resyncFrom)) low = ms.resyncFrom
        any = true
    }
    let best: Manifest | null = null
    for (let i = 0; i < r.manifests.length; i++) {
        const m = r.manifests[i]
        if (!seqAfter(target, m.seq) && (!best || seqAfter(best.seq, m.seq))) best = m
    }
    r.lastHold = HoldReason.NoManifest
    if (!best || !any) return null
    let m = best
    for (let n = 0; n < r.manifests.length; n++) {
        if (n > 0 && !r.complete(m)) {
            r.lastHold = HoldReason.MissingPortions
            return null
        }
        const prev = m.prevSeq
        if (!seqAfter(m.seq, prev)) return null
        // below every member's first needed seq, or at the applied one: the chain is whole
        if (seqAfter(low, prev) || !seqAfter(prev, r.appliedSeq())) return best
        let found: Manifest | null = null
        for (let j = 0; j < r.manifests.length; j++) if (r.manifests[j].seq === prev) found = r.manifests[j]
        if (!found) return null
        m = found
    }
    return null
}

/**
 * The store is full while staging a portion of `seq`: if versions of later seqs take the
 * room, they are discarded (durably) and every member sends its unapplied seqs again, in
 * seq order, so the seqs that apply first are staged first and their apply frees room. Not
 * in a full resync, whose one commit needs every copy (the remote's flash must hold one).
 */
export function makeRoom(r: RemoteBoard, seq: number): void {
    const st = r.store
    if (r.discarding || r.resyncing || !st.discardAbove || !st.pinnedSeqs) return
    const staged = st.pinnedSeqs()
    if (staged.length === 0 || !seqAfter(staged[staged.length - 1], seq)) return
    r.discarding = true
    st.discardAbove(seq, (err) => {
        r.discarding = false
        if (err !== 0) return
        r.storeFull = false
        r.discardsForRoom++
        for (let i = 0; i < r.members.length; i++) if (!r.members[i].evicted) resend(r, r.members[i])
    })
}
