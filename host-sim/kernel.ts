import { Clock, Timer } from "../hal/clock"

/**
 * The simulation kernel: a virtual clock and an ordered event queue. Events run in order of
 * (due time, order of scheduling), so a run is a pure function of its seed and options.
 * Portable: it runs on Node and inside the DeviceScript VM (the VM's run loop calls `step`
 * in slices and suspends between them).
 * @devsWhenUsed
 */
export class SimEvent implements Timer {
    cancelled = false
    constructor(
        public at: number,
        public order: number,
        public fire: () => void
    ) {}
}

function before(x: SimEvent, y: SimEvent): boolean {
    return x.at < y.at || (x.at === y.at && x.order < y.order)
}

/** @devsWhenUsed */
export class SimKernel implements Clock {
    private heap: SimEvent[] = []
    private nextOrder = 0
    private nowMs = 0
    /** Events run so far. */
    eventsRun = 0

    millis(): number {
        return this.nowMs
    }

    setTimer(delayMs: number, fire: () => void): Timer {
        const ev = new SimEvent(this.nowMs + (delayMs > 0 ? delayMs : 0), this.nextOrder++, fire)
        this.push(ev)
        return ev
    }

    clearTimer(timer: Timer): void {
        timer.cancelled = true
    }

    /** Due time of the next live event, or -1 when the queue is empty. */
    nextDue(): number {
        while (this.heap.length > 0 && this.heap[0].cancelled) this.pop()
        return this.heap.length > 0 ? this.heap[0].at : -1
    }

    /** Runs the next event if it is due at or before `untilMs`; false when there is none. */
    step(untilMs: number): boolean {
        const due = this.nextDue()
        if (due < 0 || due > untilMs) return false
        const ev = this.pop()
        this.nowMs = ev.at
        this.eventsRun++
        ev.fire()
        return true
    }

    /** Runs events up to `untilMs` (at most `maxEvents` of them) and returns how many ran.
     * When the queue runs dry or the limit of time is reached, the clock moves to `untilMs`. */
    run(untilMs: number, maxEvents: number): number {
        let n = 0
        while (n < maxEvents && this.step(untilMs)) n++
        if (n < maxEvents && this.nowMs < untilMs) this.nowMs = untilMs
        return n
    }

    pending(): number {
        return this.heap.length
    }

    private push(ev: SimEvent): void {
        const h = this.heap
        h.push(ev)
        let i = h.length - 1
        while (i > 0) {
            const p = (i - 1) >> 1
            if (!before(h[i], h[p])) break
            const t = h[i]
            h[i] = h[p]
            h[p] = t
            i = p
        }
    }

    private pop(): SimEvent {
        const h = this.heap
        const top = h[0]
        const last = h.pop() as SimEvent
        if (h.length > 0) {
            h[0] = last
            let i = 0
            const n = h.length
            while (true) {
                const l = 2 * i + 1
                const r = l + 1
                let m = i
                if (l < n && before(h[l], h[m])) m = l
                if (r < n && before(h[r], h[m])) m = r
                if (m === i) break
                const t = h[i]
                h[i] = h[m]
                h[m] = t
                i = m
            }
        }
        return top
    }
}
