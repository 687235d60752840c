/**
 * Clock: monotonic time and one-shot timers.
 *
 * Contract
 * - `millis()` is the time since boot in milliseconds. It never decreases. On a board it is the
 *   runtime's millisecond counter; in the simulator it is virtual time and may carry fractions
 *   of a millisecond (a UART byte at 921600 baud takes 0.0109 ms).
 * - `setTimer(delayMs, fire)` calls `fire` once, no earlier than `delayMs` after the call, from the
 *   platform's run loop (never re-entrantly from inside `setTimer`). A delay of 0 means "as soon
 *   as the current event has finished". Timers with the same due time fire in the order they
 *   were set.
 * - `clearTimer(timer)` cancels a timer that has not fired; clearing a fired or cleared timer is
 *   a no-op.
 *
 * Long computations (a sector scan, garbage collection) must be split into steps that re-arm a
 * zero-delay timer: the DeviceScript VM aborts a fiber that runs too long without suspending.
 */
export interface Timer {
    /** Set when the timer was cleared; the platform does not call `fire` after that. */
    cancelled: boolean
}

export interface Clock {
    millis(): number
    setTimer(delayMs: number, fire: () => void): Timer
    clearTimer(timer: Timer): void
}
