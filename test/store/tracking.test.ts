import { describe, expect, it } from "vitest"
import { historyLimit } from "../../firmware/pipeline/primary"
import { MetaKey, StoreError, StoreOptions, StoreRole } from "../../firmware/store/types"
import { PartialMode } from "../../host-sim/models/spiNorChip"
import { block, Rig } from "./harness"
import { countOps, kinds, runWithCut, StoreOp, trackedOps } from "./scenario"
import { nextTurn } from "../turn"

const MODES = [PartialMode.RandomBits, PartialMode.Prefix, PartialMode.Everything, PartialMode.Nothing]

describe("tracking while suspended, under power loss at every program and erase", () => {
    it("every acknowledged write survives as its block's newest version, with the seq that marks it changed", async () => {
        const opts: StoreOptions = { role: StoreRole.Primary }
        const ops = trackedOps(3, 160, 12, 256)
        const k = kinds(ops)
        expect(k.confirm).toBeGreaterThan(4)
        // writes at or below the confirmed seq: the suspended phases
        let confirmed = 0
        let tracked = 0
        for (const o of ops) {
            if (o.kind === "confirm") confirmed = o.seq
            else if (o.kind === "write" && o.seq <= confirmed) tracked++
        }
        expect(tracked).toBeGreaterThan(40)
        const n = countOps(32768, opts, ops)
        expect(n).toBeGreaterThan(200)
        for (let cut = 1; cut <= n; cut++) {
            for (const mode of MODES) runWithCut(32768, opts, ops, cut, mode, cut * 5 + mode, 0, 6)
            if (cut % 32 === 0) await nextTurn()
        }
    })
})

describe("a store whose replication history is at its bound always boots", () => {
    // 8 sectors of 15 blocks: 120 records, 30 blocks the app writes; the history bound
    // (group.historyShare 50 %) is 30 + 45 live versions
    const CAPACITY = 32768
    const LBAS = 30
    const opts: StoreOptions = { role: StoreRole.Primary }

    function fullHistory(): StoreOp[] {
        const limit = historyLimit(120, LBAS, 50)
        expect(limit).toBe(75)
        const ops: StoreOp[] = []
        let v = 0
        // pinned history: every version in a seq of its own (nothing confirmed), until the
        // live versions reach the bound; older versions of the same seq are garbage
        for (let seq = 1; v < limit; seq++)
            for (let lba = 0; lba < LBAS && v < limit; lba++) ops.push({ kind: "write", member: 0, lba, seq, data: block(256, 0, lba, seq, v++) })
        // kept manifests: blocks of member 255 at their seqs, pinned the same way
        for (let s = 1; s <= 3; s++) ops.push({ kind: "write", member: 255, lba: 0, seq: s, data: block(256, 255, 0, s, v++) })
        // the next boot: the generation goes up (a metadata record), and a first write
        ops.push({ kind: "meta", key: MetaKey.Generation, value: 2 })
        ops.push({ kind: "write", member: 0, lba: 1, seq: 9, data: block(256, 0, 1, 9, v) })
        return ops
    }

    it("mounts and takes its metadata with the history at the bound", () => {
        expect(countOps(CAPACITY, opts, fullHistory())).toBeGreaterThan(80)
    })

    it("power cut at every flash operation of the boot: it mounts every time and loses no acknowledged write", () => {
        const ops = fullHistory()
        const all = countOps(CAPACITY, opts, ops)
        const boot = countOps(CAPACITY, opts, ops.slice(0, ops.length - 2))
        expect(all - boot).toBeGreaterThan(0)
        let cuts = 0
        for (let cut = boot + 1; cut <= all; cut++)
            for (const mode of MODES) {
                runWithCut(CAPACITY, opts, ops, cut, mode, cut * 3 + mode, 0, 2)
                cuts++
            }
        expect(cuts).toBeGreaterThan(0)
    })

    it("without the bound the store fills with pinned history and refuses metadata (what the bound prevents)", () => {
        const ops: StoreOp[] = []
        let v = 0
        for (let seq = 1; seq < 200; seq++) ops.push({ kind: "write", member: 0, lba: seq % LBAS, seq, data: block(256, 0, seq % LBAS, seq, v++) })
        expect(() => countOps(CAPACITY, opts, ops)).toThrow(new RegExp("failed with " + StoreError.Full))
    })
})

describe("a power cut in a garbage collection that took the last free sector", () => {
    // 8 sectors of 15 blocks, 45 blocks written over and over, five writes a seq, each seq
    // confirmed 15 seqs later and a metadata record every other seq: pinned versions and small
    // records take the free sectors down to the one that only garbage collection may take, and
    // collections then take it
    const CAPACITY = 32768
    const LBAS = 45
    const opts: StoreOptions = { role: StoreRole.Primary }

    function workload(): StoreOp[] {
        const ops: StoreOp[] = []
        let v = 0
        for (let seq = 1; seq <= 300; seq++) {
            for (let j = 0; j < 5; j++) {
                const lba = (seq * 7 + j * 13) % LBAS
                ops.push({ kind: "write", member: 0, lba, seq, data: block(256, 0, lba, seq, v++) })
            }
            if (seq > 15) ops.push({ kind: "confirm", seq: seq - 15 })
            if (seq % 2 === 0) ops.push({ kind: "meta", key: MetaKey.Generation, value: seq })
        }
        return ops
    }

    /** The flash operations during which the store had no free sector. */
    function withNoFreeSector(ops: StoreOp[]): number[] {
        const rig = Rig.blank(CAPACITY, opts)
        expect(rig.mount().err).toBe(StoreError.None)
        const at = new Set<number>()
        const st = rig.store
        for (const op of ops) {
            let err = -1
            const done = (e: StoreError) => (err = e)
            if (op.kind === "write") st.write(op.member, op.lba, op.seq, op.data, done)
            else if (op.kind === "confirm") st.confirm(op.seq, done)
            else if (op.kind === "meta") st.setMeta(op.key, op.value, done)
            rig.runUntil(() => {
                if (st.freeSectors() === 0) at.add(rig.chip.operations() + 1)
                return err >= 0
            })
            expect(err).toBe(StoreError.None)
        }
        return [...at].sort((a, b) => a - b)
    }

    it("the store boots, takes its metadata and goes on writing, wherever the cut lands", async () => {
        const ops = workload()
        const cuts = withNoFreeSector(ops)
        // the situation arises, many times: cut in 60 of them, spread over the run
        expect(cuts.length).toBeGreaterThan(60)
        const step = cuts.length / 60
        for (let i = 0; i < 60; i++) {
            const cut = cuts[Math.floor(i * step)]
            for (const mode of [PartialMode.RandomBits, PartialMode.Prefix]) runWithCut(CAPACITY, opts, ops, cut, mode, cut * 7 + mode, 0, ops.length)
            await nextTurn()
        }
    })
})
