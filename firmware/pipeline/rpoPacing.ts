import type { PrimaryBoard } from "./primary"

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

    constructor(
        readonly targetMs: number,
        readonly maxHoldMs: number
    ) {}

    /** The remote confirmed `bytes` more of this board's data at `now`. */
    confirmed(bytes: number, now: number): void {
        this.bytes += bytes
        if (this.since < 0) this.since = now
        const dt = now - this.since
        if (dt < 250) return
        const r = this.bytes / dt
        if (this.rate > 0) this.rate = 0.7 * this.rate + 0.3 * r
        else this.rate = r
        this.bytes = 0
        this.since = now
    }

    /** The remote would apply the oldest write it has not (`lagMs` old) later than the target
     * from now: the lag plus the time to drain `unconfirmed` bytes at the rate so far. */
    holds(lagMs: number, unconfirmed: number): boolean {
        let drain = 0
        if (this.rate > 0) drain = unconfirmed / this.rate
        return lagMs + drain > this.targetMs
    }
}

/** Gives `board` bounded-RPO pacing when its options set a target. */
export function attachPacing(board: PrimaryBoard): void {
    const t = board.opts.rpoTargetMs
    if (t) if (t > 0) board.rpo = new RpoPacing(t, board.opts.rpoMaxHoldMs ? board.opts.rpoMaxHoldMs : 0)
}
