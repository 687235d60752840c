import { getU32, putU32 } from "../firmware/codec/bytes"
import { WriteError } from "../firmware/pipeline/primary"
import { Prng } from "./prng"

/**
 * The apps on the primary boards and the history of what they wrote.
 *
 * Every write carries its board, lba, a per-board write counter and its dependency vector D:
 * for each board, the highest counter acknowledged there when this write was issued. The apps
 * behave as if they talked to each other (one app waits for another's acknowledgement before
 * writing), which is the case dependent-write consistency exists for.
 *
 * The data of a block names the write: bytes 0..3 "SMW1", 4 board, 5..7 zero, 8..11 lba,
 * 12..15 counter, then bytes drawn from (board, counter), so a block on either side can be
 * traced back to the write in the history.
 */
export class WriteRecord {
    seq = -1
    ackedAt = -1
    failed = false
    constructor(
        public board: number,
        public lba: number,
        public counter: number,
        public deps: number[],
        public issuedAt: number
    ) {}
}

export class WorkloadOptions {
    /** Writes per second per board (average). */
    rate = 50
    /** Writes a board may have outstanding (issued, not yet acknowledged). */
    queueDepth = 4
    lbaCount = 256
    blockSize = 256
    /** Share of writes that go to the hot spot, and the hot spot's share of the lbas. */
    hotShare = 0.5
    hotFraction = 0.05
    /** Every burstEveryMs, a burst of burstWrites writes arrives at once (0 = none). */
    burstEveryMs = 0
    burstWrites = 0
}

const MAGIC = 0x31574d53 // "SMW1"

export function encodeBlock(dst: Buffer, board: number, lba: number, counter: number): void {
    putU32(dst, 0, MAGIC)
    dst[4] = board
    dst[5] = 0
    dst[6] = 0
    dst[7] = 0
    putU32(dst, 8, lba)
    putU32(dst, 12, counter)
    let x = fillSeed(board, counter)
    for (let i = 16; i < dst.length; i++) {
        x = fillNext(x)
        dst[i] = x & 0xff
    }
}

/** The generator of a block's bytes after its 16-byte header. */
function fillSeed(board: number, counter: number): number {
    return (Math.imul(board + 1, 0x9e3779b1) ^ Math.imul(counter, 0x85ebca6b)) >>> 0
}

function fillNext(x: number): number {
    return (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6b) >>> 0
}

/** The write a block holds, or null when the block is not one (or is damaged). */
export class BlockId {
    constructor(
        public board: number,
        public lba: number,
        public counter: number
    ) {}
}

export function decodeBlock(b: Buffer): BlockId | null {
    // the block must be exactly what encodeBlock makes of its header's board, lba and counter
    if (b.length < 16 || getU32(b, 0) !== MAGIC || b[5] !== 0 || b[6] !== 0 || b[7] !== 0) return null
    const id = new BlockId(b[4], getU32(b, 8), getU32(b, 12))
    let x = fillSeed(id.board, id.counter)
    for (let i = 16; i < b.length; i++) {
        x = fillNext(x)
        if (b[i] !== (x & 0xff)) return null
    }
    return id
}

/** A board's app: the port it writes through. */
export interface AppPort {
    write(lba: number, data: Buffer, done: (err: number, seq: number) => void): void
    isUp(): boolean
}

export class History {
    /** writes[b][c-1] is write counter c of board b. */
    writes: WriteRecord[][] = []
    /** ackedHigh[b]: the highest counter acknowledged on board b. */
    ackedHigh: number[] = []
    /** ackedByLba[b][lba]: counters of the acknowledged writes to lba, in increasing order. */
    ackedByLba: number[][][] = []
    /** ackedTop[b][lba]: the last of ackedByLba[b][lba] (0 when none), in one flat row per board. */
    ackedTop: number[][] = []

    constructor(
        public boards: number,
        lbaCount: number
    ) {
        for (let b = 0; b < boards; b++) {
            this.writes.push([])
            this.ackedHigh.push(0)
            const rows: number[][] = []
            const top: number[] = []
            for (let l = 0; l < lbaCount; l++) {
                rows.push([])
                top.push(0)
            }
            this.ackedByLba.push(rows)
            this.ackedTop.push(top)
        }
    }

    /** lossAccepted[b][lba]: the newest write counter of that block acknowledged when the
     * operator accepted the loss of its damaged version (0: none). */
    lossAccepted: number[][] = []

    /** The operator accepted the loss of `board`'s damaged block `lba`: the writes to it
     * acknowledged so far may be missing from the remote (and the board's flash). */
    acceptLoss(board: number, lba: number): void {
        // a record whose damaged header names an lba the board does not have excuses nothing
        if (board >= this.boards || !(lba >= 0 && lba < this.ackedByLba[board].length)) return
        while (this.lossAccepted.length <= board) this.lossAccepted.push([])
        this.lossAccepted[board][lba] = this.newestAcked(board, lba, this.writes[board].length)
    }

    /** Write `counter` of `board` to `lba` may be missing: its loss was accepted, or the board
     * is out of the group (evicted) and the write came after what the remote held of it. */
    excused(board: number, lba: number, counter: number): boolean {
        if (this.isOut(board, counter)) return true
        const lost = this.lostTo[board]
        if (lost !== undefined) if (lost[lba] !== undefined) if (counter > this.lostFrom[board][lba] && counter <= lost[lba]) return true
        const row = this.lossAccepted[board]
        return row !== undefined && row[lba] !== undefined && counter <= row[lba]
    }

    /** lostFrom[b][lba] < counter ≤ lostTo[b][lba]: writes of board b lost with its flash. */
    lostFrom: number[][] = []
    lostTo: number[][] = []

    /** `board` was lost with its flash, and a new board restores from the remote, which shows
     * write shown[lba] of each lba: every write of the board issued so far after those is lost
     * (acknowledged or not). */
    lostWith(board: number, shown: number[]): void {
        while (this.lostTo.length <= board) {
            this.lostFrom.push([])
            this.lostTo.push([])
        }
        const issued = this.writes[board].length
        for (let lba = 0; lba < shown.length; lba++) {
            // an earlier loss of the same block stays excused
            const prev = this.lostFrom[board][lba]
            this.lostFrom[board][lba] = prev !== undefined && prev < shown[lba] ? prev : shown[lba]
            this.lostTo[board][lba] = issued
        }
    }

    /** Every write of `board` after `from` up to `to` is excused (each one's loss was
     * accepted): a write that depends on them may be visible without them. */
    lostAfter(board: number, from: number, to: number): boolean {
        for (let c = from + 1; c <= to; c++) {
            const w = this.get(board, c)
            if (!w || !this.excused(board, w.lba, c)) return false
        }
        return true
    }

    /** outFrom[b] > 0: board b is out of the group (evicted); its writes from that counter on
     * are not part of the group's promise until it is back (rejoin). */
    outFrom: number[] = []

    /** The group evicted `board`: the remote holds its writes up to `held` at most. */
    leave(board: number, held: number): void {
        if (!this.outFrom[board]) this.outFrom[board] = held + 1
    }

    /** `board` is back: the remote applied its whole image (a resync's commit). */
    rejoin(board: number): void {
        this.outFrom[board] = 0
    }

    isOut(board: number, counter: number): boolean {
        const o = this.outFrom[board]
        return o !== undefined && o > 0 && counter >= o
    }

    /** Newest acknowledged write counter of `board` to `lba` among counters ≤ upTo (0 if none). */
    newestAcked(board: number, lba: number, upTo: number): number {
        const list = this.ackedByLba[board][lba]
        let lo = 0
        let hi = list.length
        while (lo < hi) {
            const mid = (lo + hi) >> 1
            if (list[mid] <= upTo) lo = mid + 1
            else hi = mid
        }
        return lo > 0 ? list[lo - 1] : 0
    }

    issue(board: number, lba: number, now: number): WriteRecord {
        // a board out of the group: the others' writes do not depend on its writes since
        const deps: number[] = []
        for (let b = 0; b < this.boards; b++) deps.push(this.isOut(b, this.ackedHigh[b]) ? this.outFrom[b] - 1 : this.ackedHigh[b])
        const w = new WriteRecord(board, lba, this.writes[board].length + 1, deps, now)
        this.writes[board].push(w)
        return w
    }

    acked(w: WriteRecord, seq: number, now: number): void {
        w.seq = seq
        w.ackedAt = now
        if (w.counter > this.ackedHigh[w.board]) this.ackedHigh[w.board] = w.counter
        const list = this.ackedByLba[w.board][w.lba]
        const top = this.ackedTop[w.board]
        if (w.counter > top[w.lba]) top[w.lba] = w.counter
        let i = list.length
        list.push(w.counter)
        while (i > 0 && list[i - 1] > w.counter) {
            list[i] = list[i - 1]
            list[i - 1] = w.counter
            i--
        }
    }

    get(board: number, counter: number): WriteRecord | null {
        const list = this.writes[board]
        return counter >= 1 && counter <= list.length ? list[counter - 1] : null
    }

    totalAcked(): number {
        let n = 0
        for (let b = 0; b < this.boards; b++) for (let i = 0; i < this.writes[b].length; i++) if (this.writes[b][i].ackedAt >= 0) n++
        return n
    }
}

/**
 * Drives one board's app: writes at `rate` per second on average (uniform random gaps), at most
 * `queueDepth` outstanding, lbas from a hot spot or uniformly, plus periodic bursts.
 */
export class App {
    private outstanding = 0
    private running = false
    private backlog = 0
    /** The board said busy: the app writes again once one of its writes is answered. */
    private busy = false
    /** The app's one try again after a busy answer with none of its writes outstanding. */
    private retryArmed = false
    writesRejected = 0
    /** Writes the board refused as busy (not taken; the app wrote them again later). */
    writesBusy = 0

    constructor(
        private board: number,
        private opts: WorkloadOptions,
        private rng: Prng,
        private history: History,
        private port: AppPort,
        private schedule: (delayMs: number, fire: () => void) => void,
        private now: () => number
    ) {}

    start(): void {
        this.running = true
        this.next()
        if (this.opts.burstEveryMs > 0) this.burst()
    }

    stop(): void {
        this.running = false
    }

    private next(): void {
        if (!this.running) return
        // uniform gaps in whole microseconds, mean 1/rate: integer draws give the same run on
        // Node and in the DeviceScript VM, whose Math.log may differ in the last bit
        const gap = this.rng.int(Math.floor(2000000 / this.opts.rate)) / 1000
        const self = this
        this.schedule(gap, () => {
            self.backlog++
            self.issue()
            self.next()
        })
    }

    private burst(): void {
        const self = this
        this.schedule(this.opts.burstEveryMs, () => {
            if (!self.running) return
            self.backlog += self.opts.burstWrites
            self.issue()
            self.burst()
        })
    }

    private pickLba(): number {
        const o = this.opts
        const hot = Math.max(1, Math.floor(o.lbaCount * o.hotFraction))
        if (this.rng.chance(o.hotShare)) return this.rng.int(hot)
        return this.rng.int(o.lbaCount)
    }

    /** Issues waiting writes while the queue depth allows (a write that cannot be issued now
     * waits: the app does not drop work). */
    issue(): void {
        while (this.running && !this.busy && this.backlog > 0 && this.outstanding < this.opts.queueDepth && this.port.isUp()) {
            this.backlog--
            this.send(this.pickLba())
        }
    }

    private send(lba: number): void {
        const w = this.history.issue(this.board, lba, this.now())
        const data = Buffer.alloc(this.opts.blockSize)
        encodeBlock(data, this.board, lba, w.counter)
        this.outstanding++
        const self = this
        this.port.write(lba, data, (err, seq) => {
            self.outstanding--
            if (err === WriteError.Busy) {
                // not taken: the write goes again once an earlier one is answered (or shortly,
                // when none is outstanding)
                w.failed = true
                self.writesBusy++
                self.backlog++
                self.busy = true
                // one such try at a time: a busy answer after each answer of a write would
                // otherwise start another, and an app facing a full queue for long would write
                // thousands of times a second (the run's history growing without bound)
                if (self.outstanding === 0)
                    if (!self.retryArmed) {
                        self.retryArmed = true
                        self.schedule(1, () => {
                            self.retryArmed = false
                            self.busy = false
                            self.issue()
                        })
                    }
                return
            }
            self.busy = false
            if (err === 0) self.history.acked(w, seq, self.now())
            else {
                w.failed = true
                self.writesRejected++
            }
            self.issue()
        })
    }

    /** Writes `lba` now, past the queue depth (a test's chosen write, judged like the rest). */
    writeNow(lba: number): void {
        if (this.port.isUp()) this.send(lba)
    }

    /** The board lost power: outstanding writes are never answered. */
    powerLost(): void {
        this.outstanding = 0
    }
}
