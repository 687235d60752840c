// The sealed link's cryptography on the board: the DeviceScript runtime's native AES-256-CCM,
// HMAC-SHA256 and random generator, called directly (as @devicescript/crypto does, without its
// argument checks: the callers pass keys and nonces of the right sizes). The port it implements
// is LinkCipher (firmware/link/seal.ts); Node's is host-sim/nodeCipher.ts.

/** The runtime's builtins behind @devicescript/crypto. */
interface CryptoBuiltins {
    encrypt(algo: string, key: Buffer, iv: Buffer, tagLength: number): Buffer
}

/** The runtime's Buffer builtins behind @devicescript/crypto's digest and random bytes. */
interface BufferBuiltins {
    digest(key: Buffer, algo: string, parts: (Buffer | string)[]): Buffer
}
interface RandomFill {
    fillRandom(): void
}

/** Tag length (firmware/link/seal.ts, SEAL_TAG_BYTES); the runtime opens with 0x1000 + it. */
const TAG = 8

/** @devsWhenUsed */
export class DsLinkCipher {
    hmac(key: Buffer, parts: (Buffer | string)[]): Buffer {
        return (Buffer as unknown as BufferBuiltins).digest(key, "sha256", parts)
    }

    seal(key: Buffer, nonce: Buffer, data: Buffer): Buffer {
        return (data as unknown as CryptoBuiltins).encrypt("aes-256-ccm", key, nonce, TAG)
    }

    open(key: Buffer, nonce: Buffer, data: Buffer): Buffer | null {
        try {
            return (data as unknown as CryptoBuiltins).encrypt("aes-256-ccm", key, nonce, 0x1000 + TAG)
        } catch (_e) {
            // the tag does not match
            return null
        }
    }

    random(n: number): Buffer {
        const b = Buffer.alloc(n)
        ;(b as unknown as RandomFill).fillRandom()
        return b
    }
}
