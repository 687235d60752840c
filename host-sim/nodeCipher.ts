// The sealed link's cryptography on Node (node:crypto): the LinkCipher of the host processes,
// the simulator and the bench (Node only). The board's is hal/devicescript/linkCipher.ts; both
// are AES-256-CCM with an 8-byte tag and HMAC-SHA256, so their frames are the same.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto"
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

/**
 * The simulator's cipher: NodeCipher, and a frame opened just as it was sealed (the same key,
 * nonce, ciphertext and tag) is opened by looking up what was sealed, without the cipher:
 * AES-CCM opens what it sealed, under the same key and nonce, to the plaintext sealed, always.
 * Anything else (a frame changed on the way, a second opening of one, an adversary's, one
 * sealed too long ago) is opened by the cipher. The same answers as NodeCipher, at about half
 * the cost for a link whose frames mostly arrive intact.
 */
export class SimCipher extends NodeCipher {
    private sealed = new Map<string, Buffer>()

    seal(key: Buffer, nonce: Buffer, data: Buffer): Buffer {
        const out = super.seal(key, nonce, data)
        const m = this.sealed
        if (m.size >= REMEMBERED) m.delete(m.keys().next().value as string)
        m.set(frameKey(key, nonce, out), Buffer.from(data))
        return out
    }

    open(key: Buffer, nonce: Buffer, data: Buffer): Buffer | null {
        const k = frameKey(key, nonce, data)
        const pt = this.sealed.get(k)
        if (!pt) return super.open(key, nonce, data)
        // (a frame opened once is forgotten: a replay of it is opened by the cipher)
        this.sealed.delete(k)
        this.opens++
        return pt
    }
}

/** Key, nonce and sealed bytes as one string (a byte a character). */
function frameKey(key: Buffer, nonce: Buffer, data: Buffer): string {
    return key.toString("latin1") + nonce.toString("latin1") + data.toString("latin1")
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
