/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, one byte per step.
 * Check value: crc32c("123456789") = 0xE3069283.
 */
let table: number[] | null = null

/** Continues a CRC over buf[start..end); start a new one with crc = 0. */
export function crc32cUpdate(crc: number, buf: Buffer, start: number, end: number): number {
    let t = table
    if (!t) {
        // the table, made at the first call
        t = []
        for (let n = 0; n < 256; n++) {
            let c = n
            for (let k = 0; k < 8; k++) {
                const low = c & 1
                c = c >>> 1
                if (low) c = c ^ 0x82f63b78
            }
            t.push(c >>> 0)
        }
        table = t
    }
    let c = ~crc
    for (let i = start; i < end; i++) c = t[(c ^ buf[i]) & 0xff] ^ (c >>> 8)
    return ~c >>> 0
}

export function crc32c(buf: Buffer): number {
    return crc32cUpdate(0, buf, 0, buf.length)
}

/**
 * The one flipped bit that explains a CRC-32C mismatch, if there is one. `syndrome` is the CRC
 * computed over an n-byte message XOR the CRC stored with it. CRC-32C is linear: a message
 * with bit b of byte j flipped changes the CRC by the CRC (from zero, without the final
 * inversion) of that bit alone, the state 1 << b shifted through the 8·(n - j) bit steps left.
 * Running the shift backwards from the syndrome, a byte at a time, finds that state when the
 * flip is in the message. Returns 8·j + b for a flipped message bit, 8·n + k for bit k of the
 * stored CRC (a syndrome of one bit), or -1. Over the lengths the store checks (up to 268
 * bytes), CRC-32C's Hamming distance is 6: one flipped bit is always found, and errors of two to
 * four bits are never taken for one (docs/FORMAT-flash.md, "Damage and tears").
 */
export function crc32cFlippedBit(syndrome: number, n: number): number {
    let s = syndrome >>> 0
    if (s === 0) return -1
    if ((s & (s - 1)) === 0) {
        let k = 0
        while (s >>> k !== 1) k++
        return 8 * n + k
    }
    for (let j = n - 1; j >= 0; j--) {
        for (let i = 0; i < 8; i++) {
            if (s & 0x80000000) s = ((s ^ 0x82f63b78) << 1) | 1
            else s = s << 1
            s = s >>> 0
        }
        if (s < 256)
            if ((s & (s - 1)) === 0) {
                let b = 0
                while (s >>> b !== 1) b++
                return 8 * j + b
            }
    }
    return -1
}
