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
 * - Sending: the link holds no bytes of its own (the link channel keeps its frames until they
 *   are acknowledged, and the runtime's socket queues a copy of what it is handed). While the
 *   connection is up, `write` hands the socket what it is given, in sends of up to
 *   `chunkBytes`, and returns how much the socket took; while it is down, nothing (0). What was
 *   not taken is offered again at `onTxReady`, which fires when the connection opens and when
 *   a full send queue has had its pause. `txFree()` is one send's worth while it may write, 0
 *   while it may not.
 * - Bytes handed to the socket count as sent: the ones in flight when a connection dies are
 *   lost with it (TCP does not say what arrived), and the channel above retransmits.
 * - A send the runtime cannot queue (its send queue is full: -1) takes nothing, and
 *   `onTxReady` fires 10 ms later; any other send error, a socket error or a close by the peer
 *   drops the connection, and the link reconnects.
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
    // (flags and registers without initializers: undefined reads as false, and each is set
    // before it is read)
    private chunkBytes: number
    private backoff: ReconnectBackoff
    private connectTimeoutMs: number
    private log: (line: string) => void
    private st = SocketLinkState.Stopped
    /** The connect timeout, the backoff wait or a full send queue's pause. */
    private timer!: Timer | null
    private rxQueue: Buffer[] = []
    private rxPosted!: boolean
    private rxHandler!: ((data: Buffer) => void) | null
    private txReadyHandler!: (() => void) | null
    /** Tells the sender it may write (the connection opened, a full queue's pause ended). */
    private readonly kReady: () => void
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
    /** Writes the runtime's full send queue made wait. */
    sendRetries = 0
    lastError = ""

    constructor(
        private clock: Clock,
        private opts: SocketLinkOptions
    ) {
        // the defaults, where the options leave them out (one test each: smaller than ?: values)
        let chunk = 512
        if (opts.chunkBytes !== undefined) if (opts.chunkBytes > 0) chunk = opts.chunkBytes
        this.chunkBytes = chunk
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
        this.kReady = () => {
            self.timer = null
            if (self.st === SocketLinkState.Up) if (self.txReadyHandler) self.txReadyHandler()
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
                    me.log("seqmirror: link up: tcp://" + me.opts.remoteHost + ":" + me.opts.remotePort)
                    // what waits to be sent, from the run loop
                    me.setTimer(0, me.kReady)
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

    /** Closes the socket and stops reconnecting. */
    stop(): void {
        if (this.st === SocketLinkState.Unsupported) return
        // (a socket is open while connecting or up)
        const st = this.st
        this.st = SocketLinkState.Stopped
        this.setTimer(-1, this.kReady)
        if (st === SocketLinkState.Connecting) closeSocket()
        else if (st === SocketLinkState.Up) closeSocket()
    }

    state(): SocketLinkState {
        return this.st
    }

    // ---- Link

    write(data: Buffer): number {
        // (down, or a full send queue's pause)
        if (this.st !== SocketLinkState.Up) return 0
        if (this.timer) return 0
        const len = data.length
        let off = 0
        while (off < len) {
            const n = Math.min(len - off, this.chunkBytes)
            // the runtime queues a copy; a part is cut (the runtime's slice copies)
            let chunk = data
            if (n < len) chunk = data.slice(off, off + n)
            let r: number
            try {
                r = (ds as unknown as SocketBuiltins)._socketWrite(chunk)
            } catch (e) {
                r = -100
                this.lastError = errorText(e)
            }
            if (r === -1) {
                // the runtime's send queue is full: the rest a little later
                this.sendRetries = this.sendRetries + 1
                this.setTimer(QUEUE_FULL_RETRY_MS, this.kReady)
                break
            }
            if (r !== 0) {
                this.lost("send error " + r)
                break
            }
            off += n
        }
        this.bytesSent = this.bytesSent + off
        return off
    }

    txFree(): number {
        if (this.st !== SocketLinkState.Up) return 0
        if (this.timer) return 0
        return this.chunkBytes
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
}

function closeSocket(): void {
    try {
        ;(ds as unknown as SocketBuiltins)._socketClose()
    } catch (_e) {
        // already closed
    }
}
