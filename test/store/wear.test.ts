import { describe, expect, it } from "vitest"
import { StoreError, StoreRole } from "../../firmware/store/types"
import { Prng } from "../../host-sim/prng"
import { Rig } from "./harness"

/** Writes every lba once (cold data), then rewrites only the first `hot` lbas, confirming as it
 * goes; returns the store's erase counts. */
function hotCold(wearSpread: number): { counts: number[]; statics: number; wa: number } {
    const r = Rig.blank(131072, { role: StoreRole.Primary, wearSpread }) // 32 sectors, 480 slots
    r.mount()
    const p = new Prng(5)
    const lbas = 280
    const hot = 24
    const data = Buffer.alloc(256)
    let seq = 1
    for (let i = 0; i < 15000; i++) {
        if (i % 50 === 49) {
            seq++
            expect(r.confirm(seq - 2)).toBe(StoreError.None)
        }
        const lba = i < lbas ? i : p.int(hot)
        data[0] = i & 0xff
        expect(r.write(0, lba, seq, data)).toBe(StoreError.None)
    }
    return { counts: r.store.eraseCounts(), statics: r.store.stats.gcStaticRuns, wa: r.store.writeAmplification() }
}

describe("wear levelling", () => {
    it("keeps the spread of erase counts near wearSpread when most data is cold", () => {
        const w = hotCold(8)
        const spread = Math.max(...w.counts) - Math.min(...w.counts)
        expect(w.statics).toBeGreaterThan(0)
        expect(spread).toBeLessThanOrEqual(8 + 2)
        expect(Math.min(...w.counts)).toBeGreaterThan(0)
        // without static levelling the sectors holding cold data are never erased
        const n = hotCold(1e9)
        expect(n.statics).toBe(0)
        expect(Math.min(...n.counts)).toBeLessThan(2)
        expect(Math.max(...n.counts) - Math.min(...n.counts)).toBeGreaterThan(3 * spread)
    })
})
