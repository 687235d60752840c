import { describe, expect, it } from "vitest"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"

// A remote whose flash fills with staged versions of seqs that cannot apply yet (a member's
// link is down, so the seq before them waits for its portions) must still apply the seq that
// comes first once its portions arrive: there is no room for them, so the remote discards
// the later seqs' staged versions and has every member send its unapplied seqs again, in seq
// order. Without it nothing applies, nothing frees room, and the group waits for good.

describe("a remote whose flash fills with seqs that cannot apply yet", () => {
    it("discards the later seqs, has them sent again, and catches up consistent", () => {
        const o = { ...defaultSimOptions(), boards: 2, seed: 7, durationMs: 40000, rate: 100, linkDown: [{ target: 1, atMs: 5000, forMs: 20000 }] }
        // member 1's link is down for 20 s and nobody suspends for it: member 0's seqs pile up on
        // the remote (a history bound of its own larger than the remote's room for them)
        const sim = new Simulation(o, {
            flashBytes: 1 << 20,
            remoteFlashBytes: 128 << 10,
            lbaCount: 64,
            historyShare: 90,
            maxHistorySeqs: 2048,
            suspendAfterMs: 0,
        })
        sim.start()
        sim.kernel.run(25000, Number.MAX_SAFE_INTEGER)
        // the remote's store is full (to the share it stages to: 7/8 of its records), of seqs
        // after the one it waits for
        const store = sim.group.remote.store!
        expect(store.liveVersions() * 8).toBeGreaterThanOrEqual(store.capacityRecords() * 7)
        const staged = store.pinnedSeqs()
        const result = sim.finish()
        expect(result.violations).toEqual([])
        expect(result.caughtUp).toBe(true)
        expect(result.consistent).toBe(true)
        expect(result.appliedSeq).toBeGreaterThan(staged[staged.length - 1])
        expect(sim.group.remote.board!.discardsForRoom).toBeGreaterThan(0)
    })
})
