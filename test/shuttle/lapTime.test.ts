import { describe, expect, it } from "vitest"
import { measureIdle, measureLap } from "../../host-sim/bench/lapTime"

// Figures: `npx tsx host-sim/bench/lapTime.ts` prints the whole table (virtual time, so they are
// exact and repeatable); here the goal is pinned.
describe("lap time under load against the bus's physical time", () => {
    for (const rate of [100000, 400000]) {
        for (const size of [2, 4, 8]) {
            it(size + " boards at " + rate / 1000 + " kHz: the lap is the bus time of its frames, and stays within 1.5x of it with 50 us board latency", () => {
                const ideal = measureLap(size, rate, 0, 1, 1500)
                expect(ideal.laps).toBeGreaterThan(20)
                // nothing but transfers: the protocol adds no idle bus time under load
                expect(ideal.ratio()).toBeLessThan(1.001)
                const real = measureLap(size, rate, 0.05, 1, 1500)
                expect(real.ratio()).toBeLessThanOrEqual(1.5)
                // one hop per member plus the release: the latency counts once per hop
                expect(real.lapMs).toBeCloseTo(real.physicalMs + size * 0.05, 1)
            })
        }
    }
})

describe("an idle group", () => {
    it("pauses between laps, so the bus is mostly free, and S does not move", () => {
        // the pause has grown to its bound (100 ms): a lap is that plus 8 hand-overs of 2.4 ms
        const f = measureIdle(8, 100000)
        expect(f.lapMs).toBeGreaterThan(100)
        expect(f.lapMs).toBeLessThan(125)
        expect(f.busyFraction).toBeLessThan(0.2)
        expect(f.seqMoves).toBe(0)
    })
})
