// Samples a running simulation every few virtual milliseconds: per board its seqs, aux ring
// fill, spill, link goodput, RPO lag and whether it suspended replication; for the remote its
// applied seq. The dashboard reads the newest values, the report draws the series, the summary
// quotes them (Node only). A member that suspended or resumed since the last sample, and a
// resync the remote committed, are events of the fault log, marked like the faults.
import { FaultEvent, FaultLog } from "./faultLog"
import { BoardClock } from "./boardClock"
import { Simulation } from "./sim"
import { ShuttleAgent } from "../firmware/shuttle/agent"
import { PrimaryBoard } from "../firmware/pipeline/primary"
import { RemoteBoard } from "../firmware/remote/remoteBoard"
import { reasonText } from "../firmware/console/commands"

/** One primary board's state at one moment. */
/** up: the firmware runs; boot: powered, still booting (mounting its flash); off: no power. */
export type PowerState = "up" | "boot" | "off"

function powerState(up: boolean, clock: BoardClock | null): PowerState {
    if (up) return "up"
    return clock && clock.isAlive() ? "boot" : "off"
}

export interface BoardSnapshot {
    member: number
    address: number
    up: boolean
    state: PowerState
    captureSeq: number
    releasedSeq: number
    ringUsed: number
    ringSlots: number
    /** Portions sent from the flash log because they did not fit the aux ring (all boots). */
    spill: number
    /** Payload bytes the remote received from this board (all boots). */
    bytesDelivered: number
    rpoLagMs: number
    rpoLagSeqs: number
    writesAcked: number
    boots: number
    /** Replication is suspended: the board acknowledges writes locally (false while off). */
    suspended: boolean
    /** Why (SuspendReason of firmware/pipeline/primary.ts; 0 when not suspended). */
    suspendReason: number
}

export interface RemoteSnapshot {
    up: boolean
    state: PowerState
    appliedSeq: number
    stagedPortions: number
    /** A full resync is under way (the remote holds at its applied seq until it is in). */
    resyncing: boolean
    /** The member whose suspension the remote last heard of since its last resync's commit
     * (-1: none): the remote holds its image (its applied seq) until the delta resync commits. */
    suspendedMember: number
    /** Why that member suspended (SuspendReason). */
    suspendReason: number
    /** Safety violations found so far (the checker runs after every apply). */
    violations: number
    checks: number
}

export interface Snapshot {
    t: number
    boards: BoardSnapshot[]
    remote: RemoteSnapshot
}

/** Columns of one board's series; index i belongs to Timeline.t[i]. */
export interface BoardSeries {
    member: number
    address: number
    ringSlots: number
    captureSeq: number[]
    releasedSeq: number[]
    /** Aux ring fill, % of its slots. */
    ringFill: number[]
    spill: number[]
    /** Link goodput over the last sample interval, payload bytes per second. */
    goodput: number[]
    rpoLagMs: number[]
    rpoLagSeqs: number[]
    up: number[]
    /** 1 while replication is suspended on the board. */
    suspended: number[]
}

export interface Timeline {
    sampleMs: number
    t: number[]
    boards: BoardSeries[]
    remote: { appliedSeq: number[]; up: number[]; violations: number[] }
    marks: FaultEvent[]
}

/** A counter that firmware instances reset at every boot, summed over all of them. */
class AcrossBoots {
    private inst: unknown = null
    private last = 0
    private base = 0
    value(inst: unknown, v: number): number {
        if (inst !== this.inst) {
            this.base += this.last
            this.inst = inst
            this.last = 0
        }
        this.last = v
        return this.base + v
    }
}

/** Picks a sample interval that keeps a run near 3,000 samples, at least 100 ms. */
export function sampleIntervalFor(durationMs: number): number {
    const raw = durationMs / 3000
    return raw <= 100 ? 100 : Math.ceil(raw / 100) * 100
}

export class TimelineSampler {
    readonly timeline: Timeline
    private spill: AcrossBoots[] = []
    private delivered: AcrossBoots[] = []
    private lastRemoteApplied = 0
    private regenerations: number[] = []
    private regenAgent: (ShuttleAgent | null)[] = []
    private prevDelivered: number[] = []
    private prevT = 0
    private running = false
    private hadShuttle = false
    /** Per primary: the board (boot) last sampled, its suspensions then and whether it was
     * suspended; for the remote, its board and the resyncs it had committed. */
    private suspBoard: (PrimaryBoard | null)[] = []
    private suspCount: number[] = []
    private wasSuspended: boolean[] = []
    private resyncBoard: RemoteBoard | null = null
    private resyncsApplied = 0

    constructor(
        private sim: Simulation,
        readonly faults: FaultLog,
        sampleMs: number
    ) {
        const g = sim.group
        this.timeline = { sampleMs, t: [], boards: [], remote: { appliedSeq: [], up: [], violations: [] }, marks: faults.events }
        for (const p of g.primaries) {
            this.spill.push(new AcrossBoots())
            this.delivered.push(new AcrossBoots())
            this.regenerations.push(0)
            this.regenAgent.push(null)
            this.prevDelivered.push(0)
            this.suspBoard.push(null)
            this.suspCount.push(0)
            this.wasSuspended.push(false)
            this.timeline.boards.push({
                member: p.member,
                address: p.address,
                ringSlots: 0,
                captureSeq: [],
                releasedSeq: [],
                ringFill: [],
                spill: [],
                goodput: [],
                rpoLagMs: [],
                rpoLagSeqs: [],
                up: [],
                suspended: [],
            })
        }
    }

    /** Samples now and then every sampleMs of virtual time until stop(). */
    start(): void {
        if (this.running) return
        this.running = true
        this.prevT = this.sim.kernel.millis()
        const tick = () => {
            if (!this.running) return
            this.sample()
            this.sim.kernel.setTimer(this.timeline.sampleMs, tick)
        }
        tick()
    }

    stop(): void {
        if (this.running) this.sample()
        this.running = false
    }

    /** The state of the group now (cheap: the dashboard calls it several times a second). */
    snapshot(): Snapshot {
        const sim = this.sim
        const g = sim.group
        const boards: BoardSnapshot[] = []
        for (const p of g.primaries) {
            const b = p.board
            const remoteCh = g.remote.channels[p.member]
            boards.push({
                member: p.member,
                address: p.address,
                up: p.up && b !== null,
                state: powerState(p.up && b !== null, p.clock),
                captureSeq: b ? b.captureSeq() : 0,
                releasedSeq: b ? b.releasedSeq() : 0,
                ringUsed: b ? b.ring.count : 0,
                ringSlots: b ? b.ring.slots : 0,
                spill: this.spill[p.member].value(b, b ? b.portionsFromFlash : 0),
                bytesDelivered: this.delivered[p.member].value(remoteCh ?? null, remoteCh ? remoteCh.counters.payloadBytesDelivered : 0),
                rpoLagMs: Math.round(sim.rpoLagMs(p.member)),
                rpoLagSeqs: sim.rpoLagSeqs(p.member),
                writesAcked: sim.history.ackedHigh[p.member],
                boots: p.boots,
                suspended: p.up && b !== null && b.suspended,
                suspendReason: p.up && b !== null && b.suspended ? b.suspendReason : 0,
            })
        }
        const r = g.remote
        if (r.up && r.store) this.lastRemoteApplied = r.store.appliedSeq()
        return {
            t: sim.kernel.millis(),
            boards,
            remote: {
                up: r.up,
                state: powerState(r.up, r.clock),
                appliedSeq: this.lastRemoteApplied,
                stagedPortions: r.board ? r.board.stagedPortions() : 0,
                resyncing: r.board !== null && r.up && r.board.isResyncing(),
                suspendedMember: r.board !== null && r.up ? r.board.suspendedMember : -1,
                suspendReason: r.board !== null && r.up ? r.board.suspendReason : 0,
                violations: sim.violations.length,
                checks: sim.checksAfterApply,
            },
        }
    }

    /** Appends the current state to the series. */
    sample(): Snapshot {
        const s = this.snapshot()
        const tl = this.timeline
        const dt = (s.t - this.prevT) / 1000
        for (const b of s.boards) {
            const col = tl.boards[b.member]
            if (b.ringSlots > 0) col.ringSlots = b.ringSlots
            // a board without power has no seqs: the chart keeps its last ones
            const n = col.captureSeq.length
            col.captureSeq.push(b.up || n === 0 ? b.captureSeq : col.captureSeq[n - 1])
            col.releasedSeq.push(b.up || n === 0 ? b.releasedSeq : col.releasedSeq[n - 1])
            col.ringFill.push(b.ringSlots > 0 ? Math.round((b.ringUsed * 1000) / b.ringSlots) / 10 : 0)
            col.spill.push(b.spill)
            col.goodput.push(dt > 0 ? Math.round((b.bytesDelivered - this.prevDelivered[b.member]) / dt) : 0)
            this.prevDelivered[b.member] = b.bytesDelivered
            col.rpoLagMs.push(b.rpoLagMs)
            col.rpoLagSeqs.push(b.rpoLagSeqs)
            col.up.push(b.up ? 1 : 0)
            col.suspended.push(b.suspended ? 1 : 0)
            this.noteSuspension(b.member)
            const agent = this.sim.agents[b.member] ?? null
            if (agent !== this.regenAgent[b.member]) {
                this.regenAgent[b.member] = agent
                this.regenerations[b.member] = 0
            }
            if (agent && b.up) {
                const n = agent.counters.regenerations
                // the group's very first shuttle is made the same way: not an event
                if (n > this.regenerations[b.member] && this.hadShuttle)
                    this.faults.add("shuttle regenerated", "primary " + b.member, "shuttle regenerated, epoch " + agent.epochOf())
                this.regenerations[b.member] = n
            }
        }
        for (const a of this.sim.agents) if (a && a.epochOf() > 0) this.hadShuttle = true
        this.noteResync()
        tl.t.push(Math.round(s.t))
        tl.remote.appliedSeq.push(s.remote.appliedSeq)
        tl.remote.up.push(s.remote.up ? 1 : 0)
        tl.remote.violations.push(s.remote.violations)
        this.prevT = s.t
        return s
    }

    /**
     * A suspension or a resume of the member's replication since the last sample (a board's
     * suspensions count them; a resume ends one). A new boot starts afresh: its power cut is
     * the event, and the resync it takes part in ends with the remote's commit.
     */
    private noteSuspension(member: number): void {
        const p = this.sim.group.primaries[member]
        const board = p.up ? p.board : null
        if (!board) return
        if (board !== this.suspBoard[member]) {
            this.suspBoard[member] = board
            this.suspCount[member] = board.suspensions
            this.wasSuspended[member] = board.suspended
            return
        }
        const name = "primary " + member
        const more = board.suspensions > this.suspCount[member]
        if (this.wasSuspended[member] && (!board.suspended || more))
            this.faults.add("resume", name, "replication resumes: the group resyncs the blocks that changed")
        if (more) {
            const why = reasonText(board.suspendReason, this.sim.group.opts.suspendAfterMs)
            this.faults.add("suspend", name, "replication suspended at seq " + board.suspendedSeq + " (" + why + ")")
            // suspended and resumed between two samples (a long sample interval)
            if (!board.suspended) this.faults.add("resume", name, "replication resumes: the group resyncs the blocks that changed")
        }
        this.suspCount[member] = board.suspensions
        this.wasSuspended[member] = board.suspended
    }

    /** A resync (full, or delta after a suspension) the remote committed since the last sample. */
    private noteResync(): void {
        const r = this.sim.group.remote
        const board = r.up ? r.board : null
        if (!board) return
        if (board !== this.resyncBoard) {
            this.resyncBoard = board
            this.resyncsApplied = board.resyncsApplied
            return
        }
        if (board.resyncsApplied > this.resyncsApplied)
            this.faults.add("resync commit", "remote", "resync committed: the remote's image moves to seq " + board.appliedSeq() + " for every member")
        this.resyncsApplied = board.resyncsApplied
    }

    /** Goodput of the newest sample, per board (bytes per second). */
    latestGoodput(member: number): number {
        const g = this.timeline.boards[member].goodput
        return g.length > 0 ? g[g.length - 1] : 0
    }
}
