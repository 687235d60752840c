// What happened to the simulated hardware, and when: power cuts, link outages, a lost shuttle,
// a regenerated shuttle; and what replication did about it: a member suspended or resumed, the
// remote committed a resync (the timeline's sampler notes those). The timeline marks them on
// the report's charts, the dashboard shows the last one and the consoles log them (Node only).
import { FOREVER_MS, Simulation } from "./sim"

export type FaultKind = "power" | "link down" | "link up" | "shuttle drop" | "shuttle regenerated" | "suspend" | "resume" | "resync commit" | "storage"

export interface FaultEvent {
    /** Virtual time (ms). */
    t: number
    kind: FaultKind
    /** "primary 0", ..., "remote", or "bus". */
    target: string
    /** What happened, as a phrase: "power cut, off for 200 ms", "link cut", ... */
    detail: string
}

export class FaultLog {
    readonly events: FaultEvent[] = []
    private listeners: Array<(e: FaultEvent) => void> = []

    /** Follows the group's power cuts and link outages from now on. */
    constructor(private sim: Simulation) {
        const g = sim.group
        const prevCut = g.onPowerCut
        g.onPowerCut = (p, offMs, replaced) => {
            if (prevCut) prevCut(p, offMs, replaced)
            const off = offMs >= FOREVER_MS ? "off for good" : "off for " + Math.round(offMs) + " ms"
            this.add("power", p ? "primary " + p.member : "remote", replaced ? "replaced by a new board with a blank flash, " + off : "power cut, " + off)
        }
        // the rot, remotefail and ram classes, and the operator's decisions
        const prevFault = sim.onFault
        sim.onFault = (target, detail) => {
            if (prevFault) prevFault(target, detail)
            this.add("storage", target, detail)
        }
        g.wires.forEach((w, b) => {
            const prev = w.onUpChange
            w.onUpChange = (up) => {
                if (prev) prev(up)
                this.add(up ? "link up" : "link down", "primary " + b, up ? "link restored" : "link cut")
            }
        })
    }

    add(kind: FaultKind, target: string, detail: string): FaultEvent {
        const e: FaultEvent = { t: Math.round(this.sim.kernel.millis() * 1000) / 1000, kind, target, detail }
        this.events.push(e)
        for (const l of this.listeners) l(e)
        return e
    }

    listen(fn: (e: FaultEvent) => void): void {
        this.listeners.push(fn)
    }

    last(): FaultEvent | null {
        return this.events.length > 0 ? this.events[this.events.length - 1] : null
    }
}
