// The Clock of firmware that runs on a host in real time, on Node's event loop (Node only).
import { Clock, Timer } from "../../hal/clock"

class NodeTimer implements Timer {
    cancelled = false
    timeout: ReturnType<typeof setTimeout> | null = null
    immediate: ReturnType<typeof setImmediate> | null = null
}

/**
 * Real time since the process started (`performance.now()`, monotonic), and one-shot timers
 * on Node's event loop: a zero delay runs after the current event and the ones already
 * queued (setImmediate, in the order set), a longer one through setTimeout, rounded up to
 * whole milliseconds (never early). Timers keep the process alive, as a board's run loop
 * does; `stop()` cancels every pending one and makes later setTimer calls no-ops (a shutdown:
 * nothing of the firmware runs after it).
 */
export class NodeClock implements Clock {
    private pending = new Set<NodeTimer>()
    private stopped = false

    millis(): number {
        return performance.now()
    }

    setTimer(delayMs: number, fire: () => void): Timer {
        const t = new NodeTimer()
        if (this.stopped) {
            t.cancelled = true
            return t
        }
        this.pending.add(t)
        const run = () => {
            this.pending.delete(t)
            if (t.cancelled || this.stopped) return
            t.cancelled = true
            fire()
        }
        if (delayMs > 0) t.timeout = setTimeout(run, Math.ceil(delayMs))
        else t.immediate = setImmediate(run)
        return t
    }

    clearTimer(timer: Timer): void {
        const t = timer as NodeTimer
        if (t.cancelled) return
        t.cancelled = true
        this.pending.delete(t)
        if (t.timeout) clearTimeout(t.timeout)
        if (t.immediate) clearImmediate(t.immediate)
    }

    /** Cancels every pending timer; from now on nothing fires. */
    stop(): void {
        this.stopped = true
        for (const t of this.pending) this.clearTimer(t)
        this.pending.clear()
    }
}
