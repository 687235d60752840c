/**
 * CRC-8 with polynomial 0x07 (x^8 + x^2 + x + 1), initial value 0: the SMBus Packet Error Code.
 * Check value: crc8("123456789") = 0xF4.
 *
 * Bit by bit, without a table: it only covers short data (sector headers, shuttle frames), and
 * a table would cost 2,048 steps to build, which on the board can land inside a long event
 * and push it past the VM's budget, and RAM besides.
 */
export function crc8Update(crc: number, buf: Buffer, start: number, end: number): number {
    let c = crc & 0xff
    for (let i = start; i < end; i++) {
        c ^= buf[i]
        for (let k = 0; k < 8; k++) {
            const high = c & 0x80
            c = (c << 1) & 0xff
            if (high) c = c ^ 0x07
        }
    }
    return c
}

export function smbusPec(buf: Buffer, start: number, end: number): number {
    return crc8Update(0, buf, start, end)
}
