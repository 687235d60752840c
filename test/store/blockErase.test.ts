import { describe, expect, it } from "vitest"
import { StoreError, StoreOptions, StoreRole } from "../../firmware/store/types"
import { NorOpKind, PartialMode, SpiNorChip } from "../../host-sim/models/spiNorChip"
import { SimKernel } from "../../host-sim/kernel"
import { Prng } from "../../host-sim/prng"
import { Rig } from "./harness"

/**
 * The remote's block erases (docs/FORMAT-flash.md, "Block erases (the remote)"): a remote
 * staging without time between its calls (every member's backlog after an outage) that throws
 * staged versions away (a member's resync copy begun again) is left with runs of sectors
 * holding nothing, and erases them a 64 KB block at a time. The workload here: 60 blocks
 * written once (cold data, in the oldest sectors all along), and rounds that each commit a seq
 * of 8 writes, then stage 240 versions of a later seq from one member, queued 60 at a time (no
 * time between calls), and drop them; every other round leaves a moment without calls.
 */

const CAPACITY = 131072
const OPTS: StoreOptions = { role: StoreRole.Remote, queueDepth: 80 }
const ROUNDS = 26
/** The staged seqs are this far ahead of the ones committed: never committed (after a mount the
 * dropped versions are back, staged, as the store's contract says, until a commit at or past
 * their seq, which in the protocol comes with the member's copy that supersedes them). */
const AHEAD = 1000

function fill(v: number): Buffer {
    const b = Buffer.alloc(256)
    for (let i = 0; i < 256; i++) b[i] = (v * 31 + i * 7) & 0xff
    return b
}

/** What the remote shows (member, lba → data) once seq `applied` is applied. */
type Image = Map<string, Buffer>

/**
 * Runs the workload on `rig` until it ends or the power is cut; returns the image as of the
 * last commit acknowledged, and the one a commit in flight at the cut would give (null: none).
 */
function work(rig: Rig): { acked: Image; ackedSeq: number; pending: Image | null } {
    const image: Image = new Map()
    let ackedSeq = 0
    let v = 0
    const batch = (calls: Array<(done: (e: StoreError) => void) => void>): boolean => {
        let left = calls.length
        for (const c of calls)
            c((e) => {
                expect(e).toBe(StoreError.None)
                left--
            })
        rig.runUntil(() => left === 0 || !rig.chip.isPowered())
        return left === 0
    }
    for (let s = 1; s <= ROUNDS; s++) {
        const next = new Map(image)
        const writes: Array<(done: (e: StoreError) => void) => void> = []
        for (let i = 0; i < 8; i++) {
            const data = fill(v++)
            next.set(`${i % 3}/${i}`, data)
            writes.push((d) => rig.store.write(i % 3, i, s, data, d))
        }
        // with the first seq, cold data: written once, live in the oldest sectors all along
        if (s === 1)
            for (let lba = 20; lba < 80; lba++) {
                const data = fill(v++)
                next.set(`2/${lba}`, data)
                writes.push((d) => rig.store.write(2, lba, s, data, d))
            }
        if (!batch(writes)) return { acked: image, ackedSeq, pending: null }
        if (!batch([(d) => rig.store.commit(s, d)])) return { acked: image, ackedSeq, pending: next }
        for (const [k, b] of next) image.set(k, b)
        ackedSeq = s
        for (let part = 0; part < 4; part++) {
            const staged: Array<(done: (e: StoreError) => void) => void> = []
            for (let lba = part * 60; lba < (part + 1) * 60; lba++) {
                const data = fill(v++)
                staged.push((d) => rig.store.write(1, 100 + lba, AHEAD + s, data, d))
            }
            if (!batch(staged)) return { acked: image, ackedSeq, pending: null }
        }
        // (a resync that starts again forgets them: RAM only, its room garbage for collection)
        if (!batch([(d) => rig.store.dropStaged(1, AHEAD + s, d)])) return { acked: image, ackedSeq, pending: null }
        // every other round a moment without calls: collection erases behind them, and the next
        // round's calls suspend that erase
        if (s % 2 === 1) rig.k.run(rig.k.millis() + 2, 1_000_000)
    }
    return { acked: image, ackedSeq, pending: null }
}

/** The remote's image on `rig` is `image` as of `seq`: each block reads back, the dropped ones
 * read nothing (staged, or back as staged after a mount, never applied). */
function expectImage(rig: Rig, image: Image, seq: number, where: string): void {
    expect(rig.store.appliedSeq(), where).toBe(seq)
    for (const [k, data] of image) {
        const [m, lba] = k.split("/").map(Number)
        const r = rig.read(m, lba)
        expect(r.err, where + " " + k).toBe(StoreError.None)
        expect(r.data && r.data.equals(data), where + " " + k).toBe(true)
    }
    for (let lba = 100; lba < 340; lba += 17) expect(rig.read(1, lba).data, where).toBe(null)
}

describe("the remote's block erases", () => {
    it("erase runs of sectors holding nothing a 64 KB block at a time, and lose nothing", () => {
        const rig = Rig.blank(CAPACITY, OPTS)
        expect(rig.mount().err).toBe(StoreError.None)
        const { acked, ackedSeq } = work(rig)
        const st = rig.store.stats
        expect(ackedSeq).toBe(ROUNDS)
        // the room the rounds leave comes back sixteen sectors at a time (the cold data's block
        // sector by sector)
        expect(st.blockErases).toBeGreaterThan(5)
        expect(st.erasesBehind).toBeGreaterThan(0)
        expectImage(rig, acked, ackedSeq, "no cut")
        expect(new Rig(rig.chip, OPTS).mount().err).toBe(StoreError.None)
    })

    it("a primary's store, the same workload but for the remote's calls, erases sector by sector", () => {
        const rig = Rig.blank(CAPACITY, { role: StoreRole.Primary, queueDepth: 64 })
        expect(rig.mount().err).toBe(StoreError.None)
        let v = 0
        for (let s = 1; s <= ROUNDS; s++) {
            let left = 240
            for (let lba = 0; lba < 240; lba++) rig.store.write(0, lba % 60, s, fill(v++), () => left--)
            rig.runUntil(() => left === 0)
            expect(rig.call((d) => rig.store.confirm(s, d))).toBe(StoreError.None)
        }
        expect(rig.store.stats.erases).toBeGreaterThan(20)
        expect(rig.store.stats.blockErases).toBe(0)
    })

    it("survive a power cut at each block erase and at the operations after it", () => {
        // the workload once: which operations are block erases (each counts an erase on all 16
        // sectors of its block)
        const chip0 = new SpiNorChip(new SimKernel(), { capacity: CAPACITY })
        const rig0 = new Rig(chip0, OPTS)
        rig0.mount()
        const blocks: number[] = []
        let counted = 0
        chip0.watchOperations((kind, index) => {
            const sum = chip0.sectorEraseCounts.reduce((a, b) => a + b, 0)
            if (kind === NorOpKind.Erase && sum - counted === 16) blocks.push(index)
            counted = sum
        })
        work(rig0)
        expect(blocks.length).toBe(rig0.store.stats.blockErases)
        let runs = 0
        for (const b of blocks)
            for (let cut = b; cut < b + 3; cut++)
                for (const mode of [PartialMode.RandomBits, PartialMode.Prefix, PartialMode.Everything, PartialMode.Nothing]) {
                    const where = `cut ${cut} mode ${mode}`
                    const chip = new SpiNorChip(new SimKernel(), { capacity: CAPACITY })
                    let rig = new Rig(chip, OPTS)
                    expect(rig.mount().err).toBe(StoreError.None)
                    chip.cutAt(cut, new Prng(cut * 7 + mode), mode)
                    const { acked, ackedSeq, pending } = work(rig)
                    chip.cutAt(0, new Prng(1), mode)
                    expect(chip.isPowered(), where).toBe(false)
                    runs++
                    rig = new Rig(chip, OPTS)
                    expect(rig.mount().err, where).toBe(StoreError.None)
                    // a commit cut in flight has landed or not, whole
                    if (pending && rig.store.appliedSeq() === ackedSeq + 1) expectImage(rig, pending, ackedSeq + 1, where)
                    else expectImage(rig, acked, ackedSeq, where)
                    // and the store goes on: a write and a commit after the cut, and a mount again
                    const s = rig.store.appliedSeq() + 1
                    expect(rig.write(2, 7, s, fill(9999)), where).toBe(StoreError.None)
                    expect(rig.commit(s), where).toBe(StoreError.None)
                    const again = new Rig(chip, OPTS)
                    expect(again.mount().err, where).toBe(StoreError.None)
                    expect(again.read(2, 7).data!.equals(fill(9999)), where).toBe(true)
                }
        expect(runs).toBeGreaterThan(60)
    })
})
