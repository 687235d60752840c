import { Clock, Timer } from "../../hal/clock"
import { Link } from "../../hal/link"
import { getU16, getU32, putU16, putU32 } from "../codec/bytes"
import { CobsDecoder, cobsEncodeInto, cobsLead, cobsMaxEncoded } from "../codec/cobs"
import { crc32cUpdate } from "../codec/crc32c"
import { seqDiff, seqNext } from "../seq"
import { ChannelConfig } from "./config"
import {
    CRC_BYTES,
    DATA_HEADER_BYTES,
    FLAG_ACK_NOW,
    FrameType,
    HANDSHAKE_BYTES,
    HEADER_BYTES,
    KNOWN_FLAGS,
    MESSAGE_PREFIX_BYTES,
    OFF_FLAGS,
    OFF_GENERATION,
    OFF_MAX_PAYLOAD,
    OFF_MEMBER,
    OFF_NONCE,
    OFF_REASON,
    OFF_SESSION,
    OFF_TYPE,
    OFF_VERSION,
    PROTOCOL_VERSION,
} from "./frame"
import { ChannelState } from "./receiver"
import { FrameSealer, SEAL_OVERHEAD } from "./seal"
import { ChannelSender, SLOT_LOST, TIME_EPS } from "./sender"

/**
 * One end of the reliable link channel: ordered, exactly-once delivery of opaque messages per
 * session over the lossy byte stream of a Link, with flow control. Sans-I/O: it acts only on
 * events (bytes received, FIFO ready, its timers) through the injected Link and Clock, so the
 * same object runs on a board, in the VM and in the simulator.
 *
 * Contract (both ends)
 * - `send(msg)` copies msg into the send buffer and returns true, or returns false when there
 *   is no room or no session yet; after a false, `onWritable` fires once a whole frame of room
 *   is free (then any message up to maxMessage() fits). A message longer than maxMessage() is a
 *   programming error and throws.
 * - `onMessage(handler)`: handler(msg, len) gets each message of the other end exactly once, in
 *   order, within a session. msg is reused after the call: copy what you keep.
 * - `onSessionUp(handler)`: handler(resumed, resume) when a session comes up. resumed: the
 *   session survived an outage and nothing was lost. Otherwise it is a new session: both ends
 *   start empty (messages not yet acknowledged are discarded and counted) and `resume` is the
 *   other end's resume state (its setResumeState provider) so the application can continue.
 * - `setReceiveCredit(n)`: the application takes n more messages (n < 0: no limit, the default).
 *   Delivery stops at 0; frames then wait in the receive window, which closes, and the sender
 *   stops: this is how the remote holds the primary when its staging is full.
 * - Bad input (CRC, garbage, oversize, unknown type, stale session) is a counted drop.
 *
 * Built in layers: ChannelReceiver (firmware/link/receiver.ts: the receive window and what both
 * halves share), ChannelSender (firmware/link/sender.ts: the send window, acks and
 * retransmission) and this class: the frames in and out, the session and the timers.
 * @devsWhenUsed
 */
export abstract class LinkChannel extends ChannelSender {
    protected resumeProvider!: (() => Buffer) | null

    private decoder: CobsDecoder
    private wire: Buffer
    private wireLen = 0
    private wirePos = 0
    /** A handshake frame waiting to go (built, CRC not yet). */
    protected ctrl: Buffer
    protected ctrlLen = 0
    private small: Buffer
    private probePending!: boolean
    private resetPending = -1
    protected lastProbeAt = 0

    private timer!: Timer | null
    private timerArmed!: boolean
    private timerAt!: number
    private kickArmed!: boolean

    protected sessionHandler!: ((resumed: boolean, resume: Buffer) => void) | null
    /** The sealing layer (docs/FORMAT-link.md §11), or none: frames go in the clear. */
    protected sealer!: FrameSealer | null
    /** Where in the wire buffer a frame is sealed, so that its CRC follows it there and COBS
     * encodes it in place (cobsLead): the link needs no buffer of its own for sealed frames. */
    private lead!: number

    /** `cfg` must pass checkChannelConfig: whoever builds a configuration from outside input
     * checks it (the simulator's and the bench's options); a board's is a constant that a test
     * checks (firmware/boot/primaryFirmware.ts, boardChannelConfig), so the board image carries
     * no check. With `sealer`, every frame in and out is sealed. */
    constructor(
        protected link: Link,
        clock: Clock,
        protected random: () => number,
        cfg: ChannelConfig,
        sealer?: FrameSealer | null
    ) {
        super(clock, cfg, link.bitRate())
        const dataMax = DATA_HEADER_BYTES + cfg.maxPayload + CRC_BYTES
        const ctrlMax = HANDSHAKE_BYTES + cfg.maxResumeBytes + CRC_BYTES
        let frameMax = dataMax
        if (ctrlMax > dataMax) frameMax = ctrlMax
        if (sealer) {
            this.sealer = sealer
            sealer.counters = this.counters
            frameMax += SEAL_OVERHEAD
            this.lead = cobsLead(frameMax)
        }
        this.wire = Buffer.alloc(cobsMaxEncoded(frameMax))
        this.ctrl = Buffer.alloc(ctrlMax)
        this.small = Buffer.alloc(HEADER_BYTES + CRC_BYTES)
        const self = this // the DeviceScript compiler rejects `this` inside arrow functions
        this.decoder = new CobsDecoder(frameMax, (raw, len) => {
            const me = self
            if (len < HEADER_BYTES + CRC_BYTES) {
                me.malformed = me.malformed + 1
                return
            }
            let n = len - CRC_BYTES
            if (crc32cUpdate(0, raw, 0, n) !== getU32(raw, n)) {
                me.counters.droppedCrc = me.counters.droppedCrc + 1
                return
            }
            let buf = raw
            if (me.sealer) {
                const plain = me.sealer.unwrap(raw, n)
                if (!plain) return
                buf = plain
                n = plain.length
            }
            me.received(buf, n)
        })
        link.onReceive((data) => {
            if (self.stopped) return
            const d = self.decoder
            d.push(data, 0, data.length)
            self.counters.droppedOversize = d.droppedOversize
            self.counters.droppedMalformed = d.droppedMalformed + self.malformed
        })
        link.onTxReady(() => {
            if (self.stopped) return
            self.pump()
            self.schedule()
        })
        this.resetSession()
    }

    /** A frame that passed its CRC (and opened, sealed): checked for its type's shape, then
     * taken. */
    protected received(buf: Buffer, n: number): void {
        // known type and flags, and the length the type needs; a DATA frame's messages
        // exactly fill its payload, which is not empty and not over maxPayload
        const type = buf[OFF_TYPE]
        let ok = false
        if ((buf[OFF_FLAGS] & ~KNOWN_FLAGS) === 0) {
            if (type === FrameType.Data) {
                if (n > DATA_HEADER_BYTES)
                    if (n - DATA_HEADER_BYTES <= this.cfg.maxPayload) {
                        let off = DATA_HEADER_BYTES
                        while (off < n) {
                            if (off + MESSAGE_PREFIX_BYTES > n) break
                            off += MESSAGE_PREFIX_BYTES + getU16(buf, off)
                        }
                        ok = off === n
                    }
            } else if (type === FrameType.Ack) ok = n === HEADER_BYTES
            else if (type === FrameType.Reset) ok = n === HEADER_BYTES
            else if (type === FrameType.Refuse) ok = n === HANDSHAKE_BYTES
            else if (type >= FrameType.Hello)
                if (type <= FrameType.Welcome)
                    // a HELLO or WELCOME
                    if (n >= HANDSHAKE_BYTES) ok = n - HANDSHAKE_BYTES <= this.cfg.maxResumeBytes
        }
        if (!ok) {
            this.malformed = this.malformed + 1
            return
        }
        if (type === FrameType.Data) {
            if (this.inSession(buf)) this.onData(buf, n)
        } else if (type === FrameType.Ack) {
            if (this.inSession(buf)) {
                this.applyAck(buf)
                if ((buf[OFF_FLAGS] & FLAG_ACK_NOW) !== 0) this.ackPending = true
                this.kick()
            }
        } else if (type === FrameType.Reset) {
            this.onReset(getU32(buf, OFF_SESSION))
        } else {
            this.onHandshake(type, buf, n)
        }
    }

    // ---- application side ----

    onSessionUp(handler: (resumed: boolean, resume: Buffer) => void): void {
        this.sessionHandler = handler
    }

    /** Supplies the resume state this end sends in its handshake frame (at most maxResumeBytes). */
    setResumeState(provider: () => Buffer): void {
        this.resumeProvider = provider
    }

    state(): ChannelState {
        return this.st
    }

    isUp(): boolean {
        return this.st === "up"
    }

    session(): number {
        return this.sessionId
    }

    /** Stops this end for good (a board shutting down or rebooting): timers are cancelled and
     * events are ignored from now on. Its Link handlers stay registered until replaced. */
    stop(): void {
        this.stopped = true
        this.st = "down"
        if (this.timerArmed) if (this.timer) this.clock.clearTimer(this.timer)
        this.timerArmed = false
    }

    /** Longest message send() takes. */
    maxMessage(): number {
        return this.cfg.maxPayload - MESSAGE_PREFIX_BYTES
    }

    /** Current retransmission timeout in ms. */
    rto(): number {
        return this.rtt.rto()
    }

    // ---- hooks for the two roles ----

    /** Data frames may flow. */
    protected dataAllowed(): boolean {
        if (this.st !== "up") return false
        return this.sessionId !== 0
    }

    protected acceptsMessages(): boolean {
        if (this.sessionId === 0) return false
        if (this.st === "refused") return false
        return !this.stopped
    }

    // each role implements every abstract hook (an image holds only its own role's); the
    // optional ones only the remote

    /** A HELLO, WELCOME or REFUSE arrived. */
    protected abstract onHandshake(type: number, buf: Buffer, n: number): void

    /** A RESET of `session` arrived. */
    protected abstract onReset(session: number): void

    /** A DATA or ACK frame of another session arrived (the remote's: a primary's does
     * nothing). */
    protected onStaleFrame?(session: number): void

    /** The link has been silent for deadMs. */
    protected abstract onDead(): void

    /** A valid frame of the current session arrived (the remote's: a primary's does
     * nothing). */
    protected onAlive?(): void

    /** Earliest deadline of the role's own timers, or -1. */
    protected abstract roleDeadline(): number

    protected abstract onRoleTimers(now: number): void

    // ---- session lifecycle, for the roles ----

    /** Forgets everything of the current session: a new one starts empty (and so does the
     * channel: its constructor starts from here). */
    protected resetSession(): void {
        let discarded = 0
        for (let i = 0; i < this.cfg.txWindow; i++) {
            discarded += this.txMsgs[i]
            this.freeTxSlot(i)
        }
        this.counters.messagesDiscarded = this.counters.messagesDiscarded + discarded
        this.txBase = 0
        this.txBaseIdx = 0
        this.txNext = 0
        this.txSentNext = 0
        this.peerLimit = 0
        this.rackXmit = 0
        this.rxDeliver = 0
        this.rxDeliverIdx = 0
        this.rxDeliverOff = 0
        this.rxNext = 0
        this.rxEcho = 0
        this.rtoAt = -1
        for (let i = 0; i < this.cfg.rxWindow; i++) {
            this.rxHave[i] = false
            this.rxLen[i] = 0
        }
        this.ackPending = false
        this.probePending = false
    }

    /** Resume state from the application for a handshake frame, written at `at`; returns its length. */
    protected putResumeState(dst: Buffer, at: number): number {
        if (!this.resumeProvider) return 0
        const r = this.resumeProvider()
        if (r.length > this.cfg.maxResumeBytes) throw new Error("link: resume state longer than maxResumeBytes")
        dst.set(r, at)
        return r.length
    }

    /** Builds a HELLO or WELCOME in ctrl (with this end's resume state) and queues it. */
    protected queueHandshake(type: number, member: number, generation: number, nonce: number): void {
        const b = this.ctrl
        this.putHeader(b, type, 0, this.sessionId)
        b[OFF_VERSION] = PROTOCOL_VERSION
        b[OFF_REASON] = 0
        putU16(b, OFF_MEMBER, member)
        putU32(b, OFF_GENERATION, generation)
        putU32(b, OFF_NONCE, nonce)
        putU16(b, OFF_MAX_PAYLOAD, this.cfg.maxPayload)
        // this end's resume state after it (as putResumeState; queueControl)
        let n = HANDSHAKE_BYTES
        if (this.resumeProvider) {
            const r = this.resumeProvider()
            if (r.length > this.cfg.maxResumeBytes) throw new Error("link: resume state longer than maxResumeBytes")
            b.set(r, n)
            n += r.length
        }
        this.ctrlLen = n
        this.kick()
    }

    /** Queues a handshake frame of n bytes (CRC excluded) built in ctrl. */
    protected queueControl(n: number): void {
        this.ctrlLen = n
        this.kick()
    }

    protected queueReset(session: number): void {
        this.resetPending = session
        this.kick()
    }

    protected randomU32(): number {
        return Math.floor(this.random() * 4294967296) >>> 0
    }

    /** Runs the pump, deliveries and writable notice on the next turn of the run loop. */
    protected kick(): void {
        if (this.kickArmed) return
        this.kickArmed = true
        const self = this
        this.clock.setTimer(0, () => {
            const me = self
            me.kickArmed = false
            if (me.stopped) return
            me.deliver()
            // a whole free frame: any message fits
            if (me.wantWritable)
                if (me.acceptsMessages()) {
                    const w = me.cfg.txWindow
                    const used = seqDiff(me.txNext, me.txBase)
                    let room = false
                    if (used < w - 1) room = true
                    else if (used < w) if (me.txLen[me.txIdx(me.txNext)] === 0) room = true
                    if (room) {
                        me.wantWritable = false
                        if (me.writableHandler) me.writableHandler()
                    }
                }
            me.pump()
            me.schedule()
        })
    }

    /** Re-arms the single service timer for the earliest deadline. */
    protected schedule(): void {
        if (this.stopped) return
        const cfg = this.cfg
        const clock = this.clock
        // invariant: frames in flight while data may flow always have a retransmission timer
        if (this.rtoAt < 0) if (this.txBase !== this.txSentNext) if (this.dataAllowed()) this.rtoAt = clock.millis() + this.rtt.rto()
        let at = this.rtoAt
        if (this.st === "up") {
            const dead = this.lastRxAt + cfg.deadMs
            if (at < 0) at = dead
            if (dead < at) at = dead
            const keepalive = cfg.keepaliveMs
            if (keepalive > 0) {
                // a probe is due keepalive after the last frame received or probe sent
                const probe = Math.max(this.lastRxAt, this.lastProbeAt) + keepalive
                if (probe < at) at = probe
            }
        }
        const role = this.roleDeadline()
        if (role >= 0) {
            if (at < 0) at = role
            if (role < at) at = role
        }
        if (at < 0) return
        // a timer that fires early is harmless: its service re-arms for what is left
        if (this.timerArmed) {
            if (this.timerAt <= at) return
            if (this.timer) clock.clearTimer(this.timer)
        }
        const t = clock.millis()
        this.timerAt = at
        this.timerArmed = true
        const self = this
        let delay = 0
        if (at > t) delay = at - t
        // the service: what is due (retransmission, the link's death, a keepalive probe, the
        // role's timers), then the timer again
        this.timer = clock.setTimer(delay, () => {
            const me = self
            me.timerArmed = false
            if (me.stopped) return
            const cfg = me.cfg
            const now = me.clock.millis() + TIME_EPS
            if (me.rtoAt >= 0) if (me.rtoAt <= now) me.onRto()
            if (me.st === "up") {
                const keepalive = cfg.keepaliveMs
                if (me.lastRxAt + cfg.deadMs <= now) {
                    me.counters.linkDeaths = me.counters.linkDeaths + 1
                    me.rxEcho = 0
                    me.onDead()
                } else if (keepalive > 0)
                    if (Math.max(me.lastRxAt, me.lastProbeAt) + keepalive <= now) {
                        me.lastProbeAt = me.clock.millis()
                        me.probePending = true
                        me.kick()
                    }
            }
            me.onRoleTimers(now)
            me.schedule()
        })
    }

    // ---- internals ----

    /** Malformed frames found after COBS decoding (the decoder counts its own). */
    private malformed = 0

    private inSession(buf: Buffer): boolean {
        const s = getU32(buf, OFF_SESSION)
        let stale = this.sessionId === 0
        if (s !== this.sessionId) stale = true
        if (stale) {
            this.counters.droppedStale = this.counters.droppedStale + 1
            if (this.onStaleFrame) this.onStaleFrame(s)
            return false
        }
        this.counters.framesReceived = this.counters.framesReceived + 1
        this.lastRxAt = this.clock.millis()
        // the line works again: stop backing off, and do not sit out a long backed-off timer
        this.rtt.resetBackoff()
        const rtoAt = this.lastRxAt + this.rtt.rto()
        if (this.rtoAt > rtoAt) this.rtoAt = rtoAt
        if (this.onAlive) this.onAlive()
        return true
    }

    /** Hands frames to the link until its FIFO is full or nothing is left to send. The next
     * frame is a handshake, a reset, a retransmission, new DATA, then a bare ACK; one DATA frame
     * per turn keeps events short (the next turn continues). */
    private pump(): void {
        const counters = this.counters
        const small = this.small
        let data = false
        while (true) {
            if (this.wirePos < this.wireLen) {
                const n = this.link.write(this.wire.slice(this.wirePos, this.wireLen))
                this.wirePos += n
                if (this.wirePos < this.wireLen) return // onTxReady brings us back
                this.wirePos = 0
                this.wireLen = 0
            }
            if (data) {
                this.kick()
                return
            }
            const n = this.ctrlLen
            if (n > 0) {
                this.ctrlLen = 0
                if (this.ctrl[OFF_TYPE] === FrameType.Hello) counters.hellosSent = counters.hellosSent + 1
                this.seal(this.ctrl, n)
                continue
            }
            const reset = this.resetPending
            if (reset >= 0) {
                // a RESET: its type and session, the rest of the header zero
                for (let k = OFF_FLAGS; k < HEADER_BYTES; k++) small[k] = 0
                small[OFF_TYPE] = FrameType.Reset
                putU32(small, OFF_SESSION, reset)
                this.resetPending = -1
                counters.resetsSent = counters.resetsSent + 1
                this.seal(small, HEADER_BYTES)
                continue
            }
            if (this.dataAllowed()) {
                // a frame found lost goes again first
                const sentNext = this.txSentNext
                let s = this.txBase
                while (s !== sentNext) {
                    if ((this.txFlags[this.txIdx(s)] & SLOT_LOST) !== 0) break
                    s = seqNext(s)
                }
                if (s !== sentNext) {
                    this.encodeData(s)
                    data = true
                    continue
                }
                if (seqDiff(sentNext, this.peerLimit) < 0) {
                    const next = this.txNext
                    if (sentNext === next)
                        if (seqDiff(next, this.txBase) < this.cfg.txWindow)
                            if (this.txLen[this.txIdx(next)] > 0) {
                                this.txNext = seqNext(next) // close the open frame
                            }
                    if (sentNext !== this.txNext) {
                        this.txSentNext = seqNext(sentNext)
                        this.encodeData(sentNext)
                        data = true
                        continue
                    }
                }
            }
            let ack = false
            if (this.ackPending) ack = true
            if (this.probePending) ack = true
            if (!ack) return
            if (this.sessionId === 0) return
            if (this.st === "refused") return
            let flags = 0
            if (this.probePending) {
                flags = FLAG_ACK_NOW
                counters.probesSent = counters.probesSent + 1
            }
            this.probePending = false
            this.putHeader(small, FrameType.Ack, flags, this.sessionId)
            this.seal(small, HEADER_BYTES)
        }
    }

    /** Seals b[0, n) when the link is sealed (into the wire buffer, `lead` bytes in), appends the
     * CRC and COBS-encodes the frame into the wire buffer. */
    protected seal(b: Buffer, n: number): void {
        let at = 0
        if (this.sealer) {
            at = this.lead
            n = this.sealer.wrap(b, n, this.wire, at)
            if (n <= 0) {
                // nothing goes out: no keys yet, or this end's counter is spent (new keys needed)
                this.wireLen = 0
                if (n < 0) this.onDead()
                return
            }
            b = this.wire
        }
        putU32(b, at + n, crc32cUpdate(0, b, at, at + n))
        this.wireLen = cobsEncodeInto(b, at, n + CRC_BYTES, this.wire)
        this.wirePos = 0
        this.counters.framesSent = this.counters.framesSent + 1
    }
}
