/**
 * Sequence numbers are unsigned 32-bit and compared with serial-number arithmetic (RFC 1982):
 * a is after b when (a - b) mod 2^32 lies in [1, 2^31). So comparisons stay right across the
 * wrap from 0xFFFFFFFF to 0, as long as the seqs compared are less than 2^31 apart.
 */
export function seqNext(s: number): number {
    return (s + 1) >>> 0
}

/** (a - b) as a signed 32-bit distance. */
export function seqDiff(a: number, b: number): number {
    return (a - b) | 0
}

export function seqAfter(a: number, b: number): boolean {
    return seqDiff(a, b) > 0
}

export function seqAtOrBefore(a: number, b: number): boolean {
    return seqDiff(a, b) <= 0
}

export function seqMax(a: number, b: number): number {
    if (seqAfter(a, b)) return a
    return b
}
