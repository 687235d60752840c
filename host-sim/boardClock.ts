import { Clock, Timer } from "../hal/clock"

/**
 * One board's view of the simulation clock. A power cut ends the board's life: every timer it
 * set before is dropped, so nothing of the old firmware instance runs after the cut. The next
 * boot gets a new BoardClock.
 */
class BoardTimer implements Timer {
    cancelled = false
    inner: Timer | null = null
}

export class BoardClock implements Clock {
    private alive = true

    constructor(private base: Clock) {}

    millis(): number {
        return this.base.millis()
    }

    setTimer(delayMs: number, fire: () => void): Timer {
        const t = new BoardTimer()
        if (!this.alive) {
            t.cancelled = true
            return t
        }
        const self = this
        t.inner = this.base.setTimer(delayMs, () => {
            if (self.alive && !t.cancelled) fire()
        })
        return t
    }

    clearTimer(timer: Timer): void {
        timer.cancelled = true
        const inner = (timer as BoardTimer).inner
        if (inner) this.base.clearTimer(inner)
    }

    /** The board lost power: none of its timers fires any more. */
    powerOff(): void {
        this.alive = false
    }

    isAlive(): boolean {
        return this.alive
    }
}
