// The sim command's runs: in virtual time at full speed (batch), or live in step with wall
// time with the dashboard and the board consoles; either writes the report and the export
// when asked (Node only).
import { statSync } from "node:fs"
import { dirname } from "node:path"
import { writeFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { ConsoleHub } from "./console/hub"
import { ConsoleServer, DEFAULT_CONSOLE_PORT } from "./console/tcp"
import { ApplyRecorder, exportRun } from "./export"
import { FaultLog } from "./faultLog"
import { DashboardMode, LiveRun } from "./live/driver"
import { renderReport } from "./report"
import { Simulation, SimOptions, SimResult } from "./sim"
import { sampleIntervalFor, TimelineSampler } from "./timeline"

export interface SimOutputs {
    /** Write the HTML report here. */
    reportFile: string | null
    /** Export the history and the images into this directory. */
    exportDir: string | null
}

export interface LiveSettings {
    /** Multiple of real time; Infinity: as fast as possible. */
    speed: number
    /** First console port (0: any free ports), or null for no consoles. */
    consolePort: number | null
    /** The port was given on the command line: a taken port is an error, not a reason to
     * try the next block. */
    consolePortGiven: boolean
    pty: boolean
    dashboard: DashboardMode
}

export interface RunOutcome {
    result: SimResult
    /** Lines for the summary: where the report and the export went. */
    notes: string[]
}

/** Checks that the outputs can be written, before a run spends time (throws with one line). */
export function checkOutputs(o: SimOutputs): string | null {
    if (o.reportFile !== null) {
        const dir = dirname(o.reportFile)
        if (!isDir(dir)) return `--report: directory "${dir}" does not exist`
        if (isDir(o.reportFile)) return `--report: "${o.reportFile}" is a directory; give a file name such as run.html`
    }
    if (o.exportDir !== null && exists(o.exportDir) && !isDir(o.exportDir)) return `--export: "${o.exportDir}" is a file, not a directory`
    return null
}

function exists(p: string): boolean {
    try {
        statSync(p)
        return true
    } catch {
        return false
    }
}

function isDir(p: string): boolean {
    try {
        return statSync(p).isDirectory()
    } catch {
        return false
    }
}

function writeOutputs(
    sim: Simulation,
    sampler: TimelineSampler,
    applies: ApplyRecorder | null,
    result: SimResult,
    outputs: SimOutputs,
    wallMs: number
): string[] {
    const notes: string[] = []
    if (outputs.reportFile !== null) {
        writeFileSync(outputs.reportFile, renderReport({ options: sim.opts, result, timeline: sampler.timeline, wallMs }))
        notes.push(`report: ${outputs.reportFile}`)
    }
    if (outputs.exportDir !== null && applies) {
        exportRun(sim, result, applies, outputs.exportDir)
        notes.push(`export: ${outputs.exportDir} (check it independently: node bin/check-export.mjs ${outputs.exportDir})`)
    }
    return notes
}

/** A run in virtual time, as fast as it goes. */
export function runBatch(o: SimOptions, outputs: SimOutputs): RunOutcome {
    const sim = new Simulation(o)
    if (outputs.reportFile === null && outputs.exportDir === null) return { result: sim.run(), notes: [] }
    const started = performance.now()
    const faults = new FaultLog(sim)
    const sampler = new TimelineSampler(sim, faults, sampleIntervalFor(o.durationMs))
    const applies = outputs.exportDir !== null ? new ApplyRecorder(sim) : null
    sampler.start()
    const result = sim.run()
    sampler.stop()
    return { result, notes: writeOutputs(sim, sampler, applies, result, outputs, performance.now() - started) }
}

/** What a live run prints before it starts: the consoles and how to reach them. */
function banner(o: SimOptions, live: LiveSettings, hub: ConsoleHub | null): string[] {
    const pace = live.speed === Infinity ? "as fast as it goes" : live.speed === 1 ? "at real-time pace" : `at ${live.speed}x real time`
    const lines = [`seqmirror: ${o.boards} primary board(s) and a remote, seed ${o.seed}, ${o.durationMs / 1000} s of workload ${pace}`]
    if (hub) {
        lines.push("board consoles (e.g. nc 127.0.0.1 PORT, then type help):")
        for (const b of hub.boards) lines.push(`  ${b.name.padEnd(10)} port ${b.port}${b.pty ? "   pty " + b.pty : ""}`)
    }
    return lines
}

/**
 * A live run: the kernel advances with wall time at `live.speed`, the consoles answer on TCP,
 * the dashboard redraws. Ends after the duration or at Ctrl-C (SIGINT, SIGTERM); a second
 * Ctrl-C quits at once.
 */
export async function runLive(o: SimOptions, live: LiveSettings, outputs: SimOutputs, out: NodeJS.WriteStream): Promise<RunOutcome> {
    const sim = new Simulation(o)
    const faults = new FaultLog(sim)
    const sampler = new TimelineSampler(sim, faults, sampleIntervalFor(o.durationMs))
    const applies = outputs.exportDir !== null ? new ApplyRecorder(sim) : null
    const hub = live.consolePort !== null ? new ConsoleHub(sim, faults) : null
    const server = hub ? new ConsoleServer(hub) : null
    if (server) {
        await server.listen(live.consolePort ?? DEFAULT_CONSOLE_PORT, !live.consolePortGiven)
        if (live.pty) await server.openPtys()
    }
    for (const l of banner(o, live, hub)) out.write(l + "\n")
    if (live.dashboard !== "tty") out.write("Ctrl-C stops the run and prints the summary\n")
    const run = new LiveRun(sim, sampler, faults, hub, server, { speed: live.speed, dashboard: live.dashboard, out })
    const onSignal = () => {
        if (run.isStopping()) {
            out.write("\nseqmirror: stopped without a summary\n")
            process.exit(130)
        }
        run.stop()
    }
    process.on("SIGINT", onSignal)
    process.on("SIGTERM", onSignal)
    const started = performance.now()
    let result: SimResult
    try {
        result = await run.run()
    } finally {
        process.removeListener("SIGINT", onSignal)
        process.removeListener("SIGTERM", onSignal)
    }
    if (hub && server) {
        hub.announce("run over: verdict " + (result.consistent ? "consistent" : "NOT CONSISTENT"))
        await server.close("console closed: the simulation ended")
    }
    return { result, notes: writeOutputs(sim, sampler, applies, result, outputs, performance.now() - started) }
}

/** The text summary of a run. */
export function formatSummary(r: SimResult): string[] {
    const lines = [
        `seed ${r.seed}: ${r.boards} board(s), ${(r.virtualMs / 1000).toFixed(1)} s virtual, ` +
            `${r.writesAcked} writes acknowledged, ${r.portionsApplied} portions applied, applied seq ${r.appliedSeq}`,
        `verdict: ${r.consistent ? "consistent" : "NOT CONSISTENT"}`,
        `ack latency p50 ${r.ackLatencyMs.p50} ms, p99 ${r.ackLatencyMs.p99} ms; RPO lag p50 ${r.rpoLagMs.p50} ms, p99 ${r.rpoLagMs.p99} ms, max ${r.rpoLagMs.max} ms; link efficiency ${(r.linkEfficiency * 100).toFixed(1)}%`,
    ]
    const f = Object.entries(r.faultsInjected).filter(([, v]) => v > 0)
    if (f.length > 0) lines.push("faults injected: " + f.map(([k, v]) => `${k} ${v}`).join(", "))
    const x = Object.entries(r.framesRejected).filter(([, v]) => v > 0)
    if (x.length > 0) lines.push("frames rejected by the sealed links: " + x.map(([k, v]) => `${k} ${v}`).join(", "))
    if (r.writesFailed + r.suspensions + r.resyncs + r.ackedDuringSuspension > 0)
        lines.push(
            `writes failed ${r.writesFailed}; replication suspended ${r.suspensions} time(s), ${r.ackedDuringSuspension} writes acknowledged while suspended; full resyncs ${r.resyncs}`
        )
    for (const v of r.violations.slice(0, 20)) lines.push(`  violation: ${v}`)
    return lines
}
