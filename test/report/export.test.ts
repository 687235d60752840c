import { afterAll, describe, expect, it } from "vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { defaultSimOptions, SimOptions } from "../../host-sim/sim"
import { runBatch } from "../../host-sim/simRun"

const temps: string[] = []
function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), "seqmirror-export-"))
    temps.push(d)
    return d
}
afterAll(() => {
    for (const d of temps) rmSync(d, { recursive: true, force: true })
})

/** The independent checker, run as its own process on the files only. */
function check(dir: string) {
    const r = spawnSync("node", ["bin/check-export.mjs", dir, "--json"], { encoding: "utf8" })
    return { status: r.status, verdict: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr }
}

function exported(o: Partial<SimOptions>) {
    const dir = tempDir()
    const { result } = runBatch({ ...defaultSimOptions(), ...o }, { reportFile: null, exportDir: dir })
    return { dir, result }
}

function lines(path: string): any[] {
    return readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l))
}

describe("export and the independent checker", () => {
    const { dir, result } = exported({ boards: 3, seed: 6, durationMs: 10000, faults: ["link"] })

    it("writes the history, the applies and both images as documented", () => {
        const run = JSON.parse(readFileSync(join(dir, "run.json"), "utf8"))
        expect(run).toMatchObject({ format: "seqmirror-export", version: 1, seed: 6, boards: 3, lbaCount: 256, blockSize: 256, appliedSeq: result.appliedSeq })
        expect(run.verdict).toEqual({ consistent: result.consistent, safe: result.safe, caughtUp: result.caughtUp, violations: result.violations })
        const writes = lines(join(dir, "writes.jsonl"))
        expect(writes).toHaveLength(result.writesIssued)
        expect(writes.filter((w) => w.ackedAt !== null)).toHaveLength(result.writesAcked)
        for (const w of writes.slice(0, 50)) {
            expect(Object.keys(w)).toEqual(["board", "lba", "counter", "deps", "seq", "issuedAt", "ackedAt", "failed", "digest"])
            expect(w.deps).toHaveLength(3)
            expect(w.digest).toMatch(/^[0-9a-f]{8}$/)
        }
        const applies = lines(join(dir, "applies.jsonl"))
        expect(applies.length).toBeGreaterThan(20)
        expect(applies[applies.length - 1].seq).toBe(result.appliedSeq)
        expect(applies.reduce((n, a) => n + a.portions.length, 0)).toBeGreaterThanOrEqual(result.portionsApplied)
        const remote = lines(join(dir, "remote.jsonl"))
        expect(remote[0]).toEqual({ kind: "image", side: "remote", appliedSeq: result.appliedSeq, boards: 3, lbaCount: 256, blockSize: 256 })
        expect(remote).toHaveLength(1 + 3 * 256)
        expect(lines(join(dir, "primaries.jsonl"))).toHaveLength(1 + 3 * 256)
    })

    it("the checker repeats the run's verdict from the files alone", () => {
        expect(result.consistent).toBe(true)
        const c = check(dir)
        expect(c.status).toBe(0)
        expect(c.verdict).toMatchObject({ consistent: true, safe: true, caughtUp: true, appliedSeq: result.appliedSeq, writesAcked: result.writesAcked, appliesMatchImage: true })
        expect(c.verdict.appliesChecked).toBe(lines(join(dir, "applies.jsonl")).length)
    })

    it("the checker finds a remote block rolled back to an older write", () => {
        const path = join(dir, "remote.jsonl")
        const saved = readFileSync(path, "utf8")
        try {
            const writes = lines(join(dir, "writes.jsonl"))
            const img = lines(path)
            // a block whose lba was written more than once: show the previous write instead
            const i = img.findIndex((b, k) => k > 0 && b.counter > 0 && writes.some((w) => w.board === b.board && w.lba === b.lba && w.counter < b.counter && w.ackedAt !== null))
            const b = img[i]
            const older = writes.filter((w) => w.board === b.board && w.lba === b.lba && w.counter < b.counter).pop()
            img[i] = { ...b, counter: older.counter, digest: older.digest }
            writeFileSync(path, img.map((l) => JSON.stringify(l)).join("\n") + "\n")
            const c = check(dir)
            expect(c.status).toBe(1)
            expect(c.verdict.safe).toBe(false)
            expect(c.verdict.violations.join("\n")).toContain(`board ${b.board} lba ${b.lba} shows write ${older.counter}`)
            // and a digest that matches no write
            img[i] = { ...b, digest: "00000000" }
            writeFileSync(path, img.map((l) => JSON.stringify(l)).join("\n") + "\n")
            expect(check(dir).verdict.violations).toContain(`remote: board ${b.board} lba ${b.lba} holds a block no write produced`)
        } finally {
            writeFileSync(path, saved)
        }
        expect(check(dir).status).toBe(0)
    })

    it("a run that breaks dependent-write consistency (mode none) fails the checker as it failed the run", () => {
        const bad = exported({ boards: 4, seed: 2, durationMs: 10000, rate: 40, mode: "none" })
        expect(bad.result.safe).toBe(false)
        const c = check(bad.dir)
        expect(c.status).toBe(1)
        expect(c.verdict.safe).toBe(false)
        expect(c.verdict.violations[0]).toMatch(/^remote after apply of seq \d+: write \d+:\d+ \(lba \d+\) is visible but write \d+:\d+ it depends on is not$/)
        // the simulator's first violation names the same writes
        const ids = (s: string) => s.match(/write \d+:\d+/g)
        expect(ids(c.verdict.violations[0])).toEqual(ids(bad.result.violations[0]))
    })

    it("unreadable input exits 2 with one line", () => {
        const empty = tempDir()
        const r = spawnSync("node", ["bin/check-export.mjs", empty], { encoding: "utf8" })
        expect(r.status).toBe(2)
        expect(r.stderr.trim().split("\n")).toHaveLength(1)
        expect(r.stderr).toMatch(/^check-export: /)
    })
})
