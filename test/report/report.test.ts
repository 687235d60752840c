import { describe, expect, it } from "vitest"
import { FaultLog } from "../../host-sim/faultLog"
import { chartsOf, niceCeiling, renderChart, renderReport } from "../../host-sim/report"
import { defaultSimOptions, Simulation, SimResult } from "../../host-sim/sim"
import { Timeline, TimelineSampler } from "../../host-sim/timeline"

interface Geometry {
    x0: number
    y0: number
    w: number
    h: number
    tmin: number
    tmax: number
    ymax: number
}

interface Polyline {
    series: string
    samples: number
    points: Array<[number, number]>
}

function attr(tag: string, name: string): string {
    const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag)
    if (!m) throw new Error(`no ${name} in ${tag.slice(0, 80)}`)
    return m[1]
}

/** The SVG charts of a report, with their geometry and polylines read back. */
function parseCharts(html: string): Map<string, { geo: Geometry; lines: Polyline[]; marks: string[] }> {
    const out = new Map()
    for (const m of html.matchAll(/<svg class="chart"[^>]*>[\s\S]*?<\/svg>/g)) {
        const svg = m[0]
        const open = svg.slice(0, svg.indexOf(">"))
        const geo: Geometry = {
            x0: Number(attr(open, "data-x0")),
            y0: Number(attr(open, "data-y0")),
            w: Number(attr(open, "data-w")),
            h: Number(attr(open, "data-h")),
            tmin: Number(attr(open, "data-tmin")),
            tmax: Number(attr(open, "data-tmax")),
            ymax: Number(attr(open, "data-ymax")),
        }
        const lines: Polyline[] = [...svg.matchAll(/<polyline [^>]*\/>/g)].map((p) => ({
            series: attr(p[0], "data-series"),
            samples: Number(attr(p[0], "data-samples")),
            points: attr(p[0], "points")
                .split(" ")
                .map((xy) => xy.split(",").map(Number) as [number, number]),
        }))
        const marks = [...svg.matchAll(/<line class="mark" data-kind="([^"]*)"/g)].map((x) => x[1])
        out.set(attr(open, "data-chart"), { geo, lines, marks })
    }
    return out
}

/** Reads a polyline back into (t, value) pairs. */
function values(geo: Geometry, line: Polyline): Array<[number, number]> {
    return line.points.map(([x, y]) => [geo.tmin + ((x - geo.x0) / geo.w) * (geo.tmax - geo.tmin), ((geo.y0 - y) / geo.h) * geo.ymax])
}

function recordedRun(): { sim: Simulation; result: SimResult; timeline: Timeline } {
    const sim = new Simulation({ ...defaultSimOptions(), boards: 3, seed: 4, durationMs: 12000, faults: ["link"] })
    const faults = new FaultLog(sim)
    const sampler = new TimelineSampler(sim, faults, 100)
    sampler.start()
    const result = sim.run()
    sampler.stop()
    return { sim, result, timeline: sampler.timeline }
}

describe("the HTML report", () => {
    const { result, timeline } = recordedRun()
    const html = renderReport({ options: { ...defaultSimOptions(), boards: 3, seed: 4, durationMs: 12000, faults: ["link"] }, result, timeline, wallMs: 1234 })
    const charts = parseCharts(html)

    it("holds the five charts over time: RPO lag, aux ring fill, link goodput, seqs, spill", () => {
        expect([...charts.keys()]).toEqual(["rpo", "ring", "goodput", "seq", "spill"])
        for (const [id, c] of charts) {
            const want = id === "seq" ? ["primary 0", "primary 1", "primary 2", "remote applied"] : ["primary 0", "primary 1", "primary 2"]
            expect(
                c.lines.map((l) => l.series),
                id
            ).toEqual(want)
            for (const l of c.lines) {
                expect(l.samples).toBe(timeline.t.length)
                expect(l.points).toHaveLength(timeline.t.length)
            }
            expect(c.geo.tmin).toBe(timeline.t[0])
            expect(c.geo.tmax).toBe(timeline.t[timeline.t.length - 1])
        }
        expect(timeline.t.length).toBeGreaterThan(100)
    })

    it("draws the run's samples: every point reads back as the sampled value", () => {
        const check = (id: string, pick: (b: number) => number[]) => {
            const c = charts.get(id)!
            c.lines.forEach((line, b) => {
                const want = pick(b)
                const got = values(c.geo, line)
                const tol = c.geo.ymax / c.geo.h / 50 + 1e-6
                got.forEach(([t, v], i) => {
                    expect(Math.abs(t - timeline.t[i])).toBeLessThan(((c.geo.tmax - c.geo.tmin) / c.geo.w) * 0.01 + 1e-6)
                    expect(Math.abs(v - want[i]), `${id} ${line.series} sample ${i}`).toBeLessThan(tol)
                })
                // the axis holds the largest value
                expect(c.geo.ymax).toBeGreaterThanOrEqual(Math.max(...want))
            })
        }
        check("rpo", (b) => timeline.boards[b].rpoLagMs)
        check("ring", (b) => timeline.boards[b].ringFill)
        check("goodput", (b) => timeline.boards[b].goodput)
        check("seq", (b) => (b < 3 ? timeline.boards[b].captureSeq : timeline.remote.appliedSeq))
        check("spill", (b) => timeline.boards[b].spill)
        // and the run did something worth drawing
        expect(Math.max(...timeline.boards[0].captureSeq)).toBeGreaterThan(50)
        expect(Math.max(...timeline.boards[0].goodput)).toBeGreaterThan(1000)
        expect(Math.max(...timeline.remote.appliedSeq)).toBe(result.appliedSeq)
    })

    it("marks the link faults on every chart", () => {
        const downs = timeline.marks.filter((m) => m.kind === "link down").length
        expect(downs).toBeGreaterThan(0)
        expect(downs).toBe(result.faultsInjected.linkOutage)
        for (const [, c] of charts) expect(c.marks.filter((k) => k === "link down")).toHaveLength(downs)
        expect(html).toMatch(/<td>primary \d<\/td><td style="color:#ff7f0e">link down<\/td><td>link cut<\/td>/)
    })

    it("states the verdict and the figures, and embeds the data as JSON", () => {
        expect(result.consistent).toBe(true)
        expect(html).toContain('<p class="verdict ok" id="verdict">verdict: consistent</p>')
        expect(html).toContain(`<tr><th>applied seq</th><td>${result.appliedSeq}</td></tr>`)
        expect(html).toContain(`<tr><th>replay</th><td>${result.replay}</td></tr>`)
        const data = JSON.parse(/<script type="application\/json" id="seqmirror-data">([\s\S]*?)<\/script>/.exec(html)![1])
        expect(data.result).toEqual(JSON.parse(JSON.stringify(result)))
        expect(data.timeline.t).toEqual(timeline.t)
        expect(data.timeline.boards[2].rpoLagMs).toEqual(timeline.boards[2].rpoLagMs)
    })

    it("is self-contained: no external resource and no executable script", () => {
        expect(html).not.toMatch(/<script(?! type="application\/json")/)
        expect(html).not.toMatch(/<link |<img |src=|@import|url\(/)
        expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, "")).not.toMatch(/https?:/)
    })
})

describe("suspension on the report", () => {
    // primary 2 is off for 8 s: the others suspend after the suspend time (5 s), resume once it
    // is back, and the remote commits the group's delta resync
    const o = { ...defaultSimOptions(), boards: 3, seed: 1, durationMs: 20000, powerOff: [{ target: 2 as const, atMs: 3000, forMs: 8000 }] }
    const sim = new Simulation(o)
    const faults = new FaultLog(sim)
    const sampler = new TimelineSampler(sim, faults, 100)
    sampler.start()
    const result = sim.run()
    sampler.stop()
    const timeline = sampler.timeline
    const html = renderReport({ options: o, result, timeline })
    const charts = parseCharts(html)
    const kinds = ["suspend", "resume", "resync commit"]
    const events = timeline.marks.filter((m) => kinds.includes(m.kind))

    it("records each member's suspend and resume, then the remote's resync commit, in order", () => {
        expect(result.consistent).toBe(true)
        // both suspend (in either order), both resume, then the commit
        const seen = events.map((e) => e.kind + " " + e.target)
        expect(seen.length).toBe(5)
        expect(seen.slice(0, 2).sort()).toEqual(["suspend primary 0", "suspend primary 1"])
        expect(seen.slice(2, 4).sort()).toEqual(["resume primary 0", "resume primary 1"])
        expect(seen[4]).toBe("resync commit remote")
        expect(result.suspensions).toBe(2)
        expect(result.resyncs).toBe(1)
        const suspend = events.find((e) => e.kind === "suspend" && e.target === "primary 0")!
        const resume = events.find((e) => e.kind === "resume" && e.target === "primary 0")!
        // the suspend time after the power cut, to a sample
        expect(suspend.t).toBeGreaterThanOrEqual(8000)
        expect(suspend.t).toBeLessThanOrEqual(8000 + 2 * timeline.sampleMs)
        expect(suspend.detail).toMatch(/^replication suspended at seq \d+ \(a write waited 5 s or more: the group cannot release\)$/)
        // they resume only once the board is back (at 11 s)
        expect(resume.t).toBeGreaterThan(11000)
        expect(events[4].detail).toMatch(/^resync committed: the remote's image moves to seq \d+ for every member$/)
        // the series says suspended between the two events, and only then
        const col = timeline.boards[0]
        timeline.t.forEach((t, i) => {
            if (t >= suspend.t && t < resume.t) expect(col.suspended[i], "t " + t).toBe(1)
            if (t < suspend.t - timeline.sampleMs || t > resume.t) expect(col.suspended[i], "t " + t).toBe(0)
        })
        expect(timeline.boards[2].suspended.every((v) => v === 0)).toBe(true)
    })

    it("marks them on every chart and lists them with the events", () => {
        for (const [id, c] of charts)
            expect(
                c.marks.filter((k) => kinds.includes(k)),
                id
            ).toEqual(events.map((e) => e.kind))
        const suspend1 = events.find((e) => e.kind === "suspend" && e.target === "primary 1")!
        expect(html).toContain(`<td>primary 1</td><td style="color:#c71585">suspend</td><td>${suspend1.detail}</td>`)
        expect(html).toContain(`<td>remote</td><td style="color:#1a6b1a">resync commit</td><td>${events[4].detail}</td>`)
        expect(html).toMatch(/<span style="color:#17becf">resume<\/span>/)
    })
})

describe("report rendering details", () => {
    it("a failing run shows NOT CONSISTENT and its violations, escaped", () => {
        const { result, timeline } = recordedRun()
        const bad: SimResult = { ...result, consistent: false, safe: false, violations: ["remote: <b>write</b> 1:2 & more"] }
        const html = renderReport({ options: defaultSimOptions(), result: bad, timeline })
        expect(html).toContain('<p class="verdict bad" id="verdict">verdict: NOT CONSISTENT</p>')
        expect(html).toContain("<li>remote: &lt;b&gt;write&lt;/b&gt; 1:2 &amp; more</li>")
    })

    it("a long series is thinned to at most 2,000 points and keeps its peaks", () => {
        const n = 20000
        const t = Array.from({ length: n }, (_, i) => i * 100)
        const v = Array.from({ length: n }, (_, i) => (i === 12345 ? 9000 : i % 7))
        const svg = renderChart({ id: "x", title: "x", unit: "", series: [{ name: "s", colour: "#000", values: v }] }, t, [])
        const c = parseCharts(svg)
        const line = c.get("x")!.lines[0]
        expect(line.points.length).toBeLessThanOrEqual(2000)
        expect(line.samples).toBe(n)
        const back = values(c.get("x")!.geo, line)
        expect(Math.max(...back.map(([, y]) => y))).toBeCloseTo(9000, 0)
        expect(back[back.length - 1][0]).toBeCloseTo(t[n - 1], 0)
    })

    it("axis tops are 1, 2 or 5 times a power of ten", () => {
        expect([0, 0.3, 1, 1.1, 3, 7, 10, 11, 4999, 5001].map(niceCeiling)).toEqual([1, 0.5, 1, 2, 5, 10, 10, 20, 5000, 10000])
    })

    it("every chart of an empty timeline still renders", () => {
        const tl: Timeline = { sampleMs: 100, t: [], boards: [], remote: { appliedSeq: [], up: [], violations: [] }, marks: [] }
        for (const c of chartsOf(tl)) expect(renderChart(c, tl.t, tl.marks)).toMatch(/^<svg[\s\S]*<\/svg>$/)
    })
})
