/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, one byte per step.
 * Check value: crc32c("123456789") = 0xE3069283.
 */
let table: number[] | null = null

function crcTable(): number[] {
    if (table) return table
    const t: number[] = []
    for (let n = 0; n < 256; n++) {
        let c = n
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
        t.push(c >>> 0)
    }
    table = t
    return t
}

/** Continues a CRC over buf[start..end); start a new one with crc = 0. */
export function crc32cUpdate(crc: number, buf: Buffer, start: number, end: number): number {
    const t = crcTable()
    let c = ~crc
    for (let i = start; i < end; i++) c = t[(c ^ buf[i]) & 0xff] ^ (c >>> 8)
    return ~c >>> 0
}

export function crc32c(buf: Buffer): number {
    return crc32cUpdate(0, buf, 0, buf.length)
}
