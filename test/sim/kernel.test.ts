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
