import * as ds from "@devicescript/core"
import { ReconnectBackoff } from "../backoff"
import { Clock, Timer } from "../clock"
import { Link } from "../link"
import { errorText } from "./errorText"

/** Where the remote listens (link.remoteHost, link.remotePort) and what bitRate() reports
 * (link.baud: a nominal figure, see the class comment): a configuration's `link` may be given
 * as it is. */
export interface SocketLinkOptions {
    remoteHost: string
    remotePort: number
    baud: number
    /** Transmit buffer in bytes (default 2048: the link channel keeps its frames itself until
     * they are acknowledged, and the runtime's socket queues what it was handed). */
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
 * The runtime's socket builtins, which `@devicescript/net` wraps: one client socket at a time;
 * `_socketOpen` starts connecting (0, or an error code), then the runtime calls
 * `_socketOnEvent` with "open", "data" (a Buffer), "error" (its message) or "close".
 * `_socketWrite` queues a copy of the bytes: 0, -1 when its queue is full, another negative
 * code when the socket is gone.
 */
interface SocketBuiltins {
    _socketOpen(host: string, port: number): number
    _socketClose(): number
    _socketWrite(buf: Buffer): number
    _socketOnEvent: (event: string, arg?: Buffer | string) => void
}

/** Pause before offering bytes again to a full send queue. */
const QUEUE_FULL_RETRY_MS = 10

/**
 * `Link` over one TCP socket of the runtime, for boards whose link to the remote is Wi-Fi (the
 * runtime has no UART driver).
 *
 * - The board connects to host:port (the runtime's sockets are client-only, one at a time: the
 *   link owns the board's only socket, so nothing else may use `@devicescript/net`, fetch or
 *   MQTT while it runs). It uses the runtime's socket builtins directly, driven from the run
 *   loop: no fiber, no event emitter (the library's wrappers cost more image space than this
 *   whole driver).
 * - TX buffer: `write` copies into a ring of `txBytes`, allocated here, and returns how much
 *   it took; the run loop hands it to the socket in chunks of up to `chunkBytes`, one chunk per
 *   run-loop event. While the socket is down the buffer keeps its bytes and fills; they go out
 *   after the next connect (the channel above resynchronises on its frame delimiters whatever
 *   arrives). `onTxReady` fires when the buffer drains below half after a write left it above.
 * - Bytes handed to the socket count as sent: the ones in flight when a connection dies are
 *   lost with it (TCP does not say what arrived), and the channel above retransmits.
 * - A send the runtime cannot queue (its send queue is full: -1) is retried with the same
 *   bytes after 10 ms; any other send error, a socket error or a close by the peer drops the
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
    // (flags and registers without initializers: undefined reads as false, and each is set
    // before it is read)
    private head = 0
    private tail = 0
    private used = 0
    private aboveHalf!: boolean
    private chunkFull: Buffer
    private chunkBytes: number
    private backoff: ReconnectBackoff
    private connectTimeoutMs: number
    private log: (line: string) => void
    private st = SocketLinkState.Stopped
    /** The connect timeout, the backoff wait or a send retry. */
    private timer!: Timer | null
    private pumpPosted!: boolean
    private rxQueue: Buffer[] = []
    private rxPosted!: boolean
    private rxHandler!: ((data: Buffer) => void) | null
    private txReadyHandler!: (() => void) | null
    private readonly kPump: () => void
    private readonly kFlushRx: () => void
    private readonly kConnect: () => void
    private readonly kTimeout: () => void
    private readonly onEvent: (event: string, arg?: Buffer | string) => void

    /** Connections opened, attempts that failed, connections lost. */
    connects = 0
    connectFailures = 0
    drops = 0
    bytesSent = 0
    bytesReceived = 0
    /** Sends retried because the runtime's send queue was full. */
    sendRetries = 0
    lastError = ""

    constructor(
        private clock: Clock,
        private opts: SocketLinkOptions
    ) {
        // the defaults, where the options leave them out (one test each: smaller than ?: values)
        let txBytes = 2048
        if (opts.txBytes !== undefined) if (opts.txBytes >= 64) txBytes = opts.txBytes
        this.ring = Buffer.alloc(txBytes)
        let chunk = 512
        if (opts.chunkBytes !== undefined) if (opts.chunkBytes > 0) chunk = Math.min(opts.chunkBytes, txBytes)
        this.chunkBytes = chunk
        this.chunkFull = Buffer.alloc(chunk)
        let random = () => Math.random()
        if (opts.random !== undefined) random = opts.random
        let base = 500
        if (opts.backoffBaseMs !== undefined) base = opts.backoffBaseMs
        let cap = 30000
        if (opts.backoffCapMs !== undefined) cap = opts.backoffCapMs
        this.backoff = new ReconnectBackoff(base, cap, random)
        this.connectTimeoutMs = 10000
        if (opts.connectTimeoutMs !== undefined) this.connectTimeoutMs = opts.connectTimeoutMs
        this.log = (line: string) => console.log(line)
        if (opts.log !== undefined) this.log = opts.log
        const self = this
        // hands one chunk to the socket, then lets the run loop go on before the next
        this.kPump = () => {
            // (a local: each use of a captured variable costs the image more)
            const me = self
            me.pumpPosted = false
            me.timer = null
            if (me.st !== SocketLinkState.Up) return
            if (me.used === 0) return
            // contiguous bytes from tail (Math.min takes two arguments in DeviceScript)
            const ring = me.ring
            const tail = me.tail
            const max = me.chunkBytes
            const n = Math.min(Math.min(me.used, max), ring.length - tail)
            let chunk = me.chunkFull
            if (n === max) chunk.blitAt(0, ring, tail, n)
            else chunk = ring.slice(tail, tail + n) // the runtime's slice copies
            let r: number
            try {
                r = (ds as unknown as SocketBuiltins)._socketWrite(chunk)
            } catch (e) {
                r = -100
                me.lastError = errorText(e)
            }
            if (r === -1) {
                // the runtime's send queue is full: the same bytes again, a little later
                me.sendRetries = me.sendRetries + 1
                me.setTimer(QUEUE_FULL_RETRY_MS, me.kPump)
                return
            }
            if (r !== 0) {
                me.lost("send error " + r)
                return
            }
            me.bytesSent = me.bytesSent + n
            me.tail = (tail + n) % ring.length
            const used = me.used - n
            me.used = used
            if (me.aboveHalf)
                if (used < ring.length / 2) {
                    me.aboveHalf = false
                    if (me.txReadyHandler) me.txReadyHandler()
                }
            me.postPump()
        }
        this.kFlushRx = () => {
            self.rxPosted = false
            while (self.rxQueue.length > 0) {
                const b = self.rxQueue.shift() as Buffer
                if (self.rxHandler) self.rxHandler(b)
            }
        }
        // opens the connection
        this.kConnect = () => {
            const me = self
            me.timer = null
            const sys = ds as unknown as SocketBuiltins
            me.st = SocketLinkState.Connecting
            sys._socketOnEvent = me.onEvent
            let r: number
            try {
                r = sys._socketOpen(me.opts.remoteHost, me.opts.remotePort)
            } catch (e) {
                const msg = errorText(e)
                if (msg.indexOf("not supported") >= 0) {
                    me.st = SocketLinkState.Unsupported
                    me.log("seqmirror: link: this runtime has no networking (" + msg + "): the link to the remote needs a Wi-Fi board")
                    return
                }
                me.fail(msg)
                return
            }
            if (r !== 0) me.fail("cannot open a socket (" + r + ")")
            else me.setTimer(me.connectTimeoutMs, me.kTimeout)
        }
        this.kTimeout = () => self.fail("no answer within " + self.connectTimeoutMs + " ms")
        this.onEvent = (event, arg) => {
            const me = self
            if (me.st === SocketLinkState.Connecting) {
                if (event === "open") {
                    me.st = SocketLinkState.Up
                    me.connects = me.connects + 1
                    me.backoff.reset()
                    me.setTimer(-1, me.kPump)
                    me.log("seqmirror: link up: tcp://" + me.opts.remoteHost + ":" + me.opts.remotePort)
                    me.postPump()
                } else if (event === "error") me.fail(arg + "")
                else if (event !== "data") me.fail("closed")
                return
            }
            if (me.st !== SocketLinkState.Up) return
            if (event === "data") {
                const b = arg as Buffer
                me.bytesReceived = me.bytesReceived + b.length
                me.rxQueue.push(b)
                if (!me.rxPosted) {
                    me.rxPosted = true
                    me.clock.setTimer(0, me.kFlushRx)
                }
            } else if (event === "error") me.lost(arg + "")
            else if (event === "close") me.lost("closed by the remote")
        }
    }

    /** Starts connecting (and reconnecting, until stop). */
    start(): void {
        if (this.st !== SocketLinkState.Stopped) return
        this.kConnect()
    }

    /** Closes the socket and stops reconnecting. Buffered bytes are kept. */
    stop(): void {
        if (this.st === SocketLinkState.Unsupported) return
        // (a socket is open while connecting or up)
        const st = this.st
        this.st = SocketLinkState.Stopped
        this.setTimer(-1, this.kPump)
        if (st === SocketLinkState.Connecting) closeSocket()
        else if (st === SocketLinkState.Up) closeSocket()
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
        this.postPump()
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
        return this.opts.baud
    }

    // ---- the connection

    /** A connection attempt failed: say so once per outage, then wait out the backoff. */
    private fail(msg: string): void {
        closeSocket()
        const failures = this.connectFailures + 1
        this.connectFailures = failures
        let say = this.lastError !== msg
        if (failures === 1) say = true
        if (say) this.log("seqmirror: link: cannot connect: " + msg)
        this.lastError = msg
        // the next attempt after the backoff
        this.st = SocketLinkState.Waiting
        this.setTimer(this.backoff.next(), this.kConnect)
    }

    /** The connection died: drop it and reconnect after the backoff. */
    private lost(why: string): void {
        closeSocket()
        this.drops++
        this.lastError = why
        this.log("seqmirror: link down: " + why)
        this.st = SocketLinkState.Waiting
        this.setTimer(this.backoff.next(), this.kConnect)
    }

    /** Replaces the pending timer (none when delay < 0). */
    private setTimer(delay: number, fire: () => void): void {
        if (this.timer) this.clock.clearTimer(this.timer)
        this.timer = null
        if (delay >= 0) this.timer = this.clock.setTimer(delay, fire)
    }

    // ---- sending, from the run loop

    private postPump(): void {
        if (this.pumpPosted) return
        if (this.st !== SocketLinkState.Up) return
        this.pumpPosted = true
        this.clock.setTimer(0, this.kPump)
    }
}

function closeSocket(): void {
    try {
        ;(ds as unknown as SocketBuiltins)._socketClose()
    } catch (_e) {
        // already closed
    }
}
