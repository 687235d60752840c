import { describe, expect, it } from "vitest"
import { Prng } from "../../host-sim/prng"
import { seqAfter, seqDiff } from "../../firmware/seq"
import { decodeShuttle, FLAG_ADMIT, FrameType, ShuttleFrame } from "../../firmware/shuttle/frames"
import { Hold, Need } from "../../firmware/shuttle/host"
import { TestGroup } from "./harness"

/** Every member writes now and then (about `perMs` writes per ms over the group). */
function load(g: TestGroup, prng: Prng, ms: number, stepMs = 2): void {
    const end = g.k.millis() + ms
    while (g.k.millis() < end) {
        const i = prng.int(g.hosts.length)
        if (!g.off[i] && !g.evicted[i]) g.hosts[i].write(1 + prng.int(3), 256)
        g.run(stepMs)
    }
}

/** Final manifests match what each host stamped, for every seq any member delivered. */
function checkManifests(g: TestGroup, skip: (member: number, seq: number) => boolean = () => false): number {
    let checked = 0
    for (const h of g.hosts) {
        for (const m of h.manifests) {
            for (let id = 0; id < g.hosts.length; id++) {
                if (skip(id, m.seq)) continue
                const e = m.entryFor(id)
                const want = g.hosts[id].portions[m.seq] || 0
                const wantBytes = g.hosts[id].bytes[m.seq] || 0
                expect({ seq: m.seq, id, p: e ? e.portions : 0, b: e ? e.bytes : 0 }).toEqual({
                    seq: m.seq,
                    id,
                    p: want,
                    b: wantBytes,
                })
                checked++
            }
        }
    }
    return checked
}

/** Every member delivered a manifest for each seq in (from, to], in order. */
function expectManifestChain(g: TestGroup, i: number, from: number, to: number): void {
    const seqs = g.hosts[i].manifests.map((m) => m.seq).filter((s) => seqAfter(s, from) && !seqAfter(s, to))
    const want: number[] = []
    for (let s = from + 1; s <= to; s++) want.push(s)
    expect(seqs).toEqual(want)
}

function shuttleFrames(g: TestGroup): { from: number; to: number; data: Buffer; at: number }[] {
    const out: { from: number; to: number; data: Buffer; at: number }[] = []
    g.bus.observe((t) => {
        if (t.to !== 0 && t.data[0] === FrameType.Shuttle) out.push({ from: t.from, to: t.to, data: t.data, at: t.endMs })
    })
    return out
}

describe("the seq update rule", () => {
    it("S never moves without data, over many laps, while the shuttle keeps circulating", () => {
        for (const size of [2, 5, 8]) {
            const g = new TestGroup({ size }).start()
            g.run(20000)
            expect(g.captures()).toEqual(g.hosts.map(() => 1))
            const anchor = g.agents[0]
            // a lap a little over the idle pause's bound (100 ms)
            expect(anchor.counters.laps).toBeGreaterThan(150)
            expect(g.totalCounter("increments")).toBe(0)
            expect(g.totalCounter("idlePauses")).toBeGreaterThan(150)
            expect(g.totalCounter("longPauses")).toBeGreaterThan(150)
            expect(g.hosts.every((h) => h.releasedSeq === 1)).toBe(true)
            expect(g.violations).toEqual([])
        }
    })

    it("with data on one member, S advances once and every member adopts it", () => {
        const g = new TestGroup({ size: 4 }).start()
        g.run(500)
        g.hosts[2].write(3, 256)
        g.run(500)
        expect(g.captures()).toEqual([2, 2, 2, 2])
        expect(g.totalCounter("increments")).toBe(1)
        expect(g.agents[2].counters.increments).toBe(1)
        for (const h of g.hosts) {
            expect(h.releasedSeq).toBe(2)
            expect(h.manifests.map((m) => [m.seq, m.entries.map((e) => [e.member, e.portions, e.bytes])])).toEqual([[1, [[2, 3, 768]]]])
        }
        // and then it stays
        g.run(5000)
        expect(g.captures()).toEqual([2, 2, 2, 2])
    })

    it("a member that may not close (minimum cycle time) does not move S, then does", () => {
        const g = new TestGroup({ size: 3 }).start()
        g.run(200)
        for (const h of g.hosts) h.mayCloseNow = false
        g.hosts[0].write(1)
        g.run(2000)
        expect(g.captures()).toEqual([1, 1, 1])
        g.hosts[0].mayCloseNow = true
        g.run(200)
        expect(g.captures()).toEqual([2, 2, 2])
    })

    it("a member that holds S keeps the group there, but for a member that needs the next seq, as far as the holds allow", () => {
        const g = new TestGroup({ size: 3 }).start()
        g.run(200)
        const holder = g.hosts[1]
        const other = g.hosts[0]
        // the holder copies at its history's bound
        holder.holdNow = Hold.Held | Hold.Copying
        g.run(200)
        // the shuttle says so: held and copying carry the holder's bit
        const f = g.agents[1].lastShuttle()
        expect([f.held, f.copying]).toEqual([0b010, 0b010])
        other.write(1)
        g.run(2000)
        expect(g.captures()).toEqual([1, 1, 1])
        // a copy under way at a hold ends within its seq: neither a member that resumes nor
        // one whose copy waits for its seq to be final moves S meanwhile...
        other.needNow = Need.Resume
        g.run(2000)
        other.needNow = Need.Final
        g.run(2000)
        expect(g.captures()).toEqual([1, 1, 1])
        // ...a member whose writes wait for room does
        other.needNow = Need.Room
        g.run(500)
        expect(g.captures()).toEqual([2, 2, 2])
        // the holder's copy goes on below its bound: its copy is under way, nobody holds
        holder.holdNow = Hold.Copying
        other.needNow = Need.None
        other.write(1)
        g.run(500)
        expect(g.captures()).toEqual([3, 3, 3])
        // its copy announced, it waits at its bound: a member that resumes moves S, and one
        // whose copy needs S final waits while another copy is under way, not after
        holder.holdNow = Hold.Held
        // (its bits change at its next visit)
        g.run(200)
        other.write(1)
        g.run(2000)
        expect(g.captures()).toEqual([3, 3, 3])
        other.needNow = Need.Resume
        g.run(500)
        expect(g.captures()).toEqual([4, 4, 4])
        g.hosts[2].holdNow = Hold.Copying
        g.run(200)
        other.needNow = Need.Final
        other.write(1)
        g.run(2000)
        expect(g.captures()).toEqual([4, 4, 4])
        g.hosts[2].holdNow = Hold.None
        g.run(500)
        expect(g.captures()).toEqual([5, 5, 5])
        expect([g.agents[1].lastShuttle().held, g.agents[1].lastShuttle().copying]).toEqual([0b010, 0])
        // the hold ends: S moves for data as before
        holder.holdNow = Hold.None
        other.needNow = Need.None
        other.write(1)
        g.run(500)
        expect(g.captures()).toEqual([6, 6, 6])
        expect(g.agents[1].lastShuttle().held).toBe(0)
        expect(g.violations).toEqual([])
    })

    it("under load on 8 members: capture seqs never differ by more than 1 and never decrease", () => {
        const g = new TestGroup({ size: 8, bitRate: 400000, seed: 5 }).start()
        const prng = new Prng(11)
        load(g, prng, 3000, 1)
        expect(g.violations).toEqual([])
        expect(g.maxSpread).toBe(1)
        const s = g.hosts[0].capture
        expect(s).toBeGreaterThan(30)
        for (const h of g.hosts) {
            for (let i = 1; i < h.adopts.length; i++) expect(seqAfter(h.adopts[i - 1].seq, h.adopts[i].seq)).toBe(false)
        }
    })
})

describe("release and manifests", () => {
    it("a member's released seq rises only after every member has adopted that seq", () => {
        const g = new TestGroup({ size: 5, seed: 2 }).start()
        load(g, new Prng(3), 2000)
        expect(g.violations).toEqual([])
        for (const h of g.hosts) {
            for (const r of h.releases) {
                for (const o of g.hosts) {
                    const adopted = o.adopts.find((a) => a.seq === r.seq || seqAfter(a.seq, r.seq))
                    expect(adopted, "member adopted " + r.seq).toBeDefined()
                    expect(adopted!.at).toBeLessThanOrEqual(r.at)
                }
            }
        }
        // the release message reaches the members at once, not a lap later
        expect(g.totalCounter("releasesHeard")).toBeGreaterThan(g.totalCounter("releasesSent"))
    })

    it("manifests equal the sum of what the members stamped, identical at every member, one per seq", () => {
        const g = new TestGroup({ size: 6, seed: 4 }).start()
        load(g, new Prng(8), 3000)
        g.run(1000)
        expect(g.violations).toEqual([])
        expect(checkManifests(g)).toBeGreaterThan(100)
        const last = g.hosts[0].capture - 1
        for (let i = 0; i < g.hosts.length; i++) expectManifestChain(g, i, 0, last)
    })

    it("a write is acknowledged only at seq <= released, and a write issued after any acknowledgement gets a seq at least as high (invariant 2)", () => {
        const g = new TestGroup({ size: 4, seed: 9 }).start()
        const prng = new Prng(21)
        let maxAcked = 0
        let acks = 0
        let bad = 0
        const end = 3000
        while (g.k.millis() < end) {
            const i = prng.int(4)
            const issuedAfter = maxAcked
            const s = g.hosts[i].write(1, 256, (seq) => {
                acks++
                if (seqAfter(seq, g.hosts[i].releasedSeq)) bad++
                if (seqAfter(seq, maxAcked)) maxAcked = seq
            })
            if (seqAfter(issuedAfter, s)) bad++
            g.run(prng.int(4))
        }
        g.run(1000)
        expect(bad).toBe(0)
        expect(acks).toBeGreaterThan(500)
        expect(g.hosts.every((h) => h.unacked.length === 0)).toBe(true)
    })
})

describe("faults", () => {
    it("a lost shuttle is regenerated with a higher epoch; the seqs it issues are above any in use", () => {
        for (let trial = 0; trial < 12; trial++) {
            const g = new TestGroup({ size: 3 + (trial % 4), seed: 100 + trial }).start()
            const prng = new Prng(200 + trial)
            const frames = shuttleFrames(g)
            load(g, prng, 300 + prng.int(300))
            const epochBefore = g.agents[0].epochOf()
            const regensBefore = g.totalCounter("regenerations")
            const capturesAtLoss: number[] = []
            let lostAt = -1
            // lose the next shuttle hand-over from a random member
            const victim = g.addrs[prng.int(g.addrs.length)]
            g.bus.dropNext((from, to, d) => {
                if (from !== victim || d[0] !== FrameType.Shuttle || to === 0) return false
                lostAt = g.k.millis()
                return true
            })
            while (lostAt < 0) {
                g.hosts[prng.int(g.hosts.length)].write(1)
                g.run(1)
            }
            capturesAtLoss.push(...g.captures())
            const highestInUse = capturesAtLoss.reduce((a, b) => (seqAfter(b, a) ? b : a))
            load(g, prng, 3000)
            g.run(1000)
            expect(g.violations).toEqual([])
            expect(g.totalCounter("regenerations")).toBe(regensBefore + 1)
            // new epoch everywhere
            for (const a of g.agents) expect(a.epochOf()).toBe(epochBefore + 1)
            // the new shuttle only carries seqs that were in use at the loss, or new seqs above
            // all of them: it never issues a seq at or below one in use (invariant 9)
            const sf = new ShuttleFrame()
            const newSeqs = frames
                .filter((f) => f.at > lostAt)
                .map((f) => {
                    decodeShuttle(f.data, f.data.length, sf)
                    return sf.seq
                })
            expect(newSeqs.length).toBeGreaterThan(0)
            for (const s of newSeqs) expect(capturesAtLoss.includes(s) || seqAfter(s, highestInUse)).toBe(true)
            expect(newSeqs.some((s) => seqAfter(s, highestInUse))).toBe(true)
            // no capture seq ever went down, and the manifests stayed exact
            expect(checkManifests(g)).toBeGreaterThan(0)
            for (let i = 0; i < g.hosts.length; i++) expectManifestChain(g, i, 0, g.hosts[0].capture - 1)
        }
    })

    it("a shuttle lost just after S moved (members on S and S+1) is continued at S+1 without a third seq", () => {
        // member 1 moves S; lose its hand-over so member 1 alone is on S+1
        const g = new TestGroup({ size: 4, seed: 3 }).start()
        g.run(300)
        const sf = new ShuttleFrame()
        g.bus.dropNext((from, to, d) => {
            if (from !== 0x11 || to === 0 || d[0] !== FrameType.Shuttle) return false
            decodeShuttle(d, d.length, sf)
            return sf.seq === 2
        })
        const regensBefore = g.agents[0].counters.regenerations
        g.hosts[1].write(2)
        // the quiet group's shuttle reaches member 1 within a cycle time and two laps
        for (let t = 0; t < 300 && g.hosts[1].capture === 1; t++) g.run(1)
        g.run(5)
        expect(g.captures()).toEqual([1, 2, 1, 1])
        g.run(3000)
        expect(g.violations).toEqual([])
        expect(g.maxSpread).toBe(1)
        expect(g.captures()).toEqual([2, 2, 2, 2])
        // member 0, the lowest, regenerated at its seq 1; member 1 raised S back to 2
        expect(g.agents[0].counters.regenerations).toBe(regensBefore + 1)
        expect(g.agents[1].counters.raises).toBe(1)
        for (const h of g.hosts) expect(h.manifests.map((m) => m.seq)).toEqual([1])
        expect(checkManifests(g)).toBe(16)
    })

    it("a corrupted shuttle fails its PEC, is dropped and regenerated; the group carries on", () => {
        const g = new TestGroup({ size: 4, seed: 6, bus: { glitchChancePerByte: 0.0005 } }).start()
        load(g, new Prng(1), 20000)
        g.run(2000)
        expect(g.totalCounter("badFrames")).toBeGreaterThan(0)
        expect(g.totalCounter("regenerations")).toBeGreaterThan(1)
        expect(g.violations).toEqual([])
        expect(checkManifests(g)).toBeGreaterThan(100)
        const last = Math.min(...g.hosts.map((h) => h.capture)) - 1
        for (let i = 0; i < g.hosts.length; i++) expectManifestChain(g, i, 0, last - 1)
    })

    it("a shuttle of an older epoch is dropped and counted; a stale copy of the current one too", () => {
        const g = new TestGroup({ size: 3, seed: 7 }).start()
        const frames = shuttleFrames(g)
        load(g, new Prng(2), 300)
        const old = frames[frames.length - 1]
        // lose one to force a new epoch
        const regensBefore = g.totalCounter("regenerations")
        g.bus.dropNext((_f, to, d) => to !== 0 && d[0] === FrameType.Shuttle)
        load(g, new Prng(3), 2000)
        expect(g.totalCounter("regenerations")).toBe(regensBefore + 1)
        g.run(500)
        const before = g.captures()
        const rogue = g.bus.attach(0x50)
        // (a master at a high address may lose arbitration for a while: give it time)
        rogue.write(old.to, old.data, () => {})
        g.run(100)
        expect(g.totalCounter("staleDropped")).toBe(1)
        // the current epoch's frame from a while ago (its S one below the members' seq): an old copy
        const sf = new ShuttleFrame()
        const cur = [...frames].reverse().find((f) => decodeShuttle(f.data, f.data.length, sf) === 0 && sf.seq === before[0] - 1)!
        rogue.write(cur.to, cur.data, () => {})
        g.run(100)
        expect(g.totalCounter("duplicateDropped")).toBe(1)
        expect(g.captures()).toEqual(before)
        g.run(1000)
        expect(g.violations).toEqual([])
    })

    it("only one shuttle lives after a member regenerates too early: the older epoch dies out", () => {
        // member 0's lap timeout is far too short: it regenerates while the shuttle is alive
        const g = new TestGroup({
            size: 4,
            seed: 8,
            agentFor: (i) => (i === 0 ? { lapTimeoutMs: 5 } : {}),
        }).start()
        const frames = shuttleFrames(g)
        load(g, new Prng(4), 1000)
        expect(g.agents[0].counters.regenerations).toBeGreaterThan(5)
        expect(g.violations).toEqual([])
        // the superseded shuttles died at members that had seen the newer epoch
        expect(g.totalCounter("staleDropped")).toBeGreaterThan(0)
        // now behave: a long timeout from here on (restart member 0 with the defaults)
        g.opts.agentFor = undefined
        g.powerOff(0)
        g.powerOn(0)
        load(g, new Prng(5), 2000)
        const tail = frames.filter((f) => f.at > g.k.millis() - 1000)
        const sf = new ShuttleFrame()
        const keys = new Set(
            tail.map((f) => {
                decodeShuttle(f.data, f.data.length, sf)
                return sf.epoch * 256 + sf.origin
            })
        )
        expect(keys.size).toBe(1)
        // one token: hand-overs alternate strictly along the ring
        for (let i = 1; i < tail.length; i++) expect(tail[i].from).toBe(tail[i - 1].to)
        expect(g.violations).toEqual([])
        expect(checkManifests(g)).toBeGreaterThan(0)
    })

    it("NACKs on hand-over are retried; the group still progresses", () => {
        const g = new TestGroup({ size: 5, seed: 12, bus: { nackChance: 0.05 } }).start()
        load(g, new Prng(6), 5000)
        expect(g.totalCounter("handoverNacks")).toBeGreaterThan(10)
        expect(g.violations).toEqual([])
        expect(g.hosts[0].capture).toBeGreaterThan(50)
        expect(checkManifests(g)).toBeGreaterThan(100)
    })
})

describe("absent members", () => {
    it("a member that is off is skipped and marked absent; nothing is released or final past its seq; it rejoins at the current seq", () => {
        const g = new TestGroup({ size: 4, seed: 13 }).start()
        const prng = new Prng(14)
        load(g, prng, 1000)
        g.powerOff(2)
        const offSeq = g.hosts[2].capture
        load(g, prng, 3000)
        expect(g.totalCounter("absentMarked")).toBeGreaterThan(0)
        // S moved at most one past the absent member's seq, and waits there
        for (const h of g.hosts) expect(seqDiff(h.capture, offSeq)).toBeLessThanOrEqual(1)
        for (const h of g.hosts) expect(seqAfter(h.releasedSeq, offSeq)).toBe(false)
        for (const h of g.hosts) for (const m of h.manifests) expect(seqAfter(m.seq, offSeq)).toBe(false)
        // the shuttle keeps going round the others, trying member 2 each lap
        const visits = g.agents[0].counters.visits
        g.run(1000)
        expect(g.agents[0].counters.visits).toBeGreaterThan(visits + 10)
        // back on: it rejoins with the state it saved, at the group's seq
        g.powerOn(2)
        load(g, prng, 3000)
        g.run(1000)
        expect(g.violations).toEqual([])
        const caps = g.captures()
        expect(new Set(caps).size).toBe(1)
        expect(seqAfter(caps[0], offSeq + 5)).toBe(true)
        expect(checkManifests(g)).toBeGreaterThan(0)
        for (const i of [0, 1, 3]) expectManifestChain(g, i, 0, caps[0] - 1)
        // member 2 missed none of the manifests after its return
        expect(g.hosts[2].manifests.length).toBeGreaterThan(0)
    })

    it("a member that reboots while the group is idle rejoins without moving S", () => {
        const g = new TestGroup({ size: 3, seed: 15 }).start()
        g.hosts[1].write(1)
        g.run(1000)
        expect(g.captures()).toEqual([2, 2, 2])
        g.powerOff(1)
        g.run(500)
        g.powerOn(1)
        g.run(3000)
        expect(g.captures()).toEqual([2, 2, 2])
        // the shuttle never stopped: the first one (made at start) is the only one
        expect(g.totalCounter("regenerations")).toBe(1)
        expect(g.violations).toEqual([])
    })

    it("a member rebooted mid-load, with its shuttle lost too, re-reports its closed seqs and the group recovers", () => {
        const g = new TestGroup({ size: 4, seed: 16 }).start()
        const prng = new Prng(17)
        load(g, prng, 800)
        // member 0 (the lowest: the one that would regenerate) dies with the shuttle
        g.bus.dropNext((from, to, d) => from === 0x10 && to !== 0 && d[0] === FrameType.Shuttle)
        g.run(30)
        g.powerOff(0)
        load(g, prng, 1500)
        g.powerOn(0)
        load(g, prng, 3000)
        g.run(1000)
        expect(g.violations).toEqual([])
        expect(g.totalCounter("regenerations")).toBeGreaterThan(0)
        expect(checkManifests(g)).toBeGreaterThan(0)
        const caps = g.captures()
        for (const i of [1, 2, 3]) expectManifestChain(g, i, 0, caps[1] - 1)
    })
})

describe("eviction", () => {
    it("an operator eviction removes a dead member for good: the group moves on and the evicted board stops when it returns", () => {
        const g = new TestGroup({ size: 4, seed: 18 }).start()
        const prng = new Prng(19)
        load(g, prng, 800)
        g.powerOff(3)
        const offSeq = g.hosts[3].capture
        load(g, prng, 1000)
        for (const h of g.hosts) expect(seqDiff(h.capture, offSeq)).toBeLessThanOrEqual(1)
        expect(g.agents[1].evict(0x13)).toBeNull()
        expect(g.agents[1].evict(0x11)).toBe("a member cannot evict itself")
        expect(g.agents[1].evict(0x55)).toBe("not a current member")
        load(g, prng, 2000)
        g.run(1000)
        for (const i of [0, 1, 2]) expect(g.agents[i].members()).toEqual([0x10, 0x11, 0x12])
        expect(seqAfter(g.hosts[0].capture, offSeq + 10)).toBe(true)
        expect(g.violations).toEqual([])
        // manifests never list member 3 for seqs it did not close, and are exact for the others
        checkManifests(g, (id, seq) => id === 3 && !seqAfter(offSeq, seq))
        for (const h of g.hosts.slice(0, 3)) for (const m of h.manifests) if (!seqAfter(offSeq, m.seq)) expect(m.entryFor(3)).toBeNull()
        for (const i of [0, 1, 2]) expectManifestChain(g, i, 0, g.hosts[0].capture - 1)
        // the evicted board comes back with its old view, regenerates, is told, and stops
        g.powerOn(3)
        load(g, prng, 3000)
        expect(g.evicted[3]).toBe(true)
        expect(g.agents[3].isRunning()).toBe(false)
        expect(g.totalCounter("noticesSent")).toBeGreaterThan(0)
        expect(g.violations).toEqual([])
        for (const i of [0, 1, 2]) expect(g.agents[i].members()).toEqual([0x10, 0x11, 0x12])
        expect(g.states[0]!.evicted).toBe(1 << 3)
        // it knows for good: after another restart it stays out
        expect(g.states[3]!.evicted & (1 << 3)).toBe(1 << 3)
        g.powerOff(3)
        g.powerOn(3)
        expect(g.agents[3].isEvicted()).toBe(true)
        expect(g.agents[3].isRunning()).toBe(false)
    })

    it("a group keeps at least two members", () => {
        const g = new TestGroup({ size: 3 }).start()
        expect(g.agents[0].evict(0x11)).toBeNull()
        expect(g.agents[0].evict(0x12)).toBe("a group keeps at least 2 members")
    })

    it("two evictions asked at once: both members leave", () => {
        const g = new TestGroup({ size: 5, seed: 22 }).start()
        const prng = new Prng(23)
        load(g, prng, 500)
        g.powerOff(3)
        g.powerOff(4)
        expect(g.agents[0].evict(0x13)).toBeNull()
        expect(g.agents[0].evict(0x14)).toBeNull()
        load(g, prng, 3000)
        for (const i of [0, 1, 2]) expect(g.agents[i].members()).toEqual([0x10, 0x11, 0x12])
        expect(g.violations).toEqual([])
    })

    it("evicting a live member: it is told and stops, the others carry on", () => {
        const g = new TestGroup({ size: 3, seed: 20 }).start()
        const prng = new Prng(21)
        load(g, prng, 500)
        expect(g.agents[0].evict(0x12)).toBeNull()
        load(g, prng, 3000)
        expect(g.evicted[2]).toBe(true)
        expect(g.agents[1].members()).toEqual([0x10, 0x11])
        expect(g.violations).toEqual([])
        expect(seqAfter(g.hosts[0].capture, g.hosts[2].capture + 5)).toBe(true)
    })
})

describe("admission", () => {
    /** Every member's view of the group, and what each saved. */
    function expectMembers(g: TestGroup, want: number[]): void {
        for (let i = 0; i < g.agents.length; i++) {
            expect({ i, members: g.agents[i].members() }).toEqual({ i, members: want })
            expect({ i, evicted: g.states[i]!.evicted }).toEqual({ i, evicted: 0 })
        }
    }

    it("a live member evicted and admitted again takes part as before: its manifests are exact, the group never breaks its invariants", () => {
        const g = new TestGroup({ size: 3, seed: 22 }).start()
        const prng = new Prng(23)
        load(g, prng, 500)
        expect(g.agents[0].evict(0x12)).toBeNull()
        load(g, prng, 2000)
        expect(g.evicted[2]).toBe(true)
        expect(g.agents[2].isRunning()).toBe(false)
        const outAt = g.hosts[2].capture
        expect(g.agents[1].admit(0x11)).toBe("not evicted")
        expect(g.agents[1].admit(0x55)).toBe("not a member of the group's configuration")
        expect(g.agents[2].admit(0x12)).toBe("this board is evicted itself")
        const told: string[] = []
        for (let i = 0; i < 3; i++) {
            const rig = g.agents[i].onAdmitted
            g.agents[i].onAdmitted = (addr, self, seq) => {
                told.push(i + ":" + addr.toString(16) + (self ? ":self" : ""))
                if (rig) rig(addr, self, seq)
            }
        }
        expect(g.agents[1].admit(0x12)).toBeNull()
        expect(g.agents[1].admit(0x12)).toBe("already being admitted")
        const admitAt = g.hosts[0].capture
        load(g, prng, 3000)
        g.run(500)
        expect(g.violations).toEqual([])
        expect(g.evicted[2]).toBe(false)
        expect(g.agents[2].isRunning()).toBe(true)
        expect(g.agents[2].isEvicted()).toBe(false)
        expectMembers(g, [0x10, 0x11, 0x12])
        // the admitter, the other member and the admitted board itself each learned it once
        expect(told.sort()).toEqual(["0:12", "1:12", "2:12:self"])
        // it adopted the group's seq and wrote again: seqs after its admission carry its totals
        expect(seqAfter(g.hosts[2].capture, admitAt + 5)).toBe(true)
        let withIt = 0
        for (const m of g.hosts[0].manifests) if (seqAfter(m.seq, admitAt) && m.entryFor(2)) withIt++
        expect(withIt).toBeGreaterThan(3)
        // exact for every member after the admission (while out, its writes were stamped with
        // its old seq, which no manifest holds)
        expect(checkManifests(g, (id, seq) => id === 2 && !seqAfter(seq, admitAt + 1))).toBeGreaterThan(0)
        for (const h of g.hosts) for (const m of h.manifests) if (seqAfter(m.seq, outAt + 1) && !seqAfter(m.seq, admitAt)) expect(m.entryFor(2)).toBeNull()
    })

    it("an evicted board that restarts still listens: admitted, it wakes and takes part", () => {
        const g = new TestGroup({ size: 4, seed: 24 }).start()
        const prng = new Prng(25)
        load(g, prng, 600)
        g.powerOff(3)
        load(g, prng, 600)
        expect(g.agents[0].evict(0x13)).toBeNull()
        load(g, prng, 1500)
        // it comes back with its old view, is told, and stops; then restarts knowing it
        g.powerOn(3)
        load(g, prng, 3000)
        expect(g.evicted[3]).toBe(true)
        g.powerOff(3)
        g.powerOn(3)
        expect(g.agents[3].isEvicted()).toBe(true)
        expect(g.agents[3].isRunning()).toBe(false)
        load(g, prng, 1000)
        expect(g.agents[3].isRunning()).toBe(false)
        expect(g.agents[2].admit(0x13)).toBeNull()
        const admitAt = g.hosts[0].capture
        load(g, prng, 3000)
        g.run(500)
        expect(g.violations).toEqual([])
        expect(g.agents[3].isRunning()).toBe(true)
        expectMembers(g, [0x10, 0x11, 0x12, 0x13])
        expect(seqAfter(g.hosts[3].capture, admitAt + 5)).toBe(true)
    })

    it("an admission holds on a bus that drops and damages frames", () => {
        for (let seed = 1; seed <= 6; seed++) {
            const g = new TestGroup({ size: 3 + (seed % 4), seed, bus: { nackChance: 0.02, glitchChancePerByte: 0.0005 } }).start()
            const prng = new Prng(100 + seed)
            const last = g.addrs.length - 1
            load(g, prng, 500)
            expect(g.agents[0].evict(g.addrs[last])).toBeNull()
            // told at once, or when it next speaks with its old view
            for (let n = 0; n < 20 && !g.evicted[last]; n++) load(g, prng, 500)
            expect({ seed, evicted: g.evicted[last] }).toEqual({ seed, evicted: true })
            expect(g.agents[1].admit(g.addrs[last])).toBeNull()
            load(g, prng, 4000)
            g.run(1000)
            expect({ seed, violations: g.violations }).toEqual({ seed, violations: [] })
            expect({ seed, running: g.agents[last].isRunning() }).toEqual({ seed, running: true })
            expectMembers(g, g.addrs)
            // the flag that lets the list name a member evicted in someone's view has done
            for (const a of g.agents) expect({ seed, admitFlag: a.lastShuttle().flags & FLAG_ADMIT }).toEqual({ seed, admitFlag: 0 })
        }
    })
})

describe("group sizes", () => {
    it("runs groups of 2 to 8 members at 100 kHz, 400 kHz and 1 MHz", () => {
        for (const rate of [100000, 400000, 1000000]) {
            for (let size = 2; size <= 8; size++) {
                const g = new TestGroup({ size, bitRate: rate, seed: size }).start()
                load(g, new Prng(size), 1500)
                g.run(500)
                expect(g.violations).toEqual([])
                expect(g.hosts[0].capture).toBeGreaterThan(5)
                expect(checkManifests(g)).toBeGreaterThan(0)
            }
        }
    })
})
