import { getU16, getU32, putU16, putU32 } from "../codec/bytes"
import { seqAfter, seqDiff } from "../seq"
import { numbers } from "./packed"

const EMPTY = Buffer.alloc(0)

/**
 * Bytes per data slot in the index's table, and where each field of a slot lies: its key
 * (member × 2^24 + lba, u32), its seq (u32), the links of its key's version chain and of its
 * seq's list (u16 each, slot + 1, 0 for none), its entry index in its sector and its flags.
 */
const SLOT = 16
const O_SEQ = 4
const O_NEXT = 8
const O_SNEXT = 10
const O_SPREV = 12
const O_ENTRY = 14
const O_FLAGS = 15

/** Slot flags. */
const LIVE = 1
const IN_SEQ = 2
/** Parsed at mount, not yet placed in the index. */
export const CANDIDATE = 4
/** A candidate whose fields only their own check vouches for (its data failed its CRC): the
 * mount takes its seq only when it is not after the highest a checked record gave. */
export const UNSURE = 8

export function storeInvariant(ok: boolean, what: string): void {
    if (!ok) throw new Error("store invariant: " + what)
}

/**
 * The block store's RAM index: which version of each (member, lba) is where, and which versions
 * are pinned (primary) or staged (remote) per seq. Everything is addressed by data slot number
 * g = sector × slotsPerSector + slot, and kept in fixed tables allocated once (about 16 bytes
 * per data slot of the store, plus 2 bytes per hash bucket).
 *
 * Per key (member, lba) a version chain, newest first (by seq, then by position in the log),
 * that obeys the retention rule against the horizon H (the confirmed seq on a primary, the
 * applied seq on the remote; before the first one, every version counts as above H):
 * - above H: the newest version of each seq (pinned / staged), and each sits in its seq's list;
 * - at or below H: only the newest such version; on a primary, not even that one when a version
 *   above H exists (the newest version is then the pinned one).
 * Every other version is dead: its slot is garbage for the collector.
 * @devsWhenUsed
 */
export class VersionIndex {
    /** SLOT bytes per data slot (see SLOT). One Buffer: a board's heap could never hold the
     * table of 4,096 slots that would reach the VM's 64 KB limit of a Buffer. */
    private t: Buffer
    /** The hash table of keys: per bucket the newest version of its key (slot + 1, u16), 0 for
     * none. */
    private buckets: Buffer
    private nBuckets: number
    /** Seqs above the horizon that have versions: value, list head and tail (slot+1). */
    private seqVal: number[] = []
    private seqHead: number[] = []
    private seqTail: number[] = []
    hasHorizon = false
    horizon = 0
    /** Live versions per sector. */
    sectorLive: number[]
    liveCount = 0

    constructor(
        public slots: number,
        private slotsPerSector: number,
        /** Sector seq of each sector: a version's position in the log is (sector seq, entry). */
        private sectorSeq: number[],
        private primary: boolean
    ) {
        storeInvariant(slots > 0, "slot count fits u16 links")
        storeInvariant(slots < 65535, "slot count fits u16 links")
        this.t = Buffer.alloc(slots * SLOT)
        // about 1.5 buckets per slot, odd so that the modulo mixes well
        this.nBuckets = Math.floor(slots * 1.5) | 1
        this.buckets = Buffer.alloc(this.nBuckets * 2)
        this.sectorLive = numbers(slots / slotsPerSector, 0)
    }

    /** Empties the index in place, for a new mount: the RAM it holds is allocated once. */
    clear(): void {
        // each table is dropped before it is allocated again, so the RAM held never doubles (a
        // second table beside the first would not fit a board's heap)
        const n = this.t.length
        this.t = EMPTY
        this.t = Buffer.alloc(n)
        const nb = this.buckets.length
        this.buckets = EMPTY
        this.buckets = Buffer.alloc(nb)
        this.seqVal = []
        this.seqHead = []
        this.seqTail = []
        this.hasHorizon = false
        this.horizon = 0
        this.liveCount = 0
        for (let s = 0; s < this.sectorLive.length; s++) this.sectorLive[s] = 0
    }

    /** Bytes of RAM the index holds: 16 per slot (key, seq, entry, flags, three links), 2 per
     * bucket, and a number (8 bytes on the board) per sector. */
    ramBytes(): number {
        return this.slots * SLOT + this.buckets.length + this.sectorLive.length * 8
    }

    // (bit operations, not % 2^24: the VM's % treats values of 2^31 and more as negative int32,
    // while its bit operations take the low 32 bits as Node's do)
    memberOf(g: number): number {
        return getU32(this.t, g * SLOT) >>> 24
    }

    lbaOf(g: number): number {
        return getU32(this.t, g * SLOT) & 0xffffff
    }

    seqOf(g: number): number {
        return getU32(this.t, g * SLOT + O_SEQ)
    }

    entryOf(g: number): number {
        return this.t[g * SLOT + O_ENTRY]
    }

    isLive(g: number): boolean {
        return (this.t[g * SLOT + O_FLAGS] & LIVE) !== 0
    }

    /** CANDIDATE (and UNSURE) when g is a mount candidate, else 0. */
    candidate(g: number): number {
        return this.t[g * SLOT + O_FLAGS] & (CANDIDATE | UNSURE)
    }

    /** Order in the log: (sector seq, entry index). */
    position(g: number): number {
        return this.sectorSeq[Math.floor(g / this.slotsPerSector)] * 256 + this.t[g * SLOT + O_ENTRY]
    }

    /** Describes slot g (not yet in the index). */
    setRecord(g: number, member: number, lba: number, seq: number, entry: number, flags: number): void {
        const t = this.t
        const o = g * SLOT
        storeInvariant(t[o + O_FLAGS] === 0, "slot reused while live")
        putU32(t, o, member * 0x1000000 + lba)
        putU32(t, o + O_SEQ, seq)
        // the three links none
        putU32(t, o + O_NEXT, 0)
        putU16(t, o + O_SPREV, 0)
        t[o + O_ENTRY] = entry
        t[o + O_FLAGS] = flags
    }

    /** Forgets a mount candidate that will not be placed (void or duplicate). */
    dropCandidate(g: number): void {
        this.t[g * SLOT + O_FLAGS] = 0
    }

    /** Forgets every slot of a sector that is being erased (all must be dead already). */
    clearSector(sector: number): void {
        const base = sector * this.slotsPerSector
        for (let k = 0; k < this.slotsPerSector; k++) {
            storeInvariant(!this.isLive(base + k), "erasing a live version")
            this.t[(base + k) * SLOT + O_FLAGS] = 0
        }
    }

    // ---- lookups

    /** The newest version of (member, lba), or -1. */
    newest(member: number, lba: number): number {
        const b = this.find(member * 0x1000000 + lba)
        if (b < 0) return -1
        return getU16(this.buckets, b * 2) - 1
    }

    /** The newest version at or below the horizon, or -1. */
    visible(member: number, lba: number): number {
        if (!this.hasHorizon) return -1
        const b = this.find(member * 0x1000000 + lba)
        if (b < 0) return -1
        for (let g = getU16(this.buckets, b * 2) - 1; g >= 0; g = getU16(this.t, g * SLOT + O_NEXT) - 1)
            if (!seqAfter(getU32(this.t, g * SLOT + O_SEQ), this.horizon)) return g
        return -1
    }

    /** The version of (member, lba) with exactly this seq, or -1. */
    version(member: number, lba: number, seq: number): number {
        const b = this.find(member * 0x1000000 + lba)
        if (b < 0) return -1
        for (let g = getU16(this.buckets, b * 2) - 1; g >= 0; g = getU16(this.t, g * SLOT + O_NEXT) - 1) if (getU32(this.t, g * SLOT + O_SEQ) === seq) return g
        return -1
    }

    /** Seqs above the horizon with versions, oldest first. */
    seqsAbove(): number[] {
        const out: number[] = []
        for (let i = 0; i < this.seqVal.length; i++) {
            const s = this.seqVal[i]
            let j = out.length
            out.push(s)
            while (j > 0) {
                if (!seqAfter(out[j - 1], s)) break
                out[j] = out[j - 1]
                j--
            }
            out[j] = s
        }
        return out
    }

    /** First version in seq's list, or -1. */
    firstOfSeq(seq: number): number {
        const i = this.seqIndex(seq)
        if (i < 0) return -1
        return this.seqHead[i] - 1
    }

    nextOfSeq(g: number): number {
        return getU16(this.t, g * SLOT + O_SNEXT) - 1
    }

    // ---- changes

    /** Places version g (described by setRecord) and applies the retention rule to its key.
     * Returns the versions that died (g itself included if it lost). */
    insert(g: number): number {
        const t = this.t
        const o = g * SLOT
        storeInvariant(!this.isLive(g), "insert of a live slot")
        const key = getU32(t, o)
        const s = getU32(t, o + O_SEQ)
        t[o + O_FLAGS] = LIVE
        this.countLive(g, 1)
        let b = this.find(key)
        if (b < 0) {
            // the free bucket its probes reached
            b = -1 - b
            storeInvariant(b < this.nBuckets, "hash table has room")
            putU16(this.buckets, b * 2, g + 1)
            putU16(t, o + O_NEXT, 0)
        } else {
            // after the versions newer than g: a higher seq, or the same seq later in the log
            let prev = -1
            let cur = getU16(this.buckets, b * 2) - 1
            while (cur >= 0) {
                const d = seqDiff(getU32(t, cur * SLOT + O_SEQ), s)
                if (d < 0) break
                if (d === 0) if (this.position(cur) <= this.position(g)) break
                prev = cur
                cur = getU16(t, cur * SLOT + O_NEXT) - 1
            }
            putU16(t, o + O_NEXT, cur + 1)
            if (prev < 0) putU16(this.buckets, b * 2, g + 1)
            else putU16(t, prev * SLOT + O_NEXT, g + 1)
        }
        if (this.hasHorizon) if (!seqAfter(s, this.horizon)) return this.normalize(key)
        // above the horizon: at the tail of its seq's list
        let i = this.seqIndex(s)
        if (i < 0) {
            i = this.seqVal.length
            this.seqVal.push(s)
            this.seqHead.push(0)
            this.seqTail.push(0)
        }
        const tail = this.seqTail[i]
        putU16(t, o + O_SPREV, tail)
        putU16(t, o + O_SNEXT, 0)
        this.seqLink(i, tail, 0, g + 1, g + 1)
        t[o + O_FLAGS] = LIVE | IN_SEQ
        return this.normalize(key)
    }

    /** Slot gNew (described by setRecord with the same key and seq) takes g's place. */
    replace(g: number, gNew: number): void {
        const t = this.t
        const o = g * SLOT
        const oNew = gNew * SLOT
        const key = getU32(t, o)
        const seq = getU32(t, o + O_SEQ)
        storeInvariant(this.isLive(g), "replace of a dead slot")
        storeInvariant(key === getU32(t, oNew), "replace keeps identity")
        storeInvariant(seq === getU32(t, oNew + O_SEQ), "replace keeps identity")
        const b = this.find(key)
        storeInvariant(b >= 0, "live version has a bucket")
        putU16(t, oNew + O_NEXT, getU16(t, o + O_NEXT))
        this.relink(b, g, gNew + 1)
        const f = t[o + O_FLAGS]
        if ((f & IN_SEQ) !== 0) {
            const pv = getU16(t, o + O_SPREV)
            const nx = getU16(t, o + O_SNEXT)
            putU16(t, oNew + O_SPREV, pv)
            putU16(t, oNew + O_SNEXT, nx)
            this.seqLink(this.seqIndex(seq), pv, nx, gNew + 1, gNew + 1)
        }
        t[oNew + O_FLAGS] = f & (LIVE | IN_SEQ)
        t[o + O_FLAGS] = 0
        this.countLive(g, -1)
        this.countLive(gNew, 1)
    }

    /** Removes version g (it dies). */
    kill(g: number): void {
        const t = this.t
        const o = g * SLOT
        storeInvariant(this.isLive(g), "kill of a dead slot")
        const key = getU32(t, o)
        const b = this.find(key)
        storeInvariant(b >= 0, "live version has a bucket")
        const nx = getU16(t, o + O_NEXT)
        // the only version of its key: the bucket goes
        let only = false
        if (nx === 0) if (getU16(this.buckets, b * 2) === g + 1) only = true
        if (only) {
            // the bucket goes: linear-probing delete with backward shift (no tombstones)
            const buckets = this.buckets
            const n = this.nBuckets
            let hole = b
            let j = b
            putU16(buckets, hole * 2, 0)
            for (let step = 0; step < n; step++) {
                if (++j === n) j = 0
                const v = getU16(buckets, j * 2)
                if (v === 0) break
                const home = this.hash(getU32(t, (v - 1) * SLOT))
                // v may move into the hole unless its home lies cyclically in (hole, j]
                let stays = false
                if (hole <= j) {
                    if (home > hole) if (home <= j) stays = true
                } else {
                    if (home > hole) stays = true
                    if (home <= j) stays = true
                }
                if (!stays) {
                    putU16(buckets, hole * 2, v)
                    putU16(buckets, j * 2, 0)
                    hole = j
                }
            }
        } else this.relink(b, g, nx)
        if ((t[o + O_FLAGS] & IN_SEQ) !== 0) this.seqRemove(g)
        t[o + O_FLAGS] = 0
        this.countLive(g, -1)
    }

    /** Sets a new horizon. Versions of seqs at or below it stay in their seq lists until
     * `pruneStep` has passed over them. */
    setHorizon(h: number): void {
        this.hasHorizon = true
        this.horizon = h
    }

    /**
     * Takes up to `budget` versions out of the lists of seqs at or below the horizon and applies
     * the retention rule to their keys. Returns false while there is more to do.
     */
    pruneStep(budget: number): boolean {
        if (!this.hasHorizon) return true
        let n = 0
        for (let i = 0; i < this.seqVal.length;) {
            if (n >= budget) break
            if (seqAfter(this.seqVal[i], this.horizon)) {
                i++
                continue
            }
            const g = this.seqHead[i] - 1
            storeInvariant(g >= 0, "seq list has a head")
            this.seqRemove(g)
            this.normalize(getU32(this.t, g * SLOT))
            n++
            // seqRemove may have dropped entry i: look at the same index again
        }
        for (let i = 0; i < this.seqVal.length; i++) if (!seqAfter(this.seqVal[i], this.horizon)) return false
        return true
    }

    /** Remote: kills every staged version of `member` with a seq at or before `upTo` (the
     * member copies those blocks again: the versions would only be superseded at the commit).
     * Returns how many died. */
    dropStaged(member: number, upTo: number): number {
        let n = 0
        let i = 0
        while (i < this.seqVal.length) {
            const s = this.seqVal[i]
            if (seqAfter(s, upTo)) {
                i++
                continue
            }
            const before = this.seqVal.length
            let g = this.seqHead[i] - 1
            while (g >= 0) {
                const nx = getU16(this.t, g * SLOT + O_SNEXT) - 1
                if (this.memberOf(g) === member) {
                    this.kill(g)
                    n++
                }
                g = nx
            }
            // a seq left empty is taken out: entry i now holds another seq
            if (this.seqVal.length === before) i++
        }
        return n
    }

    /** Kills up to `budget` versions of seqs after `seq`. Returns false while there is more. */
    discardStep(seq: number, budget: number): boolean {
        let n = 0
        for (let i = 0; i < this.seqVal.length && n < budget;) {
            if (!seqAfter(this.seqVal[i], seq)) {
                i++
                continue
            }
            this.kill(this.seqHead[i] - 1)
            n++
        }
        for (let i = 0; i < this.seqVal.length; i++) if (seqAfter(this.seqVal[i], seq)) return false
        return true
    }

    // ---- internals

    /** Applies the retention rule to key's chain; returns how many versions died. */
    private normalize(key: number): number {
        const b = this.find(key)
        if (b < 0) return 0
        const t = this.t
        const hasHorizon = this.hasHorizon
        let died = 0
        let prev = -1
        let below = -1
        let g = getU16(this.buckets, b * 2) - 1
        while (g >= 0) {
            const nx = getU16(t, g * SLOT + O_NEXT) - 1
            const s = getU32(t, g * SLOT + O_SEQ)
            let atOrBelow = false
            if (hasHorizon) if (!seqAfter(s, this.horizon)) atOrBelow = true
            // dies: a version of the same seq as a newer one, or one more at or below H
            let dies = false
            if (prev >= 0) if (getU32(t, prev * SLOT + O_SEQ) === s) dies = true
            if (atOrBelow) if (below >= 0) dies = true
            if (dies) {
                this.kill(g)
                died++
            } else {
                if (atOrBelow) below = g
                prev = g
            }
            g = nx
        }
        if (this.primary)
            if (below >= 0) {
                const bb = this.find(key)
                if (bb >= 0)
                    if (getU16(this.buckets, bb * 2) - 1 !== below) {
                        this.kill(below)
                        died++
                    }
            }
        return died
    }

    private seqIndex(seq: number): number {
        for (let i = 0; i < this.seqVal.length; i++) if (this.seqVal[i] === seq) return i
        return -1
    }

    private seqRemove(g: number): void {
        const t = this.t
        const o = g * SLOT
        const i = this.seqIndex(getU32(t, o + O_SEQ))
        storeInvariant(i >= 0, "version in a known seq list")
        const pv = getU16(t, o + O_SPREV)
        const nx = getU16(t, o + O_SNEXT)
        this.seqLink(i, pv, nx, nx, pv)
        t[o + O_FLAGS] = t[o + O_FLAGS] & ~IN_SEQ
        if (this.seqHead[i] === 0) {
            // the list is empty: its seq goes
            const last = this.seqVal.length - 1
            this.seqVal[i] = this.seqVal[last]
            this.seqHead[i] = this.seqHead[last]
            this.seqTail[i] = this.seqTail[last]
            this.seqVal.pop()
            this.seqHead.pop()
            this.seqTail.pop()
        }
    }

    /** In seq list i, the version after pv (or the head, pv 0) becomes `after`, and the one
     * before nx (or the tail, nx 0) `before` (links are slot + 1, 0 for none). */
    private seqLink(i: number, pv: number, nx: number, after: number, before: number): void {
        if (pv === 0) this.seqHead[i] = after
        else putU16(this.t, (pv - 1) * SLOT + O_SNEXT, after)
        if (nx === 0) this.seqTail[i] = before
        else putU16(this.t, (nx - 1) * SLOT + O_SPREV, before)
    }

    /** Live versions in slot g's sector (and in all) change by d. */
    private countLive(g: number, d: number): void {
        const sector = Math.floor(g / this.slotsPerSector)
        this.sectorLive[sector] = this.sectorLive[sector] + d
        this.liveCount += d
    }

    private hash(key: number): number {
        let h = Math.imul(key ^ (key >>> 16), 0x45d9f3b)
        h = Math.imul(h ^ (h >>> 16), 0x45d9f3b)
        // >>> 1 keeps the value below 2^31: the VM's % treats larger values as negative int32
        return ((h ^ (h >>> 16)) >>> 1) % this.nBuckets
    }

    /** The bucket holding key; else a negative number, -1 - the free bucket where key would go
     * (-1 - nBuckets: none is free). */
    private find(key: number): number {
        const buckets = this.buckets
        const t = this.t
        const nb = this.nBuckets
        let i = this.hash(key)
        for (let n = 0; n < nb; n++) {
            const v = getU16(buckets, i * 2)
            if (v === 0) return -1 - i
            if (getU32(t, (v - 1) * SLOT) === key) return i
            if (++i === nb) i = 0
        }
        return -1 - nb
    }

    /** The link to version g in bucket b's chain (the bucket's head or the version before g)
     * takes `to` (a link: slot + 1, 0 for none). */
    private relink(b: number, g: number, to: number): void {
        if (getU16(this.buckets, b * 2) === g + 1) return putU16(this.buckets, b * 2, to)
        let p = getU16(this.buckets, b * 2) - 1
        while (getU16(this.t, p * SLOT + O_NEXT) !== g + 1) p = getU16(this.t, p * SLOT + O_NEXT) - 1
        putU16(this.t, p * SLOT + O_NEXT, to)
    }
}
