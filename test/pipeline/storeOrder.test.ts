import { describe, expect, it } from "vitest"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"

// Apps that write faster than the store's queue takes: a write the store refuses for now goes
// again, and a later write of the same block must not land before it (the earlier would stand
// as the block's newest version, and a power cut would show the later, acknowledged write lost).
// A full resync's copy of a block read before such a write landed must not land after it either.

describe("writes the store's queue refuses for now", () => {
    it("land in the order the app made them: every acknowledged write survives every power cut", () => {
        const o = { ...defaultSimOptions(), boards: 3, seed: 12, durationMs: 30000, rate: 150, faults: ["power", "link", "reboot"] }
        const sim = new Simulation(o, { suspendAfterMs: 0 }, { queueDepth: 40 })
        const result = sim.run()
        expect(sim.flashChecks).toBeGreaterThan(5)
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
    })
})

describe("a store whose queue is full of the app's writes", () => {
    it("still takes the board's confirm records (they go again until taken): a suspended board's history is freed and the group catches up", () => {
        const o = { ...defaultSimOptions(), boards: 4, seed: 1, durationMs: 60000, rate: 200 }
        const sim = new Simulation(o, {}, { queueDepth: 40 })
        const result = sim.run()
        expect(result.suspensions).toBeGreaterThan(0)
        expect(result.writesFailed).toBe(0)
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
    })
})
