import { getU32, putU32 } from "../codec/bytes"
import { Msg, RESTORE_BEGIN, RESTORED_HEADER } from "../protocol/messages"
import { seqAfter } from "../seq"
import { StoreError } from "../store/types"
import type { RemoteBoard, RemoteStore } from "./remoteBoard"
import { startResync } from "./remoteResync"
import { MemberState, resend, STAGING_RETRY_MS } from "./remoteStaging"

/*
 * The remote's side of a restore (RemoteBoard, firmware/remote/remoteBoard.ts; docs/FORMAT.md,
 * "Restore"): a member whose board came back with a blank flash asks for the remote's applied
 * image of it, block by block. At RESTORE_BEGIN the remote holds its applied image (a full
 * resync, which ends only when every member, the restored one too, has made its copy), and
 * discards what is staged above it: the lost board's staged portions must never become
 * visible, since the restored board does not hold them. The other members send their unapplied
 * seqs again. Each function takes the remote.
 */

/** RESTOREs a member may have waiting for their answer (it asks for at most this many). */
export const RESTORE_WINDOW = 4

/** RESTORE of `lba` from member `ms`. */
export function takeRestore(r: RemoteBoard, ms: MemberState, msg: Buffer): void {
    const lba = getU32(msg, 1)
    if (lba === RESTORE_BEGIN) {
        ms.restoreReady = false
        ms.restoreQ = []
        r.restoresStarted++
        beginRestore(r, ms, ms.session)
        return
    }
    // asked before the restore began in this session, or past the window: not answered (the
    // board asks again from the beginning in its next session)
    if (!ms.restoreReady || ms.restoreQ.length >= RESTORE_WINDOW) {
        r.messagesRejected++
        return
    }
    ms.restoreQ.push(lba)
    if (ms.restoreQ.length === 1) answerRestore(r, ms, ms.session)
}

/** The newest seq the remote has heard of: applied, staged, in a manifest or a SEQ_DONE. */
function newestHeard(r: RemoteBoard): number {
    let top = r.appliedSeq()
    const st = r.store
    if (st.pinnedSeqs) {
        const seqs = st.pinnedSeqs()
        if (seqs.length > 0) if (seqAfter(seqs[seqs.length - 1], top)) top = seqs[seqs.length - 1]
    }
    for (let i = 0; i < r.manifests.length; i++) if (seqAfter(r.manifests[i].seq, top)) top = r.manifests[i].seq
    for (let i = 0; i < r.members.length; i++) {
        const a = r.members[i].arrivals
        for (let j = 0; j < a.length; j++) if (seqAfter(a[j].seq, top)) top = a[j].seq
    }
    return top
}

/** Holds the applied image for the restore, and discards what is staged above it, once no
 * apply, discard or staging write of the member is under way. */
function beginRestore(r: RemoteBoard, ms: MemberState, session: number): void {
    if (session !== ms.session) return
    const st = r.store
    if (r.applying || r.discarding || ms.staging > 0 || !st.discardAbove) {
        if (r.clock) r.clock.setTimer(STAGING_RETRY_MS, () => beginRestore(r, ms, session))
        return
    }
    const top = newestHeard(r)
    const applied = r.appliedSeq()
    if (!r.resyncing) startResync(r)
    ms.resyncDone = false
    r.discarding = true
    st.discardAbove(applied, (err) => {
        r.discarding = false
        if (err !== StoreError.None) {
            if (r.clock) r.clock.setTimer(STAGING_RETRY_MS, () => beginRestore(r, ms, session))
            return
        }
        // what the others staged above the applied seq is gone: they send it again
        for (let i = 0; i < r.members.length; i++) if (r.members[i] !== ms) if (!r.members[i].evicted) resend(r, r.members[i])
        ms.arrivals = []
        if (r.onRestoreBegun) r.onRestoreBegun(ms.member, applied)
        if (session !== ms.session) return
        ms.restoreReady = true
        ms.restoreTop = top
        ms.restoreQ.push(RESTORE_BEGIN)
        if (ms.restoreQ.length === 1) answerRestore(r, ms, session)
    })
}

/** Answers the oldest RESTORE waiting: RESTORED with the applied version of its lba. */
function answerRestore(r: RemoteBoard, ms: MemberState, session: number): void {
    if (session !== ms.session || ms.restoreQ.length === 0) return
    const lba = ms.restoreQ[0]
    const again = () => {
        if (r.clock) r.clock.setTimer(STAGING_RETRY_MS, () => answerRestore(r, ms, session))
    }
    const send = (state: number, data: Buffer | null) => {
        if (session !== ms.session) return
        const n = data ? data.length : 0
        const b = Buffer.alloc(RESTORED_HEADER + n)
        b[0] = Msg.Restored
        putU32(b, 1, lba)
        putU32(b, 5, r.appliedSeq())
        putU32(b, 9, ms.restoreTop)
        b[13] = state
        if (data) b.set(data, RESTORED_HEADER)
        // the channel has no room: the same answer again shortly
        if (!ms.channel.send(b)) return again()
        ms.restoreQ.shift()
        answerRestore(r, ms, session)
    }
    const st = r.store as Required<RemoteStore>
    if (lba === RESTORE_BEGIN || !st.read) return send(0, null)
    st.read(ms.member, lba, (err: number, data: Buffer | null) => {
        if (err === StoreError.Corrupt) return send(2, null)
        // the store is busy or its flash failed for now: the same lba again
        if (err !== 0) return again()
        send(data ? 1 : 0, data)
    })
}
