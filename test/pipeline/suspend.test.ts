import { describe, expect, it } from "vitest"
import { GroupPrimaryBoard } from "../../firmware/pipeline/groupPrimary"
import { Manifest, ManifestEntry, TRACKED } from "../../firmware/protocol/messages"
import { SuspendReason } from "../../firmware/pipeline/primary"
import { defaultSimOptions, SimOptions, SimResult, Simulation } from "../../host-sim/sim"
import { Prng } from "../../host-sim/prng"
import { nextTurn } from "../turn"

// Suspend, track and resync, end to end on the simulated group: the same firmware as the
// boards, virtual time, every acknowledgement and apply judged by the checker.

function options(o: Partial<SimOptions>): SimOptions {
    return { ...defaultSimOptions(), ...o }
}

/** Runs a simulation, sampling it every `every` ms (and giving the worker's event loop a turn:
 * test/turn.ts). */
async function run(o: SimOptions, every: number, sample: (sim: Simulation, t: number) => void): Promise<{ sim: Simulation; result: SimResult }> {
    const sim = new Simulation(o)
    sim.start()
    for (let t = every; t <= o.durationMs; t += every) {
        sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
        sample(sim, t)
        await nextTurn()
    }
    return { sim, result: sim.finish() }
}

describe("a member powered off for a minute", () => {
    it("the others acknowledge at local speed while it is off, the remote holds its last consistent image, and a delta resync brings the group back", async () => {
        const applied: number[] = []
        const acked: number[] = []
        const { result } = await run(
            options({ boards: 4, seed: 11, durationMs: 120000, powerOff: [{ target: 2, atMs: 10000, forMs: 60000 }] }),
            5000,
            (sim, t) => {
                applied.push(sim.group.appliedSeq())
                acked.push(sim.history.ackedHigh[0])
                if (t === 40000) {
                    // while member 2 is off: the others have suspended, for the write that waited
                    for (const b of [0, 1, 3]) {
                        const board = sim.group.primaries[b].board!
                        expect(board.suspended).toBe(true)
                        expect(board.suspendReason).toBe(SuspendReason.Stalled)
                    }
                    // the remote holds its image and knows why
                    const remote = sim.group.remote.board!
                    expect(remote.isResyncing()).toBe(true)
                    expect(remote.suspendedMember).toBeGreaterThanOrEqual(0)
                }
            }
        )
        // from 20 s to 70 s (member 2 off): the remote's image does not move, member 0 goes on
        expect(applied[3]).toBe(applied[12])
        expect(acked[12] - acked[3]).toBeGreaterThan(500)
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
        expect(result.writesFailed).toBe(0)
        expect(result.ackedDuringSuspension).toBeGreaterThan(0)
        expect(result.resyncs).toBeGreaterThanOrEqual(1)
        // back to normal after the resync: the remote applied far past its held image
        expect(result.appliedSeq).toBeGreaterThan(applied[12] + 50)
    })
})

describe("a member's link down for two minutes", () => {
    it("no write fails or waits long, the group resyncs when the link is back, and the remote ends consistent", async () => {
        const o = options({ boards: 4, seed: 12, durationMs: 300000, linkDown: [{ target: 0, atMs: 10000, forMs: 120000 }] })
        const { result } = await run(o, 30000, (sim, t) => {
            if (t === 60000) expect(sim.group.primaries[0].board!.suspendReason).toBe(SuspendReason.Link)
        })
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
        expect(result.writesFailed).toBe(0)
        expect(result.suspensions).toBeGreaterThanOrEqual(1)
        expect(result.resyncs).toBeGreaterThanOrEqual(1)
        // no application waits on replication for anything like the outage
        expect(result.ackLatencyMs.max).toBeLessThan(5000)
    })
})

describe("more load than the remote can take", () => {
    // (with the remote's flow control, 30 writes/s on each of eight boards is a load the remote
    // keeps up with, its lag steady at about 15 s: 60 is more than it can take)
    it("eight boards at 60 writes/s for 5 minutes: no write fails, histories stay bounded, the remote ends consistent", async () => {
        let maxLive = 0
        const { sim, result } = await run(options({ boards: 8, rate: 60, durationMs: 300000 }), 10000, (s) => {
            for (const p of s.group.primaries) if (p.store) maxLive = Math.max(maxLive, p.store.liveVersions())
        })
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
        expect(result.writesFailed).toBe(0)
        expect(result.suspensions).toBeGreaterThan(0)
        // the history bound (group.historyShare) holds: live versions never pass it by more
        // than the writes in flight when it is reached
        const p = sim.group.primaries[0]
        const cap = p.store!.capacityRecords()
        expect(maxLive).toBeLessThan(cap * 0.8)
    }, 120000)
})

describe("a member that tracks a seq marks it TRACKED in the shuttle", () => {
    it("the remote never applies a seq whose manifest carries TRACKED outside a resync", () => {
        const o = options({ boards: 2, seed: 5, durationMs: 8000 })
        const sim = new Simulation(o)
        sim.start()
        sim.kernel.run(3000, Number.MAX_SAFE_INTEGER)
        const remote = sim.group.remote.board!
        const before = remote.appliedSeq()
        // a final manifest of a seq the group has not reached yet, where member 1 says it
        // tracks it: the remote enters a resync, and nothing more applies until its commit
        const later = (before + 1000) >>> 0
        const m = new Manifest(later, (later - 1) >>> 0, [new ManifestEntry(0, 0, 0), new ManifestEntry(1, TRACKED, 0)])
        ;(remote as any).onManifest((remote as any).members[0], m)
        expect(remote.isResyncing()).toBe(true)
        expect(remote.appliedSeq()).toBe(before)
        expect((remote as any).complete(m)).toBe(false)
        const result = sim.finish()
        expect(result.violations).toEqual([])
    })

    it("a group member's tracked seqs report TRACKED totals, and it acknowledges early only after a visit took them", async () => {
        const o = options({ boards: 3, seed: 7, durationMs: 20000, powerOff: [{ target: 1, atMs: 3000, forMs: 12000 }] })
        let early = 0
        const { result } = await run(o, 1000, (sim, t) => {
            const b = sim.group.primaries[0].board as GroupPrimaryBoard
            if (t === 12000) {
                expect(b.suspended).toBe(true)
                expect(b.isTracked(b.captureSeq())).toBe(true)
                early = b.ackedDuringSuspension
            }
        })
        expect(early).toBeGreaterThan(0)
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
    })
})

describe("a resync that waits for a member whose link is down", () => {
    it("the others do not hold their applications for it: told RESYNC_WAIT, they suspend once a write waited the suspend time", () => {
        const o = options({ boards: 3, seed: 9, durationMs: 90000, linkDown: [{ target: 1, atMs: 6000, forMs: 60000 }] })
        const sim = new Simulation(o)
        sim.start()
        // a new remote with a blank flash: a full resync, which member 1 (link down) holds up
        sim.kernel.setTimer(5000, () => sim.replaceRemote(new Prng(3), 100, null))
        sim.kernel.run(o.durationMs, Number.MAX_SAFE_INTEGER)
        const result = sim.finish()
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
        expect(result.writesFailed).toBe(0)
        expect(result.suspensions).toBeGreaterThan(0)
        // no write waited anything like the outage: at most the suspend time and a little
        expect(result.ackLatencyMs.max).toBeLessThan(12000)
    })
})
