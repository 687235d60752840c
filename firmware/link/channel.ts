import { Clock, Timer } from "../../hal/clock"
import { Link } from "../../hal/link"
import { getU16, getU32, putU16, putU32 } from "../codec/bytes"
import { CobsDecoder, cobsEncodeInto, cobsMaxEncoded } from "../codec/cobs"
import { crc32cUpdate } from "../codec/crc32c"
import { seqDiff, seqNext } from "../seq"
import {
    CRC_BYTES,
    DATA_HEADER_BYTES,
    FLAG_ACK_NOW,
    FrameType,
    HANDSHAKE_BYTES,
    HEADER_BYTES,
    KNOWN_FLAGS,
    MAX_WINDOW,
    MESSAGE_PREFIX_BYTES,
    OFF_ACK,
    OFF_ECHO,
    OFF_FLAGS,
    OFF_GENERATION,
    OFF_MAX_PAYLOAD,
    OFF_MEMBER,
    OFF_NONCE,
    OFF_REASON,
    OFF_SACK,
    OFF_SEQ,
    OFF_SESSION,
    OFF_TYPE,
    OFF_WINDOW,
    OFF_VERSION,
    OFF_XMIT,
    PROTOCOL_VERSION,
    SACK_BITS,
} from "./frame"
import { RttEstimator } from "./rtt"

/** Settings of one end of the link channel. Defaults: defaultChannelConfig(). */
export interface ChannelConfig {
    /** Most bytes of messages one DATA frame carries, 2-byte length prefixes included. Both
     * ends must use the same value (the handshake checks it). */
    maxPayload: number
    /** Frames this end keeps for sending (its send buffer is txWindow frames). 1..32. */
    txWindow: number
    /** Frames this end can hold received out of order or not yet delivered (the receive
     * window it advertises). 1..32. */
    rxWindow: number
    initialRtoMs: number
    minRtoMs: number
    maxRtoMs: number
    /** Send a keepalive probe after this long without receiving a frame; 0: never probe (the
     * remote answers the primary's probes and need not send its own). */
    keepaliveMs: number
    /** The link counts as dead after this long without a valid frame of the session. */
    deadMs: number
    /** How long a HELLO waits for its answer before the attempt counts as failed. */
    handshakeTimeoutMs: number
    /** Reconnect backoff: first ceiling and cap (see ReconnectBackoff). */
    backoffBaseMs: number
    backoffCapMs: number
    /** Longest resume state a HELLO or WELCOME may carry. */
    maxResumeBytes: number
}

/** Four messages of 272 bytes (a 256-byte portion with a 16-byte header) and their length
 * prefixes fill one frame: 4 * 274 = 1096. */
export const DEFAULT_MAX_PAYLOAD = 1096

export function defaultChannelConfig(): ChannelConfig {
    return {
        maxPayload: DEFAULT_MAX_PAYLOAD,
        txWindow: 8,
        rxWindow: 8,
        initialRtoMs: 1000,
        minRtoMs: 50,
        maxRtoMs: 4000,
        keepaliveMs: 500,
        deadMs: 3000,
        handshakeTimeoutMs: 1000,
        backoffBaseMs: 200,
        backoffCapMs: 10000,
        maxResumeBytes: 64,
    }
}

/** Bytes of RAM one end of the channel allocates for its buffers with this configuration (a
 * number is 8 bytes on the board): the send and receive windows, the wire and decoder
 * buffers, the delivery buffer and the transmission times kept for RTT samples. */
export function channelRamBytes(c: ChannelConfig): number {
    const dataMax = DATA_HEADER_BYTES + c.maxPayload + CRC_BYTES
    const ctrlMax = HANDSHAKE_BYTES + c.maxResumeBytes + CRC_BYTES
    const frameMax = dataMax > ctrlMax ? dataMax : ctrlMax
    return (
        c.txWindow * (dataMax + 32) + c.rxWindow * (c.maxPayload + 16) + cobsMaxEncoded(frameMax) + frameMax + ctrlMax + c.maxPayload +
        XMIT_RING * 8
    )
}

/** Null when the configuration is usable, else what is wrong with it. */
export function checkChannelConfig(c: ChannelConfig): string | null {
    if (!(c.maxPayload >= 16 && c.maxPayload <= 65535 - DATA_HEADER_BYTES)) return "maxPayload out of range"
    if (!(c.txWindow >= 1 && c.txWindow <= MAX_WINDOW)) return "txWindow must be 1..32"
    if (!(c.rxWindow >= 1 && c.rxWindow <= MAX_WINDOW)) return "rxWindow must be 1..32"
    if (!(c.minRtoMs > 0 && c.minRtoMs <= c.initialRtoMs && c.initialRtoMs <= c.maxRtoMs)) return "need 0 < minRto <= initialRto <= maxRto"
    if (!(c.keepaliveMs >= 0 && c.deadMs > c.keepaliveMs)) return "need 0 <= keepalive < dead"
    if (!(c.handshakeTimeoutMs > 0)) return "handshakeTimeoutMs must be > 0"
    if (!(c.backoffBaseMs > 0 && c.backoffCapMs >= c.backoffBaseMs)) return "need 0 < backoffBase <= backoffCap"
    if (!(c.maxResumeBytes >= 0 && c.maxResumeBytes <= 1024)) return "maxResumeBytes must be 0..1024"
    return null
}

/** @devsWhenUsed */
export class ChannelCounters {
    /** Frames handed to the link, of every type. */
    framesSent = 0
    dataFramesSent = 0
    /** DATA frames sent again. */
    retransmissions = 0
    probesSent = 0
    hellosSent = 0
    resetsSent = 0
    /** Valid frames received (CRC good, well formed, of the current session or a handshake). */
    framesReceived = 0
    droppedCrc = 0
    /** Bad COBS, too short, bad lengths, unknown type or flags. */
    droppedMalformed = 0
    /** Longer than the largest frame this end accepts. */
    droppedOversize = 0
    /** A type this end does not take (a HELLO at the primary, a WELCOME at the remote). */
    droppedUnexpected = 0
    /** Another session, generation or handshake attempt. */
    droppedStale = 0
    /** DATA frames received before. */
    droppedDuplicate = 0
    /** DATA frames beyond the advertised window. */
    droppedOutOfWindow = 0
    /** Ack blocks that acknowledged frames never sent (ignored). */
    badAcks = 0
    payloadBytesSent = 0
    /** Messages the other end has acknowledged. */
    messagesAcked = 0
    messagesDelivered = 0
    payloadBytesDelivered = 0
    /** Messages dropped unacknowledged because a new session began. */
    messagesDiscarded = 0
    /** Retransmission timer expiries. */
    timeouts = 0
    /** Frames found lost because a frame sent after them was acknowledged. */
    lossesDetected = 0
    sessionsStarted = 0
    sessionsResumed = 0
    refusals = 0
    handshakeTimeouts = 0
    /** Times the link was declared dead (no frame for deadMs, or a RESET from the remote). */
    linkDeaths = 0
    resetsReceived = 0
    /** Sessions the remote ended itself to have the primary send again (RemoteChannel.renew). */
    sessionsRenewed = 0
}

export type ChannelState = "down" | "connecting" | "up" | "refused"

const SLOT_SACKED = 1
const SLOT_LOST = 2
const SLOT_RETX = 4

/** What encodeNext put into the wire buffer. */
const NOTHING = 0
const CONTROL = 1
const DATA = 2

/** Slack for comparing virtual times computed by adding delays (fractions of a ms). */
const TIME_EPS = 1e-6

/** Send times kept for RTT samples: more than the transmissions of one round trip. */
const XMIT_RING = 64

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
 * @devsWhenUsed
 */
export abstract class LinkChannel {
    readonly counters = new ChannelCounters()
    protected cfg: ChannelConfig
    protected rtt: RttEstimator
    protected st: ChannelState = "down"
    /** The current session, 0 for none. */
    protected sessionId = 0
    protected lastRxAt = 0
    protected resumeProvider!: (() => Buffer) | null

    private decoder: CobsDecoder
    private wire: Buffer
    private wireLen = 0
    private wirePos = 0
    /** A handshake frame waiting to go (built, CRC not yet). */
    protected ctrl: Buffer
    protected ctrlLen = 0
    private small: Buffer
    private probePending = false
    private resetPending = -1
    private lastProbeAt = 0

    // send side: slots hold DATA frames [txBase, txNext) closed and txNext open (being filled)
    private txSlots: Buffer[] = []
    private txLen: number[] = []
    private txMsgs: number[] = []
    /** Transmission number of each slot's latest transmission (0: never sent). */
    private txXmit: number[] = []
    private txFlags: number[] = []
    private txBase = 0
    private txBaseIdx = 0
    private txNext = 0
    /** First frame never sent: frames in [txSentNext, txNext) are closed and waiting. */
    private txSentNext = 0
    /** The other end takes frames with seq before this. */
    private peerLimit = 0
    /** DATA transmissions so far; the last XMIT_RING send times are kept for RTT samples. */
    private xmitCount = 0
    private xmitSentAt: number[] = []
    /** Newest transmission known to have arrived (the other end echoed it): a frame sent
     * before it and not acknowledged is lost, since a byte stream never reorders. */
    private rackXmit = 0
    private wantWritable = false
    private rtoAt = -1
    private lastRtoAt = -1

    // receive side: frames [rxDeliver, rxNext) complete; rxNext is the cumulative ack
    private rxSlots: Buffer[] = []
    private rxLen: number[] = []
    private rxHave: boolean[] = []
    private rxDeliver = 0
    private rxDeliverIdx = 0
    private rxDeliverOff = 0
    private rxNext = 0
    private credit = -1
    private ackPending = false
    /** xmit of the newest DATA frame received and not yet echoed (0: none). */
    private rxEcho = 0
    private msgBuf: Buffer

    private timer!: Timer | null
    private timerArmed = false
    private timerAt!: number
    private kickArmed = false
    private stopped = false

    private messageHandler!: ((msg: Buffer, len: number) => void) | null
    private writableHandler!: (() => void) | null
    private sessionHandler!: ((resumed: boolean, resume: Buffer) => void) | null

    /** `cfg` must pass checkChannelConfig: whoever builds a configuration from outside input
     * checks it (the simulator's and the bench's options); a board's is a constant that a test
     * checks (firmware/boot/primaryFirmware.ts, boardChannelConfig), so the board image carries
     * no check. */
    constructor(protected link: Link, protected clock: Clock, protected random: () => number, cfg: ChannelConfig) {
        this.cfg = cfg
        const dataMax = DATA_HEADER_BYTES + cfg.maxPayload + CRC_BYTES
        const bitRate = link.bitRate()
        const frameMs = bitRate > 0 ? (cobsMaxEncoded(dataMax) * 10000) / bitRate : 0
        this.rtt = new RttEstimator(cfg.minRtoMs, cfg.maxRtoMs, cfg.initialRtoMs, frameMs)
        const ctrlMax = HANDSHAKE_BYTES + cfg.maxResumeBytes + CRC_BYTES
        const frameMax = dataMax > ctrlMax ? dataMax : ctrlMax
        this.wire = Buffer.alloc(cobsMaxEncoded(frameMax))
        this.ctrl = Buffer.alloc(ctrlMax)
        this.small = Buffer.alloc(HEADER_BYTES + CRC_BYTES)
        this.msgBuf = Buffer.alloc(cfg.maxPayload)
        for (let i = 0; i < cfg.txWindow; i++) {
            this.txSlots.push(Buffer.alloc(dataMax))
            this.txLen.push(0)
            this.txMsgs.push(0)
            this.txXmit.push(0)
            this.txFlags.push(0)
        }
        for (let i = 0; i < XMIT_RING; i++) this.xmitSentAt.push(0)
        for (let i = 0; i < cfg.rxWindow; i++) {
            this.rxSlots.push(Buffer.alloc(cfg.maxPayload))
            this.rxLen.push(0)
            this.rxHave.push(false)
        }
        const self = this // the DeviceScript compiler rejects `this` inside arrow functions
        this.decoder = new CobsDecoder(frameMax, (buf, len) => {
            if (len < HEADER_BYTES + CRC_BYTES) {
                self.malformed++
                return
            }
            const n = len - CRC_BYTES
            if (crc32cUpdate(0, buf, 0, n) !== getU32(buf, n)) {
                self.counters.droppedCrc++
                return
            }
            const type = buf[OFF_TYPE]
            if (!self.wellFormed(type, buf, n)) {
                self.malformed++
                return
            }
            if (type === FrameType.Data) {
                if (self.inSession(buf)) self.onData(buf, n)
            } else if (type === FrameType.Ack) {
                if (self.inSession(buf)) {
                    self.applyAck(buf)
                    if ((buf[OFF_FLAGS] & FLAG_ACK_NOW) !== 0) self.ackPending = true
                    self.kick()
                }
            } else if (type === FrameType.Reset) {
                self.onReset(getU32(buf, OFF_SESSION))
            } else {
                self.onHandshake(type, buf, n)
            }
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
    }

    // ---- application side ----

    /** Queues a message; false when there is no room or no session (see the class contract). */
    send(msg: Buffer): boolean {
        const need = MESSAGE_PREFIX_BYTES + msg.length
        if (need > this.cfg.maxPayload) throw new Error("link: message longer than maxMessage()")
        const w = this.cfg.txWindow
        if (!this.acceptsMessages() || seqDiff(this.txNext, this.txBase) >= w) {
            this.wantWritable = true
            return false
        }
        let i = this.txIdx(this.txNext)
        if (this.txLen[i] + need > this.cfg.maxPayload) {
            // the open frame is full: close it, open the next
            this.txNext = seqNext(this.txNext)
            if (seqDiff(this.txNext, this.txBase) >= w) {
                this.wantWritable = true
                return false
            }
            i = this.txIdx(this.txNext)
        }
        const slot = this.txSlots[i]
        const at = DATA_HEADER_BYTES + this.txLen[i]
        putU16(slot, at, msg.length)
        slot.set(msg, at + MESSAGE_PREFIX_BYTES)
        this.txLen[i] += need
        this.txMsgs[i]++
        this.counters.payloadBytesSent += msg.length
        this.kick()
        return true
    }

    onMessage(handler: (msg: Buffer, len: number) => void): void {
        this.messageHandler = handler
    }

    onWritable(handler: () => void): void {
        this.writableHandler = handler
    }

    onSessionUp(handler: (resumed: boolean, resume: Buffer) => void): void {
        this.sessionHandler = handler
    }

    /** Supplies the resume state this end sends in its handshake frame (at most maxResumeBytes). */
    setResumeState(provider: () => Buffer): void {
        this.resumeProvider = provider
    }

    /** The application takes n more messages; n < 0: no limit. */
    setReceiveCredit(n: number): void {
        this.credit = n < 0 ? -1 : Math.floor(n)
        this.kick()
    }

    receiveCredit(): number {
        return this.credit
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

    /** Messages accepted by send() and not yet acknowledged by the other end. */
    unacknowledged(): number {
        let n = 0
        let s = this.txBase
        const end = seqNext(this.txNext)
        while (s !== end && seqDiff(s, this.txBase) < this.cfg.txWindow) {
            n += this.txMsgs[this.txIdx(s)]
            s = seqNext(s)
        }
        return n
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

    // each role implements every hook (abstract: an image holds only its own role's)

    /** A HELLO, WELCOME or REFUSE arrived. */
    protected abstract onHandshake(type: number, buf: Buffer, n: number): void

    /** A RESET of `session` arrived. */
    protected abstract onReset(session: number): void

    /** A DATA or ACK frame of another session arrived. */
    protected abstract onStaleFrame(session: number): void

    /** The link has been silent for deadMs. */
    protected abstract onDead(): void

    /** A valid frame of the current session arrived. */
    protected abstract onAlive(): void

    /** Earliest deadline of the role's own timers, or -1. */
    protected abstract roleDeadline(): number

    protected abstract onRoleTimers(now: number): void

    // ---- session lifecycle, for the roles ----

    /** Forgets everything of the current session: a new one starts empty. */
    protected resetSession(): void {
        let discarded = 0
        for (let i = 0; i < this.cfg.txWindow; i++) {
            discarded += this.txMsgs[i]
            this.freeTxSlot(i)
        }
        this.counters.messagesDiscarded += discarded
        this.txBase = 0
        this.txBaseIdx = 0
        this.txNext = 0
        this.txSentNext = 0
        this.peerLimit = 0
        this.rackXmit = 0
        this.rtoAt = -1
        for (let i = 0; i < this.cfg.rxWindow; i++) {
            this.rxHave[i] = false
            this.rxLen[i] = 0
        }
        this.rxDeliver = 0
        this.rxDeliverIdx = 0
        this.rxDeliverOff = 0
        this.rxNext = 0
        this.ackPending = false
        this.probePending = false
        this.rxEcho = 0
    }

    /**
     * Takes the ack block of the other end's handshake frame: for a resumed session it
     * acknowledges what arrived during the outage and everything else in flight is sent again;
     * for a new session only its window counts.
     */
    protected takeHandshakeAck(buf: Buffer, resumed: boolean): void {
        if (resumed) {
            this.applyAck(buf)
            let s = this.txBase
            while (s !== this.txSentNext) {
                const i = this.txIdx(s)
                if ((this.txFlags[i] & (SLOT_SACKED | SLOT_LOST)) === 0) this.txFlags[i] |= SLOT_LOST
                s = seqNext(s)
            }
            this.rtoAt = -1
        } else {
            this.openPeerWindow(getU16(buf, OFF_WINDOW))
        }
    }

    /** A new session: the other end takes frames 0 .. window-1. */
    protected openPeerWindow(window: number): void {
        this.peerLimit = window
    }

    /** The session is up (new or resumed): tell the application, let it send. */
    protected sessionUp(resumed: boolean, resume: Buffer): void {
        this.st = "up"
        this.lastRxAt = this.clock.millis()
        this.lastProbeAt = this.lastRxAt
        if (resumed) this.counters.sessionsResumed++
        else this.counters.sessionsStarted++
        if (this.sessionHandler) this.sessionHandler(resumed, resume)
        this.kick()
    }

    /** Resume state from the application for a handshake frame, written at `at`; returns its length. */
    protected putResumeState(dst: Buffer, at: number): number {
        if (!this.resumeProvider) return 0
        const r = this.resumeProvider()
        if (r.length > this.cfg.maxResumeBytes) throw new Error("link: resume state longer than maxResumeBytes")
        dst.set(r, at)
        return r.length
    }

    /** Writes the common header of a frame: type, flags, session and this end's ack block. */
    protected putHeader(b: Buffer, type: number, flags: number, session: number): void {
        b[OFF_TYPE] = type
        b[OFF_FLAGS] = flags
        putU32(b, OFF_SESSION, session)
        putU32(b, OFF_ACK, this.rxNext)
        let sack = 0
        for (let k = 0; k < SACK_BITS; k++) {
            const off = seqDiff(this.rxNext, this.rxDeliver) + 1 + k
            if (off >= this.cfg.rxWindow) break
            if (this.rxHave[(this.rxDeliverIdx + off) % this.cfg.rxWindow]) sack |= 1 << k
        }
        putU32(b, OFF_SACK, sack)
        putU16(b, OFF_WINDOW, this.cfg.rxWindow - seqDiff(this.rxNext, this.rxDeliver))
        // Each echo goes out once, in the first DATA or ACK after the DATA it names, so that an
        // RTT sample never includes the time an ack waited for a later chance (a handshake
        // after an outage would measure the outage).
        const live = type === FrameType.Data || type === FrameType.Ack
        putU16(b, OFF_ECHO, live ? this.rxEcho : 0)
        this.rxEcho = 0
        this.ackPending = false
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
        this.queueControl(HANDSHAKE_BYTES + this.putResumeState(b, HANDSHAKE_BYTES))
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
            self.kickArmed = false
            if (self.stopped) return
            self.deliver()
            if (self.wantWritable) if (self.hasRoom()) {
                self.wantWritable = false
                if (self.writableHandler) self.writableHandler()
            }
            self.pump()
            self.schedule()
        })
    }

    /** Re-arms the single service timer for the earliest deadline. */
    protected schedule(): void {
        if (this.stopped) return
        // invariant: frames in flight while data may flow always have a retransmission timer
        if (this.rtoAt < 0) if (this.txBase !== this.txSentNext) if (this.dataAllowed()) this.rtoAt = this.clock.millis() + this.rtt.rto()
        let at = this.rtoAt
        if (this.st === "up") {
            const dead = this.lastRxAt + this.cfg.deadMs
            if (at < 0 || dead < at) at = dead
            if (this.cfg.keepaliveMs > 0) {
                const probe = this.probeBase() + this.cfg.keepaliveMs
                if (probe < at) at = probe
            }
        }
        const role = this.roleDeadline()
        if (role >= 0) if (at < 0 || role < at) at = role
        if (at < 0) return
        // a timer that fires early is harmless: service() re-arms for what is left
        if (this.timerArmed) if (this.timerAt <= at) return
        if (this.timerArmed) if (this.timer) this.clock.clearTimer(this.timer)
        const now = this.clock.millis()
        this.timerAt = at
        this.timerArmed = true
        const self = this
        this.timer = this.clock.setTimer(at > now ? at - now : 0, () => {
            self.timerArmed = false
            self.service()
        })
    }

    // ---- internals ----

    private txIdx(seq: number): number {
        return (this.txBaseIdx + seqDiff(seq, this.txBase)) % this.cfg.txWindow
    }

    private freeTxSlot(i: number): void {
        this.txLen[i] = 0
        this.txMsgs[i] = 0
        this.txFlags[i] = 0
        this.txXmit[i] = 0
    }

    private probeBase(): number {
        return this.lastRxAt > this.lastProbeAt ? this.lastRxAt : this.lastProbeAt
    }

    /** A whole free frame: any message fits. */
    private hasRoom(): boolean {
        if (!this.acceptsMessages()) return false
        const used = seqDiff(this.txNext, this.txBase)
        if (used < this.cfg.txWindow - 1) return true
        return used < this.cfg.txWindow && this.txLen[this.txIdx(this.txNext)] === 0
    }

    private service(): void {
        if (this.stopped) return
        const now = this.clock.millis() + TIME_EPS
        if (this.rtoAt >= 0) if (this.rtoAt <= now) this.onRto()
        if (this.st === "up") {
            if (this.lastRxAt + this.cfg.deadMs <= now) {
                this.counters.linkDeaths++
                this.rxEcho = 0
                this.onDead()
            } else if (this.cfg.keepaliveMs > 0) if (this.probeBase() + this.cfg.keepaliveMs <= now) {
                this.lastProbeAt = this.clock.millis()
                this.probePending = true
                this.kick()
            }
        }
        this.onRoleTimers(now)
        this.schedule()
    }

    private onRto(): void {
        this.rtoAt = -1
        if (!this.dataAllowed()) return
        if (this.txBase === this.txSentNext) return
        const now = this.clock.millis()
        if (this.lastRxAt > this.lastRtoAt) {
            // The other end was heard since the last timeout: the line works and our frames
            // were corrupted. Send again every frame unacknowledged for a whole RTO, without
            // backing off; frames sent more recently keep their own deadline.
            const rto = this.rtt.rto()
            let marked = false
            let next = -1
            let s = this.txBase
            while (s !== this.txSentNext) {
                const i = this.txIdx(s)
                if ((this.txFlags[i] & (SLOT_SACKED | SLOT_LOST)) === 0) {
                    // the send time of its latest transmission; long ago when out of the ring
                    const x = this.txXmit[i]
                    const due = (x <= 0 || this.xmitCount - x >= XMIT_RING ? -1e12 : this.xmitSentAt[x % XMIT_RING]) + rto
                    if (due <= now + TIME_EPS) {
                        this.txFlags[i] |= SLOT_LOST
                        marked = true
                    } else if (next < 0 || due < next) next = due
                }
                s = seqNext(s)
            }
            if (!marked) {
                // nothing due yet: the timer ran from an older ack
                this.rtoAt = next
                return
            }
        } else {
            // Silence: probably an outage. Probe with the oldest frame only and wait twice as
            // long next time; once the probe is acknowledged, RACK finds the rest.
            this.txFlags[this.txBaseIdx] |= SLOT_LOST
            this.rtt.backoff()
        }
        this.counters.timeouts++
        this.lastRtoAt = now
        this.rtoAt = now + this.rtt.rto()
        this.kick()
    }

    /** Malformed frames found after COBS decoding (the decoder counts its own). */
    private malformed = 0

    /** Known type and flags, and the length the type needs; a DATA frame's messages exactly
     * fill its payload, which is not empty and not over maxPayload. */
    private wellFormed(type: number, buf: Buffer, n: number): boolean {
        if ((buf[OFF_FLAGS] & ~KNOWN_FLAGS) !== 0) return false
        if (type === FrameType.Data) {
            if (n <= DATA_HEADER_BYTES) return false
            if (n - DATA_HEADER_BYTES > this.cfg.maxPayload) return false
            let off = DATA_HEADER_BYTES
            while (off < n) {
                if (off + MESSAGE_PREFIX_BYTES > n) return false
                off += MESSAGE_PREFIX_BYTES + getU16(buf, off)
            }
            return off === n
        }
        if (type === FrameType.Ack) return n === HEADER_BYTES
        if (type === FrameType.Reset) return n === HEADER_BYTES
        if (type === FrameType.Hello || type === FrameType.Welcome) return n >= HANDSHAKE_BYTES && n - HANDSHAKE_BYTES <= this.cfg.maxResumeBytes
        if (type === FrameType.Refuse) return n === HANDSHAKE_BYTES
        return false
    }

    private inSession(buf: Buffer): boolean {
        const s = getU32(buf, OFF_SESSION)
        if (this.sessionId === 0 || s !== this.sessionId) {
            this.counters.droppedStale++
            this.onStaleFrame(s)
            return false
        }
        this.counters.framesReceived++
        this.lastRxAt = this.clock.millis()
        // the line works again: stop backing off, and do not sit out a long backed-off timer
        this.rtt.resetBackoff()
        const rtoAt = this.lastRxAt + this.rtt.rto()
        if (this.rtoAt > rtoAt) this.rtoAt = rtoAt
        this.onAlive()
        return true
    }

    private onData(buf: Buffer, n: number): void {
        this.applyAck(buf)
        this.rxEcho = getU16(buf, OFF_XMIT)
        this.ackPending = true
        this.kick()
        const seq = getU32(buf, OFF_SEQ)
        if (seqDiff(seq, this.rxNext) < 0) {
            this.counters.droppedDuplicate++
            return
        }
        const off = seqDiff(seq, this.rxDeliver)
        const w = this.cfg.rxWindow
        if (off >= w) {
            this.counters.droppedOutOfWindow++
            return
        }
        const i = (this.rxDeliverIdx + off) % w
        if (this.rxHave[i]) {
            this.counters.droppedDuplicate++
            return
        }
        const slot = this.rxSlots[i]
        const len = n - DATA_HEADER_BYTES
        for (let k = 0; k < len; k++) slot[k] = buf[DATA_HEADER_BYTES + k]
        this.rxLen[i] = len
        this.rxHave[i] = true
        while (seqDiff(this.rxNext, this.rxDeliver) < w && this.rxHave[(this.rxDeliverIdx + seqDiff(this.rxNext, this.rxDeliver)) % w]) {
            this.rxNext = seqNext(this.rxNext)
        }
    }

    /** Takes the other end's ack block: cumulative ack, SACK bits, window and echo. */
    protected applyAck(buf: Buffer): void {
        const ack = getU32(buf, OFF_ACK)
        if (seqDiff(ack, this.txBase) < 0 || seqDiff(ack, this.txSentNext) > 0) {
            this.counters.badAcks++
            return
        }
        const now = this.clock.millis()
        let progressed = false
        while (this.txBase !== ack) {
            const i = this.txBaseIdx
            this.counters.messagesAcked += this.txMsgs[i]
            this.freeTxSlot(i)
            this.txBase = seqNext(this.txBase)
            this.txBaseIdx = (i + 1) % this.cfg.txWindow
            progressed = true
        }
        const sack = getU32(buf, OFF_SACK)
        if (sack !== 0) {
            for (let k = 0; k < SACK_BITS; k++) {
                if (((sack >>> k) & 1) === 0) continue
                const s = (ack + 1 + k) >>> 0
                if (seqDiff(s, this.txSentNext) >= 0) break
                const i = this.txIdx(s)
                if ((this.txFlags[i] & SLOT_SACKED) !== 0) continue
                this.txFlags[i] = (this.txFlags[i] | SLOT_SACKED) & ~SLOT_LOST
                progressed = true
            }
        }
        const limit = (ack + getU16(buf, OFF_WINDOW)) >>> 0
        if (seqDiff(limit, this.peerLimit) > 0) this.peerLimit = limit
        // The echo names the newest transmission that arrived: an exact RTT sample even for a
        // retransmission (no Karn ambiguity), and the reference for loss detection.
        const echo = getU16(buf, OFF_ECHO)
        if (echo !== 0) {
            const x = this.xmitCount - ((this.xmitCount - echo) & 0xffff)
            if (x > 0) if (this.xmitCount - x < XMIT_RING) {
                this.rtt.sample(now - this.xmitSentAt[x % XMIT_RING])
            }
            if (x > this.rackXmit) this.rackXmit = x
        }
        // RACK without a reordering window: the byte stream keeps frames in order
        let s = this.txBase
        while (s !== this.txSentNext) {
            const i = this.txIdx(s)
            if ((this.txFlags[i] & (SLOT_SACKED | SLOT_LOST)) === 0) if (this.txXmit[i] < this.rackXmit) {
                this.txFlags[i] |= SLOT_LOST
                this.counters.lossesDetected++
            }
            s = seqNext(s)
        }
        // invariant: acknowledged <= sent <= closed, all within the send buffer
        if (seqDiff(this.txSentNext, this.txBase) < 0 || seqDiff(this.txNext, this.txSentNext) < 0 || seqDiff(this.txNext, this.txBase) > this.cfg.txWindow) {
            throw new Error("link: send window out of order")
        }
        if (progressed) {
            this.rtt.resetBackoff()
            this.rtoAt = this.txBase !== this.txSentNext ? now + this.rtt.rto() : -1
            if (this.wantWritable) this.kick()
        }
    }

    /** Delivers the messages of the oldest complete frame, as far as credit allows. One frame
     * per turn keeps each event short; the next turn continues. */
    private deliver(): void {
        if (seqDiff(this.rxDeliver, this.rxNext) >= 0) return
        const i = this.rxDeliverIdx
        const slot = this.rxSlots[i]
        const len = this.rxLen[i]
        const session = this.sessionId
        const out = this.msgBuf
        while (this.rxDeliverOff < len) {
            if (this.credit === 0) return
            const mlen = getU16(slot, this.rxDeliverOff)
            const start = this.rxDeliverOff + MESSAGE_PREFIX_BYTES
            for (let k = 0; k < mlen; k++) out[k] = slot[start + k]
            this.rxDeliverOff = start + mlen
            if (this.credit > 0) this.credit--
            this.counters.messagesDelivered++
            this.counters.payloadBytesDelivered += mlen
            if (this.messageHandler) this.messageHandler(out, mlen)
            if (this.sessionId !== session) return
        }
        // invariant: a frame is delivered whole (its lengths were checked when it arrived)
        if (this.rxDeliverOff !== len) throw new Error("link: frame delivered in part")
        this.rxHave[i] = false
        this.rxLen[i] = 0
        this.rxDeliverOff = 0
        this.rxDeliver = seqNext(this.rxDeliver)
        this.rxDeliverIdx = (i + 1) % this.cfg.rxWindow
        // the window opened: say so
        this.ackPending = true
        this.kick()
    }

    /** Hands frames to the link until its FIFO is full or nothing is left to send. */
    private pump(): void {
        let dataFrames = 0
        while (true) {
            if (this.wirePos < this.wireLen) {
                const n = this.link.write(this.wire.slice(this.wirePos, this.wireLen))
                this.wirePos += n
                if (this.wirePos < this.wireLen) return // onTxReady brings us back
                this.wirePos = 0
                this.wireLen = 0
            }
            if (dataFrames > 0) {
                // one DATA frame per turn keeps events short; continue on the next turn
                this.kick()
                return
            }
            const kind = this.encodeNext()
            if (kind === NOTHING) return
            if (kind === DATA) dataFrames++
        }
    }

    /** Puts the next frame to send into the wire buffer: handshake, reset, retransmission,
     * new DATA, then a bare ACK. */
    private encodeNext(): number {
        if (this.ctrlLen > 0) {
            const n = this.ctrlLen
            this.ctrlLen = 0
            if (this.ctrl[OFF_TYPE] === FrameType.Hello) this.counters.hellosSent++
            this.seal(this.ctrl, n)
            return CONTROL
        }
        if (this.resetPending >= 0) {
            const b = this.small
            b[OFF_TYPE] = FrameType.Reset
            b[OFF_FLAGS] = 0
            putU32(b, OFF_SESSION, this.resetPending)
            putU32(b, OFF_ACK, 0)
            putU32(b, OFF_SACK, 0)
            putU16(b, OFF_WINDOW, 0)
            putU16(b, OFF_ECHO, 0)
            this.resetPending = -1
            this.counters.resetsSent++
            this.seal(this.small, HEADER_BYTES)
            return CONTROL
        }
        if (this.dataAllowed()) {
            let s = this.txBase
            while (s !== this.txSentNext) {
                if ((this.txFlags[this.txIdx(s)] & SLOT_LOST) !== 0) {
                    this.encodeData(s)
                    return DATA
                }
                s = seqNext(s)
            }
            if (seqDiff(this.txSentNext, this.peerLimit) < 0) {
                if (this.txSentNext === this.txNext) if (seqDiff(this.txNext, this.txBase) < this.cfg.txWindow) if (this.txLen[this.txIdx(this.txNext)] > 0) {
                    this.txNext = seqNext(this.txNext) // close the open frame
                }
                if (this.txSentNext !== this.txNext) {
                    const seq = this.txSentNext
                    this.txSentNext = seqNext(seq)
                    this.encodeData(seq)
                    return DATA
                }
            }
        }
        if (this.ackPending || this.probePending) if (this.sessionId !== 0) if (this.st !== "refused") {
            const probe = this.probePending
            this.probePending = false
            this.putHeader(this.small, FrameType.Ack, probe ? FLAG_ACK_NOW : 0, this.sessionId)
            if (probe) this.counters.probesSent++
            this.seal(this.small, HEADER_BYTES)
            return CONTROL
        }
        return NOTHING
    }

    private encodeData(seq: number): void {
        const i = this.txIdx(seq)
        const slot = this.txSlots[i]
        this.putHeader(slot, FrameType.Data, 0, this.sessionId)
        putU32(slot, OFF_SEQ, seq)
        if (this.txXmit[i] !== 0) {
            this.txFlags[i] |= SLOT_RETX
            this.counters.retransmissions++
        }
        this.txFlags[i] &= ~SLOT_LOST
        this.xmitCount++
        if ((this.xmitCount & 0xffff) === 0) this.xmitCount++ // echo 0 means none
        const x = this.xmitCount
        this.txXmit[i] = x
        putU16(slot, OFF_XMIT, x)
        const now = this.clock.millis()
        this.xmitSentAt[x % XMIT_RING] = now
        this.counters.dataFramesSent++
        if (this.rtoAt < 0) this.rtoAt = now + this.rtt.rto()
        this.seal(slot, DATA_HEADER_BYTES + this.txLen[i])
    }

    /** Appends the CRC to b[0, n) and COBS-encodes the frame into the wire buffer. */
    private seal(b: Buffer, n: number): void {
        putU32(b, n, crc32cUpdate(0, b, 0, n))
        this.wireLen = cobsEncodeInto(b, n + CRC_BYTES, this.wire)
        this.wirePos = 0
        this.counters.framesSent++
    }
}
