import { getU32 } from "../codec/bytes"
import { encodePortionHeader, HELD_ENTRY, HELD_HEADER, heldShare, PORTION_HEADER, SEQ_DONE_HELD, seqDoneMessage } from "../protocol/messages"
import { PinnedPortion } from "../protocol/ports"
import { StoreError } from "../store/types"
import type { PrimaryBoard } from "./primary"
import { READ_TRIES, SeqFlag } from "./primaryTypes"
import { recordOf } from "./primaryAck"

/*
 * Transmission of a primary's replication to the remote (PrimaryBoard,
 * firmware/pipeline/primary.ts): control messages, manifests, and the closed seqs in seq order,
 * each from the aux ring or, when it spilled (or a new session sends it again), read back from
 * the flash log, one version at a time. Each function takes the board (counters go up as
 * `b.n = b.n + 1`, see firmware/pipeline/primaryAck.ts).
 */

/** Hands as much as the channel takes to it: manifests first (they are small and let the
 * remote apply), then closed seqs in seq order, each from the ring or from flash. */
export function pumpBoard(b: PrimaryBoard): void {
    const ch = b.channel
    if (!ch.isUp()) return
    if (b.pendingMsg) {
        if (!ch.send(b.pendingMsg)) return
        b.pendingMsg = null
    }
    while (b.pendingCtrl.length > 0) {
        if (!ch.send(b.pendingCtrl[0])) return
        b.pendingCtrl.shift()
    }
    if (b.verifier) b.verifier.offer(b)
    while (b.manifests.length > 0) {
        if (!ch.send(b.manifests[0])) return
        b.manifests.shift()
    }
    const ring = b.ring
    const states = b.stateOf
    for (let i = 0; i < b.seqs; i++) {
        const f = states[i]
        if (f & SeqFlag.Sent) continue
        const seq = b.seqOf[i]
        if (b.isTracked(seq)) continue
        if (!(f & SeqFlag.Closed)) return
        if (f >= SeqFlag.Inflight) return
        if (!(f & SeqFlag.Sending)) {
            // a seq sent again waits for the remote to say what it holds of it
            if (b.heldWait) if (f & SeqFlag.Spilled) return
            states[i] = f | SeqFlag.Sending
            b.sentPortions = 0
            b.sentBytes = 0
            // a read of a seq before it that was dropped meanwhile counts no more
            b.fromFlash = null
            // the remote said it holds the seq (HELD): its versions are read and compared, and
            // sent only if they are others
            b.checking = (f & SeqFlag.Spilled) !== 0 && b.heldCount[i] >= 0
            b.heldSum = 0
        }
        if (!(f & SeqFlag.Spilled)) {
            while (ring.count > 0) {
                if (ring.seqAt(0) !== seq) break
                const msg = b.portionBuf
                // every portion is one whole block, so the buffer is exactly one message and
                // no slice (a copy on the board) is needed on this path
                const n = ring.portionAt(0, msg)
                if (!ch.send(msg)) return
                ring.shift()
                countSent(b, n)
            }
        } else {
            let list = b.fromFlash
            if (!list) {
                // portions of this seq still in the ring go again from flash
                while (ring.count > 0) {
                    if (ring.seqAt(0) !== seq) break
                    ring.shift()
                }
                list = b.store.pinned(b.opts.member, seq)
                b.fromFlash = list
                b.fromFlashNext = 0
            }
            if (b.fromFlashNext < list.length) return readBack(b, seq, list)
        }
        // SEQ_DONE, short when a write of the seq never became durable (SeqFlag.Short is the
        // bit of SEQ_DONE_SHORT); with HELD when the remote holds every version of it
        let flags = states[i] & SeqFlag.Short
        if (b.checking) {
            b.checking = false
            let differs = b.sentPortions !== b.heldCount[i]
            if (b.heldSum !== b.heldDigest[i]) differs = true
            if (differs) {
                // the remote holds other versions than these: the seq goes whole
                b.heldCount[i] = -1
                b.heldDiffered = b.heldDiffered + 1
                states[i] = states[i] & ~SeqFlag.Sending
                b.fromFlash = null
                i--
                continue
            }
            flags = flags | SEQ_DONE_HELD
            b.seqsHeld = b.seqsHeld + 1
        }
        const msg = seqDoneMessage(seq, b.sentPortions, b.sentBytes, flags, b.heldSum)
        states[i] = (states[i] & ~SeqFlag.Sending) | SeqFlag.Sent
        b.fromFlash = null
        if (!ch.send(msg)) {
            b.pendingMsg = msg
            return
        }
    }
}

/** Reads the next version of the seq sent from flash (one read at a time), the pending
 * message once read. */
function readBack(b: PrimaryBoard, seq: number, list: PinnedPortion[]): void {
    if (b.reading) return
    if (b.damagedLba >= 0) return
    const p = list[b.fromFlashNext]
    b.reading = true
    const again = () => {
        b.reading = false
        pumpBoard(b)
    }
    b.store.readPinned(p, (err, data) => {
        // a new session started the seq again while the read was under way: the version goes
        // in its turn of the new pass, never in this one's
        if (b.fromFlash !== list) return again()
        // the store is busy, or its flash failed for now, or the record did not check: the
        // same version again later
        let retry = err === StoreError.QueueFull || err === StoreError.Flash
        if (err === StoreError.Corrupt) {
            b.readTries = b.readTries + 1
            retry = b.readTries < READ_TRIES
        }
        if (retry) {
            b.clock.setTimer(5, again)
            return
        }
        b.reading = false
        b.readTries = 0
        // acknowledged and durable, now damaged: the seq waits for the operator
        if (err === StoreError.Corrupt) return damaged(b, p.lba, seq)
        if (err !== 0 || !data) {
            // the version is gone (the seq was confirmed or tracked meanwhile): nothing to send
            const i = recordOf(b, seq)
            if (i >= 0) b.stateOf[i] = b.stateOf[i] | SeqFlag.Short
        } else if (b.checking) {
            // compared with what the remote holds, not sent
            b.heldSum = (b.heldSum + heldShare(b.heldTmp, p.lba, b.store.readCrc)) >>> 0
            b.sentPortions = b.sentPortions + 1
            b.sentBytes = b.sentBytes + data.length
        } else {
            // the channel copies a message it takes, and no read starts before this one is
            // sent: one buffer serves every portion
            const msg = b.portionBuf
            encodePortionHeader(msg, seq, p.lba, b.store.readCrc)
            msg.set(data, PORTION_HEADER)
            countSent(b, data.length)
            b.portionsFromFlash = b.portionsFromFlash + 1
            b.pendingMsg = msg
        }
        b.fromFlashNext = b.fromFlashNext + 1
        pumpBoard(b)
    })
}

/** A durable version read back damaged: replication waits for the operator (acceptDamage, or
 * a new write of the lba). `seq`: the seq being sent that waits for it, 0: a resync's copy. */
export function damaged(b: PrimaryBoard, lba: number, seq: number): void {
    b.damagedReads = b.damagedReads + 1
    b.damagedLba = lba
    b.damagedSeq = seq
    b.damagedAt = b.store.newestSeq(b.opts.member, lba)
    b.readTries = 0
}

/** HELD: per seq, what the remote holds staged of it. A seq not yet sent in this session is
 * then compared before it is sent (pumpBoard); one being sent or sent goes on as it is. */
export function takeHeld(b: PrimaryBoard, msg: Buffer, len: number): void {
    const n = msg[1]
    if (len !== HELD_HEADER + HELD_ENTRY * n) return
    b.heldWait = false
    for (let k = 0; k < n; k++) {
        const o = HELD_HEADER + HELD_ENTRY * k
        const i = recordOf(b, getU32(msg, o))
        if (i < 0) continue
        const f = b.stateOf[i]
        if (!(f & SeqFlag.Spilled)) continue
        if ((f & (SeqFlag.Sending | SeqFlag.Sent)) !== 0) continue
        b.heldCount[i] = getU32(msg, o + 4)
        b.heldDigest[i] = getU32(msg, o + 8)
    }
    pumpBoard(b)
}

/** A portion of the seq being sent went to the link. */
function countSent(b: PrimaryBoard, n: number): void {
    b.sentPortions = b.sentPortions + 1
    b.sentBytes = b.sentBytes + n
    b.portionsSent = b.portionsSent + 1
    b.bytesSent = b.bytesSent + n
}
