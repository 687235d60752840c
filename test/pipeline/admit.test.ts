import { describe, expect, it } from "vitest"
import { GroupPrimaryBoard } from "../../firmware/pipeline/groupPrimary"
import { SuspendReason } from "../../firmware/pipeline/primary"
import { defaultSimOptions, PowerOffEvent, SimResult, Simulation } from "../../host-sim/sim"

interface Run {
    r: SimResult
    sim: Simulation
    /** Board 2's acknowledged writes and the remote's applied seq, when it had been out for a
     * while and just before its admission. */
    acked: [number, number]
    applied: [number, number]
    reasonWhileOut: number
}

/**
 * Three boards; board 2 is evicted live at 5 s (its app keeps writing) and admitted again at
 * 20 s; the workload runs 40 s. `cuts` adds power cuts (board or remote) around the admission.
 */
function evictAndAdmit(seed: number, cuts: PowerOffEvent[] = [], admit = true): Run {
    const sim = new Simulation({ ...defaultSimOptions(), boards: 3, seed, durationMs: 40000, powerOff: cuts })
    const k = sim.kernel
    const target = sim.group.primaries[2]
    const out: Run = { r: null as unknown as SimResult, sim, acked: [0, 0], applied: [0, 0], reasonWhileOut: -1 }
    sim.start()
    k.setTimer(5000, () => expect(sim.agents[0]!.evict(target.address)).toBeNull())
    k.setTimer(9000, () => {
        out.acked[0] = sim.history.ackedHigh[2]
        out.applied[0] = sim.group.appliedSeq()
        out.reasonWhileOut = target.board!.suspendReason
    })
    k.setTimer(19900, () => {
        out.acked[1] = sim.history.ackedHigh[2]
        out.applied[1] = sim.group.appliedSeq()
    })
    if (admit) k.setTimer(20000, () => expect(sim.agents[1]!.admit(target.address)).toBeNull())
    k.run(40000, Number.MAX_SAFE_INTEGER)
    out.r = sim.finish()
    return out
}

describe("an evicted member admitted again", () => {
    it("acknowledges its app's writes while out, then copies its whole image; the remote applies it and every image stays consistent", () => {
        for (const seed of [1, 2, 3]) {
            const run = evictAndAdmit(seed)
            const { r, sim } = run
            expect({ seed, violations: r.violations }).toEqual({ seed, violations: [] })
            expect(r.consistent).toBe(true)
            expect(r.writesFailed).toBe(0)
            // out of the group, its app went on: acknowledged once durable, without the shuttle
            expect(run.reasonWhileOut).toBe(SuspendReason.Evicted)
            expect(run.acked[1]).toBeGreaterThan(run.acked[0] + 50)
            // and the others went on without it
            expect(run.applied[1] - run.applied[0]).toBeGreaterThan(20)
            // back in: the remote applied its whole image in a resync's commit, and the checker
            // holds it to every write it acknowledged (while out too)
            expect(sim.history.outFrom[2]).toBe(0)
            expect(r.resyncs).toBeGreaterThanOrEqual(1)
            const b = sim.group.primaries[2].board as GroupPrimaryBoard
            expect(b.resyncCopied).toBeGreaterThan(0)
            expect(b.suspended).toBe(false)
            expect(sim.agents.map((a) => a!.members().length)).toEqual([3, 3, 3])
        }
    })

    it("never admitted, it stays out: the checker holds the others to their promise, and excuses only its writes after the eviction", () => {
        const run = evictAndAdmit(4, [], false)
        expect(run.r.violations).toEqual([])
        expect(run.sim.history.outFrom[2]).toBeGreaterThan(0)
        expect(run.sim.agents[2]!.isEvicted()).toBe(true)
        expect(run.r.writesFailed).toBe(0)
    })

    it("a power cut of the admitted board or of the remote during the copy loses nothing: the copy is owed across the restart", () => {
        const cases: PowerOffEvent[][] = [
            // the copy runs from about 20.1 s to 20.4 s, the remote's commit follows
            [{ target: 2, atMs: 20200, forMs: 1500 }],
            [{ target: 2, atMs: 20420, forMs: 300 }],
            [{ target: "remote", atMs: 20250, forMs: 2000 }],
            [{ target: 0, atMs: 20300, forMs: 800 }],
        ]
        for (const cuts of cases) {
            const run = evictAndAdmit(5, cuts)
            expect({ cuts, violations: run.r.violations }).toEqual({ cuts, violations: [] })
            expect(run.sim.history.outFrom[2]).toBe(0)
            const b = run.sim.group.primaries[2].board as GroupPrimaryBoard
            expect(b.suspended).toBe(false)
        }
    })
})
