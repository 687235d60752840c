import { expect } from "vitest"
import { seqAfter } from "../../firmware/seq"
import { StoreError, StoreOptions, StoreRole } from "../../firmware/store/types"
import { SimKernel } from "../../host-sim/kernel"
import { PartialMode, SpiNorChip } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"
import { block, Rig } from "./harness"

export type StoreOp =
    | { kind: "write"; member: number; lba: number; seq: number; data: Buffer }
    | { kind: "commit"; seq: number }
    | { kind: "confirm"; seq: number }
    | { kind: "discard"; seq: number }
    | { kind: "meta"; key: number; value: number }
    | { kind: "collect" }

const key = (m: number, l: number) => m * 0x1000000 + l
const kseq = (m: number, l: number, s: number) => `${m}:${l}:${s}`

/**
 * What the store must show, from the calls whose done fired with success. Exactly one call
 * may be in flight at a cut; after the remount the test finds out (from what the store shows)
 * whether it landed, and the model follows, so later checks stay exact.
 */
export class StoreModel {
    /** Primary: newest acknowledged version per key. Remote: newest applied version per key. */
    newest = new Map<number, { seq: number; data: Buffer; member: number; lba: number }>()
    /** Pinned (primary) / staged (remote) versions: newest per (member, lba, seq). */
    held = new Map<string, { member: number; lba: number; seq: number; data: Buffer }>()
    horizon = 0
    hasHorizon = false
    meta = new Map<number, number>()
    maxSeq = 0

    constructor(public role: StoreRole) {}

    apply(op: StoreOp): void {
        switch (op.kind) {
            case "write": {
                if (seqAfter(op.seq, this.maxSeq) || this.maxSeq === 0) this.maxSeq = op.seq
                if (this.role === StoreRole.Primary) {
                    this.newest.set(key(op.member, op.lba), { seq: op.seq, data: op.data, member: op.member, lba: op.lba })
                    // at or below the confirmed seq (a primary that suspended replication writes
                    // there): the newest version only, not pinned
                    if (this.hasHorizon && !seqAfter(op.seq, this.horizon)) return
                }
                this.held.set(kseq(op.member, op.lba, op.seq), { member: op.member, lba: op.lba, seq: op.seq, data: op.data })
                return
            }
            case "commit":
            case "confirm":
                if (this.hasHorizon && !seqAfter(op.seq, this.horizon)) return
                this.hasHorizon = true
                this.horizon = op.seq
                for (const [k, v] of [...this.held]) {
                    if (seqAfter(v.seq, op.seq)) continue
                    this.held.delete(k)
                    if (this.role === StoreRole.Remote) {
                        const cur = this.newest.get(key(v.member, v.lba))
                        if (!cur || seqAfter(v.seq, cur.seq)) this.newest.set(key(v.member, v.lba), { ...v })
                    }
                }
                return
            case "discard":
                for (const [k, v] of [...this.held]) if (seqAfter(v.seq, op.seq)) this.held.delete(k)
                return
            case "meta":
                this.meta.set(op.key, op.value)
                return
            case "collect":
                return
        }
    }
}

/** Runs ops one at a time until the list ends or the chip loses power. */
export function runOps(rig: Rig, ops: StoreOp[], from: number, model: StoreModel): { next: number; inFlight: StoreOp | null } {
    const st = rig.store
    for (let i = from; i < ops.length; i++) {
        const op = ops[i]
        let err = -1
        const done = (e: StoreError) => (err = e)
        switch (op.kind) {
            case "write":
                st.write(op.member, op.lba, op.seq, op.data, done)
                break
            case "commit":
                st.commit(op.seq, done)
                break
            case "confirm":
                st.confirm(op.seq, done)
                break
            case "discard":
                st.discardAbove(op.seq, done)
                break
            case "meta":
                st.setMeta(op.key, op.value, done)
                break
            case "collect":
                st.collect(done)
                break
        }
        rig.runUntil(() => err >= 0 || !rig.chip.isPowered())
        if (err < 0) return { next: i + 1, inFlight: op }
        if (err !== StoreError.None) throw new Error(`op ${i} ${op.kind} failed with ${err}`)
        model.apply(op)
    }
    return { next: ops.length, inFlight: null }
}

function sameData(a: Buffer | null, b: Buffer | null): boolean {
    if (a === null || b === null) return a === b
    return a.equals(b)
}

/**
 * After a remount: resolves the call that was in flight (did it land?) into the model, then
 * checks that the store shows exactly what the model says.
 */
export function resolveAndCheck(rig: Rig, model: StoreModel, inFlight: StoreOp | null, where: string): void {
    const st = rig.store
    if (inFlight) {
        switch (inFlight.kind) {
            case "write": {
                // the newest version of the key, or the staged one, is the old one or the new one
                const got =
                    model.role === StoreRole.Primary ? rig.read(inFlight.member, inFlight.lba) : rig.readPinned(inFlight.member, inFlight.lba, inFlight.seq)
                const old =
                    model.role === StoreRole.Primary
                        ? (model.newest.get(key(inFlight.member, inFlight.lba))?.data ?? null)
                        : (model.held.get(kseq(inFlight.member, inFlight.lba, inFlight.seq))?.data ?? null)
                const gotData = got.err === StoreError.None ? got.data : null
                if (sameData(gotData, inFlight.data)) model.apply(inFlight)
                else if (!sameData(gotData, old)) throw new Error(`${where}: in-flight write shows neither old nor new (err ${got.err})`)
                break
            }
            case "commit":
            case "confirm": {
                const h = model.role === StoreRole.Remote ? st.appliedSeq() : st.confirmedSeq()
                if (h === inFlight.seq) model.apply(inFlight)
                else expect(h, `${where}: horizon after a cut commit`).toBe(model.hasHorizon ? model.horizon : 0)
                break
            }
            case "discard": {
                const victims = [...model.held.values()].filter((v) => seqAfter(v.seq, inFlight.seq))
                if (victims.length > 0) {
                    const r = rig.readPinned(victims[0].member, victims[0].lba, victims[0].seq)
                    if (r.err === StoreError.NotFound) model.apply(inFlight)
                }
                break
            }
            case "meta": {
                if (st.meta(inFlight.key) === inFlight.value) model.apply(inFlight)
                break
            }
            case "collect":
                break
        }
    }
    // the horizon
    const h = model.role === StoreRole.Remote ? st.appliedSeq() : st.confirmedSeq()
    expect(h, `${where}: horizon`).toBe(model.hasHorizon ? model.horizon : 0)
    // every key: the newest (primary) or the applied image (remote)
    const keys = new Set<number>()
    for (const k of model.newest.keys()) keys.add(k)
    for (const v of model.held.values()) keys.add(key(v.member, v.lba))
    for (const k of keys) {
        const m = Math.floor(k / 0x1000000)
        const l = k % 0x1000000
        const want = model.newest.get(k)?.data ?? null
        const got = rig.read(m, l)
        expect(got.err, `${where}: read ${m}:${l}`).toBe(StoreError.None)
        if (!sameData(got.data, want)) throw new Error(`${where}: read ${m}:${l} shows the wrong version`)
        // a primary's newest version carries its seq: what a resync copies (changed since the
        // remote's image) is read from it
        if (model.role === StoreRole.Primary && want) expect(st.newestSeq(m, l), `${where}: newest seq ${m}:${l}`).toBe(model.newest.get(k)!.seq)
    }
    // every pinned / staged version, and the list of seqs
    const seqs = new Set<number>()
    for (const v of model.held.values()) {
        seqs.add(v.seq)
        const got = rig.readPinned(v.member, v.lba, v.seq)
        expect(got.err, `${where}: readPinned ${v.member}:${v.lba}@${v.seq}`).toBe(StoreError.None)
        if (!sameData(got.data, v.data)) throw new Error(`${where}: pinned ${v.member}:${v.lba}@${v.seq} wrong data`)
    }
    expect(st.pinnedSeqs(), `${where}: pinned seqs`).toEqual([...seqs].sort((a, b) => (seqAfter(a, b) ? 1 : -1)))
    for (const [k, v] of model.meta) expect(st.meta(k), `${where}: meta ${k}`).toBe(v)
    if (model.maxSeq !== 0) expect(seqAfter(model.maxSeq, st.maxSeqSeen()), `${where}: maxSeqSeen`).toBe(false)
}

/** A workload for a primary: writes in rising seqs, confirms lagging behind, some meta. */
export function primaryOps(seed: number, count: number, lbas: number, blockSize: number): StoreOp[] {
    const p = new Prng(seed)
    const ops: StoreOp[] = []
    let seq = 1
    let confirmed = 0
    for (let v = 0; v < count; v++) {
        if (p.chance(0.08)) seq++
        if (confirmed < seq - 1 && p.chance(0.08)) {
            confirmed = confirmed + 1 + p.int(seq - 1 - confirmed)
            ops.push({ kind: "confirm", seq: confirmed })
        }
        if (p.chance(0.02)) ops.push({ kind: "meta", key: p.int(3), value: p.next() })
        if (p.chance(0.02)) ops.push({ kind: "collect" })
        const member = p.int(2)
        const lba = p.int(lbas)
        ops.push({ kind: "write", member, lba, seq, data: block(blockSize, member, lba, seq, v) })
    }
    return ops
}

/**
 * A primary that suspends replication and resumes: writes in rising seqs with confirms lagging
 * behind; then, suspended, it confirms its capture seq itself before writing on with it (and
 * each seq it adopts after), so the store keeps the newest version of each block only, its seq
 * marking the block changed; then it resumes (writes pinned again), and suspends once more.
 */
export function trackedOps(seed: number, count: number, lbas: number, blockSize: number): StoreOp[] {
    const p = new Prng(seed)
    const ops: StoreOp[] = []
    let seq = 1
    let confirmed = 0
    let suspended = false
    for (let v = 0; v < count; v++) {
        // suspend at a third and at five sixths, resume at two thirds
        const phase = Math.floor((v * 6) / count)
        const want = phase === 2 || phase === 3 || phase === 5
        if (want !== suspended) {
            suspended = want
            if (suspended) {
                confirmed = seq
                ops.push({ kind: "confirm", seq })
            } else seq++
        }
        if (p.chance(0.08)) {
            seq++
            if (suspended) {
                confirmed = seq
                ops.push({ kind: "confirm", seq })
            }
        }
        if (!suspended && confirmed < seq - 1 && p.chance(0.05)) {
            confirmed = confirmed + 1 + p.int(seq - 1 - confirmed)
            ops.push({ kind: "confirm", seq: confirmed })
        }
        if (p.chance(0.02)) ops.push({ kind: "meta", key: p.int(3), value: p.next() })
        const lba = p.int(lbas)
        ops.push({ kind: "write", member: 0, lba, seq, data: block(blockSize, 0, lba, seq, v) })
    }
    return ops
}

/** How many ops of each kind (to show a workload exercises what it should). */
export function kinds(ops: StoreOp[]): Record<string, number> {
    const c: Record<string, number> = {}
    for (const o of ops) c[o.kind] = (c[o.kind] ?? 0) + 1
    return c
}

/** A workload for the remote: each seq staged from several members, then committed; now and
 * then a seq staged ahead is discarded and staged again (a resync). */
export function remoteOps(seed: number, seqs: number, lbas: number, blockSize: number): StoreOp[] {
    const p = new Prng(seed)
    const ops: StoreOp[] = []
    let v = 0
    for (let s = 1; s <= seqs; s++) {
        const n = 2 + p.int(6)
        for (let i = 0; i < n; i++) {
            const member = p.int(3)
            const lba = p.int(lbas)
            ops.push({ kind: "write", member, lba, seq: s, data: block(blockSize, member, lba, s, v++) })
        }
        if (p.chance(0.2)) {
            // stage the next seq too, then throw it away (a resync) before committing this one
            for (let i = 0; i < 3; i++) {
                const member = p.int(3)
                const lba = p.int(lbas)
                ops.push({ kind: "write", member, lba, seq: s + 1, data: block(blockSize, member, lba, s + 1, v++) })
            }
            ops.push({ kind: "discard", seq: s })
        }
        if (p.chance(0.1)) ops.push({ kind: "meta", key: p.int(3), value: p.next() })
        ops.push({ kind: "commit", seq: s })
    }
    return ops
}

export interface CutResult {
    ops: number
    cuts: number
}

/** Flash operations the whole workload takes with no cut. */
export function countOps(capacity: number, opts: StoreOptions, ops: StoreOp[]): number {
    const rig = Rig.blank(capacity, opts)
    expect(rig.mount().err).toBe(StoreError.None)
    const model = new StoreModel(opts.role)
    const r = runOps(rig, ops, 0, model)
    expect(r.inFlight).toBe(null)
    resolveAndCheck(rig, model, null, "no cut")
    return rig.chip.operations()
}

/**
 * Runs the workload, cutting power during flash operation `cutAt` (1-based), then remounts and
 * checks; true when that cut found an erase suspended. Then, on the same flash: with `again`, runs the rest of the workload cutting once
 * more `again` operations into the second boot; else with `tail`, runs `tail` more calls
 * without a cut (they append where the cut left the log); then remounts and checks again.
 */
export function runWithCut(capacity: number, opts: StoreOptions, ops: StoreOp[], cutAt: number, mode: PartialMode, seed: number, again = 0, tail = 0): boolean {
    const chip = new SpiNorChip(new SimKernel(), { capacity })
    const where = `cut ${cutAt} mode ${mode} seed ${seed}`
    let rig = new Rig(chip, opts)
    expect(rig.mount().err).toBe(StoreError.None)
    const model = new StoreModel(opts.role)
    const cutPrng = new Prng(seed)
    chip.cutAt(cutAt, cutPrng, mode)
    const first = runOps(rig, ops, 0, model)
    chip.cutAt(0, cutPrng, mode)
    // the first cut found an erase suspended (behind the store's calls)
    const suspended = chip.lastCut.suspended
    rig = new Rig(chip, opts)
    expect(rig.mount().err, where).toBe(StoreError.None)
    resolveAndCheck(rig, model, first.inFlight, where)
    if (first.next >= ops.length || (again === 0 && tail === 0)) return suspended
    if (again > 0) chip.cutAt(chip.operations() + again, cutPrng, mode)
    const last = tail > 0 && again === 0 ? Math.min(ops.length, first.next + tail) : ops.length
    const second = runOps(rig, ops.slice(0, last), first.next, model)
    chip.cutAt(0, cutPrng, mode)
    rig = new Rig(chip, opts)
    expect(rig.mount().err, where + " second boot").toBe(StoreError.None)
    resolveAndCheck(rig, model, second.inFlight, where + " second boot")
    return suspended
}
