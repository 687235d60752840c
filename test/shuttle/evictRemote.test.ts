import { describe, expect, it } from "vitest"
import { GroupPrimaryBoard } from "../../firmware/pipeline/groupPrimary"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"
import { Prng } from "../../host-sim/prng"

/**
 * A member's link goes down, then the member dies for good with seqs finalized with its totals
 * that the remote never got; the operator evicts it. Returns the remote's applied seq when the
 * member died and at the end.
 */
function deadMemberEvicted(tellRemote: boolean): { atDeath: number; atEnd: number; violations: string[] } {
    const o = defaultSimOptions()
    o.boards = 3
    o.seed = 4
    o.durationMs = 12000
    const sim = new Simulation(o)
    const k = sim.kernel
    const dead = sim.group.primaries[2]
    const original = GroupPrimaryBoard.prototype.memberEvicted
    if (!tellRemote) GroupPrimaryBoard.prototype.memberEvicted = () => {}
    let atDeath = 0
    try {
        sim.start()
        k.setTimer(2500, () => dead.wire.setUp(false))
        k.setTimer(3000, () => {
            atDeath = sim.group.appliedSeq()
            sim.apps[2].stop()
            sim.apps[2].powerLost()
            sim.group.powerCycle(dead, new Prng(1), 1e9)
        })
        k.setTimer(4000, () => {
            expect(sim.agents[0]!.evict(dead.address)).toBeNull()
        })
        k.run(o.durationMs, Number.MAX_SAFE_INTEGER)
    } finally {
        GroupPrimaryBoard.prototype.memberEvicted = original
    }
    return { atDeath, atEnd: sim.group.appliedSeq(), violations: sim.violations }
}

describe("eviction reaches the remote", () => {
    it("after the operator evicts a dead member, the remote applies the seqs finalized with its totals and goes on", () => {
        const told = deadMemberEvicted(true)
        const notTold = deadMemberEvicted(false)
        // a remote that is not told waits for the dead member's portions for ever
        expect(notTold.atEnd).toBeLessThan(told.atDeath + 3)
        // told, it goes on with the others' seqs
        expect(told.atEnd).toBeGreaterThan(told.atDeath + 20)
        expect(told.violations).toEqual([])
    })
})

describe("a member evicted while it is off", () => {
    it("its acknowledged writes the remote never got are out of the promise from the eviction on (not from when it learns it), and the checker finds the group consistent", () => {
        // member 2 is off from 5 s for 60 s with writes acknowledged that never reached the
        // remote; the other apps' later writes depend on them. The operator evicts it at 12 s:
        // the group goes on, and the remote applies those later writes without member 2's
        const o = { ...defaultSimOptions(), boards: 3, seed: 1, durationMs: 90000, powerOff: [{ target: 2, atMs: 5000, forMs: 60000 }] }
        const sim = new Simulation(o)
        sim.start()
        sim.kernel.setTimer(12000, () => expect(sim.agents[0]!.evict(sim.group.primaries[2].address)).toBeNull())
        sim.kernel.run(o.durationMs, Number.MAX_SAFE_INTEGER)
        const result = sim.finish()
        expect(sim.agents[0]!.members()).toEqual([0x10, 0x11])
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
    })
})
