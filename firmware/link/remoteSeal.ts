import { copyOf, getU16, getU32, putU32 } from "../codec/bytes"
import { FrameType, HEADER_BYTES, OFF_SESSION } from "./frame"
import { HelloOffer, RemoteChannel, RemoteSealer } from "./remote"
import {
    ANSWER_PREFIX,
    COUNTER_LIMIT,
    HELLO_PREFIX,
    HKDF_ONE,
    LABEL_HELLO,
    LABEL_P2R,
    LABEL_R2P,
    REPLAY_WINDOW,
    SEAL_NONCE_BYTES,
    SEAL_TAG_BYTES,
    SEALED_ANSWER,
    SEALED_HELLO,
    SEALED_HINT,
    SEALED_SESSION,
    SESSION_PREFIX,
    LinkSeal,
} from "./seal"

/** WELCOMEs whose keys the remote keeps until the primary uses them (the newest ones). */
export const OFFERS_KEPT = 4
/** HELLO nonces the remote remembers: a HELLO with one of them is a replay. */
export const HELLOS_REMEMBERED = 64

/**
 * The remote's sealing layer of one member's link (docs/FORMAT-link.md §11). A HELLO opens only
 * under the key derived from this member's key and the HELLO's nonce; one whose nonce was seen
 * before is a replay and is dropped. Each answer is sealed under keys derived from a fresh nonce
 * of the remote's; a WELCOME's keys become the session's only when a frame under them arrives
 * and the channel admits it (RemoteChannel.admit): until then the session runs on under the keys
 * it has, and nothing of it changes.
 * @devsWhenUsed
 */
export class RemoteSeal extends LinkSeal implements RemoteSealer {
    /** The channel this layer seals for (set once, after both are made). */
    channel!: RemoteChannel
    private offers: HelloOffer[] = []
    /** The WELCOME (or REFUSE: null) queued, and the HELLO nonce it answers. */
    private offered: HelloOffer | null = null
    private answerNonce: Buffer | null = null
    /** The nonce of the HELLO opened last. */
    private lastNonce: Buffer | null = null
    private seen: string[] = []
    /** Bit i: counter rxTop - i was opened (the window of REPLAY_WINDOW frames). */
    private rxMask = 0

    helloNonce(): Buffer | null {
        return this.lastNonce
    }

    answer(offer: HelloOffer | null, np: Buffer | null): void {
        this.offered = offer
        this.answerNonce = np
    }

    /** The offer's keys are the session's: the frame of counter ctr was the first under them. */
    private use(offer: HelloOffer, ctr: number): void {
        this.txKey = offer.tx
        this.rxKey = offer.rx
        // counter 0 of the remote's key was the WELCOME
        this.txCtr = 1
        this.rxTop = ctr
        this.rxMask = 1
        this.offers = []
    }

    /** The offer a frame proved while the channel persisted its generation, that frame's
     * counter and its plaintext (taken once the generation is durable). */
    private proven: HelloOffer | null = null
    private provenCtr = 0
    private provenFrame: Buffer | null = null

    persisted(): void {
        const offer = this.proven
        const frame = this.provenFrame
        this.proven = null
        this.provenFrame = null
        if (!offer) return
        // still one of ours (no later HELLO pushed it out) and still welcome
        if (this.offers.indexOf(offer) < 0) return
        if (!this.channel.admit(offer)) return
        this.use(offer, this.provenCtr)
        this.channel.take(offer)
        if (frame) this.channel.takeHeld(frame)
    }

    /** Whether buf[0, n) (CRC excluded) authenticates as a HELLO of this member or a frame under
     * the session's or an offer's keys. Changes nothing: the TCP listener asks before it gives a
     * connection to the member's link. */
    authentic(buf: Buffer, n: number): boolean {
        if (buf[0] === SEALED_HELLO) return this.openHello(buf, n, false) !== null
        if (buf[0] !== SEALED_SESSION) return false
        const ctr = getU32(buf, 1)
        if (this.rxKey) if (this.fresh(ctr)) if (this.tryOpen(this.rxKey, ctr, buf, SESSION_PREFIX, n)) return true
        for (let i = 0; i < this.offers.length; i++) if (this.tryOpen(this.offers[i].rx as Buffer, ctr, buf, SESSION_PREFIX, n)) return true
        return false
    }

    /** LinkSeal's wrap, and the hint (a RESET of session 0) in the clear: it needs no keys and
     * carries nothing. (Written out here so that the primary's image, which never sends one,
     * does not carry it: the board's compiler takes no call of an overridden method.) */
    override wrap(b: Buffer, n: number, out: Buffer, at: number): number {
        if (b[0] === FrameType.Reset)
            if (getU32(b, OFF_SESSION) === 0) {
                out[at] = SEALED_HINT
                for (let k = 1; k < HEADER_BYTES; k++) out[at + k] = 0
                return HEADER_BYTES
            }
        if (b[0] <= FrameType.Refuse) return this.wrapHandshake(b, n, out, at)
        if (!this.txKey) return 0
        if (this.txCtr >= COUNTER_LIMIT) return -1
        out[at] = SEALED_SESSION
        putU32(out, at + 1, this.txCtr)
        return this.put(out, at + SESSION_PREFIX, this.txKey, this.txCtr++, b, n) - at
    }

    protected override wrapHandshake(b: Buffer, n: number, out: Buffer, at: number): number {
        const np = this.answerNonce
        if (!np) return 0
        if (b[0] === FrameType.Hello) return 0
        const c = this.cipher
        const nr = c.random(SEAL_NONCE_BYTES)
        const prk = c.hmac(np, [this.key])
        const tx = c.hmac(prk, [LABEL_R2P + this.member, nr, HKDF_ONE])
        out[at] = SEALED_ANSWER
        out.set(nr, at + 1)
        const len = this.put(out, at + ANSWER_PREFIX, tx, 0, b, n) - at
        const offer = this.offered
        this.offered = null
        if (offer) {
            if (b[0] === FrameType.Welcome) {
                offer.tx = tx
                offer.rx = c.hmac(prk, [LABEL_P2R + this.member, nr, HKDF_ONE])
                this.offers.push(offer)
                if (this.offers.length > OFFERS_KEPT) this.offers.shift()
            }
        }
        return len
    }

    protected override unwrapHandshake(buf: Buffer, n: number): Buffer | null {
        if (buf[0] !== SEALED_HELLO) {
            this.counters.droppedAuth++
            return null
        }
        return this.openHello(buf, n, true)
    }

    /** A HELLO of this member that opens and is not a replay; `take`: count, remember its nonce. */
    private openHello(buf: Buffer, n: number, take: boolean): Buffer | null {
        let pt: Buffer | null = null
        let replay = false
        if (n >= HELLO_PREFIX + SEAL_TAG_BYTES)
            if (getU16(buf, 1) === this.member) {
                const np = copyOf(buf, 3, HELLO_PREFIX)
                const hex = np.toString("hex")
                replay = this.seen.indexOf(hex) >= 0
                if (!replay) {
                    const c = this.cipher
                    const prk = c.hmac(np, [this.key])
                    pt = this.tryOpen(c.hmac(prk, [LABEL_HELLO + this.member, HKDF_ONE]), 0, buf, HELLO_PREFIX, n)
                    if (pt)
                        if (take) {
                            this.seen.push(hex)
                            if (this.seen.length > HELLOS_REMEMBERED) this.seen.shift()
                            this.lastNonce = np
                        }
                }
            }
        if (take)
            if (!pt) {
                if (replay) this.counters.droppedReplay++
                else this.counters.handshakesRefused++
            }
        return pt
    }

    /** Counter ctr was not opened yet and is not too old for the window. */
    private fresh(ctr: number): boolean {
        const off = this.rxTop - ctr
        if (off < 0) return true
        if (off >= REPLAY_WINDOW) return false
        return ((this.rxMask >>> off) & 1) === 0
    }

    /** Counter ctr was opened: the window moves on or records it. */
    private mark(ctr: number): void {
        const off = this.rxTop - ctr
        if (off >= 0) {
            this.rxMask = (this.rxMask | (1 << off)) >>> 0
            return
        }
        this.rxMask = -off >= REPLAY_WINDOW ? 1 : ((this.rxMask << -off) | 1) >>> 0
        this.rxTop = ctr
    }

    protected override openSession(buf: Buffer, n: number, ctr: number): Buffer | null {
        let fresh = false
        if (this.rxKey) {
            fresh = this.fresh(ctr)
            if (fresh) {
                const pt = this.tryOpen(this.rxKey, ctr, buf, SESSION_PREFIX, n)
                if (pt) {
                    this.mark(ctr)
                    return pt
                }
            }
        }
        for (let i = 0; i < this.offers.length; i++) {
            const offer = this.offers[i]
            const pt = this.tryOpen(offer.rx as Buffer, ctr, buf, SESSION_PREFIX, n)
            if (pt) return this.confirm(offer, ctr, pt)
        }
        if (this.rxKey && !fresh) this.counters.droppedReplay++
        else this.counters.droppedAuth++
        return null
    }

    /** A frame opened under an offer's keys: the primary holds them, and the HELLO was fresh
     * (the keys came from our nonce). The session changes now, if the channel admits it. */
    private confirm(offer: HelloOffer, ctr: number, pt: Buffer): Buffer | null {
        if (!this.channel.admit(offer)) {
            if (this.channel.persistingFor(offer))
                if (!this.proven) {
                    // held, not dropped: taken once the generation is durable
                    this.proven = offer
                    this.provenCtr = ctr
                    this.provenFrame = pt
                    return null
                }
            this.counters.droppedStale++
            return null
        }
        this.use(offer, ctr)
        this.channel.take(offer)
        return pt
    }
}
