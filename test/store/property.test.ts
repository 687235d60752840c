import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { seqAfter } from "../../firmware/seq"
import { StoreError, StoreRole } from "../../firmware/store/types"
import { block, Rig } from "./harness"

const B = 128

type Op =
    | { t: "write"; member: number; lba: number; bump: number; old: boolean }
    | { t: "batch"; n: number; lba: number }
    | { t: "read"; member: number; lba: number }
    | { t: "readPinned"; member: number; lba: number; back: number }
    | { t: "horizon"; back: number }
    | { t: "discard"; back: number }
    | { t: "meta"; key: number; value: number }
    | { t: "remount" }
    | { t: "collect" }

const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 12, arbitrary: fc.record({ t: fc.constant("write" as const), member: fc.nat(2), lba: fc.nat(11), bump: fc.nat(10), old: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("batch" as const), n: fc.integer({ min: 2, max: 5 }), lba: fc.nat(11) }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant("read" as const), member: fc.nat(2), lba: fc.nat(11) }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("readPinned" as const), member: fc.nat(2), lba: fc.nat(11), back: fc.nat(3) }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant("horizon" as const), back: fc.nat(3) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("discard" as const), back: fc.nat(2) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("meta" as const), key: fc.nat(3), value: fc.nat(0xffffffff) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("remount" as const) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("collect" as const) }) }
)

interface Written {
    member: number
    lba: number
    seq: number
    data: Buffer
}

/**
 * The definition, with no cleverness: the list of acknowledged writes (minus discarded ones),
 * the horizon, the meta values. Every answer is computed from the list.
 */
class Definition {
    writes: Written[] = []
    horizon = 0
    hasHorizon = false
    meta = new Map<number, number>()

    constructor(public remote: boolean) {}

    /** Latest acknowledged write of (member, lba) among those `ok` accepts, by seq then order. */
    latest(member: number, lba: number, ok: (w: Written) => boolean): Written | null {
        let best: Written | null = null
        for (const w of this.writes) {
            if (w.member !== member || w.lba !== lba || !ok(w)) continue
            if (!best || !seqAfter(best.seq, w.seq)) best = w
        }
        return best
    }

    read(member: number, lba: number): Buffer | null {
        const w = this.remote ? this.latest(member, lba, (x) => this.hasHorizon && !seqAfter(x.seq, this.horizon)) : this.latest(member, lba, () => true)
        return w ? w.data : null
    }

    pinned(member: number, lba: number, seq: number): Buffer | null {
        if (this.hasHorizon && !seqAfter(seq, this.horizon)) return null
        const w = this.latest(member, lba, (x) => x.seq === seq)
        return w ? w.data : null
    }

    pinnedSeqs(): number[] {
        const s = new Set<number>()
        for (const w of this.writes) if (!this.hasHorizon || seqAfter(w.seq, this.horizon)) s.add(w.seq)
        return [...s].sort((a, b) => (seqAfter(a, b) ? 1 : -1))
    }
}

function check(r: Rig, d: Definition, keys: [number, number][]): void {
    expect(d.remote ? r.store.appliedSeq() : r.store.confirmedSeq()).toBe(d.hasHorizon ? d.horizon : 0)
    for (const [m, l] of keys) {
        const got = r.read(m, l)
        expect(got.err).toBe(StoreError.None)
        const want = d.read(m, l)
        expect(got.data === null ? null : got.data.toString("hex")).toBe(want === null ? null : want.toString("hex"))
    }
    expect(r.store.pinnedSeqs()).toEqual(d.pinnedSeqs())
    for (const [k, v] of d.meta) expect(r.store.meta(k)).toBe(v)
}

function runSequence(remote: boolean, base: number, ops: Op[]): void {
    const opts = { role: remote ? StoreRole.Remote : StoreRole.Primary, blockSize: B }
    let r = Rig.blank(32768, opts)
    expect(r.mount().err).toBe(StoreError.None)
    const d = new Definition(remote)
    let seq = base >>> 0
    let version = 0
    const keys: [number, number][] = []
    for (let m = 0; m < 3; m++) for (let l = 0; l < 12; l++) keys.push([m, l])
    // a primary takes writes at or below its confirmed seq too (a board that suspended replication
    // confirms its capture seq itself and goes on writing with it); the remote refuses them
    const tooOld = (s: number) => remote && d.hasHorizon && !seqAfter(s, d.horizon)

    const write = (member: number, lba: number, s: number): void => {
        const data = block(B, member, lba, s, version++)
        const err = r.write(member, lba, s, data)
        if (tooOld(s)) expect(err).toBe(StoreError.SeqTooOld)
        else if (err === StoreError.Full) return
        else {
            expect(err).toBe(StoreError.None)
            d.writes.push({ member, lba, seq: s, data })
        }
    }

    for (const op of ops) {
        switch (op.t) {
            case "write": {
                if (op.bump === 0) seq = (seq + 1) >>> 0
                // now and then an older seq: refused at or below the horizon, else an older version
                const s = op.old ? (seq - 1 - (op.bump % 3)) >>> 0 : seq
                write(op.member, op.lba, s)
                break
            }
            case "batch": {
                // several calls queued at once: they run in call order
                const errs: number[] = []
                const datas: Buffer[] = []
                for (let i = 0; i < op.n; i++) {
                    const data = block(B, 0, (op.lba + i) % 12, seq, version++)
                    datas.push(data)
                    r.store.write(0, (op.lba + i) % 12, seq, data, (e) => (errs[i] = e))
                }
                r.runUntil(() => errs.filter((e) => e !== undefined).length === op.n)
                for (let i = 0; i < op.n; i++) {
                    if (tooOld(seq)) expect(errs[i]).toBe(StoreError.SeqTooOld)
                    else if (errs[i] !== StoreError.Full) {
                        expect(errs[i]).toBe(StoreError.None)
                        d.writes.push({ member: 0, lba: (op.lba + i) % 12, seq, data: datas[i] })
                    }
                }
                break
            }
            case "read": {
                const got = r.read(op.member, op.lba)
                expect(got.err).toBe(StoreError.None)
                const want = d.read(op.member, op.lba)
                expect(got.data === null ? null : got.data.toString("hex")).toBe(want === null ? null : want.toString("hex"))
                break
            }
            case "readPinned": {
                const s = (seq - op.back) >>> 0
                const got = r.readPinned(op.member, op.lba, s)
                const want = d.pinned(op.member, op.lba, s)
                if (want) expect(got.data?.toString("hex")).toBe(want.toString("hex"))
                else if (got.err === StoreError.None) {
                    // not pinned any more, but still held as the newest version: it must be that one
                    expect(got.data?.toString("hex")).toBe(d.read(op.member, op.lba)?.toString("hex"))
                } else expect(got.err).toBe(StoreError.NotFound)
                break
            }
            case "horizon": {
                // only closed seqs are applied or confirmed: the one being written is not
                const s = (seq - 1 - op.back) >>> 0
                const err = remote ? r.commit(s) : r.confirm(s)
                if (remote && d.hasHorizon && seqAfter(d.horizon, s)) expect(err).toBe(StoreError.SeqTooOld)
                else {
                    expect(err).toBe(StoreError.None)
                    if (!d.hasHorizon || seqAfter(s, d.horizon)) {
                        d.hasHorizon = true
                        d.horizon = s
                    }
                }
                break
            }
            case "discard": {
                if (!remote) break
                const x = (seq - 1 - op.back) >>> 0
                const err = r.call((done) => r.store.discardAbove(x, done))
                if (d.hasHorizon && seqAfter(d.horizon, x)) expect(err).toBe(StoreError.SeqTooOld)
                else {
                    expect(err).toBe(StoreError.None)
                    d.writes = d.writes.filter((w) => !seqAfter(w.seq, x))
                }
                break
            }
            case "meta":
                expect(r.call((done) => r.store.setMeta(op.key, op.value, done))).toBe(StoreError.None)
                d.meta.set(op.key, op.value)
                break
            case "remount":
                tally(r)
                r = new Rig(r.chip, opts)
                expect(r.mount().err).toBe(StoreError.None)
                check(r, d, keys)
                break
            case "collect":
                expect(r.call((done) => r.store.collect(done))).toBe(StoreError.None)
                break
        }
    }
    check(r, d, keys)
    tally(r)
    r = new Rig(r.chip, opts)
    expect(r.mount().err).toBe(StoreError.None)
    check(r, d, keys)
}

const totals = { gc: 0, full: 0, writes: 0, refused: 0 }

function tally(r: Rig): void {
    totals.gc += r.store.stats.gcRuns
    totals.full += r.store.stats.full
    totals.writes += r.store.stats.writes
    totals.refused += r.store.stats.refused
}

describe("block store against its definition (random call sequences)", () => {
    it("primary", () => {
        fc.assert(
            fc.property(fc.constantFrom(1, 0xfffffff0, 0x7ffffff8), fc.array(opArb, { minLength: 100, maxLength: 400, size: "max" }), (base, ops) =>
                runSequence(false, base, ops)
            ),
            { numRuns: 120, seed: 7 }
        )
    })
    it("remote", () => {
        fc.assert(
            fc.property(fc.constantFrom(1, 0xfffffff0, 0x7ffffff8), fc.array(opArb, { minLength: 100, maxLength: 400, size: "max" }), (base, ops) =>
                runSequence(true, base, ops)
            ),
            { numRuns: 120, seed: 8 }
        )
    })
    it("exercised garbage collection, remounts and refusals along the way", () => {
        expect(totals.gc).toBeGreaterThan(500)
        expect(totals.writes).toBeGreaterThan(10000)
        expect(totals.refused).toBeGreaterThan(100)
    })
})
