import { encodeApplied, Manifest, SEQ_DONE_SHORT, TRACKED } from "../protocol/messages"
import { seqAfter, seqNext } from "../seq"
import { StoreError } from "../store/types"
import type { RemoteBoard, RemoteStore } from "./remoteBoard"
import { Arrivals, FLASH_FAILED_RETRY_MS, flashError, flashOk, MemberState, overflow, resend } from "./remoteStaging"
import { resyncTarget, startResync } from "./remoteResync"
import { forgetHeld } from "./remoteHeld"

/*
 * The remote's apply (RemoteBoard, firmware/remote/remoteBoard.ts): the group's final
 * manifests, and seq s applied, atomically on the remote's flash, only once its manifest is
 * final, every member of it has sent all its portions of s, and the seq before s in the
 * group's chain is applied; the staged versions are read back and checked before the commit.
 * Each function takes the remote.
 */

/** Why the remote has not applied the next seq (for the console). */
export const enum HoldReason {
    None = 0,
    NoManifest = 1,
    MissingPortions = 2,
    Applying = 3,
    /** A full resync waits for members' copies of their images. */
    Resync = 4,
}

/** Pause before a commit that failed is tried again. */
const COMMIT_RETRY_MS = 50

/** A final manifest, through any member's link (RemoteBoard.onManifest). */
export function takeManifest(r: RemoteBoard, ms: MemberState, m: Manifest): void {
    if (!r.unapplied(m.seq)) return
    for (let i = 0; i < r.manifests.length; i++) if (r.manifests[i].seq === m.seq) return
    if (r.manifests.length >= r.maxSeqs) {
        if (!r.resyncing) return overflow(r, ms)
        // in a full resync the oldest goes: the group has moved on past it (the members'
        // copies extend past the manifests they no longer hold, and so no longer need it)
        let o = 0
        for (let i = 1; i < r.manifests.length; i++) if (seqAfter(r.manifests[o].seq, r.manifests[i].seq)) o = i
        r.manifests[o] = r.manifests[r.manifests.length - 1]
        r.manifests.pop()
        r.overBound++
    }
    let tracked = false
    for (let i = 0; i < m.entries.length; i++) {
        if (m.entries[i].member >= r.members.length) {
            r.manifestsRejected++
            return
        }
        if (m.entries[i].portions === TRACKED) tracked = true
    }
    r.manifests.push(m)
    // a member tracks this seq (it suspended): only a resync can bring the group past it
    if (tracked && !r.resyncing) startResync(r)
    tryApply(r)
}

/** The manifest that follows the applied seq in the group's chain, if it has arrived. */
function nextManifest(r: RemoteBoard): Manifest | null {
    const applied = r.appliedSeq()
    for (let i = 0; i < r.manifests.length; i++) {
        const m = r.manifests[i]
        if (m.prevSeq === applied || (m.seq === seqNext(applied) && !seqAfter(m.prevSeq, applied))) return m
    }
    return null
}

/** Every member's portions of m have arrived (in a full resync: of the members that hold
 * their seq m, the ones after their confirmed seq) (RemoteBoard.complete). */
export function seqComplete(r: RemoteBoard, m: Manifest): boolean {
    if (!r.checkPortions) return true
    for (let i = 0; i < m.entries.length; i++) {
        const e = m.entries[i]
        if (e.portions === 0) continue
        // a member's seqs at or before its confirmed seq are gone from it: its copy has them
        if (r.resyncing && r.members[e.member].resyncDone && seqAfter(r.members[e.member].resyncFrom, m.seq)) continue
        // tracked by a member that suspended: never applied but through its resync
        if (e.portions === TRACKED) return false
        const a = r.members[e.member].arrivalsFor(m.seq, false)
        // an evicted member's portions may never come: what arrived of them is applied,
        // its writes after that are lost (docs/FORMAT-shuttle.md, "Eviction")
        if (r.members[e.member].evicted && (!a || (a.staging === 0 && !a.done))) continue
        if (!a || !a.done || a.staging > 0) return false
        if (a.received !== a.done.sent) return false
        const short = (a.done.flags & SEQ_DONE_SHORT) !== 0
        if (a.done.sent !== e.portions && !(short && a.done.sent < e.portions)) return false
    }
    return true
}

/** Applies the next seq if it may be now (in a full resync, the resync's target). */
export function tryApply(r: RemoteBoard): void {
    // (a promoted remote applies only its own writes: firmware/remote/remotePromote.ts)
    if (r.applying || r.promoted) return
    const m = r.resyncing ? resyncTarget(r) : nextManifest(r)
    if (!m) {
        if (r.resyncing) return
        r.lastHold = r.manifests.length > 0 || anyArrivals(r) ? HoldReason.NoManifest : HoldReason.None
        return
    }
    if (!r.complete(m)) {
        r.lastHold = HoldReason.MissingPortions
        return
    }
    r.applying = true
    r.lastHold = HoldReason.Applying
    checkStaged(r, m.seq, (ok) => {
        // the reads take a while: a member's copy may have stopped standing meanwhile (it
        // suspended, its session ended), and what it staged been dropped; the commit
        // happens only if the same seq still may be applied, else the apply is chosen again
        const again = ok ? (r.resyncing ? resyncTarget(r) : nextManifest(r)) : null
        if (again === m && r.complete(m)) return commit(r, m)
        r.applying = false
        if (ok) {
            r.appliesRechosen++
            tryApply(r)
        }
    })
}

/**
 * Reads back every staged version the commit at `upTo` may make visible (of seq `upTo`; in a
 * resync, of every seq up to it) and checks it against its record's CRC, the CRC its PORTION
 * carried: a version damaged on the remote's flash (a bit flipped at rest, a write that went
 * wrong) is never applied. Its member sends its unapplied seqs again (the new copy supersedes
 * the damaged one) and done(false); done(true) when every version checks. A damaged version
 * that a later one of the same block in the list supersedes is never visible, and the member
 * may no longer hold it (in a resync, a version staged before its copy began, of a seq before
 * its `from`): it is passed over, or the member's resends would never end.
 */
function checkStaged(r: RemoteBoard, upTo: number, done: (ok: boolean) => void): void {
    const st = r.store
    if (!st.pinned || !st.readPinned || !st.pinnedSeqs) return done(true)
    const list: { member: number; lba: number; seq: number }[] = []
    const seqs = r.resyncing ? st.pinnedSeqs() : [upTo]
    for (let i = 0; i < seqs.length; i++) {
        if (seqAfter(seqs[i], upTo)) break
        const vs = st.pinned(-1, seqs[i])
        for (let j = 0; j < vs.length; j++) list.push(vs[j])
    }
    checkNext(r, list, 0, 0, done)
}

/** A version of the same block with a later seq is in the list: list[i] is not visible after
 * the commit. */
function superseded(list: { member: number; lba: number; seq: number }[], i: number): boolean {
    const v = list[i]
    for (let j = 0; j < list.length; j++) {
        const w = list[j]
        if (w.member === v.member) if (w.lba === v.lba) if (seqAfter(w.seq, v.seq)) return true
    }
    return false
}

function checkNext(r: RemoteBoard, list: { member: number; lba: number; seq: number }[], i: number, tries: number, done: (ok: boolean) => void): void {
    if (i >= list.length) return done(true)
    const st = r.store as Required<RemoteStore>
    st.readPinned(list[i], (err: number) => {
        if (err === 0 || err === StoreError.NotFound) return checkNext(r, list, i + 1, 0, done)
        // a read that failed once may be a bad read, not damage: read it again
        if (err === StoreError.Corrupt && tries < 1) return checkNext(r, list, i, tries + 1, done)
        if (err === StoreError.Corrupt) {
            const ms = r.members[list[i].member]
            if (superseded(list, i)) {
                r.stagedDamagedSuperseded++
                return checkNext(r, list, i + 1, 0, done)
            }
            r.stagedDamaged++
            // an evicted member cannot send it again: its seqs apply with what arrived
            if (ms && !ms.evicted) {
                resend(r, ms)
                return done(false)
            }
            return checkNext(r, list, i + 1, 0, done)
        }
        // the store is busy or its flash failed for now: the apply is tried again later
        flashError(r, err)
        retryApply(r)
        done(false)
    })
}

/** The apply is tried again after a pause (a commit or a check the flash failed). */
function retryApply(r: RemoteBoard): void {
    const clock = r.clock
    if (!clock) return
    clock.setTimer(r.flashFailed ? FLASH_FAILED_RETRY_MS : COMMIT_RETRY_MS, () => tryApply(r))
}

function commit(r: RemoteBoard, m: Manifest): void {
    r.store.commit(m.seq, (err) => {
        r.applying = false
        if (err !== 0) {
            // not applied (the flash failed, for now or for good): the image stays as it was
            flashError(r, err)
            retryApply(r)
            return
        }
        flashOk(r)
        r.storeFull = false
        if (r.resyncing) {
            r.resyncing = false
            r.resyncsApplied++
            r.suspendedMember = -1
            r.suspendReason = 0
            // a member started its copy again while the commit was under way (it suspended):
            // the next resync begins at once
            for (let i = 0; i < r.members.length; i++) {
                const ms = r.members[i]
                if (!ms.evicted && !ms.resyncDone && !r.resyncing) startResync(r)
            }
        }
        r.seqsApplied++
        if (r.clock) r.appliedAt = r.clock.millis()
        forget(r, m.seq)
        if (r.onApplied) r.onApplied(m.seq, m)
        const applied = encodeApplied(m.seq)
        for (let i = 0; i < r.members.length; i++) r.members[i].channel.send(applied)
        tryApply(r)
    })
}

/** Drops the manifests, arrivals and held seqs up to `applied`. */
function forget(r: RemoteBoard, applied: number): void {
    const keep: Manifest[] = []
    for (let i = 0; i < r.manifests.length; i++) if (seqAfter(r.manifests[i].seq, applied)) keep.push(r.manifests[i])
    r.manifests = keep
    for (let i = 0; i < r.members.length; i++) {
        const ms = r.members[i]
        const left: Arrivals[] = []
        for (let j = 0; j < ms.arrivals.length; j++) if (seqAfter(ms.arrivals[j].seq, applied)) left.push(ms.arrivals[j])
        ms.arrivals = left
    }
    forgetHeld(r, null, applied)
}

function anyArrivals(r: RemoteBoard): boolean {
    for (let i = 0; i < r.members.length; i++) if (r.members[i].arrivals.length > 0) return true
    return false
}
