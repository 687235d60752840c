/**
 * A small seeded generator for the fuzz campaign (mulberry32): fast, and the same numbers on
 * every machine, so an input is a function of the campaign's seed and its index alone.
 */
export class Rng {
    private s: number

    constructor(seed: number) {
        this.s = seed >>> 0
    }

    u32(): number {
        let t = (this.s = (this.s + 0x6d2b79f5) >>> 0)
        t = Math.imul(t ^ (t >>> 15), t | 1)
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
        return (t ^ (t >>> 14)) >>> 0
    }

    /** 0 .. n-1 */
    int(n: number): number {
        return n <= 1 ? 0 : this.u32() % n
    }

    chance(p: number): boolean {
        return this.u32() < p * 4294967296
    }

    pick<T>(list: readonly T[]): T {
        return list[this.int(list.length)]
    }

    float(): number {
        return this.u32() / 4294967296
    }
}

/** Mixes numbers into one 32-bit seed. */
export function mix(...xs: number[]): number {
    let h = 0x811c9dc5
    for (const x of xs) {
        h = Math.imul(h ^ (x >>> 0), 0x01000193) >>> 0
        h ^= h >>> 13
        h = Math.imul(h, 0x5bd1e995) >>> 0
        h ^= h >>> 15
    }
    return h >>> 0
}
