/**
 * Delay before the next reconnect attempt: exponential with "equal jitter". After n failed
 * attempts the ceiling is d = min(capMs, baseMs * 2^n) and the delay is uniform in [d/2, d), so
 * delays grow, stay bounded, and boards that lost the link at the same moment do not retry in
 * step (no reconnect storm). `random()` is injected (uniform in [0, 1)).
 *
 * One policy for every layer that reconnects: the link drivers that open connections (the
 * board's socket, `hal/devicescript/socketLink.ts`; the host's, `host-sim/host/tcpLink.ts`) and
 * the link channel's session (`firmware/link/primary.ts`). It lives in hal/ so that the drivers
 * need nothing from firmware/.
 * @devsWhenUsed
 */
export class ReconnectBackoff {
    /** Consecutive failed attempts since the link was last up. */
    attempts = 0

    constructor(
        private baseMs: number,
        private capMs: number,
        private random: () => number
    ) {}

    /** The delay before the next attempt; counts one more failed attempt. */
    next(): number {
        let n = this.attempts
        if (n > 30) n = 30
        let d = this.baseMs * Math.pow(2, n)
        if (d > this.capMs) d = this.capMs
        this.attempts++
        return d / 2 + this.random() * (d / 2)
    }

    /** The link came up: start again from the base delay. */
    reset(): void {
        this.attempts = 0
    }
}
