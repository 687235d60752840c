/**
 * COBS (Consistent Overhead Byte Stuffing) framing: a frame on the wire is the COBS encoding of
 * its bytes followed by one 0x00 delimiter. The encoding has no zero bytes and grows by at most
 * one byte per 254 bytes of input, plus one.
 */

/** Longest encoding of n bytes, with the delimiter. */
export function cobsMaxEncoded(n: number): number {
    return n + Math.floor(n / 254) + 2
}

/** Bytes a frame of n bytes must stand after the start of its buffer to be encoded in place
 * (cobsEncodeInto with dst === src): one for the first code, one per 254 bytes without a zero. */
export function cobsLead(n: number): number {
    return 1 + Math.floor(n / 254)
}

/** Encodes src[at..at+len) into dst at offset 0 with the trailing delimiter; returns bytes
 * written. dst must hold cobsMaxEncoded(len). dst may be src when at >= cobsLead(len): the
 * encoding has then written at most up to the byte it has just read, never past it. */
export function cobsEncodeInto(src: Buffer, at: number, len: number, dst: Buffer): number {
    let codeAt = 0
    let out = 1
    let code = 1
    const end = at + len
    for (let i = at; i < end; i++) {
        const b = src[i]
        if (b === 0) {
            dst[codeAt] = code
            codeAt = out++
            code = 1
        } else {
            dst[out++] = b
            code++
            if (code === 0xff) {
                dst[codeAt] = code
                codeAt = out++
                code = 1
            }
        }
    }
    dst[codeAt] = code
    dst[out++] = 0
    return out
}

export function cobsEncode(src: Buffer): Buffer {
    const dst = Buffer.alloc(cobsMaxEncoded(src.length))
    const n = cobsEncodeInto(src, 0, src.length, dst)
    return dst.slice(0, n)
}

/**
 * Streaming decoder: feed it received bytes; it calls `onFrame(buf, len)` for every complete,
 * well-formed frame (buf is reused: copy what you keep) and counts what it drops: frames longer
 * than `maxFrame` and malformed encodings. Its buffer is allocated once.
 * @devsWhenUsed
 */
export class CobsDecoder {
    private buf: Buffer
    private len = 0
    private code = 0
    private left = 0
    private overflow = false
    /** Frames dropped because they were longer than the buffer. */
    droppedOversize = 0
    /** Frames dropped because their encoding was malformed. */
    droppedMalformed = 0

    constructor(
        private maxFrame: number,
        private onFrame: (buf: Buffer, len: number) => void
    ) {
        this.buf = Buffer.alloc(maxFrame)
    }

    push(data: Buffer, start: number, end: number): void {
        // the state lives in locals during the loop: a field access and a call per byte cost the
        // DeviceScript VM about 45 times more than the decoding itself
        const buf = this.buf
        const max = this.maxFrame
        let len = this.len
        let code = this.code
        let left = this.left
        let overflow = this.overflow
        for (let i = start; i < end; i++) {
            const b = data[i]
            if (b === 0) {
                // the delimiter: the frame ends (an empty one is nothing)
                if (overflow) this.droppedOversize++
                else if (left !== 0) this.droppedMalformed++
                else if ((len | code) !== 0) this.onFrame(buf, len)
                len = 0
                code = 0
                left = 0
                overflow = false
                continue
            }
            if (overflow) continue
            if (left === 0) {
                // a code byte: the previous group ended with an implied zero unless it was 0xFF
                if (code !== 0)
                    if (code !== 0xff) {
                        if (len >= max) overflow = true
                        else buf[len++] = 0
                    }
                code = b
                left = b - 1
            } else {
                if (len >= max) overflow = true
                else buf[len++] = b
                left--
            }
        }
        this.len = len
        this.code = code
        this.left = left
        this.overflow = overflow
    }
}
