import { putU16, putU32, getU32 } from "../codec/bytes"
import { crc32cFlippedBit, crc32cUpdate } from "../codec/crc32c"
import { crc8Update } from "../codec/crc8"

/**
 * The block store's on-flash format (docs/FORMAT-flash.md describes it byte by byte).
 *
 * A sector (4 KB) starts with a 16-byte header; 16-byte entries grow up from there and data
 * slots of one block grow down from the end of the sector. A data record is its data slot,
 * programmed first, and its entry, programmed last: the entry's CRC covers the entry and the
 * data, so a torn data or entry program never passes for a record.
 */
export const SECTOR_HEADER_SIZE = 16
export const ENTRY_SIZE = 16
export const FORMAT_VERSION = 2
export const MAGIC_0 = 0x53 // 'S'
export const MAGIC_1 = 0x51 // 'Q'
/** Entry indices are one byte; so are data slot indices. */
export const MAX_ENTRIES = 255
/** Keys of the persistent metadata values (0..31). */
export const META_KEYS = 32
export const LBA_LIMIT = 0x1000000
export const MEMBER_LIMIT = 256

export const enum EntryType {
    Data = 0x3c,
    Commit = 0x5a,
    Confirm = 0x66,
    Meta = 0x96,
    Discard = 0xa5,
}

/** log2 of a power of two, or -1. */
export function log2Exact(n: number): number {
    for (let l = 0; l < 31; l++) if (1 << l === n) return l
    return -1
}

/** True when b[start..end) is all 0xFF. */
export function allErased(b: Buffer, start: number, end: number): boolean {
    for (let i = start; i < end; i++) if (b[i] !== 0xff) return false
    return true
}

// ---- sector header: part A (after erase) and part B (when the sector is opened)

/** Part A, bytes 0..7: magic, version, log2(block size), erase count (u24), CRC-8 of 0..6. */
export function encodeHeaderA(b: Buffer, off: number, blockLog2: number, eraseCount: number): void {
    b[off] = MAGIC_0
    b[off + 1] = MAGIC_1
    b[off + 2] = FORMAT_VERSION
    b[off + 3] = blockLog2
    // (byte 7 is written over by the check)
    let ec = eraseCount
    if (ec > 0xffffff) ec = 0xffffff
    putU32(b, off + 4, ec)
    b[off + 7] = crc8Update(0, b, off, off + 7)
}

/** The erase count in a valid part A, or -1 (bad magic, version or check byte). */
export function headerAEraseCount(b: Buffer, off: number): number {
    if (b[off] !== MAGIC_0) return -1
    if (b[off + 1] !== MAGIC_1) return -1
    if (b[off + 2] !== FORMAT_VERSION) return -1
    if (crc8Update(0, b, off, off + 7) !== b[off + 7]) return -1
    return getU32(b, off + 4) & 0xffffff
}

/** Part B, bytes 8..15: sector seq (u32), CRC-32C of bytes 0..11 (so it also covers part A). */
export function encodeHeaderB(b: Buffer, off: number, sectorSeq: number): void {
    putU32(b, off + 8, sectorSeq)
    putU32(b, off + 12, crc32cUpdate(0, b, off, off + 12))
}

export function headerBValid(b: Buffer, off: number): boolean {
    return crc32cUpdate(0, b, off, off + 12) === getU32(b, off + 12)
}

/** A sector header whose part B does not check is mended when one bit of its 16 bytes flipped
 * (part B's CRC covers them all; its syndrome places the bit): true when it checks now. A small
 * entry (its CRC-32C of bytes 0..11 at 12..15, as part B's) is mended the same way. */
export function mendHeader(b: Buffer, off: number): boolean {
    const r = crc32cFlippedBit(crc32cUpdate(0, b, off, off + 12) ^ getU32(b, off + 12), 12)
    if (r >= 0) b[off + (r >> 3)] ^= 1 << (r & 7)
    return headerBValid(b, off)
}

// ---- entries

/**
 * Data entry: type, member, slot, lba (u24), length (9 bits) and the entry's own check (7 bits)
 * in u16 6..7, seq (u32), and the record's CRC: CRC-32C over the `length` data bytes, then entry
 * bytes 0..11. The data's part is the block's own CRC-32C, `blockCrc`, computed once when the
 * write was captured: the record's CRC goes on from it, so data that changed in RAM after the
 * capture never checks. The check (headerCheck) lets a record damaged in two places still be
 * mended when one of them is in the entry's fields (mendFields, then mendData: a mount's parse
 * and a read of a version both check a record so). Returns the CRC.
 */
export function encodeDataEntry(e: Buffer, member: number, slot: number, lba: number, seq: number, len: number, blockCrc: number): number {
    e[0] = EntryType.Data
    e[1] = member
    e[2] = slot
    // (byte 6 is written over by the length)
    putU32(e, 3, lba)
    putU16(e, 6, len)
    putU32(e, 8, seq)
    e[7] |= headerCheck(e, 0) << 1
    const crc = crc32cUpdate(blockCrc, e, 0, 12)
    putU32(e, 12, crc)
    return crc
}

/**
 * CRC-7 (x^7 + x^3 + 1, as SD cards use) of a data entry's fields: bytes 0..11 with the check's
 * own 7 bits (byte 7, bits 1..7) taken as zero, most significant bit first. Its Hamming distance
 * is 3 over these 96 bits, so one flipped bit of the fields or of the check is placed by
 * headerFlippedBit.
 */
export function headerCheck(e: Buffer, eo: number): number {
    let r = 0
    for (let i = 0; i < 12; i++) {
        let b = e[eo + i]
        if (i === 7) b = b & 1
        for (let k = 7; k >= 0; k--) {
            const fb = ((r >> 6) ^ (b >> k)) & 1
            r = (r << 1) & 0x7f
            if (fb) r ^= 0x09
        }
    }
    return r
}

/** The one flipped bit of a data entry's fields or check that explains the syndrome s (not 0)
 * of its check (as bit 8·byte + bit of the entry), or -1. */
function headerFlippedBit(s: number): number {
    // a flip in the check itself: one bit of the syndrome
    if ((s & (s - 1)) === 0) {
        let k = 0
        while (s >>> k !== 1) k++
        return 57 + k
    }
    // the last message bit (byte 11, bit 0) gives x^7 mod P; each bit before it one more x
    let r = 0x09
    for (let p = 95; p >= 0; p--) {
        // byte 7's bits 1..7 are the check's, not the message's
        if (r === s) {
            if (p >> 3 !== 7) return (p & ~7) | (7 - (p & 7))
            if ((p & 7) === 7) return (p & ~7) | (7 - (p & 7))
        }
        const hi = r & 0x40
        r = (r << 1) & 0x7f
        if (hi) r ^= 0x09
    }
    return -1
}

/**
 * Small entry (commit, confirm, meta, discard): type, b1, then u32 at 2..5, 0xFF at 6..7,
 * value (u32) at 8..11, CRC-32C of bytes 0..11.
 * - Commit / Confirm: value = applied / confirmed seq; b1 = 0xFF, 2..5 = 0xFF.
 * - Meta: b1 = key, value = the value.
 * - Discard: value = the seq above which staged versions are dropped; b1 and 2..5 are the
 *   entry index and sector seq of the position where the discard was first written.
 */
export function encodeSmallEntry(e: Buffer, type: EntryType, b1: number, word: number, value: number): void {
    e[0] = type
    e[1] = b1
    putU32(e, 2, word)
    e[6] = 0xff
    e[7] = 0xff
    putU32(e, 8, value)
    putU32(e, 12, crc32cUpdate(0, e, 0, 12))
}

export function entryLba(b: Buffer, off: number): number {
    return getU32(b, off + 3) & 0xffffff
}

export function entryLen(b: Buffer, off: number): number {
    return b[off + 6] | ((b[off + 7] & 1) << 8)
}

/** Added to a mended length (mendData) when a bit was mended. */
export const MENDED = 0x10000

/**
 * Checks a data record whose fields are right (their check matches), its entry at
 * e[eo..eo+16) and its data at d[dOff..], and mends one flipped bit of its data or CRC in place
 * (CRC-32C's syndrome places it: crc32cFlippedBit). Returns the data length when the record
 * checks (plus MENDED when a bit was mended), or -1: damage of more than one bit, which CRC-32C
 * detects but does not place.
 */
export function mendData(e: Buffer, eo: number, d: Buffer, dOff: number, maxLen: number): number {
    const len = entryLen(e, eo)
    if (len < 1) return -1
    if (len > maxLen) return -1
    if (dOff + len > d.length) return -1
    const stored = getU32(e, eo + 12)
    const c = crc32cUpdate(crc32cUpdate(0, d, dOff, dOff + len), e, eo, eo + 12)
    if (c === stored) return len
    const k = crc32cFlippedBit(c ^ stored, len + 12)
    if (k < 0) return -1
    // the fields check, so the flipped bit is in the data or the CRC
    if (k < 8 * len) d[dOff + (k >> 3)] ^= 1 << (k & 7)
    else if (k >= 8 * (len + 12)) putU32(e, eo + 12, stored ^ (1 << (k - 8 * (len + 12))))
    else return -1
    return len + MENDED
}

/**
 * Mends a data entry's fields in place when their check places one flipped bit (it covers
 * type, member, slot, lba, length and seq). Returns the bit mended (8·byte + bit), -1 when the
 * fields were right, or -2 when they cannot be trusted.
 */
export function mendFields(e: Buffer, eo: number): number {
    // the syndrome: 0 when the fields match their check
    const s = headerCheck(e, eo) ^ (e[eo + 7] >> 1)
    if (s === 0) return -1
    const h = headerFlippedBit(s)
    if (h < 0) return -2
    e[eo + (h >> 3)] ^= 1 << (h & 7)
    return h
}
