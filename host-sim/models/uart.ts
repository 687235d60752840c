import { Clock, Timer } from "../../hal/clock"
import { Link } from "../../hal/link"
import { Prng } from "../prng"
import { copyBytes } from "./copyBytes"
import { setTimerAt } from "./timerAt"

/**
 * A full-duplex UART (or radio) link between two boards, for the simulator. Portable: it also
 * runs in the DeviceScript VM.
 *
 * Timing: 8N1, so one byte takes 10 bit times and the line carries baud/10 bytes per second.
 * Each direction has its own transmitter: a TX FIFO (`txFifoBytes`) drained back to back onto
 * the line. A run of bytes starts when a write finds the line idle; byte k of the run leaves
 * the transmitter (and frees its FIFO room) k byte times after the run started, and reaches the
 * receiver `propagationMs` later. The model computes these times instead of stepping through
 * them: one event per write, when its last byte arrives, hands the receiver the write's bytes
 * (a frame of the link channel, which writes one frame per call, arrives whole exactly when a
 * byte-by-byte model would complete it); the FIFO's room is worked out from the time when it
 * is asked; `onTxReady` is one event at the very byte end that takes the FIFO below half.
 *
 * Faults, drawn from a Prng (skip-sampled, so a clean link costs nothing per byte) when a
 * write's bytes arrive, in the order they were sent:
 * - byteLoss: probability that a byte is lost (an overrun or framing error drops it);
 * - bitError: probability that each of the 8 data bits of a byte is flipped;
 * - duplication: probability that a byte is delivered twice (some radios do this);
 * - outages: `setUp(false)` or `schedulePartition`: a byte whose transmission ends while the
 *   link is down is lost. The transmitter keeps draining its FIFO; the line counts as busy.
 * All can be changed at run time.
 */
export interface UartFaults {
    byteLoss: number
    bitError: number
    duplication: number
}

export interface UartOptions {
    /** Bits per second; the line carries baud/10 bytes per second. */
    baud: number
    /** Size of each end's transmit FIFO in bytes. */
    txFifoBytes: number
    /** Time from the end of a byte at the transmitter to its arrival at the receiver. */
    propagationMs: number
}

export function cleanFaults(): UartFaults {
    return { byteLoss: 0, bitError: 0, duplication: 0 }
}

/**
 * Counters of one direction (kept by the transmitting end).
 * @devsWhenUsed
 */
export class UartCounters {
    /** Bytes passed to write(), taken or not. */
    offered = 0
    /** Bytes taken into the TX FIFO. */
    accepted = 0
    /** Bytes that left the transmitter. */
    sent = 0
    /** Bytes handed to the receiver (duplicates included, corrupted ones included). */
    delivered = 0
    /** Bytes lost, outages included. */
    lost = 0
    /** Of `lost`, bytes sent while the link was down. */
    lostInOutage = 0
    /** Bytes delivered with at least one flipped bit. */
    corrupted = 0
    /** Extra copies delivered. */
    duplicated = 0
    /** Time during which the transmitter was sending, in ms. */
    busyMs = 0
}

const NEVER = 0x7fffffff

/** Bytes (or bits) to skip before the next event of probability p per trial. */
function drawGap(prng: Prng, p: number): number {
    if (!(p > 0)) return NEVER
    if (p >= 1) return 0
    const l = Math.log(1 - p)
    if (!(l < 0)) return NEVER // p too small to tell from 0 in floating point
    const u = 1 - prng.float() // (0, 1]
    const g = Math.floor(Math.log(u) / l)
    if (!(g >= 0)) return 0
    return g > NEVER ? NEVER : g
}

/** A run's byte count may be off this much when time is turned into bytes (floating point). */
const BYTE_SLACK = 1e-6

/**
 * One end of a UartWire: the transmitter of its direction and the receiver of the other.
 * @devsWhenUsed
 */
export class UartEnd implements Link {
    readonly counters = new UartCounters()
    /** Set by the wire: the end at the other side. */
    peer: UartEnd | null = null
    /** The current run of the line: it started at runStart and carries runBytes bytes back to
     * back (those that left and those still in the FIFO). */
    private runStart = 0
    private runBytes = 0
    private readyArmed = false
    private readyTimer: Timer | null = null
    private readyAt = 0
    private txReadyHandler: (() => void) | null = null
    private receiveHandler: ((data: Buffer) => void) | null = null
    /** The faults of this direction (setFaults): passes byte b, appending what arrives to the
     * buffer at len, and returns the new length. A closure of setFaults, so that an image that
     * never sets faults (the VM self-test) leaves the fault code out. */
    private pass: ((b: number, out: Buffer, len: number) => number) | null = null
    /** The faults of this direction for a run of n bytes that none of them touches (the next
     * loss, bit error and duplicate all lie past it): moves past the run and returns true, as
     * n calls of `pass` would have; otherwise changes nothing and returns false. */
    private passClean: ((n: number) => boolean) | null = null
    private scratch: Buffer

    /** The faults' pass of this direction (null: none set), for a reference model that draws
     * the same faults byte by byte (test/link/uartReference.test.ts). */
    faultPass(): ((b: number, out: Buffer, len: number) => number) | null {
        return this.pass
    }

    constructor(
        private wire: UartWire,
        private clock: Clock,
        private prng: Prng,
        private fifoBytes: number
    ) {
        this.scratch = Buffer.alloc(2 * fifoBytes)
    }

    write(data: Buffer): number {
        const c = this.counters
        c.offered += data.length
        let queued = this.queuedNow()
        const room = this.fifoBytes - queued
        const n = data.length < room ? data.length : room
        if (n > 0) {
            // the bytes travel together: one event when the last of them arrives
            const bytes = copyBytes(data, n)
            if (queued === 0) {
                // the line was idle: a new run starts now
                this.runStart = this.clock.millis()
                this.runBytes = 0
            }
            const first = this.runBytes
            const start = this.runStart
            this.runBytes += n
            queued += n
            c.accepted += n
            const byteMs = this.wire.byteMs
            c.busyMs += n * byteMs
            const self = this
            setTimerAt(this.clock, start + (first + n) * byteMs + this.wire.propagationMs, () => self.arrive(bytes, start, first))
        }
        if (queued * 2 >= this.fifoBytes) {
            this.readyArmed = true
            // the FIFO goes below half at the end of the byte that leaves fewer than half queued
            const at = this.runStart + (this.runBytes - Math.floor((this.fifoBytes - 1) / 2)) * this.wire.byteMs
            if (!this.readyTimer || at !== this.readyAt) {
                if (this.readyTimer) this.clock.clearTimer(this.readyTimer)
                const self = this
                this.readyAt = at
                this.readyTimer = setTimerAt(this.clock, at, () => self.drained())
            }
        }
        return n
    }

    txFree(): number {
        return this.fifoBytes - this.queuedNow()
    }

    onTxReady(handler: () => void): void {
        this.txReadyHandler = handler
    }

    onReceive(handler: (data: Buffer) => void): void {
        this.receiveHandler = handler
    }

    bitRate(): number {
        return this.wire.baud
    }

    /** Sets the faults of the direction this end transmits. */
    setFaults(f: UartFaults): void {
        const prng = this.prng
        const c = this.counters
        const byteLoss = f.byteLoss
        const bitError = f.bitError
        const duplication = f.duplication
        // events are drawn as gaps: bytes (bits for bit errors) until the next one
        let untilLoss = drawGap(prng, byteLoss)
        let untilBitError = drawGap(prng, bitError)
        let untilDup = drawGap(prng, duplication)
        this.passClean = (n) => {
            if (untilLoss < n || untilDup < n || untilBitError < 8 * n) return false
            if (untilLoss !== NEVER) untilLoss -= n
            if (untilBitError !== NEVER) untilBitError -= 8 * n
            if (untilDup !== NEVER) untilDup -= n
            return true
        }
        this.pass = (b, out, len) => {
            if (untilLoss === 0) {
                untilLoss = drawGap(prng, byteLoss)
                c.lost++
                return len
            }
            if (untilLoss !== NEVER) untilLoss--
            if (untilBitError < 8) {
                let bit = untilBitError
                while (bit < 8) {
                    b ^= 1 << bit
                    bit += 1 + drawGap(prng, bitError)
                    if (bit > NEVER) bit = NEVER
                }
                untilBitError = bit === NEVER ? NEVER : bit - 8
                c.corrupted++
            } else if (untilBitError !== NEVER) {
                untilBitError -= 8
            }
            out[len++] = b
            if (untilDup === 0) {
                untilDup = drawGap(prng, duplication)
                out[len++] = b
                c.duplicated++
            } else if (untilDup !== NEVER) {
                untilDup--
            }
            return len
        }
    }

    /** Bytes waiting in the TX FIFO (the byte on the line included). */
    txQueued(): number {
        return this.queuedNow()
    }

    /** Bytes of the run that have not left the transmitter by now. */
    private queuedNow(): number {
        if (this.runBytes === 0) return 0
        const left = Math.floor((this.clock.millis() - this.runStart) / this.wire.byteMs + BYTE_SLACK)
        if (left >= this.runBytes) {
            this.runBytes = 0
            return 0
        }
        return left > 0 ? this.runBytes - left : this.runBytes
    }

    /** The FIFO went below half full after a write had left it at half or more. */
    private drained(): void {
        this.readyTimer = null
        if (!this.readyArmed || this.queuedNow() * 2 >= this.fifoBytes) return
        this.readyArmed = false
        if (this.txReadyHandler) this.txReadyHandler()
    }

    /** The last byte of a write arrived: its bytes, byte `first` on of the run that started at
     * `start`, pass the faults and go to the receiver. */
    private arrive(bytes: Buffer, start: number, first: number): void {
        const n = bytes.length
        const c = this.counters
        const byteMs = this.wire.byteMs
        const outage = this.wire.downDuring(start + first * byteMs, start + (first + n) * byteMs)
        let got = bytes
        // a run the faults do not touch arrives as it was sent (the common case)
        if (outage || (this.pass && !(this.passClean as (n: number) => boolean)(n))) {
            const out = this.scratch
            let len = 0
            for (let i = 0; i < n; i++) {
                if (outage && this.wire.downAt(start + (first + i + 1) * byteMs)) {
                    c.lost++
                    c.lostInOutage++
                    continue
                }
                if (this.pass) len = this.pass(bytes[i], out, len)
                else out[len++] = bytes[i]
            }
            got = Buffer.alloc(len)
            for (let i = 0; i < len; i++) got[i] = out[i]
        }
        c.sent += n
        if (got.length > 0) {
            c.delivered += got.length
            if (this.peer) this.peer.deliver(got)
        }
    }

    /** Called by the peer's transmitter when a write's bytes arrive here. */
    deliver(bytes: Buffer): void {
        if (this.receiveHandler) this.receiveHandler(bytes)
    }
}

/** A period during which the link was down; `to` is NEVER while it still is. */
interface Outage {
    from: number
    to: number
}

/** @devsWhenUsed */
export class UartWire {
    /** The two ends; bytes written at `a` arrive at `b` and the other way round. */
    readonly a: UartEnd
    readonly b: UartEnd
    readonly baud: number
    /** Time of one byte on the line: 10 bit times. */
    readonly byteMs: number
    readonly propagationMs: number
    /** How long an outage must be kept: a write's bytes are judged when its last one arrives. */
    private keepMs: number
    private outages: Outage[] = []
    private up = true
    /** Called whenever the link goes down or comes back up (the simulator's fault log). */
    onUpChange: ((up: boolean) => void) | null = null

    constructor(
        private clock: Clock,
        prng: Prng,
        options: UartOptions
    ) {
        if (!(options.baud > 0) || !(options.txFifoBytes > 0)) throw new Error("uart: bad baud or fifo size")
        this.baud = options.baud
        this.byteMs = 10000 / options.baud
        this.propagationMs = options.propagationMs > 0 ? options.propagationMs : 0
        this.keepMs = (options.txFifoBytes + 1) * this.byteMs + this.propagationMs + 1
        this.a = new UartEnd(this, clock, prng.fork(1), options.txFifoBytes)
        this.b = new UartEnd(this, clock, prng.fork(2), options.txFifoBytes)
        this.a.peer = this.b
        this.b.peer = this.a
    }

    /** Sets the same faults on both directions. */
    setFaults(f: UartFaults): void {
        this.a.setFaults(f)
        this.b.setFaults(f)
    }

    /** Takes the link down (bytes sent from now on are lost) or brings it back up. */
    setUp(up: boolean): void {
        if (up === this.up) return
        this.up = up
        const now = this.clock.millis()
        if (!up) {
            this.outages.push({ from: now, to: NEVER })
        } else {
            this.outages[this.outages.length - 1].to = now
        }
        // Forget outages that ended before any byte still to arrive left the transmitter.
        const horizon = now - this.keepMs
        while (this.outages.length > 0 && this.outages[0].to < horizon) this.outages.shift()
        if (this.onUpChange) this.onUpChange(up)
    }

    isUp(): boolean {
        return this.up
    }

    /** Takes the link down at `atMs` (absolute virtual time) for `durationMs`.
     * @devsWhenUsed */
    schedulePartition(atMs: number, durationMs: number): void {
        const now = this.clock.millis()
        const self = this
        self.clock.setTimer(atMs > now ? atMs - now : 0, () => {
            self.setUp(false)
            self.clock.setTimer(durationMs, () => self.setUp(true))
        })
    }

    /** True when the link was down at some time in (from, to]. */
    downDuring(from: number, to: number): boolean {
        for (let i = 0; i < this.outages.length; i++) {
            const o = this.outages[i]
            if (o.from <= to && o.to > from) return true
        }
        return false
    }

    /** True when the link was down at time t. */
    downAt(t: number): boolean {
        for (let i = 0; i < this.outages.length; i++) {
            const o = this.outages[i]
            if (o.from <= t && t < o.to) return true
        }
        return false
    }

    /** Payload efficiency of one direction: useful bytes over what the busy line could carry.
     * @devsWhenUsed */
    efficiency(end: UartEnd, payloadBytes: number): number {
        const capacity = (end.counters.busyMs / 1000) * (this.baud / 10)
        return capacity > 0 ? payloadBytes / capacity : 0
    }
}
