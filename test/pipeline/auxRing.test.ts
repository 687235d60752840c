import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { AuxRing, RingPut } from "../../firmware/pipeline/auxRing"
import { LbaTable } from "../../firmware/pipeline/lbaTable"
import { encodePortionHeader, PORTION_HEADER } from "../../firmware/protocol/messages"

function block(v: number, size = 16): Buffer {
    return Buffer.alloc(size, v)
}

function drain(r: AuxRing): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = []
    const tmp = Buffer.alloc(r.blockSize)
    while (r.count > 0) {
        r.copyDataAt(0, tmp, 0)
        out.push([r.seqAt(0), r.lbaAt(0), tmp[0]])
        r.shift()
    }
    return out
}

// a slot: 14 bytes of header (seq, lba, length, CRC) and a 16-byte block
describe("aux ring", () => {
    it("keeps portions in seq order and folds rewrites of an lba within one seq", () => {
        const r = new AuxRing(30 * 8, 16)
        expect(r.slots).toBe(8)
        expect(r.put(1, 5, block(1), 0)).toBe(RingPut.Added)
        expect(r.put(1, 6, block(2), 0)).toBe(RingPut.Added)
        expect(r.put(1, 5, block(3), 0)).toBe(RingPut.Folded)
        expect(r.put(2, 5, block(4), 0)).toBe(RingPut.Added)
        expect(drain(r)).toEqual([
            [1, 5, 3],
            [1, 6, 2],
            [2, 5, 4],
        ])
        expect(r.folded).toBe(1)
    })
    it("gives a waiting portion as the PORTION message the pump sends: its seq, lba and CRC, then its data", () => {
        const r = new AuxRing(30 * 4, 16)
        r.put(7, 3, block(9), 0x12345678)
        r.put(8, 4, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]), 0xcafef00d)
        const msg = Buffer.alloc(PORTION_HEADER + 16, 0xee)
        const want = Buffer.alloc(PORTION_HEADER + 16)
        expect(r.portionAt(0, msg)).toBe(16)
        encodePortionHeader(want, 7, 3, 0x12345678)
        want.fill(9, PORTION_HEADER)
        expect(msg).toEqual(want)
        expect(r.portionAt(1, msg)).toBe(16)
        encodePortionHeader(want, 8, 4, 0xcafef00d)
        for (let i = 0; i < 16; i++) want[PORTION_HEADER + i] = i + 1
        expect(msg).toEqual(want)
    })
    it("reports Full without losing what it holds, and drops the tail seq for the spill path", () => {
        const r = new AuxRing(30 * 3, 16)
        expect(r.put(1, 1, block(1), 0)).toBe(RingPut.Added)
        expect(r.put(2, 2, block(2), 0)).toBe(RingPut.Added)
        expect(r.put(2, 3, block(3), 0)).toBe(RingPut.Added)
        expect(r.put(2, 4, block(4), 0)).toBe(RingPut.Full)
        expect(r.put(2, 3, block(9), 0)).toBe(RingPut.Folded)
        expect(r.dropTailSeq(2)).toBe(2)
        expect(drain(r)).toEqual([[1, 1, 1]])
    })
    it("never folds across seqs or into a portion that has left the ring", () => {
        const r = new AuxRing(30 * 4, 16)
        r.put(1, 7, block(1), 0)
        r.shift()
        expect(r.put(1, 7, block(2), 0)).toBe(RingPut.Added)
        expect(r.count).toBe(1)
    })
    it("matches a simple model under random use", () => {
        const op = fc.oneof(
            fc.record({ kind: fc.constant("put" as const), lba: fc.nat(12), v: fc.nat(255), bump: fc.boolean() }),
            fc.record({ kind: fc.constant("shift" as const) })
        )
        fc.assert(
            fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
                const r = new AuxRing(30 * 6, 16)
                const model: Array<[number, number, number]> = []
                let seq = 1
                for (const o of ops) {
                    if (o.kind === "shift") {
                        if (model.length === 0) continue
                        model.shift()
                        r.shift()
                        continue
                    }
                    if (o.bump) seq++
                    const i = model.findIndex((p) => p[0] === seq && p[1] === o.lba)
                    const res = r.put(seq, o.lba, block(o.v), 0)
                    if (i >= 0) {
                        expect(res).toBe(RingPut.Folded)
                        model[i][2] = o.v
                    } else if (model.length === 6) expect(res).toBe(RingPut.Full)
                    else {
                        expect(res).toBe(RingPut.Added)
                        model.push([seq, o.lba, o.v])
                    }
                }
                expect(drain(r)).toEqual(model)
            })
        )
    })
})

describe("lba table", () => {
    it("stores, overwrites, refuses when full and clears at once", () => {
        const t = new LbaTable(3)
        expect(t.set(10, 1)).toBe(true)
        expect(t.set(11, 2)).toBe(true)
        expect(t.set(10, 5)).toBe(true)
        expect(t.set(12, 3)).toBe(true)
        expect(t.set(13, 4)).toBe(false)
        expect(t.get(10)).toBe(5)
        expect(t.get(13)).toBe(-1)
        t.clear()
        expect(t.get(10)).toBe(-1)
        expect(t.count).toBe(0)
    })
})
