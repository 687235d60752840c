import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { putU16, putU32 } from "../../firmware/codec/bytes"
import { cobsEncode } from "../../firmware/codec/cobs"
import { crc32c } from "../../firmware/codec/crc32c"
import { HEADER_BYTES, OFF_SESSION } from "../../firmware/link/frame"
import { LinkPair, Stream } from "./harness"

/** A frame with a good CRC and COBS encoding around whatever raw bytes it is given, after a
 * delimiter so that it does not run into a frame the receiver was in the middle of. */
function seal(raw: Buffer): Buffer {
    const b = Buffer.alloc(raw.length + 4)
    raw.copy(b, 0)
    putU32(b, raw.length, crc32c(raw))
    const enc = cobsEncode(b)
    const out = Buffer.alloc(enc.length + 1)
    enc.copy(out, 1)
    return out
}

/** Raw frame bytes that look like ours: a known type, plausible lengths, random fields. */
const frameLike = fc.record({
    type: fc.integer({ min: 0, max: 8 }),
    flags: fc.constantFrom(0, 0, 1, 2, 0x80),
    session: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 0xffffffff })), // -1: the live session
    ack: fc.integer({ min: 0, max: 0xffffffff }),
    sack: fc.integer({ min: 0, max: 0xffffffff }),
    window: fc.integer({ min: 0, max: 0xffff }),
    echo: fc.integer({ min: 0, max: 0xffff }),
    body: fc.uint8Array({ maxLength: 1200 }),
    seqNear: fc.integer({ min: -40, max: 40 }),
    msgLens: fc.array(fc.integer({ min: 0, max: 1200 }), { maxLength: 6 }),
    /** Well-formed messages instead of random lengths and body. */
    msgs: fc.option(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 })),
})

function buildFrame(f: typeof frameLike extends fc.Arbitrary<infer T> ? T : never, liveSession: number): Buffer {
    let body = Buffer.from(f.body)
    let lens = f.msgLens
    if (f.msgs) {
        lens = []
        const parts: number[] = []
        f.msgs.forEach((m, i) => {
            if (i > 0) parts.push(m.length & 0xff, m.length >> 8)
            else lens = [m.length]
            parts.push(...m)
        })
        body = Buffer.from(parts)
    }
    const raw = Buffer.alloc(HEADER_BYTES + 6 + body.length + lens.length * 2)
    raw[0] = f.type
    raw[1] = f.flags
    putU32(raw, OFF_SESSION, f.session < 0 ? liveSession : f.session)
    putU32(raw, 6, f.ack)
    putU32(raw, 10, f.sack)
    putU16(raw, 14, f.window)
    putU16(raw, 16, f.echo)
    // DATA-shaped body: a seq near the live one, then length prefixes that may or may not fit
    putU32(raw, HEADER_BYTES, f.seqNear < 0 ? 0 : f.seqNear)
    let at = HEADER_BYTES + 6
    for (const len of lens) {
        putU16(raw, at, len)
        at += 2
    }
    body.copy(raw, at)
    return raw
}

describe("link channel fuzzing", () => {
    it("random bytes fed to both ends never throw and are counted as drops", () => {
        fc.assert(
            fc.property(
                fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 8 }),
                fc.integer({ min: 1, max: 1e6 }),
                (chunks, seed) => {
                    const p = new LinkPair({ seed, baud: 921600 })
                    p.run(50) // the session is up
                    for (const c of chunks) {
                        p.wire.b.deliver(Buffer.from(c))
                        p.wire.a.deliver(Buffer.from(c))
                        p.run(1)
                    }
                    const drops = (c: typeof p.remote.counters) => c.droppedCrc + c.droppedMalformed + c.droppedOversize
                    const zeros = chunks.reduce((n, c) => n + c.filter((b) => b === 0).length, 0)
                    if (zeros > 0) expect(drops(p.remote.counters) + drops(p.primary.counters)).toBeGreaterThan(0)
                    expect(p.primary.state()).toBe("up")
                }
            ),
            { numRuns: 100, seed: 4242 }
        )
    })

    it("frames with a good CRC and random fields never throw, and those of other sessions change nothing", () => {
        fc.assert(
            fc.property(fc.array(fc.tuple(frameLike, fc.boolean()), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 1e6 }), (frames, seed) => {
                const p = new LinkPair({ seed, baud: 921600 })
                const fwd = new Stream(60, (i) => 8 + ((i * 13) % 500), p.primary, p.remote)
                const back = new Stream(10, (i) => 8 + i, p.remote, p.primary)
                p.run(5)
                let live = 0
                for (const [f, toRemote] of frames) {
                    const s = p.remote.session()
                    // DATA or ACK of another session, or an unknown type, must be dropped; a
                    // handshake frame or one of the live session may legitimately change things
                    const foreign = f.session >= 0 && f.session !== s
                    const harmless = ((f.type === 4 || f.type === 5) && foreign) || f.type < 1 || f.type > 6
                    if (!harmless) live++
                    const wire = seal(buildFrame(f, s))
                    if (toRemote) p.wire.b.deliver(wire)
                    else p.wire.a.deliver(wire)
                    p.run(3)
                }
                p.run(10_000)
                if (live === 0) {
                    expect(fwd.errors).toEqual([])
                    expect(back.errors).toEqual([])
                    expect(fwd.done() && back.done()).toBe(true)
                }
            }),
            { numRuns: 150, seed: 777 }
        )
    })

    it("corrupted copies of real frames with recomputed CRCs never throw", () => {
        fc.assert(
            fc.property(
                fc.integer({ min: 1, max: 1e6 }),
                fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
                (seed, edits) => {
                    const p = new LinkPair({ seed, baud: 921600 })
                    // capture what the primary writes
                    const sent: number[] = []
                    const write = p.wire.a.write.bind(p.wire.a)
                    p.wire.a.write = (d: Buffer) => {
                        const n = write(d)
                        for (let i = 0; i < n; i++) sent.push(d[i])
                        return n
                    }
                    const fwd = new Stream(30, (i) => 8 + i * 20, p.primary, p.remote)
                    p.run(200)
                    expect(fwd.done()).toBe(true)
                    // split the capture into frames, decode, edit, reseal, replay to both ends
                    const raw: number[][] = [[]]
                    for (const b of sent)
                        if (b === 0) raw.push([])
                        else raw[raw.length - 1].push(b)
                    for (const enc of raw) {
                        if (enc.length < 4) continue
                        const dec = cobsDecodeForTest(Buffer.from(enc))
                        if (!dec || dec.length < 8) continue
                        const body = Buffer.from(dec.subarray(0, dec.length - 4))
                        for (const [at, v] of edits) body[at % body.length] = v
                        const f = seal(body)
                        p.wire.b.deliver(f)
                        p.wire.a.deliver(f)
                        p.run(2)
                    }
                    p.run(1000)
                    expect(["up", "down", "connecting", "refused"]).toContain(p.primary.state())
                }
            ),
            { numRuns: 100, seed: 99 }
        )
    })
})

function cobsDecodeForTest(enc: Buffer): Buffer | null {
    const out: number[] = []
    let i = 0
    while (i < enc.length) {
        const code = enc[i++]
        if (code === 0) return null
        for (let k = 1; k < code; k++) {
            if (i >= enc.length) return null
            out.push(enc[i++])
        }
        if (code !== 0xff && i < enc.length) out.push(0)
    }
    return Buffer.from(out)
}
