// The sealed link's cryptography on Node (node:crypto): the LinkCipher of the host processes,
// the simulator and the bench (Node only). The board's is hal/devicescript/linkCipher.ts; both
// are AES-256-CCM with an 8-byte tag and HMAC-SHA256, so their frames are the same.
import { Cipher, createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto"
import { LinkCipher, SEAL_TAG_BYTES } from "../firmware/link/seal"
import { Prng } from "./prng"

export class NodeCipher implements LinkCipher {
    /** Seals and opens done (for the bench). */
    seals = 0
    opens = 0

    /** `random`: where nonces come from (default: the system's cryptographic generator; the
     * simulator passes a seeded one, so that a run repeats). */
    constructor(private readonly randomSource: (n: number) => Buffer = randomBytes) {}

    hmac(key: Buffer, parts: (Buffer | string)[]): Buffer {
        const h = createHmac("sha256", key)
        for (const p of parts) h.update(p)
        return h.digest()
    }

    seal(key: Buffer, nonce: Buffer, data: Buffer): Buffer {
        this.seals++
        const c = createCipheriv("aes-256-ccm", key, nonce, { authTagLength: SEAL_TAG_BYTES })
        c.setAAD(Buffer.alloc(0), { plaintextLength: data.length })
        const ct = c.update(data)
        c.final()
        return Buffer.concat([ct, c.getAuthTag()])
    }

    open(key: Buffer, nonce: Buffer, data: Buffer): Buffer | null {
        this.opens++
        if (data.length < SEAL_TAG_BYTES) return null
        const n = data.length - SEAL_TAG_BYTES
        const d = createDecipheriv("aes-256-ccm", key, nonce, { authTagLength: SEAL_TAG_BYTES })
        d.setAuthTag(data.subarray(n))
        d.setAAD(Buffer.alloc(0), { plaintextLength: n })
        const pt = d.update(data.subarray(0, n))
        try {
            d.final()
        } catch {
            return null
        }
        return pt
    }

    random(n: number): Buffer {
        return this.randomSource(n)
    }
}

/** Frames SimCipher remembers it sealed, at most (the oldest are forgotten first). */
const REMEMBERED = 2048
/** Keys whose KeyBlocks SimCipher keeps, at most (all are dropped when there would be more). */
const KEYS_KEPT = 64

/** The MAC's input and the counter blocks of the frame KeyBlocks seals (every key's: a seal
 * runs to its end before the next begins), grown for a frame longer than any before. */
const scratch = { mac: Buffer.alloc(32 + 16 * 80), ctr: Buffer.alloc(16 * 81) }

/**
 * One key's AES-256, kept for the run in two contexts: ECB for the counter blocks and CBC for
 * the MAC of AES-CCM (RFC 3610). A cipher object per frame costs several microseconds more than
 * the AES itself; these cost two calls a frame.
 */
class KeyBlocks {
    readonly ecb: Cipher
    readonly cbc: Cipher
    /** AES⁻¹(0) under the key: enciphered after the chain's last block C, C ^ AES⁻¹(0) gives the
     * block 0, so the chain starts again from a zero IV. */
    readonly restart: Buffer
    /** The CBC context's last ciphertext block (its chaining value). */
    readonly chain = Buffer.alloc(16)

    constructor(key: Buffer) {
        this.ecb = createCipheriv("aes-256-ecb", key, null).setAutoPadding(false)
        this.cbc = createCipheriv("aes-256-cbc", key, Buffer.alloc(16)).setAutoPadding(false)
        const d = createDecipheriv("aes-256-ecb", key, null).setAutoPadding(false)
        this.restart = d.update(Buffer.alloc(16))
    }

    /** AES-256-CCM of `data` with a 13-byte nonce, no associated data and an 8-byte tag: the
     * ciphertext with the tag appended, as createCipheriv("aes-256-ccm") gives it. */
    seal(nonce: Buffer, data: Buffer): Buffer {
        const n = data.length
        const k = (n + 15) >> 4
        const end = 32 + 16 * k
        if (end > scratch.mac.length) {
            scratch.mac = Buffer.alloc(end)
            scratch.ctr = Buffer.alloc(16 * (k + 1))
        }
        // the MAC: CBC over B0 (flags: 8-byte tag, 2-byte length; the nonce; the length) and
        // the message padded with zeros, from a zero IV (the restart block first)
        const mac = scratch.mac
        const restart = this.restart
        const chain = this.chain
        for (let i = 0; i < 16; i++) mac[i] = restart[i] ^ chain[i]
        mac[16] = 0x19
        nonce.copy(mac, 17, 0, 13)
        mac[30] = n >> 8
        mac[31] = n & 0xff
        data.copy(mac, 32)
        mac.fill(0, 32 + n, end)
        const x = this.cbc.update(mac.subarray(0, end))
        const last = x.length - 16
        x.copy(chain, 0, last)
        // the counter blocks A0..Ak (flags: 2-byte counter; the nonce; the counter), enciphered:
        // S0 masks the tag, S1.. the message. A0 is made, copied over the others (doubling the
        // copied run each time), and each then takes its counter
        const a = scratch.ctr
        const len = 16 * (k + 1)
        a[0] = 1
        nonce.copy(a, 1, 0, 13)
        a[14] = 0
        a[15] = 0
        for (let o = 16; o < len; o += o) a.copyWithin(o, 0, Math.min(o, len - o))
        for (let b = 1; b <= k; b++) {
            a[16 * b + 14] = b >> 8
            a[16 * b + 15] = b & 0xff
        }
        const s = this.ecb.update(a.subarray(0, len))
        const out = Buffer.allocUnsafe(n + SEAL_TAG_BYTES)
        for (let i = 0; i < n; i++) out[i] = data[i] ^ s[16 + i]
        for (let i = 0; i < SEAL_TAG_BYTES; i++) out[n + i] = x[last + i] ^ s[i]
        return out
    }
}

/**
 * The simulator's cipher: NodeCipher, and a frame opened just as it was sealed (the same key,
 * nonce, ciphertext and tag) is opened by looking up what was sealed, without the cipher:
 * AES-CCM opens what it sealed, under the same key and nonce, to the plaintext sealed, always.
 * Anything else (a frame changed on the way, a second opening of one, an adversary's, one
 * sealed too long ago) is opened by the cipher. A key's frames after its first are sealed with
 * its AES blocks kept for the run (KeyBlocks). The same answers as
 * NodeCipher (test/link/seal.test.ts compares them), at a fraction of the cost.
 */
export class SimCipher extends NodeCipher {
    /** What was sealed, by frameKey: the sealed bytes and the plaintext (copies of both). */
    private sealed = new Map<string, [Buffer, Buffer]>()

    /** The AES blocks of each key that sealed more than one frame (null: one so far). */
    private keys = new Map<string, KeyBlocks | null>()

    seal(key: Buffer, nonce: Buffer, data: Buffer): Buffer {
        let out: Buffer
        if (nonce.length !== 13 || key.length !== 32) out = super.seal(key, nonce, data)
        else {
            const id = key.toString("latin1")
            let blocks = this.keys.get(id)
            if (!blocks) {
                if (this.keys.size >= KEYS_KEPT) this.keys.clear()
                // a key's first frame is sealed by a cipher made for it (a HELLO's key seals one)
                blocks = this.keys.has(id) ? new KeyBlocks(key) : null
                this.keys.set(id, blocks)
            }
            if (blocks) {
                this.seals++
                out = blocks.seal(nonce, data)
            } else out = super.seal(key, nonce, data)
        }
        const m = this.sealed
        if (m.size >= REMEMBERED) m.delete(m.keys().next().value as string)
        m.set(frameKey(key, nonce, out), [Buffer.from(out), Buffer.from(data)])
        return out
    }

    open(key: Buffer, nonce: Buffer, data: Buffer): Buffer | null {
        const k = frameKey(key, nonce, data)
        const was = this.sealed.get(k)
        if (!was || !was[0].equals(data)) return super.open(key, nonce, data)
        const pt = was[1]
        // (a frame opened once is forgotten: a replay of it is opened by the cipher)
        this.sealed.delete(k)
        this.opens++
        return pt
    }
}

/** Key, nonce, tag and length as one string (a byte a character); the sealed bytes themselves
 * are compared when a frame is opened (SimCipher.open). */
function frameKey(key: Buffer, nonce: Buffer, data: Buffer): string {
    const n = data.length
    const t = n - SEAL_TAG_BYTES
    if (nonce.length !== 13 || t < 0) return key.toString("latin1") + nonce.toString("latin1") + data.toString("latin1")
    return (
        key.toString("latin1") +
        String.fromCharCode(
            nonce[0],
            nonce[1],
            nonce[2],
            nonce[3],
            nonce[4],
            nonce[5],
            nonce[6],
            nonce[7],
            nonce[8],
            nonce[9],
            nonce[10],
            nonce[11],
            nonce[12]
        ) +
        String.fromCharCode(data[t], data[t + 1], data[t + 2], data[t + 3], data[t + 4], data[t + 5], data[t + 6], data[t + 7], n & 0xffff)
    )
}

/** A generator of bytes drawn from a seeded Prng (the simulator's nonces: the same run, the
 * same nonces). */
export function seededBytes(prng: Prng): (n: number) => Buffer {
    return (n: number) => {
        const b = Buffer.alloc(n)
        for (let i = 0; i < n; i++) b[i] = prng.next() & 0xff
        return b
    }
}

/** The simulator's key set: member m's key, derived from the run's seed (the same seed, the same
 * keys). `set` tells key sets apart (the adversary's own key is set 1). */
export function seededKey(seed: number, member: number, set = 0): Buffer {
    return createHash("sha256")
        .update("seqmirror simulator key " + set + " " + (seed >>> 0) + " " + member)
        .digest()
}
