import { describe, expect, it } from "vitest"
import { linkEfficiencyTable, LinkEfficiencyRow, measureLinkEfficiency } from "../../host-sim/bench/linkEfficiency"

function measure(...args: Parameters<typeof measureLinkEfficiency>): LinkEfficiencyRow {
    const r = measureLinkEfficiency(...args)
    expect(r.completed).toBe(true)
    expect(r.errors).toEqual([])
    return r
}

describe("link channel efficiency", () => {
    it("reaches >= 0.95 on a clean line and >= 0.85 with 1% frame loss at 115200 and 921600 baud", () => {
        const rows: LinkEfficiencyRow[] = []
        for (const baud of [115200, 921600]) {
            const clean = measure(baud, 0)
            const lossy = measure(baud, 0.01)
            rows.push(clean, lossy)
            expect(clean.efficiency).toBeGreaterThanOrEqual(0.95)
            expect(clean.retransmissions).toBe(0)
            expect(lossy.efficiency).toBeGreaterThanOrEqual(0.85)
            expect(lossy.frameLoss).toBeGreaterThan(0.005)
            expect(lossy.frameLoss).toBeLessThan(0.02)
            // the window keeps the line busy
            expect(clean.utilization).toBeGreaterThan(0.99)
        }
        // how the frame size trades memory for efficiency (921600 baud, 1% frame loss)
        rows.push(measure(921600, 0.01, 16, { maxPayload: 548, txWindow: 16 }))
        rows.push(measure(921600, 0.01, 16, { maxPayload: 2192, txWindow: 4 }))
        // the replication pipeline's actual portion header (9 bytes)
        rows.push(measure(921600, 0.01, 9))
        console.log("\n" + linkEfficiencyTable(rows) + "\n")
    })
})
