import { describe, expect, it } from "vitest"
import { STAGING_PER_MEMBER } from "../../firmware/remote/remoteBoard"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"

// The remote's flow control: each member's link delivers no more portions than the remote has
// room to stage (its receive credit), so the remote's staging RAM is bounded whatever the load:
// four boards on a fast link at 300 writes/s each, with the remote's flash slow, once queued
// 1,842 portions (about 460 KB) waiting for its store.

describe("the remote's staging under more than its flash can take", () => {
    it("stays within its bound per member, and the group stays consistent", () => {
        const o = { ...defaultSimOptions(), boards: 4, seed: 3, durationMs: 20000, baud: 921600, rate: 300, faults: ["slow"] }
        const sim = new Simulation(o)
        sim.start()
        let peak = 0
        for (let t = 1000; t <= o.durationMs; t += 1000) {
            sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
            const rb = sim.group.remote.board
            if (rb) peak = Math.max(peak, rb.stagingPeak)
        }
        const result = sim.finish()
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
        // the bound is reached (the remote is the bottleneck) and never passed
        expect(peak).toBe(STAGING_PER_MEMBER)
        expect(result.writesAcked).toBeGreaterThan(4000)
    })
})
