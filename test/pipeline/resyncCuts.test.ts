import { describe, expect, it } from "vitest"
import { Resync } from "../../firmware/pipeline/primary"
import { Prng } from "../../host-sim/prng"
import { defaultSimOptions, SimOptions, Simulation } from "../../host-sim/sim"

// A full resync interrupted at every step, on either side. The remote is replaced by a blank
// board at 4 s, and the group resyncs it in full: every member copies its blocks, the remote
// stages them and applies them in one commit. A first run records the steps (every change, in 1 ms
// steps, of member 0's copy state or position, and of the remote's count of staged writes); then, for
// each step (up to 40 per side, spread over all), a run cuts power at that moment to member 0 or to the remote. Every run must end
// consistent and caught up, with the checker's verdict on every apply and every cut.

const o: SimOptions = { ...defaultSimOptions(), boards: 2, seed: 3, durationMs: 20000 }
const REPLACE_AT = 4000
const TICK = 1

function replaced(): Simulation {
    const sim = new Simulation(o)
    sim.start()
    sim.kernel.run(REPLACE_AT, Number.MAX_SAFE_INTEGER)
    sim.replaceRemote(new Prng(77), 50, null)
    return sim
}

/** Times (ms) at which the resync changed state, on member 0 and on the remote. */
function steps(): { member: number[]; remote: number[] } {
    const sim = replaced()
    const member: number[] = []
    const remote: number[] = []
    let lastM = ""
    let lastR = ""
    let began = false
    for (let t = REPLACE_AT + TICK; t < REPLACE_AT + 15000; t += TICK) {
        sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
        const b = sim.group.primaries[0].board
        const rb = sim.group.remote.board
        const rs = sim.group.remote.store
        const m = b ? b.resync + ":" + b.resyncLba + ":" + b.resyncCopied : "off"
        const r = rb && rs ? (rb.isResyncing() ? "r" : "-") + ":" + rb.resyncsApplied + ":" + rs.stats.writes : "off"
        if (b && b.resync !== Resync.Off) began = true
        if (m !== lastM) member.push(t)
        if (r !== lastR) remote.push(t)
        lastM = m
        lastR = r
        if (began && rb && !rb.isResyncing() && rb.resyncsApplied > 0) break
    }
    expect(began).toBe(true)
    sim.finish()
    return { member, remote }
}

/** At most n of the times, spread over all of them. */
function spread(ts: number[], n: number): number[] {
    if (ts.length <= n) return ts
    const out: number[] = []
    for (let i = 0; i < n; i++) out.push(ts[Math.floor((i * ts.length) / n)])
    return out
}

describe("a full resync interrupted at every step", () => {
    const s = steps()

    it("the resync has steps on both sides", () => {
        expect(s.member.length).toBeGreaterThan(5)
        expect(s.remote.length).toBeGreaterThan(3)
    })

    for (const [side, times] of [
        ["member 0", spread(s.member, 40)],
        ["the remote", spread(s.remote, 40)],
    ] as [string, number[]][]) {
        it(`power cut to ${side} at each step: consistent and caught up every time`, () => {
            for (const t of times) {
                const sim = replaced()
                sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
                sim.powerOffBoard(side === "the remote" ? "remote" : 0, 300, new Prng(t), "power")
                const r = sim.finish()
                const where = `${side} cut at ${t} ms`
                expect(r.violations, where).toEqual([])
                expect(r.consistent, where).toBe(true)
                expect(r.caughtUp, where).toBe(true)
            }
        })
    }
})
