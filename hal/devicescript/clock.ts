import * as ds from "@devicescript/core"
import { Clock, Timer } from "../clock"
import { errorText } from "./errorText"

/** A timer of the run loop: when it is due and what it fires. */
interface LoopTimer extends Timer {
    due: number
    fire: () => void
}

/** Events fired between two suspensions of the loop fiber, at most. */
const DEFAULT_BATCH = 16
/** Time spent in events between two suspensions, at most (ms). */
const BATCH_MS = 10
/** Longest suspension when nothing is queued (any new timer wakes the loop at once). */
const IDLE_MS = 60000

/**
 * The board's run loop: `Clock` on `ds.millis()`, with one fiber that fires every timer.
 *
 * Why not `setTimeout` directly: the runtime's `setTimeout` rounds a delay of 0 up to 1 ms
 * (zero-delay steps, which the firmware uses to split long work, would each cost a
 * millisecond) and starts every callback as a fiber of its own. This loop keeps one ordered
 * queue instead: zero-delay timers run as soon as the current event ends, timers with the
 * same due time fire in the order they were set, and every event runs on this one fiber.
 *
 * The loop budget: the VM aborts a fiber that runs too long without suspending (128 K bytecode
 * steps; docs/PORTABLE.md), so the loop suspends after `batch` events, or after 10 ms of events,
 * even when more are due. Every event must stay well inside the budget on its own (the store's
 * mount steps, for example, check 512 bytes each); the loop only keeps their sum inside it.
 *
 * Failure: an exception thrown by an event is a bug (the firmware reports bad input through
 * return values, not exceptions; invariant assertions throw). The loop then halts: it prints
 * one line `seqmirror: halted: MESSAGE` and fires nothing more, so the board stops
 * acknowledging writes instead of running on in an unknown state. `halted()` says so.
 *
 * Other fibers (the SPI and socket drivers) hand their completions to the loop with
 * `setTimer(0, ...)`, which wakes it: callbacks of every driver run from the run loop.
 * @devsWhenUsed
 */
export class RunLoop implements Clock {
    private queue: LoopTimer[] = []
    // (without initializers: undefined reads as false; the fiber sets `sleeping`)
    private fiber!: ds.Fiber
    sleeping!: boolean
    private stopped!: boolean
    private haltMessage = ""
    private batch: number

    /** Events fired; suspensions forced by the loop budget. */
    events = 0
    budgetYields = 0

    constructor(batch?: number) {
        this.batch = DEFAULT_BATCH
        if (batch !== undefined) if (batch > 0) this.batch = batch
    }

    millis(): number {
        return ds.millis()
    }

    setTimer(delayMs: number, fire: () => void): Timer {
        let d = ds.millis()
        if (delayMs > 0) d += delayMs
        const t: LoopTimer = { due: d, fire: fire, cancelled: false }
        if (this.stopped) {
            t.cancelled = true
            return t
        }
        // after every timer due at or before t: same due time fires in the order set
        let lo = 0
        let hi = this.queue.length
        while (lo < hi) {
            const mid = (lo + hi) >> 1
            if (this.queue[mid].due <= t.due) lo = mid + 1
            else hi = mid
        }
        this.queue.insert(lo, 1)
        this.queue[lo] = t
        if (!this.fiber) this.fiber = runLoopFiber.start(this)
        else if (lo === 0) this.wake()
        return t
    }

    clearTimer(timer: Timer): void {
        if (timer.cancelled) return
        timer.cancelled = true
        const i = this.queue.indexOf(timer as LoopTimer)
        if (i >= 0) this.queue.insert(i, -1)
    }

    /** Timers waiting to fire. */
    pending(): number {
        return this.queue.length
    }

    /** The message of the exception that halted the loop, or "" while it runs. */
    halted(): string {
        return this.haltMessage
    }

    /** Stops the loop for good: no timer fires after this (a test's end, or a halt). */
    stop(): void {
        this.stopped = true
        for (let i = 0; i < this.queue.length; i++) this.queue[i].cancelled = true
        this.queue = []
        this.wake()
    }

    private wake(): void {
        const f = this.fiber
        if (f) if (this.sleeping) if (f.suspended) f.resume(null)
    }

    /** Runs due events; returns how long to sleep (0: suspend briefly, more are due). */
    _step(): number {
        if (this.stopped) return -1
        const now = ds.millis()
        // (stop() replaces the queue, and the loop returns once stopped)
        const q = this.queue
        let n = 0
        while (q.length > 0) {
            if (q[0].due > now) break
            let full = false
            if (n >= this.batch) full = true
            if (n > 0) if (ds.millis() - now >= BATCH_MS) full = true
            if (full) {
                this.budgetYields++
                return 0
            }
            const t = q.shift() as LoopTimer // the loop checked the queue is not empty
            if (t.cancelled) continue
            t.cancelled = true // clearing a fired timer is a no-op
            n++
            this.events++
            try {
                t.fire()
            } catch (e) {
                // a timer threw: the loop halts, saying why
                const msg = errorText(e)
                this.haltMessage = msg
                console.log("seqmirror: halted: " + msg)
                // eslint-disable-next-line @typescript-eslint/no-explicit-any -- what was thrown can be anything
                const x = e as any
                if (x !== null) if (x !== undefined) if (typeof x.print === "function") x.print()
                this.stop()
                return -1
            }
            if (this.stopped) return -1
        }
        if (q.length === 0) return IDLE_MS
        const wait = q[0].due - ds.millis()
        if (wait > 0) return wait
        return 0
    }
}

async function runLoopFiber(loop: RunLoop) {
    while (true) {
        const wait = loop._step()
        if (wait < 0) return
        loop.sleeping = true
        if (wait === 0) await ds.sleep(0)
        else await ds.suspend(wait)
        loop.sleeping = false
    }
}
