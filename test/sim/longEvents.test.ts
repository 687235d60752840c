import { describe, expect, it } from "vitest"
import { Ran, runCommand } from "../turn"
import { DEATH_MAX_MS, DEATH_MIN_MS, deathSchedule, defaultSimOptions, replayCommand, SimOptions, Simulation } from "../../host-sim/sim"
import { drawDuration, formatEvents, OptionError, parseDurationMs, parseDurationRange, parseLinkDown, parsePowerOff } from "../../host-sim/simEvents"
import { seedOptions } from "../../host-sim/sweep"
import { FaultLog } from "../../host-sim/faultLog"

/** The seqmirror command itself (bin/seqmirror.mjs, as npx runs it). */
function cli(args: string[]): Promise<Ran> {
    return runCommand(process.execPath, ["bin/seqmirror.mjs", ...args])
}

function options(o: Partial<SimOptions>): SimOptions {
    return { ...defaultSimOptions(), ...o }
}

describe("--power-off and --link-down values", () => {
    it("parse members, the remote, times in the units of --duration, lists and repeated options", () => {
        expect(parsePowerOff("2@10s+60s", 4, 600000)).toEqual([{ target: 2, atMs: 10000, forMs: 60000 }])
        expect(parsePowerOff(["0@500ms", "remote@1m+2s,3@1.5s+250ms"], 4, 600000)).toEqual([
            { target: 0, atMs: 500, forMs: null },
            { target: "remote", atMs: 60000, forMs: 2000 },
            { target: 3, atMs: 1500, forMs: 250 },
        ])
        expect(parsePowerOff(undefined, 4, 1000)).toEqual([])
        expect(parseLinkDown("1@2s+3s,remote@4s+500ms", 2, 10000)).toEqual([
            { target: 1, atMs: 2000, forMs: 3000 },
            { target: "remote", atMs: 4000, forMs: 500 },
        ])
        // link outages may overlap (a link is down while any lasts)
        expect(parseLinkDown(["0@1s+5s", "0@2s+1s", "remote@3s+1s"], 1, 10000)).toHaveLength(3)
        // power-offs of different boards may overlap, of one board may follow each other
        expect(parsePowerOff("0@1s+5s,1@2s+1s,remote@2s+1s,0@6s", 2, 10000)).toHaveLength(4)
    })

    it.each([
        ["power-off", "5@1s", /member 5 does not exist/],
        ["power-off", "x@1s", /neither a member index/],
        ["power-off", "-1@1s", /neither a member index/],
        ["power-off", "1@soon", /bad time/],
        ["power-off", "1@1s+0s", /must be positive/],
        ["power-off", "1@1s+", /bad duration/],
        ["power-off", "1@20s", /not before the end of the workload/],
        ["power-off", "1", /use M@T\[\+D\]/],
        ["power-off", "1@1s+2s@3s", /use M@T/],
        ["power-off", "", /use M@T/],
        ["power-off", "1@1s,", /use M@T/],
        ["power-off", "1@1s+2s,1@2s", /1@2s overlaps 1@1s\+2s/],
        ["power-off", "remote@1s,remote@5s+1s", /overlaps remote@1s/],
        ["link-down", "1@1s", /duration is missing/],
        ["link-down", "2@1s+1s", /member 2 does not exist/],
        ["link-down", "1@1x+1s", /bad time/],
    ])("--%s %s is refused", (opt, value, message) => {
        const parse = opt === "power-off" ? parsePowerOff : parseLinkDown
        expect(() => parse(value, 2, 10000)).toThrow(OptionError)
        expect(() => parse(value, 2, 10000)).toThrow(message)
    })

    it("durations and ranges", () => {
        expect(parseDurationMs("250ms")).toBe(250)
        expect(parseDurationMs("2m")).toBe(120000)
        expect(parseDurationRange("60s")).toEqual([60000, 60000])
        expect(parseDurationRange("10s..10m")).toEqual([10000, 600000])
        for (const bad of ["10m..10s", "0s..1s", "1s..", "..1s", "1s..2s..3s", "soon"]) expect(() => parseDurationRange(bad), bad).toThrow(OptionError)
    })

    it("a drawn duration is the seed's own, in the range, and spread over it", () => {
        const seen = new Set<number>()
        for (let seed = 1; seed <= 200; seed++) {
            const d = drawDuration(seed, 10000, 600000)
            expect(d).toBe(drawDuration(seed, 10000, 600000))
            expect(d).toBeGreaterThanOrEqual(10000)
            expect(d).toBeLessThanOrEqual(600000)
            expect(Number.isInteger(d)).toBe(true)
            seen.add(Math.floor((d - 10000) / 59000))
        }
        expect(seen.size).toBe(10)
        expect(drawDuration(7, 5000, 5000)).toBe(5000)
    })

    it("a sweep seed's options carry its drawn duration, and leave out events after it", () => {
        const base = options({ boards: 2, powerOff: [{ target: 1, atMs: 12000, forMs: 1000 }], linkDown: [{ target: 0, atMs: 1000, forMs: 500 }] })
        for (let seed = 1; seed <= 20; seed++) {
            const o = seedOptions(base, seed, [5000, 20000])
            expect(o.seed).toBe(seed)
            expect(o.durationMs).toBe(drawDuration(seed, 5000, 20000))
            expect(o.powerOff).toHaveLength(o.durationMs > 12000 ? 1 : 0)
            expect(o.linkDown).toHaveLength(1)
            expect(replayCommand(o)).toContain(`--seed ${seed} --duration ${o.durationMs}ms`)
        }
        // without a range, the base duration
        expect(seedOptions(base, 3).durationMs).toBe(base.durationMs)
        expect(seedOptions(base, 3).powerOff).toEqual(base.powerOff)
    })
})

describe("the replay command", () => {
    it("carries the events, and parses back to the same events", () => {
        const o = options({
            boards: 4,
            seed: 9,
            durationMs: 90000,
            powerOff: [
                { target: 2, atMs: 10000, forMs: 60000 },
                { target: "remote", atMs: 5000, forMs: null },
            ],
            linkDown: [{ target: 1, atMs: 2500, forMs: 750 }],
        })
        const replay = replayCommand(o)
        expect(replay).toBe("npx seqmirror sim --boards 4 --seed 9 --duration 90000ms --power-off 2@10000ms+60000ms,remote@5000ms --link-down 1@2500ms+750ms")
        const arg = (name: string) => replay.split(" ")[replay.split(" ").indexOf(name) + 1]
        expect(parsePowerOff(arg("--power-off"), 4, parseDurationMs(arg("--duration")))).toEqual(o.powerOff)
        expect(parseLinkDown(arg("--link-down"), 4, 90000)).toEqual(o.linkDown)
        expect(formatEvents(o.powerOff!)).toBe(arg("--power-off"))
        // no events, no options
        expect(replayCommand(options({}))).not.toMatch(/--power-off|--link-down/)
    })

    it("the command line takes the events, runs them and prints the same replay command", async () => {
        const args = [
            "sim",
            "--boards",
            "2",
            "--seed",
            "4",
            "--duration",
            "3s",
            "--power-off",
            "1@1s+500ms",
            "--power-off",
            "0@2s+200ms",
            "--link-down",
            "remote@1500ms+300ms",
            "--json",
        ]
        const r = await cli(args)
        const out = JSON.parse(r.stdout.trim().split("\n").pop()!)
        expect(out.replay).toBe(
            "npx seqmirror sim --boards 2 --seed 4 --duration 3000ms --power-off 1@1000ms+500ms,0@2000ms+200ms --link-down remote@1500ms+300ms"
        )
        expect(out.faultsInjected.powerOff).toBe(2)
        expect(out.faultsInjected.linkDown).toBe(1)
        for (const k of ["writesFailed", "suspensions", "resyncs", "ackedDuringSuspension"]) expect(typeof out[k], k).toBe("number")
        // the replay, run again, prints itself
        const again = await cli(out.replay.split(" ").slice(2).concat(["--json"]))
        expect(JSON.parse(again.stdout.trim().split("\n").pop()!)).toEqual(out)
    })

    it("bad values give one line on stderr and exit code 2", async () => {
        for (const args of [
            ["sim", "--boards", "2", "--power-off", "2@1s"],
            ["sim", "--link-down", "0@1s"],
            ["sim", "--duration", "1s..2s"],
            ["sweep", "--duration", "20s..10s"],
        ]) {
            const r = await cli(args)
            expect(r.status, args.join(" ")).toBe(2)
            expect(r.stderr.trim().split("\n")).toHaveLength(1)
            expect(r.stderr).toMatch(/^seqmirror: /)
        }
    })

    it("--help prints the usage, exits 0 and runs nothing", async () => {
        for (const args of [
            ["sim", "--help"],
            ["sweep", "--help", "--seeds", "1..100000"],
            ["config", "--help"],
            ["bench", "-h"],
        ]) {
            const r = await cli(args)
            expect(r.status, args.join(" ")).toBe(0)
            expect(r.stdout).toContain("Usage: seqmirror " + args[0])
            // the scheduled events are options of sim, and of sweep through sim's
            if (args[0] === "sim" || args[0] === "sweep") expect(r.stdout).toContain("--power-off")
        }
    })
})

describe("scheduled events in a run", () => {
    it("--power-off 1@2s+3s on two boards powers member 1 off from 2 s to 5 s", () => {
        const sim = new Simulation(options({ boards: 2, seed: 3, durationMs: 8000, powerOff: [{ target: 1, atMs: 2000, forMs: 3000 }] }))
        const log = new FaultLog(sim)
        const [p0, p1] = sim.group.primaries
        sim.start()
        sim.kernel.run(1990, Number.MAX_SAFE_INTEGER)
        expect(p1.up).toBe(true)
        sim.kernel.run(2010, Number.MAX_SAFE_INTEGER)
        expect(p1.up).toBe(false)
        sim.kernel.run(4990, Number.MAX_SAFE_INTEGER)
        expect(p1.up).toBe(false)
        expect(p1.boots).toBe(1)
        sim.kernel.run(5500, Number.MAX_SAFE_INTEGER)
        expect(p1.up).toBe(true)
        expect(p1.boots).toBe(2)
        const r = sim.finish()
        expect(r.faultsInjected.powerOff).toBe(1)
        expect(p0.boots).toBe(1)
        expect(p1.powerCuts).toBe(1)
        expect(log.events.filter((e) => e.kind === "power")).toEqual([{ t: 2000, kind: "power", target: "primary 1", detail: "power cut, off for 3000 ms" }])
        expect(r.replay).toContain("--power-off 1@2000ms+3000ms")
    })

    it("a board off for good stays off to the end and is judged by its flash; a remote off for good ends the catch-up at once", () => {
        const sim = new Simulation(options({ boards: 2, seed: 5, durationMs: 4000, drainMs: 3000, powerOff: [{ target: 1, atMs: 2000, forMs: null }] }))
        const log = new FaultLog(sim)
        const r = sim.run()
        const p1 = sim.group.primaries[1]
        expect(p1.up).toBe(false)
        expect(p1.boots).toBe(1)
        expect(r.faultsInjected.powerOff).toBe(1)
        // its flash was mounted at the cut and at the judgement: no acknowledged write lost there
        expect(r.violations.filter((v) => v.startsWith("primary 1"))).toEqual([])
        expect(log.events[0].detail).toBe("power cut, off for good")

        const gone = new Simulation(options({ boards: 2, seed: 5, durationMs: 4000, powerOff: [{ target: "remote", atMs: 1000, forMs: null }] }))
        const g = gone.run()
        expect(gone.group.remote.up).toBe(false)
        expect(gone.group.remote.boots).toBe(1)
        expect(g.caughtUp).toBe(false)
        // no waiting out the whole catch-up time for a remote that never comes back
        expect(g.virtualMs).toBeLessThan(4000 + 5000)
    })

    it("a power-off lasting past the workload: the board comes back and the catch-up counts from then", () => {
        const sim = new Simulation(options({ boards: 1, seed: 2, durationMs: 3000, drainMs: 5000, powerOff: [{ target: 0, atMs: 2000, forMs: 20000 }] }))
        const r = sim.run()
        const p = sim.group.primaries[0]
        expect(p.boots).toBe(2)
        expect(p.up).toBe(true)
        expect(r.virtualMs).toBeGreaterThan(22000)
        expect(r.caughtUp).toBe(true)
    })

    it("--link-down takes one link down for its time, remote every link; the link fault class does not end it early", () => {
        const sim = new Simulation(
            options({
                boards: 2,
                seed: 6,
                durationMs: 9000,
                linkDown: [
                    { target: 0, atMs: 1000, forMs: 2000 },
                    { target: "remote", atMs: 5000, forMs: 1000 },
                    { target: 1, atMs: 5500, forMs: 1000 },
                ],
            })
        )
        const [w0, w1] = sim.group.wires
        sim.start()
        sim.kernel.run(1500, Number.MAX_SAFE_INTEGER)
        expect([w0.isUp(), w1.isUp()]).toEqual([false, true])
        sim.kernel.run(3100, Number.MAX_SAFE_INTEGER)
        expect([w0.isUp(), w1.isUp()]).toEqual([true, true])
        sim.kernel.run(5200, Number.MAX_SAFE_INTEGER)
        expect([w0.isUp(), w1.isUp()]).toEqual([false, false])
        // the remote's outage ends at 6 s; member 1's own lasts to 6.5 s
        sim.kernel.run(6100, Number.MAX_SAFE_INTEGER)
        expect([w0.isUp(), w1.isUp()]).toEqual([true, false])
        sim.kernel.run(6600, Number.MAX_SAFE_INTEGER)
        expect([w0.isUp(), w1.isUp()]).toEqual([true, true])
        const r = sim.finish()
        expect(r.faultsInjected.linkDown).toBe(3)

        // with the link class too, a long outage holds for its whole time
        const withFaults = new Simulation(
            options({ boards: 1, seed: 8, durationMs: 20000, faults: ["link"], linkDown: [{ target: 0, atMs: 1000, forMs: 15000 }] })
        )
        withFaults.start()
        for (let t = 1100; t < 16000; t += 100) {
            withFaults.kernel.run(t, Number.MAX_SAFE_INTEGER)
            expect(withFaults.group.wires[0].isUp(), `at ${t} ms`).toBe(false)
        }
        withFaults.kernel.run(16100, Number.MAX_SAFE_INTEGER)
        expect(withFaults.faultsInjected.linkOutage).toBeGreaterThan(0)
        withFaults.finish()
    })
})

describe("the death fault class", () => {
    it("draws a schedule of its own per seed: deaths of 10 to 120 s, one member at a time, begun while the workload runs", () => {
        let deaths = 0
        const lengths = new Set<number>()
        for (let seed = 1; seed <= 300; seed++) {
            const boards = 1 + (seed % 8)
            const duration = 10000 + (seed % 5) * 120000
            const s = deathSchedule(seed, boards, duration)
            expect(deathSchedule(seed, boards, duration)).toEqual(s)
            const members = s.map((d) => d.member)
            expect(new Set(members).size).toBe(members.length)
            expect(s.length).toBeGreaterThanOrEqual(1)
            for (let i = 0; i < s.length; i++) {
                const d = s[i]
                expect(d.member).toBeGreaterThanOrEqual(0)
                expect(d.member).toBeLessThan(boards)
                expect(d.forMs).toBeGreaterThanOrEqual(DEATH_MIN_MS)
                expect(d.forMs).toBeLessThanOrEqual(DEATH_MAX_MS)
                expect(d.atMs).toBeLessThan(duration)
                if (i > 0) expect(d.atMs).toBeGreaterThan(s[i - 1].atMs + s[i - 1].forMs)
                lengths.add(Math.min(9, Math.floor((d.forMs - DEATH_MIN_MS) / 11000)))
                deaths++
            }
        }
        expect(deaths).toBeGreaterThan(300)
        // uniform over the range: every tenth of it is hit
        expect(lengths.size).toBe(10)
        expect(deathSchedule(1, 4, 600000)).not.toEqual(deathSchedule(2, 4, 600000))
        // long runs: every member dies
        expect(deathSchedule(3, 4, 600000).length).toBe(4)
    })

    it("is in a run: the member is off for its time, counted as death, and the other classes' schedules stay as they were", () => {
        const o = options({ boards: 2, seed: 12, durationMs: 8000, drainMs: 10000 })
        const sched = deathSchedule(12, 2, 8000)
        expect(sched).toHaveLength(1)
        const d = sched[0]
        const sim = new Simulation({ ...o, faults: ["death"] })
        sim.start()
        sim.kernel.run(d.atMs + 1, Number.MAX_SAFE_INTEGER)
        const p = sim.group.primaries[d.member]
        expect(p.up).toBe(false)
        sim.kernel.run(d.atMs + d.forMs - 10, Number.MAX_SAFE_INTEGER)
        expect(p.up).toBe(false)
        const r = sim.finish()
        expect(r.faultsInjected.death).toBe(1)
        expect(p.boots).toBe(2)
        expect(r.virtualMs).toBeGreaterThan(d.atMs + d.forMs)
        expect(r.replay).toContain("--faults death")

        // the link class draws the same outages with death added
        const times = (faults: string[]) => {
            const s = new Simulation({ ...o, faults })
            const log = new FaultLog(s)
            s.start()
            s.kernel.run(8000, Number.MAX_SAFE_INTEGER)
            return log.events.filter((e) => e.kind === "link down").map((e) => e.t)
        }
        expect(times(["link", "death"])).toEqual(times(["link"]))
    })
})
