import { Clock } from "../../hal/clock"
import { Link } from "../../hal/link"
import { Prng } from "../prng"

/**
 * A full-duplex UART (or radio) link between two boards, for the simulator. Portable: it also
 * runs in the DeviceScript VM.
 *
 * Timing: 8N1, so one byte takes 10 bit times and the line carries baud/10 bytes per second.
 * Each direction has its own transmitter: a TX FIFO (`txFifoBytes`) drained back to back onto
 * the line. Bytes travel in chunks of up to `chunkBytes`: one event per chunk when its last
 * byte has left the transmitter, and the chunk reaches the receiver `propagationMs` later, at the
 * time its last byte would have arrived. A chunk starts exactly when the previous one ended, so
 * the timing is that of a byte-by-byte model. FIFO room of a chunk frees when the chunk ends.
 *
 * Faults, drawn from a Prng (skip-sampled, so a clean link costs nothing per byte):
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
    /** Largest chunk delivered by one event (default 64). */
    chunkBytes?: number
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

/**
 * One end of a UartWire: the transmitter of its direction and the receiver of the other.
 * @devsWhenUsed
 */
export class UartEnd implements Link {
    readonly counters = new UartCounters()
    /** Set by the wire: the end at the other side. */
    peer: UartEnd | null = null
    private fifo: Buffer
    private head = 0
    private queued = 0
    private sending = 0
    private kickArmed = false
    private readyArmed = false
    private chunkStart = 0
    private txReadyHandler: (() => void) | null = null
    private receiveHandler: ((data: Buffer) => void) | null = null
    /** The faults of this direction (setFaults): passes byte b, appending what arrives to the
     * chunk at len, and returns the new length. A closure of setFaults, so that an image that
     * never sets faults (the VM self-test) leaves the fault code out. */
    private pass: ((b: number, out: Buffer, len: number) => number) | null = null
    private scratch: Buffer

    constructor(private wire: UartWire, private clock: Clock, private prng: Prng, private fifoBytes: number, private chunkBytes: number) {
        this.fifo = Buffer.alloc(fifoBytes)
        this.scratch = Buffer.alloc(2 * chunkBytes)
    }

    write(data: Buffer): number {
        const c = this.counters
        c.offered += data.length
        const room = this.fifoBytes - this.queued
        const n = data.length < room ? data.length : room
        let at = (this.head + this.queued) % this.fifoBytes
        for (let i = 0; i < n; i++) {
            this.fifo[at] = data[i]
            at++
            if (at === this.fifoBytes) at = 0
        }
        this.queued += n
        c.accepted += n
        if (this.queued * 2 >= this.fifoBytes) this.readyArmed = true
        // Start on a zero-delay timer so that all writes of the current event share a chunk.
        if (this.sending === 0 && !this.kickArmed && this.queued > 0) {
            this.kickArmed = true
            const self = this // the DeviceScript compiler rejects `this` inside arrow functions
            this.clock.setTimer(0, () => {
                self.kickArmed = false
                if (self.sending === 0) self.startChunk()
            })
        }
        return n
    }

    txFree(): number {
        return this.fifoBytes - this.queued
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

    /** Bytes waiting in the TX FIFO (the chunk on the line included). */
    txQueued(): number {
        return this.queued
    }

    private startChunk(): void {
        if (this.queued === 0) return
        const n = this.queued < this.chunkBytes ? this.queued : this.chunkBytes
        const ms = n * this.wire.byteMs
        this.sending = n
        this.chunkStart = this.clock.millis()
        this.counters.busyMs += ms
        const self = this
        this.clock.setTimer(ms, () => self.endChunk())
    }

    private endChunk(): void {
        const n = this.sending
        const c = this.counters
        const byteMs = this.wire.byteMs
        const outage = this.wire.downDuring(this.chunkStart, this.clock.millis())
        const out = this.scratch
        let len = 0
        for (let i = 0; i < n; i++) {
            const b = this.fifo[this.head]
            this.head++
            if (this.head === this.fifoBytes) this.head = 0
            if (outage && this.wire.downAt(this.chunkStart + (i + 1) * byteMs)) {
                c.lost++
                c.lostInOutage++
                continue
            }
            if (this.pass) len = this.pass(b, out, len)
            else out[len++] = b
        }
        this.queued -= n
        this.sending = 0
        c.sent += n
        if (len > 0) {
            const chunk = Buffer.alloc(len)
            for (let i = 0; i < len; i++) chunk[i] = out[i]
            const peer = this.peer
            this.clock.setTimer(this.wire.propagationMs, () => {
                c.delivered += chunk.length
                if (peer) peer.deliver(chunk)
            })
        }
        if (this.queued > 0) this.startChunk()
        if (this.readyArmed && this.queued * 2 < this.fifoBytes) {
            this.readyArmed = false
            if (this.txReadyHandler) this.txReadyHandler()
        }
    }

    /** Called by the peer's transmitter when a chunk arrives here. */
    deliver(chunk: Buffer): void {
        if (this.receiveHandler) this.receiveHandler(chunk)
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
    private chunkBytes: number
    private outages: Outage[] = []
    private up = true
    /** Called whenever the link goes down or comes back up (the simulator's fault log). */
    onUpChange: ((up: boolean) => void) | null = null

    constructor(private clock: Clock, prng: Prng, options: UartOptions) {
        const chunk = options.chunkBytes !== undefined ? options.chunkBytes : 64
        if (!(options.baud > 0) || !(options.txFifoBytes > 0) || !(chunk > 0)) throw new Error("uart: bad baud, fifo or chunk size")
        this.baud = options.baud
        this.byteMs = 10000 / options.baud
        this.propagationMs = options.propagationMs > 0 ? options.propagationMs : 0
        this.chunkBytes = chunk
        this.a = new UartEnd(this, clock, prng.fork(1), options.txFifoBytes, chunk)
        this.b = new UartEnd(this, clock, prng.fork(2), options.txFifoBytes, chunk)
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
        // Forget outages that ended before any chunk now on the line began.
        const horizon = now - 2 * this.chunkBytes * this.byteMs - 1
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
