import { describe, expect, it } from "vitest"
import { SimKernel } from "../../host-sim/kernel"
import { Prng } from "../../host-sim/prng"

describe("simulation kernel", () => {
    it("runs events in time order, ties in scheduling order", () => {
        const k = new SimKernel()
        const seen: string[] = []
        k.setTimer(5, () => seen.push("b"))
        k.setTimer(1, () => seen.push("a"))
        k.setTimer(5, () => seen.push("c"))
        const t = k.setTimer(3, () => seen.push("cancelled"))
        k.clearTimer(t)
        k.run(10, 100)
        expect(seen).toEqual(["a", "b", "c"])
        expect(k.millis()).toBe(10)
    })
    it("stops at the time limit and resumes there", () => {
        const k = new SimKernel()
        const seen: number[] = []
        for (let i = 1; i <= 5; i++) k.setTimer(i * 10, () => seen.push(k.millis()))
        k.run(25, 100)
        expect(seen).toEqual([10, 20])
        k.run(100, 100)
        expect(seen).toEqual([10, 20, 30, 40, 50])
    })
    it("runs events set with no delay after those due now that were set before them", () => {
        const k = new SimKernel()
        const seen: string[] = []
        k.setTimer(5, () => {
            seen.push("a")
            k.setTimer(0, () => seen.push("d"))
        })
        k.setTimer(5, () => {
            seen.push("b")
            k.setTimer(0, () => {
                seen.push("e")
                k.setTimer(0, () => seen.push("g"))
            })
        })
        k.setTimer(5, () => seen.push("c"))
        k.setTimer(5, () => k.setTimer(0, () => seen.push("f")))
        k.run(5, 100)
        expect(seen).toEqual(["a", "b", "c", "d", "e", "f", "g"])
        expect(k.pending()).toBe(0)
    })
    it("gives the order of one queue sorted by (due time, order set) under random use", () => {
        // a reference: every live event in one list, the least (at, order) first
        for (let seed = 1; seed <= 300; seed++) {
            const runs: string[] = []
            for (const reference of [false, true]) {
                const k = new SimKernel()
                const list: Array<{ at: number; order: number; fire: () => void; cancelled: boolean }> = []
                let order = 0
                let now = 0
                const set = (d: number, fire: () => void) => {
                    if (!reference) return k.setTimer(d, fire)
                    const ev = { at: now + (d > 0 ? d : 0), order: order++, fire, cancelled: false }
                    list.push(ev)
                    return ev
                }
                const clear = (t: { cancelled: boolean }) => (reference ? (t.cancelled = true) : k.clearTimer(t))
                const millis = () => (reference ? now : k.millis())
                const runTo = (until: number, max: number) => {
                    if (!reference) return k.run(until, max)
                    let n = 0
                    while (n < max) {
                        let best = -1
                        for (let i = 0; i < list.length; i++) {
                            const e = list[i]
                            if (e.cancelled) continue
                            if (best < 0 || e.at < list[best].at || (e.at === list[best].at && e.order < list[best].order)) best = i
                        }
                        if (best < 0 || list[best].at > until) break
                        const e = list.splice(best, 1)[0]
                        now = e.at
                        n++
                        e.fire()
                    }
                    if (n < max && now < until) now = until
                    return n
                }
                const r = new Prng(seed)
                const log: string[] = []
                const timers: Array<{ cancelled: boolean }> = []
                let id = 0
                const make = (depth: number) => {
                    const my = id++
                    const d = r.chance(0.4) ? 0 : r.chance(0.3) ? r.int(3) : r.float() * 5
                    timers.push(
                        set(d, () => {
                            log.push(my + "@" + millis())
                            const n = r.int(3)
                            if (depth < 6) for (let i = 0; i < n; i++) make(depth + 1)
                            if (r.chance(0.2)) clear(timers[r.int(timers.length)])
                        })
                    )
                }
                for (let i = 0; i < 5; i++) make(0)
                for (let i = 0; i < 200; i++) {
                    runTo(millis() + r.float() * 3, 1 + r.int(4))
                    if (r.chance(0.3)) make(0)
                }
                runs.push(log.join(" "))
            }
            expect(runs[0].length).toBeGreaterThan(0)
            expect(runs[0]).toBe(runs[1])
        }
    })
    it("fires a gated timer only while its gate is alive", () => {
        const k = new SimKernel()
        const gate = { alive: true }
        const seen: string[] = []
        k.setGatedTimer(1, () => seen.push("a"), gate)
        k.setGatedTimer(2, () => seen.push("b"), gate)
        k.setTimer(2, () => seen.push("c"))
        k.run(1, 100)
        gate.alive = false
        k.run(5, 100)
        expect(seen).toEqual(["a", "c"])
    })
})

describe("seeded PRNG", () => {
    it("gives the same sequence for the same seed and different ones for different seeds", () => {
        const a = new Prng(42),
            b = new Prng(42),
            c = new Prng(43)
        const sa = Array.from({ length: 16 }, () => a.next())
        expect(Array.from({ length: 16 }, () => b.next())).toEqual(sa)
        expect(Array.from({ length: 16 }, () => c.next())).not.toEqual(sa)
    })
    it("is roughly uniform", () => {
        const p = new Prng(7)
        const bins = [0, 0, 0, 0]
        for (let i = 0; i < 40000; i++) bins[p.int(4)]++
        for (const n of bins) expect(Math.abs(n - 10000)).toBeLessThan(400)
    })
})
