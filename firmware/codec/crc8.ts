/**
 * CRC-8 with polynomial 0x07 (x^8 + x^2 + x + 1), initial value 0: the SMBus Packet Error Code.
 * Check value: crc8("123456789") = 0xF4.
 */
let table: number[] | null = null

function crcTable(): number[] {
    if (table) return table
    const t: number[] = []
    for (let n = 0; n < 256; n++) {
        let c = n
        for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff
        t.push(c)
    }
    table = t
    return t
}

export function crc8Update(crc: number, buf: Buffer, start: number, end: number): number {
    const t = crcTable()
    let c = crc & 0xff
    for (let i = start; i < end; i++) c = t[c ^ buf[i]]
    return c
}

export function smbusPec(buf: Buffer, start: number, end: number): number {
    return crc8Update(0, buf, start, end)
}
