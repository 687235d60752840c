import { describe, expect, it } from "vitest"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"

describe("the end of a run", () => {
    it("reads the remote's image again when a commit falls in the reads (one image, not two mixed)", () => {
        // 8 boards without remote replacements, 5 minutes: the remote's one full resync commits
        // in the catch-up after the workload, while the end's reads of its image are under way
        const o = defaultSimOptions()
        o.boards = 8
        o.seed = 5
        o.durationMs = 300_000
        o.faults = ["power", "link", "bus", "reboot", "slow", "death", "rot", "remotefail", "ram", "attack", "replace-primary"]
        const sim = new Simulation(o)
        const r = sim.run()
        expect(sim.remoteRereads).toBeGreaterThan(0)
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    }, 120_000)
})
