import { describe, expect, it } from "vitest"
import { Prng } from "../../host-sim/prng"
import { seqAfter } from "../../firmware/seq"
import { TestGroup, TestHost } from "./harness"

// A fresh member holds no seq at all (a blank flash, or restored from a remote that had heard of
// none): its capture seq, 1, is a placeholder. Seqs compare in serial-number order, so once a
// group is past 2^31, 1 lies almost half a turn *after* its seqs: taken as a seq, it made a
// member raise the shuttle's S to it, or make a shuttle there, and the group jumped to 1.

/** Every live member writes now and then. */
function load(g: TestGroup, prng: Prng, ms: number): void {
    const end = g.k.millis() + ms
    while (g.k.millis() < end) {
        const i = prng.int(g.hosts.length)
        if (!g.off[i]) g.hosts[i].write(1 + prng.int(3), 256)
        g.run(2)
    }
}

/** Replaces member i by a board with a blank flash: no shuttle state, capture seq 1, fresh. */
function replaceFresh(g: TestGroup, i: number): void {
    g.powerOff(i)
    g.states[i] = null
    const h = new TestHost(g, i, 1)
    h.fresh = true
    g.hosts[i] = h
    const before = g.opts.agentFor
    g.opts.agentFor = (j) => ({ ...(before ? before(j) : {}), ...(j === i ? { fresh: true } : {}) })
    g.powerOn(i)
}

describe("a fresh member joins a running group", () => {
    for (const start of [2147483700, 3221225472, 100]) {
        it(`at seq ${start}: it takes the group's seq, which never goes back, and the group goes on`, () => {
            const g = new TestGroup({ size: 4, bitRate: 400000, startSeq: start, seed: 5 }).start()
            const prng = new Prng(11)
            load(g, prng, 2000)
            const before = g.hosts[0].capture
            expect(seqAfter(before, start)).toBe(true)
            replaceFresh(g, 2)
            load(g, prng, 3000)
            g.run(500)
            expect(g.violations).toEqual([])
            // every member, the fresh one too, is on the group's seqs, after those before it came
            for (const h of g.hosts) expect(seqAfter(h.capture, before), `member ${h.id} at ${h.capture}`).toBe(true)
            expect(g.hosts[2].closed.length).toBeGreaterThan(10)
            // it adopted the group's seq first, never its placeholder
            expect(g.hosts[2].adopts[0].seq).not.toBe(1)
        })
    }

    it("while the shuttle is lost: a member that holds seqs makes the next one, not the fresh member", () => {
        const g = new TestGroup({ size: 3, bitRate: 400000, startSeq: 2147483700, seed: 2 }).start()
        const prng = new Prng(3)
        load(g, prng, 1000)
        replaceFresh(g, 0)
        // the rank-0 member comes back fresh while the others wait for a shuttle that is gone
        g.powerOff(1)
        g.powerOn(1)
        load(g, prng, 2000)
        g.run(500)
        expect(g.violations).toEqual([])
        expect(g.agents[0].counters.regenerations).toBe(0)
        for (const h of g.hosts) expect(seqAfter(h.capture, 2147483700)).toBe(true)
    })

    it("a new group, every member fresh: the first shuttle comes all the same, at seq 1", () => {
        const g = new TestGroup({ size: 4, bitRate: 400000, agent: { fresh: true } })
        for (const h of g.hosts) h.fresh = true
        g.start()
        load(g, new Prng(4), 2000)
        expect(g.violations).toEqual([])
        expect(g.hosts[0].adopts[0].seq).toBe(1)
        for (const h of g.hosts) expect(h.capture).toBeGreaterThan(10)
    })
})
