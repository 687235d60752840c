import { describe, expect, it } from "vitest"
import { Prng } from "../../host-sim/prng"
import { FrameType } from "../../firmware/shuttle/frames"
import { TestGroup } from "./harness"

/**
 * Random groups under random faults. Each seed is a full run; a failure names the seed, and
 * `SHUTTLE_SOAK_SEEDS=first..last` reruns a range (e.g. the failing seed alone).
 */
function seeds(defaultCount: number): number[] {
    const env = process.env.SHUTTLE_SOAK_SEEDS
    const out: number[] = []
    if (env && /^\d+\.\.\d+$/.test(env)) {
        const [a, b] = env.split("..").map(Number)
        for (let s = a; s <= b; s++) out.push(s)
    } else for (let s = 1; s <= defaultCount; s++) out.push(s)
    return out
}

describe("shuttle soak", () => {
    it("NACKs, glitches, lost shuttles and power cuts: invariants hold, manifests are exact and unique, the group converges", () => {
        const problems: string[] = []
        for (const seed of seeds(60)) {
            const p = new Prng(seed * 7919)
            const size = 2 + p.int(7)
            const g = new TestGroup({
                size,
                seed,
                bitRate: [100000, 400000, 1000000][p.int(3)],
                bus: { nackChance: p.chance(0.5) ? 0.02 : 0, glitchChancePerByte: p.chance(0.5) ? 0.0003 : 0 },
            }).start()
            const wasOff = new Set<number>()
            const where = "seed " + seed + " (SHUTTLE_SOAK_SEEDS=" + seed + ".." + seed + "): "
            for (let step = 0; step < 4000; step++) {
                const i = p.int(size)
                if (!g.off[i]) g.hosts[i].write(1 + p.int(2))
                if (p.chance(0.002)) g.bus.dropNext((_f, to, d) => to !== 0 && d[0] === FrameType.Shuttle)
                if (p.chance(0.001) && !g.off[i]) {
                    g.powerOff(i)
                    wasOff.add(i)
                } else if (g.off[i] && p.chance(0.01)) g.powerOn(i)
                g.run(p.int(3))
            }
            for (let i = 0; i < size; i++) if (g.off[i]) g.powerOn(i)
            g.run(5000)
            for (const v of g.violations.slice(0, 3)) problems.push(where + v)
            for (const h of g.hosts)
                for (const m of h.manifests)
                    for (let id = 0; id < size; id++) {
                        const e = m.entryFor(id)
                        const want = g.hosts[id].portions[m.seq] || 0
                        if ((e ? e.portions : 0) !== want) problems.push(where + "manifest " + m.seq + " member " + id)
                    }
            const caps = g.captures()
            if (new Set(caps).size !== 1) problems.push(where + "captures " + caps.join(","))
            for (let i = 0; i < size; i++) {
                if (!g.hosts[i].manifests.some((m) => m.seq === caps[0] - 1)) problems.push(where + "member " + i + " lacks manifest " + (caps[0] - 1))
                // only a member that was off may have missed a manifest while it was off
                if (!wasOff.has(i) && g.agents[i].counters.manifestsMissed > 0) problems.push(where + "member " + i + " missed manifests")
            }
        }
        expect(problems).toEqual([])
    })

    it("evictions of dead and live members under faults: manifests never change, the victim stops, the rest converge", () => {
        const problems: string[] = []
        for (const seed of seeds(60)) {
            const p = new Prng(seed * 31337)
            const size = 3 + p.int(6)
            const g = new TestGroup({
                size,
                seed,
                bus: { nackChance: p.chance(0.5) ? 0.02 : 0, glitchChancePerByte: p.chance(0.3) ? 0.0003 : 0 },
            }).start()
            const where = "seed " + seed + " (SHUTTLE_SOAK_SEEDS=" + seed + ".." + seed + "): "
            const victim = p.int(size)
            const dead = p.chance(0.5)
            const evictAt = 500 + p.int(1500)
            let evicted = false
            for (let step = 0; step < 3000; step++) {
                const i = p.int(size)
                if (!g.off[i] && !g.evicted[i]) g.hosts[i].write(1 + p.int(2))
                if (p.chance(0.002)) g.bus.dropNext((_f, to, d) => to !== 0 && d[0] === FrameType.Shuttle)
                if (!evicted && g.k.millis() > evictAt) {
                    if (dead) g.powerOff(victim)
                    const by = (victim + 1 + p.int(size - 1)) % size
                    const r = g.agents[by].evict(0x10 + victim)
                    if (r !== null) problems.push(where + "evict refused: " + r)
                    evicted = true
                }
                if (evicted && dead && g.off[victim] && p.chance(0.001)) g.powerOn(victim)
                g.run(p.int(3))
            }
            if (g.off[victim]) g.powerOn(victim)
            g.run(8000)
            for (const v of g.violations.slice(0, 3)) problems.push(where + v)
            const live = g.hosts.filter((_, i) => i !== victim)
            for (const h of live) {
                // the victim's totals are exact while it is in the manifests, then it is gone for good
                let gone = false
                for (const m of h.manifests) {
                    for (let id = 0; id < size; id++) {
                        const e = m.entryFor(id)
                        const want = g.hosts[id].portions[m.seq] || 0
                        if (id === victim) {
                            if (!e && want > 0) gone = true
                            else if (gone && e) problems.push(where + "victim back in manifest " + m.seq)
                            if (gone || !e) continue
                        }
                        if ((e ? e.portions : 0) !== want) problems.push(where + "manifest " + m.seq + " member " + id)
                    }
                }
            }
            const caps = live.map((h) => h.capture)
            if (new Set(caps).size !== 1) problems.push(where + "captures " + caps.join(","))
            for (let i = 0; i < size; i++) {
                if (i === victim) continue
                if (!g.hosts[i].manifests.some((m) => m.seq === caps[0] - 1)) problems.push(where + "member " + i + " lacks the last manifest")
                if (g.agents[i].members().includes(0x10 + victim)) problems.push(where + "member " + i + " still lists the victim")
                if (g.agents[i].counters.manifestsMissed > 0) problems.push(where + "member " + i + " missed manifests")
            }
            if (g.agents[victim].isRunning()) problems.push(where + "the evicted member still runs")
        }
        expect(problems).toEqual([])
    })
})
