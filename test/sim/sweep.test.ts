import { describe, expect, it } from "vitest"
import { spawnSync } from "node:child_process"

function sweep(args: string[]) {
    const r = spawnSync("npx", ["tsx", "host-sim/cli.ts", "sweep", "--json", ...args], { encoding: "utf8" })
    return { status: r.status, summary: JSON.parse(r.stdout.trim().split("\n").pop()!) }
}

describe("seqmirror sweep", () => {
    it("link faults, slow flash and bus faults: 120 runs of groups of one to three, no violation", () => {
        for (const boards of ["1", "2", "3"]) {
            const r = sweep(["--seeds", "1..40", "--boards", boards, "--faults", "link,slow,bus"])
            expect(r.summary.runs).toBe(40)
            expect(r.summary.failedSeeds).toEqual([])
            expect(r.status).toBe(0)
        }
    })
    it("power cuts of the primary and the remote at any flash operation: 50 runs of one board, no violation", () => {
        const r = sweep(["--seeds", "1..50", "--boards", "1", "--faults", "power,link"])
        expect(r.summary.runs).toBe(50)
        expect(r.summary.faultsInjected.power).toBeGreaterThan(50)
        expect(r.summary.faultsInjected.remotePower).toBeGreaterThan(20)
        expect(r.summary.failedSeeds).toEqual([])
    })
    it("power cuts and reboots in groups of two and three: 60 runs, never an unsafe remote state or a lost acknowledged write", () => {
        for (const boards of ["2", "3"]) {
            const r = sweep(["--seeds", "1..30", "--boards", boards, "--faults", "power,reboot"])
            expect(r.summary.runs).toBe(30)
            expect(r.summary.unsafeRuns).toBe(0)
            for (const f of r.summary.failures) expect(f.replay).toContain(`--seed ${f.seed} `)
        }
    })
    it("prints one JSON object with the replay command of every failure, and fails on violations", () => {
        const r = sweep(["--seeds", "1..3", "--boards", "4", "--mode", "none", "--rate", "60", "--duration", "30s"])
        expect(r.summary.runs).toBe(3)
        for (const f of r.summary.failures) expect(f.replay).toBe(`npx seqmirror sim --boards 4 --seed ${f.seed} --duration 30000ms --mode none --rate 60`)
        expect(r.status).toBe(r.summary.failedSeeds.length > 0 ? 1 : 0)
    })
})
