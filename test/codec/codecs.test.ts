import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { crc32c } from "../../firmware/codec/crc32c"
import { smbusPec } from "../../firmware/codec/crc8"
import { crc16 } from "../../firmware/codec/crc16"
import { CobsDecoder, cobsEncode, cobsEncodeInto, cobsLead, cobsMaxEncoded } from "../../firmware/codec/cobs"

const check = Buffer.from("123456789", "ascii")

describe("CRC-32C", () => {
    it("matches the Castagnoli check value", () => {
        expect(crc32c(check)).toBe(0xe3069283)
    })
    it("detects every single-bit flip in a 64-byte message", () => {
        const msg = Buffer.alloc(64)
        for (let i = 0; i < 64; i++) msg[i] = (i * 37) & 0xff
        const good = crc32c(msg)
        for (let bit = 0; bit < 64 * 8; bit++) {
            msg[bit >> 3] ^= 1 << (bit & 7)
            expect(crc32c(msg)).not.toBe(good)
            msg[bit >> 3] ^= 1 << (bit & 7)
        }
    })
})

describe("SMBus PEC (CRC-8)", () => {
    it("matches the CRC-8/SMBUS check value", () => {
        expect(smbusPec(check, 0, check.length)).toBe(0xf4)
        expect(crc16(check, 0, check.length)).toBe(0x29b1)
    })

    it("CRC-16 a byte a step is the CRC bit by bit", () => {
        const bitwise = (buf: Buffer, start: number, end: number) => {
            let c = 0xffff
            for (let i = start; i < end; i++) {
                c ^= buf[i] << 8
                for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff
            }
            return c
        }
        let x = 12345
        for (let n = 0; n < 300; n++) {
            const b = Buffer.alloc(n)
            for (let i = 0; i < n; i++) {
                x = (Math.imul(x, 1103515245) + 12345) >>> 0
                b[i] = x >>> 24
            }
            expect(crc16(b, 0, n)).toBe(bitwise(b, 0, n))
            if (n > 2) expect(crc16(b, 1, n - 1)).toBe(bitwise(b, 1, n - 1))
        }
    })
})

function decodeAll(wire: Buffer, max = 4096): Buffer[] {
    const frames: Buffer[] = []
    const dec = new CobsDecoder(max, (b, n) => frames.push(Buffer.from(b.subarray(0, n))))
    dec.push(wire, 0, wire.length)
    return frames
}

describe("COBS", () => {
    it("encodes the reference examples", () => {
        expect([...cobsEncode(Buffer.from([0x00]))]).toEqual([1, 1, 0])
        expect([...cobsEncode(Buffer.from([0x11, 0x22, 0x00, 0x33]))]).toEqual([3, 0x11, 0x22, 2, 0x33, 0])
        const run = Buffer.alloc(254, 1)
        const enc = cobsEncode(run)
        expect(enc[0]).toBe(0xff)
        expect(enc.length).toBe(257)
    })
    it("round-trips any frame and never emits a zero inside one", () => {
        fc.assert(
            fc.property(fc.uint8Array({ minLength: 1, maxLength: 1200 }), (arr) => {
                const src = Buffer.from(arr)
                const enc = cobsEncode(src)
                expect(enc.length).toBeLessThanOrEqual(cobsMaxEncoded(src.length))
                expect(enc.subarray(0, enc.length - 1).includes(0)).toBe(false)
                const frames = decodeAll(enc)
                expect(frames).toHaveLength(1)
                expect(frames[0].equals(src)).toBe(true)
            })
        )
    })
    it("encodes in place from cobsLead bytes in, as into a buffer of its own (the sealed link's wire buffer)", () => {
        // frames with zeros, and frames with long runs of none (each 254 of them adds a code)
        const frame = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 1200 }), fc.uint8Array({ min: 1, minLength: 1, maxLength: 1200 }))
        fc.assert(
            fc.property(frame, (arr) => {
                const src = Buffer.from(arr)
                const at = cobsLead(src.length)
                const buf = Buffer.alloc(cobsMaxEncoded(src.length))
                expect(at + src.length).toBeLessThanOrEqual(buf.length)
                src.copy(buf, at)
                const n = cobsEncodeInto(buf, at, src.length, buf)
                expect(buf.subarray(0, n).equals(cobsEncode(src))).toBe(true)
            })
        )
        // one byte less of lead is too little for a frame without zeros that long
        const run = Buffer.alloc(1151)
        for (let i = 0; i < run.length; i++) run[i] = 1 + (i % 255)
        const buf = Buffer.alloc(cobsMaxEncoded(run.length))
        const at = cobsLead(run.length) - 1
        run.copy(buf, at)
        const n = cobsEncodeInto(buf, at, run.length, buf)
        expect(buf.subarray(0, n).equals(cobsEncode(run))).toBe(false)
    })
    it("drops oversize frames and resynchronises on the next delimiter", () => {
        const big = cobsEncode(Buffer.alloc(100, 7))
        const small = cobsEncode(Buffer.from([1, 2, 3]))
        const frames: Buffer[] = []
        const dec = new CobsDecoder(50, (b, n) => frames.push(Buffer.from(b.subarray(0, n))))
        dec.push(Buffer.concat([big, small]), 0, big.length + small.length)
        expect(dec.droppedOversize).toBe(1)
        expect(frames.map((f) => [...f])).toEqual([[1, 2, 3]])
    })
    it("never throws on garbage", () => {
        fc.assert(
            fc.property(fc.uint8Array({ maxLength: 2000 }), (arr) => {
                decodeAll(Buffer.from(arr), 300)
            })
        )
    })
})
