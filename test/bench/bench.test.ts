import { beforeAll, describe, expect, it } from "vitest"
import { Ran, runCommand } from "../turn"
import type { BenchReport } from "../../host-sim/bench/bench"

function cli(args: string[]): Promise<Ran> {
    return runCommand("npx", ["tsx", "host-sim/cli.ts", ...args])
}

// The full bench (about a minute) stays out of the test suite; its quick mode runs every
// measurement on short runs, so the figures are not the published ones, but their relations hold.
describe("seqmirror bench --quick --json", () => {
    let run: Ran
    beforeAll(async () => {
        run = await cli(["bench", "--quick", "--json"])
    })

    it("prints one JSON object with every section", () => {
        expect(run.stderr).toBe("")
        expect(run.status).toBe(0)
        const b = JSON.parse(run.stdout) as BenchReport
        for (const k of [
            "linkEfficiency",
            "ackLatency",
            "shuttleLap",
            "busShare",
            "rpoLag",
            "writeFolding",
            "resync",
            "restore",
            "simSpeed",
            "vm",
            "image",
            "store",
            "goals",
        ])
            expect(b).toHaveProperty(k)
        expect(b.quick).toBe(true)
    })

    it("holds figures that relate as the hardware says they must", () => {
        const b = JSON.parse(run.stdout) as BenchReport

        // link: both rates, clean and lossy, in the clear and sealed; a lossy line never beats a
        // clean one, nor a sealed frame a plain one
        expect(b.linkEfficiency.map((l) => [l.sealed, l.baud, l.targetFrameLoss])).toEqual([
            [false, 115200, 0],
            [false, 115200, 0.01],
            [false, 921600, 0],
            [false, 921600, 0.01],
            [true, 115200, 0],
            [true, 115200, 0.01],
            [true, 921600, 0],
            [true, 921600, 0.01],
        ])
        for (const l of b.linkEfficiency) {
            expect(l.efficiency).toBeGreaterThan(0.5)
            expect(l.efficiency).toBeLessThanOrEqual(1)
            expect(l.dataEfficiency).toBeLessThan(l.efficiency)
        }
        for (const i of [0, 2, 4, 6]) expect(b.linkEfficiency[i + 1].efficiency).toBeLessThanOrEqual(b.linkEfficiency[i].efficiency + 1e-9)
        for (const i of [0, 2]) expect(b.linkEfficiency[i + 4].efficiency).toBeLessThan(b.linkEfficiency[i].efficiency)
        expect(b.linkEfficiency[4].efficiency).toBeGreaterThanOrEqual(0.95)

        // a write is not acknowledged before the flash has programmed it
        const page = b.ackLatency.pageProgramMs
        expect(page).toBeGreaterThan(0)
        expect(new Set(b.ackLatency.rows.map((a) => a.mode))).toEqual(new Set(["consistent", "none"]))
        for (const a of b.ackLatency.rows) {
            expect(a.writes).toBeGreaterThan(50)
            expect(a.latencyMs.p50).toBeGreaterThanOrEqual(page)
            expect(a.latencyMs.p99).toBeGreaterThanOrEqual(a.latencyMs.p50)
            expect(a.p99Ratio).toBeCloseTo(a.latencyMs.p99 / page, 2)
            expect(a.goalMs).toBeCloseTo(page + 1.5 * a.lapMs, 2)
            // the wait for the release comes after the write is durable, so it is below the whole
            expect(a.releaseWaitMs.p99).toBeLessThanOrEqual(a.latencyMs.p99)
            expect(a.storeWriteMs.p50).toBeGreaterThanOrEqual(page)
            expect(a.storeWriteMs.p99).toBeLessThanOrEqual(a.latencyMs.p99)
            if (a.mode === "none") expect(a.releaseWaitMs.max).toBe(0)
        }
        // mode none never waits for the release
        for (const n of b.ackLatency.rows.filter((a) => a.mode === "none")) {
            const c = b.ackLatency.rows.find((a) => a.mode === "consistent" && a.boards === n.boards && a.busBitRate === n.busBitRate)!
            expect(n.latencyMs.p99).toBeLessThanOrEqual(c.latencyMs.p99 + 1e-9)
        }

        // a lap cannot be shorter than the bus time of its frames
        expect(b.shuttleLap).toHaveLength(12)
        for (const l of b.shuttleLap) {
            expect(l.laps).toBeGreaterThan(3)
            expect(l.ratio).toBeGreaterThanOrEqual(0.999)
            if (l.boardLatencyMs > 0) expect(l.lapMs).toBeGreaterThan(l.physicalMs)
        }

        // the bus idle and loaded, at both rates and every size: an idle group leaves the bus
        // mostly free (its shuttle slows down) and moves no seq; a loaded one moves seqs and
        // keeps the bus busier
        expect(b.busShare).toHaveLength(12)
        for (const x of b.busShare) {
            expect(x.busBusy).toBeGreaterThan(0)
            expect(x.busBusy).toBeLessThan(1)
            if (x.workload === "idle") {
                expect(x.seqsPerSec).toBe(0)
                const loaded = b.busShare.find((y) => y.workload === "default" && y.boards === x.boards && y.bitRate === x.bitRate)!
                expect(loaded.seqsPerSec).toBeGreaterThan(0)
                expect(loaded.busBusy).toBeGreaterThan(x.busBusy)
                if (x.bitRate === 400000) expect(x.busBusy).toBeLessThan(0.05)
            }
        }

        // RPO rows at every offered load, paced and not; the overload under both congestion
        // policies, where no write may fail
        expect(b.rpoLag.rpoTargetMs).toBeGreaterThan(0)
        expect(b.rpoLag.rows).toHaveLength(10)
        expect(b.rpoLag.rows.filter((x) => x.congestion === "block").map((x) => x.offeredLoad)).toEqual([1.5, 1.5])
        for (const x of b.rpoLag.rows) if (x.offeredLoad > 1) expect(x.failedShare, x.congestion).toBe(0)
        expect(new Set(b.rpoLag.rows.map((x) => x.offeredLoad))).toEqual(new Set([0.5, 0.8, 1, 1.5]))
        for (const x of b.rpoLag.rows) {
            expect(x.writesPerSecPerBoard).toBeCloseTo((x.offeredLoad * b.rpoLag.linkCapacityBytesPerSec) / b.rpoLag.blockSize, 2)
            expect(x.rpoLagMs.p99).toBeGreaterThanOrEqual(x.rpoLagMs.p50)
            expect(x.rpoLagSeqs.p99).toBeGreaterThanOrEqual(x.rpoLagSeqs.p50)
            expect(x.writesAcked).toBeGreaterThan(0)
        }

        // folding sends at most what was written, and saves more on a hotter spot
        const [def, hot, uniform] = b.writeFolding
        for (const f of b.writeFolding) {
            expect(f.portionBytesSent).toBeLessThanOrEqual(f.bytesWritten)
            expect(f.bytesWritten).toBe(f.writesAcked * 256)
        }
        expect(hot.savedShare).toBeGreaterThan(def.savedShare)
        expect(def.savedShare).toBeGreaterThan(uniform.savedShare)

        // a resync carries every block copied, never faster than the links allow, and ends
        // with the new remote consistent
        expect(b.resync.map((x) => [x.boards, x.baud])).toEqual([
            [1, 115200],
            [4, 115200],
            [1, 921600],
            [4, 921600],
        ])
        for (const x of b.resync) {
            expect(x.consistent).toBe(true)
            expect(x.blocks).toBeGreaterThan(0)
            expect(x.imageBytes).toBe(x.blocks * 256)
            expect(x.efficiency).toBeGreaterThan(0)
            expect(x.efficiency).toBeLessThanOrEqual(1)
            expect(x.resyncMs).toBeGreaterThanOrEqual(x.linkMs)
            expect(x.overLimit).toBeGreaterThanOrEqual(1)
        }

        // a restore takes every block the remote holds of the member back, never faster than
        // the link allows, and the group ends consistent (the restored image is the remote's)
        expect(b.restore.map((x) => [x.boards, x.baud])).toEqual([
            [1, 115200],
            [4, 115200],
            [1, 921600],
            [4, 921600],
        ])
        for (const x of b.restore) {
            expect(x.consistent).toBe(true)
            expect(x.blocks).toBeGreaterThan(0)
            expect(x.imageBytes).toBe(x.blocks * 256)
            expect(x.efficiency).toBeGreaterThan(0)
            expect(x.efficiency).toBeLessThanOrEqual(1)
            expect(x.restoreMs).toBeGreaterThanOrEqual(x.linkMs)
        }

        // the simulator runs faster than real time
        for (const s of b.simSpeed) expect(s.speed).toBeGreaterThan(1)

        // the VM computes the same frames as Node, more slowly
        expect(b.vm.sameResult).toBe(true)
        expect(b.vm.vmSlowdown.encode).toBeGreaterThan(1)
        expect(b.vm.vmSlowdown.decode).toBeGreaterThan(1)
        expect(b.vm.links.map((l) => l.baud)).toEqual([115200, 921600])
        for (const l of b.vm.links) expect(typeof l.keepsUp).toBe("boolean")
        // sealing: the same frames in the VM and on Node, 13 bytes more on the wire
        expect(b.vm.sealed.sameResult).toBe(true)
        expect(b.vm.sealed.frame.wireBytes).toBeGreaterThan(b.vm.frame.wireBytes + 12)
        expect(b.vm.sealed.links.map((l) => l.baud)).toEqual([115200, 921600])

        // the image and the RAM
        const img = b.image.board
        expect(img.functionBytes).toBeGreaterThan(1000)
        expect(img.totalBytes).toBeGreaterThan(img.functionBytes)
        expect(img.limitBytes).toBe(65536)
        expect(b.image.fixedRam.totalBytes).toBeGreaterThan(b.image.fixedRam.auxRingBytes)

        expect(b.goals.length).toBeGreaterThan(5)
        for (const g of b.goals) expect([true, false, null]).toContain(g.met)
    })

    it("rejects unknown options with exit code 2", async () => {
        const r = await cli(["bench", "--bogus"])
        expect(r.status).toBe(2)
        expect(r.stderr).toMatch(/^seqmirror: /)
    })
})
