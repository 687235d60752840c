import { getU16, getU32, putU16, putU32 } from "../codec/bytes"

const EMPTY = Buffer.alloc(0)

/** Largest Buffer a segment uses: the DeviceScript VM refuses Buffers of 64 KB. A power of two
 * (2^14): byte b of a table is byte b & 16383 of segment b >> 14. */
const SEGMENT_BYTES = 16384

/** A table of n numbers, each v: allocated once. */
export function numbers(n: number, v: number): number[] {
    const out: number[] = []
    for (let i = 0; i < n; i++) out.push(v)
    return out
}

/**
 * A fixed-length array of unsigned integers, 1, 2 or 4 bytes each, kept in Buffers of at most
 * 16 KB: a compact RAM table (a number[] costs 8 bytes or more per element on the board).
 * Starts zeroed; allocated once (`clear` zeroes it in place).
 * @devsWhenUsed
 */
export class PackedArray {
    private segs: Buffer[] = []
    private perSeg: number

    constructor(
        public length: number,
        private width: number
    ) {
        this.perSeg = SEGMENT_BYTES / width
        let left = length
        while (left > 0) {
            let n = this.perSeg
            if (left < n) n = left
            this.segs.push(Buffer.alloc(n * width))
            left -= n
        }
    }

    get(i: number): number {
        const b = i * this.width
        const seg = this.segs[b >> 14]
        const off = b & 16383
        if (this.width === 1) return seg[off]
        if (this.width === 2) return getU16(seg, off)
        return getU32(seg, off)
    }

    set(i: number, v: number): void {
        const b = i * this.width
        const seg = this.segs[b >> 14]
        const off = b & 16383
        if (this.width === 1) seg[off] = v & 0xff
        else if (this.width === 2) putU16(seg, off, v)
        else putU32(seg, off, v)
    }

    /** Zeroes every element. Each segment is dropped before it is allocated again, so the RAM
     * held never doubles (a second table beside the first would not fit a board's heap). */
    clear(): void {
        for (let i = 0; i < this.segs.length; i++) {
            const n = this.segs[i].length
            this.segs[i] = EMPTY
            this.segs[i] = Buffer.alloc(n)
        }
    }

    /** RAM used, in bytes. */
    ramBytes(): number {
        return this.length * this.width
    }
}
