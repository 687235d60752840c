import { Clock } from "../../hal/clock"
import { Flash, FlashError } from "../../hal/flash"
import { crc32cUpdate } from "../codec/crc32c"
import { seqAfter } from "../seq"
import { ENTRY_SIZE, EntryType, log2Exact, MAX_ENTRIES, MENDED, META_KEYS, SECTOR_HEADER_SIZE } from "./format"
import { numbers } from "./packed"
import { MountReport, StoreError, StoreOptions, StoreRole, StoreStats } from "./types"
import { VersionIndex } from "./versionIndex"

/*
 * The block store is one object made of layers, one class and one file each, every one
 * extending the one before:
 * - StoreCore (this file): the options, the sectors and what they hold, flash access;
 * - StoreSpace (storeSpace.ts): room for a record, appends, garbage collection, version reads;
 * - StoreMount (storeMount.ts): the mount's scan of the flash and the index it rebuilds;
 * - PrimaryBlockStore (primaryBlockStore.ts): the calls, their queue, the contract;
 * - BlockStore (blockStore.ts): the remote role, format and collect.
 */

export const enum SecState {
    /** Neither valid nor known erased: erase before use. Holds nothing live. First, so that a
     * new table (all zeros) holds no sector in use and none free. */
    Dirty = 0,
    /** Erased (header part A may be programmed): ready to open. */
    Free = 1,
    /** The append point. */
    Open = 2,
    /** Holds records; no more appends. */
    Used = 3,
    /** Erased by its header (the mount reads no more of it): proven erased, read whole, before
     * it counts as free (StoreSpace.verifyOne); docs/FORMAT-flash.md, "Free sectors". */
    Unverified = 4,
    /** In a block being erased with a sector collection erases (BlockStore, the remote role):
     * neither collected, opened nor counted free until the erase has ended. */
    Erasing = 5,
}

/** The calls the queue holds. */
export const enum Op {
    Write = 1,
    Read = 2,
    ReadPinned = 3,
    Commit = 4,
    Confirm = 5,
    Discard = 6,
    SetMeta = 7,
    Collect = 8,
    DropStaged = 9,
}

export type Done = (err: StoreError, data: Buffer | null) => void

/**
 * Continuations: the step that runs when a flash operation or a lower layer (room, append,
 * collection, version read) completes. A register holds one of these and `go` runs it: one
 * dispatcher (PrimaryBlockStore's) for the steps of every layer, so the store needs no closure
 * per step (each would be a function of its own in the board image) and no dispatcher per
 * layer. They are numbered by the layer whose work they continue (PrimaryBlockStore,
 * StoreSpace, StoreMount) and by what a failure does.
 */
export const enum K {
    // ---- PrimaryBlockStore's steps (and BlockStore's, run by its `toolStep`) that handle a
    // failure themselves
    PruneStep = 1,
    /** The torn entry is zeroed (or not): the calls go on. */
    Voided = 2,
    DiscardPrune = 3,
    Collected = 4,
    /** Runs `formatStep`, a closure of the call that set it (format). */
    Then = 5,
    // ---- a failure of the steps WriteRoom .. VersionData is handled by `go`. A call's own
    // steps: a failure finishes the call
    WriteRoom = 6,
    WriteAppended = 7,
    SmallRoom = 8,
    VersionRead = 9,
    DiscardRoom = 10,
    // the programs of an entry (SmallAppended .. GcDiscardAppended): a failure also ends
    // appends in the entry's sector
    SmallAppended = 11,
    DiscardAppended = 12,
    // ---- StoreSpace's steps (ApEntry .. ApData). An append's entry: a failure returns to
    // what asked for the append
    ApEntry = 13,
    // a collection's steps: a failure returns to what asked for the collection
    GcSmallAppended = 14,
    GcDiscardAppended = 15,
    GcData = 16,
    GcRoom = 17,
    GcAppended = 18,
    GcSmallRoom = 19,
    GcDiscardRoom = 20,
    GcHeader = 21,
    // a version read: a failure returns to what asked for the read
    VersionEntry = 22,
    VersionData = 23,
    // the steps that handle a failure themselves
    GcErased = 24,
    RoomLoop = 25,
    Opened = 26,
    ApData = 27,
    /** A step of collection between calls has ended (a relocation, or an erase begun). */
    IdleDone = 28,
    /** A sector the mount found erased by its header, read whole (it handles a failure). */
    Verified = 29,
    // ---- StoreMount's steps; they handle a failure themselves (MountStep: a sector read, or
    // the next step of its scan)
    MountStep = 30,
    IndexStep = 31,
}

export const EMPTY = Buffer.alloc(0)
/** The small-record slot of the horizon record (meta value `key` has slot 1 + key). */
export const HORIZON = 0

/** An option's value, or its default. */
function opt(v: number | undefined, dflt: number): number {
    if (v !== undefined) return v
    return dflt
}

/**
 * The block store's base: its options and geometry, what each sector holds, the live small
 * records, the RAM index, and flash access with accounting. Sector s is the store's s-th
 * (0..n-1); a data slot is g = sector × slotsPerSector + slot; a small record's location is
 * sector × 256 + entry. The contract is PrimaryBlockStore's (primaryBlockStore.ts).
 * @devsWhenUsed
 */
export abstract class StoreCore {
    readonly stats = new StoreStats()
    protected report = new MountReport()
    protected role: StoreRole
    protected configError = StoreError.None
    protected B: number
    protected blockLog2: number
    protected S: number
    protected first: number
    protected n: number
    /** Data slots per sector. */
    protected spS: number
    protected qDepth: number
    protected reserve: number
    protected spare: number
    /** The flash suspends an erase for reads and programs: collection between calls erases
     * behind them. */
    protected eraseBehind: boolean
    /** The sector being erased behind the calls (-1: none), and an erase asked for meanwhile. */
    protected bgS = -1
    private pendS = -1
    private pendK!: K
    protected wearSpread: number
    protected stepBytes: number

    protected mounted = false
    // (no initial value: a register, see below)
    protected busy!: boolean

    // ---- sectors: values that fit a byte are kept in Buffers (1 byte per sector instead of 8
    // or more in a number[]: a board's heap is small)
    protected secState: Buffer
    protected secHasA: Buffer
    protected secErase: number[]
    protected secSeq: number[]
    protected secEntries: Buffer
    protected secData: Buffer
    /** Live small records (commit, confirm, meta, discard) per sector. */
    protected secSmall: Buffer
    protected open!: number
    /** Sectors in state Free (kept by setState), and in state Unverified (counted by the mount,
     * less those read since). */
    protected freeCount = 0
    protected unverified = 0
    protected nextSectorSeq!: number
    protected lastOpened!: number
    protected idx: VersionIndex

    // ---- small records, slot HORIZON (the horizon record: a confirm on a primary, a commit on
    // the remote) and slot 1 + key (meta value `key`): where the live one is (sector × 256 +
    // entry, or -1) and its value (the horizon's is idx.horizon, kept here too)
    protected metaVal: number[]
    protected metaLoc: number[]
    /** The type of this role's horizon records. */
    protected horizonType: EntryType
    protected maxSeq = 0
    protected hasMaxSeq!: boolean

    // ---- registers. Registers (here and in the layers above, declared with `!`) have no
    // initial value: each is set before it is read (at mount, by resetState, or by the step
    // that starts a layer), and an initializer would cost the board's image bytecode per field
    private flashK!: K
    private stepK!: K

    // ---- the only closures: the flash's completion (of reads, programs and erases: a program's
    // and an erase's bring no data), and timer steps
    private readonly onFlash: (err: FlashError, data?: Buffer) => void
    private readonly kStep: () => void
    private readonly onErasedBehind: (err: FlashError) => void

    /**
     * Options are checked here; a bad set makes every call fail with StoreError.Config (mount
     * says so first). Block size: a power of two from 16 to the page size. Sectors: at least
     * reserveSectors + 2, at most 65534 data slots in all (the RAM index uses 16-bit links).
     * `remoteOk`: role Remote is allowed (BlockStore).
     */
    constructor(
        private flash: Flash,
        protected clock: Clock,
        opts: StoreOptions,
        remoteOk?: boolean
    ) {
        const geo = flash.geometry()
        const role = opts.role
        this.role = role
        const S = geo.sectorSize
        this.S = S
        const B = opt(opts.blockSize, 256)
        this.B = B
        this.blockLog2 = log2Exact(B)
        const first = opt(opts.firstSector, 0)
        this.first = first
        const total = Math.floor(geo.capacity / S)
        let n = opt(opts.sectorCount, total - first)
        const qDepth = opt(opts.queueDepth, 16)
        this.qDepth = qDepth
        const reserve = opt(opts.reserveSectors, 2)
        this.reserve = reserve
        this.spare = opt(opts.spareSectors, 2)
        this.eraseBehind = flash.suspendsErase()
        this.wearSpread = opt(opts.wearSpread, 16)
        const stepBytes = opt(opts.stepBytes, 512)
        this.stepBytes = stepBytes
        let spS = Math.floor((S - SECTOR_HEADER_SIZE) / (ENTRY_SIZE + B))
        // one test each: an `||` of them costs the image more
        // (the checks the tables' sizes rest on; BlockStore checks the other options: a board's
        // image leaves them to the check of its configuration when it is built)
        let bad = false
        if (B > geo.pageSize) bad = true
        if (geo.pageSize % B !== 0) bad = true
        if (spS < 1) bad = true
        if (spS > MAX_ENTRIES) bad = true
        if (n < reserve + 2) bad = true
        if (first + n > total) bad = true
        if (n * spS >= 65535) bad = true
        if (role !== StoreRole.Primary) {
            if (role !== StoreRole.Remote) bad = true
            if (!remoteOk) bad = true
        }
        if (bad) {
            this.configError = StoreError.Config
            n = reserve + 2
            spS = 1
        }
        this.n = n
        this.spS = spS
        // every sector Dirty (0): setState counts the free sectors from the state it replaces
        this.secState = Buffer.alloc(n)
        this.secHasA = Buffer.alloc(n)
        this.secEntries = Buffer.alloc(n)
        this.secData = Buffer.alloc(n)
        this.secSmall = Buffer.alloc(n)
        this.secErase = numbers(n, 0)
        this.secSeq = numbers(n, 0)
        this.horizonType = EntryType.Confirm
        if (role === StoreRole.Remote) this.horizonType = EntryType.Commit
        this.metaVal = numbers(META_KEYS + 1, 0)
        this.metaLoc = numbers(META_KEYS + 1, -1)
        this.idx = new VersionIndex(n * spS, spS, this.secSeq, role === StoreRole.Primary)
        // builds the CRC table now (2,048 loop steps) rather than inside a run-loop event
        crc32cUpdate(0, EMPTY, 0, 0)

        const self = this
        this.onFlash = (err, data) => {
            if (err !== FlashError.None) {
                self.stats.flashErrors = self.stats.flashErrors + 1
                self.stats.lastFlashError = err
                self.go(self.flashK, StoreError.Flash)
            } else self.go(self.flashK, StoreError.None, data)
        }
        this.kStep = () => self.go(self.stepK, StoreError.None)
        this.onErasedBehind = (err) => {
            const s = self.bgS
            self.bgS = -1
            if (err !== FlashError.None) {
                self.stats.flashErrors = self.stats.flashErrors + 1
                self.stats.lastFlashError = err
            } else if (self.mounted) {
                // free; part A comes with part B when it is opened
                self.erased(s)
                self.setState(s, SecState.Free)
            }
            // an erase asked for meanwhile goes now; else the calls (or the next step) go on
            if (self.pendS >= 0) {
                const p = self.pendS
                self.pendS = -1
                self.eraseSector(p, self.pendK)
            } else self.erasedBehind()
        }
    }

    /** Sector s is erased: nothing in it, its erase count one more; not yet stamped (part A). */
    protected erased(s: number): void {
        this.idx.clearSector(s)
        this.secErase[s] = this.secErase[s] + 1
        this.secEntries[s] = 0
        this.secData[s] = 0
        this.secSmall[s] = 0
        this.secHasA[s] = 0
    }

    /** Erases sector s with the rest of its block, then done (the rest of the block, free, before
     * it); false when it does not (BlockStore, the remote role). */
    protected eraseBlockOf?(s: number, done: (err: FlashError) => void): boolean

    /** An erase behind the calls has ended (PrimaryBlockStore: a mount waiting for it, the
     * calls, the next step of collection). */
    protected abstract erasedBehind(): void

    /** Runs continuation k with the result of the step that finished (`data`: what a flash read
     * read; nothing for other steps): the one dispatcher, PrimaryBlockStore's. */
    protected abstract go(k: K, err: StoreError, data?: Buffer | null): void

    /** done(err, data) from the run loop (nothing when done is null). */
    protected answerLater<T>(done: ((err: StoreError, data: T) => void) | null, err: StoreError, data: T): void {
        if (done) this.clock.setTimer(0, () => done(err, data))
    }

    /** Runs step k from the run loop (long work yields between steps). */
    protected later(k: K): void {
        this.stepK = k
        this.clock.setTimer(0, this.kStep)
    }

    // =====================================================================================
    // Sectors and records

    protected setState(s: number, st: SecState): void {
        if (this.secState[s] === SecState.Free) this.freeCount--
        if (st === SecState.Free) this.freeCount++
        this.secState[s] = st
    }

    /** Sector s is open and fits one more record (a data record when isData). */
    protected fits(s: number, isData: boolean): boolean {
        if (s < 0) return false
        if (this.secState[s] !== SecState.Open) return false
        const e = this.secEntries[s]
        let d = this.secData[s]
        if (isData) d++
        if (!(e < MAX_ENTRIES)) return false
        if (!(SECTOR_HEADER_SIZE + ENTRY_SIZE * (e + 1) + this.B * d <= this.S)) return false
        return d <= this.spS
    }

    /** A small record moves from location `from` to `to` (-1: none): the sectors' counts. */
    protected moveLoc(from: number, to: number): void {
        if (from >= 0) this.secSmall[from >> 8] = this.secSmall[from >> 8] - 1
        if (to >= 0) this.secSmall[to >> 8] = this.secSmall[to >> 8] + 1
    }

    protected noteSeq(seq: number): void {
        if (this.hasMaxSeq) if (!seqAfter(seq, this.maxSeq)) return
        this.maxSeq = seq
        this.hasMaxSeq = true
    }

    /** The length mendData found (with MENDED when a bit was mended; -1: none), counting a
     * mended bit. */
    protected mended(len: number): number {
        if (len < MENDED) return len
        this.stats.mended = this.stats.mended + 1
        return len - MENDED
    }

    // =====================================================================================
    // Flash access with accounting

    protected sectorAddr(s: number): number {
        return (this.first + s) * this.S
    }

    protected entryAddr(s: number, entry: number): number {
        return this.sectorAddr(s) + SECTOR_HEADER_SIZE + ENTRY_SIZE * entry
    }

    protected slotAddr(s: number, slot: number): number {
        return this.sectorAddr(s) + this.S - (slot + 1) * this.B
    }

    protected sectorOf(g: number): number {
        return Math.floor(g / this.spS)
    }

    protected program(addr: number, data: Buffer, k: K): void {
        this.flashK = k
        this.stats.programs = this.stats.programs + 1
        this.stats.flashBytesProgrammed = this.stats.flashBytesProgrammed + data.length
        this.flash.program(addr, data, this.onFlash)
    }

    /** Erases sector s, then go(k); k 0: behind the calls (the sector is empty, nothing in it
     * is live), while the store takes calls. */
    protected eraseSector(s: number, k: K): void {
        // one erase at a time: after the one behind the calls
        if (this.bgS >= 0) {
            this.pendS = s
            this.pendK = k
            return
        }
        this.stats.erases = this.stats.erases + 1
        let done = this.onFlash
        if ((k as number) === 0) {
            this.bgS = s
            this.stats.erasesBehind = this.stats.erasesBehind + 1
            done = this.onErasedBehind
        } else this.flashK = k
        if (this.eraseBlockOf) if (this.eraseBlockOf(s, done)) return
        this.flash.eraseSector(this.sectorAddr(s), done)
    }

    protected readAt(addr: number, len: number, k: K): void {
        this.flashK = k
        this.flash.read(addr, len, this.onFlash)
    }
}
