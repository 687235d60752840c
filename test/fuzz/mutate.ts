import { Rng } from "./rng"

/** Values at the edges of 8-, 16- and 32-bit fields. */
const EDGE8 = [0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff]
const EDGE32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]

/**
 * Byte mutations of an input, one to four stacked: bit flips, random and boundary bytes,
 * boundary u16/u32 values (little-endian), truncation, extension, insertion and removal of
 * runs, duplication of a run, and splices with another input of the pool. The result is at
 * most `maxLen` bytes.
 */
export function mutate(rng: Rng, input: Buffer, pool: readonly Buffer[], maxLen: number): Buffer {
    let b: Buffer = Buffer.from(input)
    const n = 1 + (rng.chance(0.5) ? 0 : rng.int(4))
    for (let k = 0; k < n; k++) b = mutateOnce(rng, b, pool, maxLen)
    return b.length > maxLen ? b.subarray(0, maxLen) : b
}

function mutateOnce(rng: Rng, b: Buffer, pool: readonly Buffer[], maxLen: number): Buffer {
    const len = b.length
    const at = () => rng.int(len)
    switch (rng.int(14)) {
        case 0:
        case 1:
            if (len > 0) {
                const i = at()
                b[i] ^= 1 << rng.int(8)
            }
            return b
        case 2:
            if (len > 0) b[at()] = rng.int(256)
            return b
        case 3:
            if (len > 0) b[at()] = rng.pick(EDGE8)
            return b
        case 4:
            if (len >= 2) {
                const i = rng.int(len - 1)
                b.writeUInt16LE(rng.pick(EDGE32) & 0xffff, i)
            }
            return b
        case 5:
            if (len >= 4) {
                const i = rng.int(len - 3)
                b.writeUInt32LE(rng.pick(EDGE32) >>> 0, i)
            }
            return b
        case 6:
            if (len >= 4) {
                // a small step of a u32 field: off by one, or a little more
                const i = rng.int(len - 3)
                b.writeUInt32LE((b.readUInt32LE(i) + (rng.int(33) - 16)) >>> 0, i)
            }
            return b
        case 7:
            // truncation
            return b.subarray(0, rng.int(len + 1))
        case 8: {
            // extension: random bytes, zeros or 0xff
            const extra = Buffer.alloc(1 + rng.int(rng.chance(0.8) ? 8 : 300))
            const kind = rng.int(3)
            for (let i = 0; i < extra.length; i++) extra[i] = kind === 0 ? rng.int(256) : kind === 1 ? 0 : 0xff
            return Buffer.concat([b, extra]).subarray(0, maxLen)
        }
        case 9: {
            // insert a run
            const i = rng.int(len + 1)
            const run = Buffer.alloc(1 + rng.int(16))
            const v = rng.int(256)
            for (let j = 0; j < run.length; j++) run[j] = rng.chance(0.5) ? v : rng.int(256)
            return Buffer.concat([b.subarray(0, i), run, b.subarray(i)]).subarray(0, maxLen)
        }
        case 10: {
            // remove a run
            if (len === 0) return b
            const i = at()
            const n = 1 + rng.int(Math.min(32, len - i))
            return Buffer.concat([b.subarray(0, i), b.subarray(i + n)])
        }
        case 11: {
            // duplicate a run in place
            if (len === 0) return b
            const i = at()
            const n = 1 + rng.int(Math.min(64, len - i))
            return Buffer.concat([b.subarray(0, i + n), b.subarray(i, i + n), b.subarray(i + n)]).subarray(0, maxLen)
        }
        case 12: {
            // splice: this input's head with another's tail
            const o = pool.length > 0 ? rng.pick(pool) : b
            const i = rng.int(len + 1)
            const j = rng.int(o.length + 1)
            return Buffer.concat([b.subarray(0, i), o.subarray(j)]).subarray(0, maxLen)
        }
        default: {
            // overwrite a run with a run of another input (same offset or any)
            const o = pool.length > 0 ? rng.pick(pool) : b
            if (len === 0 || o.length === 0) return b
            const i = at()
            const j = rng.chance(0.5) && i < o.length ? i : rng.int(o.length)
            const n = 1 + rng.int(Math.min(64, len - i, o.length - j))
            o.copy(b, i, j, j + n)
            return b
        }
    }
}
