import { describe, expect, it } from "vitest"
import { defaultSimOptions, runSim } from "../../host-sim/sim"

// 60 writes/s of 256-byte blocks offer 15 KB/s to a 115200-baud link that carries 11.5 KB/s
function run(rpoTargetMs: number) {
    const o = defaultSimOptions()
    o.seed = 3
    o.durationMs = 40000
    o.rate = 60
    o.rpoTargetMs = rpoTargetMs
    return runSim(o)
}

describe("bounded-RPO pacing", () => {
    it("holds acknowledgements so that the lag of acknowledged writes stays near the target, losing nothing", () => {
        const free = run(0)
        const paced = run(1000)
        expect(free.consistent).toBe(true)
        expect(paced.consistent).toBe(true)
        // without pacing the backlog grows far past the target
        expect(free.rpoLagMs.max).toBeGreaterThan(3000)
        // with it, the oldest acknowledged write the remote lacks is never much older than 1 s
        expect(paced.rpoLagMs.max).toBeLessThan(1200)
        // the cost is paid in acknowledgement latency and throughput, not in replication
        expect(paced.ackLatencyMs.p99).toBeGreaterThan(free.ackLatencyMs.p99)
        expect(paced.writesAcked).toBeLessThan(free.writesAcked)
        expect(paced.writesAcked).toBeGreaterThan(free.writesAcked * 0.5)
    })

    it("is off by default: the same run without a target is not paced", () => {
        const a = run(0)
        const o = defaultSimOptions()
        expect(o.rpoTargetMs).toBe(0)
        expect(a.replay).not.toContain("--rpo-target")
        expect(run(1000).replay).toContain("--rpo-target 1000ms")
    })
})
