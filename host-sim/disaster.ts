// The simulator's disaster (--disaster T): the primary site is lost, the remote is promoted,
// the apps write to it, new boards restore from it, and the role fails back (Node only).

import { failback, promote, PromoteError, writePromoted } from "../firmware/remote/remotePromote"
import { WriteError } from "../firmware/pipeline/primaryTypes"
import type { RemoteBoard } from "../firmware/remote/remoteBoard"
import { Prng } from "./prng"
import type { Simulation } from "./sim"
import { FOREVER_MS, OPERATOR_MS } from "./sim"

/** What a disaster run reports (SimResult.disaster). */
export interface DisasterResult {
    /** When every primary was lost, and when the operator's promote ended (-1: never). */
    atMs: number
    promotedAtMs: number
    /** The seq of the promoted image. */
    promotedSeq: number
    /** The failover's data loss: as the remote reported it at the promotion (what it heard of
     * and did not apply, and the age of its last apply), and as the checker counts it
     * (acknowledged writes not in the promoted image, and the age of the oldest at the
     * disaster, ms). */
    dataLoss: {
        remote: { writes: number; seqs: number; oldestMs: number; appliedAgeMs: number }
        actual: { writes: number; oldestMs: number }
    }
    /** Writes the apps had applied on the promoted remote. */
    promotedWrites: number
    /** When the new boards came up, when the operator asked for the failback, and when the
     * remote handed the role back (-1: it did not). */
    newBoardsAtMs: number
    failbackAtMs: number
    failedBackAtMs: number
    failedBack: boolean
}

/** Share of the time after the disaster at which the new boards come, and the failback. */
const NEW_BOARDS_AT = 0.4
const FAILBACK_AT = 0.6

/**
 * Plays a disaster in a run: at `atMs` every primary is lost with its flash (its app's writes
 * the remote does not show are lost with it: the checker excuses them, and counts those
 * acknowledged); OPERATOR_MS later the operator promotes the remote, and the apps write to it;
 * new boards with blank flashes take the primaries' places later and restore from it; then
 * the operator fails back, and once the remote has handed the role back the apps write to their
 * boards again. Each board's restored image must be the remote's (Simulation.restored).
 */
export class Disaster {
    readonly result: DisasterResult
    /** The apps write to the remote (promoted, not failing back). */
    private toRemote = false
    /** The primaries are lost and not yet handed the role back. */
    private lost = false

    constructor(
        private sim: Simulation,
        readonly atMs: number
    ) {
        this.result = {
            atMs,
            promotedAtMs: -1,
            promotedSeq: 0,
            dataLoss: { remote: { writes: 0, seqs: 0, oldestMs: 0, appliedAgeMs: -1 }, actual: { writes: 0, oldestMs: 0 } },
            promotedWrites: 0,
            newBoardsAtMs: -1,
            failbackAtMs: -1,
            failedBackAtMs: -1,
            failedBack: false,
        }
    }

    /** Whether board b's app may write now, and where: to the remote while it is promoted,
     * else to its board (`boardUp`) unless the primaries are lost. */
    isUp(b: number, boardUp: boolean): boolean {
        if (this.toRemote) return this.remoteTakes()
        if (this.lost) return false
        return b >= 0 && boardUp
    }

    /** From the disaster until the role is back: the remote holds the only copy. */
    active(): boolean {
        return this.sim.kernel.millis() >= this.atMs && !this.result.failedBack
    }

    takesWrites(): boolean {
        return this.toRemote
    }

    private board(): RemoteBoard | null {
        const r = this.sim.group.remote
        return r.up ? r.board : null
    }

    private remoteTakes(): boolean {
        const rb = this.board()
        return rb !== null && rb.promoted && rb.promoteReady && !rb.failbackAsked
    }

    /** Board b's app writes to the promoted remote. */
    write(b: number, lba: number, data: Buffer, done: (err: number, seq: number) => void): void {
        const rb = this.board()
        if (!rb) return done(WriteError.PowerLost, 0)
        writePromoted(rb, b, lba, data, (err, seq) => {
            if (err === PromoteError.Busy) return done(WriteError.Busy, 0)
            if (err !== 0) return done(WriteError.Store, 0)
            this.result.promotedWrites++
            this.sim.showPromotedWrite(b, lba, data, seq)
            done(0, seq)
        })
    }

    /** Schedules the disaster and the operator's actions. */
    schedule(): void {
        const sim = this.sim
        const k = sim.kernel
        const after = Math.max(1, sim.opts.durationMs - this.atMs)
        k.setTimer(this.atMs, () => this.strike())
        k.setTimer(this.atMs + OPERATOR_MS, () => this.promote())
        k.setTimer(this.atMs + Math.floor(after * NEW_BOARDS_AT), () => this.newBoards())
        k.setTimer(this.atMs + Math.floor(after * FAILBACK_AT), () => this.failback())
        // a remote power cut loses the apps' writes in its hands; what it holds is on its flash
        const g = sim.group
        const prevCut = g.onPowerCut
        g.onPowerCut = (p, offMs, replaced) => {
            if (prevCut) prevCut(p, offMs, replaced)
            if (p === null && this.toRemote) {
                for (const a of sim.apps) a.powerLost()
                sim.reloadShadowFromRemote()
            }
        }
    }

    /** Every primary is lost with its flash, wherever it is. */
    private strike(): void {
        const sim = this.sim
        this.lost = true
        const prng = new Prng((sim.opts.seed ^ 0xd15a5 ^ 0x7e) >>> 0)
        this.result.dataLoss.actual = sim.lostAtDisaster(this.atMs)
        for (const p of sim.group.primaries) {
            sim.apps[p.member].powerLost()
            sim.losePrimary(p, prng.fork(p.member), FOREVER_MS)
        }
        sim.fault("group", "disaster: every primary is lost with its flash")
    }

    /** The operator promotes the remote, and watches: one that restarted before it recorded
     * the promotion is promoted again; one that recorded it runs promoted. */
    private promote(): void {
        const rb = this.board()
        if (rb && !rb.promoted)
            promote(rb, (err, report) => {
                if (err !== 0 || !report) return this.sim.fault("remote", "promote failed (" + err + "): the operator promotes again")
                this.result.dataLoss.remote = {
                    writes: report.writesLost,
                    seqs: report.seqsLost,
                    oldestMs: Math.round(report.oldestMs),
                    appliedAgeMs: Math.round(report.appliedAgeMs),
                }
                this.promoted(rb)
            })
        this.sim.kernel.setTimer(OPERATOR_MS, () => {
            if (this.result.promotedAtMs >= 0) return
            const now = this.board()
            // (a remote that recorded the promotion and restarted before it said so)
            if (now && now.promoted && now.promoteReady) this.promoted(now)
            else this.promote()
        })
    }

    private promoted(rb: RemoteBoard): void {
        if (this.result.promotedAtMs >= 0) return
        this.result.promotedAtMs = Math.round(this.sim.kernel.millis())
        this.result.promotedSeq = rb.promotedSeq
        this.toRemote = true
        this.sim.fault("remote", "operator promotes the remote as of seq " + rb.promotedSeq)
        for (const a of this.sim.apps) a.issue()
    }

    /** New boards with blank flashes in the primaries' places: they restore from the remote. */
    private newBoards(): void {
        // (they restore from the promoted image: a board that restored before the promotion
        // would be fenced by it)
        if (this.result.promotedAtMs < 0) {
            this.sim.kernel.setTimer(OPERATOR_MS, () => this.newBoards())
            return
        }
        this.result.newBoardsAtMs = Math.round(this.sim.kernel.millis())
        for (const p of this.sim.group.primaries) {
            p.restoring = true
            p.heldOff = false
            if (!p.up) this.sim.group.bootPrimary(p)
        }
        this.sim.fault("group", "new boards take the lost primaries' places")
    }

    /** The operator fails back once the remote is promoted (again later while it is not). */
    private failback(): void {
        const sim = this.sim
        const rb = this.board()
        if (!rb || this.result.promotedAtMs < 0 || !rb.promoteReady) {
            sim.kernel.setTimer(OPERATOR_MS, () => this.failback())
            return
        }
        if (this.result.failbackAtMs < 0) this.result.failbackAtMs = Math.round(sim.kernel.millis())
        this.toRemote = false
        failback(rb, (err) => {
            if (err !== 0) {
                sim.fault("remote", "failback failed (" + err + "): the operator asks again")
                sim.kernel.setTimer(OPERATOR_MS, () => sim.whenUp("remote", () => this.failback()))
                return
            }
            sim.fault("remote", "operator fails back at seq " + rb.appliedSeq())
        })
        this.watchFailback()
    }

    /** Until the role is back: a remote that restarted before it recorded the failback is
     * asked again. */
    private watchFailback(): void {
        const sim = this.sim
        sim.kernel.setTimer(OPERATOR_MS, () => {
            if (this.result.failedBack) return
            const rb = this.board()
            if (rb && rb.promoted && rb.promoteReady && !rb.failbackAsked) return this.failback()
            this.watchFailback()
        })
    }

    /** The remote handed the role back (its onFailedBack, on every boot). */
    failedBack(): void {
        if (this.result.failedBack) return
        this.result.failedBack = true
        this.lost = false
        this.result.failedBackAtMs = Math.round(this.sim.kernel.millis())
        this.sim.fault("remote", "failback done: the primaries hold the writable role again")
        for (const a of this.sim.apps) a.issue()
    }

    /** At the judgement: a failback that did not end is a liveness violation. */
    judge(liveness: string[]): void {
        if (this.result.promotedAtMs < 0) liveness.push("disaster: the remote was never promoted")
        else if (!this.result.failedBack) liveness.push("disaster: the failback did not complete")
    }
}
