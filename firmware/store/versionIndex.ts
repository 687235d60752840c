import { seqAfter, seqDiff } from "../seq"
import { numbers, PackedArray } from "./packed"

/** Slot flags. */
const LIVE = 1
const IN_SEQ = 2
/** Parsed at mount, not yet placed in the index. */
const CANDIDATE = 4

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
    private key: PackedArray
    private seq: PackedArray
    private entry: PackedArray
    private flags: PackedArray
    /** Links are stored plus one (0 = none). */
    private next: PackedArray
    private seqNext: PackedArray
    private seqPrev: PackedArray
    private buckets: PackedArray
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
        this.key = new PackedArray(slots, 4)
        this.seq = new PackedArray(slots, 4)
        this.entry = new PackedArray(slots, 1)
        this.flags = new PackedArray(slots, 1)
        this.next = new PackedArray(slots, 2)
        this.seqNext = new PackedArray(slots, 2)
        this.seqPrev = new PackedArray(slots, 2)
        // about 1.5 buckets per slot, odd so that the modulo mixes well
        this.nBuckets = Math.floor(slots * 1.5) | 1
        this.buckets = new PackedArray(this.nBuckets, 2)
        this.sectorLive = numbers(slots / slotsPerSector, 0)
    }

    /** Empties the index in place, for a new mount: the RAM it holds is allocated once. */
    clear(): void {
        this.key.clear()
        this.seq.clear()
        this.entry.clear()
        this.flags.clear()
        this.next.clear()
        this.seqNext.clear()
        this.seqPrev.clear()
        this.buckets.clear()
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
        return this.slots * 16 + this.buckets.ramBytes() + this.sectorLive.length * 8
    }

    // (bit operations, not % 2^24: the VM's % treats values of 2^31 and more as negative int32,
    // while its bit operations take the low 32 bits as Node's do)
    memberOf(g: number): number {
        return this.key.get(g) >>> 24
    }

    lbaOf(g: number): number {
        return this.key.get(g) & 0xffffff
    }

    seqOf(g: number): number {
        return this.seq.get(g)
    }

    entryOf(g: number): number {
        return this.entry.get(g)
    }

    isLive(g: number): boolean {
        return (this.flags.get(g) & LIVE) !== 0
    }

    isCandidate(g: number): boolean {
        return (this.flags.get(g) & CANDIDATE) !== 0
    }

    /** Order in the log: (sector seq, entry index). */
    position(g: number): number {
        return this.sectorSeq[Math.floor(g / this.slotsPerSector)] * 256 + this.entry.get(g)
    }

    /** Describes slot g (not yet in the index). */
    setRecord(g: number, member: number, lba: number, seq: number, entry: number, candidate: boolean): void {
        storeInvariant(this.flags.get(g) === 0, "slot reused while live")
        this.key.set(g, member * 0x1000000 + lba)
        this.seq.set(g, seq)
        this.entry.set(g, entry)
        this.next.set(g, 0)
        this.seqNext.set(g, 0)
        this.seqPrev.set(g, 0)
        let f = 0
        if (candidate) f = CANDIDATE
        this.flags.set(g, f)
    }

    /** Forgets a mount candidate that will not be placed (void or duplicate). */
    dropCandidate(g: number): void {
        this.flags.set(g, 0)
    }

    /** Forgets every slot of a sector that is being erased (all must be dead already). */
    clearSector(sector: number): void {
        const base = sector * this.slotsPerSector
        for (let k = 0; k < this.slotsPerSector; k++) {
            storeInvariant(!this.isLive(base + k), "erasing a live version")
            this.flags.set(base + k, 0)
        }
    }

    // ---- lookups

    /** The newest version of (member, lba), or -1. */
    newest(member: number, lba: number): number {
        const b = this.find(member * 0x1000000 + lba)
        if (b < 0) return -1
        return this.buckets.get(b) - 1
    }

    /** The newest version at or below the horizon, or -1. */
    visible(member: number, lba: number): number {
        if (!this.hasHorizon) return -1
        const b = this.find(member * 0x1000000 + lba)
        if (b < 0) return -1
        for (let g = this.buckets.get(b) - 1; g >= 0; g = this.next.get(g) - 1) if (!seqAfter(this.seq.get(g), this.horizon)) return g
        return -1
    }

    /** The version of (member, lba) with exactly this seq, or -1. */
    version(member: number, lba: number, seq: number): number {
        const b = this.find(member * 0x1000000 + lba)
        if (b < 0) return -1
        for (let g = this.buckets.get(b) - 1; g >= 0; g = this.next.get(g) - 1) if (this.seq.get(g) === seq) return g
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
        return this.seqNext.get(g) - 1
    }

    // ---- changes

    /** Places version g (described by setRecord) and applies the retention rule to its key.
     * Returns the versions that died (g itself included if it lost). */
    insert(g: number): number {
        storeInvariant(!this.isLive(g), "insert of a live slot")
        const key = this.key.get(g)
        this.flags.set(g, LIVE)
        this.countLive(g, 1)
        let b = this.find(key)
        if (b < 0) {
            // the free bucket its probes reached
            b = -1 - b
            storeInvariant(b < this.nBuckets, "hash table has room")
            this.buckets.set(b, g + 1)
            this.next.set(g, 0)
        } else {
            // after the versions newer than g: a higher seq, or the same seq later in the log
            const s = this.seq.get(g)
            let prev = -1
            let cur = this.buckets.get(b) - 1
            while (cur >= 0) {
                const d = seqDiff(this.seq.get(cur), s)
                if (d < 0) break
                if (d === 0) if (this.position(cur) <= this.position(g)) break
                prev = cur
                cur = this.next.get(cur) - 1
            }
            this.next.set(g, cur + 1)
            if (prev < 0) this.buckets.set(b, g + 1)
            else this.next.set(prev, g + 1)
        }
        const s = this.seq.get(g)
        if (this.hasHorizon) if (!seqAfter(s, this.horizon)) return this.normalize(key)
        // above the horizon: at the tail of its seq's list
        let i = this.seqIndex(s)
        if (i < 0) {
            i = this.seqVal.length
            this.seqVal.push(s)
            this.seqHead.push(0)
            this.seqTail.push(0)
        }
        const t = this.seqTail[i]
        this.seqPrev.set(g, t)
        this.seqNext.set(g, 0)
        this.seqLink(i, t, 0, g + 1, g + 1)
        this.flags.set(g, this.flags.get(g) | IN_SEQ)
        return this.normalize(key)
    }

    /** Slot gNew (described by setRecord with the same key and seq) takes g's place. */
    replace(g: number, gNew: number): void {
        const flags = this.flags
        const key = this.key.get(g)
        const seq = this.seq.get(g)
        storeInvariant(this.isLive(g), "replace of a dead slot")
        storeInvariant(key === this.key.get(gNew), "replace keeps identity")
        storeInvariant(seq === this.seq.get(gNew), "replace keeps identity")
        const b = this.find(key)
        storeInvariant(b >= 0, "live version has a bucket")
        this.next.set(gNew, this.next.get(g))
        this.relink(b, g, gNew + 1)
        const f = flags.get(g)
        if ((f & IN_SEQ) !== 0) {
            const seqPrev = this.seqPrev
            const seqNext = this.seqNext
            const pv = seqPrev.get(g)
            const nx = seqNext.get(g)
            seqPrev.set(gNew, pv)
            seqNext.set(gNew, nx)
            this.seqLink(this.seqIndex(seq), pv, nx, gNew + 1, gNew + 1)
        }
        flags.set(gNew, f & (LIVE | IN_SEQ))
        flags.set(g, 0)
        this.countLive(g, -1)
        this.countLive(gNew, 1)
    }

    /** Removes version g (it dies). */
    kill(g: number): void {
        storeInvariant(this.isLive(g), "kill of a dead slot")
        const key = this.key.get(g)
        const b = this.find(key)
        storeInvariant(b >= 0, "live version has a bucket")
        const nx = this.next.get(g)
        // the only version of its key: the bucket goes
        let only = false
        if (nx === 0) if (this.buckets.get(b) === g + 1) only = true
        if (only) {
            // the bucket goes: linear-probing delete with backward shift (no tombstones)
            const buckets = this.buckets
            const n = this.nBuckets
            let hole = b
            let j = b
            buckets.set(hole, 0)
            for (let step = 0; step < n; step++) {
                if (++j === n) j = 0
                const v = buckets.get(j)
                if (v === 0) break
                const home = this.hash(this.key.get(v - 1))
                // v may move into the hole unless its home lies cyclically in (hole, j]
                let stays = false
                if (hole <= j) {
                    if (home > hole) if (home <= j) stays = true
                } else {
                    if (home > hole) stays = true
                    if (home <= j) stays = true
                }
                if (!stays) {
                    buckets.set(hole, v)
                    buckets.set(j, 0)
                    hole = j
                }
            }
        } else this.relink(b, g, nx)
        if ((this.flags.get(g) & IN_SEQ) !== 0) this.seqRemove(g)
        this.flags.set(g, 0)
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
            this.normalize(this.key.get(g))
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
                const nx = this.seqNext.get(g) - 1
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
        const seqs = this.seq
        const hasHorizon = this.hasHorizon
        let died = 0
        let prev = -1
        let below = -1
        let g = this.buckets.get(b) - 1
        while (g >= 0) {
            const nx = this.next.get(g) - 1
            const s = seqs.get(g)
            let atOrBelow = false
            if (hasHorizon) if (!seqAfter(s, this.horizon)) atOrBelow = true
            // dies: a version of the same seq as a newer one, or one more at or below H
            let dies = false
            if (prev >= 0) if (seqs.get(prev) === s) dies = true
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
                    if (this.buckets.get(bb) - 1 !== below) {
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
        const i = this.seqIndex(this.seq.get(g))
        storeInvariant(i >= 0, "version in a known seq list")
        const pv = this.seqPrev.get(g)
        const nx = this.seqNext.get(g)
        this.seqLink(i, pv, nx, nx, pv)
        this.flags.set(g, this.flags.get(g) & ~IN_SEQ)
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
        else this.seqNext.set(pv - 1, after)
        if (nx === 0) this.seqTail[i] = before
        else this.seqPrev.set(nx - 1, before)
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
        const nb = this.nBuckets
        let i = this.hash(key)
        for (let n = 0; n < nb; n++) {
            const v = buckets.get(i)
            if (v === 0) return -1 - i
            if (this.key.get(v - 1) === key) return i
            if (++i === nb) i = 0
        }
        return -1 - nb
    }

    /** The link to version g in bucket b's chain (the bucket's head or the version before g)
     * takes `to` (a link: slot + 1, 0 for none). */
    private relink(b: number, g: number, to: number): void {
        if (this.buckets.get(b) === g + 1) return this.buckets.set(b, to)
        let p = this.buckets.get(b) - 1
        while (this.next.get(p) !== g + 1) p = this.next.get(p) - 1
        this.next.set(p, to)
    }
}
