import { Clock } from "../../hal/clock"
import { Link } from "../../hal/link"
import { copyBytes } from "../models/copyBytes"

/**
 * One end of a clean byte stream for the VM self-test (host-sim/selfTest.ts): an 8N1 line at
 * `baud` with a transmit FIFO of `fifoBytes`, every byte delivered `propagationMs` after it
 * left, none lost or changed. The simulator's UART model (host-sim/models/uart.ts) adds faults,
 * outages and counters; the self-test needs none of them, and the VM's image limit has no room
 * for them. The same contract as that model (hal/link.ts): `onTxReady` fires once the FIFO has
 * drained below half after a write left it at half or more.
 * @devsWhenUsed
 */
export class PipeEnd implements Link {
    /** Set by bytePipe: the end the bytes written here arrive at. */
    peer: PipeEnd | null = null
    /** When the last byte taken into the FIFO leaves the transmitter. */
    private idleAt = 0
    private byteMs: number
    private readyArmed = false
    private txReady: (() => void) | null = null
    private receive: ((data: Buffer) => void) | null = null

    constructor(
        private clock: Clock,
        private baud: number,
        private fifoBytes: number,
        private propagationMs: number
    ) {
        this.byteMs = 10000 / baud
    }

    write(data: Buffer): number {
        const now = this.clock.millis()
        const queued = this.queuedAt(now)
        let n = this.fifoBytes - queued
        if (data.length < n) n = data.length
        if (n > 0) {
            const bytes = copyBytes(data, n)
            this.idleAt = (queued > 0 ? this.idleAt : now) + n * this.byteMs
            const peer = this.peer
            this.clock.setTimer(this.idleAt + this.propagationMs - now, () => {
                if (peer) if (peer.receive) peer.receive(bytes)
            })
        }
        if (2 * (queued + n) >= this.fifoBytes) this.armReady()
        return n
    }

    txFree(): number {
        return this.fifoBytes - this.queuedAt(this.clock.millis())
    }

    onTxReady(handler: () => void): void {
        this.txReady = handler
    }

    onReceive(handler: (data: Buffer) => void): void {
        this.receive = handler
    }

    bitRate(): number {
        return this.baud
    }

    /** Bytes still in the FIFO at `t` (a byte counts until its last bit has left). */
    private queuedAt(t: number): number {
        const left = this.idleAt - t
        if (!(left > 0)) return 0
        return Math.ceil(left / this.byteMs - 1e-9)
    }

    /** Fires the ready handler when fewer than half the FIFO's bytes are queued. */
    private armReady(): void {
        if (this.readyArmed) return
        this.readyArmed = true
        const self = this
        const half = Math.floor((this.fifoBytes - 1) / 2)
        this.clock.setTimer(this.idleAt - half * this.byteMs - this.clock.millis(), () => {
            self.readyArmed = false
            if (2 * self.queuedAt(self.clock.millis()) >= self.fifoBytes) return self.armReady()
            if (self.txReady) self.txReady()
        })
    }
}

/** Two ends joined: bytes written at one arrive at the other. */
export function bytePipe(clock: Clock, baud: number, fifoBytes: number, propagationMs: number): PipeEnd[] {
    const a = new PipeEnd(clock, baud, fifoBytes, propagationMs)
    const b = new PipeEnd(clock, baud, fifoBytes, propagationMs)
    a.peer = b
    b.peer = a
    return [a, b]
}
