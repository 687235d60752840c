import { describe, expect, it } from "vitest"
import { FaultLog } from "../../host-sim/faultLog"
import { DashboardView, renderDashboard, renderPlainLine } from "../../host-sim/live/dashboard"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"
import { TimelineSampler } from "../../host-sim/timeline"

describe("the dashboard while a member is dead", () => {
    // primary 2 is off from 3 s to 15 s: primaries 0 and 1 suspend after the suspend time (5 s),
    // the remote holds its image until primary 2 is back and the delta resync commits
    const sim = new Simulation({ ...defaultSimOptions(), boards: 3, seed: 1, durationMs: 30000, powerOff: [{ target: 2, atMs: 3000, forMs: 12000 }] })
    const faults = new FaultLog(sim)
    const sampler = new TimelineSampler(sim, faults, 100)
    sim.start()
    sampler.start()
    const view = (): DashboardView => ({
        snapshot: sampler.snapshot(),
        goodput: [0, 0, 0],
        seed: 1,
        mode: "consistent",
        faults: [],
        durationMs: 30000,
        speed: Infinity,
        wallMs: 0,
        behindMs: 0,
        ports: [-1, -1, -1, -1],
        writesAcked: 0,
        faultsInjected: sim.faultsInjected,
        lastFault: faults.last(),
        phase: "running",
    })
    const row = (lines: string[], name: string) => lines.find((l) => l.startsWith(name + " "))!

    it("shows susp for the suspended members, off for the dead one, and why the remote holds its image", () => {
        sim.kernel.run(10000, Number.MAX_SAFE_INTEGER)
        const v = view()
        const lines = renderDashboard(v)
        expect(row(lines, "primary 0").slice(11, 17)).toBe("susp  ")
        expect(row(lines, "primary 1").slice(11, 17)).toBe("susp  ")
        expect(row(lines, "primary 2").slice(11, 17)).toBe("off   ")
        const r = v.snapshot.remote
        expect(r.suspendedMember === 0 || r.suspendedMember === 1).toBe(true)
        const i = lines.indexOf(row(lines, "remote"))
        expect(lines[i]).toContain(`applied seq ${r.appliedSeq}, staged ${r.stagedPortions}, held`)
        expect(lines[i + 1]).toBe(" ".repeat(17) + `holding its image: suspended by member ${r.suspendedMember} (a write waited: the group cannot release)`)
        const last = lines.find((l) => l.startsWith("last event"))!
        expect(last).toMatch(
            /^last event at \d+\.\d s: primary [01]: replication suspended at seq \d+ \(a write waited 5 s or more: the group cannot release\)$/
        )
        const plain = renderPlainLine(v)
        expect(plain).toContain("p0 suspended seq ")
        expect(plain).toContain(`remote applied ${r.appliedSeq} held (member ${r.suspendedMember} suspended) consistent`)
    })

    it("goes back to up and a plain remote row once the resync has committed", () => {
        sim.kernel.run(30000, Number.MAX_SAFE_INTEGER)
        const v = view()
        const lines = renderDashboard(v)
        for (const name of ["primary 0", "primary 1", "primary 2"]) expect(row(lines, name).slice(11, 17), name).toBe("up    ")
        expect(lines.some((l) => l.includes("holding its image"))).toBe(false)
        expect(row(lines, "remote")).not.toContain("held")
        expect(renderPlainLine(v)).not.toContain("suspended")
        expect(faults.events.filter((e) => e.kind === "resync commit")).toHaveLength(1)
        sampler.stop()
        expect(sim.finish().consistent).toBe(true)
    })
})
