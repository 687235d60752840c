import { Clock } from "../../hal/clock"
import { Flash } from "../../hal/flash"
import { putU32 } from "../codec/bytes"
import { encodeDataEntry, encodeHeaderA, encodeHeaderB, encodeSmallEntry, ENTRY_SIZE, EntryType, META_KEYS, SECTOR_HEADER_SIZE } from "./format"
import { EMPTY, HORIZON, K, SecState, StoreCore } from "./storeCore"
import { StoreError, StoreOptions } from "./types"
import { storeInvariant } from "./versionIndex"

/**
 * The block store's room for records (storeCore.ts has the layers): appends go to the open
 * sector; when it is full a free sector is opened, and when too few are free, garbage
 * collection relocates what is live in a victim sector and erases it. Also reads of a version
 * (for a call and for collection): its entry, then its data, checked. What continues each of
 * these after a flash operation is a case of the store's one dispatcher (PrimaryBlockStore's
 * `go`, in primaryBlockStore.ts).
 * @devsWhenUsed
 */
export abstract class StoreSpace extends StoreCore {
    protected entryBuf: Buffer
    protected hdrBuf: Buffer

    // ---- room
    private roomIsData!: boolean
    private roomRounds!: number
    private roomDidStatic!: boolean
    private roomK!: K
    protected openK!: K
    protected openS!: number
    /** Where the piece verifyOne's check read last begins. */
    protected verifyAt!: number
    // ---- the append under way
    protected apK!: K
    /** The slot of the data record just appended. */
    protected apG!: number
    protected apS!: number
    protected apSlot!: number
    protected apEntry!: number
    protected apSeq!: number
    /** Where the small record just appended is (sector × 256 + entry). */
    protected apLoc!: number
    /** The record being copied is damaged: its copy keeps a CRC that does not match (until a
     * data record is appended). */
    protected apDamaged!: boolean
    // ---- the collection under way
    /** It runs between calls (a step at a time, the store busy meanwhile), not inside a call
     * that needs room. */
    protected idleGc = false
    /** The last victim of static wear levelling. */
    private wearV = -1
    /** A call waits for the erase behind the calls (its step when that ends; 0: none). */
    protected waitK = 0
    protected gcV!: number
    private gcSlot!: number
    protected gcK!: K
    /** The data of the version being copied. */
    protected gcData!: Buffer
    /** The small record being copied: its slot (metaLoc), or the remote's discard record. */
    protected gcSmallKey!: number
    // ---- the version read under way (for a call, or to relocate it)
    protected vK!: K
    /** The version read: its slot. */
    protected vG!: number
    protected vEntry!: Buffer
    /** The version read does not check (its data, or its entry against the index). */
    protected vDamaged!: boolean
    /** The block CRC-32C of the data the version read gave. */
    protected vCrc!: number

    constructor(flash: Flash, clock: Clock, opts: StoreOptions, remoteOk?: boolean) {
        super(flash, clock, opts, remoteOk)
        this.entryBuf = Buffer.alloc(ENTRY_SIZE)
        this.hdrBuf = Buffer.alloc(SECTOR_HEADER_SIZE)
    }

    // ---- what BlockStore adds (the remote role, collect, format): methods only it has (a
    // primary board's store has none, so that its image has none of that code)

    /** Runs one of BlockStore's steps (the remote role's, collect's, format's): what the one
     * dispatcher (`go`) leaves to it. */
    protected toolStep?(k: K, err: StoreError, data?: Buffer | null): void

    /** Collection of sector v: copies the next of BlockStore's small records in it (true), or
     * finds none (false). */
    protected copyMore?(v: number): boolean
    /** A victim holding nothing (the most reclaimable bytes) whose whole block holds nothing, or
     * -1 (BlockStore, the remote role). */
    protected blockVictim?(): number

    // =====================================================================================
    // Room: the open sector must fit the record; else open a free sector (outside the reserve
    // of the caller) or collect garbage

    /** Room in the open sector for a record, then go(k): a data record (a write) leaves
     * `reserveSectors` free sectors, a small record (commit, confirm, meta, discard) leaves 1
     * (garbage collection takes them all: gcRoom). */
    protected ensureRoom(isData: boolean, k: K): void {
        this.roomIsData = isData
        this.roomK = k
        this.roomRounds = 0
        this.roomDidStatic = false
        this.roomLoop(StoreError.None)
    }

    protected roomLoop(err: StoreError): void {
        if (err !== StoreError.None) {
            this.go(this.roomK, err)
            return
        }
        // while no sector is free, what is left of the open sector belongs to garbage collection
        // (a power cut in a collection that had taken the last free sector leaves the store so):
        // the call first collects a victim into it, which frees a sector
        if (this.freeCount > 0)
            if (this.fits(this.open, this.roomIsData)) {
                this.go(this.roomK, StoreError.None)
                return
            }
        // a call may not take the last free sectors kept for the records after it
        let keep = 1
        if (this.roomIsData) keep = this.reserve
        if (this.freeCount > keep) {
            this.openSector(K.RoomLoop)
            return
        }
        // a sector the mount found erased by its header comes before a collection
        if (this.verifyOne(K.RoomLoop)) return
        // the erase behind the calls brings a free sector: wait for it
        if (this.bgS >= 0) {
            this.waitK = K.RoomLoop
            return
        }
        if (this.roomRounds++ > 2 * this.n + 4) {
            this.go(this.roomK, StoreError.Full)
            return
        }
        let v = -1
        if (!this.roomDidStatic) {
            v = this.wearVictim()
            if (v >= 0) this.roomDidStatic = true
        }
        if (v < 0) v = this.pickVictim(false)
        if (v < 0) {
            this.go(this.roomK, StoreError.Full)
            return
        }
        this.gcNext(v, K.RoomLoop)
    }

    /** Static wear levelling when the erase counts spread too far: the coldest used sector
     * (counted once per victim), or -1. With `coldest`, only when no sector has fewer erases
     * (so that moving it narrows the spread: between calls it runs until it has). */
    protected wearVictim(coldest?: boolean): number {
        let lo = this.secErase[0]
        let hi = lo
        for (let s = 1; s < this.n; s++) {
            const ec = this.secErase[s]
            if (ec < lo) lo = ec
            if (ec > hi) hi = ec
        }
        if (!(hi - lo > this.wearSpread)) return -1
        const v = this.pickVictim(true)
        if (coldest) if (v >= 0) if (this.secErase[v] !== lo) return -1
        if (v >= 0)
            if (v !== this.wearV) {
                this.wearV = v
                this.stats.gcStaticRuns = this.stats.gcStaticRuns + 1
            }
        return v
    }

    /**
     * Garbage collection victim: a used or dirty sector (never the open one) whose live data
     * fits the room left. Greedy: most reclaimable bytes, ties to the lower erase count. With
     * `coldest`: static wear levelling, the used sector with the lowest erase count.
     */
    protected pickVictim(coldest: boolean): number {
        // (BlockStore, the remote role: a sector whose whole block then goes in one erase)
        if (!coldest)
            if (this.blockVictim) {
                const b = this.blockVictim()
                if (b >= 0) return b
            }
        // the data records and bytes that relocation can place without new erases
        const o = this.open
        let roomData = 0
        let roomBytes = 0
        if (o >= 0)
            if (this.secState[o] === SecState.Open) {
                const free = this.S - SECTOR_HEADER_SIZE - ENTRY_SIZE * this.secEntries[o] - this.B * this.secData[o]
                roomData = Math.min(Math.floor(free / (ENTRY_SIZE + this.B)), this.spS - this.secData[o])
                roomBytes = free
            }
        const f = this.freeCount
        // a power cut may leave one torn slot in each sector the relocation opens: what is left
        // of the victim after it still fits the rest of that sector
        roomData += f * (this.spS - 1)
        // each sector switch may strand up to one record's worth of bytes
        roomBytes += f * (this.S - SECTOR_HEADER_SIZE) - (f + 1) * (ENTRY_SIZE + this.B)
        let best = -1
        let bestScore = 0
        for (let s = 0; s < this.n; s++) {
            const st = this.secState[s]
            if (st !== SecState.Used) if (st !== SecState.Dirty) continue
            if (s === this.bgS) continue
            // a victim whose live records do not fit the room left is passed over
            const live = this.idx.sectorLive[s]
            const liveBytes = live * (ENTRY_SIZE + this.B) + this.secSmall[s] * ENTRY_SIZE
            if (liveBytes !== 0) {
                if (live > roomData) continue
                if (liveBytes > roomBytes) continue
            }
            let score = 0
            if (coldest) {
                if (st !== SecState.Used) continue
                // the lowest erase count, the first of equal ones
                if (best >= 0) if (this.secErase[s] >= this.secErase[best]) continue
            } else {
                score = this.S
                if (st !== SecState.Dirty) score -= SECTOR_HEADER_SIZE + liveBytes
                if (score <= 0) continue
                // the most reclaimable bytes, ties to the lower erase count
                if (best >= 0) {
                    if (score < bestScore) continue
                    if (score === bestScore) if (this.secErase[s] >= this.secErase[best]) continue
                }
            }
            best = s
            bestScore = score
        }
        return best
    }

    /** Reads a sector the mount found erased by its header (Unverified) whole, then go(k) (a
     * failed read: go(k, err), the sector as it was); false when there is none. All of it after
     * the header erased, it is free; else it is erased before use (Dirty). The mount reads no
     * more of such a sector than its header, and the store reads one only when it needs another
     * free sector, so a boot reads what holds records and not the free room; the one read is the
     * one openSector would take (the lowest erase count, from after the last one opened);
     * docs/FORMAT-flash.md, "Free sectors". */
    protected verifyOne(k: K): boolean {
        // (none left, as in a store's steady state: no look at every sector after each call)
        if (this.unverified === 0) return false
        // (one is there: the count is the mount's, less those read since)
        const s = this.lowest(SecState.Unverified)
        this.openS = s
        this.openK = k
        // (the pieces read, from after the header: Verified)
        this.verifyAt = SECTOR_HEADER_SIZE
        this.go(K.Verified, StoreError.None, EMPTY)
        return true
    }

    /** The sector in state `st` with the lowest erase count, from after the last one opened
     * (so that equal counts take turns), or -1. */
    protected lowest(st: SecState): number {
        let s = -1
        for (let j = 1; j <= this.n; j++) {
            const f = (this.lastOpened + j) % this.n
            if (this.secState[f] !== st) continue
            if (s >= 0) if (this.secErase[f] >= this.secErase[s]) continue
            s = f
        }
        return s
    }

    // =====================================================================================
    // Opening a sector: stamp its header (part A too if the sector has none)

    /** Opens the free sector with the lowest erase count (from after the last one opened, so
     * equal counts take turns), then go(k). */
    private openSector(k: K): void {
        const s = this.lowest(SecState.Free)
        storeInvariant(s >= 0, "a free sector to open")
        if (this.open >= 0) this.setState(this.open, SecState.Used)
        this.open = -1
        this.openS = s
        this.openK = k
        this.secSeq[s] = this.nextSectorSeq++
        this.secEntries[s] = 0
        this.secData[s] = 0
        this.secSmall[s] = 0
        this.lastOpened = s
        encodeHeaderA(this.hdrBuf, 0, this.blockLog2, this.secErase[s])
        encodeHeaderB(this.hdrBuf, 0, this.secSeq[s])
        if (this.secHasA[s]) {
            this.program(this.sectorAddr(s) + 8, this.hdrBuf.slice(8), K.Opened)
        } else this.program(this.sectorAddr(s), this.hdrBuf, K.Opened)
    }

    // =====================================================================================
    // Appending records to the open sector (room already ensured)

    /** Data slot first, entry last: the entry's CRC covers both, so a torn write is detected.
     * `crc`: the block CRC-32C of the data. The entry is encoded first, in entryBuf. */
    protected appendData(member: number, lba: number, seq: number, data: Buffer, len: number, crc: number, k: K): void {
        const s = this.open
        storeInvariant(this.fits(s, true), "room for a data record")
        const slot = this.secData[s]
        this.apK = k
        this.apS = s
        this.apSlot = slot
        this.apEntry = this.secEntries[s]
        this.apSeq = seq
        const c = encodeDataEntry(this.entryBuf, member, slot, lba, seq, len, crc)
        if (this.apDamaged) putU32(this.entryBuf, 12, ~c >>> 0)
        // the slot is used from now on, whatever happens
        this.secData[s] = slot + 1
        this.program(this.slotAddr(s, slot), data, K.ApData)
    }

    protected appendSmall(type: EntryType, b1: number, word: number, value: number, k: K): void {
        const s = this.open
        storeInvariant(this.fits(s, false), "room for a small record")
        const e = this.secEntries[s]
        this.apS = s
        this.apLoc = s * 256 + e
        this.secEntries[s] = e + 1
        encodeSmallEntry(this.entryBuf, type, b1, word, value)
        this.program(this.entryAddr(s, e), this.entryBuf, k)
    }

    /** Appends the small record of a slot: the horizon record, or meta value slot - 1. */
    protected appendSlot(slot: number, value: number, k: K): void {
        if (slot === HORIZON) this.appendSmall(this.horizonType, 0xff, 0xffffffff, value, k)
        else this.appendSmall(EntryType.Meta, slot - 1, 0xffffffff, value, k)
    }

    // =====================================================================================
    // Reading a version: its entry, then its data, checked against the entry's CRC

    /** Reads version g, then go(k, None, data) with vDamaged and vCrc set (see VersionData), or
     * go(k, err) when the flash failed. */
    protected readVersion(g: number, k: K): void {
        this.vG = g
        this.vK = k
        this.readAt(this.entryAddr(this.sectorOf(g), this.idx.entryOf(g)), ENTRY_SIZE, K.VersionEntry)
    }

    // =====================================================================================
    // Garbage collection of one sector: relocate what is live, erase, stamp part A

    /** Collection of a victim: with `k`, the collection of sector v0 starts (then go(k) once
     * it is erased and free); the next of its live records is relocated, or it is erased. */
    protected gcNext(v0?: number, k?: K): void {
        if (k) {
            const victim = v0 as number
            storeInvariant(victim !== this.open, "victim is used or dirty")
            storeInvariant(this.secState[victim] !== SecState.Free, "victim is used or dirty")
            this.gcV = victim
            this.gcK = k
            this.gcSlot = 0
            if (!this.idleGc) this.stats.gcRuns = this.stats.gcRuns + 1
        } else if (this.idleGc) {
            // between calls, a step is one relocation: the calls waiting go first
            this.go(this.gcK, StoreError.None)
            return
        }
        const v = this.gcV
        if (this.secState[v] === SecState.Used) {
            while (this.gcSlot < this.secData[v]) {
                const g = v * this.spS + this.gcSlot
                this.gcSlot++
                if (this.idx.isLive(g)) return this.readVersion(g, K.GcData)
            }
            if (this.secSmall[v] > 0) {
                // the next live small record of the victim: the horizon, meta values, then the
                // remote's discards
                let key = 0
                for (; key <= META_KEYS; key++) {
                    const loc = this.metaLoc[key]
                    if (loc >= 0) if (loc >> 8 === v) break
                }
                if (key <= META_KEYS) {
                    this.gcSmallKey = key
                    return this.gcRoom(false, K.GcSmallRoom)
                }
                if (this.copyMore) if (this.copyMore(v)) return
            }
        }
        storeInvariant(this.idx.sectorLive[v] === 0, "victim emptied before erase")
        storeInvariant(this.secSmall[v] === 0, "victim emptied before erase")
        if (this.idleGc) {
            this.stats.gcRuns = this.stats.gcRuns + 1
            if (this.eraseBehind) {
                // erased behind the calls: the store takes them meanwhile
                this.setState(v, SecState.Dirty)
                this.eraseSector(v, 0 as K)
                this.go(this.gcK, StoreError.None)
                return
            }
        }
        this.eraseSector(v, K.GcErased)
    }

    /** Room for a relocation: garbage collection may take every free sector. */
    protected gcRoom(isData: boolean, k: K): void {
        if (this.fits(this.open, isData)) {
            this.go(k, StoreError.None)
            return
        }
        if (this.freeCount === 0) {
            // victim selection checked the room, so this is a bug, not a full store
            storeInvariant(false, "relocation room")
            return
        }
        this.openSector(k)
    }
}
