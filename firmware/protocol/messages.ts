import { getU32, putU32 } from "../codec/bytes"
import { crc32cUpdate } from "../codec/crc32c"

/**
 * Replication messages, carried by the link channel (which makes them reliable and ordered).
 * Layouts are little-endian and listed byte by byte in docs/FORMAT.md.
 *
 * primary → remote
 *   PORTION    0x01 | seq u32 | lba u32 | crc u32 | data[n]
 *              crc: the CRC-32C of the data, computed once when the app's write was captured
 *   SEQ_DONE   0x02 | seq u32 | sent u32 | bytes u32 | flags u8
 *              the member has sent, in this session, every portion it will send for seq:
 *              `sent` portions holding `bytes` of data. Flag 0x01 (SHORT): some write stamped
 *              seq never became durable (a power cut or a flash error interrupted it), so
 *              `sent` may be below the manifest; such a write was never acknowledged, so no
 *              other write can depend on it. Flag 0x02 (HELD), followed by digest u32: the
 *              member sent no portion of seq in this session, because the remote's HELD named
 *              the `sent` versions it holds staged with that digest and they are the member's
 *   MANIFEST   0x03 | seq u32 | prevSeq u32 | n u8 | n × (member u8 | portions u32 | bytes u32)
 *              the final group totals of seq, per member: portions are distinct lbas written
 *              with seq (after write folding), bytes their data; prevSeq is the seq the group
 *              closed before it (seqs can be skipped when a lost shuttle is regenerated)
 *   EVICTED    0x04 | member u8 | seq u32
 *              the group evicted member; seq: the group's seq when the sender learned it (0:
 *              the sender restored it at boot and does not know)
 *   ADMITTED   0x06 | member u8 | seq u32
 *              the group admitted member again at seq. The remote keeps, per member, the
 *              newest of these it heard: an ADMITTED wins over an EVICTED of the same seq, and
 *              an EVICTED with seq 0 counts only when it heard neither
 *   VERIFY     0x07 | from u32 | n u8
 *              online verify: the remote answers what it holds of the member's lbas from..
 *              from + n - 1 (n ≤ 64)
 *   RESTORE    0x08 | op u8 | base u32 | credit u8
 *              a board restoring its image from the remote (or failing back from a promoted
 *              remote). op 0 (BEGIN) first: the remote holds its applied image for the restore
 *              (a full resync; a promoted remote needs none), discards what is staged above it
 *              and answers BEGUN. op 1 (PASS) and 2 (PASS_SINCE): a pass over the member's lbas
 *              in increasing order, every one the applied image holds (PASS) or those whose
 *              applied version is newer than `base` (PASS_SINCE); the remote may send `credit`
 *              answers of the pass, and op 3 (MORE) gives it `credit` more
 *   RESYNC     0x05 | base u32 | from u32 | to u32 | flags u8
 *              a full resync: the member copies the blocks the remote lacks into new seqs.
 *              base is its confirmed seq C, from = C + 1; with flag 0x01 (DONE) the copy is
 *              complete, and its image as of any final seq at or after `to` is the remote's
 *              image of it overlaid with its portions of seqs from.. that seq
 * remote → primary
 *   APPLIED    0x81 | appliedSeq u32
 *              the remote has applied every seq up to appliedSeq; the primary may unpin them
 *   RESYNC_REQUEST 0x82
 *              the remote is in a full resync and every member's link is up: the member copies
 *              its image (or announces the copy it has made again); a suspended member resumes
 *   RESYNC_WAIT 0x83
 *              the resync waits for a member whose link is down
 *   HELD       0x86 | n u8 | n × (seq u32 | count u32 | digest u32)
 *              at a new session: per unapplied seq, the member's versions the remote holds
 *              staged whole (their digest: heldShare); the member sends none of a seq whose own versions
 *              have the same count and digest, only its SEQ_DONE with HELD
 *   VERIFIED   0x84 | from u32 | n u8 | n × (state u8 | crc u32)
 *              the answer to VERIFY: per lba, what the remote's applied image holds (state 0:
 *              no block, 1: a block whose CRC-32C follows, 2: a block that reads back damaged)
 *   RESTORED   0x85 | lba u32 | applied u32 | top u32 | state u8 | data[block if state 1]
 *              the answers to RESTORE, one per lba of a pass: `applied` is the applied seq the
 *              pass began at (the board's next pass asks for what is newer), `top` the newest
 *              seq the remote has heard of (the restored board's seqs start after it). state,
 *              low bits: 1 the block follows, 2 it reads back damaged, 3 END (the pass is over,
 *              lba 0xFFFFFFFF), 4 BEGUN (the answer to BEGIN). Flag 0x40 (PROMOTED): the remote
 *              holds the writable role; 0x80 (FROZEN): its image did not change since the pass
 *              began and will not (it is not promoted, or it is failing back)
 */
export const enum Msg {
    Portion = 0x01,
    SeqDone = 0x02,
    Manifest = 0x03,
    /** The group evicted a member: [type, member id, seq u32]. */
    Evicted = 0x04,
    Resync = 0x05,
    /** The group admitted an evicted member again: [type, member id, seq u32]. */
    Admitted = 0x06,
    /** Online verify: [type, from lba u32, count u8]. */
    Verify = 0x07,
    /** A restoring board asks for the remote's applied image: [type, op, base u32, credit]. */
    Restore = 0x08,
    Applied = 0x81,
    ResyncRequest = 0x82,
    /** The resync waits for a member whose link is down: a member that holds its app's
     * acknowledgements for the resync suspends instead. */
    ResyncWait = 0x83,
    /** The answer to VERIFY. */
    Verified = 0x84,
    /** The answer to RESTORE. */
    Restored = 0x85,
    /** What the remote holds staged of a member's unapplied seqs (count and digest each). */
    Held = 0x86,
}

export const RESTORE_LEN = 7
/** RESTORE's ops. */
export const enum RestoreOp {
    Begin = 0,
    Pass = 1,
    PassSince = 2,
    More = 3,
}
/** RESTORED's lba when it names none (END, BEGUN). */
export const RESTORE_NO_LBA = 0xffffffff
/** RESTORED's bytes before the block's data. */
export const RESTORED_HEADER = 14
/** RESTORED's states (the low bits of its state byte) and flags. */
export const enum Restored {
    Block = 1,
    Damaged = 2,
    End = 3,
    Begun = 4,
    Mask = 0x0f,
    Promoted = 0x40,
    Frozen = 0x80,
}

/** RESTORE: `op`, `base` (PASS_SINCE), `credit` answers more. */
export function encodeRestore(op: number, base: number, credit: number): Buffer {
    const b = Buffer.alloc(RESTORE_LEN)
    b[0] = Msg.Restore
    b[1] = op
    putU32(b, 2, base)
    b[6] = credit
    return b
}

export const RESYNC_DONE = 0x01
/** The suspension's reason in a RESYNC's flags (bits 4..7; 0: not suspended). */
export const RESYNC_REASON_SHIFT = 4
/** A member's portions of a seq in a manifest when the member suspended replication and
 * tracks that seq: the remote never applies the seq alone, only through a resync. */
export const TRACKED = 0xffffffff
export const RESYNC_LEN = 14
/** Reasons in a RESYNC's flags that the remote treats apart: the member was evicted (it is out
 * of the group: no resync for it), or admitted again (it copies its whole image). */
export const REASON_EVICTED = 5
export const REASON_ADMITTED = 6
export const MEMBERSHIP_LEN = 6

/** EVICTED or ADMITTED of `member` at `seq`. */
export function encodeMembership(type: number, member: number, seq: number): Buffer {
    const b = Buffer.alloc(MEMBERSHIP_LEN)
    b[0] = type
    b[1] = member
    putU32(b, 2, seq)
    return b
}

export function encodeResync(base: number, from: number, to: number, flags: number): Buffer {
    const b = Buffer.alloc(RESYNC_LEN)
    b[0] = Msg.Resync
    putU32(b, 1, base)
    putU32(b, 5, from)
    putU32(b, 9, to)
    b[13] = flags
    return b
}

/** PORTION: type, seq, lba, the block's CRC-32C (computed once, when the write was captured),
 * then the data. */
export const PORTION_HEADER = 13

/** @devsWhenUsed */
export class ManifestEntry {
    constructor(
        public member: number,
        public portions: number,
        public bytes: number
    ) {}
}

/** @devsWhenUsed */
export class Manifest {
    constructor(
        public seq: number,
        public prevSeq: number,
        public entries: ManifestEntry[]
    ) {}

    totalPortions(): number {
        let n = 0
        for (let i = 0; i < this.entries.length; i++) n += this.entries[i].portions
        return n
    }

    entryFor(member: number): ManifestEntry | null {
        for (let i = 0; i < this.entries.length; i++) if (this.entries[i].member === member) return this.entries[i]
        return null
    }
}

export function encodePortionHeader(dst: Buffer, seq: number, lba: number, crc: number): void {
    dst[0] = Msg.Portion
    putU32(dst, 1, seq)
    putU32(dst, 5, lba)
    putU32(dst, 9, crc)
}

export const SEQ_DONE_SHORT = 0x01
/** SEQ_DONE's flag: no portion was sent, the remote holds them staged (a digest follows). */
export const SEQ_DONE_HELD = 0x02
/** SEQ_DONE's length, and with the HELD flag (its digest). */
export const SEQ_DONE_LEN = 14
export const SEQ_DONE_HELD_LEN = 18
/** HELD: its bytes before the entries, each entry's, and the most entries one message takes
 * (so that it is never longer than a PORTION). */
export const HELD_HEADER = 2
export const HELD_ENTRY = 12
export const HELD_MAX = 20
/** The remote's resume state (applied seq u32, flags u8): HELD is the session's first message
 * after APPLIED. */
export const RESUME_HELD = 0x01
/** The remote has applied nothing yet (a blank store, or one that never committed a seq): no
 * APPLIED comes, and its applied seq is no seq of the group's (after the wrap of the u32 seqs
 * a group's seqs may lie before 0, so 0 cannot say "nothing"). */
export const RESUME_NONE = 0x02

/** The share of one version in a seq's digest: the CRC-32C of its lba and its data's CRC-32C
 * (`tmp`: 8 bytes of scratch). The digest of a set of versions is the sum of their shares mod
 * 2^32, the same in any order. Two sets that differ only in the data of one block never have
 * the same digest (a CRC-32C detects any change of 32 bits or fewer in a row); sets that differ
 * more have it by chance (2^-32). */
export function heldShare(tmp: Buffer, lba: number, crc: number): number {
    putU32(tmp, 0, lba)
    putU32(tmp, 4, crc)
    return crc32cUpdate(0, tmp, 0, 8)
}

/** @devsWhenUsed */
export class SeqDone {
    constructor(
        public seq: number,
        public sent: number,
        public bytes: number,
        public flags: number
    ) {}
    /** With SEQ_DONE_HELD: the digest of the versions the member holds. */
    digest = 0
}

export function encodeSeqDone(d: SeqDone): Buffer {
    return seqDoneMessage(d.seq, d.sent, d.bytes, d.flags, d.digest)
}

/** SEQ_DONE from its fields (what encodeSeqDone writes, without a SeqDone to hold them);
 * with the HELD flag, `digest` follows. */
export function seqDoneMessage(seq: number, sent: number, bytes: number, flags: number, digest = 0): Buffer {
    let n = SEQ_DONE_LEN
    if (flags & SEQ_DONE_HELD) n = SEQ_DONE_HELD_LEN
    const b = Buffer.alloc(n)
    b[0] = Msg.SeqDone
    putU32(b, 1, seq)
    putU32(b, 5, sent)
    putU32(b, 9, bytes)
    b[13] = flags
    if (flags & SEQ_DONE_HELD) putU32(b, 14, digest)
    return b
}

export function decodeSeqDone(b: Buffer, len: number): SeqDone | null {
    if (len < SEQ_DONE_LEN) return null
    if (b[0] !== Msg.SeqDone) return null
    if ((b[13] & ~(SEQ_DONE_SHORT | SEQ_DONE_HELD)) !== 0) return null
    let n = SEQ_DONE_LEN
    if (b[13] & SEQ_DONE_HELD) n = SEQ_DONE_HELD_LEN
    if (len !== n) return null
    const d = new SeqDone(getU32(b, 1), getU32(b, 5), getU32(b, 9), b[13])
    if (b[13] & SEQ_DONE_HELD) d.digest = getU32(b, 14)
    return d
}

export function encodeManifest(m: Manifest): Buffer {
    const b = Buffer.alloc(10 + 9 * m.entries.length)
    b[0] = Msg.Manifest
    putU32(b, 1, m.seq)
    putU32(b, 5, m.prevSeq)
    b[9] = m.entries.length
    for (let i = 0; i < m.entries.length; i++) {
        const e = m.entries[i]
        const o = 10 + 9 * i
        b[o] = e.member
        putU32(b, o + 1, e.portions)
        putU32(b, o + 5, e.bytes)
    }
    return b
}

/** Decodes a MANIFEST message; null when it is malformed. */
export function decodeManifest(b: Buffer, len: number): Manifest | null {
    if (len < 10) return null
    if (b[0] !== Msg.Manifest) return null
    const n = b[9]
    if (n > 32) return null
    if (len !== 10 + 9 * n) return null
    const entries: ManifestEntry[] = []
    for (let i = 0; i < n; i++) {
        const o = 10 + 9 * i
        for (let j = 0; j < entries.length; j++) if (entries[j].member === b[o]) return null
        entries.push(new ManifestEntry(b[o], getU32(b, o + 1), getU32(b, o + 5)))
    }
    return new Manifest(getU32(b, 1), getU32(b, 5), entries)
}

export function encodeApplied(appliedSeq: number): Buffer {
    const b = Buffer.alloc(5)
    b[0] = Msg.Applied
    putU32(b, 1, appliedSeq)
    return b
}
