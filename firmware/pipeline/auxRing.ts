import { getU16, getU32, putU16, putU32 } from "../codec/bytes"
import { LbaTable } from "./lbaTable"
import { encodePortionHeader, PORTION_HEADER } from "../protocol/messages"

/**
 * The aux ring: the fixed-size RAM ring buffer where portions wait for transmission (the
 * auxiliary storage area of the cycle protocol). One Buffer is allocated at boot and split into
 * slots of (10-byte header + one block); nothing is allocated per write.
 *
 * Portions enter at the tail in seq order and leave from the head in the same order, so the
 * portions of the open seq are always the newest ones, at the tail. Write folding: within the
 * open (newest) seq, a second write to an lba replaces the waiting portion in place, so only the
 * newest version of an lba is sent per seq. A fixed LbaTable finds the waiting slot of an lba.
 *
 * Slot layout: seq u32 | lba u32 | length u16 | crc u32 | data[blockSize]; crc is the block's
 * CRC-32C from the capture, sent with the portion (the remote checks it).
 */
export const enum RingPut {
    Added = 0,
    Folded = 1,
    Full = 2,
}

const SLOT_HEADER = 14

/** @devsWhenUsed */
export class AuxRing {
    readonly slots: number
    /** The slots (read by the simulator's ram fault class, which flips bits in them). */
    readonly mem: Buffer
    private slotSize: number
    private head = 0
    /** Portions waiting (read only outside: a field, not a method, costs the board's image
     * nothing per caller). */
    count = 0
    /** lba → slot of its waiting portion in the fold seq. */
    private foldIndex: LbaTable
    private foldSeq = 0
    private foldSeqValid = false
    /** Portions replaced in place by a newer write to the same lba in the same seq. */
    folded = 0

    constructor(
        capacityBytes: number,
        readonly blockSize: number
    ) {
        this.slotSize = SLOT_HEADER + blockSize
        this.slots = Math.floor(capacityBytes / this.slotSize)
        if (this.slots < 1) throw new Error("aux ring: " + capacityBytes + " bytes hold no portion")
        this.mem = Buffer.alloc(this.slots * this.slotSize)
        this.foldIndex = new LbaTable(this.slots)
    }

    /** Queues a portion (or folds it into the waiting one of the same seq and lba). */
    put(seq: number, lba: number, data: Buffer, crc: number): RingPut {
        if (data.length > this.blockSize) throw new Error("aux ring: portion larger than a block")
        if (!this.foldSeqValid || this.foldSeq !== seq) this.startFoldSeq(seq)
        const waiting = this.foldIndex.get(lba)
        if (waiting >= 0) {
            this.writeSlot(waiting, seq, lba, data, crc)
            this.folded++
            return RingPut.Folded
        }
        if (this.count === this.slots) return RingPut.Full
        const slot = (this.head + this.count) % this.slots
        this.writeSlot(slot, seq, lba, data, crc)
        this.count++
        this.foldIndex.set(lba, slot)
        return RingPut.Added
    }

    /** Drops every waiting portion of `seq` from the tail (used when `seq` spills to flash:
     * it is then sent from the flash log as a whole). Returns how many were dropped. */
    dropTailSeq(seq: number): number {
        let n = 0
        while (this.count > 0 && this.seqAt(this.count - 1) === seq) {
            this.count--
            n++
        }
        if (this.foldSeqValid) if (this.foldSeq === seq) this.startFoldSeq(seq)
        return n
    }

    /** The seq of the i-th waiting portion from the head. */
    seqAt(i: number): number {
        return getU32(this.mem, this.offsetAt(i))
    }

    lbaAt(i: number): number {
        return getU32(this.mem, this.offsetAt(i) + 4)
    }

    crcAt(i: number): number {
        return getU32(this.mem, this.offsetAt(i) + 10)
    }

    lengthAt(i: number): number {
        return getU16(this.mem, this.offsetAt(i) + 8)
    }

    /** Copies the data of the i-th waiting portion into dst at dstOffset. */
    copyDataAt(i: number, dst: Buffer, dstOffset: number): number {
        const at = this.offsetAt(i)
        // (its length, as lengthAt)
        const len = getU16(this.mem, at + 8)
        const off = at + SLOT_HEADER
        dst.set(this.mem.slice(off, off + len), dstOffset)
        return len
    }

    /** The i-th waiting portion as a PORTION message (its header, then its data) in msg, which
     * holds one of a whole block; returns its data's length. */
    portionAt(i: number, msg: Buffer): number {
        const mem = this.mem
        const at = this.offsetAt(i)
        encodePortionHeader(msg, getU32(mem, at), getU32(mem, at + 4), getU32(mem, at + 10))
        const len = getU16(mem, at + 8)
        const off = at + SLOT_HEADER
        msg.set(mem.slice(off, off + len), PORTION_HEADER)
        return len
    }

    /** Removes the oldest waiting portion. */
    shift(): void {
        if (this.count === 0) throw new Error("aux ring: shift on empty ring")
        const slot = this.head
        this.head = (this.head + 1) % this.slots
        this.count--
        // a slot that leaves the ring must not be found by the folding table any more
        if (this.foldSeqValid) if (getU32(this.mem, slot * this.slotSize) === this.foldSeq) this.startFoldSeq(this.foldSeq)
    }

    offsetAt(i: number): number {
        if (i < 0 || i >= this.count) throw new Error("aux ring: index out of range")
        return ((this.head + i) % this.slots) * this.slotSize
    }

    private writeSlot(slot: number, seq: number, lba: number, data: Buffer, crc: number): void {
        const off = slot * this.slotSize
        putU32(this.mem, off, seq)
        putU32(this.mem, off + 4, lba)
        putU16(this.mem, off + 8, data.length)
        putU32(this.mem, off + 10, crc)
        this.mem.set(data, off + SLOT_HEADER)
    }

    private startFoldSeq(seq: number): void {
        this.foldSeq = seq
        this.foldSeqValid = true
        this.foldIndex.clear()
        // re-index portions of `seq` still waiting at the tail
        for (let i = this.count - 1; i >= 0 && this.seqAt(i) === seq; i--) this.foldIndex.set(this.lbaAt(i), (this.head + i) % this.slots)
    }
}
