import { describe, expect, it } from "vitest"
import { runCommand } from "../turn"
import { CLASS_COUNTERS, classesNotInjected, FAULT_CLASSES, seqCrossings, seqsAppliedIn } from "../../host-sim/sweep"

/** Runs a sweep in a child process without blocking this one (the runs take a while). */
async function sweep(args: string[]): Promise<{ status: number | null; summary: any }> {
    const r = await runCommand("npx", ["tsx", "host-sim/cli.ts", "sweep", "--json", ...args])
    return { status: r.status, summary: JSON.parse(r.stdout.trim().split("\n").pop()!) }
}

describe("seqmirror sweep", () => {
    it("every fault class in groups of one to eight boards: 240 seeded runs, no violation", async () => {
        const injected: Record<string, number> = {}
        let runs = 0
        for (let boards = 1; boards <= 8; boards++) {
            const r = await sweep(["--seeds", "1..30", "--boards", String(boards), "--faults", "all"])
            runs += r.summary.runs
            for (const [k, v] of Object.entries(r.summary.faultsInjected as Record<string, number>)) injected[k] = (injected[k] ?? 0) + v
            // a failure names its seed and the command that replays it
            expect(r.summary.failures.map((f: { replay: string }) => f.replay)).toEqual([])
            expect(r.summary.failedSeeds).toEqual([])
            expect(r.status).toBe(0)
        }
        expect(runs).toBe(240)
        // every class was really injected
        for (const k of [
            "power",
            "remotePower",
            "reboot",
            "linkOutage",
            "linkBytesLost",
            "linkBitErrors",
            "linkDuplicates",
            "busNacks",
            "busGlitches",
            "shuttleLost",
            "slowFlash",
            "remoteReplaced",
            "death",
            "rot",
            "badReads",
            "remoteFlashFail",
            "ramFlips",
        ])
            expect(injected[k], k).toBeGreaterThan(20)
        // 240 runs with every frame sealed and the attack class: minutes on two busy cores
    }, 600_000)

    it("60 s runs with every fault class (deaths of 10 to 120 s included): groups of two, four and eight boards", async () => {
        let runs = 0
        let suspensions = 0
        let resyncs = 0
        for (const [boards, seeds] of [
            [2, "1..8"],
            [4, "1..8"],
            [8, "1..6"],
        ]) {
            const r = await sweep(["--seeds", String(seeds), "--boards", String(boards), "--faults", "all", "--duration", "60s"])
            runs += r.summary.runs
            suspensions += r.summary.suspensions
            resyncs += r.summary.resyncs
            expect(r.summary.failures.map((f: { replay: string }) => f.replay)).toEqual([])
            expect(r.status).toBe(0)
            expect(r.summary.writesFailed).toBe(0)
        }
        expect(runs).toBe(22)
        // the long events happened and the group came back from them
        expect(suspensions).toBeGreaterThan(10)
        expect(resyncs).toBeGreaterThan(10)
    }, 300_000)

    it("60 s runs with boards lost and restored: replace-primary, without the classes that keep it from happening", async () => {
        // with every class, a long run never replaces a board (the remote, replaced every 20 to
        // 40 s, catches up only once the faults stop: docs/OPERATIONS.md, "Restore a primary")
        const r = await sweep([
            "--seeds",
            "1..6",
            "--boards",
            "4",
            "--duration",
            "60s",
            "--faults",
            "power,link,bus,reboot,slow,rot,remotefail,ram,attack,replace-primary",
        ])
        expect(r.summary.failures.map((f: { replay: string }) => f.replay)).toEqual([])
        expect(r.status).toBe(0)
        expect(r.summary.faultsInjected.primaryReplaced).toBeGreaterThanOrEqual(6)
        expect(r.summary.restores).toBe(r.summary.faultsInjected.primaryReplaced)
        expect(classesNotInjected(r.summary.options, r.summary.faultsInjected)).toEqual([])
    }, 300_000)

    it("names the fault classes it asked for that no run injected", () => {
        // every class has its counters
        for (const c of FAULT_CLASSES) expect(CLASS_COUNTERS[c], c).toBeDefined()
        const every: Record<string, number> = {}
        for (const c of FAULT_CLASSES) for (const k of CLASS_COUNTERS[c]) every[k] = 1
        expect(classesNotInjected("--boards 4 --duration 60s --faults all", every)).toEqual([])
        expect(classesNotInjected("--boards 4 --duration 60s --faults all", { ...every, primaryReplaced: 0 })).toEqual(["replace-primary"])
        // a class counts as injected when any of its counters is
        expect(classesNotInjected("--boards 2 --faults power,death", { power: 0, remotePower: 3, death: 0 })).toEqual(["death"])
        expect(classesNotInjected("--boards 2 --duration 10s", {})).toEqual([])
    })

    it("says how many seqs its runs applied and, with --first-seq, which runs crossed 2^31 and the wrap to 0", async () => {
        // the seqs applied count from the seq before the first (the remote's applied seq at start)
        expect(seqsAppliedIn(1, 0)).toBe(0)
        expect(seqsAppliedIn(1, 95)).toBe(95)
        expect(seqsAppliedIn(4294967200, 3)).toBe(100)
        expect(seqsAppliedIn(0, 4294967295)).toBe(0)
        // 2^31 - 1 to 2^31, and 2^32 - 1 to 0, each within the seqs applied or not
        expect(seqCrossings(2147483600, 48)).toEqual({ past2to31: false, pastWrap: false })
        expect(seqCrossings(2147483600, 49)).toEqual({ past2to31: true, pastWrap: false })
        expect(seqCrossings(4294967200, 96)).toEqual({ past2to31: false, pastWrap: false })
        expect(seqCrossings(4294967200, 97)).toEqual({ past2to31: false, pastWrap: true })
        expect(seqCrossings(1, 4294967295)).toEqual({ past2to31: true, pastWrap: false })
        // a sweep of runs that cross 2^31 says so; from seq 1 there is nothing to cross
        const near = await sweep(["--seeds", "1..2", "--boards", "2", "--duration", "10s", "--first-seq", "2147483600"])
        expect(near.status).toBe(0)
        expect(near.summary.seqsApplied[0]).toBeGreaterThan(48)
        expect(near.summary.seqsApplied[1]).toBeGreaterThanOrEqual(near.summary.seqsApplied[0])
        expect(near.summary.runsPast2to31).toBe(2)
        expect(near.summary.runsPastWrap).toBe(0)
        const text = await runCommand("npx", [
            "tsx",
            "host-sim/cli.ts",
            "sweep",
            "--seeds",
            "1..2",
            "--boards",
            "2",
            "--duration",
            "10s",
            "--first-seq",
            "4294960000",
        ])
        expect(text.status).toBe(0)
        expect(text.stdout).toMatch(/runs whose seqs went past 2\^31: 0, past 4294967295 to 0: 0\n/)
        expect(text.stdout).toContain("no run's seqs reached 2^31 or the wrap from --first-seq 4294960000")
        const plain = await sweep(["--seeds", "1..2", "--boards", "2", "--duration", "10s"])
        expect(plain.summary.runsPast2to31 + plain.summary.runsPastWrap).toBe(0)
    }, 120_000)

    // a checker that cannot fail proves nothing: with one safety mechanism switched off, a few
    // seeds must show the harm
    it.each([
        ["ack-gating", ["--boards", "4", "--rate", "60", "--faults", "bus"]],
        ["manifest-check", ["--boards", "3", "--faults", "power,link"]],
        ["atomic-apply", ["--boards", "3", "--faults", "power,link"]],
        ["resync-copy", ["--boards", "2", "--faults", "replace"]],
        ["replay-window", ["--boards", "2", "--faults", "attack"]],
    ])("without %s the sweep finds unsafe states within a few seeds", async (mutation, args) => {
        const r = await sweep(["--seeds", "1..6", "--mutate", mutation, ...args])
        expect(r.summary.unsafeRuns).toBeGreaterThan(0)
        expect(r.status).toBe(1)
        for (const f of r.summary.failures) expect(f.replay).toContain(`--seed ${f.seed} `)
        for (const f of r.summary.failures) expect(f.replay).toContain(`--mutate ${mutation}`)
    })

    it("prints one JSON object with the replay command of every failure, and fails on violations", async () => {
        const r = await sweep(["--seeds", "1..3", "--boards", "4", "--mode", "none", "--rate", "60", "--duration", "30s"])
        expect(r.summary.runs).toBe(3)
        for (const f of r.summary.failures) expect(f.replay).toBe(`npx seqmirror sim --boards 4 --seed ${f.seed} --duration 30000ms --mode none --rate 60`)
        expect(r.status).toBe(r.summary.failedSeeds.length > 0 ? 1 : 0)
    })

    it("refuses a bad option with one line and exit code 2", async () => {
        const r = await runCommand("npx", ["tsx", "host-sim/cli.ts", "sweep", "--seeds", "5..1"])
        expect(r.status).toBe(2)
        expect(r.stderr.trim().split("\n")).toHaveLength(1)
        const m = await runCommand("npx", ["tsx", "host-sim/cli.ts", "sim", "--mutate", "everything"])
        expect(m.status).toBe(2)
        expect(m.stderr).toContain("--mutate must be one of")
    })
})
