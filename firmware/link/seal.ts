import { getU32, putU16, putU32 } from "../codec/bytes"
import { ChannelCounters } from "./counters"
import { FrameType, HEADER_BYTES } from "./frame"

/**
 * The cryptography the sealed link needs, as a port: the board's runtime has it built in
 * (hal/devicescript/linkCipher.ts), Node has it in node:crypto (host-sim/nodeCipher.ts).
 * docs/FORMAT-link.md §11 has the format and its reasons.
 */
export interface LinkCipher {
    /** HMAC-SHA256 under `key` of the parts, in order (strings as UTF-8). */
    hmac(key: Buffer, parts: (Buffer | string)[]): Buffer
    /** AES-256-CCM with a 13-byte nonce, no associated data and a SEAL_TAG_BYTES tag: the
     * ciphertext with the tag appended. */
    seal(key: Buffer, nonce: Buffer, data: Buffer): Buffer
    /** The plaintext of `data` (ciphertext and tag), or null when the tag does not match. */
    open(key: Buffer, nonce: Buffer, data: Buffer): Buffer | null
    /** n bytes from a cryptographically strong generator. */
    random(n: number): Buffer
}

/** What a link channel asks of its sealing layer (PrimarySeal, RemoteSeal). */
export interface FrameSealer {
    /** The channel's counters: the layer counts what it drops there. */
    counters: ChannelCounters
    /** Seals the plain frame b[0, n) into `out` from `at` (CRC not included); returns the sealed length,
     * 0 when it cannot be sent (no keys yet), -1 when this end's frame counter is spent (the
     * session needs new keys: a new handshake). */
    wrap(b: Buffer, n: number, out: Buffer, at: number): number
    /** The plain frame inside the sealed frame buf[0, n) (CRC excluded), or null when it does
     * not authenticate, is a replay, or is not for this end (counted). */
    unwrap(buf: Buffer, n: number): Buffer | null
}

/** Tag length of AES-256-CCM: 8 bytes (docs/FORMAT-link.md §11 says why). */
export const SEAL_TAG_BYTES = 8
/** Length of the handshake nonces (the primary's in HELLO, the remote's in its answer). */
export const SEAL_NONCE_BYTES = 16
/** First byte of a sealed frame: a frame of the session keys, a HELLO, the remote's answer. */
export const SEALED_SESSION = 0x80
export const SEALED_HELLO = 0x81
export const SEALED_ANSWER = 0x82
/** First byte of the remote's one clear frame, the hint "connect now" (a RESET of session 0,
 * docs/FORMAT-link.md §4): the kind, then HEADER_BYTES - 1 zero bytes. */
export const SEALED_HINT = 0x83
/** Clear bytes before the ciphertext: kind and counter u32; kind, member u16 and nonce; kind
 * and nonce. */
export const SESSION_PREFIX = 5
export const HELLO_PREFIX = 3 + SEAL_NONCE_BYTES
export const ANSWER_PREFIX = 1 + SEAL_NONCE_BYTES
/** Most bytes sealing adds to a frame. */
export const SEAL_OVERHEAD = HELLO_PREFIX + SEAL_TAG_BYTES
/** A key's frame counters run 0 .. COUNTER_LIMIT - 1; an end whose counter gets there sends
 * nothing more under that key (the primary starts a new handshake). */
export const COUNTER_LIMIT = 0xffffffff
/** Frames the remote accepts behind the newest it has opened (its anti-replay window; the
 * primary's is one frame: LinkSeal.openSession). */
export const REPLAY_WINDOW = 32

/** HKDF info labels (the member id follows: the keys of one member are not another's). */
export const LABEL_HELLO = "seqmirror link 1 hello m"
export const LABEL_P2R = "seqmirror link 1 p2r m"
export const LABEL_R2P = "seqmirror link 1 r2p m"
/** HKDF-Expand's block counter (one block of output: 32 bytes). */
export const HKDF_ONE = "\x01"

/**
 * The sealing layer of a link channel: the member key, the session keys of each direction, the
 * send counter and the receive window, and the primary's half of the handshake (RemoteSeal,
 * firmware/link/remoteSeal.ts, is the remote's: it overrides the handshake hooks).
 *
 * A frame under the session keys is `80 counter(u32) AES-256-CCM(key of its direction, nonce =
 * counter, plain frame)`. Each HELLO goes out sealed under a key of its own, derived from the
 * member key and a fresh nonce Np: `81 member(u16) Np AES-256-CCM(k_hello, 0, HELLO)`. The
 * remote's answer (WELCOME or REFUSE) is `82 Nr AES-256-CCM(k_r2p, 0, answer)`, sealed under the
 * new session key of its direction, derived from the member key and both nonces: it opens only
 * for the end that sent Np and holds the key. The channel takes the new keys (takeKeys) when it
 * accepts the WELCOME; its first frame under them shows the remote that it holds them.
 * @devsWhenUsed
 */
export class LinkSeal implements FrameSealer {
    counters!: ChannelCounters
    // set by takeKeys (the remote: use) before anything reads them
    protected txKey!: Buffer | null
    protected rxKey!: Buffer | null
    protected txCtr!: number
    /** The newest counter opened under rxKey. */
    protected rxTop!: number
    protected iv: Buffer
    /** HKDF's PRK of the last HELLO's nonce, until an answer to it opens. */
    private prk!: Buffer | null
    private nextTx!: Buffer
    private nextRx!: Buffer

    /** `key`: the member's 32-byte key (docs/FORMAT-link.md §11); `member`: its id. */
    constructor(
        protected cipher: LinkCipher,
        protected key: Buffer,
        readonly member: number
    ) {
        this.iv = Buffer.alloc(13)
    }

    wrap(b: Buffer, n: number, out: Buffer, at: number): number {
        // HELLO, WELCOME and REFUSE are types 1..3
        if (b[0] <= FrameType.Refuse) return this.wrapHandshake(b, n, out, at)
        if (!this.txKey) return 0
        if (this.txCtr >= COUNTER_LIMIT) return -1
        out[at] = SEALED_SESSION
        putU32(out, at + 1, this.txCtr)
        return this.put(out, at + SESSION_PREFIX, this.txKey, this.txCtr++, b, n) - at
    }

    unwrap(buf: Buffer, n: number): Buffer | null {
        // a frame too short for its prefix and tag fails to open (the cipher's open)
        if (buf[0] === SEALED_SESSION) return this.openSession(buf, n, getU32(buf, 1))
        if (buf[0] === SEALED_HINT)
            if (n === HEADER_BYTES) {
                // the remote's hint, in the clear (it holds no keys for this end): a RESET of
                // session 0, which only makes this end connect sooner
                const reset = Buffer.alloc(HEADER_BYTES)
                reset[0] = FrameType.Reset
                return reset
            }
        return this.unwrapHandshake(buf, n)
    }

    /** The WELCOME was accepted: its keys are the session's (the WELCOME was counter 0 of the
     * remote's). */
    takeKeys(): void {
        this.txKey = this.nextTx
        this.rxKey = this.nextRx
        this.txCtr = 0
        this.rxTop = 0
    }

    /** Seals b[0, n) under key with counter ctr into out at `at`; returns the end. */
    protected put(out: Buffer, at: number, key: Buffer, ctr: number, b: Buffer, n: number): number {
        putU32(this.iv, 0, ctr)
        const ct = this.cipher.seal(key, this.iv, b.slice(0, n))
        out.set(ct, at)
        return at + ct.length
    }

    /** The plain frame of buf[at, n) under key and counter ctr, or null (nothing counted). */
    protected tryOpen(key: Buffer, ctr: number, buf: Buffer, at: number, n: number): Buffer | null {
        putU32(this.iv, 0, ctr)
        return this.cipher.open(key, this.iv, buf.slice(at, n))
    }

    /** A frame of the session keys: the receive key, the window, the tag. The primary's link
     * is a byte stream, which never reorders: its window is one frame, a counter above the
     * newest opened (the remote keeps REPLAY_WINDOW, RemoteSeal). */
    protected openSession(buf: Buffer, n: number, ctr: number): Buffer | null {
        const key = this.rxKey
        if (!key) {
            this.counters.droppedAuth = this.counters.droppedAuth + 1
            return null
        }
        if (ctr <= this.rxTop) {
            this.counters.droppedReplay = this.counters.droppedReplay + 1
            return null
        }
        const pt = this.tryOpen(key, ctr, buf, SESSION_PREFIX, n)
        if (!pt) {
            this.counters.droppedAuth = this.counters.droppedAuth + 1
            return null
        }
        this.rxTop = ctr
        return pt
    }

    /** Seals a HELLO (the remote: a WELCOME or REFUSE) under keys of its own. */
    protected wrapHandshake(b: Buffer, n: number, out: Buffer, at: number): number {
        const c = this.cipher
        const np = c.random(SEAL_NONCE_BYTES)
        const prk = c.hmac(np, [this.key])
        this.prk = prk
        out[at] = SEALED_HELLO
        putU16(out, at + 1, this.member)
        out.set(np, at + 3)
        return this.put(out, at + HELLO_PREFIX, c.hmac(prk, [LABEL_HELLO + this.member, HKDF_ONE]), 0, b, n) - at
    }

    /** Opens the remote's answer to the last HELLO (the remote: a HELLO). */
    protected unwrapHandshake(buf: Buffer, n: number): Buffer | null {
        const prk = this.prk
        if (buf[0] === SEALED_ANSWER)
            if (prk) {
                const c = this.cipher
                const nr = buf.slice(1, ANSWER_PREFIX)
                const rx = c.hmac(prk, [LABEL_R2P + this.member, nr, HKDF_ONE])
                const pt = this.tryOpen(rx, 0, buf, ANSWER_PREFIX, n)
                if (pt) {
                    // one answer per HELLO: a copy of it opens no more
                    this.prk = null
                    this.nextRx = rx
                    this.nextTx = c.hmac(prk, [LABEL_P2R + this.member, nr, HKDF_ONE])
                    return pt
                }
            }
        this.counters.droppedAuth = this.counters.droppedAuth + 1
        return null
    }
}
