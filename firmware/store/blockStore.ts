import { Clock } from "../../hal/clock"
import { BlockFlash, Flash, FLASH_BLOCK_SIZE, FlashError } from "../../hal/flash"
import { getU32 } from "../codec/bytes"
import { seqAfter } from "../seq"
import { EntryType } from "./format"
import { PrimaryBlockStore, U32_LIMIT, validInt } from "./primaryBlockStore"
import { HORIZON, K, Op, SecState } from "./storeCore"
import { StoreError, StoreOptions, StoreRole, StoreStats } from "./types"
import { VersionIndex } from "./versionIndex"

// the store's classes are imported from here: the primary's store, PrimaryBlockStore, is in
// primaryBlockStore.ts; this file adds the remote role, format and collect
export { PrimaryBlockStore } from "./primaryBlockStore"

/**
 * The block store for both roles (see PrimaryBlockStore for the contract): the simulator, the
 * remote board and the tests use it. On the remote it adds commit, discardAbove and appliedSeq,
 * and reads give the newest applied version; in both roles, format and collect.
 * @devsWhenUsed
 */
export class BlockStore extends PrimaryBlockStore {
    /** The remote role's discard records; null on a primary. */
    private remote: RemoteRole | null
    private formatStep!: ((err: StoreError) => void) | null
    /** Sectors in one block erase of the flash (0: it has none, or a primary's store). */
    private perBlock = 0

    constructor(
        private readonly bflash: Flash,
        clock: Clock,
        opts: StoreOptions
    ) {
        super(bflash, clock, opts, true)
        this.remote = opts.role === StoreRole.Remote ? new RemoteRole() : null
        // block erases on the remote, which stages every member's writes: where the flash is
        // at its maximum erase times the remote's catch-up after an outage is bound by its
        // erases (docs/FORMAT-flash.md, "Block erases (the remote)"). A primary's store erases
        // behind its calls, and a board's image has no room for it: the simulator's primaries
        // run as boards do.
        if (this.remote) if (bflash.eraseBlock) this.perBlock = FLASH_BLOCK_SIZE / this.S
        // the options StoreCore leaves (a board's primary store has them from a configuration
        // checked when its image was built, bin/gen-board-config.mjs): a bad one is a Config error
        if (this.blockLog2 < 4 || this.reserve < 2 || this.first < 0 || this.qDepth < 1 || this.stepBytes < 64) this.configError = StoreError.Config
    }

    /**
     * Sector s with the rest of its block, in one erase, when every other sector of the block
     * is in this store and holds nothing (used with nothing live, or dirty): they are erased
     * anyway before use, so the block costs no erase more than they would, in one operation
     * (150 ms typical, 2 s at most) against theirs one by one (16 × 45 ms, 16 × 400 ms at
     * most). Meanwhile they are Erasing: neither collected, opened nor counted free.
     */
    protected override eraseBlockOf(s: number, done: (err: FlashError) => void): boolean {
        const per = this.perBlock
        if (per === 0) return false
        const b = s - ((this.first + s) % per)
        if (!this.holdsNothing(b, s)) return false
        this.stats.blockErases = this.stats.blockErases + 1
        for (let x = b; x < b + per; x++) if (x !== s) this.setState(x, SecState.Erasing)
        const self = this
        ;(this.bflash as BlockFlash).eraseBlock(this.sectorAddr(b), (err) => {
            // the rest of the block first (free, or dirty after a failure), then s as a sector
            // erase's end takes it
            for (let x = b; x < b + per; x++)
                if (x !== s) {
                    if (err === FlashError.None) self.erased(x)
                    self.setState(x, err === FlashError.None ? SecState.Free : SecState.Dirty)
                }
            done(err)
        })
        return true
    }

    /** Every sector of the block from sector b but `except` is in this store and holds
     * nothing: used with nothing live, or dirty (and none is being erased). */
    private holdsNothing(b: number, except: number): boolean {
        const per = this.perBlock
        if (b < 0 || b + per > this.n) return false
        for (let x = b; x < b + per; x++) {
            if (x === except) continue
            if (x === this.bgS) return false
            const st = this.secState[x]
            if (st === SecState.Used) {
                if (this.idx.sectorLive[x] !== 0 || this.secSmall[x] !== 0) return false
            } else if (st !== SecState.Dirty) return false
        }
        return true
    }

    /** Collection's victim, when a whole block holds nothing: its first sector. Such a sector
     * has the most reclaimable bytes, as any sector holding nothing has: taking it first (over
     * the ones whose block holds something) makes the erase a block's. */
    protected override blockVictim(): number {
        const per = this.perBlock
        if (per === 0) return -1
        for (let b = (per - (this.first % per)) % per; b + per <= this.n; b += per) if (this.holdsNothing(b, -1)) return b
        return -1
    }

    /** The data of the writes waiting in the call queue behind the running call, with their
     * lengths (the simulator's ram fault class flips bits in them). */
    queuedData(): Array<[Buffer, number]> {
        const out: Array<[Buffer, number]> = []
        for (let k = 1; k < this.qCount; k++) {
            const i = (this.qHead + k) % this.qDepth
            if (this.qLen[i] > 0) out.push([this.qBuf[i], this.qLen[i]])
        }
        return out
    }

    /** Bytes per block. (Here, not in PrimaryBlockStore: the options' field of the same name,
     * read through interfaces, would compile the method into a primary's image, which never
     * calls it.) */
    blockSize(): number {
        return this.B
    }

    /** Remote: one commit record makes every staged version with seq ≤ `seq` visible at once.
     * done(SeqTooOld) for a seq below the applied one; the applied one again is a no-op. */
    commit(seq: number, done: (err: StoreError) => void): void {
        this.seqRecord(Op.Commit, seq, done)
    }

    /** Queues a commit or discard record after checking the seq and the role (as confirm). */
    private seqRecord(op: Op, seq: number, done: (err: StoreError) => void): void {
        // a seq that is no u32 is a bad argument, in either role
        if (this.role !== StoreRole.Remote) if (validInt(seq, U32_LIMIT)) return this.refuse(done, StoreError.WrongRole)
        this.checked(op, 0, HORIZON, seq, null, done)
    }

    /** Remote: a staged version of (member, lba, seq) is held (RAM only: a look in the index;
     * false before the store is mounted). */
    hasStaged(member: number, lba: number, seq: number): boolean {
        if (!this.mounted) return false
        if (this.idx.hasHorizon) if (!seqAfter(seq, this.idx.horizon)) return false
        return this.idx.version(member, lba, seq) >= 0
    }

    /** Remote: the applied seq (0 before the first commit). */
    appliedSeq(): number {
        return this.confirmedSeq()
    }

    /** Remote: some seq was applied (a COMMIT is on flash); false: appliedSeq's 0 is none. */
    hasApplied(): boolean {
        return this.idx.hasHorizon
    }

    /** Remote: drops every staged version with seq above `seq` (for a resync), durably.
     * done(SeqTooOld) if `seq` is below the applied seq. */
    discardAbove(seq: number, done: (err: StoreError) => void): void {
        this.seqRecord(Op.Discard, seq, done)
    }

    /** Remote: the lowest lba at or above `from` of `member` whose applied version is newer
     * than `base` (any applied version when `any`), -1 when none: a restore's pass looks for
     * what to send next (RAM only: a look through the index). */
    nextApplied(member: number, from: number, base: number, any: boolean): number {
        const idx = this.idx
        let best = -1
        for (let g = 0; g < idx.slots; g++) {
            if (!idx.isLive(g) || idx.memberOf(g) !== member) continue
            const lba = idx.lbaOf(g)
            if (lba < from || (best >= 0 && lba >= best)) continue
            const v = idx.visible(member, lba)
            if (v < 0) continue
            if (any || seqAfter(idx.seqOf(v), base)) best = lba
        }
        return best
    }

    /** Remote: forgets the staged versions of `member` with seqs at or before `upTo`, in RAM
     * only (after a mount they are back, and superseded at the commit by the member's copy):
     * their room is garbage for the collector. */
    dropStaged(member: number, upTo: number, done: (err: StoreError) => void): void {
        this.enqueue(Op.DropStaged, member, 0, upTo, null, done)
    }

    /** Erases every sector of the store, then mounts the empty store. */
    format(done: (err: StoreError) => void): void {
        if (this.configError !== StoreError.None || this.busy) {
            const err = this.configError !== StoreError.None ? this.configError : StoreError.NotMounted
            this.clock.setTimer(0, () => done(err))
            return
        }
        // the calls still queued fail (NotMounted), as at a mount
        while (this.qCount > 0) this.answerLater(this.popCall(), StoreError.NotMounted, null)
        this.qHead = 0
        this.resetState()
        this.busy = true
        this.mS = 0
        // erases sector mS, the next, and so on, then mounts; a closure of format's own, so that
        // an image that never formats (the board's) does not compile it
        const self = this
        this.formatStep = (err) => {
            if (err !== StoreError.None || self.mS + 1 >= self.n) {
                self.busy = false
                self.formatStep = null
                if (err !== StoreError.None) done(err)
                else self.mount((e) => done(e))
                return
            }
            self.mS++
            self.eraseSector(self.mS, K.Then)
        }
        this.eraseSector(0, K.Then)
    }

    /** Runs one garbage collection pass on the best victim sector (if any has garbage). */
    collect(done: (err: StoreError) => void): void {
        this.enqueue(Op.Collect, 0, 0, 0, null, done)
    }

    protected override takes(kind: Op, i: number): boolean {
        if (kind === Op.Collect) {
            const v = this.pickVictim(false)
            if (v < 0) this.finish(StoreError.None, null)
            else this.gcNext(v, K.Collected)
            return true
        }
        const r = this.remote
        if (r === null) {
            // a primary's dropStaged has nothing to drop
            if (kind !== Op.DropStaged) return false
            this.finish(StoreError.None, null)
            return true
        }
        // the remote's checks of its writes, commits and discards, and its calls in RAM only
        const e = r.precheck(kind, this.qSeq[i], this.qMember[i], this.idx, this.stats)
        if (e >= 0) {
            this.finish(e, null)
            return true
        }
        if (kind !== Op.Discard) return false
        this.ensureRoom(false, K.DiscardRoom)
        return true
    }

    protected override readable(member: number, lba: number): number {
        return this.remote !== null ? this.idx.visible(member, lba) : this.idx.newest(member, lba)
    }

    protected override toolStep(k: K, err: StoreError, _data?: Buffer | null): void {
        const r = this.remote as RemoteRole
        switch (k) {
            case K.DiscardRoom: {
                // room for a discard record: append it; a discard names its own position, and
                // versions written before it are dropped
                const s = this.open
                this.appendSmall(EntryType.Discard, this.secEntries[s], this.secSeq[s], this.qSeq[this.qHead], K.DiscardAppended)
                return
            }
            case K.DiscardAppended:
                // the discard record is durable: drop what it discards
                r.recorded(this.qSeq[this.qHead], this.apLoc, this.secSeq, this.secSmall, this.stats)
                return this.discardPrune()
            case K.DiscardPrune:
                return this.discardPrune()
            case K.GcDiscardRoom: {
                // room to copy a live discard record of the victim
                const d = this.gcSmallKey
                this.appendSmall(EntryType.Discard, r.dPosEntry[d], r.dPosSeq[d], r.dSeq[d], K.GcDiscardAppended)
                return
            }
            case K.GcDiscardAppended: {
                // the discard record is copied
                const d = this.gcSmallKey
                this.moveLoc(r.dLoc[d], this.apLoc)
                r.dLoc[d] = this.apLoc
                this.gcNext()
                return
            }
            case K.Collected:
                return this.finish(err, null)
            case K.Then:
                if (this.formatStep !== null) this.formatStep(err)
                return
        }
    }

    /** After a discard record: drops the staged versions above its seq in steps, then finishes. */
    private discardPrune(): void {
        if ((this.remote as RemoteRole).discardStep(this.idx, this.qSeq[this.qHead], this.stepBytes >> 6)) this.finish(StoreError.None, null)
        else this.later(K.DiscardPrune)
    }

    protected override copyMore(v: number): boolean {
        if (this.remote === null) return false
        const i = this.remote.nextToCopy(v, this.n, this.secState, this.secSeq, this.secSmall)
        if (i < 0) return false
        this.gcSmallKey = i
        this.gcRoom(false, K.GcDiscardRoom)
        return true
    }

    protected override foundMore(type: number, off: number, loc: number, pos: number): boolean {
        if (type !== EntryType.Discard) return false
        if (this.remote === null) return false
        const buf = this.mBuf
        this.report.records++
        const prev = this.remote.found(getU32(buf, off + 8), getU32(buf, off + 2), buf[off + 1], loc, pos)
        if (prev >= -1) this.moveLoc(prev, loc)
        return true
    }

    protected override voided(g: number): boolean {
        if (this.remote === null) return false
        if (!this.remote.voids(this.idx.seqOf(g), this.idx.position(g))) return false
        this.idx.dropCandidate(g)
        this.report.voided++
        return true
    }

    protected override resetMore(): void {
        if (this.remote !== null) this.remote.reset()
    }
}

/**
 * What only the remote role of the store keeps: its live discard records (a discard record
 * voids every staged version with a seq above its own that was written before it, at log
 * position (sector seq, entry)), and the visible versions reads return. The store owns one
 * when its role is Remote; PrimaryBlockStore only calls it through a field that is null on a
 * primary, so a primary's image never compiles it.
 * @devsWhenUsed
 */
export class RemoteRole {
    dSeq: number[] = []
    dPosSeq: number[] = []
    dPosEntry: number[] = []
    /** Where each live discard record is: sector × 256 + entry. */
    dLoc: number[] = []
    /** Mount: the log position of the copy found of each. */
    private mPos: number[] = []

    reset(): void {
        this.dSeq = []
        this.dPosSeq = []
        this.dPosEntry = []
        this.dLoc = []
        this.mPos = []
    }

    /** Mount found a discard record at loc (log position pos). Returns where the live copy of
     * the record was before (-1: nowhere, a new record), or -2 when the live copy stays. */
    found(seq: number, pSeq: number, pEntry: number, loc: number, pos: number): number {
        for (let j = 0; j < this.dSeq.length; j++) {
            if (this.dSeq[j] === seq)
                if (this.dPosSeq[j] === pSeq)
                    if (this.dPosEntry[j] === pEntry) {
                        // another copy (left behind by a relocation): the latest is the live one
                        if (pos <= this.mPos[j]) return -2
                        const prev = this.dLoc[j]
                        this.mPos[j] = pos
                        this.dLoc[j] = loc
                        return prev
                    }
        }
        this.dSeq.push(seq)
        this.dPosSeq.push(pSeq)
        this.dPosEntry.push(pEntry)
        this.dLoc.push(loc)
        this.mPos.push(pos)
        return -1
    }

    /** A staged version (its seq, its log position) written before a discard record, with a
     * seq above the discard's. */
    voids(seq: number, pos: number): boolean {
        for (let j = 0; j < this.dSeq.length; j++) {
            if (seqAfter(seq, this.dSeq[j])) if (pos < this.dPosSeq[j] * 256 + this.dPosEntry[j]) return true
        }
        return false
    }

    /**
     * Before the store runs a queued call of the remote role: StoreError.None when the call is
     * done (a commit of the applied seq, a discard with nothing staged above its seq, a
     * dropStaged, which changes RAM only), SeqTooOld for a write, commit or discard below the
     * applied seq, -1 when the store runs the call.
     */
    precheck(kind: number, seq: number, member: number, idx: VersionIndex, stats: StoreStats): number {
        const h = idx.horizon
        const hasH = idx.hasHorizon
        if (kind === Op.DropStaged) {
            // forgets `member`'s staged versions with seqs at or before `seq` (RAM only)
            stats.stagedDropped += idx.dropStaged(member, seq)
            return StoreError.None
        }
        const commit = kind === Op.Commit
        if (commit) if (hasH) if (seq === h) return StoreError.None
        // the remote stages above its applied seq only
        if (kind === Op.Write ? hasH && !seqAfter(seq, h) : (commit || kind === Op.Discard) && hasH && (commit ? !seqAfter(seq, h) : seqAfter(h, seq))) {
            stats.refused++
            return StoreError.SeqTooOld
        }
        if (kind !== Op.Discard) return -1
        // nothing staged above seq: nothing to record
        const seqs = idx.seqsAbove()
        return seqs.length === 0 || !seqAfter(seqs[seqs.length - 1], seq) ? StoreError.None : -1
    }

    /** A discard record is durable at loc. */
    recorded(seq: number, loc: number, secSeq: number[], secSmall: Buffer, stats: StoreStats): void {
        this.dSeq.push(seq)
        this.dPosSeq.push(secSeq[Math.floor(loc / 256)])
        this.dPosEntry.push(loc % 256)
        this.dLoc.push(loc)
        secSmall[Math.floor(loc / 256)]++
        stats.discards++
    }

    /** Drops the staged versions above seq, a budget at a time; false while there is more. */
    discardStep(idx: VersionIndex, seq: number, budget: number): boolean {
        return idx.discardStep(seq, budget)
    }

    /**
     * Collection of sector v: the next discard record in it that must be copied elsewhere, or
     * -1. A record must stay while a sector that may hold a version it dropped exists; one that
     * need not stay goes with the victim (dropped here, and from v's count of small records).
     */
    nextToCopy(v: number, n: number, secState: Buffer, secSeq: number[], secSmall: Buffer): number {
        for (let i = 0; i < this.dLoc.length; i++) {
            if (Math.floor(this.dLoc[i] / 256) !== v) continue
            for (let s = 0; s < n; s++) {
                if (s === v) continue
                const st = secState[s]
                // (a sector being erased may hold anything until its erase has ended: a power cut
                // can bring its records back)
                if (st === SecState.Dirty || st === SecState.Erasing) return i
                if (st === SecState.Used || st === SecState.Open) if (secSeq[s] <= this.dPosSeq[i]) return i
            }
            // no sector that could hold what it dropped is left: the record goes with the victim
            secSmall[v]--
            const last = this.dLoc.length - 1
            this.dSeq[i] = this.dSeq[last]
            this.dPosSeq[i] = this.dPosSeq[last]
            this.dPosEntry[i] = this.dPosEntry[last]
            this.dLoc[i] = this.dLoc[last]
            this.dSeq.pop()
            this.dPosSeq.pop()
            this.dPosEntry.pop()
            this.dLoc.pop()
            i--
        }
        return -1
    }
}
