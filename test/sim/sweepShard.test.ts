import { describe, expect, it } from "vitest"
import { Ran, runCommand } from "../turn"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { combineSummaries, shardRange, SweepSummary } from "../../host-sim/sweep"

/** Runs seqmirror in a child process without blocking this one. */
function cli(args: string[]): Promise<Ran> {
    return runCommand("npx", ["tsx", "host-sim/cli.ts", ...args])
}

function summary(over: Partial<SweepSummary>): SweepSummary {
    return {
        options: "--boards 2 --duration 2000ms",
        seeds: [[1, 10]],
        shard: null,
        parts: 1,
        runs: 10,
        violations: 0,
        failedSeeds: [],
        unsafeRuns: 0,
        failures: [],
        faultsInjected: { power: 1 },
        framesRejected: { droppedAuth: 2 },
        virtualMs: 1000,
        writesFailed: 0,
        suspensions: 0,
        resyncs: 0,
        ackedDuringSuspension: 0,
        restores: 0,
        failbacks: 0,
        seqsApplied: [90, 110],
        runsPast2to31: 0,
        runsPastWrap: 0,
        workers: 2,
        wallMs: 500,
        ...over,
    }
}

describe("sweep --shard", () => {
    it("cuts a seed range into consecutive parts that together are the range, each seed once", () => {
        for (const [first, last] of [
            [1, 10000],
            [1, 7],
            [5, 5],
            [100, 163],
        ])
            for (let n = 1; n <= 9; n++) {
                if (last - first + 1 < n) {
                    expect(shardRange(first, last, 1, n)).toBeNull()
                    continue
                }
                let next = first
                const sizes: number[] = []
                for (let i = 1; i <= n; i++) {
                    const [a, b] = shardRange(first, last, i, n)!
                    expect(a).toBe(next)
                    expect(b).toBeGreaterThanOrEqual(a)
                    sizes.push(b - a + 1)
                    next = b + 1
                }
                expect(next).toBe(last + 1)
                expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
            }
        expect(shardRange(1, 10000, 2, 4)).toEqual([2501, 5000])
        expect(shardRange(1, 10, 0, 4)).toBeNull()
        expect(shardRange(1, 10, 5, 4)).toBeNull()
    })

    it("the shards of a sweep, combined, give the whole sweep's summary", async () => {
        const dir = mkdtempSync(join(tmpdir(), "seqmirror-shards-"))
        try {
            const args = ["sweep", "--seeds", "1..7", "--boards", "2", "--duration", "2s", "--faults", "power,link", "--json", "--workers", "1"]
            const whole = await cli(args)
            expect(whole.status).toBe(0)
            const files: string[] = []
            const seen: number[][] = []
            for (let i = 1; i <= 3; i++) {
                const r = await cli([...args, "--shard", `${i}/3`])
                expect(r.status).toBe(0)
                // no progress line when stderr is not a terminal
                expect(r.stderr).toBe("")
                const s = JSON.parse(r.stdout.trim().split("\n").pop()!) as SweepSummary
                expect(s.shard).toEqual({ index: i, count: 3, of: [1, 7] })
                seen.push(s.seeds[0])
                const f = join(dir, `shard${i}.json`)
                writeFileSync(f, r.stdout)
                files.push(f)
            }
            expect(seen).toEqual([
                [1, 3],
                [4, 5],
                [6, 7],
            ])
            const combined = await cli(["sweep", "--combine", ...files.reverse(), "--json"])
            expect(combined.status).toBe(0)
            const a = JSON.parse(whole.stdout.trim().split("\n").pop()!) as SweepSummary
            const b = JSON.parse(combined.stdout.trim().split("\n").pop()!) as SweepSummary
            expect(b.parts).toBe(3)
            expect(b.workers).toBe(3)
            // everything the runs decided is the same as one sweep's
            for (const k of [
                "options",
                "seeds",
                "shard",
                "runs",
                "violations",
                "failedSeeds",
                "unsafeRuns",
                "failures",
                "faultsInjected",
                "virtualMs",
                "writesFailed",
                "suspensions",
                "resyncs",
                "ackedDuringSuspension",
            ] as const)
                expect(b[k], k).toEqual(a[k])
            expect(a.runs).toBe(7)
            // a shard missing is an error that names it
            const missing = await cli(["sweep", "--combine", files[0], files[2]])
            expect(missing.status).toBe(2)
            expect(missing.stderr).toContain("shard 2/3 of seeds 1..7 missing")
        } finally {
            rmSync(dir, { recursive: true, force: true })
        }
    }, 120_000)

    it("refuses a bad --shard with one line and exit code 2", async () => {
        for (const [shard, msg] of [
            ["3", "--shard must look like I/N"],
            ["5/4", "I must be between 1 and N"],
            ["2/9", "cannot make 9 parts"],
        ]) {
            const r = await runCommand("npx", ["tsx", "host-sim/cli.ts", "sweep", "--seeds", "1..5", "--shard", shard])
            expect(r.status).toBe(2)
            expect(r.stderr).toContain(msg)
            expect(r.stderr.trim().split("\n")).toHaveLength(1)
        }
    })
})

describe("sweep --combine", () => {
    it("adds the parts up, lists the failures by seed and keeps the longest wall time", () => {
        const fail = (seed: number) => ({ seed, replay: `npx seqmirror sim --boards 2 --seed ${seed} --duration 2000ms`, unsafe: false, violations: ["x"] })
        const s = combineSummaries([
            summary({
                seeds: [[11, 20]],
                failedSeeds: [17],
                failures: [fail(17)],
                violations: 1,
                faultsInjected: { power: 2, bus: 1 },
                wallMs: 900,
                seqsApplied: [70, 140],
                runsPast2to31: 4,
            }),
            summary({ seeds: [[1, 10]], failedSeeds: [3], failures: [fail(3)], violations: 2, unsafeRuns: 1, runsPast2to31: 1, runsPastWrap: 2 }),
        ])
        expect(s.seeds).toEqual([[1, 20]])
        expect(s.runs).toBe(20)
        expect(s.failedSeeds).toEqual([3, 17])
        expect(s.failures.map((f) => f.seed)).toEqual([3, 17])
        expect(s.violations).toBe(3)
        expect(s.unsafeRuns).toBe(1)
        expect(s.faultsInjected).toEqual({ power: 3, bus: 1 })
        expect(s.virtualMs).toBe(2000)
        expect(s.wallMs).toBe(900)
        expect(s.parts).toBe(2)
        // the seqs applied per run: the fewest and the most of any part; the crossings add up
        expect(s.seqsApplied).toEqual([70, 140])
        expect(s.runsPast2to31).toBe(5)
        expect(s.runsPastWrap).toBe(2)
        // a summary written before those were kept combines as having none
        const old: Partial<SweepSummary> = { seeds: [[21, 30]], seqsApplied: undefined, runsPast2to31: undefined, runsPastWrap: undefined }
        const withOld = combineSummaries([summary({ seeds: [[1, 10]] }), summary(old)])
        expect(withOld.seqsApplied).toEqual([90, 110])
        expect(withOld.runsPast2to31).toBe(0)
        // ranges that leave a gap stay apart
        expect(combineSummaries([summary({ seeds: [[1, 10]] }), summary({ seeds: [[21, 30]] })]).seeds).toEqual([
            [1, 10],
            [21, 30],
        ])
    })

    it("refuses parts that do not belong together", () => {
        expect(() => combineSummaries([summary({}), summary({ seeds: [[10, 19]] })])).toThrow("seeds 10..10 are in two parts")
        expect(() => combineSummaries([summary({}), summary({ seeds: [[11, 20]], options: "--boards 3 --duration 2000ms" })])).toThrow("different options")
        const sh = (index: number, count: number): Partial<SweepSummary> => ({ shard: { index, count, of: [1, 20] }, seeds: [[index * 10 - 9, index * 10]] })
        expect(() => combineSummaries([summary(sh(1, 2)), summary(sh(1, 2))])).toThrow("shard 1/2 is given twice")
        expect(() => combineSummaries([summary(sh(1, 2)), summary({ seeds: [[11, 20]] })])).toThrow("some parts are shards")
        expect(combineSummaries([summary(sh(2, 2)), summary(sh(1, 2))]).seeds).toEqual([[1, 20]])
        expect(() => combineSummaries([])).toThrow("nothing to combine")
    })
})
