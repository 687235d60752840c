import { getU16, getU32, putU16, putU32 } from "../codec/bytes"

/** Bytes per slot: lba u32 | generation u32 | value u16. */
const SLOT = 10

/**
 * A fixed-size hash table from lba to a small non-negative number (below 65536), allocated once
 * in one Buffer: per slot the lba (u32), the generation it was stored in (u32) and the value
 * (u16). Entries are stamped with a generation, so `clear()` costs nothing: a new generation
 * hides every entry. There is no single-entry removal; users clear and re-insert.
 * @devsWhenUsed
 */
export class LbaTable {
    private slots: Buffer
    private mask: number
    private gen = 1
    /** Entries held (read only outside). */
    count = 0
    /** Entries the table can hold (half its slots, to keep probes short). */
    readonly capacity: number

    constructor(capacity: number) {
        let size = 8
        while (size < capacity * 2) size *= 2
        this.mask = size - 1
        this.capacity = capacity
        this.slots = Buffer.alloc(size * SLOT)
    }

    clear(): void {
        this.count = 0
        // generation 0 marks a slot never used: after 2^32 - 1 clears every slot is so again
        this.gen = (this.gen + 1) >>> 0
        if (!this.gen) {
            this.slots = Buffer.alloc(this.slots.length)
            this.gen = 1
        }
    }

    /** The value stored for lba, or -1. */
    get(lba: number): number {
        const o = this.find(lba)
        if (o < 0) return -1
        return getU16(this.slots, o + 8)
    }

    set(lba: number, value: number): boolean {
        const b = this.slots
        let o = this.find(lba)
        if (o < 0) {
            if (this.count >= this.capacity) return false
            o = -1 - o
            putU32(b, o, lba)
            putU32(b, o + 4, this.gen)
            this.count++
        }
        putU16(b, o + 8, value)
        return true
    }

    /** The offset of lba's slot; else a negative number, -1 - the offset of the free slot where
     * it would go (probing from its hash, the next slot the first after the last). */
    private find(lba: number): number {
        const b = this.slots
        let o = ((Math.imul(lba, 0x9e3779b1) >>> 16) & this.mask) * SLOT
        while (getU32(b, o + 4) === this.gen) {
            if (getU32(b, o) === lba) return o
            o += SLOT
            if (o >= b.length) o = 0
        }
        return -1 - o
    }
}
