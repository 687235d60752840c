import * as ds from "@devicescript/core"
import { connect, Socket } from "@devicescript/net"
import { ReconnectBackoff } from "../../firmware/link/backoff"
import { Clock } from "../clock"
import { Link } from "../link"
import { errorText } from "./errorText"

export interface SocketLinkOptions {
    /** Where the remote listens (link.remoteHost, link.remotePort). */
    host: string
    port: number
    /** What bitRate() reports (link.baud): a nominal figure, see the class comment. */
    nominalBitRate: number
    /** Transmit buffer in bytes (default 4096). */
    txBytes?: number
    /** Most bytes handed to the socket in one send (default 512). */
    chunkBytes?: number
    /** Give up one connection attempt after this long (default 10000 ms). */
    connectTimeoutMs?: number
    /** Reconnect backoff: first ceiling and cap (default 500 ms and 30 s). */
    backoffBaseMs?: number
    backoffCapMs?: number
    /** Uniform in [0, 1): the backoff's jitter (default Math.random). */
    random?: () => number
    /** Where state changes are reported, one line each (default: console.log). */
    log?: (line: string) => void
}

export const enum SocketLinkState {
    Stopped = 0,
    Connecting = 1,
    Up = 2,
    /** Waiting out the backoff before the next attempt. */
    Waiting = 3,
    /** The runtime has no networking: nothing more is tried. */
    Unsupported = 4,
}

/**
 * `Link` over one TCP socket of `@devicescript/net`, for boards whose link to the remote is
 * Wi-Fi (the runtime has no UART driver).
 *
 * - The board connects to host:port (the runtime's sockets are client-only, one at a time: the
 *   link owns the board's only socket, so nothing else may use `@devicescript/net`, fetch or
 *   MQTT while it runs).
 * - TX buffer: `write` copies into a ring of `txBytes`, allocated here, and returns how much
 *   it took; a sender fiber hands it to the socket in chunks of up to `chunkBytes`. While the
 *   socket is down the buffer keeps its bytes and fills; they go out after the next connect
 *   (the channel above resynchronises on its frame delimiters whatever arrives). `onTxReady`
 *   fires when the buffer drains below half after a write left it above.
 * - Bytes handed to the socket count as sent: the ones in flight when a connection dies are
 *   lost with it (TCP does not say what arrived), and the channel above retransmits.
 * - A send the runtime cannot queue (its send queue is full: `send error -1`) is retried with
 *   the same bytes; any other send error, a receive error or a close by the peer drops the
 *   connection, and the link reconnects.
 * - Reconnect: exponential backoff with equal jitter (`ReconnectBackoff`, the same rule as the
 *   link channel), from `backoffBaseMs` up to `backoffCapMs`, reset when a connection opens.
 *   A runtime without networking ("not supported") is reported once and not retried.
 * - Receive: each chunk the socket delivers is passed to `onReceive` from the run loop.
 * - `bitRate()` is nominal: a TCP connection over Wi-Fi has no fixed line rate. It returns the
 *   configured figure (link.baud), which the channel uses for its timing estimates; what the
 *   link really carries depends on the radio, the network and the runtime's socket task.
 * @devsWhenUsed
 */
export class SocketLink implements Link {
    private ring: Buffer
    private head = 0
    private tail = 0
    private used = 0
    private aboveHalf = false
    private chunkFull: Buffer
    private chunkBytes: number
    private backoff: ReconnectBackoff
    private connectTimeoutMs: number
    private log: (line: string) => void
    private sock: Socket | null = null
    private worker: ds.Fiber | null = null
    private writerIdle = false
    private stopped = true
    private st = SocketLinkState.Stopped
    private rxQueue: Buffer[] = []
    private rxPosted = false
    private rxHandler: ((data: Buffer) => void) | null = null
    private txReadyHandler: (() => void) | null = null
    private readonly deliverRx: () => void
    private readonly deliverTxReady: () => void

    /** Connections opened, attempts that failed, connections lost. */
    connects = 0
    connectFailures = 0
    drops = 0
    bytesSent = 0
    bytesReceived = 0
    /** Sends retried because the runtime's send queue was full. */
    sendRetries = 0
    lastError = ""

    constructor(private clock: Clock, private opts: SocketLinkOptions) {
        const txBytes = opts.txBytes !== undefined && opts.txBytes >= 64 ? opts.txBytes : 4096
        this.ring = Buffer.alloc(txBytes)
        this.chunkBytes = opts.chunkBytes !== undefined && opts.chunkBytes > 0 ? Math.min(opts.chunkBytes, txBytes) : 512
        this.chunkFull = Buffer.alloc(this.chunkBytes)
        const random = opts.random !== undefined ? opts.random : () => Math.random()
        this.backoff = new ReconnectBackoff(
            opts.backoffBaseMs !== undefined ? opts.backoffBaseMs : 500,
            opts.backoffCapMs !== undefined ? opts.backoffCapMs : 30000,
            random
        )
        this.connectTimeoutMs = opts.connectTimeoutMs !== undefined ? opts.connectTimeoutMs : 10000
        this.log = opts.log !== undefined ? opts.log : (line: string) => console.log(line)
        const self = this
        this.deliverRx = () => self.flushRx()
        this.deliverTxReady = () => {
            if (self.txReadyHandler !== null) self.txReadyHandler()
        }
    }

    /** Starts connecting (and reconnecting, until stop). */
    start(): void {
        if (!this.stopped) return
        this.stopped = false
        this.worker = socketLinkWorker.start(this)
    }

    /** Closes the socket and stops reconnecting. Buffered bytes are kept. */
    stop(): void {
        this.stopped = true
        if (this.st !== SocketLinkState.Unsupported) this.st = SocketLinkState.Stopped
        const s = this.sock
        this.sock = null
        if (s !== null) closeQuietly.start(s)
        this.wakeWriter()
    }

    state(): SocketLinkState {
        return this.st
    }

    // ---- Link

    write(data: Buffer): number {
        const cap = this.ring.length
        let n = cap - this.used
        if (n > data.length) n = data.length
        if (n <= 0) return 0
        const first = Math.min(n, cap - this.head)
        this.ring.blitAt(this.head, data, 0, first)
        if (n > first) this.ring.blitAt(0, data, first, n - first)
        this.head = (this.head + n) % cap
        this.used += n
        if (this.used > cap / 2) this.aboveHalf = true
        this.wakeWriter()
        return n
    }

    txFree(): number {
        return this.ring.length - this.used
    }

    onTxReady(handler: () => void): void {
        this.txReadyHandler = handler
    }

    onReceive(handler: (data: Buffer) => void): void {
        this.rxHandler = handler
    }

    bitRate(): number {
        return this.opts.nominalBitRate
    }

    // ---- worker side (called from the link's fibers)

    _stopped(): boolean {
        return this.stopped
    }

    async _connect(): Promise<Socket | null> {
        this.st = SocketLinkState.Connecting
        try {
            const s = await connect({ host: this.opts.host, port: this.opts.port, proto: "tcp", timeout: this.connectTimeoutMs })
            if (this.stopped) {
                await s.close()
                return null
            }
            this.sock = s
            this.st = SocketLinkState.Up
            this.connects++
            this.backoff.reset()
            this.log("seqmirror: link up: tcp://" + this.opts.host + ":" + this.opts.port)
            return s
        } catch (e) {
            const msg = errorText(e)
            this.connectFailures++
            if (msg.indexOf("not supported") >= 0) {
                this.st = SocketLinkState.Unsupported
                this.stopped = true
                this.log("seqmirror: link: this runtime has no networking (" + msg + "): the link to the remote needs a Wi-Fi board")
                return null
            }
            // say it once per outage, not on every attempt
            if (this.connectFailures === 1 || this.lastError !== msg) this.log("seqmirror: link: cannot connect: " + msg)
            this.lastError = msg
            return null
        }
    }

    /** The pause before the next attempt (counts one more failed attempt). */
    _backoffMs(): number {
        this.st = SocketLinkState.Waiting
        return this.backoff.next()
    }

    /** Sends buffered bytes while the socket `s` is current; returns when it is not. */
    async _pump(s: Socket) {
        while (this.sock === s && !this.stopped) {
            if (this.used === 0) {
                this.writerIdle = true
                await ds.suspend(1000)
                this.writerIdle = false
                continue
            }
            // contiguous bytes from tail (Math.min takes two arguments in DeviceScript)
            const n = Math.min(Math.min(this.used, this.chunkBytes), this.ring.length - this.tail)
            let chunk: Buffer
            if (n === this.chunkBytes) {
                chunk = this.chunkFull
                chunk.blitAt(0, this.ring, this.tail, n)
            } else chunk = this.ring.slice(this.tail, this.tail + n) // the runtime's slice copies
            try {
                await s.send(chunk)
            } catch (e) {
                const msg = errorText(e)
                if (isQueueFull(msg) && this.sock === s) {
                    // the runtime's send queue is full (the library has waited 10 ms): again
                    this.sendRetries++
                    continue
                }
                this._lost(s, "send: " + msg)
                return
            }
            this.bytesSent += n
            this.tail = (this.tail + n) % this.ring.length
            this.used -= n
            if (this.aboveHalf && this.used < this.ring.length / 2) {
                this.aboveHalf = false
                this.clock.setTimer(0, this.deliverTxReady)
            }
            // the runtime's send returns at once: yield so that the run loop and the
            // receiver run between chunks (and the VM's loop budget holds)
            await ds.sleep(0)
        }
    }

    /** Socket `s` is the link's current connection. */
    _current(s: Socket): boolean {
        return this.sock === s
    }

    /** Bytes arrived on socket `s`. */
    _received(s: Socket, data: Buffer): void {
        if (this.sock !== s) return
        this.bytesReceived += data.length
        this.rxQueue.push(data)
        if (!this.rxPosted) {
            this.rxPosted = true
            this.clock.setTimer(0, this.deliverRx)
        }
    }

    /** Socket `s` failed or was closed: drop it (the worker reconnects). */
    _lost(s: Socket, why: string): void {
        if (this.sock !== s) return
        this.sock = null
        this.drops++
        this.lastError = why
        this.log("seqmirror: link down: " + why)
        closeQuietly.start(s)
        this.wakeWriter()
    }

    private wakeWriter(): void {
        const w = this.worker
        if (w !== null && this.writerIdle && w.suspended) w.resume(null)
    }

    private flushRx(): void {
        this.rxPosted = false
        while (this.rxQueue.length > 0) {
            const b = this.rxQueue.shift()
            if (this.rxHandler !== null) this.rxHandler(b)
        }
    }
}

/** The runtime's send queue was full: `send` threw "socket NAME: send error -1" (other codes,
 * such as -100 for a socket the runtime has already closed, end the connection). */
function isQueueFull(msg: string): boolean {
    const tail = "send error -1"
    const at = msg.indexOf(tail)
    return at >= 0 && at + tail.length === msg.length
}

async function closeQuietly(s: Socket) {
    try {
        await s.close()
    } catch (e) {
        // already closed
    }
}

/** Receives on `s` until it closes or stops being the link's socket. The runtime's close
 * does not wake a waiting receive, so the wait is bounded and the socket checked each time. */
async function socketLinkReader(link: SocketLink, s: Socket) {
    while (link._current(s)) {
        let b: Buffer
        try {
            b = await s.recv(1000)
        } catch (e) {
            link._lost(s, "receive: " + errorText(e))
            return
        }
        if (b === null) {
            link._lost(s, "closed by the remote")
            return
        }
        if (b === undefined) continue
        link._received(s, b)
    }
}

async function socketLinkWorker(link: SocketLink) {
    while (!link._stopped()) {
        const s = await link._connect()
        if (s !== null) {
            socketLinkReader.start(link, s)
            await link._pump(s)
        }
        if (link._stopped()) return
        await ds.sleep(link._backoffMs())
    }
}
