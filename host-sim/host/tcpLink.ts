// The link to the remote over real TCP on a host: a primary's client connection, and the
// remote's listener that gives each member's link channel that member's connection (Node only).
import { connect, createServer, Server, Socket } from "node:net"
import { Clock, Timer } from "../../hal/clock"
import { Link } from "../../hal/link"
import { getU16, getU32, putU16, putU32 } from "../../firmware/codec/bytes"
import { CobsDecoder, cobsEncode } from "../../firmware/codec/cobs"
import { crc32c, crc32cUpdate } from "../../firmware/codec/crc32c"
import { ReconnectBackoff } from "../../hal/backoff"
import {
    CRC_BYTES,
    FrameType,
    HANDSHAKE_BYTES,
    HEADER_BYTES,
    OFF_GENERATION,
    OFF_MAX_PAYLOAD,
    OFF_MEMBER,
    OFF_NONCE,
    OFF_REASON,
    OFF_SESSION,
    OFF_VERSION,
    PROTOCOL_VERSION,
    RefuseReason,
} from "../../firmware/link/frame"
import { SEALED_HELLO, SEALED_SESSION } from "../../firmware/link/seal"

export interface TcpClientOptions {
    host: string
    port: number
    /** What bitRate() reports (link.baud): nominal, as on a board's TCP link. */
    nominalBitRate: number
    /** Transmit buffer in bytes (default 2048, as a board's). */
    txBytes?: number
    /** Give up one connection attempt after this long (default 10000 ms). */
    connectTimeoutMs?: number
    /** Reconnect backoff: first ceiling and cap (default 200 ms and 5 s). */
    backoffBaseMs?: number
    backoffCapMs?: number
    random?: () => number
    /** Where state changes are reported, one line each. */
    log: (line: string) => void
}

/**
 * A primary's `Link` over one TCP connection to the remote: the host's counterpart of the
 * board's hal/devicescript/socketLink.ts, with the same behaviour.
 *
 * - `write` copies into a transmit ring of `txBytes` and returns how much it took; the bytes
 *   go to the socket from the event loop. While the connection is down the ring keeps its
 *   bytes (they go out after the next connect; the channel resynchronises on its frame
 *   delimiters); bytes handed to a connection that dies are lost with it, and the channel
 *   retransmits. `onTxReady` fires when the ring drains below half after a write left it above.
 * - Reconnect: exponential backoff with equal jitter (`ReconnectBackoff`, the rule of the
 *   link channel and the board's link), reset when a connection opens; the first attempt is
 *   immediate. A connection that does not open within `connectTimeoutMs` is an attempt failed.
 * - A new connection starts with a frame delimiter delivered to the receiver, so a frame the
 *   old connection cut short is dropped at once instead of swallowing the first of the new.
 */
export class TcpClientLink implements Link {
    private ring: Buffer
    private head = 0
    private tail = 0
    private used = 0
    private aboveHalf = false
    private socket: Socket | null = null
    private up = false
    private stopped = true
    private timer: Timer | null = null
    private pumpPosted = false
    private backoff: ReconnectBackoff
    private rx: ((data: Buffer) => void) | null = null
    private txReady: (() => void) | null = null
    connects = 0
    connectFailures = 0
    drops = 0
    bytesSent = 0
    bytesReceived = 0
    lastError = ""

    constructor(
        private clock: Clock,
        private opts: TcpClientOptions
    ) {
        this.ring = Buffer.alloc(opts.txBytes ?? 2048)
        this.backoff = new ReconnectBackoff(opts.backoffBaseMs ?? 200, opts.backoffCapMs ?? 5000, opts.random ?? Math.random)
    }

    /** Starts connecting (and reconnecting, until stop). */
    start(): void {
        if (!this.stopped) return
        this.stopped = false
        this.connect()
    }

    /** Closes the connection and stops reconnecting. */
    stop(): void {
        this.stopped = true
        this.setTimer(-1, null)
        this.drop()
    }

    isUp(): boolean {
        return this.up
    }

    write(data: Buffer): number {
        const cap = this.ring.length
        const n = Math.min(cap - this.used, data.length)
        if (n <= 0) return 0
        const first = Math.min(n, cap - this.head)
        data.copy(this.ring, this.head, 0, first)
        if (n > first) data.copy(this.ring, 0, first, n)
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
        this.txReady = handler
    }

    onReceive(handler: (data: Buffer) => void): void {
        this.rx = handler
    }

    bitRate(): number {
        return this.opts.nominalBitRate
    }

    private connect(): void {
        this.timer = null
        if (this.stopped) return
        const s = connect({ host: this.opts.host, port: this.opts.port })
        this.socket = s
        s.setNoDelay(true)
        let why = ""
        this.setTimer(this.opts.connectTimeoutMs ?? 10000, () => {
            why = "no answer within " + (this.opts.connectTimeoutMs ?? 10000) + " ms"
            s.destroy()
        })
        s.on("connect", () => {
            if (this.socket !== s) return
            this.setTimer(-1, null)
            this.up = true
            this.connects++
            this.backoff.reset()
            this.opts.log("link up: tcp://" + this.opts.host + ":" + this.opts.port)
            if (this.rx) this.rx(Buffer.alloc(1))
            this.postPump()
        })
        s.on("data", (d: Buffer) => {
            if (this.socket !== s) return
            this.bytesReceived += d.length
            if (this.rx) this.rx(d)
        })
        s.on("drain", () => {
            if (this.socket === s) this.postPump()
        })
        s.on("error", (e) => {
            why = e.message
        })
        s.on("close", () => {
            if (this.socket !== s) return
            this.socket = null
            const wasUp = this.up
            this.up = false
            if (this.stopped) return
            if (wasUp) {
                this.drops++
                this.lastError = why || "closed by the remote"
                this.opts.log("link down: " + this.lastError)
            } else {
                this.connectFailures++
                const msg = why || "closed"
                if (this.connectFailures === 1 || this.lastError !== msg) this.opts.log("link: cannot connect: " + msg)
                this.lastError = msg
            }
            this.setTimer(this.backoff.next(), () => this.connect())
        })
    }

    private drop(): void {
        const s = this.socket
        this.socket = null
        this.up = false
        if (s) s.destroy()
    }

    /** Replaces the pending timer (none when delay < 0). */
    private setTimer(delay: number, fire: (() => void) | null): void {
        if (this.timer) this.clock.clearTimer(this.timer)
        this.timer = delay >= 0 && fire ? this.clock.setTimer(delay, fire) : null
    }

    private postPump(): void {
        if (this.pumpPosted || !this.up) return
        this.pumpPosted = true
        this.clock.setTimer(0, () => this.pump())
    }

    /** Hands what the ring holds to the socket, as far as the socket takes it without
     * buffering beyond its high-water mark. */
    private pump(): void {
        this.pumpPosted = false
        const s = this.socket
        while (this.up && s && this.used > 0 && !s.writableNeedDrain) {
            const n = Math.min(this.used, this.ring.length - this.tail)
            const chunk = Buffer.from(this.ring.subarray(this.tail, this.tail + n))
            this.tail = (this.tail + n) % this.ring.length
            this.used -= n
            this.bytesSent += n
            s.write(chunk)
        }
        if (this.aboveHalf && this.used < this.ring.length / 2) {
            this.aboveHalf = false
            if (this.txReady) this.txReady()
        }
    }
}

/**
 * One member's link at the remote: the connection that member's primary opened last (none
 * while it is not connected). Bytes the channel writes while there is none are lost, as on a
 * line that is down; each new connection starts with a frame delimiter delivered to the
 * receiver, so a frame the old connection cut short is dropped at once.
 */
export class MemberLink implements Link {
    socket: Socket | null = null
    /** Where the current connection comes from ("127.0.0.1:50412"). */
    peer = ""
    connects = 0
    private rx: ((data: Buffer) => void) | null = null

    constructor(
        readonly member: number,
        private nominalBitRate: number
    ) {}

    /** Takes over `socket` (closing the one before), then delivers `first`, the bytes that
     * came on it from the frame that identified it on; true when it replaced a connection. */
    attach(socket: Socket, peer: string, first: Buffer): boolean {
        const old = this.socket
        this.socket = socket
        this.peer = peer
        this.connects++
        if (old) old.destroy()
        this.deliver(Buffer.alloc(1))
        this.deliver(first)
        return old !== null
    }

    /** The connection closed: if it is the current one, the link has none. */
    detach(socket: Socket): boolean {
        if (this.socket !== socket) return false
        this.socket = null
        return true
    }

    deliver(data: Buffer): void {
        if (data.length > 0 && this.rx) this.rx(data)
    }

    write(data: Buffer): number {
        const s = this.socket
        if (s && !s.destroyed && s.writable) s.write(Buffer.from(data))
        return data.length
    }

    txFree(): number {
        // a socket buffers what it is given; the channel's windows bound how much that is
        return 1 << 16
    }

    onTxReady(_handler: () => void): void {}

    onReceive(handler: (data: Buffer) => void): void {
        this.rx = handler
    }

    bitRate(): number {
        return this.nominalBitRate
    }
}

/** Longest frame the listener decodes while it identifies a connection (a DATA frame of the
 * largest maxPayload, with room to spare). */
const IDENTIFY_MAX_FRAME = 4096
/** Frames of unknown sessions are answered with at most one RESET per connection this often
 * (the channel's minRtoMs). */
const RESET_SPACING_MS = 50

class Pending {
    member = -1
    /** The frame that identified the connection, encoded again. */
    frame: Buffer | null = null
    resetAt = -1
    decoder: CobsDecoder
    constructor(onFrame: (buf: Buffer, len: number) => void) {
        this.decoder = new CobsDecoder(IDENTIFY_MAX_FRAME, onFrame)
    }
}

export interface ListenerOptions {
    members: number
    /** What each member's link reports as its bit rate (link.baud). */
    nominalBitRate: number
    /** The remote's maxPayload, for the REFUSE it sends a member it does not have. */
    maxPayload: number
    /** The session each member's channel is in now (0: none), to route a connection whose
     * first frame is not a HELLO. */
    sessionOf: (member: number) => number
    log: (line: string) => void
    /** The sealed link (docs/FORMAT-link.md §11): whether raw frame buf[0, n) (CRC excluded)
     * authenticates as member m's, without changing anything. Given, a connection is a member's
     * only when its first frame authenticates as one of that member (a HELLO under its key, or
     * a frame under its session's keys); anything else is ignored, and a HELLO that does not
     * authenticate closes the connection. */
    authentic?: (member: number, buf: Buffer, n: number) => boolean
}

/**
 * The remote's listening socket: each connection is one member's, and which member says its
 * first frame, read here before any channel sees it:
 * - a HELLO names its member (docs/FORMAT-link.md §5);
 * - any other frame names its session, which routes it to the member whose channel is in that
 *   session (a primary whose connection was replaced goes on in its session);
 * - a frame of a session no channel is in (the remote restarted since) is answered with a
 *   RESET, so that the primary says HELLO at once instead of waiting for its link to be dead;
 * - a HELLO of a member the group does not have gets a REFUSE (wrong member), so that the
 *   primary stops trying.
 * Frames that fail their CRC or are not whole are skipped. Once identified, the connection
 * becomes the member's link (`MemberLink.attach`, which closes the member's previous one),
 * starting with the frame that identified it.
 */
export class RemoteListener {
    readonly links: MemberLink[] = []
    private server: Server | null = null
    private sockets = new Set<Socket>()
    /** HELLOs refused before a member's channel saw them: of members the group does not have,
     * and, on a sealed link, that did not authenticate. */
    refused = 0
    resets = 0

    constructor(
        private clock: Clock,
        private opts: ListenerOptions
    ) {
        for (let m = 0; m < opts.members; m++) this.links.push(new MemberLink(m, opts.nominalBitRate))
    }

    /** Listens on host:port; rejects with the system's error (EADDRINUSE, ...). */
    listen(host: string, port: number): Promise<{ host: string; port: number }> {
        return new Promise((resolve, reject) => {
            const server = createServer((s) => this.accept(s))
            server.once("error", reject)
            server.listen(port, host, () => {
                server.removeListener("error", reject)
                server.on("error", (e) => this.opts.log("listener: " + e.message))
                this.server = server
                const a = server.address()
                resolve(typeof a === "object" && a ? { host: a.address, port: a.port } : { host, port })
            })
        })
    }

    /** Stops listening and closes every connection. */
    close(): Promise<void> {
        for (const s of this.sockets) s.destroy()
        this.sockets.clear()
        const server = this.server
        this.server = null
        return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()))
    }

    private accept(s: Socket): void {
        this.sockets.add(s)
        s.setNoDelay(true)
        const peer = (s.remoteAddress ?? "?") + ":" + (s.remotePort ?? 0)
        const p = new Pending((buf, len) => this.identify(s, p, buf, len))
        let link: MemberLink | null = null
        s.on("data", (d: Buffer) => {
            if (link) {
                link.deliver(d)
                return
            }
            // frame by frame, so that what follows the identifying frame goes to the link
            let start = 0
            for (let i = 0; i < d.length; i++) {
                if (d[i] !== 0) continue
                p.decoder.push(d, start, i + 1)
                start = i + 1
                if (p.member >= 0) {
                    link = this.links[p.member]
                    const rest = d.subarray(start)
                    const first = Buffer.alloc(p.frame!.length + rest.length)
                    p.frame!.copy(first, 0)
                    rest.copy(first, p.frame!.length)
                    const replaced = link.attach(s, peer, first)
                    this.opts.log("member " + p.member + ": connected from " + peer + (replaced ? " (replaces its previous connection)" : ""))
                    return
                }
            }
            p.decoder.push(d, start, d.length)
        })
        s.on("error", () => s.destroy())
        s.on("close", () => {
            this.sockets.delete(s)
            if (link && link.detach(s)) this.opts.log("member " + link.member + ": disconnected (" + peer + ")")
        })
    }

    /** A whole frame from a connection not identified yet. */
    private identify(s: Socket, p: Pending, buf: Buffer, len: number): void {
        if (p.member >= 0 || len < HEADER_BYTES + CRC_BYTES) return
        if (crc32cUpdate(0, buf, 0, len - CRC_BYTES) !== getU32(buf, len - CRC_BYTES)) return
        if (this.opts.authentic) {
            this.identifySealed(s, p, buf, len, this.opts.authentic)
            return
        }
        const type = buf[0]
        if (type === FrameType.Hello) {
            if (len < HANDSHAKE_BYTES + CRC_BYTES) return
            const member = getU16(buf, OFF_MEMBER)
            if (member >= this.opts.members) {
                this.refused++
                this.opts.log(
                    "a HELLO of member " + member + " from " + (s.remoteAddress ?? "?") + ": the group has " + this.opts.members + " member(s); refused"
                )
                this.send(s, this.refuseFrame(member, getU32(buf, OFF_NONCE)))
                return
            }
            this.take(p, member, buf, len)
            return
        }
        const session = getU32(buf, OFF_SESSION)
        if (session !== 0) {
            for (let m = 0; m < this.opts.members; m++) {
                if (this.opts.sessionOf(m) === session) {
                    this.take(p, m, buf, len)
                    return
                }
            }
        }
        if (type === FrameType.Data || type === FrameType.Ack) {
            const now = this.clock.millis()
            if (p.resetAt >= 0 && now - p.resetAt < RESET_SPACING_MS) return
            p.resetAt = now
            this.resets++
            this.send(s, controlFrame(FrameType.Reset, session, HEADER_BYTES))
        }
    }

    /** identify, on a sealed link: a HELLO names its member in the clear and must open under
     * that member's key; any other frame must open under the keys of a member's session. */
    private identifySealed(s: Socket, p: Pending, buf: Buffer, len: number, authentic: (m: number, buf: Buffer, n: number) => boolean): void {
        const n = len - CRC_BYTES
        if (buf[0] === SEALED_HELLO) {
            const member = getU16(buf, 1)
            if (member < this.opts.members && authentic(member, buf, n)) {
                this.take(p, member, buf, len)
                return
            }
            this.refused++
            const peer = (s.remoteAddress ?? "?") + ":" + (s.remotePort ?? 0)
            // one line for the first refusal, then at 10, 100, ...: a primary without the key retries
            const r = this.refused
            if (r === 1 || /^10+$/.test(String(r)))
                this.opts.log(
                    "a HELLO of member " +
                        member +
                        " from " +
                        peer +
                        " does not authenticate (" +
                        (member < this.opts.members ? "not this member's key, or a replay" : "no such member") +
                        "): refused, connection closed (" +
                        r +
                        " refused so far)"
                )
            s.destroy()
            return
        }
        if (buf[0] !== SEALED_SESSION) return
        for (let m = 0; m < this.opts.members; m++)
            if (authentic(m, buf, n)) {
                this.take(p, m, buf, len)
                return
            }
    }

    private take(p: Pending, member: number, buf: Buffer, len: number): void {
        p.member = member
        p.frame = cobsEncode(Buffer.from(buf.subarray(0, len)))
    }

    private refuseFrame(member: number, nonce: number): Buffer {
        const b = Buffer.alloc(HANDSHAKE_BYTES)
        b[OFF_VERSION] = PROTOCOL_VERSION
        b[OFF_REASON] = RefuseReason.WrongMember
        putU16(b, OFF_MEMBER, member)
        putU32(b, OFF_GENERATION, 0)
        putU32(b, OFF_NONCE, nonce)
        putU16(b, OFF_MAX_PAYLOAD, this.opts.maxPayload)
        return controlFrame(FrameType.Refuse, 0, HANDSHAKE_BYTES, b)
    }

    private send(s: Socket, frame: Buffer): void {
        if (!s.destroyed && s.writable) s.write(frame)
    }
}

/** A frame without DATA: `type`, `session`, a zero ack block, the body of `body` (bytes
 * HEADER_BYTES..len), its CRC; COBS-encoded with its delimiter. */
function controlFrame(type: number, session: number, len: number, body?: Buffer): Buffer {
    const raw = Buffer.alloc(len + CRC_BYTES)
    if (body) body.copy(raw, HEADER_BYTES, HEADER_BYTES, len)
    raw[0] = type
    putU32(raw, OFF_SESSION, session)
    putU32(raw, len, crc32c(raw.subarray(0, len)))
    return cobsEncode(raw)
}
