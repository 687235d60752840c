// A run's report: one self-contained HTML file (inline CSS and SVG, the data as JSON, no
// executable script, nothing fetched) with charts over virtual time and the final verdict
// (Node only).
import { FaultEvent, FaultKind } from "./faultLog"
import { SimOptions, SimResult } from "./sim"
import { Timeline } from "./timeline"

export interface ReportInput {
    options: SimOptions
    result: SimResult
    timeline: Timeline
    /** Wall time the run took (ms), when known. */
    wallMs?: number
}

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
const REMOTE_COLOUR = "#222222"
const MARK_COLOUR: Record<FaultKind, string> = {
    power: "#d62728",
    "link down": "#ff7f0e",
    "link up": "#2ca02c",
    "shuttle drop": "#9467bd",
    "shuttle regenerated": "#8c564b",
    suspend: "#c71585",
    resume: "#17becf",
    "resync commit": "#1a6b1a",
    storage: "#7f7f7f",
}

/** Points of a series above which a chart draws the min and max of buckets instead. */
const MAX_POINTS = 2000

export interface ChartSeries {
    name: string
    colour: string
    values: number[]
    dashed?: boolean
}

export interface Chart {
    id: string
    title: string
    unit: string
    series: ChartSeries[]
}

function esc(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
}

/** The smallest 1, 2 or 5 times a power of ten at or above v (1 for v <= 0). */
export function niceCeiling(v: number): number {
    if (!(v > 0)) return 1
    const p = Math.pow(10, Math.floor(Math.log10(v)))
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p
    return 10 * p
}

function fmt(v: number): string {
    if (v === 0) return "0"
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(v % 1e6 === 0 ? 0 : 1) + "M"
    if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(v % 1e3 === 0 ? 0 : 1) + "k"
    return Number.isInteger(v) ? String(v) : v.toFixed(1)
}

/** Indices to draw: all of them, or per bucket the first, min and max (keeps peaks). */
function pickIndices(values: number[]): number[] {
    const n = values.length
    if (n <= MAX_POINTS) return values.map((_, i) => i)
    const buckets = Math.floor(MAX_POINTS / 3)
    const out: number[] = []
    for (let k = 0; k < buckets; k++) {
        const a = Math.floor((k * n) / buckets)
        const b = Math.floor(((k + 1) * n) / buckets)
        let lo = a
        let hi = a
        for (let i = a; i < b; i++) {
            if (values[i] < values[lo]) lo = i
            if (values[i] > values[hi]) hi = i
        }
        const set = [a, lo, hi].sort((x, y) => x - y)
        for (const i of set) if (out[out.length - 1] !== i) out.push(i)
    }
    if (out[out.length - 1] !== n - 1) out.push(n - 1)
    return out
}

const W = 860
const H = 240
const LEFT = 60
const RIGHT = 20
const TOP = 28
const BOTTOM = 48

/**
 * One chart as inline SVG. The SVG carries its geometry (data-x0, data-y0, data-w, data-h,
 * data-tmin, data-tmax, data-ymax) so a tool can read values back from the polylines.
 */
export function renderChart(chart: Chart, t: number[], marks: FaultEvent[]): string {
    const w = W - LEFT - RIGHT
    const h = H - TOP - BOTTOM
    const tmin = t.length > 0 ? t[0] : 0
    const tmax = t.length > 1 ? t[t.length - 1] : tmin + 1
    let vmax = 0
    for (const s of chart.series) for (const v of s.values) if (v > vmax) vmax = v
    const ymax = niceCeiling(vmax)
    const x = (tv: number) => LEFT + ((tv - tmin) / (tmax - tmin)) * w
    const y = (v: number) => TOP + h - (v / ymax) * h
    const parts: string[] = []
    parts.push(
        `<svg class="chart" id="chart-${chart.id}" data-chart="${chart.id}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
            `data-x0="${LEFT}" data-y0="${TOP + h}" data-w="${w}" data-h="${h}" data-tmin="${tmin}" data-tmax="${tmax}" data-ymax="${ymax}" role="img" aria-label="${esc(chart.title)}">`
    )
    parts.push(`<text x="${LEFT}" y="16" class="title">${esc(chart.title)}${chart.unit ? " (" + esc(chart.unit) + ")" : ""}</text>`)
    // axes and grid
    for (let k = 0; k <= 4; k++) {
        const v = (ymax * k) / 4
        const yy = y(v).toFixed(1)
        parts.push(`<line class="grid" x1="${LEFT}" y1="${yy}" x2="${LEFT + w}" y2="${yy}"/>`)
        parts.push(`<text class="tick" x="${LEFT - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`)
    }
    const span = (tmax - tmin) / 1000
    const step = niceCeiling(span / 8)
    for (let s = Math.ceil(tmin / 1000 / step) * step; s * 1000 <= tmax + 1e-9; s += step) {
        const xx = x(s * 1000).toFixed(1)
        parts.push(`<text class="tick" x="${xx}" y="${TOP + h + 18}" text-anchor="middle">${fmt(s)} s</text>`)
    }
    parts.push(`<line class="axis" x1="${LEFT}" y1="${TOP + h}" x2="${LEFT + w}" y2="${TOP + h}"/>`)
    parts.push(`<line class="axis" x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${TOP + h}"/>`)
    // fault markers
    for (const m of marks) {
        if (m.t < tmin || m.t > tmax) continue
        const xx = x(m.t).toFixed(1)
        parts.push(
            `<line class="mark" data-kind="${esc(m.kind)}" data-t="${m.t}" x1="${xx}" y1="${TOP}" x2="${xx}" y2="${TOP + h}" stroke="${MARK_COLOUR[m.kind]}">` +
                `<title>${(m.t / 1000).toFixed(3)} s: ${esc(m.target)}: ${esc(m.detail)}</title></line>`
        )
    }
    // series
    chart.series.forEach((s, si) => {
        const idx = pickIndices(s.values)
        const pts = idx.map((i) => x(t[i]).toFixed(2) + "," + y(s.values[i]).toFixed(2)).join(" ")
        let max = 0
        for (const v of s.values) if (v > max) max = v
        parts.push(
            `<polyline class="series" data-series="${esc(s.name)}" data-points="${idx.length}" data-samples="${s.values.length}" data-max="${max}" fill="none" ` +
                `stroke="${s.colour}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="5,3"' : ""} points="${pts}"/>`
        )
        const lx = LEFT + 88 * si
        const ly = TOP + h + 30
        parts.push(
            `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${s.colour}"/><text class="legend" x="${lx + 14}" y="${ly}">${esc(s.name)}</text>`
        )
    })
    parts.push("</svg>")
    return parts.join("\n")
}

/** The charts of a timeline: RPO lag, aux ring fill, link goodput, seqs, spill. */
export function chartsOf(tl: Timeline): Chart[] {
    const colour = (b: number) => PALETTE[b % PALETTE.length]
    const per = (_name: string, pick: (b: Timeline["boards"][number]) => number[]) =>
        tl.boards.map((b) => ({ name: "primary " + b.member, colour: colour(b.member), values: pick(b) }))
    const seqs: ChartSeries[] = tl.boards.map((b) => ({ name: "primary " + b.member, colour: colour(b.member), values: b.captureSeq }))
    seqs.push({ name: "remote applied", colour: REMOTE_COLOUR, values: tl.remote.appliedSeq, dashed: true })
    return [
        { id: "rpo", title: "RPO lag: age of the oldest acknowledged write not yet applied on the remote", unit: "ms", series: per("rpo", (b) => b.rpoLagMs) },
        { id: "ring", title: "Aux ring fill", unit: "% of slots", series: per("ring", (b) => b.ringFill) },
        { id: "goodput", title: "Link goodput: payload delivered to the remote", unit: "bytes/s", series: per("goodput", (b) => b.goodput) },
        { id: "seq", title: "Capture seq of each board and the remote's applied seq", unit: "seq", series: seqs },
        { id: "spill", title: "Spill: portions sent from the flash log (cumulative)", unit: "portions", series: per("spill", (b) => b.spill) },
    ]
}

function row(k: string, v: string): string {
    return `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`
}

function pct(p: { p50: number; p99: number; max: number }, unit: string): string {
    return `p50 ${p.p50}${unit}, p99 ${p.p99}${unit}, max ${p.max}${unit}`
}

/** The whole report. */
export function renderReport(input: ReportInput): string {
    const { options: o, result: r, timeline: tl } = input
    const verdict = r.consistent ? "consistent" : "NOT CONSISTENT"
    const charts = chartsOf(tl)
    const faults = Object.entries(r.faultsInjected)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")
    const summary = [
        row("seed", String(r.seed)),
        row("boards", `${r.boards} primary board(s) and a remote`),
        row("mode", r.mode),
        row("faults", o.faults.length > 0 ? o.faults.join(", ") : "none"),
        row("faults injected", faults || "none"),
        row("virtual time", `${(r.virtualMs / 1000).toFixed(1)} s (workload ${(o.durationMs / 1000).toFixed(1)} s, then the remote catches up)`),
        ...(input.wallMs !== undefined ? [row("wall time", `${(input.wallMs / 1000).toFixed(1)} s`)] : []),
        row("writes", `${r.writesIssued} issued, ${r.writesAcked} acknowledged, ${r.writesFailed} failed`),
        row(
            "suspensions",
            `replication suspended ${r.suspensions} time(s), ${r.ackedDuringSuspension} writes acknowledged while suspended; full resyncs ${r.resyncs}` +
                (r.restores > 0 ? `; boards restored from the remote ${r.restores}` : "")
        ),
        row("portions applied", String(r.portionsApplied)),
        row("applied seq", String(r.appliedSeq)),
        row("acknowledgement latency", pct(r.ackLatencyMs, " ms")),
        row("RPO lag", pct(r.rpoLagMs, " ms") + "; " + pct(r.rpoLagSeqs, " seqs")),
        row("link efficiency", (r.linkEfficiency * 100).toFixed(1) + "% of the busy line carried payload"),
        row("sample interval", `${tl.sampleMs} ms virtual, ${tl.t.length} samples`),
        row("replay", r.replay),
    ].join("\n")
    const violations =
        r.violations.length > 0
            ? `<h3>Violations</h3><ul class="violations">${r.violations
                  .slice(0, 50)
                  .map((v) => `<li>${esc(v)}</li>`)
                  .join("")}</ul>`
            : ""
    const events =
        tl.marks.length > 0
            ? `<table class="events"><tr><th>time</th><th>where</th><th>what</th><th>detail</th></tr>${tl.marks
                  .slice(0, 500)
                  .map(
                      (m) =>
                          `<tr><td>${(m.t / 1000).toFixed(3)} s</td><td>${esc(m.target)}</td><td style="color:${MARK_COLOUR[m.kind]}">${esc(m.kind)}</td><td>${esc(m.detail)}</td></tr>`
                  )
                  .join("")}</table>${tl.marks.length > 500 ? `<p>(${tl.marks.length - 500} more)</p>` : ""}`
            : "<p>None.</p>"
    const data = JSON.stringify({ result: r, timeline: tl }).replace(/</g, "\\u003c")
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>seqmirror run, seed ${r.seed}: ${verdict}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 920px; }
h1 { font-size: 1.4em; }
.verdict { font-size: 1.3em; padding: 0.5em 1em; border-radius: 4px; display: inline-block; }
.verdict.ok { background: #e3f4e3; color: #1a6b1a; }
.verdict.bad { background: #fbe3e3; color: #a31515; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }
.chart { display: block; margin: 1.5em 0; }
.chart .title { font-size: 13px; font-weight: 600; }
.chart .tick, .chart .legend { font-size: 11px; fill: #444; }
.chart .grid { stroke: #e5e5e5; }
.chart .axis { stroke: #888; }
.chart .mark { stroke-width: 1; stroke-dasharray: 3,3; opacity: 0.8; }
.violations li { font-family: monospace; font-size: 12px; }
.events td { font-size: 12px; }
</style>
</head>
<body>
<h1>seqmirror run — seed ${r.seed}, ${r.boards} primary board(s)</h1>
<p class="verdict ${r.consistent ? "ok" : "bad"}" id="verdict">verdict: ${verdict}</p>
<p>safe (the remote never showed a write without one it depends on, no acknowledged write lost): <b>${r.safe}</b>;
caught up (every acknowledged write reached the remote once the faults stopped): <b>${r.caughtUp}</b>.</p>
${violations}
<table class="summary">
${summary}
</table>
<h2>Over time</h2>
<p>Dashed vertical lines mark events: <span style="color:${MARK_COLOUR.power}">power cut</span>,
<span style="color:${MARK_COLOUR["link down"]}">link down</span>, <span style="color:${MARK_COLOUR["link up"]}">link up</span>,
<span style="color:${MARK_COLOUR["shuttle drop"]}">shuttle lost</span>, <span style="color:${MARK_COLOUR["shuttle regenerated"]}">shuttle regenerated</span>;
and what replication did: <span style="color:${MARK_COLOUR.suspend}">suspend</span> (a member acknowledges writes locally, the remote holds its image),
<span style="color:${MARK_COLOUR.resume}">resume</span>, <span style="color:${MARK_COLOUR["resync commit"]}">resync commit</span> (the remote applies the group's resync in one commit).</p>
${charts.map((c) => renderChart(c, tl.t, tl.marks)).join("\n")}
<h2>Events</h2>
${events}
<script type="application/json" id="seqmirror-data">${data}</script>
</body>
</html>
`
}
