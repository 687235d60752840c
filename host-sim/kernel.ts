import { Clock, Timer } from "../hal/clock"

/**
 * The simulation kernel: a virtual clock and an ordered event queue. Events run in order of
 * (due time, order of scheduling), so a run is a pure function of its seed and options.
 * Portable: it runs on Node and inside the DeviceScript VM (the VM's run loop calls `step`
 * in slices and suspends between them).
 *
 * Two queues hold the events: a binary heap, and a first-in first-out list of the events due
 * now (a delay of 0, the most common: "after the current event"). The events of that list are
 * due at the current time and in the order they were set, so the next event is the earlier of
 * the two queues' first ones, compared as the heap compares; the list is empty whenever the
 * clock moves on. The order in which events run is the same as with one heap, at a fraction of
 * its cost for the events set with no delay.
 * @devsWhenUsed
 */
export class SimEvent implements Timer {
    cancelled = false
    /** When set, the event fires only while `gate.alive` (a board's timers after its power cut). */
    gate: TimerGate | null = null
    constructor(
        public at: number,
        public order: number,
        public fire: () => void
    ) {}
}

/** What a gated timer fires under: `alive` false, it no longer fires (see `setGatedTimer`). */
export interface TimerGate {
    alive: boolean
}

function before(x: SimEvent, y: SimEvent): boolean {
    return x.at < y.at || (x.at === y.at && x.order < y.order)
}

/** @devsWhenUsed */
export class SimKernel implements Clock {
    /** The heap: events, and their due times beside them (compared without a look into each
     * event; the order of scheduling breaks ties). */
    private heap: SimEvent[] = []
    private heapAt: number[] = []
    /** The events due now, set while the clock stood at nowMs: soon[soonHead..soonLen). */
    private soon: SimEvent[] = []
    private soonHead = 0
    private soonLen = 0
    private nextOrder = 0
    private nowMs = 0
    /** Events run so far. */
    eventsRun = 0

    millis(): number {
        return this.nowMs
    }

    setTimer(delayMs: number, fire: () => void): Timer {
        return this.add(delayMs, fire)
    }

    /** A timer that fires only while `gate.alive` at its due time (a board's timers: none of
     * them fires after its power cut). The same place in the order as `setTimer`'s. */
    setGatedTimer(delayMs: number, fire: () => void, gate: TimerGate): Timer {
        const ev = this.add(delayMs, fire)
        ev.gate = gate
        return ev
    }

    clearTimer(timer: Timer): void {
        timer.cancelled = true
    }

    /** Due time of the next live event, or -1 when the queue is empty. */
    nextDue(): number {
        const ev = this.first()
        return ev ? ev.at : -1
    }

    /** Runs the next event if it is due at or before `untilMs`; false when there is none. */
    step(untilMs: number): boolean {
        const ev = this.first()
        if (!ev || ev.at > untilMs) return false
        if (this.soonHead < this.soonLen && ev === this.soon[this.soonHead]) this.soonHead++
        else this.pop()
        this.nowMs = ev.at
        this.eventsRun++
        const g = ev.gate
        if (!g || g.alive) ev.fire()
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
        return this.heap.length + this.soonLen - this.soonHead
    }

    private add(delayMs: number, fire: () => void): SimEvent {
        const at = this.nowMs + (delayMs > 0 ? delayMs : 0)
        const ev = new SimEvent(at, this.nextOrder++, fire)
        if (at === this.nowMs) {
            // due now: after everything set before it, so at the end of the list
            if (this.soonLen < this.soon.length) this.soon[this.soonLen] = ev
            else this.soon.push(ev)
            this.soonLen++
        } else this.push(ev)
        return ev
    }

    /** The next live event (left in its queue), or null; drops cancelled ones on the way. */
    private first(): SimEvent | null {
        const h = this.heap
        while (h.length > 0 && h[0].cancelled) this.pop()
        const s = this.soon
        while (this.soonHead < this.soonLen && s[this.soonHead].cancelled) this.soonHead++
        if (this.soonHead === this.soonLen) {
            this.soonHead = 0
            this.soonLen = 0
            return h.length > 0 ? h[0] : null
        }
        const ev = s[this.soonHead]
        return h.length > 0 && before(h[0], ev) ? h[0] : ev
    }

    private push(ev: SimEvent): void {
        const h = this.heap
        const ha = this.heapAt
        const at = ev.at
        let i = h.length
        h.push(ev)
        ha.push(at)
        while (i > 0) {
            const p = (i - 1) >> 1
            const pa = ha[p]
            // ev goes above its parent when due earlier (a tie: set later, so it stays below)
            if (!(at < pa)) break
            h[i] = h[p]
            ha[i] = pa
            i = p
        }
        h[i] = ev
        ha[i] = at
    }

    private pop(): SimEvent {
        const h = this.heap
        const ha = this.heapAt
        const top = h[0]
        const last = h.pop() as SimEvent
        const lastAt = ha.pop() as number
        const n = h.length
        if (n > 0) {
            // sift the last event down from the root
            let i = 0
            while (true) {
                const l = 2 * i + 1
                if (l >= n) break
                let m = l
                let ma = ha[l]
                const r = l + 1
                if (r < n) {
                    const ra = ha[r]
                    if (ra < ma || (ra === ma && h[r].order < h[l].order)) {
                        m = r
                        ma = ra
                    }
                }
                if (lastAt < ma || (lastAt === ma && last.order < h[m].order)) break
                h[i] = h[m]
                ha[i] = ma
                i = m
            }
            h[i] = last
            ha[i] = lastAt
        }
        return top
    }
}
