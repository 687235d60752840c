import { getU32, putU32 } from "../codec/bytes"
import { crc32cUpdate } from "../codec/crc32c"
import { seqAfter } from "../seq"
import { Msg } from "../protocol/messages"
import { PipelineStore } from "../protocol/ports"
import type { PrimaryBoard } from "./primary"
import { SuspendReason } from "./primary"

/** Lbas one VERIFY asks for. */
export const VERIFY_SPAN = 64
/** VERIFY: type, from lba u32, count u8. */
export const VERIFY_LEN = 6
/** The remote's answer per lba (VERIFIED): state u8, then the block's CRC-32C u32. */
export const enum Held {
    /** The remote holds no block of that lba. */
    None = 0,
    Block = 1,
    /** Its block reads back damaged. */
    Damaged = 2,
}

/** A newest seq recorded at the request that is not compared (data in flight, or given up). */
const SKIP = -2

/**
 * Online verify (docs/FORMAT.md, "Verify and repair"): compares this member's image with the
 * remote's applied image, VERIFY_SPAN lbas at a time, over the link. For each span the member
 * notes the seq of each lba's newest version and sends VERIFY; the remote answers VERIFIED with
 * what it holds of each (nothing, a block and its CRC-32C, or damage). An lba is compared only
 * when its newest version is one the remote has applied (no seq after the applied one the
 * member last heard) and is still the newest when the answer comes: data in flight, a write
 * since the request and a block whose loss was accepted are skipped, so a pass over a group
 * that replicates never reports a false mismatch. Mismatched lbas are kept in a bitmap; `repair`
 * on the primary resyncs just those. Fixed memory: the bitmap and the span's buffers, sized at
 * start. A primary has one when its boot attaches it (attachVerifier, below): hosts and
 * the simulator always, a board's image only when its configuration asks for periodic verify
 * (bin/gen-board-config.mjs), so that a board that never verifies carries none of this code.
 * @devsWhenUsed
 */
export class Verifier {
    running = false
    /** Passes completed. */
    passes = 0
    /** Of the current or last pass: lbas compared, found different, not compared. */
    checked = 0
    mismatched = 0
    skipped = 0
    /** Lbas found different over every pass, and of those, blocks the remote said read back
     * damaged (damage it reports, which repair mends too). */
    found = 0
    foundDamaged = 0
    /** A VERIFY is out; the next waits for its answer (a link that went down asks the span
     * again: false). */
    waiting = false
    /** The first lba of the span asked for (verifyBoard starts a pass at 0). */
    from = 0
    private n = 0
    private at = 0
    private asked: number[] = []
    /** A bit per lba found different in the pass (verifyBoard clears it). */
    mismatch: Buffer
    private answer: Buffer
    private req: Buffer
    private onRead: (err: number, data: Buffer | null) => void
    /** The primary whose VERIFIED is being compared. */
    private board: PrimaryBoard | null = null

    /** `lost`: the primary's bitmap of blocks given up (not compared). */
    constructor(
        private member: number,
        private lbaCount: number,
        private store: PipelineStore,
        private lost: Buffer
    ) {
        for (let i = 0; i < VERIFY_SPAN; i++) this.asked.push(SKIP)
        this.mismatch = Buffer.alloc((lbaCount + 7) >> 3)
        this.answer = Buffer.alloc(VERIFY_LEN + 5 * VERIFY_SPAN)
        this.req = Buffer.alloc(VERIFY_LEN)
        const self = this
        // a block read for the comparison: a write since, and a block the member cannot read
        // (not the remote's fault), are not compared
        this.onRead = (err, data) => {
            const me = self
            const i = me.at
            const o = VERIFY_LEN + 5 * i
            if (err !== 0 || !data || me.store.newestSeq(me.member, me.from + i) !== me.asked[i]) {
                me.skipped = me.skipped + 1
                me.at = me.at + 1
            } else me.result(me.answer[o] === Held.Block && getU32(me.answer, o + 1) === crc32cUpdate(0, data, 0, data.length))
            me.next()
        }
    }

    /** The lba was found different in the last pass. */
    differs(lba: number): boolean {
        return (this.mismatch[lba >> 3] & (1 << (lba & 7))) !== 0
    }

    /** Hands the next VERIFY due to `board`'s channel, if it takes it: for each lba of the span,
     * the seq of its newest version, unless that is after the remote's applied seq as the board
     * last heard it (in flight) or the block was given up (SKIP). */
    offer(board: PrimaryBoard): void {
        if (!this.running) return
        if (this.waiting) return
        if (this.from >= this.lbaCount) {
            this.running = false
            this.passes = this.passes + 1
            return
        }
        const applied = board.remoteApplied
        let n = VERIFY_SPAN
        if (this.lbaCount - this.from < n) n = this.lbaCount - this.from
        for (let i = 0; i < n; i++) {
            const lba = this.from + i
            let s = this.store.newestSeq(this.member, lba)
            if (s >= 0) if (seqAfter(s, applied)) s = SKIP
            if ((this.lost[lba >> 3] & (1 << (lba & 7))) !== 0) s = SKIP
            this.asked[i] = s
        }
        this.n = n
        const r = this.req
        r[0] = Msg.Verify
        putU32(r, 1, this.from)
        r[5] = n
        if (board.channel.send(r)) this.waiting = true
    }

    /** VERIFIED from the remote; `board` pumps once the span is compared. */
    onVerified(msg: Buffer, len: number, board: PrimaryBoard): void {
        if (!this.waiting) return
        if (len !== VERIFY_LEN + 5 * this.n) return
        if (getU32(msg, 1) !== this.from) return
        if (msg[5] !== this.n) return
        this.answer.set(msg.slice(0, len), 0)
        this.board = board
        this.at = 0
        this.next()
    }

    /** Compares the span's lbas one by one (a read each). */
    private next(): void {
        while (this.at < this.n) {
            const i = this.at
            const s = this.asked[i]
            if (s === SKIP || this.store.newestSeq(this.member, this.from + i) !== s) {
                this.skipped = this.skipped + 1
                this.at = this.at + 1
                continue
            }
            if (s < 0) {
                // the member holds no block: neither must the remote
                this.result(this.answer[VERIFY_LEN + 5 * i] === Held.None)
                continue
            }
            this.store.read(this.member, this.from + i, this.onRead)
            return
        }
        this.from += this.n
        this.waiting = false
        if (this.board) this.board.pump()
    }

    private result(same: boolean): void {
        const lba = this.from + this.at
        this.checked = this.checked + 1
        if (!same) {
            this.mismatched = this.mismatched + 1
            this.found = this.found + 1
            if (this.answer[VERIFY_LEN + 5 * this.at] === Held.Damaged) this.foundDamaged = this.foundDamaged + 1
            this.mismatch[lba >> 3] |= 1 << (lba & 7)
        }
        this.at = this.at + 1
    }
}

/**
 * Gives `board` online verify: `v` answers the console's `verify` and `repair`, and with
 * group.verifyEveryMs set, a pass starts that often (one still running is left to finish).
 * Hosts and the simulator attach one to every primary; a board image only when its
 * configuration verifies periodically, so the code stays out of the image otherwise.
 */
export function attachVerifier(board: PrimaryBoard, v: Verifier): void {
    board.verifier = v
    const every = board.opts.verifyEveryMs
    if (!every) return
    // (until another verifier replaces this one)
    const tick = () => {
        if (board.verifier !== v) return
        verifyBoard(board)
        board.clock.setTimer(every, tick)
    }
    board.clock.setTimer(every, tick)
}

/** Starts a verify pass on `board` (false when one runs, or the board has no verifier); the
 * last pass's mismatches are forgotten. */
export function verifyBoard(board: PrimaryBoard): boolean {
    const v = board.verifier
    if (!v) return false
    if (v.running) return false
    v.running = true
    v.from = 0
    v.checked = v.mismatched = v.skipped = 0
    const m = v.mismatch
    for (let i = 0; i < m.length; i++) m[i] = 0
    board.pump()
    return true
}

/**
 * Repairs what the last verify found different: the board suspends and resyncs its current
 * data of those blocks with its tracked writes, in one consistent commit on the remote.
 * False when the last pass found nothing (or one runs).
 */
export function repairBoard(board: PrimaryBoard): boolean {
    const v = board.verifier
    if (!v || v.running || v.mismatched === 0) return false
    if (!board.suspended) board.suspend(SuspendReason.Repair)
    return true
}
