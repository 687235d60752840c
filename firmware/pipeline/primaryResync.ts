import { getU32 } from "../codec/bytes"
import { seqAfter, seqNext } from "../seq"
import { encodeManifest, encodeResync, Manifest, Msg, RESUME_HELD, RESUME_NONE, RESYNC_DONE, RESYNC_REASON_SHIFT } from "../protocol/messages"
import { StoreError } from "../store/types"
import type { PrimaryBoard } from "./primary"
import { READ_TRIES, Resync, SeqFlag, SuspendReason } from "./primaryTypes"
import { atBound, confirmStore, PendingWrite, remoteConfirmed, stamp } from "./primaryAck"
import { damaged, pumpBoard } from "./primaryPump"

/*
 * What brings a primary's remote (PrimaryBoard, firmware/pipeline/primary.ts) to its data when
 * the normal way cannot: the seqs recovered after a boot, a new session of the link, the final
 * manifests kept for the remote, tracking while suspended, and the full resync, which copies the
 * blocks the remote lacks into new seqs. Each function takes the board (counters go up as
 * `b.n = b.n + 1`, see firmware/pipeline/primaryAck.ts).
 */

/** A record for `seq` after the others (its index). */
export function addSeq(b: PrimaryBoard, seq: number): number {
    const i = b.seqs
    b.seqs = i + 1
    // the history bound keeps room for it: the board suspends when the records reach the
    // history's slack past the bound (see pastHold and historyRoom)
    if (i >= b.seqOf.length) throw new Error("seq records full")
    b.seqOf[i] = seq
    b.portionsOf[i] = 0
    b.stateOf[i] = 0
    b.firstWriteOf[i] = -1
    b.heldCount[i] = -1
    return i
}

// ---- recovery

/** A recovered seq's record (its index), sent from flash and marked short; -1 when the
 * records are full: room stays for the capture seq and the next adopt's, at which the board
 * suspends (its history is past the bound), so the seqs left out are never sent but
 * resynced. */
export function recoverSeq(b: PrimaryBoard, seq: number): number {
    if (b.seqs + 2 >= b.seqOf.length) return -1
    const i = addSeq(b, seq)
    const portions = b.store.pinned(b.opts.member, seq).length
    b.portionsOf[i] = portions
    b.stateOf[i] = SeqFlag.Spilled | SeqFlag.Short | SeqFlag.Closed
    if (portions > 0) {
        const now = b.clock.millis()
        b.firstWriteOf[i] = now
    }
    return i
}

/**
 * A new session with the remote (not a resumed one): the remote knows nothing of the earlier
 * session's messages, so every closed seq it has not applied goes again, from flash. `resume`
 * is the remote's applied seq: a remote replaced (or restored) since may hold less than the
 * last one confirmed, and then a resync copies what it lacks.
 */
export function newSession(b: PrimaryBoard, resume: Buffer): void {
    if (b.verifier) b.verifier.waiting = false
    if (resume.length >= 4) b.remoteApplied = getU32(resume, 0)
    let flags = 0
    if (resume.length >= 5) flags = resume[4]
    // the remote names the seqs it holds first (HELD): no seq goes again before that
    b.heldWait = (flags & RESUME_HELD) !== 0
    // a remote that has applied nothing (a new one, its flash blank) holds none of this
    // board's seqs. Its applied seq 0 would be one of the group's once the u32 seqs have
    // wrapped, even after them: a board that confirmed a seq takes the remote's as 2^30 before
    // it (before every seq it holds), so it copies its whole image; one that confirmed none
    // (a new group, its first seq 1) goes on from 0
    const none = (flags & RESUME_NONE) !== 0
    if (none) if (b.store.hasConfirmed()) b.remoteApplied = (b.store.confirmedSeq() - 0x40000000) >>> 0
    const applied = b.remoteApplied
    // a remote with less than the copy took it to have (replaced again): copy anew (a board
    // that confirmed none sends all it holds as seqs: its copy needs nothing more)
    if (b.resync !== Resync.Off) if (seqAfter(b.resyncApplied, applied)) b.resync = Resync.Off
    if (!none) remoteConfirmed(b, applied)
    b.pendingMsg = null
    b.pendingCtrl = b.membership.slice(0)
    b.manifests = b.manifestsKept.slice(0)
    // every seq sent or being sent goes again, from flash
    const states = b.stateOf
    for (let i = 0; i < b.seqs; i++) {
        const f = states[i]
        if (f & (SeqFlag.Sending | SeqFlag.Sent | SeqFlag.Spilled)) states[i] = (f & ~(SeqFlag.Sending | SeqFlag.Sent)) | SeqFlag.Spilled
        // what the remote holds of them, it says in this session (HELD)
        b.heldCount[i] = -1
    }
    b.fromFlash = null
    b.checking = false
    // the remote's history ends before this board's flash history begins (the store unpins a
    // seq's versions only once its confirm record is durable): no resume
    if (b.suspended) return startResync(b)
    // a new session: the remote says so again if its resync waits for another member
    b.resyncAsked = true
    if (b.resync === Resync.Off) if (!seqAfter(b.store.confirmedSeq(), applied)) return
    startResync(b)
}

// ---- suspended: tracking

/** Drops the history of every seq up to the capture seq: confirmed locally, not sent. */
export function track(b: PrimaryBoard): void {
    const c = b.seqs - 1
    const seq = b.seqOf[c]
    b.seqOf[0] = seq
    b.stateOf[0] = b.stateOf[c]
    b.seqs = 1
    // a seq that waited for a damaged block is dropped with the others (the resync reads
    // the block's newest version again)
    if (b.damagedSeq !== 0) b.damagedLba = -1
    b.pendingMsg = null
    const ring = b.ring
    while (ring.count > 0) ring.shift()
    b.lbasInSeq.clear()
    b.portionsOf[0] = 0
    b.firstWriteOf[0] = -1
    b.heldCount[0] = -1
    trimKept(b)
    // once the local confirmation is durable, a group of one acknowledges at once; a group
    // member when the shuttle next takes its totals
    confirmStore(b, seq, true)
}

// ---- final manifests kept for the remote

/** Keeps a final manifest to send, and for every new session until the remote applies its
 * seq. */
export function keepManifest(b: PrimaryBoard, m: Manifest): void {
    const msg = encodeManifest(m)
    // manifests waiting to go out are bounded like the kept ones: the oldest go first (a
    // resync's copy extends past a manifest the remote never got, see extendCopy)
    const out = b.manifests
    if (out.length >= b.historySeqs) out.shift()
    out.push(msg)
    // the remote may still need it (another member's history, a resync's chain of seqs);
    // the board suspends before they fill their room, or else the oldest goes
    const kept = b.manifestsKept
    if (kept.length >= b.seqOf.length) kept.shift()
    kept.push(msg)
    trimKept(b)
    if (b.resync === Resync.Done)
        if (b.extendCopy)
            if (b.extendCopy()) {
                // the copy is not done after all: the remote waits for it again (a board whose
                // copy is done is neither suspended nor waiting to resume)
                b.resync = Resync.Copying
                startResync(b)
            }
}

/** While suspended the board keeps at most half the history bound of final manifests:
 * the oldest go (a resync's copy then extends past them, see extendCopy). */
export function trimKept(b: PrimaryBoard): void {
    if (b.suspended) while (b.manifestsKept.length > b.historySeqs >> 1) b.manifestsKept.shift()
}

// ---- the full resync

/**
 * A full resync: the remote lacks seqs this board no longer holds (it was replaced, or
 * restored from an older image), or it asked for one. The board copies every block whose
 * newest version is in those seqs (after the remote's applied seq, at or before the
 * confirmed one): read and written again, stamped with the capture seq like an app write, and
 * sent the normal way. Its image as of any final seq at or after `to` is then the remote's
 * image of it overlaid with its seqs after the confirmed one, which it still holds; the
 * remote applies that for every member in one commit (docs/FORMAT.md, "Full resync"). A
 * resync under way is only announced again.
 */
export function startResync(b: PrimaryBoard): void {
    // suspended: the copy waits for the resume; the remote only hears of the suspension
    if (b.suspended) return announceResync(b)
    if (b.resumePending) return announceResync(b)
    if (b.resync === Resync.Off) {
        // the copy covers the seqs up to the confirmed one, or later (extendCopy)
        const c = b.store.confirmedSeq()
        b.resync = Resync.Copying
        b.resyncLba = 0
        b.resyncCopied = 0
        b.resyncApplied = b.remoteApplied
        b.resyncBase = c
        b.resyncTo = c
        b.resyncsStarted = b.resyncsStarted + 1
    }
    announceResync(b)
    resyncStep(b)
}

/** RESYNC to the remote: the copy is under way, done, or (suspended) not started yet, with
 * the reason of the suspension in the flags' high bits. */
export function announceResync(b: PrimaryBoard): void {
    let c = b.store.confirmedSeq()
    if (b.resync !== Resync.Off) c = b.resyncBase
    if (b.suspended) c = b.captureSeq()
    let flags = b.suspendReason << RESYNC_REASON_SHIFT
    if (b.resync === Resync.Done) flags |= RESYNC_DONE
    let from = seqNext(c)
    if (b.heldFrom) from = b.heldFrom(c)
    // the image holds as of any final seq at or after `to`, which is never before `from`
    let to = b.resyncTo
    if (seqAfter(from, to)) to = from
    if (b.suspended) to = c
    // the copy announced as done holds as of `to` (the group must close it: hasDataToSend)
    else if (b.resync === Resync.Done) b.resyncTo = to
    // the newest RESYNC says it all: one not sent yet is replaced (a long outage never
    // piles them up)
    const q: Buffer[] = []
    const ctrl = b.pendingCtrl
    for (let i = 0; i < ctrl.length; i++) if (ctrl[i][0] !== Msg.Resync) q.push(ctrl[i])
    const msg = encodeResync(c, from, to, flags)
    q.push(msg)
    b.pendingCtrl = q
    pumpBoard(b)
}

/** Finds the next block to copy (a few lbas per run-loop turn), and reads it: one copy at a
 * time, and only while no write waits for a seq (a write the read would not see). */
export function resyncStep(b: PrimaryBoard): void {
    if (b.resync !== Resync.Copying) return
    if (b.resyncBusy) return
    if (b.unstamped.length > 0) return
    const m = b.opts.member
    const store = b.store
    // a damaged block holds the copy until the operator decides; a new write of it ends that
    if (b.damagedLba >= 0) if (b.damagedSeq === 0) if (store.newestSeq(m, b.damagedLba) === b.damagedAt) return
    const count = b.opts.lbaCount
    for (let n = 0; n < 32; n++) {
        const lba = b.resyncLba
        if (lba >= count) break
        const s = store.newestSeq(m, lba)
        if (s >= 0) {
            let wanted = b.copyAll
            if (!wanted) wanted = seqAfter(s, b.resyncApplied)
            if (!wanted) if (b.verifier) wanted = b.verifier.differs(lba)
            if (wanted)
                if (!resyncNote(b, s)) {
                    // a write of the block the store has not taken yet: the copy reads it once
                    // it has (a copy read before it would land after it, older data over newer)
                    if (b.storing[lba >> 3] & (1 << (lba & 7))) return resyncLater(b, 2)
                    b.resyncBusy = true
                    b.resyncHit = false
                    store.read(m, lba, (err, data) => copyRead(b, err, data))
                    return
                }
        }
        b.resyncLba = b.resyncLba + 1
    }
    if (b.resyncLba < count) return resyncLater(b, 0)
    if (b.extendCopy) if (b.extendCopy()) return resyncStep(b)
    b.resync = Resync.Done
    // no version after the confirmed seq: the image is the remote's, as of the next seq
    if (!seqAfter(b.resyncTo, b.resyncBase)) b.resyncTo = seqNext(b.resyncTo)
    startResync(b)
}

/** The copy goes on after `ms` (a few lbas per run-loop turn, or a read the store refused
 * for now). */
function resyncLater(b: PrimaryBoard, ms: number): void {
    b.resyncBusy = true
    b.clock.setTimer(ms, () => {
        b.resyncBusy = false
        resyncStep(b)
    })
}

/** A version with seq s after the confirmed seq is held and sent: the copy must reach at
 * least its seq (true). At or before it: the block needs a copy (false). */
function resyncNote(b: PrimaryBoard, s: number): boolean {
    if (!seqAfter(s, b.resyncBase)) return false
    if (seqAfter(s, b.resyncTo)) b.resyncTo = s
    return true
}

/** The block to copy was read: written again like an app write, unless the app wrote it during
 * the read (it is read again) or a newer version landed meanwhile (no copy); unreadable: counted,
 * not copied, or the copy waits for the operator. */
function copyRead(b: PrimaryBoard, err: number, data: Buffer | null): void {
    const newer = resyncNote(b, b.store.newestSeq(b.opts.member, b.resyncLba))
    if (!b.resyncHit)
        if (err === 0)
            if (data)
                if (!newer) {
                    // from here on an app write to this lba is stamped after the copy
                    const now = b.clock.millis()
                    const w = new PendingWrite(
                        b.resyncLba,
                        data,
                        (e, seq) => {
                            b.resyncBusy = false
                            // the store could not take the copy: the same block again at the next adopt or release;
                            // with the history at its bound the copy could never end: suspending frees it
                            if (e !== 0) {
                                if (atBound(b)) b.suspend(SuspendReason.History)
                                return
                            }
                            resyncNote(b, seq)
                            b.resyncCopied = b.resyncCopied + 1
                            b.resyncLba = b.resyncLba + 1
                            resyncStep(b)
                        },
                        now
                    )
                    w.internal = true
                    if (!stamp(b, w)) b.unstamped.push(w)
                    return
                }
    const lba = b.resyncLba
    // damaged, and its loss accepted (the bit of lost)
    let lost = 0
    if (err === StoreError.Corrupt) lost = b.lost[lba >> 3] & (1 << (lba & 7))
    if (err !== 0)
        if (!lost) {
            // the store is busy (queue full) or the flash failed for now, or the record did
            // not check: read it again later; still damaged, the copy waits for the operator
            if (err !== StoreError.Corrupt) return resyncLater(b, 5)
            b.readTries = b.readTries + 1
            if (b.readTries < READ_TRIES) return resyncLater(b, 5)
            b.resyncBusy = false
            return damaged(b, lba, 0)
        }
    b.readTries = 0
    if (b.damagedLba === lba) b.damagedLba = -1
    if (!b.resyncHit) {
        if (lost) b.resyncUnreadable = b.resyncUnreadable + 1
        b.resyncLba = b.resyncLba + 1
    }
    b.resyncBusy = false
    resyncStep(b)
}
