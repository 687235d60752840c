import { describe, expect, it } from "vitest"
import { TestGroup } from "./harness"

// Virtual time only (the simulator's kernel).

/** A board that holds data at its capture seq boots with the seq after it (it never adopted
 * that one): the power cut, then the boot, as the simulated primaries do. */
function rebootAhead(g: TestGroup, i: number): void {
    g.hosts[i].write(1)
    g.powerOff(i)
    g.hosts[i].capture = (g.hosts[i].capture + 1) >>> 0
    g.powerOn(i)
}

describe("a full window", () => {
    it("does not lock the group out when two members are past S by different amounts", () => {
        // member 1 is away for good while the others reboot again and again: every boot raises
        // S by one and no seq can become final without member 1, until the window is full
        const g = new TestGroup({ size: 4, bitRate: 400000, check: false }).start()
        g.run(1000)
        g.powerOff(1)
        for (let k = 0; k < 24; k++) {
            rebootAhead(g, 2 + (k % 2))
            g.run(700)
        }
        expect(g.totalCounter("windowFull")).toBeGreaterThan(0)
        // now member 2 and member 3 are past S by different amounts
        rebootAhead(g, 3)
        g.run(700)
        g.powerOn(1)
        g.run(5000)
        // the group moves again: every member adopts one seq, and a new write is released
        const cs = g.captures()
        expect(new Set(cs).size).toBe(1)
        const i = 1
        let acked = -1
        g.hosts[i].write(1, 256, (s) => (acked = s))
        g.run(5000)
        expect(acked).toBeGreaterThan(0)
    })
})
