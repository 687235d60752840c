import { describe, expect, it } from "vitest"
import { nextTurn, Ran, runCommand } from "../turn"
import { runSim, defaultSimOptions, Simulation } from "../../host-sim/sim"

function cli(args: string[]): Promise<Ran> {
    return runCommand("npx", ["tsx", "host-sim/cli.ts", ...args])
}

describe("seqmirror sim", () => {
    it("mirrors one board consistently and prints the same JSON for the same seed", async () => {
        const a = await cli(["sim", "--boards", "1", "--seed", "1", "--duration", "10s", "--json"])
        const b = await cli(["sim", "--boards", "1", "--seed", "1", "--duration", "10s", "--json"])
        expect(a.status).toBe(0)
        expect(a.stdout).toBe(b.stdout)
        const r = JSON.parse(a.stdout.trim().split("\n").pop()!)
        for (const k of ["seed", "boards", "virtualMs", "writesAcked", "portionsApplied", "consistent", "violations"]) expect(r).toHaveProperty(k)
        expect(r.consistent).toBe(true)
        expect(r.writesAcked).toBeGreaterThan(0)
        expect(r.violations).toEqual([])
    })
    it("rejects bad options with one line and exit code 2", async () => {
        for (const args of [["sim", "--boards", "9"], ["sim", "--duration", "soon"], ["sim", "--mode", "maybe"], ["sim", "--bogus"], ["frobnicate"]]) {
            const r = await cli(args)
            expect(r.status).toBe(2)
            expect(r.stderr.trim().split("\n")).toHaveLength(1)
            expect(r.stderr).toMatch(/^seqmirror: /)
        }
    })
})

describe("group consistency", () => {
    it("a group of four in mode consistent keeps the remote consistent after every apply", () => {
        const o = { ...defaultSimOptions(), boards: 4, seed: 5, durationMs: 20000 }
        const s = new Simulation(o)
        const r = s.run()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        expect(s.checksAfterApply).toBeGreaterThan(50)
        expect(r.appliedSeq).toBeGreaterThan(50)
    })
    it("the same workloads in mode none expose writes without those they depend on (the checker can fail)", async () => {
        // mode none breaks it in some seeds, about one in seven (which ones moves with any
        // change of timing): the search stops at the first, after six seeds at least; 80 seeds
        // miss them all with a chance of about 1e-5
        let violatingRuns = 0
        for (let seed = 1; seed <= 80 && (seed <= 6 || violatingRuns === 0); seed++) {
            const o = { ...defaultSimOptions(), boards: 4, seed, durationMs: 30000, rate: 40 }
            expect(runSim(o).violations).toEqual([])
            const none = runSim({ ...o, mode: "none" })
            if (!none.consistent) {
                violatingRuns++
                expect(none.violations.some((v) => v.includes("is visible but the write"))).toBe(true)
            }
            await nextTurn()
        }
        expect(violatingRuns).toBeGreaterThan(0)
    })
    it("a link with bit errors, lost bytes and outages ends with the remote equal to the primary", () => {
        const r = runSim({ ...defaultSimOptions(), boards: 1, seed: 3, durationMs: 30000, faults: ["link"] })
        expect(r.faultsInjected.linkOutage).toBeGreaterThan(0)
        expect(r.violations).toEqual([])
    })
})
