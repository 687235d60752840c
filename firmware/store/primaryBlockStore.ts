import { Clock } from "../../hal/clock"
import { Flash } from "../../hal/flash"
import { getU32 } from "../codec/bytes"
import { crc32cUpdate } from "../codec/crc32c"
import { seqAfter } from "../seq"
import { allErased, encodeHeaderA, ENTRY_SIZE, entryLba, entryLen, EntryType, LBA_LIMIT, MEMBER_LIMIT, MENDED, mendData, mendFields, META_KEYS } from "./format"
import { numbers } from "./packed"
import { Done, EMPTY, HORIZON, K, Op, SecState } from "./storeCore"
import { StoreMount } from "./storeMount"
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
 * - Garbage collection runs between calls, a step at a time, while fewer than reserveSectors +
 *   spareSectors sectors and an eighth of all are free, and erases behind the calls where the
 *   flash suspends an erase for reads and programs (docs/FORMAT-flash.md, "Collection between
 *   calls"). A call that still finds no room collects inside it, and takes one or more sector
 *   erases longer (45 ms typical each).
 * - The store is the only user of its `Flash` (and of its sectors); it allocates its RAM index
 *   and queue at construction (and again at each mount), not per call.
 *
 * Two classes: `BlockStore` (blockStore.ts) takes both roles. `PrimaryBlockStore` is the same store
 * without the remote's part (commit and discard calls, discard records, visible versions) and
 * without format and collect: it takes role Primary only (Remote gives StoreError.Config),
 * and a primary board's image uses it so that the rest stays out of the image (the
 * DeviceScript VM's 64 KB limit). `BlockStore` adds its part with methods only it defines
 * (`takes`, `toolStep`, ...: optional here, called when there); a class only the simulator,
 * the remote and the tests construct is not compiled into a primary's image. Both read and
 * write the same flash format.
 * @devsWhenUsed
 */
export class PrimaryBlockStore extends StoreMount {
    private kickScheduled!: boolean
    /** A step between calls failed: none until a call has finished. */
    private idleHold = false
    /** A mount waits for the step between calls, or the erase behind them, to end. */
    private mountWaits: ((err: StoreError, report: MountReport) => void) | null = null

    // ---- the call queue (a ring, allocated once)
    private qKind: number[]
    protected qMember: number[]
    /** A small record's call (confirm, commit, meta) has the record's slot here (HORIZON, or
     * 1 + the meta key). */
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

    /** The queue's kick: a closure, allocated once. */
    private readonly kick: () => void
    /** finish calls nested in one run-loop turn. */
    private depth = 0

    constructor(flash: Flash, clock: Clock, opts: StoreOptions, remoteOk?: boolean) {
        super(flash, clock, opts, remoteOk)
        const qDepth = this.qDepth
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
     * (The scan is StoreMount's, storeMount.ts.)
     */
    mount(done: (err: StoreError, report: MountReport) => void): void {
        // after what runs between calls (it reads and erases the flash)
        let waits = this.idleGc
        if (this.bgS >= 0) waits = true
        if (waits) {
            this.mountWaits = done
            return
        }
        this.idleHold = false
        // (a store whose options are bad is never busy)
        let err = this.configError
        if (this.busy) err = StoreError.NotMounted
        if (err !== StoreError.None) return this.answerLater(done, err, this.report)
        // the calls still queued fail (NotMounted)
        while (this.qCount > 0) this.answerLater(this.popCall(), StoreError.NotMounted, null)
        this.qHead = 0
        this.mAgain = false
        this.mStartMs = this.clock.millis()
        this.resetState(done)
    }

    isMounted(): boolean {
        return this.mounted
    }

    /** Stores one block durably (see the class contract). data: 1..blockSize bytes; copied.
     * `crc`: the data's CRC-32C as computed when the write was captured (computed here when
     * absent); the record's CRC goes on from it, so data changed in RAM since never checks. */
    write(member: number, lba: number, seq: number, data: Buffer, done: (err: StoreError) => void, crc?: number): void {
        if (data.length >= 1)
            if (data.length <= this.B) {
                let c = crc
                if (c === undefined) c = crc32cUpdate(0, data, 0, data.length)
                this.nextCrc = c
                return this.checked(Op.Write, member, lba, seq, data, done)
            }
        this.refuse(done, StoreError.BadArgument)
    }

    /** The newest version (primary) or the newest applied version (remote) of (member, lba):
     * done(None, data), done(None, null) when there is none, done(Corrupt) when the record no
     * longer matches its CRC. */
    read(member: number, lba: number, done: (err: StoreError, data: Buffer | null) => void): void {
        this.checked(Op.Read, member, lba, 0, null, done)
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
        this.checked(Op.ReadPinned, entry.member, entry.lba, entry.seq, null, done)
    }

    /** Primary: the remote has applied every seq up to `seq`. Its versions are unpinned once a
     * confirm record is durable; an older or equal seq changes nothing. */
    confirm(seq: number, done?: (err: StoreError) => void): void {
        let d: ((err: StoreError) => void) | null = null
        if (done) d = done
        // a seq that is no u32 is a bad argument, in either role (BlockStore's commit and
        // discardAbove check theirs the same way)
        if (this.role !== StoreRole.Primary) if (validInt(seq, U32_LIMIT)) return this.refuse(d, StoreError.WrongRole)
        this.checked(Op.Confirm, 0, HORIZON, seq, null, d)
    }

    /** Primary: the highest seq the remote confirmed (0 before the first). */
    confirmedSeq(): number {
        if (this.idx.hasHorizon) return this.idx.horizon
        return 0
    }

    /** Primary: a seq was confirmed (confirmedSeq is one, 0 included). */
    hasConfirmed(): boolean {
        return this.idx.hasHorizon
    }

    /** A persistent metadata value (key 0..31), or -1 when never set. */
    meta(key: number): number {
        if (!validInt(key, META_KEYS)) return -1
        if (this.metaLoc[key + 1] < 0) return -1
        return this.metaVal[key + 1]
    }

    /** Sets a persistent metadata value (u32) durably; the latest valid record wins at mount. */
    setMeta(key: number, value: number, done: (err: StoreError) => void): void {
        // (queued with the value's slot as its lba)
        if (validInt(key, META_KEYS)) return this.checked(Op.SetMeta, 0, key + 1, value, null, done)
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
        if (g < 0) return -1
        return this.idx.seqOf(g)
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

    /** Free sectors: those read and found erased, and those the mount found erased by their
     * header and the store has not needed yet (one an interrupted erase left with data in it is
     * found so when it is read, and erased before use). */
    freeSectors(): number {
        return this.freeCount + this.unverified
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

    protected refuse(done: Done | null, err: StoreError): void {
        this.stats.refused = this.stats.refused + 1
        this.answerLater(done, err, null)
    }

    /** Queues a call whose member, lba and seq (a u32) are right; else refuses it (BadArgument). */
    protected checked(kind: Op, member: number, lba: number, seq: number, data: Buffer | null, done: Done | null): void {
        if (validInt(member, MEMBER_LIMIT)) if (validInt(lba, LBA_LIMIT)) if (validInt(seq, U32_LIMIT)) return this.enqueue(kind, member, lba, seq, data, done)
        this.refuse(done, StoreError.BadArgument)
    }

    protected enqueue(kind: Op, member: number, lba: number, seq: number, data: Buffer | null, done: Done | null): void {
        if (!this.mounted) {
            let err = this.configError
            if (err === StoreError.None) err = StoreError.NotMounted
            return this.answerLater(done, err, null)
        }
        if (this.qCount === this.qDepth) {
            this.stats.queueFull = this.stats.queueFull + 1
            return this.answerLater(done, StoreError.QueueFull, null)
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
        if (!this.busy) this.kickLater()
    }

    /** Starts the next call from the run loop. */
    private kickLater(): void {
        if (this.kickScheduled) return
        this.kickScheduled = true
        this.clock.setTimer(0, this.kick)
    }

    /** Takes the call at the head of the queue off it; returns its done. */
    protected popCall(): Done | null {
        const i = this.qHead
        const done = this.qDone[i]
        this.qDone[i] = null
        this.qHead = (i + 1) % this.qDepth
        this.qCount--
        return done
    }

    protected startNext(): void {
        this.kickScheduled = false
        if (this.busy) return
        if (!this.mounted) return
        if (this.qCount === 0) {
            // Between calls, while fewer than the reserve, the spare and an eighth of the
            // sectors are free, a step: a sector the mount found erased by its header
            // is read (verifyOne: a boot reads what its calls take of its free room and some
            // ahead, not all of it), or else a step of garbage collection: one live record of
            // the best victim is relocated, or the victim, empty, is erased (behind the calls,
            // which suspend it, when the flash allows; else as a step; a sector erased behind
            // the calls gets part A of its header with part B, when it is opened). A call that
            // comes meanwhile waits for the step only. (In line: the board image counts each
            // method.)
            if (this.idleHold) return
            if (this.mountWaits) return
            if (this.bgS >= 0) return
            const free = this.freeCount - this.reserve - this.spare
            if (free >= this.n >> 3) return
            if (this.verifyOne(K.IdleDone)) {
                this.busy = true
                return
            }
            let v = this.wearVictim(true)
            if (v < 0) {
                v = this.pickVictim(false)
                if (v < 0) return
                // worth it only when at least half of the victim is garbage (a store full of
                // live or pinned data collects inside the calls that need room, not all the
                // time), and seven eighths once the spare is free (what is made ready ahead
                // costs hardly any relocation: no more than the collection it saves later)
                if (this.secState[v] === SecState.Used) {
                    let live = this.idx.sectorLive[v] * (ENTRY_SIZE + this.B) + this.secSmall[v] * ENTRY_SIZE
                    if (free >= 0) live = 4 * live
                    if (2 * live > this.S) return
                }
            }
            this.busy = true
            this.idleGc = true
            return this.gcNext(v, K.IdleDone)
        }
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
        if (this.takes) if (this.takes(kind, i)) return
        if (kind === Op.Write) return this.ensureRoom(true, K.WriteRoom)
        if (kind >= Op.Read)
            if (kind <= Op.ReadPinned) {
                // a version read (VersionRead)
                const m = this.qMember[i]
                const lba = this.qLba[i]
                let g: number
                if (kind === Op.ReadPinned) {
                    g = idx.version(m, lba, seq)
                    if (g < 0) return this.finish(StoreError.NotFound, null)
                } else if (this.readable) g = this.readable(m, lba)
                else g = idx.newest(m, lba)
                this.stats.reads = this.stats.reads + 1
                if (g < 0) return this.finish(StoreError.None, null)
                return this.readVersion(g, K.VersionRead)
            }
        // a commit, confirm or meta record; a confirm of a seq already confirmed and a
        // meta value already held change nothing
        if (kind === Op.Confirm) {
            if (idx.hasHorizon) if (!seqAfter(seq, idx.horizon)) return this.finish(StoreError.None, null)
        } else if (kind === Op.SetMeta) {
            const slot = this.qLba[i]
            if (this.metaLoc[slot] >= 0) if (this.metaVal[slot] === seq) return this.finish(StoreError.None, null)
        }
        this.ensureRoom(false, K.SmallRoom)
    }

    /** After a step between calls or an erase behind them: a call waiting for that erase goes
     * on; else, once the store is idle, a mount that waited, or the calls. */
    protected erasedBehind(): void {
        const k = this.waitK
        if (k !== 0)
            if (this.bgS < 0) {
                this.waitK = 0
                return this.go(k as K, StoreError.None)
            }
        if (this.busy) return
        const m = this.mountWaits
        if (m) {
            if (this.bgS >= 0) return
            this.mountWaits = null
            return this.mount(m)
        }
        this.startNext()
    }

    /** Ends the running call: pops it, calls its done, starts the next. */
    protected finish(err: StoreError, data: Buffer | null): void {
        storeInvariant(this.busy, "finish of a running call")
        storeInvariant(this.qCount > 0, "finish of a running call")
        const done = this.popCall()
        this.idleHold = false
        this.busy = false
        if (err === StoreError.Full) this.stats.full = this.stats.full + 1
        if (done) done(err, data)
        // calls that end at once (refused) and whose done queues the next must not nest
        // without bound: every few, the next starts from the run loop
        if (++this.depth < 8) this.startNext()
        else this.kickLater()
        this.depth--
    }

    // =====================================================================================
    // What BlockStore adds (StoreSpace and StoreMount have more)

    /** Runs the call at the head of the queue (entry i) if it is one of BlockStore's; false
     * when the store runs it. */
    protected takes?(kind: Op, i: number): boolean

    /** The version a read returns: on the remote, the newest applied (else the newest). */
    protected readable?(member: number, lba: number): number

    // =====================================================================================
    // Continuations

    /** Runs continuation k with the result of the step that finished (`data`: what a flash read
     * read; nothing for other steps). The store's one dispatcher: a call's own steps (this
     * file), room, appends, collection and version reads (storeSpace.ts), the mount's
     * (storeMount.ts), and BlockStore's (`toolStep`). */
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
        if (k >= K.MountStep) {
            if (k === K.IndexStep) return this.indexStep()
            return this.mountStep(err, data)
        }
        switch (k) {
            // ---- a call's own steps (this file)
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
                let block = this.qBuf[i]
                if (len !== this.B) block = block.slice(0, len)
                this.appendData(this.qMember[i], this.qLba[i], this.qSeq[i], block, len, this.qCrc[i], K.WriteAppended)
                return
            }
            case K.WriteAppended: {
                // the write is durable: index it
                const i = this.qHead
                this.idx.insert(this.apG)
                this.stats.writes = this.stats.writes + 1
                this.stats.userBytes = this.stats.userBytes + this.qLen[i]
                this.finish(StoreError.None, null)
                return
            }
            case K.SmallRoom: {
                // room for a commit, confirm or meta record: append it
                const i = this.qHead
                this.appendSlot(this.qLba[i], this.qSeq[i], K.SmallAppended)
                return
            }
            case K.SmallAppended: {
                // the small record is durable: apply it
                const i = this.qHead
                const kind = this.qKind[i]
                const seq = this.qSeq[i]
                const slot = this.qLba[i]
                this.moveLoc(this.metaLoc[slot], this.apLoc)
                this.metaLoc[slot] = this.apLoc
                this.metaVal[slot] = seq
                if (slot !== HORIZON) return this.finish(StoreError.None, null)
                this.idx.setHorizon(seq)
                this.noteSeq(seq)
                if (kind === Op.Commit) this.stats.commits = this.stats.commits + 1
                return this.go(K.PruneStep, StoreError.None)
            }
            case K.PruneStep:
                // after a commit or confirm: the index is updated in steps, then the call finishes
                if (this.idx.pruneStep(this.stepBytes >> 6)) return this.finish(StoreError.None, null)
                return this.later(K.PruneStep)
            case K.VersionRead:
                // a read call's version
                if (this.vDamaged) {
                    this.stats.corruptOnRead = this.stats.corruptOnRead + 1
                    return this.finish(StoreError.Corrupt, null)
                }
                this.readCrc = this.vCrc
                return this.finish(StoreError.None, data as Buffer)
            // ---- room, appends, collection and version reads (storeSpace.ts)
            case K.RoomLoop:
                return this.roomLoop(err)
            case K.Opened: {
                // a sector header is programmed: the sector is the append point
                const s = this.openS
                if (err !== StoreError.None) {
                    // the header may be half there: erase before reuse
                    this.setState(s, SecState.Dirty)
                    this.go(this.openK, err)
                    return
                }
                this.setState(s, SecState.Open)
                this.secHasA[s] = 1
                this.open = s
                this.go(this.openK, StoreError.None)
                return
            }
            case K.ApData: {
                // the data slot is programmed: now its entry (the entry's CRC covers both)
                const s = this.apS
                const e = this.apEntry
                if (err !== StoreError.None) return this.go(this.apK, err)
                this.apDamaged = false
                this.secEntries[s] = e + 1
                this.program(this.entryAddr(s, e), this.entryBuf, K.ApEntry)
                return
            }
            case K.ApEntry: {
                // the data record is complete
                const g = this.apS * this.spS + this.apSlot
                const e = this.entryBuf
                this.idx.setRecord(g, e[1], entryLba(e, 0), this.apSeq, this.apEntry, 0)
                this.noteSeq(this.apSeq)
                this.apG = g
                this.go(this.apK, StoreError.None)
                return
            }
            case K.VersionEntry: {
                // a version read: its entry, then its whole slot
                this.vEntry = data as Buffer
                const g = this.vG
                this.readAt(this.slotAddr(this.sectorOf(g), g % this.spS), this.B, K.VersionData)
                return
            }
            case K.VersionData: {
                // a version read: the data, checked against the entry's CRC (one flipped bit
                // mended) and the entry against the index. One that does not check keeps the
                // length its entry gives (a whole block when the entry changed), for collection
                // to copy as it is
                let d = data as Buffer
                const e = this.vEntry
                this.vEntry = EMPTY
                // the record checks (one flipped bit of its fields mended by their check, one of
                // its data or CRC by the CRC), or not (-1: its entry as it was read)
                let len = -1
                const h = mendFields(e, 0)
                if (h !== -2) {
                    const r = mendData(e, 0, d, 0, this.B)
                    if (r >= 0) {
                        len = r
                        if (h >= 0) len = r | MENDED
                    } else if (h >= 0) e[h >> 3] ^= 1 << (h & 7)
                }
                len = this.mended(len)
                // the entry must describe the slot as the index has it: else the record changed
                // since (damage, never a version to use)
                const g = this.vG
                const idx = this.idx
                let fields = entryLen(e, 0)
                if (e[0] !== EntryType.Data) fields = -1
                if (e[1] !== idx.memberOf(g)) fields = -1
                if (e[2] !== g % this.spS) fields = -1
                if (entryLba(e, 0) !== idx.lbaOf(g)) fields = -1
                if (getU32(e, 8) !== idx.seqOf(g)) fields = -1
                if (fields < 1) fields = -1
                if (fields > this.B) fields = -1
                if (fields < 0) len = -1
                this.vDamaged = len < 0
                if (len < 0) {
                    len = fields
                    if (fields < 0) len = this.B
                }
                if (len < d.length) d = d.slice(0, len)
                this.vCrc = crc32cUpdate(0, d, 0, len)
                return this.go(this.vK, StoreError.None, d)
            }
            case K.GcData: {
                // collection read a live version: find room to copy it. A damaged one is
                // copied as it is, with a CRC that does not match: dropping it would hide its
                // loss, and a fresh CRC would launder it
                if (this.vDamaged) {
                    this.apDamaged = true
                    this.stats.corruptCopied = this.stats.corruptCopied + 1
                }
                this.gcData = data as Buffer
                this.gcRoom(true, K.GcRoom)
                return
            }
            case K.GcRoom: {
                // room for the copy: append it
                const g = this.vG
                const d = this.gcData
                this.gcData = EMPTY
                this.appendData(this.idx.memberOf(g), this.idx.lbaOf(g), this.idx.seqOf(g), d, d.length, this.vCrc, K.GcAppended)
                return
            }
            case K.GcAppended: {
                // the copy is durable: it replaces the version in the index
                this.idx.replace(this.vG, this.apG)
                this.stats.gcRelocated = this.stats.gcRelocated + 1
                this.gcNext()
                return
            }
            case K.GcSmallRoom: {
                // room to copy a live small record of the victim
                const key = this.gcSmallKey
                this.appendSlot(key, this.metaVal[key], K.GcSmallAppended)
                return
            }
            case K.GcSmallAppended: {
                // the small record is copied
                const key = this.gcSmallKey
                this.moveLoc(this.metaLoc[key], this.apLoc)
                this.metaLoc[key] = this.apLoc
                this.gcNext()
                return
            }
            case K.GcErased: {
                // the victim is erased: stamp part A of its header (its erase count)
                const v = this.gcV
                if (err !== StoreError.None) {
                    this.setState(v, SecState.Dirty)
                    this.go(this.gcK, err)
                    return
                }
                this.erased(v)
                // erased, but free only once part A (the erase count) is on it
                this.setState(v, SecState.Dirty)
                encodeHeaderA(this.hdrBuf, 0, this.blockLog2, this.secErase[v])
                this.program(this.sectorAddr(v), this.hdrBuf.slice(0, 8), K.GcHeader)
                return
            }
            case K.GcHeader: {
                // part A is on the victim: it is free
                const v = this.gcV
                this.setState(v, SecState.Free)
                this.secHasA[v] = 1
                this.go(this.gcK, StoreError.None)
                return
            }
            case K.Verified: {
                // a piece of a sector the mount found erased by its header (verifyOne): all of it
                // erased, the next piece (stepBytes at most: no Buffer of a whole sector on a
                // board's heap meanwhile), and at the end the sector is free; else it is erased
                // before use
                if (err === StoreError.None) {
                    const d = data as Buffer
                    if (allErased(d, 0, d.length)) {
                        const at = this.verifyAt + d.length
                        this.verifyAt = at
                        if (at < this.S) return this.readAt(this.sectorAddr(this.openS) + at, Math.min(this.stepBytes, this.S - at), K.Verified)
                        this.setState(this.openS, SecState.Free)
                    } else {
                        this.setState(this.openS, SecState.Dirty)
                        this.stats.dirtySectors = this.stats.dirtySectors + 1
                    }
                    this.unverified--
                }
                return this.go(this.openK, err)
            }
            case K.IdleDone:
                // a step between calls has ended (failed: hold the next until a call has finished)
                this.busy = false
                this.idleGc = false
                if (err !== StoreError.None) this.idleHold = true
                return this.erasedBehind()
            default:
                if (this.toolStep) this.toolStep(k, err, data)
        }
    }
}

/** Upper bound of a u32 (a seq, a meta value). */
export const U32_LIMIT = 0x100000000

/** v is an integer in 0..limit-1. */
export function validInt(v: number, limit: number): boolean {
    if (!(v >= 0)) return false
    if (!(v < limit)) return false
    return Math.floor(v) === v
}
