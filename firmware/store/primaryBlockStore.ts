import { Clock } from "../../hal/clock"
import { Flash } from "../../hal/flash"
import { getU32 } from "../codec/bytes"
import { crc32cFlippedBit, crc32cUpdate } from "../codec/crc32c"
import { seqAfter } from "../seq"
import {
    allErased,
    ENTRY_SIZE,
    entryLba,
    entryLen,
    EntryType,
    headerAEraseCount,
    headerBValid,
    mendHeader,
    LBA_LIMIT,
    MAX_ENTRIES,
    MEMBER_LIMIT,
    MENDED,
    mendData,
    mendFields,
    META_KEYS,
    SECTOR_HEADER_SIZE,
} from "./format"
import { Done, EMPTY, HORIZON, K, numbers, Op, SecState } from "./storeCore"
import { StoreSpace } from "./storeSpace"
import { MountReport, PinnedEntry, StoreError, StoreOptions, StoreRole } from "./types"
import { storeInvariant } from "./versionIndex"

const ZERO_ENTRY = Buffer.alloc(16)

/**
 * The block store: a log-structured, power-loss-safe store of blocks over a `Flash`, used by
 * the primary boards (local storage device) and the remote board (remote storage device).
 * The on-flash format is in docs/FORMAT-flash.md; the RAM index in versionIndex.ts.
 *
 * Contract
 * - Calls that touch flash complete through `done`, always from the run loop (never from
 *   inside the call), one at a time in call order; up to `queueDepth` calls wait.
 * - `write(member, lba, seq, data, done)`: done(None) only once the record is durable on
 *   flash. A write that fails (or is cut by power loss) may or may not be found after the next
 *   mount, whole or not at all, never torn.
 * - Versions: the newest version of (member, lba) is the one with the highest seq (wrap-safe),
 *   then the latest written. On a primary, versions with seq above the confirmed seq stay
 *   pinned (the newest of each seq) until `confirm`; on the remote, versions above the applied
 *   seq are staged until `commit` makes every one at or below it visible at once.
 * - A power cut at any program or erase loses no write whose done fired, and the remote shows
 *   exactly its applied seqs after mount. Flash contents never make mount throw: bad records
 *   are counted (stats, MountReport) and skipped.
 * - Long work (the mount scan, pruning after a commit) yields to the run loop every
 *   `stepBytes` bytes of checking, so the DeviceScript VM never runs too long.
 * - Garbage collection runs inside the write (or control call) that needs room: such a call
 *   takes one or more sector erases longer (45 ms typical each).
 * - The store is the only user of its `Flash` (and of its sectors); it allocates its RAM index
 *   and queue at construction (and again at each mount), not per call.
 *
 * Two classes: `BlockStore` (blockStore.ts) takes both roles. `PrimaryBlockStore` is the same store
 * without the remote's part (commit and discard calls, discard records, visible versions) and
 * without format and collect: it takes role Primary only (Remote gives StoreError.Config),
 * and a primary board's image uses it so that the rest stays out of the image (the
 * DeviceScript VM's 64 KB limit). `BlockStore` adds its part by overriding hooks
 * (`takes`, `toolStep`, ...) that do nothing here; a class only the simulator, the remote and
 * the tests construct is not compiled into a primary's image. Both read and write the same
 * flash format.
 * @devsWhenUsed
 */
export class PrimaryBlockStore extends StoreSpace {
    private kickScheduled!: boolean

    // ---- the call queue (a ring, allocated once)
    private qKind: number[]
    protected qMember: number[]
    private qLba: number[]
    protected qSeq: number[]
    protected qLen: number[]
    /** The block CRC-32C of each queued write (docs/FORMAT-flash.md, DATA). */
    private qCrc: number[]
    private nextCrc!: number
    /** The block CRC-32C of the version the last successful read returned. */
    readCrc = 0
    protected qBuf: Buffer[]
    private qDone: (Done | null)[]
    protected qHead = 0
    protected qCount = 0

    // ---- mount registers
    private mountDone!: ((err: StoreError, report: MountReport) => void) | null
    protected mS!: number
    protected mBuf!: Buffer
    private mEntry!: number
    private mPhase!: number
    private mCheckAt!: number
    private mDataUsed!: number
    /** Per sector: 1 + the index of the last bad entry found, 0 for none. */
    private mLastBad: Buffer
    /** Per sector: 1 + the slot of the last bad entry when it is a damaged data record kept as a
     * version, 0 otherwise. */
    private mLastKept: Buffer
    /** Where the entry a power cut tore lies, zeroed before the next append (-1: none). */
    private voidAddr!: number
    private voidS!: number
    private mEntryEnd: Buffer
    private mClosed: Buffer
    /** Per small-record slot: the log position of the live copy found. */
    private mMetaPos: number[]
    private mG!: number
    private mStartMs!: number
    /** The scan is running a second time (the first found a bad entry or sector header). */
    private mAgain!: boolean
    /** Bad entries and sector headers this scan found. */
    private mSuspect!: number

    /** The queue's kick: a closure, allocated once. */
    private readonly kick: () => void
    /** finish calls nested in one run-loop turn. */
    private depth = 0

    constructor(flash: Flash, clock: Clock, opts: StoreOptions, remoteOk?: boolean) {
        super(flash, clock, opts, remoteOk)
        const n = this.n
        const qDepth = this.qDepth
        this.mLastBad = Buffer.alloc(n)
        this.mLastKept = Buffer.alloc(n)
        this.mEntryEnd = Buffer.alloc(n)
        this.mClosed = Buffer.alloc(n)
        this.mMetaPos = numbers(META_KEYS + 1, -1)
        this.qKind = numbers(qDepth, 0)
        this.qMember = numbers(qDepth, 0)
        this.qLba = numbers(qDepth, 0)
        this.qSeq = numbers(qDepth, 0)
        this.qLen = numbers(qDepth, 0)
        this.qCrc = numbers(qDepth, 0)
        this.qBuf = []
        this.qDone = []
        for (let i = 0; i < qDepth; i++) {
            this.qBuf.push(Buffer.alloc(this.B))
            this.qDone.push(null)
        }
        const self = this
        this.kick = () => self.startNext()
    }

    // =====================================================================================
    // Public API

    /**
     * Scans the flash and rebuilds the RAM index. done(None, report) when the store is usable
     * (a blank or garbage chip gives an empty store); done(IncompatibleFormat) when the flash
     * holds a store of another format version or block size (use `format`); done(Flash) when the
     * flash failed; done(Config) for bad options. Calls made before mount fail with NotMounted.
     */
    mount(done: (err: StoreError, report: MountReport) => void): void {
        // (a store whose options are bad is never busy)
        let err = this.configError
        if (this.busy) err = StoreError.NotMounted
        if (err !== StoreError.None) {
            const rep = this.report
            this.clock.setTimer(0, () => done(err, rep))
            return
        }
        this.resetState()
        this.mAgain = false
        this.scanAll(done)
    }

    /** The mount's scan of every sector, from a reset state. */
    private scanAll(done: (err: StoreError, report: MountReport) => void): void {
        this.busy = true
        this.mountDone = done
        this.report = new MountReport()
        this.report.sectors = this.n
        this.mStartMs = this.clock.millis()
        this.mS = 0
        this.mountNextSector()
    }

    isMounted(): boolean {
        return this.mounted
    }

    /** Stores one block durably (see the class contract). data: 1..blockSize bytes; copied.
     * `crc`: the data's CRC-32C as computed when the write was captured (computed here when
     * absent); the record's CRC goes on from it, so data changed in RAM since never checks. */
    write(member: number, lba: number, seq: number, data: Buffer, done: (err: StoreError) => void, crc?: number): void {
        if (validInt(member, MEMBER_LIMIT))
            if (validInt(lba, LBA_LIMIT))
                if (validInt(seq, U32_LIMIT))
                    if (data.length >= 1)
                        if (data.length <= this.B) {
                            this.nextCrc = crc === undefined ? crc32cUpdate(0, data, 0, data.length) : crc
                            return this.enqueue(Op.Write, member, lba, seq, data, done)
                        }
        this.refuse(done, StoreError.BadArgument)
    }

    /** The newest version (primary) or the newest applied version (remote) of (member, lba):
     * done(None, data), done(None, null) when there is none, done(Corrupt) when the record no
     * longer matches its CRC. */
    read(member: number, lba: number, done: (err: StoreError, data: Buffer | null) => void): void {
        if (validInt(member, MEMBER_LIMIT)) if (validInt(lba, LBA_LIMIT)) return this.enqueue(Op.Read, member, lba, 0, null, done)
        this.refuse(done, StoreError.BadArgument)
    }

    /**
     * Seqs above the horizon that have pinned (primary) or staged (remote) versions, oldest
     * first; of one member when `member` is given.
     */
    pinnedSeqs(member?: number): number[] {
        const all = this.idx.seqsAbove()
        if (member === undefined) return all
        if (member < 0) return all
        const out: number[] = []
        for (let i = 0; i < all.length; i++) {
            for (let g = this.idx.firstOfSeq(all[i]); g >= 0; g = this.idx.nextOfSeq(g)) {
                if (this.idx.memberOf(g) === member) {
                    out.push(all[i])
                    break
                }
            }
        }
        return out
    }

    /** The pinned (staged) versions of `seq`: the newest of each lba; of every member when
     * member < 0. `addr` is where the data is now; garbage collection may move it later, so
     * `readPinned` looks the version up again. */
    pinned(member: number, seq: number): PinnedEntry[] {
        const out: PinnedEntry[] = []
        if (this.idx.hasHorizon) if (!seqAfter(seq, this.idx.horizon)) return out
        for (let g = this.idx.firstOfSeq(seq); g >= 0; g = this.idx.nextOfSeq(g)) {
            const m = this.idx.memberOf(g)
            if (member >= 0) if (m !== member) continue
            out.push({ member: m, lba: this.idx.lbaOf(g), seq: seq, addr: this.slotAddr(this.sectorOf(g), g % this.spS) })
        }
        return out
    }

    /** The data of the version (member, lba, seq): done(NotFound) when it is no longer held. */
    readPinned(entry: { member: number; lba: number; seq: number }, done: (err: StoreError, data: Buffer | null) => void): void {
        if (validInt(entry.member, MEMBER_LIMIT))
            if (validInt(entry.lba, LBA_LIMIT))
                if (validInt(entry.seq, U32_LIMIT)) return this.enqueue(Op.ReadPinned, entry.member, entry.lba, entry.seq, null, done)
        this.refuse(done, StoreError.BadArgument)
    }

    /** Primary: the remote has applied every seq up to `seq`. Its versions are unpinned once a
     * confirm record is durable; an older or equal seq changes nothing. */
    confirm(seq: number, done?: (err: StoreError) => void): void {
        this.seqRecord(Op.Confirm, StoreRole.Primary, seq, done ? done : null)
    }

    /** Queues a confirm, commit or discard record after checking the seq and the role. */
    protected seqRecord(op: Op, role: StoreRole, seq: number, done: ((err: StoreError) => void) | null): void {
        if (!validInt(seq, U32_LIMIT)) {
            this.refuse(done, StoreError.BadArgument)
            return
        }
        if (this.role !== role) {
            this.refuse(done, StoreError.WrongRole)
            return
        }
        this.enqueue(op, 0, 0, seq, null, done)
    }

    /** Primary: the highest seq the remote confirmed (0 before the first). */
    confirmedSeq(): number {
        return this.idx.hasHorizon ? this.idx.horizon : 0
    }

    /** A persistent metadata value (key 0..31), or -1 when never set. */
    meta(key: number): number {
        if (!validInt(key, META_KEYS)) return -1
        return this.metaLoc[key + 1] >= 0 ? this.metaVal[key + 1] : -1
    }

    /** Sets a persistent metadata value (u32) durably; the latest valid record wins at mount. */
    setMeta(key: number, value: number, done: (err: StoreError) => void): void {
        if (validInt(key, META_KEYS)) if (validInt(value, U32_LIMIT)) return this.enqueue(Op.SetMeta, key, 0, value, null, done)
        this.refuse(done, StoreError.BadArgument)
    }

    /** The highest seq found on flash at mount or written since (0 when none): a rebooted
     * board never captures at a lower seq than it used before. */
    maxSeqSeen(): number {
        return this.maxSeq
    }

    /** The seq of the newest version of (member, lba) on flash now (primary), -1 when none. */
    newestSeq(member: number, lba: number): number {
        const g = this.idx.newest(member, lba)
        return g < 0 ? -1 : this.idx.seqOf(g)
    }

    blockSize(): number {
        return this.B
    }

    /** Erase count of each sector of the store. */
    eraseCounts(): number[] {
        const out: number[] = []
        for (let s = 0; s < this.n; s++) out.push(this.secErase[s])
        return out
    }

    /** Flash bytes programmed per user byte written (0 before the first write). */
    writeAmplification(): number {
        return this.stats.userBytes > 0 ? this.stats.flashBytesProgrammed / this.stats.userBytes : 0
    }

    freeSectors(): number {
        return this.freeCount
    }

    /** Live data versions (newest, visible, pinned, staged). */
    liveVersions(): number {
        return this.idx.liveCount
    }

    /** Data records the store can hold in all. */
    capacityRecords(): number {
        return this.n * this.spS
    }

    /** Bytes of RAM the store holds between calls (a number is 8 bytes on the board): the
     * index, 8 bytes and 2 numbers per sector, the metadata tables and the call queue (a block
     * and 6 numbers per call). Mount also reads one sector at a time into a buffer of its own. */
    ramBytes(): number {
        return this.idx.ramBytes() + this.n * 24 + META_KEYS * 3 * 8 + this.qDepth * (this.B + 48)
    }

    lastMountReport(): MountReport {
        return this.report
    }

    // =====================================================================================
    // Queue

    private failLater(done: Done, err: StoreError): void {
        this.clock.setTimer(0, () => done(err, null))
    }

    private refuse(done: ((err: StoreError, data: Buffer | null) => void) | null, err: StoreError): void {
        this.stats.refused++
        if (done) this.clock.setTimer(0, () => done(err, null))
    }

    protected enqueue(kind: Op, member: number, lba: number, seq: number, data: Buffer | null, done: Done | null): void {
        if (!this.mounted) {
            const err = this.configError !== StoreError.None ? this.configError : StoreError.NotMounted
            if (done) this.clock.setTimer(0, () => done(err, null))
            return
        }
        if (this.qCount === this.qDepth) {
            this.stats.queueFull++
            if (done) this.clock.setTimer(0, () => done(StoreError.QueueFull, null))
            return
        }
        const i = (this.qHead + this.qCount) % this.qDepth
        this.qKind[i] = kind
        this.qMember[i] = member
        this.qLba[i] = lba
        this.qSeq[i] = seq
        this.qCrc[i] = this.nextCrc
        this.qDone[i] = done
        if (data) {
            this.qBuf[i].set(data, 0)
            this.qLen[i] = data.length
        } else this.qLen[i] = 0
        this.qCount++
        if (!this.busy)
            if (!this.kickScheduled) {
                this.kickScheduled = true
                this.clock.setTimer(0, this.kick)
            }
    }

    private startNext(): void {
        this.kickScheduled = false
        if (this.busy) return
        if (this.qCount === 0) return
        if (!this.mounted) return
        this.busy = true
        if (this.voidAddr >= 0) {
            this.program(this.voidAddr, ZERO_ENTRY, K.Voided)
            this.voidAddr = -1
            return
        }
        const i = this.qHead
        const kind = this.qKind[i]
        const seq = this.qSeq[i]
        const idx = this.idx
        // BlockStore's calls (the remote role's, collect) and its checks of the remote's writes
        if (this.takes(kind, i)) return
        if (kind === Op.Write) return this.ensureRoom(true, K.WriteRoom)
        if (kind >= Op.Read)
            if (kind <= Op.ReadPinned) {
                // a version read (VersionRead)
                const m = this.qMember[i]
                const lba = this.qLba[i]
                let g = -1
                if (kind === Op.ReadPinned) {
                    g = idx.version(m, lba, seq)
                    if (g < 0) return this.finish(StoreError.NotFound, null)
                } else g = this.readable(m, lba)
                this.stats.reads++
                if (g < 0) return this.finish(StoreError.None, null)
                return this.readVersion(g, K.VersionRead)
            }
        // a commit, confirm or meta record; a confirm of a seq already confirmed and a
        // meta value already held change nothing
        if (kind === Op.Confirm) {
            if (idx.hasHorizon) if (!seqAfter(seq, idx.horizon)) return this.finish(StoreError.None, null)
        } else if (kind === Op.SetMeta) {
            const slot = this.qMember[i] + 1
            if (this.metaLoc[slot] >= 0) if (this.metaVal[slot] === seq) return this.finish(StoreError.None, null)
        }
        this.ensureRoom(false, K.SmallRoom)
    }

    /** Ends the running call: pops it, calls its done, starts the next. */
    protected finish(err: StoreError, data: Buffer | null): void {
        storeInvariant(this.busy && this.qCount > 0, "finish of a running call")
        const i = this.qHead
        const done = this.qDone[i]
        this.qDone[i] = null
        this.qHead = (this.qHead + 1) % this.qDepth
        this.qCount--
        this.busy = false
        if (err === StoreError.Full) this.stats.full++
        if (done) done(err, data)
        // calls that end at once (refused) and whose done queues the next must not nest
        // without bound: every few, the next starts from the run loop
        if (++this.depth < 8) this.startNext()
        else if (!this.kickScheduled) {
            this.kickScheduled = true
            this.clock.setTimer(0, this.kick)
        }
        this.depth--
    }

    // =====================================================================================
    // What BlockStore adds (the remote role, collect, format): hooks that a primary board's
    // store leaves as they are here, so that its image has none of that code

    /** Runs the call at the head of the queue (entry i) if it is one of BlockStore's; false
     * when the store runs it. */
    protected takes(_kind: Op, _i: number): boolean {
        return false
    }

    /** The version a read returns: the newest (on the remote: the newest applied). */
    protected readable(member: number, lba: number): number {
        return this.idx.newest(member, lba)
    }

    /** Mount: a valid small record of a type this store does not use (at entry `off` of mBuf,
     * location `loc`, log position `pos`); true when BlockStore keeps it. */
    protected foundMore(_type: number, _off: number, _loc: number, _pos: number): boolean {
        return false
    }

    /** Mount: the candidate data record g is void (BlockStore dropped it). */
    protected voided(_g: number): boolean {
        return false
    }

    /** A mount's scan starts over: BlockStore forgets what the last one found. */
    protected resetMore(): void {}

    // =====================================================================================
    // Calls

    /** After a commit or confirm: updates the index in steps, then finishes. */
    private pruneStep(): void {
        if (this.idx.pruneStep(this.stepBytes >> 6)) this.finish(StoreError.None, null)
        else this.later(K.PruneStep)
    }

    // =====================================================================================
    // Continuations

    /** Runs continuation k with the result of the step that finished (`data`: what a flash read
     * read; nothing for other steps). */
    protected go(k: K, err: StoreError, data?: Buffer | null): void {
        // a failed step ends its layer: a call's own step finishes the call, a collection's
        // step returns to what asked for the collection, an append's entry and a version read
        // to what asked for them (the steps that must do more on a failure are left out here)
        if (err !== StoreError.None)
            if (k >= K.WriteRoom)
                if (k <= K.VersionData) {
                    // an entry whose program failed may be left erased: a mount reads a sector's
                    // entries only up to the first erased one, so nothing more is appended in
                    // that sector
                    if (k >= K.SmallAppended)
                        if (k <= K.GcDiscardAppended)
                            if (this.open === this.apS) {
                                this.setState(this.apS, SecState.Used)
                                this.open = -1
                            }
                    if (k < K.ApEntry) return this.finish(err, null)
                    if (k === K.ApEntry) return this.go(this.apK, err)
                    if (k >= K.VersionEntry) {
                        this.vEntry = EMPTY
                        return this.go(this.vK, err)
                    }
                    return this.go(this.gcK, err)
                }
        if (k >= K.ApEntry) if (k <= K.ApData) return this.spaceStep(k, err, data)
        switch (k) {
            case K.Voided:
                // not zeroed (the flash failed): no more appends after it in its sector
                if (err !== StoreError.None)
                    if (this.open === this.voidS) {
                        this.setState(this.voidS, SecState.Used)
                        this.open = -1
                    }
                this.busy = false
                return this.startNext()
            case K.WriteRoom: {
                // room for a write: append its data record
                const i = this.qHead
                const len = this.qLen[i]
                // a block shorter than blockSize is programmed as is (slice: read-only use)
                const block = len === this.B ? this.qBuf[i] : this.qBuf[i].slice(0, len)
                this.appendData(this.qMember[i], this.qLba[i], this.qSeq[i], block, len, this.qCrc[i], K.WriteAppended)
                return
            }
            case K.WriteAppended: {
                // the write is durable: index it
                const i = this.qHead
                this.idx.insert(this.apG)
                this.stats.writes++
                this.stats.userBytes += this.qLen[i]
                this.finish(StoreError.None, null)
                return
            }
            case K.SmallRoom: {
                // room for a commit, confirm or meta record: append it
                const i = this.qHead
                this.appendSlot(this.qKind[i] === Op.SetMeta ? this.qMember[i] + 1 : HORIZON, this.qSeq[i], K.SmallAppended)
                return
            }
            case K.SmallAppended: {
                // the small record is durable: apply it
                const i = this.qHead
                const kind = this.qKind[i]
                const seq = this.qSeq[i]
                const slot = kind === Op.SetMeta ? this.qMember[i] + 1 : HORIZON
                this.moveLoc(this.metaLoc[slot], this.apLoc)
                this.metaLoc[slot] = this.apLoc
                this.metaVal[slot] = seq
                if (slot !== HORIZON) return this.finish(StoreError.None, null)
                this.idx.setHorizon(seq)
                this.noteSeq(seq)
                if (kind === Op.Commit) this.stats.commits++
                return this.pruneStep()
            }
            case K.PruneStep:
                return this.pruneStep()
            case K.VersionRead:
                // a read call's version
                if (this.vDamaged) {
                    this.stats.corruptOnRead++
                    return this.finish(StoreError.Corrupt, null)
                }
                this.readCrc = this.vCrc
                return this.finish(StoreError.None, data as Buffer)
            case K.MountRead: {
                // mount read a whole sector: classify it by its header
                if (!data) err = StoreError.Flash
                if (err !== StoreError.None) return this.mountFail(err)
                const buf = data as Buffer
                const s = this.mS
                this.mBuf = buf
                const aErased = allErased(buf, 0, 8)
                const bErased = allErased(buf, 8, 16)
                const ec = headerAEraseCount(buf, 0)
                if (ec >= 0) this.secErase[s] = ec
                let blank = aErased
                if (ec >= 0) if (buf[3] === this.blockLog2) blank = true
                if (blank)
                    if (bErased) {
                        // erased (part A may be stamped): free if everything after the header is erased
                        this.secHasA[s] = aErased ? 0 : 1
                        this.mPhase = 1
                        this.mCheckAt = SECTOR_HEADER_SIZE
                        this.mountStep()
                        return
                    }
                // one flipped bit of a header (at rest, or a read that failed) is mended: a sector
                // taken for torn would be erased with every version in it
                const whole = headerBValid(buf, 0)
                if (!bErased)
                    if (mendHeader(buf, 0)) {
                        if (!whole) this.stats.mended++
                        this.secErase[s] = headerAEraseCount(buf, 0)
                        if (buf[3] !== this.blockLog2) {
                            this.report.incompatible++
                            this.mountFail(StoreError.IncompatibleFormat)
                            return
                        }
                        this.setState(s, SecState.Used)
                        this.secHasA[s] = 1
                        this.secSeq[s] = getU32(buf, 8)
                        if (this.secSeq[s] >= this.nextSectorSeq) this.nextSectorSeq = this.secSeq[s] + 1
                        this.mPhase = 0
                        this.mEntry = 0
                        this.mDataUsed = 0
                        this.mountStep()
                        return
                    }
                // torn header (a cut while opening), torn erase, foreign data
                this.mSuspect++
                this.markDirty(s)
                this.mS++
                this.mountNextSector()
                return
            }
            case K.MountStep:
                return this.mountStep()
            case K.IndexStep:
                return this.indexStep()
            default:
                return this.toolStep(k, err, data)
        }
    }

    // =====================================================================================
    // Mount: read every sector, parse it in steps, then build the index in steps

    protected resetState(failQueued = true): void {
        this.mounted = false
        this.mSuspect = 0
        // calls still queued from before fail
        if (failQueued) {
            while (this.qCount > 0) {
                const done = this.qDone[this.qHead]
                this.qDone[this.qHead] = null
                this.qHead = (this.qHead + 1) % this.qDepth
                this.qCount--
                if (done) this.failLater(done, StoreError.NotMounted)
            }
            this.qHead = 0
        }
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
            this.mEntryEnd[s] = 0
            this.mClosed[s] = 0
        }
        for (let k = 0; k <= META_KEYS; k++) {
            this.metaVal[k] = 0
            this.metaLoc[k] = -1
            this.mMetaPos[k] = -1
        }
        this.resetMore()
        this.voidAddr = -1
        this.open = -1
        this.nextSectorSeq = 1
        this.lastOpened = -1
        this.maxSeq = 0
        this.hasMaxSeq = false
        this.idx.clear()
    }

    private mountNextSector(): void {
        if (this.mS >= this.n) {
            this.mountScanned()
            return
        }
        this.readAt(this.sectorAddr(this.mS), this.S, K.MountRead)
    }

    private mountFail(err: StoreError): void {
        this.busy = false
        this.mBuf = EMPTY
        const done = this.mountDone
        this.mountDone = null
        this.report.durationMs = this.clock.millis() - this.mStartMs
        if (done) done(err, this.report)
    }

    private markDirty(s: number): void {
        this.setState(s, SecState.Dirty)
        this.report.dirtySectors++
        this.stats.dirtySectors++
    }

    /** One step of the sector being parsed: entries (phase 0) or an erased check (1, 2). */
    private mountStep(): void {
        const s = this.mS
        const buf = this.mBuf
        let budget = this.stepBytes
        if (this.mPhase === 0) {
            while (budget > 0) {
                const i = this.mEntry
                const off = SECTOR_HEADER_SIZE + ENTRY_SIZE * i
                // entries end at the first erased one, or where the data slots begin
                if (i < MAX_ENTRIES)
                    if (off + ENTRY_SIZE <= this.S - this.B * this.mDataUsed)
                        if (!allErased(buf, off, off + ENTRY_SIZE)) {
                            budget -= ENTRY_SIZE + this.parseEntry(s, i, off)
                            this.mEntry++
                            continue
                        }
                this.mEntryEnd[s] = i
                this.secEntries[s] = i
                this.secData[s] = this.mDataUsed
                // the slot after the last one used must be erased: else a data program was cut before
                // its entry (or its entry was torn). That slot is skipped (entries name their slot), and
                // appends go on after it if the rest of the free room is erased: the newest sector of a
                // store cut in the middle of a garbage collection that took the last free sector must
                // take the rest of that collection's records, or no victim would fit after the mount.
                const entriesEnd = SECTOR_HEADER_SIZE + ENTRY_SIZE * this.secEntries[s]
                const next = this.mDataUsed
                if (next < this.spS) {
                    const lo = this.S - (next + 1) * this.B
                    if (lo >= entriesEnd)
                        if (!allErased(this.mBuf, lo, lo + this.B)) {
                            this.report.tornData++
                            this.stats.tornData++
                            this.secData[s] = next + 1
                        }
                }
                if (this.S - this.B * this.secData[s] < entriesEnd) {
                    this.mClosed[s] = 1
                    return this.mountSectorDone()
                }
                this.mPhase = 2
                this.mCheckAt = entriesEnd
                // the erased check of its free room (phase 2)
                return this.mountStep()
            }
            this.later(K.MountStep)
            return
        }
        // erased check of [mCheckAt, end): phase 1 = a free sector, 2 = the free room of a used one
        const end = this.mPhase === 1 ? this.S : this.S - this.B * this.secData[s]
        const stop = Math.min(end, this.mCheckAt + budget)
        if (!allErased(buf, this.mCheckAt, stop)) {
            if (this.mPhase === 1) this.markDirty(s)
            else {
                // stray bytes in the free room: no more appends here
                this.mClosed[s] = 1
                this.report.strayAreas++
                this.stats.strayAreas++
            }
            this.mountSectorDone()
            return
        }
        this.mCheckAt = stop
        if (stop < end) {
            this.later(K.MountStep)
            return
        }
        if (this.mPhase === 1) {
            this.setState(s, SecState.Free)
            this.report.erasedBytes += this.S - SECTOR_HEADER_SIZE
        } else this.report.erasedBytes += end - (SECTOR_HEADER_SIZE + ENTRY_SIZE * this.secEntries[s])
        this.mountSectorDone()
    }

    private mountSectorDone(): void {
        this.mBuf = EMPTY
        this.mS++
        // every sector read is its own run-loop event already; no timer needed
        this.mountNextSector()
    }

    /** Parses entry i of sector s; returns the data bytes it checked. */
    private parseEntry(s: number, i: number, off: number): number {
        const buf = this.mBuf
        // an entry a power cut tore, zeroed since (mountScanned): nothing
        if (zeroEntry(buf, off)) return 0
        const pos = this.secSeq[s] * 256 + i
        const type = buf[off]
        const small = crc32cUpdate(0, buf, off, off + 12) ^ getU32(buf, off + 12)
        const t = type ^ EntryType.Data
        if (small !== 0)
            if ((t & (t - 1)) === 0) {
                // a data record (or one whose type bit flipped): its fields first (their check
                // mends one flipped bit of them, slot and length included), then its data and CRC
                const h = mendFields(buf, off)
                const slot = buf[off + 2]
                const len = entryLen(buf, off)
                const dataOff = this.S - (slot + 1) * this.B
                if (h !== -2)
                    if (buf[off] === EntryType.Data)
                        if (slot < this.spS)
                            if (len >= 1)
                                if (len <= this.B)
                                    if (off + ENTRY_SIZE <= dataOff) {
                                        const r = mendData(buf, off, buf, dataOff, this.B)
                                        if (r >= 0) return this.dataEntry(s, i, off, slot, this.mended(h >= 0 ? r | MENDED : r), true)
                                        if (h === -1) {
                                            // damage that cannot be mended, in a record whose fields are right: kept as
                                            // a version all the same (its reads say Corrupt); only the record a power
                                            // cut tore (mountScanned) is dropped; docs/FORMAT-flash.md, "Damage and tears"
                                            this.dataEntry(s, i, off, slot, len, false)
                                            // a power cut in the entry's program leaves bits of its CRC at 1 that
                                            // should be 0, never the reverse: a CRC with a 0 where the data's has a 1
                                            // was programmed whole, and the data changed since (damage, not a tear)
                                            const c = crc32cUpdate(crc32cUpdate(0, buf, dataOff, dataOff + len), buf, off, off + 12)
                                            if ((c & ~getU32(buf, off + 12)) !== 0) this.mLastKept[s] = NOT_TORN
                                            return len
                                        }
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
            const k = crc32cFlippedBit(small, 12)
            if (k < 0) {
                this.badEntry(s, i)
                return 0
            }
            this.stats.mended++
            if (k < 96) buf[off + (k >> 3)] ^= 1 << (k & 7)
        }
        const value = getU32(buf, off + 8)
        const loc = s * 256 + i
        // this role's horizon record, or a meta value: the one latest in the log is live
        let slot = -1
        if (type === this.horizonType) slot = HORIZON
        else if (type === EntryType.Meta) if (buf[off + 1] < META_KEYS) slot = buf[off + 1] + 1
        if (slot >= 0) {
            this.report.records++
            if (slot === HORIZON) this.noteSeq(value)
            if (pos > this.mMetaPos[slot]) {
                this.mMetaPos[slot] = pos
                this.metaVal[slot] = value
                this.metaLoc[slot] = loc
            }
            return 0
        }
        if (this.foundMore(type, off, loc, pos)) return 0
        // a valid record of a type this store does not use: count it as bad
        this.badEntry(s, i)
        return 0
    }

    /** A data entry at mount (its record checks when `ok`): a version in the index. */
    private dataEntry(s: number, i: number, off: number, slot: number, len: number, ok: boolean): number {
        const buf = this.mBuf
        const g = s * this.spS + slot
        if (this.idx.isCandidate(g)) {
            this.badEntry(s, i)
            return len
        }
        const seq = getU32(buf, off + 8)
        this.idx.setRecord(g, buf[off + 1], entryLba(buf, off), seq, i, true)
        if (slot + 1 > this.mDataUsed) this.mDataUsed = slot + 1
        this.report.dataRecords++
        if (ok) {
            this.report.records++
            this.noteSeq(seq)
            return len
        }
        this.badEntry(s, i)
        this.mLastKept[s] = slot + 1
        return len
    }

    private badEntry(s: number, i: number): void {
        this.report.badCrc++
        this.mSuspect++
        this.mLastBad[s] = i + 1
        this.mLastKept[s] = 0
    }

    /** Every sector is read: settle the horizon, torn records, the open sector, erase counts. */
    private mountScanned(): void {
        // a bad entry or sector header may be a read that failed once: the whole scan runs
        // again, and only what it finds again counts (a torn entry, a damaged record, a sector
        // to erase); docs/FORMAT-flash.md, "How a boot decides what is valid"
        if (this.mSuspect > 0)
            if (!this.mAgain) {
                this.mAgain = true
                const started = this.mStartMs
                this.resetState(false)
                this.scanAll(this.mountDone as (err: StoreError, report: MountReport) => void)
                this.mStartMs = started
                return
            }
        const rep = this.report
        this.stats.badCrc += rep.badCrc
        let newest = -1
        let known = 0
        let sum = 0
        for (let s = 0; s < this.n; s++) {
            const st = this.secState[s]
            if (st === SecState.Free) rep.freeSectors++
            if (st === SecState.Used) {
                rep.usedSectors++
                if (newest < 0) newest = s
                else if (this.secSeq[s] > this.secSeq[newest]) newest = s
            }
            if (this.secErase[s] >= 0) {
                known++
                sum += this.secErase[s]
            }
        }
        // sectors never stamped (blank) or unreadable: estimate their erase count
        const estimate = known > 0 ? Math.round(sum / known) : 0
        for (let s = 0; s < this.n; s++) {
            if (this.secErase[s] < 0) {
                this.secErase[s] = estimate
                rep.unknownEraseCounts++
            }
        }
        if (rep.freeSectors === this.n) if (rep.records === 0) rep.blank = true
        // the last bad entry of the newest sector is the record a power cut tore
        if (newest >= 0)
            if (this.mLastBad[newest] > 0)
                if (this.mLastBad[newest] === this.mEntryEnd[newest])
                    if (this.mLastKept[newest] !== NOT_TORN) {
                        rep.torn = 1
                        // its data record (if it was kept) is no version: the write never finished; the
                        // entry is zeroed before the next append, so that it never reads as damage later
                        const k = this.mLastKept[newest]
                        if (k > 0) {
                            this.idx.dropCandidate(newest * this.spS + k - 1)
                            rep.dataRecords--
                        }
                        this.voidAddr = this.entryAddr(newest, this.mLastBad[newest] - 1)
                        this.voidS = newest
                    }
        rep.corruptedOld = rep.badCrc - rep.torn
        this.stats.torn += rep.torn
        this.stats.corruptedOld += rep.corruptedOld
        // appends go on in the newest sector when its free room is clean
        if (newest >= 0)
            if (!this.mClosed[newest]) {
                this.setState(newest, SecState.Open)
                this.open = newest
                this.lastOpened = newest
                if (!this.fits(newest, false)) {
                    this.setState(newest, SecState.Used)
                    this.open = -1
                }
            }
        if (this.metaLoc[HORIZON] >= 0) this.idx.setHorizon(this.metaVal[HORIZON])
        for (let k = 0; k <= META_KEYS; k++) if (this.metaLoc[k] >= 0) this.secSmall[Math.floor(this.metaLoc[k] / 256)]++
        this.mG = 0
        this.indexStep()
    }

    /** Places the data records found into the index, a few per step. */
    private indexStep(): void {
        const total = this.n * this.spS
        // a slot looked at costs 1, a version placed 8 (hash probe, chain walk, retention rule)
        let budget = this.stepBytes >> 3
        while (budget > 0) {
            if (this.mG >= total) break
            const g = this.mG++
            budget--
            if (!this.idx.isCandidate(g)) continue
            budget -= 8
            if (this.voided(g)) continue
            this.idx.dropCandidate(g)
            this.idx.insert(g)
        }
        if (this.mG < total) {
            this.later(K.IndexStep)
            return
        }
        const rep = this.report
        rep.liveRecords = this.idx.liveCount
        rep.superseded = rep.dataRecords - rep.voided - rep.liveRecords
        rep.maxSeqSeen = this.maxSeq
        rep.horizon = this.idx.hasHorizon ? this.idx.horizon : 0
        rep.durationMs = this.clock.millis() - this.mStartMs
        this.mBuf = EMPTY
        this.mounted = true
        this.busy = false
        const done = this.mountDone
        this.mountDone = null
        if (done) done(StoreError.None, rep)
        this.startNext()
    }
}

/** The 16-byte entry at off is all zeros: a torn entry the store zeroed. */
/** mLastKept: the sector's last bad entry is damage a power cut cannot have made. */
const NOT_TORN = 0xff

function zeroEntry(b: Buffer, off: number): boolean {
    for (let i = 0; i < 16; i++) if (b[off + i] !== 0) return false
    return true
}

/** Upper bound of a u32 (a seq, a meta value). */
const U32_LIMIT = 0x100000000

/** v is an integer in 0..limit-1. */
function validInt(v: number, limit: number): boolean {
    if (!(v >= 0)) return false
    if (!(v < limit)) return false
    return Math.floor(v) === v
}
