import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { shuttleFrames } from "./arbitraries"
import {
    compareEpoch,
    decodeEvicted,
    decodeRelease,
    decodeShuttle,
    encodeEvicted,
    encodeRelease,
    encodeShuttle,
    EVICTED_BYTES,
    EvictedFrame,
    FrameError,
    FrameType,
    RELEASE_MAX_BYTES,
    ReleaseFrame,
    seal,
    SHUTTLE_MAX_BYTES,
    SHUTTLE_MIN_BYTES,
    shuttleLength,
    ShuttleFrame,
} from "../../firmware/shuttle/frames"
import { TestGroup } from "./harness"
import { seqAfter } from "../../firmware/seq"

const u32 = fc.integer({ min: 0, max: 0xffffffff })

const shuttleArb = shuttleFrames(8)

function sameShuttle(a: ShuttleFrame, b: ShuttleFrame): void {
    expect([a.group, a.epoch, a.origin, a.holder, a.seq, a.flags, a.count]).toEqual([b.group, b.epoch, b.origin, b.holder, b.seq, b.flags, b.count])
    expect(a.members.slice(0, a.count)).toEqual(b.members.slice(0, b.count))
    expect([a.adopted, a.absent, a.delivered, a.held, a.copying, a.windowLen, a.finalLag]).toEqual([
        b.adopted,
        b.absent,
        b.delivered,
        b.held,
        b.copying,
        b.windowLen,
        b.finalLag,
    ])
    for (let w = 0; w < a.windowLen; w++)
        for (let i = 0; i < a.count; i++) {
            expect(a.portions[w * 8 + i]).toBe(b.portions[w * 8 + i])
            expect(a.bytes[w * 8 + i]).toBe(b.bytes[w * 8 + i])
        }
}

describe("SHUTTLE frame", () => {
    it("round-trips any valid frame, at the length shuttleLength predicts", () => {
        fc.assert(
            fc.property(shuttleArb, (f) => {
                const out = Buffer.alloc(SHUTTLE_MAX_BYTES)
                const n = encodeShuttle(f, out)
                expect(n).toBe(shuttleLength(f))
                expect(n).toBeLessThanOrEqual(SHUTTLE_MAX_BYTES)
                const g = new ShuttleFrame()
                expect(decodeShuttle(out, n, g)).toBe(FrameError.None)
                sameShuttle(g, f)
            })
        )
    })

    it("is small: an idle shuttle of 2 members is 19 bytes, of 8 members 25", () => {
        const f = new ShuttleFrame()
        f.origin = f.holder = 0x10
        f.count = 2
        f.members[0] = 0x10
        f.members[1] = 0x11
        expect(shuttleLength(f)).toBe(SHUTTLE_MIN_BYTES)
        expect(SHUTTLE_MIN_BYTES).toBe(19)
        f.count = 8
        for (let i = 0; i < 8; i++) f.members[i] = 0x10 + i
        expect(shuttleLength(f)).toBe(25)
        // with one open and one final seq of small totals (under 128 portions, under 16 KiB)
        f.windowLen = 2
        f.finalLag = 1
        for (let i = 0; i < 16; i++) {
            f.portions[i] = 40
            f.bytes[i] = 40 * 256
        }
        expect(shuttleLength(f)).toBe(25 + 2 * 8 * 3)
    })

    it("detects every flip of up to three bits, and every burst of up to 16 bits (CRC-16)", () => {
        fc.assert(
            fc.property(shuttleArb, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), (f, bitSeeds) => {
                const out = Buffer.alloc(SHUTTLE_MAX_BYTES)
                const n = encodeShuttle(f, out)
                const bits = new Set(bitSeeds.map((b) => b % (n * 8)))
                for (const bit of bits) out[bit >> 3] ^= 1 << (bit & 7)
                expect(decodeShuttle(out, n, new ShuttleFrame())).not.toBe(FrameError.None)
            }),
            { numRuns: 3000 }
        )
        fc.assert(
            fc.property(shuttleArb, fc.nat(), fc.integer({ min: 1, max: 0xffff }), (f, at, pattern) => {
                const out = Buffer.alloc(SHUTTLE_MAX_BYTES)
                const n = encodeShuttle(f, out)
                // a burst: a nonzero 16-bit pattern over two adjacent bytes
                const i = at % (n - 1)
                out[i] ^= pattern >> 8
                out[i + 1] ^= pattern & 0xff
                expect(decodeShuttle(out, n, new ShuttleFrame())).not.toBe(FrameError.None)
            }),
            { numRuns: 3000 }
        )
    })

    it("rejects bad fields even with a good CRC", () => {
        const f = new ShuttleFrame()
        f.origin = f.holder = 0x10
        f.count = 2
        f.members[0] = 0x10
        f.members[1] = 0x11
        const out = Buffer.alloc(SHUTTLE_MAX_BYTES)
        const mutate = (at: number, v: number): number => {
            const n = encodeShuttle(f, out)
            out[at] = v
            seal(out, n - 2)
            return decodeShuttle(out, n, new ShuttleFrame())
        }
        expect(mutate(10, 0)).toBe(FrameError.Field) // one member (bits 0-2 are n - 1)
        expect(mutate(10, 0x07)).toBe(FrameError.Length) // eight members, two addresses
        expect(mutate(10, 0x81)).toBe(FrameError.None) // DATA: every bit of the count byte's high nibble is a flag
        expect(mutate(10, 0x09)).toBe(FrameError.Length) // the held and copying masks said to follow, and missing
        expect(mutate(11, 0x11)).toBe(FrameError.Field) // addresses not ascending
        expect(mutate(12, 0x78)).toBe(FrameError.Field) // reserved address
        expect(mutate(13, 0x04)).toBe(FrameError.Field) // adopted bit of a member that is not there
        expect(mutate(16, 0x10)).toBe(FrameError.Field) // finalLag above windowLen
        expect(mutate(16, 0x09)).toBe(FrameError.Field) // window of 9
        expect(mutate(16, 0x01)).toBe(FrameError.Field) // a window seq with no totals
        expect(mutate(4, 0x02)).toBe(FrameError.Field) // origin address
        // with a member holding S: held at 16, copying at 17, the window byte at 18
        f.held = 2
        f.copying = 2
        expect(mutate(10, 0x09)).toBe(FrameError.None)
        expect(mutate(10, 0x01)).toBe(FrameError.Field) // masks there, not said to be: held read as the window byte
        expect(mutate(17, 0x00)).toBe(FrameError.None) // held without a copy under way
        f.held = 0
        expect(mutate(10, 0x09)).toBe(FrameError.None) // a copy under way below the bound
        expect(mutate(17, 0x00)).toBe(FrameError.Field) // the masks present with no bit set
        expect(mutate(16, 0x04)).toBe(FrameError.Field) // a held bit of a member that is not there
        expect(mutate(17, 0x04)).toBe(FrameError.Field) // a copying bit of a member that is not there
    })

    it("carries held and copying only while a bit of them is set: two bytes more then", () => {
        const f = new ShuttleFrame()
        f.origin = f.holder = 0x10
        f.count = 3
        for (let i = 0; i < 3; i++) f.members[i] = 0x10 + i
        const idle = shuttleLength(f)
        f.held = 0b101
        f.copying = 0b001
        expect(shuttleLength(f)).toBe(idle + 2)
        const out = Buffer.alloc(SHUTTLE_MAX_BYTES)
        const n = encodeShuttle(f, out)
        const g = new ShuttleFrame()
        g.held = g.copying = 0xff
        expect(decodeShuttle(out, n, g)).toBe(FrameError.None)
        expect([g.held, g.copying]).toEqual([0b101, 0b001])
        f.held = f.copying = 0
        expect(decodeShuttle(out, encodeShuttle(f, out), g)).toBe(FrameError.None)
        expect([g.held, g.copying]).toEqual([0, 0])
    })
})

describe("RELEASE frame", () => {
    it("round-trips the released seq and the final manifests it carries", () => {
        fc.assert(
            fc.property(
                u32,
                fc.nat(255),
                fc.integer({ min: 0, max: 8 }),
                fc.array(fc.tuple(u32, u32), { minLength: 64, maxLength: 64 }),
                (seq, mask, count, totals) => {
                    const r = new ReleaseFrame()
                    r.group = 3
                    r.epoch = 0xfffe
                    r.origin = 0x12
                    r.sender = 0x13
                    r.seq = seq
                    r.memberMask = mask
                    r.count = count
                    for (let i = 0; i < 64; i++) {
                        r.portions[i] = (mask >> (i % 8)) & 1 ? totals[i][0] : 0
                        r.bytes[i] = (mask >> (i % 8)) & 1 ? totals[i][1] : 0
                    }
                    const out = Buffer.alloc(RELEASE_MAX_BYTES)
                    const n = encodeRelease(r, out)
                    const d = new ReleaseFrame()
                    expect(decodeRelease(out, n, d)).toBe(FrameError.None)
                    expect([d.group, d.epoch, d.origin, d.sender, d.seq, d.memberMask, d.count]).toEqual([3, 0xfffe, 0x12, 0x13, seq, mask, count])
                    for (let i = 0; i < count * 8; i++) {
                        expect(d.portions[i]).toBe(r.portions[i])
                        expect(d.bytes[i]).toBe(r.bytes[i])
                    }
                    out[n - 2] ^= 0x40
                    expect(decodeRelease(out, n, d)).not.toBe(FrameError.None)
                }
            )
        )
    })

    it("a bare release (no manifests) is 14 bytes", () => {
        const r = new ReleaseFrame()
        r.origin = r.sender = 0x10
        expect(encodeRelease(r, Buffer.alloc(RELEASE_MAX_BYTES))).toBe(14)
    })
})

describe("EVICTED frame", () => {
    it("round-trips and checks its CRC", () => {
        const e = new EvictedFrame()
        e.group = 9
        e.epoch = 7
        e.origin = 0x10
        e.sender = 0x11
        e.target = 0x15
        const out = Buffer.alloc(EVICTED_BYTES)
        expect(encodeEvicted(e, out)).toBe(EVICTED_BYTES)
        const d = new EvictedFrame()
        expect(decodeEvicted(out, EVICTED_BYTES, d)).toBe(FrameError.None)
        expect([d.group, d.epoch, d.origin, d.sender, d.target]).toEqual([9, 7, 0x10, 0x11, 0x15])
        out[6] ^= 1
        expect(decodeEvicted(out, EVICTED_BYTES, d)).toBe(FrameError.Crc)
    })
})

describe("epoch order", () => {
    it("is wrap-safe and breaks ties by origin", () => {
        expect(compareEpoch(1, 0x10, 0, 0x10)).toBeGreaterThan(0)
        expect(compareEpoch(0, 0x10, 0xffff, 0x10)).toBeGreaterThan(0)
        expect(compareEpoch(0xffff, 0x10, 0, 0x10)).toBeLessThan(0)
        expect(compareEpoch(5, 0x12, 5, 0x10)).toBeGreaterThan(0)
        expect(compareEpoch(5, 0x10, 5, 0x10)).toBe(0)
    })
})

describe("bad input never throws", () => {
    it("random bytes through every decoder", () => {
        fc.assert(
            fc.property(fc.uint8Array({ maxLength: 700 }), fc.boolean(), (bytes, fixCrc) => {
                const b = Buffer.from(bytes)
                if (fixCrc && b.length > 2) seal(b, b.length - 2)
                for (const t of [FrameType.Shuttle, FrameType.Release, FrameType.Evicted]) {
                    if (b.length > 0) b[0] = t
                    decodeShuttle(b, b.length, new ShuttleFrame())
                    decodeRelease(b, b.length, new ReleaseFrame())
                    decodeEvicted(b, b.length, new EvictedFrame())
                }
            }),
            { numRuns: 2000 }
        )
    })

    it("random frames (raw, with a good CRC, or well-formed with random fields) written to running members", () => {
        fc.assert(
            fc.property(
                fc.array(
                    fc.oneof(
                        fc.uint8Array({ maxLength: 120 }).map((u) => ({ kind: "raw", b: Buffer.from(u) })),
                        fc.tuple(fc.constantFrom(0x53, 0x52, 0x58), fc.uint8Array({ minLength: 1, maxLength: 120 })).map(([t, u]) => {
                            const b = Buffer.from(u)
                            b[0] = t
                            if (b.length > 2) seal(b, b.length - 2)
                            return { kind: "crc", b }
                        }),
                        shuttleArb.map((f) => {
                            // make it plausible for this group: its members and group id
                            f.group = 7
                            f.count = 3
                            for (let i = 0; i < 3; i++) f.members[i] = 0x10 + i
                            f.adopted &= 7
                            f.absent &= 7
                            f.delivered &= 7
                            const out = Buffer.alloc(SHUTTLE_MAX_BYTES)
                            const n = encodeShuttle(f, out)
                            return { kind: "shuttle", b: out.subarray(0, n) }
                        })
                    ),
                    { maxLength: 12 }
                ),
                fc.boolean(),
                (frames, gc) => {
                    const g = new TestGroup({ size: 3, check: false }).start()
                    g.run(100)
                    const rogue = g.bus.attach(0x50)
                    for (const f of frames) {
                        if (gc) rogue.generalCall(f.b, () => {})
                        else rogue.write(0x10 + (f.b.length % 3), f.b, () => {})
                        g.run(3)
                    }
                    g.run(2000)
                    // still a working group afterwards: data moves S on every member, and they agree
                    const before = g.captures()
                    for (const h of g.hosts) h.write(1)
                    g.run(3000)
                    const after = g.captures()
                    expect(new Set(after).size).toBe(1)
                    for (let i = 0; i < 3; i++) expect(seqAfter(after[i], before[i])).toBe(true)
                }
            ),
            { numRuns: 300 }
        )
    })
})
