// Runs a simulation in step with wall time (at a chosen speed, or as fast as it goes) while the
// event loop serves the board consoles and redraws the dashboard (Node only).
import { performance } from "node:perf_hooks"
import { ConsoleHub } from "../console/hub"
import { ConsoleServer } from "../console/tcp"
import { FaultLog } from "../faultLog"
import { Simulation, SimResult } from "../sim"
import { TimelineSampler } from "../timeline"
import { DashboardView, renderDashboard, renderPlainLine, Screen } from "./dashboard"

export type DashboardMode = "tty" | "plain" | "off"

export interface LiveOptions {
    /** Multiple of real time; Infinity: as fast as possible. */
    speed: number
    dashboard: DashboardMode
    /** Where the dashboard and the messages go. */
    out: NodeJS.WriteStream | NodeJS.WritableStream
    /** Dashboard redraws per second of wall time (tty mode). */
    refreshHz?: number
    /** Plain mode: one line per this much virtual time. */
    plainEveryMs?: number
}

/** Wall time one slice of simulation may take before the event loop gets a turn. */
const SLICE_MS = 25
/** Events run between two looks at the wall clock. */
const EVENTS_PER_CHECK = 2000

export class LiveRun {
    private stopRequested = false
    private wallStart = 0
    private behindMs = 0
    private phase = "running"
    private screen: Screen | null = null
    private nextPlainAt: number

    constructor(
        readonly sim: Simulation,
        readonly sampler: TimelineSampler,
        readonly faults: FaultLog,
        readonly hub: ConsoleHub | null,
        readonly server: ConsoleServer | null,
        private opts: LiveOptions
    ) {
        this.nextPlainAt = opts.plainEveryMs ?? 5000
        if (opts.dashboard === "tty") this.screen = new Screen(opts.out as NodeJS.WriteStream)
    }

    /** Asks the run to stop now (Ctrl-C): the workload stops, the remote catches up, run() ends. */
    stop(): void {
        this.stopRequested = true
    }

    isStopping(): boolean {
        return this.stopRequested
    }

    /** Starts the simulation and runs it until its duration or stop(); then finishes it
     * (drain and verdict) and returns the result. */
    async run(): Promise<SimResult> {
        const sim = this.sim
        sim.start()
        this.sampler.start()
        this.wallStart = performance.now()
        const refresh = this.opts.dashboard === "tty" ? setInterval(() => this.draw(), 1000 / (this.opts.refreshHz ?? 5)) : null
        this.draw()
        try {
            await this.pace()
        } finally {
            if (refresh) clearInterval(refresh)
        }
        this.phase = "stopping: the remote catches up"
        this.draw()
        // let the dashboard line out before the (synchronous) drain
        await new Promise((r) => setImmediate(r))
        const result = sim.finish()
        this.sampler.stop()
        this.phase = "done"
        this.draw()
        if (this.screen) this.screen.release()
        return result
    }

    private pace(): Promise<void> {
        const sim = this.sim
        const k = sim.kernel
        const end = sim.opts.durationMs
        const speed = this.opts.speed
        return new Promise((resolve, reject) => {
            const tick = () => {
                try {
                    const wall = performance.now()
                    let target = speed === Infinity ? end : Math.min(end, (wall - this.wallStart) * speed)
                    // plain lines show the state at exact multiples of their period
                    if (this.opts.dashboard === "plain") target = Math.min(target, this.nextPlainAt)
                    while (!this.stopRequested && k.millis() < target && performance.now() - wall < SLICE_MS) {
                        k.run(target, EVENTS_PER_CHECK)
                    }
                    this.behindMs = Math.max(0, target - k.millis())
                    this.plainLines()
                    if (this.stopRequested || k.millis() >= end) {
                        resolve()
                        return
                    }
                    if (speed === Infinity || this.behindMs > 0) setImmediate(tick)
                    else setTimeout(tick, 10)
                } catch (e) {
                    reject(e)
                }
            }
            tick()
        })
    }

    view(): DashboardView {
        const sim = this.sim
        const snapshot = this.sampler.snapshot()
        const goodput = snapshot.boards.map((b) => this.sampler.latestGoodput(b.member))
        let acked = 0
        for (const b of snapshot.boards) acked += b.writesAcked
        return {
            snapshot,
            goodput,
            seed: sim.opts.seed,
            mode: sim.opts.mode,
            faults: sim.opts.faults,
            durationMs: sim.opts.durationMs,
            speed: this.opts.speed,
            wallMs: performance.now() - this.wallStart,
            behindMs: this.behindMs,
            ports: this.hub ? this.hub.boards.map((b) => b.port) : snapshot.boards.map(() => -1).concat([-1]),
            writesAcked: acked,
            faultsInjected: sim.faultsInjected,
            lastFault: this.faults.last(),
            phase: this.phase,
        }
    }

    private draw(): void {
        if (!this.screen) return
        this.screen.draw(renderDashboard(this.view()), colourLine)
    }

    private plainLines(): void {
        if (this.opts.dashboard !== "plain") return
        const every = this.opts.plainEveryMs ?? 5000
        while (this.sim.kernel.millis() >= this.nextPlainAt) {
            this.opts.out.write(renderPlainLine(this.view()) + "\n")
            this.nextPlainAt += every
        }
    }
}

const GREEN = "\x1b[32m"
const RED = "\x1b[31;1m"
const YELLOW = "\x1b[33m"
const BOLD = "\x1b[1m"
const RESET = "\x1b[0m"

function colourLine(line: string, i: number): string {
    if (i === 0) return BOLD + line + RESET
    return line
        .replace(/consistent so far/, GREEN + "consistent so far" + RESET)
        .replace(/NOT CONSISTENT/, RED + "NOT CONSISTENT" + RESET)
        .replace(/^((primary \d+|remote) +)off/, "$1" + RED + "off" + RESET)
        .replace(/^((primary \d+|remote) +)boot/, "$1" + YELLOW + "boot" + RESET)
        .replace(/^(primary \d+ +)susp/, "$1" + YELLOW + "susp" + RESET)
}
