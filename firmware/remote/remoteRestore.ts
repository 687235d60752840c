import { getU32, putU32 } from "../codec/bytes"
import { Msg, Restored, RESTORE_NO_LBA, RESTORED_HEADER, RestoreOp } from "../protocol/messages"
import { seqAfter } from "../seq"
import { StoreError } from "../store/types"
import type { RemoteBoard, RemoteStore } from "./remoteBoard"
import { caughtUp } from "./remotePromote"
import { startResync } from "./remoteResync"
import { flashError, flashOk, MemberState, resend, STAGING_RETRY_MS } from "./remoteStaging"

/*
 * The remote's side of a restore (RemoteBoard, firmware/remote/remoteBoard.ts; docs/FORMAT.md,
 * "Restore"): a member whose board came back with a blank flash asks for the remote's applied
 * image of it. At BEGIN the remote holds its applied image for the restore (a full resync,
 * which ends only when every member, the restored one too, has made its copy), and discards
 * what is staged above it: the lost board's staged portions must never become visible, since
 * the restored board does not hold them. The other members send their unapplied seqs again.
 * A promoted remote (firmware/remote/remotePromote.ts) has nothing staged and needs no resync:
 * its image goes on changing with its own writes, so the board makes passes, each over what
 * changed since the one before, until the remote is failing back and a pass finds its image
 * as it began. The board then holds the remote's image exactly. Each function takes the remote.
 */

/** Takes `top` (the newest seq heard of, -1 for none) into the floor the remote's own seqs
 * start after (a restored board's, a promoted image's): none heard is no floor. */
export function raiseFloor(r: RemoteBoard, top: number): void {
    if (top >= 0) if (r.seqFloor < 0 || seqAfter(top, r.seqFloor)) r.seqFloor = top
}

/** The newest seq the remote has heard of: applied, staged, in a manifest or a SEQ_DONE, or
 * used by the lost primaries before a promotion; -1 when none (a blank remote that heard of
 * no seq yet: RESTORED says 0 then). */
export function newestHeard(r: RemoteBoard): number {
    const h = new Heard(r.imageSeq(), !r.appliedNothing())
    if (r.seqFloor >= 0) h.take(r.seqFloor)
    const st = r.store
    if (st.pinnedSeqs) {
        const seqs = st.pinnedSeqs()
        if (seqs.length > 0) h.take(seqs[seqs.length - 1])
    }
    for (let i = 0; i < r.manifests.length; i++) h.take(r.manifests[i].seq)
    for (let i = 0; i < r.members.length; i++) {
        const a = r.members[i].arrivals
        for (let j = 0; j < a.length; j++) h.take(a[j].seq)
    }
    return h.any ? h.top : -1
}

/** The newest of the seqs it is given, from a first one or from none (`any` false). */
class Heard {
    constructor(
        public top: number,
        public any: boolean
    ) {}

    take(seq: number): void {
        if (this.any) if (!seqAfter(seq, this.top)) return
        this.top = seq
        this.any = true
    }
}

/** The image does not change: the remote is not promoted (a restore holds it), or it is
 * failing back (it takes no more writes). */
function frozen(r: RemoteBoard): boolean {
    return !r.promoted || r.failingBack
}

/** RESTORE from member `ms`. */
export function takeRestore(r: RemoteBoard, ms: MemberState, msg: Buffer): void {
    const op = msg[1]
    if (op === RestoreOp.Begin) {
        ms.restoreReady = false
        ms.passOn = false
        ms.caughtUp = false
        r.restoresStarted++
        beginRestore(r, ms, ms.session)
        return
    }
    // asked before the restore began in this session: not answered (the board asks again from
    // the beginning in its next session)
    if (!ms.restoreReady || op > RestoreOp.More) {
        r.messagesRejected++
        return
    }
    if (op !== RestoreOp.More) {
        ms.passOn = true
        ms.passCursor = 0
        ms.passAny = op === RestoreOp.Pass
        ms.passBase = getU32(msg, 2)
        ms.passApplied = r.imageSeq()
        ms.passFrozen = frozen(r)
        ms.passCredit = 0
        ms.passReread = false
    }
    ms.passCredit += msg[6]
    if (!ms.passReading) pumpRestore(r, ms, ms.session)
}

/** Holds the applied image for the restore, and discards what is staged above it, once no
 * apply, discard or staging write of the member is under way; a promoted remote holds an
 * image of its own, with nothing staged. Then BEGUN. */
function beginRestore(r: RemoteBoard, ms: MemberState, session: number): void {
    if (session !== ms.session) return
    const st = r.store
    const later = () => {
        if (r.clock) r.clock.setTimer(STAGING_RETRY_MS, () => beginRestore(r, ms, session))
    }
    if (r.promoted) {
        // (a promotion still discarding what was staged: after it)
        if (!r.promoteReady) return later()
        return begun(r, ms, session)
    }
    if (r.applying || r.discarding || ms.staging > 0 || !st.discardAbove) return later()
    const top = newestHeard(r)
    const applied = r.discardFloor()
    if (!r.resyncing) startResync(r)
    ms.resyncDone = false
    r.discarding = true
    st.discardAbove(applied, (err) => {
        r.discarding = false
        if (err !== StoreError.None) {
            // a flash that refuses it for good raises the remote's alarm, as staging and
            // commits do: the restore may be its only write (the apps idle, the group waiting)
            flashError(r, err)
            return later()
        }
        flashOk(r)
        // what the others staged above the applied seq is gone: they send it again
        for (let i = 0; i < r.members.length; i++) if (r.members[i] !== ms) if (!r.members[i].evicted) resend(r, r.members[i])
        ms.arrivals = []
        if (r.onRestoreBegun) r.onRestoreBegun(ms.member, applied)
        if (session !== ms.session) return
        // (the top as it was before the discard: the board's seqs start after every one used)
        raiseFloor(r, top)
        begun(r, ms, session)
    })
}

function begun(r: RemoteBoard, ms: MemberState, session: number): void {
    if (!sendRestored(r, ms, RESTORE_NO_LBA, r.imageSeq(), Restored.Begun, null)) {
        if (r.clock) r.clock.setTimer(STAGING_RETRY_MS, () => begun(r, ms, session))
        return
    }
    ms.restoreReady = true
}

/** RESTORED: the answer's flags are added here. False when the channel has no room. */
function sendRestored(r: RemoteBoard, ms: MemberState, lba: number, applied: number, state: number, data: Buffer | null): boolean {
    const n = data ? data.length : 0
    const b = Buffer.alloc(RESTORED_HEADER + n)
    b[0] = Msg.Restored
    putU32(b, 1, lba)
    putU32(b, 5, applied)
    // (0 for none: the board takes it for none when the image is as of none too)
    const top = newestHeard(r)
    putU32(b, 9, top < 0 ? 0 : top)
    let flags = 0
    if (r.promoted) flags |= Restored.Promoted
    if (frozen(r)) if (state !== Restored.End || ms.passFrozen) flags |= Restored.Frozen
    b[13] = state | flags
    if (data) b.set(data, RESTORED_HEADER)
    return ms.channel.send(b)
}

/** Sends the pass's next answers while the board gives credit: the applied version of each
 * lba the pass takes, in increasing order, then END. */
function pumpRestore(r: RemoteBoard, ms: MemberState, session: number): void {
    if (session !== ms.session || !ms.passOn || ms.passCredit <= 0) return
    const st = r.store as Required<RemoteStore>
    // (busy until this answer is out: a MORE meanwhile adds credit only)
    ms.passReading = true
    const again = () => {
        if (r.clock)
            r.clock.setTimer(STAGING_RETRY_MS, () => {
                if (session !== ms.session) return
                ms.passReading = false
                pumpRestore(r, ms, session)
            })
    }
    // an image that changed since the pass began (a promoted remote's write): not frozen
    if (r.imageSeq() !== ms.passApplied) ms.passFrozen = false
    const lba = st.nextApplied(ms.member, ms.passCursor, ms.passBase, ms.passAny)
    if (lba < 0) {
        if (!sendRestored(r, ms, RESTORE_NO_LBA, ms.passApplied, Restored.End, null)) return again()
        ms.passOn = false
        ms.passReading = false
        if (r.failingBack) if (ms.passFrozen) caughtUp(r, ms)
        return
    }
    st.read(ms.member, lba, (err: number, data: Buffer | null) => {
        if (session !== ms.session) return
        // the store is busy or its flash failed for now: the same lba again; a block that
        // reads back damaged is read once more (a read can fail on its way from the flash)
        if (err !== 0 && err !== StoreError.Corrupt) return again()
        if (err !== 0)
            if (!ms.passReread) {
                ms.passReread = true
                return again()
            }
        ms.passReread = false
        let state = Restored.Block
        if (err !== 0 || !data) state = Restored.Damaged
        if (!sendRestored(r, ms, lba, ms.passApplied, state, state === Restored.Block ? data : null)) return again()
        ms.passReading = false
        ms.passCursor = lba + 1
        ms.passCredit--
        pumpRestore(r, ms, session)
    })
}
