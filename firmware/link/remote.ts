import { Clock } from "../../hal/clock"
import { Link } from "../../hal/link"
import { copyOf, getU16, getU32, putU16, putU32 } from "../codec/bytes"
import {
    FrameType,
    HANDSHAKE_BYTES,
    HEADER_BYTES,
    HELLO_RESTORE,
    OFF_ACK,
    OFF_ECHO,
    OFF_GENERATION,
    OFF_MAX_PAYLOAD,
    OFF_MEMBER,
    OFF_NONCE,
    OFF_REASON,
    OFF_SACK,
    OFF_SESSION,
    OFF_VERSION,
    OFF_WINDOW,
    PROTOCOL_VERSION,
    RefuseReason,
} from "./frame"
import { LinkChannel } from "./channel"
import { ChannelConfig } from "./config"
import { FrameSealer } from "./seal"

/** What a HELLO asks of the remote: the WELCOME's repeat, a resume, a new session. */
export const enum HelloAction {
    Repeat = 1,
    Resume = 2,
    New = 3,
}

/**
 * A HELLO the sealed remote answered with a WELCOME, and what it does once the primary shows it
 * holds the WELCOME's keys (firmware/link/remoteSeal.ts): the session state it starts or
 * resumes is untouched until then.
 * @devsWhenUsed
 */
export class HelloOffer {
    /** The session keys of the WELCOME (set when it is sealed). */
    tx: Buffer | null = null
    rx: Buffer | null = null
    constructor(
        readonly action: number,
        /** The HELLO's header: its ack block, the session it asks for. */
        readonly hello: Buffer,
        readonly generation: number,
        readonly nonce: number,
        readonly resume: Buffer,
        /** The session the WELCOME names (a new one's id for HelloAction.New). */
        readonly session: number
    ) {}
}

/** What RemoteChannel needs of its sealing layer beyond framing (firmware/link/remoteSeal.ts). */
export interface RemoteSealer {
    /** The channel it seals for (the channel sets it). */
    channel: RemoteChannel
    /** The nonce of the HELLO opened last (the one the channel is handling). */
    helloNonce(): Buffer | null
    /** The next WELCOME or REFUSE queued answers the HELLO of nonce `np`; `offer`: the
     * WELCOME's (null for a REFUSE). */
    answer(offer: HelloOffer | null, np: Buffer | null): void
    /** The generation a frame under an offer's keys brought is durable: that offer becomes the
     * session now, and the frame is taken (the first one, held while the generation was being
     * persisted; later ones were dropped, and the primary sends them again). */
    persisted(): void
}

/**
 * The remote board's end of the link channel of one member: it answers HELLOs and never
 * opens a session itself.
 *
 * - Generations: HELLO carries the primary's generation. One lower than the highest this link
 *   has accepted for its member is refused (REFUSE, StaleGeneration): a board that came back
 *   from the dead cannot run beside its successor. A higher one is handed to
 *   `persistGeneration(generation, done)` first; the WELCOME goes out only when the owner calls
 *   done(), i.e. once the new highest is durable (sealed: the session waits for it, below).
 * - Sessions: a HELLO asking for the current session (same generation) resumes it: the
 *   receive state stays, the WELCOME's ack block tells the primary where to go on. Anything
 *   else starts a new session with a fresh random id; frames of any other session are
 *   dropped and answered by a RESET (at most one per minRtoMs) so that the primary reconnects.
 * - States: "down" (no session, or the link silent for deadMs), "connecting" (waiting for the
 *   owner to persist a generation), "up".
 * - Sealed (with `sealer`, docs/FORMAT-link.md §11): a HELLO that authenticates gets its WELCOME
 *   at once, with the keys of the session it asks for, but nothing changes (session, receive
 *   state, generation) until a frame under those keys arrives: the primary holds the member key
 *   and the HELLO is not a replay. Then the remote persists a newer generation if needed and
 *   resumes or starts the session as above.
 * @devsWhenUsed
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
    /** The waiting HELLO's header. */
    private pendingHello: Buffer | null = null
    /** Sealed: the offer whose generation is being persisted. */
    private persistingOffer: HelloOffer | null = null
    /** The remote was promoted: HELLOs that do not come to restore are refused (Fenced), with
     * `fencedSeq` (the promoted image's seq) in the REFUSE. */
    private fenced = false
    private fencedSeq = 0
    /** The current session's primary came to restore (HELLO_RESTORE). */
    private restoreSession = false

    constructor(
        link: Link,
        clock: Clock,
        random: () => number,
        cfg: ChannelConfig,
        readonly member: number,
        highestGeneration: number,
        private persistGeneration: ((generation: number, done: () => void) => void) | null,
        private seals?: (FrameSealer & RemoteSealer) | null
    ) {
        super(link, clock, random, cfg, seals)
        this.highest = highestGeneration >>> 0
        if (seals) seals.channel = this
        // the hint, a RESET of session 0 (sealed: in the clear, docs/FORMAT-link.md §4), once
        // as the link starts: a primary whose session this remote (just booted) cannot know
        // connects now, instead of when its link is found dead. Sent to whoever listens, never
        // in answer to anything.
        this.resetSentAt = clock.millis()
        this.queueReset(0)
    }

    /** A frame of the sealed link authenticates under the keys of `offer` (a WELCOME of ours):
     * whether it may be taken (take) now. Not while a generation is being persisted, not one
     * older than the newest accepted since, not a resume of a session that has ended since. */
    admit(offer: HelloOffer): boolean {
        if (this.persisting) return false
        if (offer.generation < this.highest) return false
        if (offer.action !== HelloAction.New) if (offer.session !== this.sessionId) return false
        if (offer.generation > this.highest)
            if (this.persistGeneration) {
                // the primary holds the WELCOME's keys: its generation is a live board's, not a
                // replayed HELLO's (a member's old board, lost, must not shut out the board that
                // restored in its place); made durable before the session takes it (the sealer
                // holds this frame meanwhile and takes it with the session: persisted)
                this.persisting = true
                this.persistingOffer = offer
                const self = this
                const g = offer.generation
                this.persistGeneration(g, () => {
                    self.persisting = false
                    self.persistingOffer = null
                    if (g > self.highest) self.highest = g
                    if (self.seals) self.seals.persisted()
                })
                if (this.persisting) return false
            }
        return true
    }

    /** The frame held while the session's generation was persisted (RemoteSealer.persisted). */
    takeHeld(frame: Buffer): void {
        this.received(frame, frame.length)
    }

    /** Whether the generation being persisted is the one `offer` brought (persistingOffer is
     * set only while a sealed offer's generation is being persisted). */
    persistingFor(offer: HelloOffer): boolean {
        return this.persistingOffer === offer
    }

    /** The offer's keys are the session's now: it does what the HELLO asked. */
    take(offer: HelloOffer): void {
        this.act(offer.action, offer.hello, offer.generation, offer.nonce, offer.resume, offer.session)
    }

    /** The newest generation accepted for this link's member. */
    highestGeneration(): number {
        return this.highest
    }

    /**
     * Fences the member (the remote was promoted as of `seq`): from now on it refuses HELLOs
     * that do not come to restore, and ends a session up that did not; `fenced` false lifts
     * the fence (the role was handed back).
     */
    fence(fenced: boolean, seq: number): void {
        this.fenced = fenced
        this.fencedSeq = seq
        if (fenced) if (!this.restoreSession) this.renew()
    }

    /** The session is up (new or resumed): tell the application, let it send (the primary's
     * end does the same in its handshake). */
    private sessionUp(resumed: boolean, resume: Buffer): void {
        this.st = "up"
        this.lastRxAt = this.clock.millis()
        this.lastProbeAt = this.lastRxAt
        if (resumed) this.counters.sessionsResumed = this.counters.sessionsResumed + 1
        else this.counters.sessionsStarted = this.counters.sessionsStarted + 1
        if (this.sessionHandler) this.sessionHandler(resumed, resume)
        this.kick()
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
        if (this.st === "down") if (this.sessionId !== 0) this.st = "up"
    }

    protected override onStaleFrame(session: number): void {
        const now = this.clock.millis()
        if (this.resetSentAt >= 0) if (now - this.resetSentAt < this.cfg.minRtoMs) return
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
        else if (this.fenced && buf[OFF_REASON] !== HELLO_RESTORE) reason = RefuseReason.Fenced
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
        let action = HelloAction.New
        // a repeat: our WELCOME was lost; the application knows already
        if (current) action = nonce === this.sessionNonce ? HelloAction.Repeat : asked === this.sessionId ? HelloAction.Resume : HelloAction.New
        const resume = Buffer.alloc(n - HANDSHAKE_BYTES)
        for (let i = 0; i < resume.length; i++) resume[i] = buf[HANDSHAKE_BYTES + i]
        const np = this.seals ? this.seals.helloNonce() : null
        if (action === HelloAction.New)
            if (generation > this.highest)
                if (this.persistGeneration)
                    if (!this.seals) {
                        // the WELCOME waits for the new generation to be durable (sealed, the
                        // generation is persisted once the primary shows it holds the WELCOME's
                        // keys: admit)
                        this.persisting = true
                        this.st = "connecting"
                        this.pendingNonce = nonce
                        this.pendingWindow = getU16(buf, OFF_WINDOW)
                        this.pendingResume = resume
                        this.pendingHello = copyOf(buf, 0, HANDSHAKE_BYTES)
                        const self = this
                        this.persistGeneration(generation, () => self.persisted(generation))
                        return
                    }
        if (this.seals) {
            this.offer(action, buf, generation, nonce, resume, np)
            return
        }
        this.act(action, buf, generation, nonce, resume, 0)
        this.welcome()
    }

    /** What a HELLO asked for (`hello`: its header): the session state changes here. */
    private act(action: number, hello: Buffer, generation: number, nonce: number, resume: Buffer, id: number): void {
        if (action === HelloAction.Repeat) {
            if (getU32(hello, OFF_SESSION) === this.sessionId) this.takeHandshakeAck(hello, true)
            this.st = "up"
            this.lastRxAt = this.clock.millis()
        } else if (action === HelloAction.Resume) {
            this.sessionNonce = nonce
            this.takeHandshakeAck(hello, true)
            this.sessionUp(true, resume)
        } else {
            if (generation > this.highest) this.highest = generation
            this.newSession(generation, nonce, getU16(hello, OFF_WINDOW), resume, id, hello[OFF_REASON] === HELLO_RESTORE)
        }
    }

    /** Sealed: answers an authenticated HELLO with the WELCOME of what it asks for, as the
     * session will be once the primary shows it holds the WELCOME's keys (take); until then
     * nothing of the session changes. */
    private offer(action: number, hello: Buffer, generation: number, nonce: number, resume: Buffer, np: Buffer | null): void {
        let session = this.sessionId
        if (action === HelloAction.New) {
            session = 0
            while (session === 0 || session === this.sessionId) session = this.randomU32()
        }
        const b = this.ctrl
        if (action === HelloAction.New) {
            // a new session: it starts empty, every frame buffer free
            b[0] = FrameType.Welcome
            b[1] = 0
            putU32(b, OFF_SESSION, session)
            putU32(b, OFF_ACK, 0)
            putU32(b, OFF_SACK, 0)
            putU16(b, OFF_WINDOW, this.cfg.rxWindow)
            putU16(b, OFF_ECHO, 0)
        } else {
            // this end's ack block as it is; writing it must not change what the session sends
            const echo = this.rxEcho
            const pending = this.ackPending
            this.putHeader(b, FrameType.Welcome, 0, session)
            this.rxEcho = echo
            this.ackPending = pending
        }
        b[OFF_VERSION] = PROTOCOL_VERSION
        b[OFF_REASON] = 0
        putU16(b, OFF_MEMBER, this.member)
        putU32(b, OFF_GENERATION, generation)
        putU32(b, OFF_NONCE, nonce)
        putU16(b, OFF_MAX_PAYLOAD, this.cfg.maxPayload)
        ;(this.seals as RemoteSealer).answer(new HelloOffer(action, copyOf(hello, 0, HANDSHAKE_BYTES), generation, nonce, resume, session), np)
        this.queueControl(HANDSHAKE_BYTES + this.putResumeState(b, HANDSHAKE_BYTES))
    }

    private persisted(generation: number): void {
        if (!this.persisting) return
        this.persisting = false
        if (generation > this.highest) this.highest = generation
        const resume = this.pendingResume as Buffer
        this.pendingResume = null
        this.newSession(generation, this.pendingNonce, this.pendingWindow, resume, 0, (this.pendingHello as Buffer)[OFF_REASON] === HELLO_RESTORE)
        this.welcome()
    }

    /** A new session with id `id` (0: a random one other than the current). */
    private newSession(generation: number, nonce: number, window: number, resume: Buffer, id: number, restore: boolean): void {
        const old = this.sessionId
        this.resetSession()
        while (id === 0 || id === old) id = this.randomU32()
        this.sessionId = id
        this.sessionGeneration = generation
        this.sessionNonce = nonce
        this.restoreSession = restore
        // a new session: only the window of the HELLO's ack block counts
        this.openPeerWindow(window)
        this.sessionUp(false, resume)
    }

    private welcome(): void {
        this.queueHandshake(FrameType.Welcome, this.member, this.sessionGeneration, this.sessionNonce)
    }

    /** Answers a HELLO with REFUSE; it echoes the HELLO's member and nonce so that the primary
     * knows it is meant, and carries the highest generation accepted. */
    private refuse(reason: number, member: number, nonce: number): void {
        this.counters.refusals++
        if (this.seals) this.seals.answer(null, this.seals.helloNonce())
        const b = this.ctrl
        b[0] = FrameType.Refuse
        for (let i = 1; i < HEADER_BYTES; i++) b[i] = 0
        b[OFF_VERSION] = PROTOCOL_VERSION
        b[OFF_REASON] = reason
        putU16(b, OFF_MEMBER, member)
        putU32(b, OFF_GENERATION, reason === RefuseReason.Fenced ? this.fencedSeq : this.highest)
        putU32(b, OFF_NONCE, nonce)
        putU16(b, OFF_MAX_PAYLOAD, this.cfg.maxPayload)
        this.queueControl(HANDSHAKE_BYTES)
    }
}
