import { ConsoleHub } from "../../host-sim/console/hub"
import { FaultLog } from "../../host-sim/faultLog"
import { defaultSimOptions, Simulation, SimOptions } from "../../host-sim/sim"

/** A group with its console hub, stepped in virtual time by the test. */
export class ConsoleRig {
    readonly sim: Simulation
    readonly faults: FaultLog
    readonly hub: ConsoleHub
    /** Lines each board's console printed, in order (primaries, then the remote). */
    readonly out: string[][] = []

    constructor(opts: Partial<SimOptions> = {}) {
        this.sim = new Simulation({ ...defaultSimOptions(), boards: 3, durationMs: 600000, ...opts })
        this.faults = new FaultLog(this.sim)
        this.hub = new ConsoleHub(this.sim, this.faults)
        for (const b of this.hub.boards) {
            const lines: string[] = []
            this.out.push(lines)
            let partial = ""
            b.console.connect(
                {
                    write: (text) => {
                        partial += text
                        const parts = partial.split("\r\n")
                        partial = parts.pop() ?? ""
                        lines.push(...parts)
                    },
                },
                false
            )
        }
        this.sim.start()
    }

    /** Runs the simulation for `ms` of virtual time. */
    advance(ms: number): void {
        this.sim.kernel.run(this.sim.kernel.millis() + ms, Number.MAX_SAFE_INTEGER)
    }

    /** Types a line on board i's console and returns the lines printed while it ran. */
    type(i: number, line: string): string[] {
        const before = this.out[i].length
        this.hub.boards[i].console.input(line)
        return this.out[i].slice(before)
    }

    /** Runs virtual time until board i's console printed a line matching re (or gives up). */
    until(i: number, re: RegExp, maxMs = 5000): string | null {
        const start = this.sim.kernel.millis()
        let seen = this.out[i].length
        for (;;) {
            for (; seen < this.out[i].length; seen++) if (re.test(this.out[i][seen])) return this.out[i][seen]
            if (this.sim.kernel.millis() - start >= maxMs) return null
            this.advance(1)
        }
    }
}
