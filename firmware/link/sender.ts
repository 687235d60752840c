import { Clock } from "../../hal/clock"
import { getU16, getU32, putU16, putU32 } from "../codec/bytes"
import { cobsMaxEncoded } from "../codec/cobs"
import { seqDiff, seqNext } from "../seq"
import { ChannelConfig, XMIT_RING } from "./config"
import { CRC_BYTES, DATA_HEADER_BYTES, FrameType, MESSAGE_PREFIX_BYTES, OFF_ACK, OFF_ECHO, OFF_SACK, OFF_SEQ, OFF_WINDOW, OFF_XMIT, SACK_BITS } from "./frame"
import { ChannelReceiver } from "./receiver"
import { RttEstimator } from "./rtt"

// flags of a send slot: acknowledged selectively, found lost (to be sent again), sent again
const SLOT_SACKED = 1
export const SLOT_LOST = 2
const SLOT_RETX = 4

/** Slack for comparing virtual times computed by adding delays (fractions of a ms). */
export const TIME_EPS = 1e-6

/**
 * The sending half of one end of the link channel: the send window (messages packed into DATA
 * frames), what the other end's acks say of it (cumulative and selective acks, its window, the
 * echo that gives RTT samples and finds losses), and retransmission on timeout. LinkChannel
 * (firmware/link/channel.ts) decides when a frame goes out.
 * @devsWhenUsed
 */
export abstract class ChannelSender extends ChannelReceiver {
    protected rtt: RttEstimator

    // send side: slots hold DATA frames [txBase, txNext) closed and txNext open (being filled)
    private txSlots: Buffer[] = []
    protected txLen: number[] = []
    protected txMsgs: number[] = []
    /** Transmission number of each slot's latest transmission (0: never sent). */
    private txXmit: number[] = []
    protected txFlags: number[] = []
    protected txBase!: number
    protected txBaseIdx!: number
    protected txNext!: number
    /** First frame never sent: frames in [txSentNext, txNext) are closed and waiting. */
    protected txSentNext!: number
    /** The other end takes frames with seq before this. */
    protected peerLimit!: number
    /** DATA transmissions so far; the last XMIT_RING send times are kept for RTT samples. */
    private xmitCount = 0
    private xmitSentAt: number[] = []
    /** Newest transmission known to have arrived (the other end echoed it): a frame sent
     * before it and not acknowledged is lost, since a byte stream never reorders. */
    protected rackXmit!: number
    protected wantWritable!: boolean
    protected rtoAt!: number
    private lastRtoAt = -1

    protected writableHandler!: (() => void) | null

    /** `bitRate`: the link's, in bit/s (0: unknown). */
    constructor(
        protected clock: Clock,
        cfg: ChannelConfig,
        bitRate: number
    ) {
        super(cfg)
        const dataMax = DATA_HEADER_BYTES + cfg.maxPayload + CRC_BYTES
        let frameMs = 0
        if (bitRate > 0) frameMs = (cobsMaxEncoded(dataMax) * 10000) / bitRate
        this.rtt = new RttEstimator(cfg.minRtoMs, cfg.maxRtoMs, cfg.initialRtoMs, frameMs)
        for (let i = 0; i < cfg.txWindow; i++) {
            this.txSlots.push(Buffer.alloc(dataMax))
            this.txLen.push(0)
            this.txMsgs.push(0)
            this.txXmit.push(0)
            this.txFlags.push(0)
        }
        for (let i = 0; i < XMIT_RING; i++) this.xmitSentAt.push(0)
    }

    // ---- application side ----

    /** Queues a message; false when there is no room or no session (see the class contract). */
    send(msg: Buffer): boolean {
        const need = MESSAGE_PREFIX_BYTES + msg.length
        if (need > this.cfg.maxPayload) throw new Error("link: message longer than maxMessage()")
        const w = this.cfg.txWindow
        let full = !this.acceptsMessages()
        if (seqDiff(this.txNext, this.txBase) >= w) full = true
        if (full) {
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
        this.txLen[i] = this.txLen[i] + need
        this.txMsgs[i] = this.txMsgs[i] + 1
        this.counters.payloadBytesSent = this.counters.payloadBytesSent + msg.length
        this.kick()
        return true
    }

    onWritable(handler: () => void): void {
        this.writableHandler = handler
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

    // ---- the send window ----

    /** Data frames may flow. */
    protected abstract dataAllowed(): boolean

    protected abstract acceptsMessages(): boolean

    /** Appends the CRC to b[0, n) and COBS-encodes the frame into the wire buffer. */
    protected abstract seal(b: Buffer, n: number): void

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
                if ((this.txFlags[i] & (SLOT_SACKED | SLOT_LOST)) === 0) this.txFlags[i] = this.txFlags[i] | SLOT_LOST
                s = seqNext(s)
            }
            this.rtoAt = -1
        } else {
            // a new session: as openPeerWindow
            this.peerLimit = getU16(buf, OFF_WINDOW)
        }
    }

    /** A new session: the other end takes frames 0 .. window-1. */
    protected openPeerWindow(window: number): void {
        this.peerLimit = window
    }

    protected txIdx(seq: number): number {
        return (this.txBaseIdx + seqDiff(seq, this.txBase)) % this.cfg.txWindow
    }

    protected freeTxSlot(i: number): void {
        this.txLen[i] = 0
        this.txMsgs[i] = 0
        this.txFlags[i] = 0
        this.txXmit[i] = 0
    }

    protected onRto(): void {
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
                    let sentAt = -1e12
                    if (x > 0) if (this.xmitCount - x < XMIT_RING) sentAt = this.xmitSentAt[x % XMIT_RING]
                    const due = sentAt + rto
                    if (due <= now + TIME_EPS) {
                        this.txFlags[i] = this.txFlags[i] | SLOT_LOST
                        marked = true
                    } else if (next < 0) next = due
                    else if (due < next) next = due
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
            this.txFlags[this.txBaseIdx] = this.txFlags[this.txBaseIdx] | SLOT_LOST
            this.rtt.backoff()
        }
        this.counters.timeouts = this.counters.timeouts + 1
        this.lastRtoAt = now
        this.rtoAt = now + this.rtt.rto()
        this.kick()
    }

    /** Takes the other end's ack block: cumulative ack, SACK bits, window and echo. */
    protected applyAck(buf: Buffer): void {
        const ack = getU32(buf, OFF_ACK)
        const counters = this.counters
        const flags = this.txFlags
        const sentNext = this.txSentNext
        let bad = false
        if (seqDiff(ack, this.txBase) < 0) bad = true
        if (seqDiff(ack, sentNext) > 0) bad = true
        if (bad) {
            counters.badAcks = counters.badAcks + 1
            return
        }
        const now = this.clock.millis()
        const w = this.cfg.txWindow
        let progressed = false
        let base = this.txBase
        while (base !== ack) {
            const i = this.txBaseIdx
            counters.messagesAcked = counters.messagesAcked + this.txMsgs[i]
            this.freeTxSlot(i)
            base = seqNext(base)
            this.txBase = base
            this.txBaseIdx = (i + 1) % w
            progressed = true
        }
        const sack = getU32(buf, OFF_SACK)
        if (sack !== 0) {
            for (let k = 0; k < SACK_BITS; k++) {
                if (((sack >>> k) & 1) === 0) continue
                const s = (ack + 1 + k) >>> 0
                if (seqDiff(s, sentNext) >= 0) break
                const i = this.txIdx(s)
                const f = flags[i]
                if ((f & SLOT_SACKED) !== 0) continue
                flags[i] = (f | SLOT_SACKED) & ~SLOT_LOST
                progressed = true
            }
        }
        const limit = (ack + getU16(buf, OFF_WINDOW)) >>> 0
        if (seqDiff(limit, this.peerLimit) > 0) this.peerLimit = limit
        // The echo names the newest transmission that arrived: an exact RTT sample even for a
        // retransmission (no Karn ambiguity), and the reference for loss detection.
        const echo = getU16(buf, OFF_ECHO)
        let rack = this.rackXmit
        if (echo !== 0) {
            const count = this.xmitCount
            const x = count - ((count - echo) & 0xffff)
            if (x > 0)
                if (count - x < XMIT_RING) {
                    this.rtt.sample(now - this.xmitSentAt[x % XMIT_RING])
                }
            if (x > rack) {
                rack = x
                this.rackXmit = x
            }
        }
        // RACK without a reordering window: the byte stream keeps frames in order
        let s = base
        while (s !== sentNext) {
            const i = this.txIdx(s)
            if ((flags[i] & (SLOT_SACKED | SLOT_LOST)) === 0)
                if (this.txXmit[i] < rack) {
                    flags[i] = flags[i] | SLOT_LOST
                    counters.lossesDetected = counters.lossesDetected + 1
                }
            s = seqNext(s)
        }
        // invariant: acknowledged <= sent <= closed, all within the send buffer
        let disorder = false
        if (seqDiff(sentNext, base) < 0) disorder = true
        if (seqDiff(this.txNext, sentNext) < 0) disorder = true
        if (seqDiff(this.txNext, base) > w) disorder = true
        if (disorder) throw new Error("link: send window out of order")
        if (progressed) {
            this.rtt.resetBackoff()
            this.rtoAt = -1
            if (base !== sentNext) this.rtoAt = now + this.rtt.rto()
            if (this.wantWritable) this.kick()
        }
    }

    protected encodeData(seq: number): void {
        const i = this.txIdx(seq)
        const slot = this.txSlots[i]
        this.putHeader(slot, FrameType.Data, 0, this.sessionId)
        putU32(slot, OFF_SEQ, seq)
        if (this.txXmit[i] !== 0) {
            this.txFlags[i] = this.txFlags[i] | SLOT_RETX
            this.counters.retransmissions = this.counters.retransmissions + 1
        }
        this.txFlags[i] = this.txFlags[i] & ~SLOT_LOST
        this.xmitCount++
        if ((this.xmitCount & 0xffff) === 0) this.xmitCount++ // echo 0 means none
        const x = this.xmitCount
        this.txXmit[i] = x
        putU16(slot, OFF_XMIT, x)
        const now = this.clock.millis()
        this.xmitSentAt[x % XMIT_RING] = now
        this.counters.dataFramesSent = this.counters.dataFramesSent + 1
        if (this.rtoAt < 0) this.rtoAt = now + this.rtt.rto()
        this.seal(slot, DATA_HEADER_BYTES + this.txLen[i])
    }
}
