import { getU16, getU32, putU16, putU32 } from "../codec/bytes"
import { seqDiff, seqNext } from "../seq"
import { ChannelConfig } from "./config"
import { ChannelCounters } from "./counters"
import {
    DATA_HEADER_BYTES,
    FrameType,
    MESSAGE_PREFIX_BYTES,
    OFF_ACK,
    OFF_ECHO,
    OFF_FLAGS,
    OFF_SACK,
    OFF_SEQ,
    OFF_SESSION,
    OFF_TYPE,
    OFF_WINDOW,
    OFF_XMIT,
    SACK_BITS,
} from "./frame"

export type ChannelState = "down" | "connecting" | "up" | "refused"

/**
 * The receiving half of one end of the link channel, and what both halves share (the
 * configuration, the counters, the session and its state): the receive window, the delivery
 * of its messages to the application as far as its credit allows, and the ack block this end
 * puts into every frame it sends. ChannelSender (firmware/link/sender.ts) adds the send window,
 * LinkChannel (firmware/link/channel.ts) the frames in and out, the session and the timers.
 * @devsWhenUsed
 */
export abstract class ChannelReceiver {
    readonly counters = new ChannelCounters()
    protected cfg: ChannelConfig
    protected st: ChannelState = "down"
    /** The current session, 0 for none. */
    protected sessionId = 0
    protected lastRxAt = 0
    // flags without an initializer start undefined, which reads as false (the board image is
    // smaller without the initializers); likewise in ChannelSender and LinkChannel
    protected stopped!: boolean

    // receive side: frames [rxDeliver, rxNext) complete; rxNext is the cumulative ack (these
    // registers, and the send side's in ChannelSender, start where LinkChannel.resetSession
    // sets them: the constructor and every new session start the same)
    private rxSlots: Buffer[] = []
    protected rxLen: number[] = []
    protected rxHave: boolean[] = []
    protected rxDeliver!: number
    protected rxDeliverIdx!: number
    protected rxDeliverOff!: number
    protected rxNext!: number
    private credit = -1
    protected ackPending!: boolean
    /** xmit of the newest DATA frame received and not yet echoed (0: none). */
    protected rxEcho!: number

    private messageHandler!: ((msg: Buffer, len: number) => void) | null

    constructor(cfg: ChannelConfig) {
        this.cfg = cfg
        for (let i = 0; i < cfg.rxWindow; i++) {
            this.rxSlots.push(Buffer.alloc(cfg.maxPayload))
            this.rxLen.push(0)
            this.rxHave.push(false)
        }
    }

    // ---- application side ----

    onMessage(handler: (msg: Buffer, len: number) => void): void {
        this.messageHandler = handler
    }

    /** The application takes n more messages; n < 0: no limit. */
    setReceiveCredit(n: number): void {
        let c = -1
        if (n >= 0) c = Math.floor(n)
        this.credit = c
        this.kick()
    }

    receiveCredit(): number {
        return this.credit
    }

    // ---- frames in, frames out ----

    /** Runs the pump, deliveries and writable notice on the next turn of the run loop. */
    protected abstract kick(): void

    /** Takes the other end's ack block: cumulative ack, SACK bits, window and echo. */
    protected abstract applyAck(buf: Buffer): void

    /** A DATA frame of the current session: its ack block, then its frame into the receive
     * window (once; one beyond the window is dropped). */
    protected onData(buf: Buffer, n: number): void {
        this.applyAck(buf)
        this.rxEcho = getU16(buf, OFF_XMIT)
        this.ackPending = true
        this.kick()
        const seq = getU32(buf, OFF_SEQ)
        const counters = this.counters
        let next = this.rxNext
        if (seqDiff(seq, next) < 0) {
            counters.droppedDuplicate = counters.droppedDuplicate + 1
            return
        }
        const first = this.rxDeliver
        const off = seqDiff(seq, first)
        const w = this.cfg.rxWindow
        if (off >= w) {
            counters.droppedOutOfWindow = counters.droppedOutOfWindow + 1
            return
        }
        const base = this.rxDeliverIdx
        const have = this.rxHave
        const i = (base + off) % w
        if (have[i]) {
            counters.droppedDuplicate = counters.droppedDuplicate + 1
            return
        }
        const slot = this.rxSlots[i]
        const len = n - DATA_HEADER_BYTES
        for (let k = 0; k < len; k++) slot[k] = buf[DATA_HEADER_BYTES + k]
        this.rxLen[i] = len
        have[i] = true
        while (seqDiff(next, first) < w) {
            if (!have[(base + seqDiff(next, first)) % w]) break
            next = seqNext(next)
        }
        this.rxNext = next
    }

    /** Delivers the messages of the oldest complete frame, as far as credit allows. One frame
     * per turn keeps each event short; the next turn continues. */
    protected deliver(): void {
        if (seqDiff(this.rxDeliver, this.rxNext) >= 0) return
        const i = this.rxDeliverIdx
        const slot = this.rxSlots[i]
        const len = this.rxLen[i]
        const session = this.sessionId
        const counters = this.counters
        while (this.rxDeliverOff < len) {
            if (this.credit === 0) return
            const mlen = getU16(slot, this.rxDeliverOff)
            const start = this.rxDeliverOff + MESSAGE_PREFIX_BYTES
            // each message is moved to the front of its frame's slot, over what has been
            // delivered (it starts after it; the copy runs forward): the handler gets it at 0,
            // and the messages after it are untouched
            for (let k = 0; k < mlen; k++) slot[k] = slot[start + k]
            this.rxDeliverOff = start + mlen
            if (this.credit > 0) this.credit--
            counters.messagesDelivered = counters.messagesDelivered + 1
            counters.payloadBytesDelivered = counters.payloadBytesDelivered + mlen
            if (this.messageHandler) this.messageHandler(slot, mlen)
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

    /** Writes the common header of a frame: type, flags, session and this end's ack block. */
    protected putHeader(b: Buffer, type: number, flags: number, session: number): void {
        b[OFF_TYPE] = type
        b[OFF_FLAGS] = flags
        putU32(b, OFF_SESSION, session)
        const next = this.rxNext
        const ahead = seqDiff(next, this.rxDeliver)
        const w = this.cfg.rxWindow
        putU32(b, OFF_ACK, next)
        let sack = 0
        for (let k = 0; k < SACK_BITS; k++) {
            const off = ahead + 1 + k
            if (off >= w) break
            if (this.rxHave[(this.rxDeliverIdx + off) % w]) sack |= 1 << k
        }
        putU32(b, OFF_SACK, sack)
        putU16(b, OFF_WINDOW, w - ahead)
        // Each echo goes out once, in the first DATA or ACK after the DATA it names, so that an
        // RTT sample never includes the time an ack waited for a later chance (a handshake
        // after an outage would measure the outage).
        let echo = 0
        if (type === FrameType.Data) echo = this.rxEcho
        else if (type === FrameType.Ack) echo = this.rxEcho
        putU16(b, OFF_ECHO, echo)
        this.rxEcho = 0
        this.ackPending = false
    }
}
