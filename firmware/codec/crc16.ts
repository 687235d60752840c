/**
 * CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, not reflected, no final xor).
 * Check value: crc16("123456789") = 0x29B1.
 *
 * It closes the shuttle's frames on the group bus: it finds every error of up to three bits in
 * frames of this length and every burst of up to 16 bits, where the SMBus PEC (CRC-8) it
 * replaces missed one multi-bit error in 256. A byte a step without a table (a table costs
 * 4,096 steps to build and 2 KB of RAM on the board): the byte's eight shifts of the polynomial
 * folded into three, x ^ x<<5 ^ x<<12 of the byte x mixed with the CRC's high byte (and x>>4),
 * the same CRC as bit by bit (test/codec/codecs.test.ts compares the two).
 */
export function crc16Update(crc: number, buf: Buffer, start: number, end: number): number {
    let c = crc & 0xffff
    for (let i = start; i < end; i++) {
        let x = ((c >> 8) ^ buf[i]) & 0xff
        x ^= x >> 4
        c = ((c << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xffff
    }
    return c
}

export function crc16(buf: Buffer, start: number, end: number): number {
    return crc16Update(0xffff, buf, start, end)
}
