/**
 * Seeded pseudo-random numbers (sfc32, seeded through splitmix32). Portable: 32-bit integer
 * arithmetic only, so Node and the DeviceScript VM draw the same sequence from the same seed.
 */
function splitmix32(x: number): number {
    x = (x + 0x9e3779b9) | 0
    let z = x
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
}

/** @devsWhenUsed */
export class Prng {
    private a: number
    private b: number
    private c: number
    private d: number

    constructor(seed: number) {
        const s = seed >>> 0
        this.a = splitmix32(s)
        this.b = splitmix32(this.a ^ 0x1b873593)
        this.c = splitmix32(this.b ^ 0xcc9e2d51)
        this.d = 1
        for (let i = 0; i < 12; i++) this.next()
    }

    /** Makes this generator's state a copy of `other`'s: it draws what `other` would draw next
     * (a look ahead that leaves `other` as it is). */
    copyFrom(other: Prng): void {
        this.a = other.a
        this.b = other.b
        this.c = other.c
        this.d = other.d
    }

    /** A uniform 32-bit unsigned integer. */
    next(): number {
        const t = (((this.a + this.b) | 0) + this.d) | 0
        this.d = (this.d + 1) | 0
        this.a = this.b ^ (this.b >>> 9)
        this.b = (this.c + (this.c << 3)) | 0
        this.c = (this.c << 21) | (this.c >>> 11)
        this.c = (this.c + t) | 0
        return t >>> 0
    }

    /** A uniform number in [0, 1). */
    float(): number {
        return this.next() / 4294967296
    }

    /** A uniform integer in [0, n). */
    int(n: number): number {
        return Math.floor(this.float() * n)
    }

    /** True with probability p. */
    chance(p: number): boolean {
        return p > 0 && this.float() < p
    }

    /** An independent stream derived from this one and a label, so that adding draws in one
     * part of the simulation does not shift the draws of another. */
    fork(label: number): Prng {
        return new Prng((this.next() ^ Math.imul(label + 1, 0x27d4eb2f)) >>> 0)
    }
}
