import { describe, expect, it } from "vitest"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"

const ALL = ["power", "link", "bus", "reboot", "slow", "replace", "death", "rot", "remotefail", "ram"]

// Virtual time: the run is the simulator's, deterministic for its seed.
describe("a member dead for most of a faulty run, the others restarting", () => {
    it("4 boards, seed 48, every fault class: the group releases seqs again once the member is back, and the remote catches up", () => {
        // member 1 dies at about 12 s and is back only after the workload (about 119 s); the
        // other members' reboots each raise S by one meanwhile, so the shuttle's window fills
        // with seqs that cannot become final, and two members end past S by different amounts
        const sim = new Simulation({ ...defaultSimOptions(), boards: 4, seed: 48, durationMs: 60000, faults: ALL })
        const r = sim.run()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        const seqs = sim.agents.map((a) => a!.releasedSeq())
        expect(new Set(seqs).size).toBe(1)
    }, 60000)
})
