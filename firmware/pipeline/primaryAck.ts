import { getU32 } from "../codec/bytes"
import { crc32cUpdate } from "../codec/crc32c"
import { seqAfter, seqAtOrBefore } from "../seq"
import { RingPut } from "./auxRing"
import { StoreError } from "../store/types"
import type { PrimaryBoard } from "./primary"
import { AckMode, Congestion, Resync, SeqFlag, SuspendReason, WriteError } from "./primaryTypes"
import { pumpBoard } from "./primaryPump"
import { resyncStep } from "./primaryResync"

/*
 * A write's way through a primary's pipeline (PrimaryBoard, firmware/pipeline/primary.ts), from
 * its stamp to its acknowledgement: it goes to the store after any earlier write of its lba,
 * becomes durable, waits in the aux ring (or its seq spills to the flash path), and is
 * acknowledged once its seq is released (mode consistent) or tracked and the group knows it,
 * unless the history bound or bounded-RPO pacing holds it; the remote's confirmation frees the
 * history. Each function takes the board.
 *
 * A counter of the board (or an entry of one of its lists) goes up as `b.n = b.n + 1`: for
 * `b.n++` or `+=` the DeviceScript compiler copies the object (any but `this`) and the index to
 * temporaries first, 4 to 12 bytes more in the board image each time (docs/PORTABLE.md).
 */

/** An app write (or a resync's copy of a block) from its capture, at `issuedAt`, to its answer.
 * @devsWhenUsed */
export class PendingWrite {
    /** The seq it was stamped with (set by stamp). */
    seq!: number
    /** A full resync's copy of a block, not the app's write: done fires once it is durable. */
    internal!: boolean
    /** When it became ready to acknowledge (bounded-RPO pacing holds it from then; set by ack). */
    readyAt!: number
    /** The block's CRC-32C, computed once at capture: it goes with the block to flash and to
     * the remote. */
    crc: number
    constructor(
        public lba: number,
        public data: Buffer,
        public done: (err: number, seq: number) => void,
        public issuedAt: number
    ) {
        this.crc = crc32cUpdate(0, data, 0, data.length)
    }
}

/** Stamps a write with the capture seq and sends it to flash; false if it must wait for the
 * next seq (before the first adopt, or the seq's lba table is full). */
export function stamp(b: PrimaryBoard, w: PendingWrite): boolean {
    const c = b.seqs - 1
    const seq = b.seqOf[c]
    // while suspended nothing waits for the group: the seq only says when the block changed
    if (!b.suspended) {
        if (!b.adopted) return false
        if (!b.stamping) return false
        if (!b.isTracked(seq))
            if (b.lbasInSeq.get(w.lba) < 0) {
                if (!b.lbasInSeq.set(w.lba, 1)) return false
                b.portionsOf[c] = b.portionsOf[c] + 1
            }
    }
    w.seq = seq
    if (b.firstWriteOf[c] < 0) {
        const now = b.clock.millis()
        b.firstWriteOf[c] = now
    }
    b.stateOf[c] = b.stateOf[c] + SeqFlag.Inflight
    // to the store, after any earlier write of the same lba the store has not finished: a later
    // version must never land before an earlier one (the earlier would then stand as the
    // block's newest)
    const storing = b.storing
    const at = w.lba >> 3
    const bit = 1 << (w.lba & 7)
    if (storing[at] & bit) b.storeWait.push(w)
    else {
        storing[at] = storing[at] | bit
        storeNow(b, w)
    }
    return true
}

function storeNow(b: PrimaryBoard, w: PendingWrite): void {
    b.store.write(
        b.opts.member,
        w.lba,
        w.seq,
        w.data,
        (err) => {
            // the store's queue is full for now: the write waits and goes again, never fails
            if (err === StoreError.QueueFull) b.clock.setTimer(2, () => storeNow(b, w))
            else durable(b, w, err)
        },
        w.crc
    )
}

/** The store finished a write: the next write of its lba that waits for it goes, and the write is
 * durable (or failed): into the aux ring, and acknowledged or waiting. */
function durable(b: PrimaryBoard, w: PendingWrite, err: number): void {
    const q = b.storeWait
    const lba = w.lba
    let k = 0
    for (; k < q.length; k++) if (q[k].lba === lba) break
    if (k < q.length) {
        const next = q[k]
        for (; k + 1 < q.length; k++) q[k] = q[k + 1]
        q.pop()
        storeNow(b, next)
    } else b.storing[lba >> 3] = b.storing[lba >> 3] & ~(1 << (lba & 7))
    // its seq's record, unless the seq was confirmed or tracked meanwhile
    const seq = w.seq
    const states = b.stateOf
    const i = recordOf(b, seq)
    if (i >= 0) if (states[i] >= SeqFlag.Inflight) states[i] = states[i] - SeqFlag.Inflight
    if (err !== 0) {
        if (i >= 0) states[i] = states[i] | SeqFlag.Short
        b.writesFailed = b.writesFailed + 1
        if (!w.internal) b.writesHeld = b.writesHeld - 1
        w.done(WriteError.Store, seq)
        pumpBoard(b)
        return
    }
    if (i >= 0)
        if (!(states[i] & SeqFlag.Spilled))
            if (!b.suspended)
                if (!b.isTracked(seq)) {
                    const ring = b.ring
                    let newest = seq
                    const used = ring.count
                    if (used > 0) newest = ring.seqAt(used - 1)
                    // the ring holds seqs in order: a portion of an older seq than its newest cannot go in
                    if (seqAfter(newest, seq) || ring.put(seq, w.lba, w.data, w.crc) === RingPut.Full) {
                        states[i] = states[i] | SeqFlag.Spilled
                        b.seqsSpilled = b.seqsSpilled + 1
                        ring.dropTailSeq(seq)
                    }
                }
    if (w.internal) w.done(WriteError.None, seq)
    else if (!acked(b, w)) b.unacked.push(w)
    checkHistory(b)
    pumpBoard(b)
}

/** The index of the record of `seq`, -1 when there is none. */
export function recordOf(b: PrimaryBoard, seq: number): number {
    let i = b.seqs - 1
    for (; i >= 0; i--) if (b.seqOf[i] === seq) break
    return i
}

/** Acknowledges a durable app write if it may go now: its seq released (any seq in mode
 * none; unless pacing or the history bound holds it: it then waits with the paced writes, in
 * order), or tracked and the group knows it. False when it must wait. */
function acked(b: PrimaryBoard, w: PendingWrite): boolean {
    const seq = w.seq
    let released = b.opts.mode === AckMode.None
    if (!released) if (b.hasReleased) released = seqAtOrBefore(seq, b.released)
    if (!released) {
        // a write stamped with a tracked seq the group knows is tracked
        if (!b.isTracked(seq)) return false
        if (b.trackedKnown) if (!b.trackedKnown(seq)) return false
        b.ackedDuringSuspension = b.ackedDuringSuspension + 1
    } else if (b.paced.length > 0 || paceHolds(b)) {
        w.readyAt = b.clock.millis()
        b.paced.push(w)
        armPace(b)
        return true
    }
    ackNow(b, w)
    return true
}

/** Acknowledges the waiting writes that may go now (released, or tracked and known). */
export function ackWaiting(b: PrimaryBoard): void {
    // the writes wait in seq order, and both conditions hold for every seq up to one
    const q = b.unacked
    while (q.length > 0) {
        if (!acked(b, q[0])) return
        q.shift()
    }
}

/** Acknowledges the app's write now. */
export function ackNow(b: PrimaryBoard, w: PendingWrite): void {
    b.writesAcked = b.writesAcked + 1
    b.writesHeld = b.writesHeld - 1
    if (b.onAck) b.onAck(w.lba, w.seq, w.issuedAt)
    w.done(WriteError.None, w.seq)
}

/** Acknowledgements wait while the history holds them, or bounded-RPO pacing does
 * (firmware/pipeline/rpoPacing.ts). */
function paceHolds(b: PrimaryBoard): boolean {
    if (b.suspended) return false
    if (historyHolds(b)) return true
    const p = b.rpo
    if (!p) return false
    return p.holdsAcks(b)
}

function armPace(b: PrimaryBoard): void {
    if (b.paceTimer) return
    let ms = 5
    if (b.rpo) ms = b.rpo.checkMs
    b.paceTimer = b.clock.setTimer(ms, () => {
        b.paceTimer = null
        releasePaced(b)
    })
}

/** Acknowledges the held writes once nothing holds them any more; while pacing holds them, those
 * that waited its longest hold go anyway (RpoPacing.releaseOverdue). */
function releasePaced(b: PrimaryBoard): void {
    const q = b.paced
    if (!paceHolds(b)) while (q.length > 0) ackNow(b, q.shift() as PendingWrite)
    else if (b.rpo) b.rpo.releaseOverdue(b)
    if (q.length > 0) armPace(b)
}

// ---- the history bound

/**
 * Acknowledgements wait while the history is at its bound: always with the congestion
 * policy block, and during a resync with either policy (a suspension would throw the copy
 * away and start it again, so under a load the remote cannot take the resync would never
 * end; the history shrinks at its commit). Also for the suspend time after the resync ends:
 * the seqs its hold kept open are the remote's to apply then, and a board that suspended at
 * once would need the next resync, and the one after it, for good. Past the hold's room
 * nothing holds: the board suspends, so a long hold never fills the store or RAM.
 */
function historyHolds(b: PrimaryBoard): boolean {
    // (not Block, no resync:) nothing holds unless the board's resync ended (the remote applied
    // its copy) less than the suspend time ago
    if (b.opts.congestion !== Congestion.Block)
        if (b.resync === Resync.Off) {
            if (b.resyncEndedAt < 0) return false
            if (b.clock.millis() - b.resyncEndedAt >= suspendTime(b)) return false
        }
    if (!atBound(b)) return false
    return !pastHold(b)
}

/** The suspend time: how long a write waits before the board suspends (with
 * group.suspendAfterMs 0, no wait suspends it, and a suspended board waits 1 s to resume). */
export function suspendTime(b: PrimaryBoard): number {
    const after = b.opts.suspendAfterMs
    if (after) return after
    return 1000
}

/** Past the longest hold: the store's live versions a quarter past their bound, or the seq
 * records or kept manifests the history's slack past theirs (historySlack). */
function pastHold(b: PrimaryBoard): boolean {
    const lim = b.opts.historyLimit
    if (lim) if (b.store.liveVersions() * 4 >= lim * 5) return true
    if (b.seqs >= b.holdRoom) return true
    return b.manifestsKept.length >= b.holdRoom
}

/** The history is at its bound: the store's live versions, the seq records or the kept
 * manifests. */
export function atBound(b: PrimaryBoard): boolean {
    const lim = b.opts.historyLimit
    if (lim) if (b.store.liveVersions() >= lim) return true
    if (b.seqs >= b.historySeqs) return true
    return b.manifestsKept.length >= b.historySeqs
}

/** At the history bound (and not holding acknowledgements below its hard limit): suspends. */
export function checkHistory(b: PrimaryBoard): void {
    if (!b.suspended) if (atBound(b)) if (!historyHolds(b)) b.suspend(SuspendReason.History)
}

/** Stamps the writes that wait for a seq, as far as they may be now; a resync's copy may then
 * go on. */
export function flushUnstamped(b: PrimaryBoard): void {
    const q = b.unstamped
    while (q.length > 0) {
        if (!stamp(b, q[0])) break
        q.shift()
    }
    resyncStep(b)
}

// ---- confirmation

/** Records `seq` as confirmed in the store, which then frees the history up to it; with
 * `thenAck`, the waiting writes are acknowledged once that is durable. The store's queue full
 * of writes, or its flash failing for now: again shortly (a confirm lost would keep the
 * history, and a suspended board's seqs untracked, for good). */
export function confirmStore(b: PrimaryBoard, seq: number, thenAck: boolean): void {
    b.store.confirm(seq, (err) => {
        if (err === StoreError.QueueFull || err === StoreError.Flash) b.clock.setTimer(5, () => confirmStore(b, seq, thenAck))
        else if (thenAck) ackWaiting(b)
    })
}

/** The remote applied every seq up to `applied` (APPLIED, or its resume state): the board
 * drops their records and kept manifests, and the store their history. */
export function remoteConfirmed(b: PrimaryBoard, applied: number): void {
    if (seqAfter(b.remoteApplied, applied)) return
    b.remoteApplied = applied
    confirmStore(b, applied, false)
    if (b.resync === Resync.Done)
        if (seqAtOrBefore(b.resyncTo, applied)) {
            b.resync = Resync.Off
            b.resyncEndedAt = b.clock.millis()
            b.copyAll = false
        }
    const kept: Buffer[] = []
    const had = b.manifestsKept
    for (let i = 0; i < had.length; i++) if (seqAfter(getU32(had[i], 1), applied)) kept.push(had[i])
    b.manifestsKept = kept
    // the rate at which the remote confirms this board's data (bounded-RPO pacing)
    if (b.rpo) b.rpo.confirmedUpTo(b, applied)
    // every record but the capture seq's (the newest); the lists keep their length
    while (b.seqs > 1) {
        if (!seqAtOrBefore(b.seqOf[0], applied)) break
        rotate(b.seqOf)
        rotate(b.portionsOf)
        rotate(b.stateOf)
        rotate(b.firstWriteOf)
        rotate(b.heldCount)
        rotate(b.heldDigest)
        b.seqs = b.seqs - 1
    }
    if (b.paced.length > 0) releasePaced(b)
}

/** Moves a list's first entry to its end. */
function rotate(list: number[]): void {
    list.push(list.shift() as number)
}
