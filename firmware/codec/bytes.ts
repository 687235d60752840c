/** Little-endian integer access on Buffers, written out so that it means the same on Node and
 * in the DeviceScript VM. */
export function putU16(b: Buffer, off: number, v: number): void {
    b[off] = v & 0xff
    b[off + 1] = (v >>> 8) & 0xff
}

export function putU32(b: Buffer, off: number, v: number): void {
    b[off] = v & 0xff
    b[off + 1] = (v >>> 8) & 0xff
    b[off + 2] = (v >>> 16) & 0xff
    b[off + 3] = (v >>> 24) & 0xff
}

export function getU16(b: Buffer, off: number): number {
    return b[off] | (b[off + 1] << 8)
}

export function getU32(b: Buffer, off: number): number {
    return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0
}

/** A copy of b[start..end) that never shares memory with b (Node's slice shares, the VM's copies). */
export function copyOf(b: Buffer, start: number, end: number): Buffer {
    const out = Buffer.alloc(end - start)
    out.set(b.slice(start, end), 0)
    return out
}

/** Fills b[start..end) with v. */
export function fill(b: Buffer, v: number, start: number, end: number): void {
    for (let i = start; i < end; i++) b[i] = v
}

const HEX = "0123456789abcdef"

/** Lower-case hex of a 32-bit unsigned number, 8 digits (the VM lacks number.toString(16)). */
export function hex32(v: number): string {
    let s = ""
    for (let i = 7; i >= 0; i--) s += HEX[(v >>> (i * 4)) & 0xf]
    return s
}
