/** A table of n numbers, each v: allocated once. (The store's byte, u16 and u32 tables are
 * Buffers: a number[] costs 8 bytes or more per element on the board.) */
export function numbers(n: number, v: number): number[] {
    const out: number[] = []
    for (let i = 0; i < n; i++) out.push(v)
    return out
}
