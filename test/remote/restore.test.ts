import { describe, expect, it } from "vitest"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"
import { Prng } from "../../host-sim/prng"
import { Resync } from "../../firmware/pipeline/primary"

// A board lost with its flash, and a new board with a blank flash in its place: it takes its
// image back from the remote (firmware/boot/restore.ts, firmware/remote/remoteRestore.ts), then
// replicates again, and the group goes on consistent. The simulator's checker compares the
// restored image with the remote's, and excuses only the writes the remote never had.

function runTo(sim: Simulation, t: number): void {
    sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
}

/** Runs until member m's restore has begun writing blocks (or `until`). */
function untilRestoring(sim: Simulation, m: number, until: number): boolean {
    const p = sim.group.primaries[m]
    for (let t = sim.kernel.millis(); t < until; t += 5) {
        runTo(sim, t)
        const r = p.fw ? p.fw.restoring : null
        if (r && r.blocks > 3) return true
    }
    return false
}

describe("a primary restored from the remote", () => {
    it("a blank board in a group of four takes its image back, replicates again, and the group stays consistent", () => {
        const sim = new Simulation({ ...defaultSimOptions(), boards: 4, seed: 21, durationMs: 40000 })
        sim.start()
        runTo(sim, 15000)
        const p = sim.group.primaries[2]
        expect(sim.replacePrimary(2, new Prng(5), 800)).toBe(true)
        // the new board comes up restoring: its app is not served until the image is back
        runTo(sim, 16000)
        expect(p.restoring).toBe(true)
        expect(p.board).toBeNull()
        runTo(sim, 40000)
        expect(p.restoring).toBe(false)
        expect(sim.restoresDone).toBe(1)
        // it replicates again
        expect(p.board).not.toBeNull()
        const acked = p.board!.writesAcked
        expect(acked).toBeGreaterThan(100)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        expect(r.restores).toBe(1)
        // the remote held its image for the restore and took the group through a full resync
        expect(sim.group.remote.board!.restoresStarted).toBeGreaterThanOrEqual(1)
        expect(r.resyncs).toBeGreaterThanOrEqual(1)
    })

    it("power cuts of the restoring board start the restore again, and nothing is lost", () => {
        const sim = new Simulation({ ...defaultSimOptions(), boards: 2, seed: 8, durationMs: 40000 })
        sim.start()
        runTo(sim, 12000)
        expect(sim.replacePrimary(0, new Prng(9), 500)).toBe(true)
        const p = sim.group.primaries[0]
        let cuts = 0
        for (let i = 0; i < 3; i++) {
            if (!untilRestoring(sim, 0, sim.kernel.millis() + 10000)) break
            sim.group.powerCycle(p, new Prng(30 + i), 200)
            cuts++
        }
        expect(cuts).toBe(3)
        runTo(sim, 40000)
        expect(sim.restoresDone).toBe(1)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    })

    it("the remote's restart during the restore: the board asks again, and gets the image it holds then", () => {
        const sim = new Simulation({ ...defaultSimOptions(), boards: 3, seed: 5, durationMs: 40000 })
        sim.start()
        runTo(sim, 12000)
        expect(sim.replacePrimary(1, new Prng(3), 500)).toBe(true)
        expect(untilRestoring(sim, 1, 30000)).toBe(true)
        sim.group.powerCycleRemote(new Prng(4), 300)
        runTo(sim, 40000)
        expect(sim.restoresDone).toBe(1)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    })

    it("once it has its image, an idle group stays still: no seq closed for nothing, no record written", () => {
        // the restored board's copy extended by one seq each time the remote applied one (it
        // takes a manifest the remote has applied for lost), and the group, its apps idle,
        // closed a seq every lap for it: a commit record on the remote and a confirm record on
        // every board, about nine a second, for good
        const sim = new Simulation({ ...defaultSimOptions(), boards: 4, seed: 1, durationMs: 30000 })
        sim.start()
        sim.kernel.run(30000, Number.MAX_SAFE_INTEGER)
        for (const a of sim.apps) a.stop()
        sim.kernel.run(50000, Number.MAX_SAFE_INTEGER)
        expect(sim.replacePrimary(0, new Prng(1), 100)).toBe(true)
        const k = sim.kernel
        while (k.millis() < 120000 && sim.restoresDone === 0) k.run(k.millis() + 10, Number.MAX_SAFE_INTEGER)
        expect(sim.restoresDone).toBe(1)
        k.run(k.millis() + 5000, Number.MAX_SAFE_INTEGER)
        const applied = sim.group.appliedSeq()
        const capture = sim.group.primaries.map((p) => p.board!.captureSeq())
        const programs = sim.group.remote.chip.programs
        k.run(k.millis() + 20000, Number.MAX_SAFE_INTEGER)
        expect(sim.group.appliedSeq()).toBe(applied)
        expect(sim.group.primaries.map((p) => p.board!.captureSeq())).toEqual(capture)
        expect(sim.group.remote.chip.programs).toBe(programs)
        expect(sim.group.primaries[0].board!.resync).toBe(Resync.Off)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    })

    it("a group of one: its board restores and replicates again", () => {
        const sim = new Simulation({ ...defaultSimOptions(), boards: 1, seed: 2, durationMs: 30000 })
        sim.start()
        runTo(sim, 10000)
        const before = sim.group.appliedSeq()
        expect(sim.replacePrimary(0, new Prng(1), 500)).toBe(true)
        runTo(sim, 30000)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        expect(r.restores).toBe(1)
        expect(r.appliedSeq).toBeGreaterThan(before + 20)
    })

    it("the checker catches a restore that leaves a block out", () => {
        const sim = new Simulation({ ...defaultSimOptions(), boards: 2, seed: 3, durationMs: 30000 })
        sim.start()
        runTo(sim, 10000)
        // the remote's store answers one of member 1's blocks as absent during the restore
        const st = sim.group.remote.store!
        const read = st.read.bind(st)
        let hidden = -1
        st.read = (m, lba, done) =>
            read(m, lba, (err, data) => {
                if (m === 1 && data && hidden < 0 && sim.group.primaries[1].restoring) {
                    hidden = lba
                    return done(err, null)
                }
                done(err, data)
            })
        expect(sim.replacePrimary(1, new Prng(2), 500)).toBe(true)
        runTo(sim, 20000)
        expect(hidden).toBeGreaterThanOrEqual(0)
        expect(sim.violations.some((v) => v.startsWith("primary 1 restored") && v.includes("lba " + hidden + " "))).toBe(true)
    })
})
