import { Clock } from "../../hal/clock"
import { Link } from "../../hal/link"
import { getU16, getU32 } from "../codec/bytes"
import {
    FrameType,
    HANDSHAKE_BYTES,
    HELLO_RESTORE,
    OFF_GENERATION,
    OFF_MAX_PAYLOAD,
    OFF_MEMBER,
    OFF_NONCE,
    OFF_REASON,
    OFF_SESSION,
    OFF_VERSION,
    PROTOCOL_VERSION,
    RefuseReason,
} from "./frame"
import { ReconnectBackoff } from "../../hal/backoff"
import { LinkChannel } from "./channel"
import { ChannelConfig } from "./config"
import { LinkSeal } from "./seal"

/**
 * The primary board's end of the link channel: it opens the session. It sends HELLO with its
 * generation (a u32 that the board raises at every boot, persisted by the owner) and member id;
 * the remote answers WELCOME (with its resume state) or REFUSE.
 *
 * - States: "connecting" (a HELLO is out), "up", "down" (waiting out the reconnect backoff),
 *   "refused" (the remote knows a newer generation of this member: this board is stale and
 *   stops for good, so there is never a split brain).
 * - A HELLO unanswered for handshakeTimeoutMs, a link silent for deadMs, or a RESET from the
 *   remote (it no longer knows the session) sends it "down" for ReconnectBackoff's delay.
 * - Reconnecting asks to resume the current session: if the remote still has it, sending
 *   continues from the remote's cumulative ack and nothing is sent twice or lost
 *   (onSessionUp(true, ...)); if not, both ends start a new, empty session
 *   (onSessionUp(false, remoteResumeState)).
 * - It starts connecting on the first turn of the run loop after construction.
 * - With `sealer` (docs/FORMAT-link.md §11) every frame is sealed; the keys of a session come
 *   with the WELCOME that starts or resumes it, and the first frame under them (an ACK at once)
 *   shows the remote that this end holds them.
 * @devsWhenUsed
 */
export class PrimaryChannel extends LinkChannel {
    private backoff: ReconnectBackoff
    /** Nonce of the current connecting phase (kept across its attempts), 0 when up. */
    private nonce = 0
    private handshakeAt = -1
    private reconnectAt = -1
    private refusedHandler!: ((reason: number, highestGeneration: number) => void) | null
    private stateHandler!: ((state: string) => void) | null
    /** Its HELLOs say HELLO_RESTORE: the board restores its image from the remote. */
    restoring!: boolean

    constructor(
        link: Link,
        clock: Clock,
        random: () => number,
        cfg: ChannelConfig,
        public generation: number,
        readonly member: number,
        sealer?: LinkSeal | null
    ) {
        super(link, clock, random, cfg, sealer)
        if (!(member >= 0 && member <= 0xffff)) throw new Error("link: member must be 0..65535")
        this.backoff = new ReconnectBackoff(cfg.backoffBaseMs, cfg.backoffCapMs, random)
        this.reconnectAt = clock.millis()
        this.schedule()
    }

    /** The remote refused this board: `reason` is a RefuseReason; for a stale generation,
     * `highestGeneration` is the newest the remote has accepted for this member. */
    onRefused(handler: (reason: number, highestGeneration: number) => void): void {
        this.refusedHandler = handler
    }

    /** Connects again as `generation` in a new session (the session up, if any, ends): a
     * board refused as stale that takes a newer generation, or one whose restore is done. */
    reconnect(generation: number): void {
        this.generation = generation
        this.resetSession()
        this.sessionId = 0
        this.nonce = 0
        this.st = "down"
        this.handshakeAt = -1
        this.reconnectAt = this.clock.millis()
        this.changed()
    }

    /** Called on every change of state() (for the console and the simulator's log). */
    onStateChange(handler: (state: string) => void): void {
        this.stateHandler = handler
    }

    /** Failed attempts since the link was last up. */
    reconnectAttempts(): number {
        return this.backoff.attempts
    }

    protected override roleDeadline(): number {
        if (this.st === "connecting") return this.handshakeAt
        if (this.st === "down") return this.reconnectAt
        return -1
    }

    protected override onRoleTimers(now: number): void {
        const c = this.counters
        if (this.st === "connecting") {
            if (this.handshakeAt >= 0)
                if (this.handshakeAt <= now) {
                    c.handshakeTimeouts = c.handshakeTimeouts + 1
                    this.goDown()
                }
        } else if (this.st === "down")
            if (this.reconnectAt >= 0)
                if (this.reconnectAt <= now) {
                    // the backoff has passed: a new attempt
                    this.reconnectAt = -1
                    while (this.nonce === 0) this.nonce = Math.floor(this.random() * 4294967296) >>> 0
                    this.st = "connecting"
                    // the ack block tells the remote what this end has of the session it resumes
                    this.queueHandshake(FrameType.Hello, this.member, this.generation, this.nonce)
                    if (this.restoring) this.ctrl[OFF_REASON] = HELLO_RESTORE
                    this.handshakeAt = this.clock.millis() + this.cfg.handshakeTimeoutMs
                    this.changed()
                }
    }

    protected override onDead(): void {
        this.goDown()
    }

    protected override onReset(session: number): void {
        const c = this.counters
        if (session === 0) {
            // the hint: the remote holds no session of this end (it booted). Anyone can send
            // one, so it only brings the next HELLO forward: a link in backoff tries now, and a
            // session up is given up only when nothing of it arrived for keepaliveMs (a live
            // remote answers every probe sooner); the HELLO resumes a session the remote has.
            c.resetsReceived = c.resetsReceived + 1
            const now = this.clock.millis()
            if (now - this.lastRxAt >= this.cfg.keepaliveMs) {
                if (this.st === "up") {
                    c.linkDeaths = c.linkDeaths + 1
                    this.st = "down"
                }
                if (this.st === "down") {
                    this.reconnectAt = now
                    this.changed()
                }
            }
            return
        }
        let stale = session !== this.sessionId
        if (this.sessionId === 0) stale = true
        if (stale) {
            c.droppedStale = c.droppedStale + 1
            return
        }
        c.framesReceived = c.framesReceived + 1
        c.resetsReceived = c.resetsReceived + 1
        if (this.st === "up") {
            c.linkDeaths = c.linkDeaths + 1
            this.goDown()
        }
    }

    protected override onHandshake(type: number, buf: Buffer, n: number): void {
        const c = this.counters
        if (type === FrameType.Hello) {
            c.droppedUnexpected = c.droppedUnexpected + 1
            return
        }
        // an answer to this end's HELLO of this attempt, else stale
        let stale = this.st !== "connecting"
        if (getU32(buf, OFF_NONCE) !== this.nonce) stale = true
        if (buf[OFF_VERSION] !== PROTOCOL_VERSION) stale = true
        if (getU16(buf, OFF_MEMBER) !== this.member) stale = true
        if (stale) {
            c.droppedStale = c.droppedStale + 1
            return
        }
        c.framesReceived = c.framesReceived + 1
        if (type === FrameType.Refuse) {
            this.refuse(buf[OFF_REASON], getU32(buf, OFF_GENERATION))
            return
        }
        const session = getU32(buf, OFF_SESSION)
        if (getU32(buf, OFF_GENERATION) !== this.generation) stale = true
        if (session === 0) stale = true
        if (stale) {
            c.droppedStale = c.droppedStale + 1
            return
        }
        if (getU16(buf, OFF_MAX_PAYLOAD) !== this.cfg.maxPayload) {
            this.refuse(RefuseReason.MaxPayload, 0)
            return
        }
        const resumed = session === this.sessionId
        if (!resumed) {
            this.resetSession()
            this.sessionId = session
        }
        this.takeHandshakeAck(buf, resumed)
        if (this.sealer) {
            ;(this.sealer as LinkSeal).takeKeys()
            this.ackPending = true
        }
        this.handshakeAt = -1
        this.nonce = 0
        this.backoff.reset()
        const resume = Buffer.alloc(n - HANDSHAKE_BYTES)
        for (let i = 0; i < resume.length; i++) resume[i] = buf[HANDSHAKE_BYTES + i]
        // the session is up (new or resumed): tell the application, let it send
        this.st = "up"
        this.lastRxAt = this.clock.millis()
        this.lastProbeAt = this.lastRxAt
        if (resumed) c.sessionsResumed = c.sessionsResumed + 1
        else c.sessionsStarted = c.sessionsStarted + 1
        if (this.sessionHandler) this.sessionHandler(resumed, resume)
        this.kick()
        this.changed()
    }

    private refuse(reason: number, highest: number): void {
        this.counters.refusals = this.counters.refusals + 1
        this.st = "refused"
        this.handshakeAt = -1
        this.reconnectAt = -1
        this.changed()
        if (this.refusedHandler) this.refusedHandler(reason, highest)
    }

    private goDown(): void {
        this.st = "down"
        this.handshakeAt = -1
        this.reconnectAt = this.clock.millis() + this.backoff.next()
        this.changed()
    }

    private changed(): void {
        this.schedule()
        if (this.stateHandler) this.stateHandler(this.st)
    }
}
