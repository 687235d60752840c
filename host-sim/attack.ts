// The simulator's `attack` fault class: an adversary on every member's link, between the
// primary and the remote (Node only).
import { putU16, putU32 } from "../firmware/codec/bytes"
import { CobsDecoder, cobsEncode } from "../firmware/codec/cobs"
import { crc32c } from "../firmware/codec/crc32c"
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
} from "../firmware/link/frame"
import { LinkCipher, LinkSeal, SEALED_ANSWER, SEALED_HELLO, SEALED_HINT, SEALED_SESSION } from "../firmware/link/seal"
import { ChannelCounters } from "../firmware/link/counters"
import { LinkTap } from "./models/linkTap"
import { UartWire } from "./models/uart"
import { Prng } from "./prng"

/** Frames of each direction the adversary keeps to replay. */
const CAPTURED = 64
/** A flip waits this long for a frame in flight, then is given up. */
const FLIP_WAIT_MS = 100

/** What the adversaries of a run share: HELLOs captured on every link (to pose as their
 * member elsewhere), the cipher, the key set of the group and the adversary's own key. */
export class AttackPool {
    hellos: Buffer[][] = []
    constructor(
        readonly cipher: LinkCipher,
        /** Member m's key (an insider: a member's key used on another member's link). */
        readonly keyOf: (member: number) => Buffer,
        /** A key of the adversary's own (no member has it). */
        readonly ownKey: Buffer,
        readonly members: number,
        readonly maxPayload: number
    ) {
        for (let m = 0; m < members; m++) this.hellos.push([])
    }
}

/** Attacks made, by kind (the run counts them in faultsInjected). */
export interface AttackCounts {
    attackInjected: number
    attackReplayed: number
    attackPosed: number
    attackFlipped: number
}

/**
 * The adversary on member `member`'s wire: it hears both directions (each frame whole, as a
 * receiver decodes it) and, at each of its turns, does one of:
 * - injects a frame of random bytes (under a valid CRC, so that it reaches the sealing layer),
 *   of a random kind: sealed or plain, towards the remote or the primary;
 * - injects a crafted plain frame: a HELLO of a newer generation, DATA, a REFUSE or WELCOME to
 *   the primary, a RESET, the remote's hint (docs/FORMAT-link.md §4), or a sealed-looking frame
 *   with a fresh counter it cannot seal;
 * - replays frames it captured, one or the last few, to the end that received them;
 * - poses as a member: a HELLO captured on another member's link, a HELLO of this member sealed
 *   with its own key, or one of another member sealed with that member's key;
 * - flips one bit of the next frame in transit (the CRC made to fit again).
 * The remote must take none of it (the run's checker watches what the sealing layers accept);
 * the link recovers from what it destroyed by retransmission.
 */
export class LinkAdversary {
    /** Where the primary's firmware reaches the wire: the adversary hears the primary's frames
     * here and talks to the primary. */
    readonly primarySide: LinkTap
    /** Where the remote's firmware reaches the wire. */
    readonly remoteSide: LinkTap
    readonly counts: AttackCounts = { attackInjected: 0, attackReplayed: 0, attackPosed: 0, attackFlipped: 0 }
    private fromPrimary: Buffer[] = []
    private fromRemote: Buffer[] = []
    /** Flip a bit of the next frame towards the remote (1) or the primary (2), if it comes
     * within FLIP_WAIT_MS of flipAt (a frame in flight then). */
    private flip = 0
    private flipAt = 0
    private stopped = false
    /** Whether the last chunk each receiver got ended a frame (then the next starts one). */
    private remoteAtFrame = true
    private primaryAtFrame = true

    constructor(
        readonly member: number,
        wire: UartWire,
        private pool: AttackPool,
        private prng: Prng,
        private now: () => number
    ) {
        this.primarySide = new LinkTap(wire.a)
        this.remoteSide = new LinkTap(wire.b)
        const up = new CobsDecoder(8192, (buf, len) => this.captured(this.fromPrimary, buf, len, true))
        const down = new CobsDecoder(8192, (buf, len) => this.captured(this.fromRemote, buf, len, false))
        this.primarySide.onWrite = (d) => up.push(d, 0, d.length)
        this.remoteSide.onWrite = (d) => down.push(d, 0, d.length)
        this.remoteSide.filter = (d) => {
            const out = this.flip === 1 ? this.flipped(d, this.remoteAtFrame) : d
            this.remoteAtFrame = d[d.length - 1] === 0
            return out
        }
        this.primarySide.filter = (d) => {
            const out = this.flip === 2 ? this.flipped(d, this.primaryAtFrame) : d
            this.primaryAtFrame = d[d.length - 1] === 0
            return out
        }
    }

    /** The adversary's turn: one attack. */
    act(): void {
        if (this.stopped) return
        const r = this.prng
        const kind = r.int(10)
        if (kind < 2) this.injectRandom()
        else if (kind < 4) this.injectCrafted()
        else if (kind < 6) this.replay()
        else if (kind < 8) this.pose()
        else {
            this.flip = r.chance(0.7) ? 1 : 2
            this.flipAt = this.now()
        }
    }

    /** The attacks stop (the run's faults are over): the adversary no longer listens either
     * (what it would capture from now on is never sent, and no flip is pending). */
    stop(): void {
        this.stopped = true
        this.flip = 0
        this.primarySide.onWrite = null
        this.remoteSide.onWrite = null
        this.primarySide.filter = null
        this.remoteSide.filter = null
    }

    private captured(ring: Buffer[], buf: Buffer, len: number, fromPrimary: boolean): void {
        const f = Buffer.from(buf.subarray(0, len))
        ring.push(f)
        if (ring.length > CAPTURED) ring.shift()
        if (fromPrimary && f[0] === SEALED_HELLO) {
            const hellos = this.pool.hellos[this.member]
            hellos.push(f)
            if (hellos.length > 8) hellos.shift()
        }
    }

    /** Sends raw frame bytes (CRC included) to the remote or the primary. */
    private send(frame: Buffer, toRemote: boolean): void {
        const bytes = Buffer.concat([Buffer.alloc(1), cobsEncode(frame)])
        if (toRemote) this.remoteSide.inject(bytes)
        else this.primarySide.inject(bytes)
    }

    /** b[0, n) with its CRC. */
    private withCrc(b: Buffer): Buffer {
        const f = Buffer.alloc(b.length + CRC_BYTES)
        b.copy(f)
        putU32(f, b.length, crc32c(b))
        return f
    }

    private randomBytes(n: number): Buffer {
        const b = Buffer.alloc(n)
        for (let i = 0; i < n; i++) b[i] = this.prng.int(256)
        return b
    }

    private injectRandom(): void {
        const r = this.prng
        const b = this.randomBytes(1 + r.int(200))
        const kinds = [SEALED_SESSION, SEALED_HELLO, SEALED_ANSWER, 1, 2, 3, 4, 5, 6, b[0]]
        b[0] = kinds[r.int(kinds.length)]
        if (b[0] === SEALED_HELLO && b.length > 3) putU16(b, 1, this.member)
        this.send(this.withCrc(b), r.chance(0.7))
        this.counts.attackInjected++
    }

    private plainHandshake(type: number, generation: number, reason: number): Buffer {
        const b = this.randomBytes(HANDSHAKE_BYTES + this.prng.int(8))
        b[0] = type
        b[1] = 0
        b[OFF_VERSION] = PROTOCOL_VERSION
        b[OFF_REASON] = reason
        putU16(b, OFF_MEMBER, this.member)
        putU32(b, OFF_GENERATION, generation)
        putU32(b, OFF_NONCE, this.prng.next())
        putU16(b, OFF_MAX_PAYLOAD, this.pool.maxPayload)
        return b
    }

    private injectCrafted(): void {
        const r = this.prng
        const which = r.int(7)
        if (which === 6) {
            // the remote's hint, which anyone can send (in the clear: the attack class runs
            // sealed): it brings a primary's HELLO forward at most; the remote takes none
            const b = Buffer.alloc(HEADER_BYTES)
            b[0] = SEALED_HINT
            this.send(this.withCrc(b), r.chance(0.2))
        } else if (which === 0) this.send(this.withCrc(this.plainHandshake(FrameType.Hello, 0x7fffffff, 0)), true)
        else if (which === 1) this.send(this.withCrc(this.plainHandshake(FrameType.Refuse, 0x7fffffff, 1)), false)
        else if (which === 2) this.send(this.withCrc(this.plainHandshake(FrameType.Welcome, 1 + r.int(10), 0)), false)
        else if (which === 3) {
            // DATA of a guessed session with one message, or a RESET of one
            const data = r.chance(0.5)
            const b = this.randomBytes(data ? 24 + 2 + 40 : HEADER_BYTES)
            b[0] = data ? FrameType.Data : FrameType.Reset
            b[1] = 0
            putU32(b, OFF_SESSION, r.next())
            if (data) putU16(b, 24, 40)
            this.send(this.withCrc(b), data)
        } else {
            // a sealed-looking frame with a counter ahead of anything seen: it must fail its tag
            const b = this.randomBytes(5 + 18 + 8 + r.int(300))
            b[0] = which === 4 ? SEALED_SESSION : SEALED_ANSWER
            if (which === 4) putU32(b, 1, 0x10000 + r.int(0x7fff0000))
            this.send(this.withCrc(b), which === 4)
        }
        this.counts.attackInjected++
    }

    private replay(): void {
        const r = this.prng
        const toRemote = r.chance(0.7)
        const ring = toRemote ? this.fromPrimary : this.fromRemote
        if (ring.length === 0) return
        const burst = r.chance(0.3) ? Math.min(ring.length, 1 + r.int(8)) : 1
        const start = burst > 1 ? ring.length - burst : r.int(ring.length)
        for (let i = 0; i < burst; i++) {
            this.send(ring[start + i], toRemote)
            this.counts.attackReplayed++
        }
    }

    private pose(): void {
        const r = this.prng
        const p = this.pool
        const way = r.int(3)
        if (way === 0) {
            // a HELLO another member sent on its own link
            const others: Buffer[] = []
            for (let m = 0; m < p.members; m++) if (m !== this.member) for (const h of p.hellos[m]) others.push(h)
            if (others.length === 0) return
            this.send(others[r.int(others.length)], true)
        } else {
            // a sealed HELLO of this member under the adversary's key, or of another member under
            // that member's key (a member that tries another's link)
            let member = this.member
            let key = p.ownKey
            if (way === 2 && p.members > 1) {
                member = (this.member + 1 + r.int(p.members - 1)) % p.members
                key = p.keyOf(member)
            }
            const seal = new LinkSeal(p.cipher, key, member)
            seal.counters = new ChannelCounters()
            const hello = this.plainHandshake(FrameType.Hello, 1 + r.int(1000), 0)
            putU16(hello, OFF_MEMBER, member)
            const out = Buffer.alloc(hello.length + 64)
            const n = seal.wrap(hello, hello.length, out, 0)
            this.send(this.withCrc(out.subarray(0, n)), true)
        }
        this.counts.attackPosed++
    }

    /** The chunk with one bit of its frame flipped and the CRC made to fit, when it is one whole
     * frame (it began where a frame begins); otherwise unchanged (the next chunk is tried). */
    private flipped(d: Buffer, atFrame: boolean): Buffer {
        if (this.now() - this.flipAt > FLIP_WAIT_MS) {
            this.flip = 0
            return d
        }
        if (!atFrame || d.length < 8 || d[d.length - 1] !== 0 || d.indexOf(0) !== d.length - 1) return d
        let raw: Buffer | null = null
        new CobsDecoder(8192, (buf, len) => (raw = Buffer.from(buf.subarray(0, len)))).push(d, 0, d.length)
        const f = raw as Buffer | null
        if (!f || f.length <= CRC_BYTES + 1) return d
        const body = Buffer.from(f.subarray(0, f.length - CRC_BYTES))
        body[this.prng.int(body.length)] ^= 1 << this.prng.int(8)
        this.flip = 0
        this.counts.attackFlipped++
        return cobsEncode(this.withCrc(body))
    }
}
