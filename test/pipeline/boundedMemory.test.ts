import { describe, expect, it } from "vitest"
import { REMOTE_SEQS, STAGING_PER_MEMBER } from "../../firmware/remote/remoteBoard"
import { GroupPrimaryBoard } from "../../firmware/pipeline/groupPrimary"
import { historySlack } from "../../firmware/pipeline/primary"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"
import { nextTurn } from "../turn"

// Memory in the firmware is fixed by its configuration: a long outage and more writes than the
// group can take never make a structure grow past its bound, on the primaries or the remote
// (docs/DESIGN.md, "Fixed memory"). The bounds are made small here so that they are reached.
//
// The history is small: 16 seqs, where the group's ordinary lag is a few. After the outage the
// remote resyncs, and no member copies its image in more seqs than its bound: the remote
// confirms nothing until the resync's commit, so a member at its bound keeps its capture seq
// open, and the shuttle keeps the group there (docs/FORMAT.md, "Full resync").
const HISTORY = 16
const WAITING = 12

interface Peaks {
    seqs: number
    manifestsKept: number
    manifests: number
    writesWaiting: number
    pendingCtrl: number
    stagingQueue: number
    arrivals: number
    remoteManifests: number
}

async function drive(
    linkDown: { target: number | "remote"; atMs: number; forMs: number }[],
    boards: number,
    seed: number
): Promise<{ peaks: Peaks; busy: number; sim: Simulation }> {
    // links in the clear: the run this test has always made (the memory bounds are the same sealed)
    const o = { ...defaultSimOptions(), boards, seed, durationMs: 240000, rate: 150, faults: ["power", "link", "reboot"], linkDown, keys: "none" as const }
    const sim = new Simulation(o, { maxHistorySeqs: HISTORY, maxWritesWaiting: WAITING, suspendAfterMs: 0 }, { queueDepth: 40 })
    sim.start()
    const peaks: Peaks = { seqs: 0, manifestsKept: 0, manifests: 0, writesWaiting: 0, pendingCtrl: 0, stagingQueue: 0, arrivals: 0, remoteManifests: 0 }
    let busy = 0
    const seen = new Set<GroupPrimaryBoard>()
    for (let t = 100; t <= o.durationMs; t += 100) {
        sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
        for (const p of sim.group.primaries) {
            const b = p.board
            if (!b) continue
            if (!seen.has(b as GroupPrimaryBoard)) seen.add(b as GroupPrimaryBoard)
            peaks.seqs = Math.max(peaks.seqs, b.seqs)
            peaks.manifestsKept = Math.max(peaks.manifestsKept, b.manifestsKept.length)
            peaks.manifests = Math.max(peaks.manifests, b.manifests.length)
            peaks.writesWaiting = Math.max(peaks.writesWaiting, b.unstamped.length + b.unacked.length + b.paced.length)
            peaks.pendingCtrl = Math.max(peaks.pendingCtrl, b.pendingCtrl.length)
        }
        const rb = sim.group.remote.board
        if (rb) {
            const h = rb.held()
            peaks.stagingQueue = Math.max(peaks.stagingQueue, h.stagingQueue)
            peaks.arrivals = Math.max(peaks.arrivals, h.arrivals)
            peaks.remoteManifests = Math.max(peaks.remoteManifests, h.manifests)
        }
        // a turn of the worker's event loop every 10 s of the run (test/turn.ts)
        if (t % 10000 === 0) await nextTurn()
    }
    for (const b of seen) busy += b.writesBusy
    return { peaks, busy, sim }
}

function withinBounds(peaks: Peaks, boards: number, maxSeqs: number): void {
    // the history's slack past its bound at most (acknowledgements hold, then the board
    // suspends), and the seq an adopt adds before it does
    const hold = HISTORY + historySlack(HISTORY, boards) + 1
    expect(peaks.seqs).toBeLessThanOrEqual(hold)
    expect(peaks.manifestsKept).toBeLessThanOrEqual(hold)
    expect(peaks.manifests).toBeLessThanOrEqual(HISTORY)
    // the app's writes, and one copy of a resync
    expect(peaks.writesWaiting).toBeLessThanOrEqual(WAITING + 1)
    // one RESYNC, and one membership message per member
    expect(peaks.pendingCtrl).toBeLessThanOrEqual(boards + 1)
    expect(peaks.stagingQueue).toBeLessThanOrEqual(boards * STAGING_PER_MEMBER)
    expect(peaks.arrivals).toBeLessThanOrEqual(maxSeqs)
    expect(peaks.remoteManifests).toBeLessThanOrEqual(maxSeqs)
}

describe("memory under a long outage and overload", () => {
    it("a member's link down for two minutes, apps writing more than the group takes: every structure stays within its bound", async () => {
        const { peaks, busy, sim } = await drive([{ target: 1, atMs: 20000, forMs: 120000 }], 4, 11)
        const maxSeqs = REMOTE_SEQS
        withinBounds(peaks, 4, maxSeqs)
        // the bounds were reached: the history filled, the apps were told to wait
        expect(peaks.seqs).toBeGreaterThanOrEqual(HISTORY)
        expect(peaks.writesWaiting).toBeGreaterThanOrEqual(WAITING)
        expect(busy).toBeGreaterThan(0)
        const result = sim.finish()
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
    })

    it("the remote off for two minutes: the same", async () => {
        const { peaks, sim } = await drive([{ target: "remote", atMs: 20000, forMs: 120000 }], 3, 12)
        withinBounds(peaks, 3, REMOTE_SEQS)
        expect(peaks.seqs).toBeGreaterThanOrEqual(HISTORY)
        const result = sim.finish()
        expect(result.violations).toEqual([])
        expect(result.consistent).toBe(true)
    })
})
