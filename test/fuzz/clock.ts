import { Clock, Timer } from "../../hal/clock"

class MiniTimer implements Timer {
    cancelled = false
    constructor(
        public at: number,
        public order: number,
        public fire: () => void
    ) {}
}

/** A bare virtual clock for the fuzz targets: timers in due order, nothing else. */
export class MiniClock implements Clock {
    private now = 0
    private order = 0
    private timers: MiniTimer[] = []
    /** Timers fired in all. */
    fired = 0

    millis(): number {
        return this.now
    }

    setTimer(delayMs: number, fire: () => void): Timer {
        const t = new MiniTimer(this.now + (delayMs > 0 ? delayMs : 0), this.order++, fire)
        // keep the list sorted by (at, order): most timers go at the end
        let i = this.timers.length
        while (i > 0 && this.timers[i - 1].at > t.at) i--
        this.timers.splice(i, 0, t)
        return t
    }

    clearTimer(timer: Timer): void {
        timer.cancelled = true
    }

    /** Fires timers due up to `until` (at most `limit` of them); returns false if the limit
     * was reached with timers still due. */
    run(until: number, limit = 1_000_000): boolean {
        let n = 0
        while (this.timers.length > 0 && this.timers[0].at <= until) {
            if (n++ >= limit) return false
            const t = this.timers.shift()!
            if (t.cancelled) continue
            if (t.at > this.now) this.now = t.at
            this.fired++
            t.fire()
        }
        if (until > this.now) this.now = until
        return true
    }

    /** Fires the next timer; false when none is left. */
    step(): boolean {
        while (this.timers.length > 0) {
            const t = this.timers.shift()!
            if (t.cancelled) continue
            if (t.at > this.now) this.now = t.at
            this.fired++
            t.fire()
            return true
        }
        return false
    }

    /** Fires timers until none is left (at most `limit`); false if the limit was reached. */
    drain(limit = 1_000_000): boolean {
        return this.run(Infinity, limit)
    }

    pending(): number {
        return this.timers.filter((t) => !t.cancelled).length
    }
}
