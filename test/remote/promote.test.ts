import { describe, expect, it } from "vitest"
import { defaultSimOptions, Simulation, SimOptions } from "../../host-sim/sim"
import { Prng } from "../../host-sim/prng"
import { META_PROMOTED, META_PROMOTED_SEQ } from "../../firmware/remote/remotePromote"

// The primary site lost (--disaster): the remote is promoted, the apps write to it, new boards
// restore from it and the role fails back (firmware/remote/remotePromote.ts,
// host-sim/disaster.ts). The checker: the promoted image is a consistent cut, nothing
// acknowledged before its seq is missing, and after the failback each board holds the
// promoted image and every write acknowledged on the remote.

function disaster(over: Partial<SimOptions>): SimOptions {
    return { ...defaultSimOptions(), boards: 4, seed: 21, durationMs: 120000, disasterMs: 60000, ...over }
}

describe("promote and fail back", () => {
    it("every fault class too: an app whose writes the promoted remote's full queue refuses tries again at most once a millisecond", () => {
        // each answer of one of its writes used to start another chain of tries, a millisecond
        // apart each: an app facing the full queue for a minute wrote hundreds of thousands of
        // times, and the run's history of writes took the simulator's whole heap
        const faults = ["power", "link", "bus", "reboot", "slow", "replace", "death", "rot", "remotefail", "ram", "attack", "replace-primary"]
        const o = disaster({ boards: 3, seed: 2, disasterMs: 40000, faults })
        const sim = new Simulation(o)
        const r = sim.run()
        expect(r.violations).toEqual([])
        expect(r.disaster!.promotedWrites).toBeGreaterThan(0)
        const tries = Math.max(...sim.history.writes.map((w) => w.length))
        // one try a millisecond while refused, and the app's own writes (20 a second)
        expect(tries).toBeLessThan(o.durationMs + (o.rate * o.durationMs) / 1000)
        expect(tries).toBeGreaterThan(1000)
    }, 60000)

    it("a group of four: the promotion, the failover's data loss, writes to the remote and a completed failback, consistent", () => {
        const sim = new Simulation(disaster({}))
        const r = sim.run()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        const d = r.disaster!
        expect(d.promotedAtMs).toBeGreaterThanOrEqual(d.atMs)
        expect(d.promotedSeq).toBeGreaterThan(0)
        // the checker counts what the primaries had acknowledged and the image lacks; the
        // remote counts what it heard of, never more
        expect(d.dataLoss.actual.writes).toBeGreaterThan(0)
        expect(d.dataLoss.remote.writes).toBeLessThanOrEqual(d.dataLoss.actual.writes)
        expect(d.dataLoss.remote.appliedAgeMs).toBeGreaterThanOrEqual(0)
        expect(d.promotedWrites).toBeGreaterThan(1000)
        expect(d.failedBack).toBe(true)
        expect(d.failedBackAtMs).toBeGreaterThan(d.failbackAtMs)
        // each new board restored the promoted image with the remote's writes, and replicates
        expect(r.restores).toBe(4)
        const rb = sim.group.remote.board!
        expect(rb.promoted).toBe(false)
        expect(rb.failbacks).toBe(1)
        expect(r.appliedSeq).toBeGreaterThan(d.promotedSeq)
        for (const p of sim.group.primaries) expect(p.board!.writesAcked).toBeGreaterThan(100)
    })

    it("reports what the remote heard of and could not apply: a member's link was down before the disaster", () => {
        const r = new Simulation(disaster({ linkDown: [{ target: 1, atMs: 55000, forMs: 10000 }] })).run()
        expect(r.violations).toEqual([])
        const loss = r.disaster!.dataLoss
        expect(loss.remote.seqs).toBeGreaterThan(10)
        expect(loss.remote.writes).toBeGreaterThan(100)
        expect(loss.remote.writes).toBeLessThanOrEqual(loss.actual.writes)
        // the remote's ages are at the promotion, the checker's at the disaster
        expect(loss.remote.oldestMs).toBeGreaterThan(loss.actual.oldestMs)
        expect(r.disaster!.failedBack).toBe(true)
    })

    it("the remote's power cut at each record of the promotion and the failback, and amid its writes: nothing lost, the failback completes", () => {
        // the remote's metadata records, counted from the disaster: the promoted seq, the
        // promotion, failing back, handed back
        for (const cutAt of [1, 2, 3, 4]) {
            const sim = new Simulation(disaster({ boards: 3, seed: 7, durationMs: 90000, disasterMs: 40000 }))
            sim.start()
            sim.kernel.run(40000, Number.MAX_SAFE_INTEGER)
            let records = 0
            let cut = false
            const watch = () => {
                const st = sim.group.remote.store!
                const setMeta = st.setMeta.bind(st)
                st.setMeta = (key, value, done) => {
                    if (key === META_PROMOTED || key === META_PROMOTED_SEQ)
                        if (++records === cutAt) {
                            cut = true
                            // the cut lands while the record is on its way to the flash
                            setMeta(key, value, done)
                            sim.kernel.setTimer(0.05, () => sim.group.powerCycleRemote(new Prng(cutAt), 200))
                            return
                        }
                    setMeta(key, value, done)
                }
            }
            watch()
            const onUp = sim.group.remote.onUp
            sim.group.remote.onUp = () => {
                if (onUp) onUp()
                watch()
            }
            // and once amid the promoted image's writes
            sim.kernel.setTimer(10000, () => sim.group.powerCycleRemote(new Prng(99), 150))
            sim.kernel.run(90000, Number.MAX_SAFE_INTEGER)
            const r = sim.finish()
            expect(cut, "cut at record " + cutAt).toBe(true)
            expect(r.violations, "cut at record " + cutAt).toEqual([])
            expect(r.disaster!.failedBack, "cut at record " + cutAt).toBe(true)
            expect(r.consistent).toBe(true)
        }
    })

    it("power cuts of the restoring boards while the remote is promoted restart their passes, and the failback completes", () => {
        const sim = new Simulation(disaster({ boards: 2, seed: 3, durationMs: 100000, disasterMs: 40000 }))
        sim.start()
        // the new boards come at 64 s; cut one of them twice while it makes its passes
        for (const t of [66000, 70000]) sim.kernel.setTimer(t, () => sim.group.powerCycle(sim.group.primaries[1], new Prng(t), 300))
        sim.kernel.run(100000, Number.MAX_SAFE_INTEGER)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.disaster!.failedBack).toBe(true)
        expect(r.restores).toBe(2)
        expect(sim.group.primaries[1].powerCuts).toBe(3)
    })

    it("the checker catches a failback that leaves a changed block out", () => {
        const sim = new Simulation(disaster({ boards: 2, seed: 4, durationMs: 80000, disasterMs: 30000 }))
        const onUp = sim.group.remote.onUp
        sim.group.remote.onUp = () => {
            if (onUp) onUp()
            // the remote's passes skip one lba of member 0
            const st = sim.group.remote.store!
            const next = st.nextApplied.bind(st)
            st.nextApplied = (member, from, base, any) => {
                const lba = next(member, from, base, any)
                return member === 0 && lba === 3 ? next(member, 4, base, any) : lba
            }
        }
        const r = sim.run()
        expect(r.consistent).toBe(false)
        expect(r.violations.some((v) => /^primary 0 restored as of seq \d+: lba 3 shows write \d+, the remote \d+$/.test(v))).toBe(true)
    })
})
