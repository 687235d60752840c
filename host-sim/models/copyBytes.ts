/**
 * A copy of b[0, n) that nothing else holds: what the bus and UART models keep of the bytes a
 * board hands them (the board may reuse its Buffer at once). Portable: a Buffer of n bytes and a
 * `set`. The simulator on Node makes the copies cheaper (`setCopier`): Node's Buffer.alloc gives
 * every copy memory of its own, cleared first, where a copy cut from a shared pool would do.
 */
let copier: ((b: Buffer, n: number) => Buffer) | null = null

export function copyBytes(b: Buffer, n: number): Buffer {
    if (copier) return copier(b, n)
    const out = Buffer.alloc(n)
    out.set(n === b.length ? b : b.slice(0, n), 0)
    return out
}

/** Makes copyBytes use `f` (null: the portable copy). `f` must return a Buffer of its own with
 * the same n bytes. */
export function setCopier(f: ((b: Buffer, n: number) => Buffer) | null): void {
    copier = f
}
