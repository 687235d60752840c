import { getU16, getU32, putU16, putU32 } from "../codec/bytes"
import { crc16 } from "../codec/crc16"

/**
 * The frames of the shuttle protocol on the group bus (I2C), byte by byte in
 * docs/FORMAT-shuttle.md. Every frame ends with a CRC-16 (CCITT) over all bytes before it:
 * the group's decisions rest on these bits (an adopted bit or a member list that an 8-bit
 * check let through would release a seq early or evict a member).
 *
 * SHUTTLE (0x53), written by the member that holds the shuttle to the next member:
 *   type | group | epoch u16 | origin | holder | S u32 | count+flags | count × address |
 *   adopted | absent | delivered | [held | copying] | window | records | CRC u16
 * RELEASE (0x52), sent as a general call: every member has adopted `seq`; with the final
 * manifests of the seqs just before it.
 *   type | group | epoch u16 | origin | sender | seq u32 | member ids | count | totals | CRC u16
 * EVICTED (0x58), written to a member that sent a frame after it was evicted.
 *   type | group | epoch u16 | origin | sender | target | CRC u16
 *
 * Decoders never throw: they return a FrameError and leave the output object in an
 * unspecified state, so decode into a scratch object and keep it only on FrameError.None.
 */
export const enum FrameType {
    Shuttle = 0x53,
    Release = 0x52,
    Evicted = 0x58,
}

export const enum FrameError {
    None = 0,
    /** Shorter than the smallest frame of its type. */
    Short = 1,
    /** Unknown type byte. */
    Type = 2,
    /** The CRC does not match: corrupted on the bus. */
    Crc = 3,
    /** A field is out of range (member count, address order, masks, window, totals). */
    Field = 4,
    /** The length does not match what the fields say. */
    Length = 5,
}

/** Bytes after a frame's body: its CRC-16. */
const TRAILER = 2

/** Ends a frame whose body is out[0..o) with its CRC; returns the frame's length. Exported for
 * tests that forge frames with a good CRC. */
export function seal(out: Buffer, o: number): number {
    putU16(out, o, crc16(out, 0, o))
    return o + TRAILER
}

/** Checks the CRC of a frame of `len` bytes. */
function checkSeal(b: Buffer, len: number): number {
    const end = len - TRAILER
    return getU16(b, end) === crc16(b, 0, end) ? FrameError.None : FrameError.Crc
}

export const MAX_MEMBERS = 8
/** Seqs whose per-member totals one shuttle can carry. */
export const MAX_WINDOW = 15
/** Flag in the count byte: something happened during the current lap (see ShuttleAgent). */
export const FLAG_BUSY = 0x10
/** S was raised to the capture seq of a member that restarted and has not adopted a seq since:
 * unlike a seq reached by the seed's update, it does not mean every member adopted S-1. */
export const FLAG_RAISED = 0x20
/** The list holds a member admitted again after an eviction: a member that still knows it as
 * evicted takes the frame and learns the admission (see ShuttleAgent.admit). */
export const FLAG_ADMIT = 0x40
/** A member's board had data to send at its visit during the current lap (see ShuttleAgent):
 * a lap with neither this nor BUSY was quiet, and the idle pause may grow. */
export const FLAG_DATA = 0x80
const FLAGS_KNOWN = FLAG_BUSY | FLAG_RAISED | FLAG_ADMIT | FLAG_DATA
/** Bit 3 of the count byte: the held and copying masks follow the delivered mask (only while a
 * bit of them is set, during a resync, so a frame keeps its size otherwise). */
const HOLD_BIT = 0x08

const SHUTTLE_FIXED = 11 + 4 + TRAILER
export const SHUTTLE_MIN_BYTES = SHUTTLE_FIXED + 2 + 0
/** Largest shuttle frame: 8 members, held and copying, a full window, every total at its
 * 5-byte maximum. */
export const SHUTTLE_MAX_BYTES = SHUTTLE_FIXED + 2 + MAX_MEMBERS + MAX_WINDOW * MAX_MEMBERS * 10
export const EVICTED_BYTES = 7 + TRAILER

/** Decoded SHUTTLE frame. Arrays are allocated once; `count` and `windowLen` say how much of
 * them is in use. Totals of window seq w (0 = oldest) and member i are at [w * 8 + i]. */
export class ShuttleFrame {
    group = 0
    epoch = 0
    origin = 0
    holder = 0
    /** S: the group's current seq. */
    seq = 0
    flags = 0
    count = 0
    members: number[] = []
    /** Bit i: members[i] has adopted S. */
    adopted = 0
    /** Bit i: members[i] did not acknowledge its last hand-over. */
    absent = 0
    /** Bit i: members[i] has delivered the manifests up to finalThrough to its board. */
    delivered = 0
    /** Bit i: members[i] holds S open: its history is at its bound in a resync. */
    held = 0
    /** Bit i: members[i]'s copy for a resync is under way. */
    copying = 0
    /** The window holds seqs S-windowLen .. S-1. */
    windowLen = 0
    /** finalThrough = S-1-finalLag: manifests of window seqs up to it are final. */
    finalLag = 0
    portions: number[] = []
    bytes: number[] = []

    constructor() {
        for (let i = 0; i < MAX_MEMBERS; i++) this.members.push(0)
        for (let i = 0; i < MAX_WINDOW * MAX_MEMBERS; i++) {
            this.portions.push(0)
            this.bytes.push(0)
        }
    }

    copyFrom(o: ShuttleFrame): void {
        this.group = o.group
        this.epoch = o.epoch
        this.origin = o.origin
        this.holder = o.holder
        this.seq = o.seq
        this.flags = o.flags
        this.count = o.count
        for (let i = 0; i < MAX_MEMBERS; i++) this.members[i] = o.members[i]
        this.adopted = o.adopted
        this.absent = o.absent
        this.delivered = o.delivered
        this.held = o.held
        this.copying = o.copying
        this.windowLen = o.windowLen
        this.finalLag = o.finalLag
        for (let i = 0; i < MAX_WINDOW * MAX_MEMBERS; i++) {
            this.portions[i] = o.portions[i]
            this.bytes[i] = o.bytes[i]
        }
    }

    indexOf(addr: number): number {
        for (let i = 0; i < this.count; i++) if (this.members[i] === addr) return i
        return -1
    }

    /** Mask with one bit per member. */
    allMask(): number {
        return (1 << this.count) - 1
    }

    /** The oldest seq in the window is windowSeq(0); the newest, windowSeq(windowLen-1) = S-1. */
    windowSeq(w: number): number {
        return (this.seq - this.windowLen + w) >>> 0
    }

    finalThrough(): number {
        return (this.seq - 1 - this.finalLag) >>> 0
    }

    /** Index in the window of `seq`, or -1. */
    windowIndex(seq: number): number {
        const w = ((seq - this.seq) | 0) + this.windowLen
        return w >= 0 && w < this.windowLen ? w : -1
    }
}

/** LEB128 length of a u32. */
function lebLength(v: number): number {
    let n = 1
    while (v >= 0x80) {
        v = Math.floor(v / 128)
        n++
    }
    return n
}

function putLeb(b: Buffer, off: number, v: number): number {
    while (v >= 0x80) {
        b[off++] = (v & 0x7f) | 0x80
        v = Math.floor(v / 128)
    }
    b[off++] = v
    return off
}

/** Reads one LEB128 u32 at b[o..end); returns the offset after it, or -1. Sets lebValue. */
let lebValue = 0
function getLeb(b: Buffer, o: number, end: number): number {
    let v = 0
    let scale = 1
    for (let n = 0; n < 5; n++) {
        if (o >= end) return -1
        const x = b[o++]
        v += (x & 0x7f) * scale
        scale *= 128
        if ((x & 0x80) === 0) {
            if (v > 0xffffffff) return -1
            lebValue = v
            return o
        }
    }
    return -1
}

/** Length of the frame `f` encodes to. */
export function shuttleLength(f: ShuttleFrame): number {
    let n = SHUTTLE_FIXED + f.count
    if (f.held | f.copying) n += 2
    for (let w = 0; w < f.windowLen; w++) for (let i = 0; i < f.count; i++) n += lebLength(f.portions[w * 8 + i]) + lebLength(f.bytes[w * 8 + i])
    return n
}

/** Encodes `f` into `out` (at least SHUTTLE_MAX_BYTES long) and returns the length. */
export function encodeShuttle(f: ShuttleFrame, out: Buffer): number {
    out[0] = FrameType.Shuttle
    out[1] = f.group & 0xff
    putU16(out, 2, f.epoch & 0xffff)
    out[4] = f.origin & 0x7f
    out[5] = f.holder & 0x7f
    putU32(out, 6, f.seq)
    // n-1 in bits 0-2 (n is 2..8); bit 3 says the held and copying masks follow
    const holds = (f.held | f.copying) !== 0
    out[10] = ((f.count - 1) & 0x07) | (holds ? HOLD_BIT : 0) | (f.flags & FLAGS_KNOWN)
    let o = 11
    for (let i = 0; i < f.count; i++) out[o++] = f.members[i]
    out[o++] = f.adopted
    out[o++] = f.absent
    out[o++] = f.delivered
    if (holds) {
        out[o++] = f.held
        out[o++] = f.copying
    }
    out[o++] = f.windowLen | (f.finalLag << 4)
    for (let w = 0; w < f.windowLen; w++) {
        for (let i = 0; i < f.count; i++) {
            o = putLeb(out, o, f.portions[w * 8 + i] >>> 0)
            o = putLeb(out, o, f.bytes[w * 8 + i] >>> 0)
        }
    }
    return seal(out, o)
}

function validAddress(a: number): boolean {
    return a >= 0x08 && a <= 0x77
}

/** Decodes a SHUTTLE frame of `len` bytes at the start of `b` into `f`. */
export function decodeShuttle(b: Buffer, len: number, f: ShuttleFrame): number {
    if (len > b.length) len = b.length
    if (len < 1) return FrameError.Short
    if (b[0] !== FrameType.Shuttle) return FrameError.Type
    if (len < SHUTTLE_MIN_BYTES) return FrameError.Short
    if (len > SHUTTLE_MAX_BYTES) return FrameError.Length
    const sealed = checkSeal(b, len)
    if (sealed !== FrameError.None) return sealed
    const end = len - TRAILER
    f.group = b[1]
    f.epoch = getU16(b, 2)
    f.origin = b[4]
    f.holder = b[5]
    f.seq = getU32(b, 6)
    f.count = (b[10] & 0x07) + 1
    f.flags = b[10] & 0xf0
    const holds = (b[10] & HOLD_BIT) !== 0
    if ((f.flags & ~FLAGS_KNOWN) !== 0) return FrameError.Field
    if (f.count < 2) return FrameError.Field
    if (!validAddress(f.origin) || !validAddress(f.holder)) return FrameError.Field
    let o = 11
    if (o + f.count + (holds ? 6 : 4) > end) return FrameError.Length
    for (let i = 0; i < f.count; i++) {
        const a = b[o++]
        if (!validAddress(a)) return FrameError.Field
        if (i > 0 && a <= f.members[i - 1]) return FrameError.Field
        f.members[i] = a
    }
    const all = (1 << f.count) - 1
    f.adopted = b[o++]
    f.absent = b[o++]
    f.delivered = b[o++]
    f.held = 0
    f.copying = 0
    if (holds) {
        f.held = b[o++]
        f.copying = b[o++]
        // present only when some bit is set
        if ((f.held | f.copying) === 0) return FrameError.Field
    }
    if (((f.adopted | f.absent | f.delivered | f.held | f.copying) & ~all) !== 0) return FrameError.Field
    const wb = b[o++]
    f.windowLen = wb & 0x0f
    f.finalLag = wb >> 4
    if (f.windowLen > MAX_WINDOW || f.finalLag > f.windowLen) return FrameError.Field
    for (let w = 0; w < f.windowLen; w++) {
        for (let i = 0; i < f.count; i++) {
            o = getLeb(b, o, end)
            if (o < 0) return FrameError.Field
            f.portions[w * 8 + i] = lebValue
            o = getLeb(b, o, end)
            if (o < 0) return FrameError.Field
            f.bytes[w * 8 + i] = lebValue
        }
    }
    if (o !== end) return FrameError.Length
    return FrameError.None
}

/** Decoded RELEASE frame: the released seq and the final manifests of the seqs just before
 * it, seqs seq-count .. seq-1. Totals of manifest w (0 = oldest) and member id m are at
 * [w * 8 + m]; `memberMask` says which member ids have a column (the group's members). */
export class ReleaseFrame {
    group = 0
    epoch = 0
    origin = 0
    sender = 0
    /** Every member of the group has adopted this seq. */
    seq = 0
    memberMask = 0
    count = 0
    portions: number[] = []
    bytes: number[] = []

    constructor() {
        for (let i = 0; i < MAX_WINDOW * MAX_MEMBERS; i++) {
            this.portions.push(0)
            this.bytes.push(0)
        }
    }
}

export const RELEASE_MIN_BYTES = 12 + TRAILER
export const RELEASE_MAX_BYTES = 12 + MAX_WINDOW * MAX_MEMBERS * 10 + TRAILER

export function encodeRelease(r: ReleaseFrame, out: Buffer): number {
    out[0] = FrameType.Release
    out[1] = r.group & 0xff
    putU16(out, 2, r.epoch & 0xffff)
    out[4] = r.origin & 0x7f
    out[5] = r.sender & 0x7f
    putU32(out, 6, r.seq)
    out[10] = r.memberMask & 0xff
    out[11] = r.count
    let o = 12
    for (let w = 0; w < r.count; w++) {
        for (let m = 0; m < MAX_MEMBERS; m++) {
            if ((r.memberMask & (1 << m)) === 0) continue
            o = putLeb(out, o, r.portions[w * 8 + m] >>> 0)
            o = putLeb(out, o, r.bytes[w * 8 + m] >>> 0)
        }
    }
    return seal(out, o)
}

export function decodeRelease(b: Buffer, len: number, r: ReleaseFrame): number {
    if (len > b.length) len = b.length
    if (len < 1) return FrameError.Short
    if (b[0] !== FrameType.Release) return FrameError.Type
    if (len < RELEASE_MIN_BYTES) return FrameError.Short
    if (len > RELEASE_MAX_BYTES) return FrameError.Length
    const sealed = checkSeal(b, len)
    if (sealed !== FrameError.None) return sealed
    const end = len - TRAILER
    r.group = b[1]
    r.epoch = getU16(b, 2)
    r.origin = b[4]
    r.sender = b[5]
    r.seq = getU32(b, 6)
    r.memberMask = b[10]
    r.count = b[11]
    if (!validAddress(r.origin) || !validAddress(r.sender)) return FrameError.Field
    if (r.count > MAX_WINDOW) return FrameError.Field
    let o = 12
    for (let w = 0; w < r.count; w++) {
        for (let m = 0; m < MAX_MEMBERS; m++) {
            r.portions[w * 8 + m] = 0
            r.bytes[w * 8 + m] = 0
            if ((r.memberMask & (1 << m)) === 0) continue
            o = getLeb(b, o, end)
            if (o < 0) return FrameError.Field
            r.portions[w * 8 + m] = lebValue
            o = getLeb(b, o, end)
            if (o < 0) return FrameError.Field
            r.bytes[w * 8 + m] = lebValue
        }
    }
    if (o !== end) return FrameError.Length
    return FrameError.None
}

export class EvictedFrame {
    group = 0
    epoch = 0
    origin = 0
    sender = 0
    /** The member that is no longer in the group. */
    target = 0
}

export function encodeEvicted(e: EvictedFrame, out: Buffer): number {
    out[0] = FrameType.Evicted
    out[1] = e.group & 0xff
    putU16(out, 2, e.epoch & 0xffff)
    out[4] = e.origin & 0x7f
    out[5] = e.sender & 0x7f
    out[6] = e.target & 0x7f
    return seal(out, 7)
}

export function decodeEvicted(b: Buffer, len: number, e: EvictedFrame): number {
    if (len > b.length) len = b.length
    if (len < 1) return FrameError.Short
    if (b[0] !== FrameType.Evicted) return FrameError.Type
    if (len < EVICTED_BYTES) return FrameError.Short
    if (len > EVICTED_BYTES) return FrameError.Length
    const sealed = checkSeal(b, len)
    if (sealed !== FrameError.None) return sealed
    e.group = b[1]
    e.epoch = getU16(b, 2)
    e.origin = b[4]
    e.sender = b[5]
    e.target = b[6]
    if (!validAddress(e.origin) || !validAddress(e.sender) || !validAddress(e.target)) return FrameError.Field
    return FrameError.None
}

/** (epoch, origin) order: a shuttle of a later key supersedes one of an earlier key. The
 * epoch compares wrap-safely (16-bit serial arithmetic); the origin address breaks ties
 * between two members that regenerated with the same epoch. Returns <0, 0 or >0. */
export function compareEpoch(epochA: number, originA: number, epochB: number, originB: number): number {
    const d = (((epochA - epochB) & 0xffff) << 16) >> 16
    if (d !== 0) return d
    return originA - originB
}
