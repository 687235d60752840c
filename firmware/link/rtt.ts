/**
 * Retransmission timeout from measured round-trip times (RFC 6298): smoothed RTT and its mean
 * deviation, RTO = SRTT + 4 * RTTVAR + slack, kept within [minMs, maxMs]. The slack is the time
 * of one longest frame on the line: a lost frame shows as soon as the frame after it is
 * acknowledged (RACK), about one frame time after its own ack was due, and the timer should
 * not beat that cheaper and more precise signal. Each timeout doubles the RTO
 * (up to maxMs). The doubling ends with the next RTT sample, and also as soon as the other end
 * acknowledges new data: on a point-to-point link a delivered retransmission shows that the
 * line works again, and keeping a backed-off RTO would leave a lossy link idle for seconds
 * (retransmitted frames give no samples, after Karn).
 * @devsWhenUsed
 */
export class RttEstimator {
    srttMs = 0
    rttvarMs = 0
    private baseMs: number
    private backoffs = 0
    private samples = 0

    constructor(
        private minMs: number,
        private maxMs: number,
        initialMs: number,
        private slackMs: number
    ) {
        this.baseMs = initialMs
    }

    /** A round trip of `ms`, measured on a frame sent once (Karn: never on a retransmission). */
    sample(ms: number): void {
        if (!(ms >= 0)) return
        if (this.samples === 0) {
            this.srttMs = ms
            this.rttvarMs = ms / 2
        } else {
            let err = ms - this.srttMs
            if (err < 0) err = -err
            this.rttvarMs = 0.75 * this.rttvarMs + 0.25 * err
            this.srttMs = 0.875 * this.srttMs + 0.125 * ms
        }
        this.samples++
        this.baseMs = this.srttMs + 4 * this.rttvarMs + this.slackMs
        this.backoffs = 0
    }

    /** A retransmission timer expired: wait twice as long next time. */
    backoff(): void {
        if (this.backoffs < 30) this.backoffs++
    }

    /** New data was acknowledged: the line works, stop doubling. */
    resetBackoff(): void {
        this.backoffs = 0
    }

    rto(): number {
        let ms = this.baseMs * Math.pow(2, this.backoffs)
        if (ms < this.minMs) ms = this.minMs
        if (ms > this.maxMs) ms = this.maxMs
        return ms
    }
}
