/**
 * CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, not reflected, no final xor).
 * Check value: crc16("123456789") = 0x29B1.
 *
 * It closes the shuttle's frames on the group bus: it finds every error of up to three bits in
 * frames of this length and every burst of up to 16 bits, where the SMBus PEC (CRC-8) it
 * replaces missed one multi-bit error in 256. Bit by bit, without a table (a table costs 4,096
 * steps to build and 2 KB of RAM on the board).
 */
export function crc16Update(crc: number, buf: Buffer, start: number, end: number): number {
    let c = crc & 0xffff
    for (let i = start; i < end; i++) {
        c ^= buf[i] << 8
        for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff
    }
    return c
}

export function crc16(buf: Buffer, start: number, end: number): number {
    return crc16Update(0xffff, buf, start, end)
}
