import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { seqAfter, seqAtOrBefore, seqDiff, seqMax, seqNext } from "../../firmware/seq"

describe("wrap-safe seq comparison", () => {
    it("orders seqs across the 32-bit wrap", () => {
        expect(seqNext(0xffffffff)).toBe(0)
        expect(seqAfter(0, 0xffffffff)).toBe(true)
        expect(seqAfter(0xffffffff, 0)).toBe(false)
        expect(seqAtOrBefore(0xfffffff0, 5)).toBe(true)
        expect(seqMax(3, 0xfffffffe)).toBe(3)
    })
    it("agrees with plain integer order for any seqs less than 2^31 apart", () => {
        fc.assert(
            fc.property(fc.nat(0xffffffff), fc.integer({ min: -0x7fffffff, max: 0x7fffffff }), (base, d) => {
                const a = (base + d) >>> 0
                expect(seqDiff(a, base)).toBe(d)
                expect(seqAfter(a, base)).toBe(d > 0)
            })
        )
    })
})
