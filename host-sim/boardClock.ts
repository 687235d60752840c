import { Clock, Timer } from "../hal/clock"
import { SimKernel, TimerGate } from "./kernel"

/**
 * One board's view of the simulation clock. A power cut ends the board's life: every timer it
 * set before is dropped, so nothing of the old firmware instance runs after the cut. The next
 * boot gets a new BoardClock. Its timers are the kernel's own, gated by the board's power (no
 * wrapper per timer).
 */
export class BoardClock implements Clock, TimerGate {
    alive = true

    constructor(private base: SimKernel) {}

    millis(): number {
        return this.base.millis()
    }

    setTimer(delayMs: number, fire: () => void): Timer {
        if (!this.alive) return { cancelled: true }
        return this.base.setGatedTimer(delayMs, fire, this)
    }

    clearTimer(timer: Timer): void {
        timer.cancelled = true
    }

    /** The board lost power: none of its timers fires any more. */
    powerOff(): void {
        this.alive = false
    }

    isAlive(): boolean {
        return this.alive
    }
}
