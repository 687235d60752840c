import { Clock } from "../../hal/clock"
import { Flash } from "../../hal/flash"
import { getU32 } from "../codec/bytes"
import { crc32cUpdate } from "../codec/crc32c"
import {
    allErased,
    ENTRY_SIZE,
    entryLba,
    entryLen,
    EntryType,
    headerAEraseCount,
    headerBValid,
    MAX_ENTRIES,
    MENDED,
    mendData,
    mendFields,
    mendHeader,
    META_KEYS,
    SECTOR_HEADER_SIZE,
} from "./format"
import { numbers } from "./packed"
import { seqAfter } from "../seq"
import { EMPTY, HORIZON, K, SecState } from "./storeCore"
import { StoreSpace } from "./storeSpace"
import { MountReport, StoreError, StoreOptions } from "./types"
import { CANDIDATE, UNSURE } from "./versionIndex"

/** mLastKept: the sector's last bad entry is damage a power cut cannot have made. */
const NOT_TORN = 0xff
/** mKind: a header nothing of the store's (dirty), a used sector's, an erased sector's. */
const KIND_DIRTY = 0
const KIND_USED = 1
const KIND_ERASED = 2

/**
 * The block store's mount (storeCore.ts has the layers): it reads every sector's header, then
 * parses the sectors in steps (their entries, read without the data where they allow; the
 * erased room left), settles what a power cut left, then
 * places the data records found into the RAM index in steps (mountStep and indexStep, which the
 * store's one dispatcher runs after each read and from the run loop). The flash's contents never make it
 * throw: bad records are counted (stats, MountReport) and skipped; docs/FORMAT-flash.md, "How a
 * boot decides what is valid".
 * @devsWhenUsed
 */
export abstract class StoreMount extends StoreSpace {
    private mountDone!: ((err: StoreError, report: MountReport) => void) | null
    protected mS!: number
    protected mBuf!: Buffer
    private mPhase!: number
    private mCheckAt!: number
    /** Per sector: 1 + the index of the last bad entry found, 0 for none. */
    private mLastBad: Buffer
    /** Per sector: 1 + the slot of the last bad entry when it is a damaged data record kept as a
     * version, 0 otherwise. */
    private mLastKept: Buffer
    /** Where the entry a power cut tore lies, zeroed before the next append (-1: none). */
    protected voidAddr!: number
    protected voidS!: number
    private mClosed: Buffer
    /** Per small-record slot: the log position of the live copy found. */
    private mMetaPos: number[]
    private mG!: number
    protected mStartMs!: number
    /** The scan is running a second time (the first found a bad entry or sector header). */
    protected mAgain!: boolean
    /** Bad entries and sector headers this scan found. */
    private mSuspect!: number
    /** Bytes read first of a used sector: its header and room for its entries (mountStep). */
    private mPrefix: number
    /** What each sector's header says (the first pass reads the headers alone): KIND_*. */
    private mKind: Buffer
    /** The first pass (headers) is under way. */
    private mHeaders!: boolean
    /** The newest used sector (0 when none is used: the first pass finds it) and the sectors the
     * second pass has taken so far (it starts at the newest). */
    private mNewest!: number
    private mScan!: number
    /** The entries being parsed were read without the data (a light parse). */
    private mLightNow!: boolean

    constructor(flash: Flash, clock: Clock, opts: StoreOptions, remoteOk?: boolean) {
        super(flash, clock, opts, remoteOk)
        const n = this.n
        this.mLastBad = Buffer.alloc(n)
        this.mLastKept = Buffer.alloc(n)
        this.mClosed = Buffer.alloc(n)
        this.mKind = Buffer.alloc(n)
        this.mMetaPos = numbers(META_KEYS + 1, -1)
        // the header and the entries of a sector whose slots are all data, with 16 small records
        // besides (B = 256: 512 bytes of 4096; never more than a sector)
        this.mPrefix = SECTOR_HEADER_SIZE + ENTRY_SIZE * (this.spS + 16)
    }

    /** Runs the next call in the queue, if any (the mount ends). */
    protected abstract startNext(): void

    // ---- what BlockStore adds (StoreSpace has more)

    /** A valid small record of a type this store does not use (at entry `off` of mBuf, location
     * `loc`, log position `pos`); true when BlockStore keeps it. */
    protected foundMore?(type: number, off: number, loc: number, pos: number): boolean

    /** The candidate data record g is void (BlockStore dropped it). */
    protected voided?(g: number): boolean

    /** A mount's scan starts over: BlockStore forgets what the last one found. */
    protected resetMore?(): void

    /** Forgets everything the last mount found (the calls still queued are the queue's); with
     * `done`, a scan of every sector starts from there, which ends with done(err, report). */
    protected resetState(done?: (err: StoreError, report: MountReport) => void): void {
        this.mounted = false
        this.unverified = 0
        this.mSuspect = 0
        for (let s = 0; s < this.n; s++) {
            this.setState(s, SecState.Dirty)
            this.secHasA[s] = 0
            this.secErase[s] = -1
            this.secSeq[s] = 0
            this.secEntries[s] = 0
            this.secData[s] = 0
            this.secSmall[s] = 0
            this.mLastBad[s] = 0
            this.mLastKept[s] = 0
            this.mClosed[s] = 0
            this.mKind[s] = KIND_DIRTY
        }
        for (let k = 0; k <= META_KEYS; k++) {
            this.metaVal[k] = 0
            this.metaLoc[k] = -1
            this.mMetaPos[k] = -1
        }
        if (this.resetMore) this.resetMore()
        this.voidAddr = -1
        this.open = -1
        this.nextSectorSeq = 1
        this.mNewest = 0
        this.lastOpened = -1
        this.maxSeq = 0
        this.hasMaxSeq = false
        this.idx.clear()
        if (done) {
            this.busy = true
            this.mountDone = done
            this.report = new MountReport()
            this.report.sectors = this.n
            this.mS = -1
            this.mHeaders = true
            this.nextSector()
        }
    }

    /**
     * The sector mS is done: reads the next, or settles the scan once every one is read. Two
     * passes (docs/FORMAT-flash.md, "How a boot decides what is valid"): every sector's header
     * (mKind; one erased by its header is left Unverified, and read after the mount:
     * verifyOne); then the used sectors from the newest round the store: the newest whole, any
     * other by its header and entries first (mPrefix bytes), and whole only when they call for
     * it (parseEntry).
     */
    private nextSector(): void {
        this.mBuf = EMPTY
        if (this.mHeaders) {
            if (++this.mS < this.n) return this.readAt(this.sectorAddr(this.mS), SECTOR_HEADER_SIZE, K.MountStep)
            this.mHeaders = false
            this.mScan = 0
        }
        // the second pass, from the newest sector round the store
        while (this.mScan < this.n) {
            let s = this.mNewest + this.mScan++
            if (s >= this.n) s -= this.n
            const kind = this.mKind[s]
            // (a dirty sector is not read; nor is an erased one: the first pass left it Unverified)
            if (kind !== KIND_USED) continue
            this.mS = s
            let len = this.mPrefix
            // the newest sector: its last record may be torn, and appends go on in it
            if (s === this.mNewest) len = this.S
            return this.readAt(this.sectorAddr(s), len, K.MountStep)
        }
        // every sector is read: settle the horizon, torn records, the open sector, erase counts
        // a bad entry or sector header may be a read that failed once: the whole scan runs
        // again, and only what it finds again counts (a torn entry, a damaged record, a sector
        // to erase); docs/FORMAT-flash.md, "How a boot decides what is valid"
        if (this.mSuspect > 0)
            if (!this.mAgain) {
                this.mAgain = true
                this.resetState(this.mountDone as (err: StoreError, report: MountReport) => void)
                return
            }
        const rep = this.report
        const stats = this.stats
        const n = this.n
        const secErase = this.secErase
        stats.badCrc = stats.badCrc + rep.badCrc
        // (the report is a new one for each scan: its counts start at 0)
        const newest = this.mNewest
        let known = 0
        let sum = 0
        let used = 0
        for (let s = 0; s < n; s++) {
            if (this.secState[s] === SecState.Used) used++
            const ec = secErase[s]
            if (ec >= 0) {
                known++
                sum += ec
            }
        }
        const free = this.freeCount + this.unverified
        rep.freeSectors = free
        rep.usedSectors = used
        // sectors never stamped (blank) or unreadable: estimate their erase count
        let estimate = 0
        if (known > 0) estimate = Math.round(sum / known)
        let unknown = 0
        for (let s = 0; s < n; s++) {
            if (secErase[s] < 0) {
                secErase[s] = estimate
                unknown++
            }
        }
        rep.unknownEraseCounts = unknown
        if (free === n) if (rep.records === 0) rep.blank = true
        let torn = 0
        if (this.mKind[newest] === KIND_USED) {
            // the last bad entry of the newest sector is the record a power cut tore
            const lastBad = this.mLastBad[newest]
            const k = this.mLastKept[newest]
            if (lastBad > 0)
                if (lastBad === this.secEntries[newest])
                    if (k !== NOT_TORN) {
                        torn = 1
                        // its data record (if it was kept) is no version: the write never finished; the
                        // entry is zeroed before the next append, so that it never reads as damage later
                        if (k > 0) this.idx.dropCandidate(newest * this.spS + k - 1)
                        this.voidAddr = this.entryAddr(newest, lastBad - 1)
                        this.voidS = newest
                    }
            // appends go on in the newest sector when its free room is clean
            if (!this.mClosed[newest]) {
                this.setState(newest, SecState.Open)
                this.lastOpened = newest
                if (this.fits(newest, false)) this.open = newest
                else this.setState(newest, SecState.Used)
            }
        }
        rep.torn = torn
        const corruptedOld = rep.badCrc - torn
        rep.corruptedOld = corruptedOld
        stats.torn = stats.torn + torn
        stats.corruptedOld = stats.corruptedOld + corruptedOld
        const metaLoc = this.metaLoc
        if (metaLoc[HORIZON] >= 0) this.idx.setHorizon(this.metaVal[HORIZON])
        for (let k = 0; k <= META_KEYS; k++) {
            const loc = metaLoc[k]
            if (loc >= 0) this.secSmall[loc >> 8] = this.secSmall[loc >> 8] + 1
        }
        this.mG = 0
        this.indexStep()
    }

    /** The mount ends: done(err, report). */
    private mountEnd(err: StoreError): void {
        this.busy = false
        this.mBuf = EMPTY
        const done = this.mountDone
        this.mountDone = null
        this.report.durationMs = this.clock.millis() - this.mStartMs
        if (done) done(err, this.report)
    }

    /**
     * One step of the sector being scanned: a read (`data`: its header in the first pass; in
     * the second, the whole sector or its first mPrefix bytes), its entries (phase 0) or the
     * erased check of its free room (2). A step from the run loop brings no data and no error:
     * a failure is the read's. A sector left Dirty (as resetState left every one) is erased
     * before use.
     */
    protected mountStep(err: StoreError, data?: Buffer | null): void {
        if (err !== StoreError.None) return this.mountEnd(err)
        const s = this.mS
        if (data) {
            if (this.mHeaders) {
                // the first pass: the sector's header
                const buf = data
                const aErased = allErased(buf, 0, 8)
                const bErased = allErased(buf, 8, 16)
                const ec = headerAEraseCount(buf, 0)
                if (ec >= 0) this.secErase[s] = ec
                let blank = aErased
                if (ec >= 0) if (buf[3] === this.blockLog2) blank = true
                let kind = KIND_DIRTY
                if (blank)
                    if (bErased) {
                        // erased (part A may be stamped): free if everything after the header is erased
                        this.secHasA[s] = 1
                        if (aErased) this.secHasA[s] = 0
                        kind = KIND_ERASED
                        // by its header only: free once read whole, after the mount (verifyOne)
                        this.setState(s, SecState.Unverified)
                        this.unverified++
                    }
                // one flipped bit of a header (at rest, or a read that failed) is mended: a sector
                // taken for torn would be erased with every version in it
                const whole = headerBValid(buf, 0)
                if (!bErased)
                    if (mendHeader(buf, 0)) {
                        if (!whole) this.stats.mended = this.stats.mended + 1
                        this.secErase[s] = headerAEraseCount(buf, 0)
                        if (buf[3] !== this.blockLog2) {
                            this.report.incompatible = this.report.incompatible + 1
                            return this.mountEnd(StoreError.IncompatibleFormat)
                        }
                        this.setState(s, SecState.Used)
                        this.secHasA[s] = 1
                        const seq = getU32(buf, 8)
                        this.secSeq[s] = seq
                        // the newest used sector: the one the next sector seq follows
                        if (seq >= this.nextSectorSeq) {
                            this.nextSectorSeq = seq + 1
                            this.mNewest = s
                        }
                        kind = KIND_USED
                    }
                this.mKind[s] = kind
                if (kind === KIND_DIRTY) {
                    // torn header (a cut while opening), torn erase, foreign data
                    this.mSuspect++
                    this.report.dirtySectors = this.report.dirtySectors + 1
                    this.stats.dirtySectors = this.stats.dirtySectors + 1
                }
                return this.nextSector()
            }
            this.mBuf = data
            // a used sector's first bytes: its entries are parsed light, as far as they allow
            this.mLightNow = data.length < this.S
            // phase 0, its entries (then 2, the erased check of its free room)
            this.mPhase = 0
            this.mCheckAt = SECTOR_HEADER_SIZE
        }
        const buf = this.mBuf
        let budget = this.stepBytes
        const phase = this.mPhase
        if (phase === 0) {
            while (budget > 0) {
                // (secEntries[s] counts the entries parsed, secData[s] the data slots they use)
                const i = this.secEntries[s]
                const off = SECTOR_HEADER_SIZE + ENTRY_SIZE * i
                // entries end at the first erased one, or where the data slots begin
                if (i < MAX_ENTRIES)
                    if (off + ENTRY_SIZE <= this.S - this.B * this.secData[s]) {
                        // parsed light as far as the first bytes go, and as the entries allow
                        // (parseEntry: -1): then the whole sector is read, and the parse goes on
                        let c = -1
                        if (off + ENTRY_SIZE <= buf.length) {
                            if (allErased(buf, off, off + ENTRY_SIZE)) c = -2
                            else c = this.parseEntry(s, i, off)
                        }
                        if (c === -1) return this.readAt(this.sectorAddr(s), this.S, K.MountStep)
                        if (c >= 0) {
                            budget -= ENTRY_SIZE + c
                            this.secEntries[s] = i + 1
                            continue
                        }
                    }
                // parsed light: not the newest sector, whose slots and free room matter for appends
                if (this.mLightNow) return this.nextSector()
                // the slot after the last one used must be erased: else a data program was cut before
                // its entry (or its entry was torn). That slot is skipped (entries name their slot), and
                // appends go on after it if the rest of the free room is erased: the newest sector of a
                // store cut in the middle of a garbage collection that took the last free sector must
                // take the rest of that collection's records, or no victim would fit after the mount.
                const entriesEnd = SECTOR_HEADER_SIZE + ENTRY_SIZE * this.secEntries[s]
                const next = this.secData[s]
                if (next < this.spS) {
                    const lo = this.S - (next + 1) * this.B
                    if (lo >= entriesEnd)
                        if (!allErased(buf, lo, lo + this.B)) {
                            this.report.tornData = this.report.tornData + 1
                            this.stats.tornData = this.stats.tornData + 1
                            this.secData[s] = next + 1
                        }
                }
                if (this.S - this.B * this.secData[s] < entriesEnd) {
                    this.mClosed[s] = 1
                    return this.nextSector()
                }
                this.mPhase = 2
                this.mCheckAt = entriesEnd
                // the erased check of its free room (phase 2)
                return this.mountStep(StoreError.None)
            }
            this.later(K.MountStep)
            return
        }
        // the erased check of a used sector's free room [mCheckAt, end) (phase 2)
        const end = this.S - this.B * this.secData[s]
        const stop = Math.min(end, this.mCheckAt + budget)
        if (!allErased(buf, this.mCheckAt, stop)) {
            // stray bytes in the free room: no more appends here
            this.mClosed[s] = 1
            this.stats.strayAreas = this.stats.strayAreas + 1
            return this.nextSector()
        }
        this.mCheckAt = stop
        if (stop < end) return this.later(K.MountStep)
        this.nextSector()
    }

    /** Parses entry i of sector s; returns the data bytes it checked, or -1 (a light parse, before
     * anything is taken) when it needs the sector's data. */
    private parseEntry(s: number, i: number, off: number): number {
        const buf = this.mBuf
        // an entry a power cut tore, zeroed since (the end of a scan, nextSector): nothing
        let zero = true
        for (let k = 0; k < 16; k++) if (buf[off + k] !== 0) zero = false
        if (zero) return 0
        const pos = this.secSeq[s] * 256 + i
        const type = buf[off]
        const small = crc32cUpdate(0, buf, off, off + 12) ^ getU32(buf, off + 12)
        const t = type ^ EntryType.Data
        if (small !== 0)
            if ((t & (t - 1)) === 0) {
                // a data record (or one whose type bit flipped): its fields first (their check
                // mends one flipped bit of them, slot and length included), then its data and CRC
                const h = mendFields(buf, off)
                // a light parse takes a data record by its fields when they check and its seq is
                // not after the highest seen (that one is taken only from a record whose CRC
                // checks); else the whole sector is read
                if (this.mLightNow) {
                    if (h !== -1) return -1
                    if (!this.hasMaxSeq) return -1
                    if (seqAfter(getU32(buf, off + 8), this.maxSeq)) return -1
                }
                const slot = buf[off + 2]
                const len = entryLen(buf, off)
                const dataOff = this.S - (slot + 1) * this.B
                if (h !== -2)
                    if (buf[off] === EntryType.Data)
                        if (slot < this.spS)
                            if (len >= 1)
                                if (len <= this.B)
                                    if (off + ENTRY_SIZE <= dataOff) {
                                        // (a light parse reads no data: its fields check, and it checked no bytes)
                                        let r = 0
                                        if (!this.mLightNow) r = mendData(buf, off, buf, dataOff, this.B)
                                        // a record that checks (a mended bit counted) is a version; so is one
                                        // whose fields are right and whose damage cannot be mended (its reads say
                                        // Corrupt): only the record a power cut tore (nextSector) is dropped;
                                        // docs/FORMAT-flash.md, "Damage and tears". So is one whose fields their
                                        // CRC-7 mended while its data fails: it names an acknowledged write, and
                                        // dropping it would lose that write without a word; its seq is taken at
                                        // the end only if not after the highest a checked record gave (two
                                        // flipped bits the CRC-7 took for one could name a seq never stamped)
                                        const ok = r >= 0
                                        let flags = CANDIDATE
                                        if (!ok) if (h >= 0) flags = CANDIDATE | UNSURE
                                        let n = len
                                        if (ok) {
                                            let m = r
                                            if (h >= 0) m = r | MENDED
                                            n = this.mended(m)
                                        }
                                        const g = s * this.spS + slot
                                        // a second record of one slot is damage
                                        if (this.idx.candidate(g)) this.badEntry(s, i)
                                        else {
                                            const seq = getU32(buf, off + 8)
                                            this.idx.setRecord(g, buf[off + 1], entryLba(buf, off), seq, i, flags)
                                            if (slot + 1 > this.secData[s]) this.secData[s] = slot + 1
                                            if (ok) {
                                                this.report.records = this.report.records + 1
                                                this.noteSeq(seq)
                                                return n
                                            }
                                            this.badEntry(s, i)
                                            this.mLastKept[s] = slot + 1
                                        }
                                        // a power cut in the entry's program leaves bits of its CRC at 1 that
                                        // should be 0, never the reverse: a CRC with a 0 where the data's has a 1
                                        // was programmed whole, and the data changed since (damage, not a tear)
                                        if (!ok) {
                                            const c = crc32cUpdate(crc32cUpdate(0, buf, dataOff, dataOff + len), buf, off, off + 12)
                                            if ((c & ~getU32(buf, off + 12)) !== 0) this.mLastKept[s] = NOT_TORN
                                        }
                                        return n
                                    }
                // fields that cannot be trusted: not a version
                if (h >= 0) buf[off + (h >> 3)] ^= 1 << (h & 7)
                if (t === 0) {
                    this.badEntry(s, i)
                    return 0
                }
            }
        if (small !== 0) {
            // one flipped bit of a small record is mended; more is damage
            if (!mendHeader(buf, off)) {
                this.badEntry(s, i)
                return 0
            }
            this.stats.mended = this.stats.mended + 1
        }
        const value = getU32(buf, off + 8)
        const loc = s * 256 + i
        // this role's horizon record, or a meta value: the one latest in the log is live
        let slot = -1
        if (type === this.horizonType) slot = HORIZON
        else if (type === EntryType.Meta) if (buf[off + 1] < META_KEYS) slot = buf[off + 1] + 1
        if (slot >= 0) {
            this.report.records = this.report.records + 1
            if (slot === HORIZON) this.noteSeq(value)
            if (pos > this.mMetaPos[slot]) {
                this.mMetaPos[slot] = pos
                this.metaVal[slot] = value
                this.metaLoc[slot] = loc
            }
            return 0
        }
        if (this.foundMore) if (this.foundMore(type, off, loc, pos)) return 0
        // a valid record of a type this store does not use: count it as bad
        this.badEntry(s, i)
        return 0
    }

    private badEntry(s: number, i: number): void {
        this.report.badCrc = this.report.badCrc + 1
        this.mSuspect++
        this.mLastBad[s] = i + 1
        this.mLastKept[s] = 0
    }

    /** Places the data records found into the index, a few per step. */
    protected indexStep(): void {
        const total = this.n * this.spS
        // a slot looked at costs 1, a version placed 8 (hash probe, chain walk, retention rule)
        let budget = this.stepBytes >> 3
        while (budget > 0) {
            if (this.mG >= total) break
            const g = this.mG++
            budget--
            const f = this.idx.candidate(g)
            if (!f) continue
            budget -= 8
            if (this.voided) if (this.voided(g)) continue
            this.idx.dropCandidate(g)
            // (a seq never stamped: not a version; docs/FORMAT-flash.md, "Mending")
            if (f & UNSURE) if (seqAfter(this.idx.seqOf(g), this.maxSeq)) continue
            this.idx.insert(g)
        }
        if (this.mG < total) {
            this.later(K.IndexStep)
            return
        }
        const rep = this.report
        rep.liveRecords = this.idx.liveCount
        if (this.idx.hasHorizon) rep.horizon = this.idx.horizon
        this.mounted = true
        this.mountEnd(StoreError.None)
        this.startNext()
    }
}
