import { Clock } from "../../hal/clock"
import { Link } from "../../hal/link"
import { getU16, getU32, putU16, putU32 } from "../codec/bytes"
import {
    FrameType,
    HANDSHAKE_BYTES,
    HEADER_BYTES,
    OFF_GENERATION,
    OFF_MAX_PAYLOAD,
    OFF_MEMBER,
    OFF_NONCE,
    OFF_REASON,
    OFF_SESSION,
    OFF_VERSION,
    OFF_WINDOW,
    PROTOCOL_VERSION,
    RefuseReason,
} from "./frame"
import { LinkChannel } from "./channel"
import { ChannelConfig } from "./config"

/**
 * The remote board's end of the link channel of one member: it answers HELLOs and never
 * opens a session itself.
 *
 * - Generations: HELLO carries the primary's generation. One lower than the highest this link
 *   has accepted for its member is refused (REFUSE, StaleGeneration): a board that came back
 *   from the dead cannot run beside its successor. A higher one is handed to
 *   `persistGeneration(generation, done)` first; the WELCOME goes out only when the owner calls
 *   done(), i.e. once the new highest is durable.
 * - Sessions: a HELLO asking for the current session (same generation) resumes it: the
 *   receive state stays, the WELCOME's ack block tells the primary where to go on. Anything
 *   else starts a new session with a fresh random id; frames of any other session are
 *   dropped and answered by a RESET (at most one per minRtoMs) so that the primary reconnects.
 * - States: "down" (no session, or the link silent for deadMs), "connecting" (waiting for the
 *   owner to persist a generation), "up".
 */
export class RemoteChannel extends LinkChannel {
    private highest: number
    private sessionGeneration = 0
    /** Nonce of the HELLO that set up the current session state (its repeats get the same answer). */
    private sessionNonce = 0
    private persisting = false
    private resetSentAt = -1
    /** A HELLO of a new generation that waits for persistGeneration's done(). */
    private pendingNonce = 0
    private pendingWindow = 0
    private pendingResume: Buffer | null = null

    constructor(
        link: Link,
        clock: Clock,
        random: () => number,
        cfg: ChannelConfig,
        readonly member: number,
        highestGeneration: number,
        private persistGeneration: ((generation: number, done: () => void) => void) | null
    ) {
        super(link, clock, random, cfg)
        this.highest = highestGeneration >>> 0
    }

    /** The newest generation accepted for this link's member. */
    highestGeneration(): number {
        return this.highest
    }

    /** Generation of the current session's primary. */
    generation(): number {
        return this.sessionGeneration
    }

    /**
     * Ends the current session (its messages not yet delivered are dropped) and tells the
     * primary with a RESET: it reconnects, and the new session starts empty, so the primary
     * sends everything the remote has not applied again (from its flash). The remote asks for
     * portions again this way (one that failed its end-to-end CRC, one staged and damaged).
     */
    renew(): void {
        const old = this.sessionId
        if (old === 0) return
        this.resetSession()
        this.sessionId = 0
        this.sessionNonce = 0
        this.st = "down"
        this.counters.sessionsRenewed++
        this.resetSentAt = this.clock.millis()
        this.queueReset(old)
    }

    protected override onReset(_session: number): void {
        this.counters.droppedUnexpected++
    }

    protected override roleDeadline(): number {
        return -1
    }

    protected override onRoleTimers(_now: number): void {}

    protected override onDead(): void {
        // the session stays: the primary resumes it when it reconnects
        this.st = "down"
    }

    protected override onAlive(): void {
        if (this.st === "down" && this.sessionId !== 0) this.st = "up"
    }

    protected override onStaleFrame(session: number): void {
        const now = this.clock.millis()
        if (this.resetSentAt >= 0 && now - this.resetSentAt < this.cfg.minRtoMs) return
        this.resetSentAt = now
        this.queueReset(session)
    }

    protected override onHandshake(type: number, buf: Buffer, n: number): void {
        if (type !== FrameType.Hello) {
            this.counters.droppedUnexpected++
            return
        }
        const nonce = getU32(buf, OFF_NONCE)
        const generation = getU32(buf, OFF_GENERATION)
        const member = getU16(buf, OFF_MEMBER)
        let reason = 0
        if (buf[OFF_VERSION] !== PROTOCOL_VERSION) reason = RefuseReason.Version
        else if (member !== this.member) reason = RefuseReason.WrongMember
        else if (getU16(buf, OFF_MAX_PAYLOAD) !== this.cfg.maxPayload) reason = RefuseReason.MaxPayload
        else if (generation < this.highest) reason = RefuseReason.StaleGeneration
        if (reason !== 0) {
            this.refuse(reason, member, nonce)
            return
        }
        if (this.persisting) {
            // the answer to this phase comes when the generation is durable
            this.counters.droppedStale++
            return
        }
        this.counters.framesReceived++
        const asked = getU32(buf, OFF_SESSION)
        const current = this.sessionId !== 0 && generation === this.sessionGeneration
        if (current && nonce === this.sessionNonce) {
            // a repeat: our WELCOME was lost; the application knows already
            if (asked === this.sessionId) this.takeHandshakeAck(buf, true)
            this.st = "up"
            this.lastRxAt = this.clock.millis()
            this.welcome()
            return
        }
        const resume = Buffer.alloc(n - HANDSHAKE_BYTES)
        for (let i = 0; i < resume.length; i++) resume[i] = buf[HANDSHAKE_BYTES + i]
        if (current && asked === this.sessionId) {
            this.sessionNonce = nonce
            this.takeHandshakeAck(buf, true)
            this.sessionUp(true, resume)
            this.welcome()
            return
        }
        const window = getU16(buf, OFF_WINDOW)
        if (generation > this.highest && this.persistGeneration) {
            this.persisting = true
            this.st = "connecting"
            this.pendingNonce = nonce
            this.pendingWindow = window
            this.pendingResume = resume
            const self = this
            this.persistGeneration(generation, () => self.persisted(generation))
            return
        }
        if (generation > this.highest) this.highest = generation
        this.newSession(generation, nonce, window, resume)
    }

    private persisted(generation: number): void {
        if (!this.persisting) return
        this.persisting = false
        if (generation > this.highest) this.highest = generation
        const resume = this.pendingResume as Buffer
        this.pendingResume = null
        this.newSession(generation, this.pendingNonce, this.pendingWindow, resume)
    }

    private newSession(generation: number, nonce: number, window: number, resume: Buffer): void {
        const old = this.sessionId
        this.resetSession()
        let id = 0
        while (id === 0 || id === old) id = this.randomU32()
        this.sessionId = id
        this.sessionGeneration = generation
        this.sessionNonce = nonce
        // a new session: only the window of the HELLO's ack block counts
        this.openPeerWindow(window)
        this.sessionUp(false, resume)
        this.welcome()
    }

    private welcome(): void {
        this.queueHandshake(FrameType.Welcome, this.member, this.sessionGeneration, this.sessionNonce)
    }

    /** Answers a HELLO with REFUSE; it echoes the HELLO's member and nonce so that the primary
     * knows it is meant, and carries the highest generation accepted. */
    private refuse(reason: number, member: number, nonce: number): void {
        this.counters.refusals++
        const b = this.ctrl
        b[0] = FrameType.Refuse
        for (let i = 1; i < HEADER_BYTES; i++) b[i] = 0
        b[OFF_VERSION] = PROTOCOL_VERSION
        b[OFF_REASON] = reason
        putU16(b, OFF_MEMBER, member)
        putU32(b, OFF_GENERATION, this.highest)
        putU32(b, OFF_NONCE, nonce)
        putU16(b, OFF_MAX_PAYLOAD, this.cfg.maxPayload)
        this.queueControl(HANDSHAKE_BYTES)
    }
}
