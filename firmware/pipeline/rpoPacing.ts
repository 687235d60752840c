import type { PrimaryBoard } from "./primary"
import { Resync } from "./primaryTypes"
import { seqAtOrBefore } from "../seq"
import { ackNow, PendingWrite } from "./primaryAck"

/**
 * Bounded-RPO pacing's estimate (group.rpoTargetMs, docs/CONFIG.md): the rate at which the
 * remote confirms this board's data, and whether the lag would pass the target. A board has one
 * only when its configuration sets a target (attachPacing), so the code stays out of a board
 * image that does not pace.
 * @devsWhenUsed
 */
export class RpoPacing {
    /** Bytes per ms the remote has been confirming (0: not measured yet). */
    private rate = 0
    private bytes = 0
    private since = -1
    /** How often held acknowledgements are looked at, ms. */
    readonly checkMs: number

    constructor(
        readonly targetMs: number,
        readonly maxHoldMs: number
    ) {
        this.checkMs = 5
        if (targetMs >= 100) this.checkMs = targetMs / 20
    }

    /** The remote confirmed `board`'s seqs up to `applied`: the data of the records the board
     * drops for them (all but its capture seq's) counts, at the board's clock; the rate is
     * measured over a quarter of a second at least, and smoothed. */
    confirmedUpTo(board: PrimaryBoard, applied: number): void {
        for (let i = 0; i + 1 < board.seqs; i++) {
            if (!seqAtOrBefore(board.seqOf[i], applied)) break
            this.bytes += board.portionsOf[i] * board.opts.blockSize
        }
        const now = board.clock.millis()
        if (this.since < 0) this.since = now
        const dt = now - this.since
        if (dt < 250) return
        const r = this.bytes / dt
        if (this.rate > 0) this.rate = 0.7 * this.rate + 0.3 * r
        else this.rate = r
        this.bytes = 0
        this.since = now
    }

    /** While pacing holds `board`'s acknowledgements: the held writes that waited the longest
     * hold go anyway, oldest first (none when there is no longest hold). */
    releaseOverdue(board: PrimaryBoard): void {
        if (this.maxHoldMs <= 0) return
        const now = board.clock.millis()
        const q = board.paced
        while (q.length > 0) {
            if (now - q[0].readyAt < this.maxHoldMs) return
            ackNow(board, q.shift() as PendingWrite)
        }
    }

    /**
     * Pacing holds `board`'s acknowledgements while the remote would apply them, or the oldest
     * write it has not applied, later than the target from now: the lag so far plus the time to
     * drain every byte not yet confirmed at the rate the remote has been confirming them.
     */
    holdsAcks(board: PrimaryBoard): boolean {
        // during a full resync the remote has no image to bound the lag of: no pacing
        if (board.resync !== Resync.Off) return false
        // the bytes the remote has not confirmed, and how long ago the oldest write of them was
        // stamped (the lag)
        let bytes = 0
        let lag = -1
        for (let i = 0; i < board.seqs; i++) {
            bytes += board.portionsOf[i] * board.opts.blockSize
            if (lag < 0) if (board.firstWriteOf[i] >= 0) lag = board.clock.millis() - board.firstWriteOf[i]
        }
        if (lag < 0) lag = 0
        // the lag plus the time to drain those bytes at the rate so far, against the target
        let drain = 0
        if (this.rate > 0) drain = bytes / this.rate
        return lag + drain > this.targetMs
    }
}

/** Gives `board` bounded-RPO pacing when its options set a target. */
export function attachPacing(board: PrimaryBoard): void {
    const t = board.opts.rpoTargetMs
    let hold = board.opts.rpoMaxHoldMs
    if (!hold) hold = 0
    if (t) if (t > 0) board.rpo = new RpoPacing(t, hold)
}
