import { Clock, Timer } from "../../hal/clock"

/**
 * `fire` at exactly `at` (at once when `at` has passed), for the models that compute when
 * something ends (a flash operation, the last byte of a UART write) instead of stepping to it.
 * A clock adds the delay to its time; when no delay makes that sum exactly `at` (floating point
 * may skip it while the time is less than half of `at`: early in a run, for a long operation),
 * a first event halfway brings the clock near enough for the second delay to be exact. Clear it
 * with the clock's clearTimer (which sets `cancelled`). Portable.
 */
export function setTimerAt(clock: Clock, at: number, fire: () => void): Timer {
    const now = clock.millis()
    const d = at - now
    if (!(d > 0) || now + d === at) return clock.setTimer(d, fire)
    const t: Timer = { cancelled: false }
    clock.setTimer(d / 2, () => {
        if (!t.cancelled)
            clock.setTimer(at - clock.millis(), () => {
                if (!t.cancelled) fire()
            })
    })
    return t
}
