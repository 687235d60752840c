import { describe, expect, it } from "vitest"
import { StoreOptions, StoreRole } from "../../firmware/store/types"
import { PartialMode } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"
import { countOps, kinds, primaryOps, remoteOps, runWithCut, StoreOp } from "./scenario"
import { nextTurn } from "../turn"

/** Every cut point gets each kind of interruption: some bits, a prefix, all of it (but no
 * completion seen), none of it. After the check, a few more calls append where the cut left
 * the log, and a second mount checks again. */
const MODES = [PartialMode.RandomBits, PartialMode.Prefix, PartialMode.Everything, PartialMode.Nothing]

async function exhaustive(capacity: number, opts: StoreOptions, ops: StoreOp[]): Promise<number> {
    const n = countOps(capacity, opts, ops)
    let suspended = 0
    for (let cut = 1; cut <= n; cut++) {
        for (const mode of MODES) if (runWithCut(capacity, opts, ops, cut, mode, cut * 7 + mode, 0, 6)) suspended++
        if (cut % 32 === 0) await nextTurn()
    }
    // the store erases behind its calls, which suspend the erase: the programs made meanwhile
    // are among the operations cut, with the suspended erase cut too
    expect(suspended).toBeGreaterThan(0)
    return n
}

describe("power loss at every program and erase", () => {
    it("primary: every acknowledged write survives with its latest value, pinned versions and meta too", async () => {
        const ops = primaryOps(1, 110, 12, 256)
        const k = kinds(ops)
        expect(k.confirm).toBeGreaterThan(2)
        expect(k.meta).toBeGreaterThan(0)
        const n = await exhaustive(32768, { role: StoreRole.Primary }, ops)
        expect(n).toBeGreaterThan(250)
    })

    it("remote: after a cut the store shows exactly its applied seqs, staged versions and discards hold", async () => {
        const ops = remoteOps(1, 40, 12, 256)
        const k = kinds(ops)
        expect(k.discard).toBeGreaterThan(2)
        const n = await exhaustive(32768, { role: StoreRole.Remote }, ops)
        expect(n).toBeGreaterThan(400)
    })

    it("primary with 64-byte blocks (51 records per sector)", async () => {
        const n = await exhaustive(24576, { role: StoreRole.Primary, blockSize: 64 }, primaryOps(2, 200, 30, 64))
        expect(n).toBeGreaterThan(400)
    })
})

// 1000 runs per role, in parts of 250: no test holds the worker for long
const PARTS = [0, 1, 2, 3]

describe("power loss at seeded random points, twice per run", () => {
    it.each(PARTS)("primary: 1000 runs on a larger workload, part %i of 4", (part) => {
        const opts: StoreOptions = { role: StoreRole.Primary, blockSize: 128 }
        const ops = primaryOps(7, 600, 40, 128)
        const n = countOps(40960, opts, ops)
        const p = new Prng(11 + part * 1000)
        for (let i = part * 250; i < (part + 1) * 250; i++) runWithCut(40960, opts, ops, 1 + p.int(n), PartialMode.Any, i, 1 + p.int(200))
    })

    it.each(PARTS)("remote: 1000 runs on a larger workload, part %i of 4", (part) => {
        const opts: StoreOptions = { role: StoreRole.Remote }
        const ops = remoteOps(8, 120, 20, 256)
        const n = countOps(40960, opts, ops)
        const p = new Prng(12 + part * 1000)
        for (let i = part * 250; i < (part + 1) * 250; i++) runWithCut(40960, opts, ops, 1 + p.int(n), PartialMode.Any, i, 1 + p.int(200))
    })
})
