import { Clock, Timer } from "../../hal/clock"

/**
 * Timers at an absolute virtual time, for the models that compute when something ends (a
 * flash operation, the last byte of a UART write) instead of stepping to it. A clock adds the
 * delay to its time; when no delay makes that sum exactly `at` (floating point may skip it when
 * `at` is more than twice the time now: early in a run, for a long operation), a first event
 * halfway brings the clock near enough for the second delay to land exactly. Portable.
 */

/** The delay from `now` that a clock adding it to `now` turns into `at`, as near as floating
 * point allows (exactly whenever `now` is at least half of `at`). */
export function delayTo(now: number, at: number): number {
    const d = at - now
    if (!(d > 0)) return 0
    return now + d === at ? d : d + (at - (now + d))
}

/** A timer that needed a first event halfway: clearing it (the clock's clearTimer sets
 * `cancelled`) stops both events. */
class TwoStepTimer implements Timer {
    cancelled = false
}

/** `fire` at exactly `at` (at once when `at` has passed); clear it with the clock's clearTimer. */
export function setTimerAt(clock: Clock, at: number, fire: () => void): Timer {
    const now = clock.millis()
    const d = delayTo(now, at)
    if (d === 0 || now + d === at) return clock.setTimer(d, fire)
    const t = new TwoStepTimer()
    clock.setTimer(d / 2, () => {
        if (t.cancelled) return
        clock.setTimer(delayTo(clock.millis(), at), () => {
            if (!t.cancelled) fire()
        })
    })
    return t
}
