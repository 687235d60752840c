import { describe, expect, it } from "vitest"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"
import { decodeBlock } from "../../host-sim/workload"

/** A 2-board run whose apps stop at 3 s with member 1's link down; the link comes back at 6 s
 * and the remote applies what waited. Returns the run, stopped at 6 s. */
function held(): Simulation {
    const sim = new Simulation({ ...defaultSimOptions(), boards: 2, seed: 3, durationMs: 10000 })
    sim.start()
    sim.kernel.run(3000, Number.MAX_SAFE_INTEGER)
    for (const a of sim.apps) a.stop()
    sim.linkDownFor(1, 3000)
    sim.kernel.run(6000, Number.MAX_SAFE_INTEGER)
    return sim
}

describe("the end of a run", () => {
    it("reads the remote's image again when an apply falls in the reads (one image, not two mixed)", () => {
        // the reads go through the remote's store and take virtual time: an 8-board run's
        // resync committed in the catch-up while they were under way, and the checker compared
        // half the old image with half the new. One run finds when the remote's first apply
        // comes; the same run again (runs repeat exactly) begins its reads just before it.
        const first = held()
        const waited = first.group.appliedSeq()
        let at = -1
        const k = first.kernel
        while (at < 0 && k.millis() < 20000) {
            k.step(Number.MAX_SAFE_INTEGER)
            if (first.group.appliedSeq() !== waited) at = k.millis()
        }
        expect(at).toBeGreaterThan(6000)
        const sim = held()
        sim.kernel.run(at - 1, Number.MAX_SAFE_INTEGER)
        expect(sim.group.appliedSeq()).toBe(waited)
        const v: string[] = []
        const { image } = sim.readRemoteImage(v)
        expect(sim.group.appliedSeq()).toBeGreaterThan(waited)
        expect(sim.remoteRereads).toBeGreaterThan(0)
        expect(v).toEqual([])
        // the image returned is whole: the same blocks read once more with nothing applied in
        // between (every link down: nothing more arrives)
        sim.linkDownFor(0, 60000)
        sim.linkDownFor(1, 60000)
        const applied = sim.group.appliedSeq()
        const again = sim.readImage((b, lba, done) => sim.group.remote.store!.read(b, lba, (err, data) => done(err === 0 ? data : null)))
        expect(sim.group.appliedSeq()).toBe(applied)
        const ids = (img: (Buffer | null)[][]) => img.map((row) => row.map((d) => (d ? decodeBlock(d)!.counter : 0)))
        expect(ids(image)).toEqual(ids(again))
    }, 60_000)
})
