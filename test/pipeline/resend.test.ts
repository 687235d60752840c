import { describe, expect, it } from "vitest"
import { Prng } from "../../host-sim/prng"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"

// A seq that waited on flash goes to the remote again from flash at every new session, counted
// from zero. A read of the old pass still under way when the new session starts must not count
// in the new pass, nor be sent in it: the remote would receive a portion the new pass does not
// account for (one more than the seq's final totals, and it waits for the seq for good; or one
// in place of another, and the seq is applied without a write).

describe("a new session while a spilled seq is being read from flash", () => {
    it("the read of the old pass is dropped: the seq's portions match its totals and the remote catches up", () => {
        // member 0's link is down from 8 s to 12 s, so its seqs wait on flash
        const sim = new Simulation({ ...defaultSimOptions(), boards: 2, seed: 3, durationMs: 30000, linkDown: [{ target: 0, atMs: 8000, forMs: 4000 }] })
        sim.start()
        sim.kernel.run(1000, Number.MAX_SAFE_INTEGER)
        const p = sim.group.primaries[0]
        const store = p.store!
        // the third read of a version after the link is back is held until a new session is up
        let reads = 0
        let hold = false
        const held: (() => void)[] = []
        const readPinned = store.readPinned.bind(store)
        store.readPinned = (v, done) => {
            const n = ++reads
            readPinned(v, (err, data) => {
                if (hold && n === 3) held.push(() => done(err, data))
                else done(err, data)
            })
        }
        sim.kernel.run(12000, Number.MAX_SAFE_INTEGER)
        reads = 0
        hold = true
        let t = 12000
        while (reads < 3 && t < 28000) sim.kernel.run((t += 1), Number.MAX_SAFE_INTEGER)
        expect(reads).toBe(3)
        // the remote goes off for a second: the session ends, and a new one starts
        sim.powerOffBoard("remote", 1000, new Prng(1), "remotePower")
        const sessionUp = () => p.channel!.isUp()
        while (sessionUp() && t < 28000) sim.kernel.run((t += 10), Number.MAX_SAFE_INTEGER)
        while (!sessionUp() && t < 28000) sim.kernel.run((t += 10), Number.MAX_SAFE_INTEGER)
        expect(sessionUp()).toBe(true)
        expect(held.length).toBe(1)
        hold = false
        held.shift()!()
        const result = sim.finish()
        expect(result.violations).toEqual([])
        expect(result.caughtUp).toBe(true)
        expect(result.consistent).toBe(true)
    })
})
