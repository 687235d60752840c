// Runs a simulated group in virtual time and judges the outcome (Node only).
import { seqAfter } from "../firmware/seq"
import { AckMode, Congestion, PrimaryBoard } from "../firmware/pipeline/primary"
import { checkCaughtUp, checkPrimary, checkRemote, decodeImage, lacksAcked } from "./checker"
import { GroupOptions, SimGroup, SimPrimary } from "./group"
import { readFlashImage } from "./flashImage"
import { attachVerifier, Verifier } from "../firmware/pipeline/verify"
import { attachPacing } from "../firmware/pipeline/rpoPacing"
import { StoreError, StoreRole } from "../firmware/store/types"
import { PartialMode, SlowMode, SpiNorChip } from "./models/spiNorChip"
import { FrameType } from "../firmware/shuttle/frames"
import { attachShuttle } from "./shuttleGroup"
import { I2cBus } from "./models/i2cBus"
import { ShuttleAgent } from "../firmware/shuttle/agent"
import { SimKernel } from "./kernel"
import { Prng } from "./prng"
import { App, BlockId, decodeBlock, History, WorkloadOptions } from "./workload"
import { RemoteBoard } from "../firmware/remote/remoteBoard"
import { formatEvents, formatMs, LinkDownEvent, PowerOffEvent } from "./simEvents"
import { UartWire } from "./models/uart"
import { FrameSealer, LinkSeal, SEAL_TAG_BYTES, SEALED_ANSWER, SEALED_SESSION } from "../firmware/link/seal"
import { RemoteSeal } from "../firmware/link/remoteSeal"
import { ChannelCounters } from "../firmware/link/counters"
import { SimCipher, seededBytes, seededKey } from "./nodeCipher"
import { AttackPool, LinkAdversary } from "./attack"
import { Disaster, DisasterResult } from "./disaster"
import { setCopier } from "./models/copyBytes"
import { presetApplied } from "./seqStart"

// the models' copies cut from Node's pool of small Buffers (not cleared first: every byte is
// copied), instead of memory of their own each
setCopier((b, n) => Buffer.from(n === b.length ? b : b.subarray(0, n)))

export type { LinkDownEvent, PowerOffEvent } from "./simEvents"

export interface SimOptions {
    boards: number
    seed: number
    durationMs: number
    mode: "consistent" | "none"
    baud: number
    faults: string[]
    rate: number
    /** Writes each board's app keeps outstanding (issued, not yet answered); absent: 4. */
    depth?: number
    /** Virtual time allowed after the workload stops for the remote to catch up. */
    drainMs: number
    /** Switches off one safety mechanism, to show that the checker finds the harm: "" (none),
     * "ack-gating", "manifest-check", "atomic-apply", "resync-copy" or "replay-window" (see
     * MUTATIONS). */
    mutation: string
    /** Bounded-RPO pacing target of every primary, ms (0: off). */
    rpoTargetMs: number
    /** Every primary verifies its image against the remote's this often (0: never); a block
     * found different is a violation (nothing in a run makes one). */
    verifyEveryMs?: number
    /** What a primary does at its replication history's bound (group.congestion): "pull-ahead"
     * (suspend, track, resync; the default) or "block" (hold acknowledgements first). */
    congestion?: "pull-ahead" | "block"
    /** Every primary's replication history bound in seqs (group.maxHistorySeqs, --history);
     * absent: the simulator's 256. The shipped board's is 6. */
    history?: number
    /** Boards powered off at a given time, for a while or for good (--power-off). */
    powerOff?: PowerOffEvent[]
    /** Links taken down at a given time for a while (--link-down). */
    linkDown?: LinkDownEvent[]
    /** The link's keys (--keys): "seeded", each member's key drawn from the seed and every
     * frame sealed (docs/FORMAT-link.md §11; the default), or "none", frames in the clear. */
    keys?: "seeded" | "none"
    /** The primary site is lost at this virtual time (--disaster): every primary with its
     * flash; the operator promotes the remote, the apps write to it, new boards restore from it
     * and the role fails back (host-sim/disaster.ts). */
    disasterMs?: number
    /** The group's first seq (--first-seq; absent: 1): every board's flash and the remote's
     * start as if the seq before it had been applied (host-sim/seqStart.ts), so that a run can
     * cross the wrap of the u32 seqs. */
    firstSeq?: number
}

/** A dependency no counter reaches: the checker's quick test leaves a block that names a write
 * the history lacks to checkRemote. */
const UNKNOWN_WRITE = 0x7fffffff
/** Reads of the remote's image at the end of a run, at most: it is read again when its image
 * changed during the reads (readRemoteImage); past it, the run is reported. */
const JUDGE_READS = 4

/** Frames the checker of the sealed links remembers per link end, those it sealed and those it
 * accepted: far more than an end seals while a frame of it may still arrive. A frame can take
 * long: an adversary's replay waits until the receiver is between frames, which a board off or
 * a long outage can make as long as it lasts (a genuine frame the outage cut was accepted 57 s
 * after it was sealed, in a run); the sender seals only a probe now and then meanwhile. */
export const AUDIT_FRAMES = 8192

/** Time off of a board powered off for good: it never comes back within a run. */
export const FOREVER_MS = 1e12

/** The `death` class: each primary, one after another while the workload runs, is off for 10
 * to 120 s (uniform). Drawn from a generator of its own, so the other classes' schedules stay
 * as they are. */
export interface Death {
    member: number
    atMs: number
    forMs: number
}

/** The operator's delay (the simulator plays the operator): a primary that holds a damaged
 * block with its alarm this long has its loss accepted (`damage accept`); a remote that says its
 * flash failed for good this long is replaced by a new board. */
export const OPERATOR_MS = 3000

export const DEATH_MIN_MS = 10000
export const DEATH_MAX_MS = 120000

export function deathSchedule(seed: number, boards: number, durationMs: number): Death[] {
    const rr = new Prng((seed ^ 0xdea7b0d) >>> 0)
    const order: number[] = []
    for (let b = 0; b < boards; b++) order.push(b)
    for (let i = order.length - 1; i > 0; i--) {
        const j = rr.int(i + 1)
        const t = order[i]
        order[i] = order[j]
        order[j] = t
    }
    const out: Death[] = []
    let t = 1000 + rr.int(Math.max(1, Math.floor(durationMs / 4)))
    for (const member of order) {
        const forMs = DEATH_MIN_MS + rr.int(DEATH_MAX_MS - DEATH_MIN_MS + 1)
        if (t < durationMs) out.push({ member, atMs: t, forMs })
        // the next one dies a while after this one is back: one member dead at a time
        t += forMs + 2000 + rr.int(8000)
    }
    return out
}

/**
 * The safety mechanisms a run can switch off, one at a time (the simulator changes the boards'
 * behaviour from outside; the firmware has no switch for them):
 * - ack-gating: writes are acknowledged once durable, without waiting for their seq's release;
 * - manifest-check: the remote applies a seq as soon as its manifest is there, whether or not
 *   every member's portions of it have arrived;
 * - atomic-apply: the remote makes each portion visible as soon as it is stored, instead of a
 *   whole seq at once by one commit record;
 * - resync-copy: in a full resync a member copies nothing (its store reports no version of any
 *   block to the copy), so a new remote gets only what the members still hold pinned;
 * - replay-window: the sealed links' receivers take a frame whatever its counter, so a frame
 *   replayed by the attack class's adversary is taken again.
 */
export const MUTATIONS = ["ack-gating", "manifest-check", "atomic-apply", "resync-copy", "replay-window"]

/** A sealed frame's identity for the checker of the sealed links: its type and counter (the
 * first 5 bytes), its tag (the last SEAL_TAG_BYTES) and its length, one byte a character. The
 * tag is a MAC over the rest under a key never used twice with one counter: two frames with the
 * same identity are the same frame, but with a chance of 2^-64. */
function frameId(b: Buffer, at: number, n: number): string {
    if (n >= 5 + SEAL_TAG_BYTES) {
        // (every sealed frame: one string made from the bytes, without views of the Buffer)
        const t = at + n - SEAL_TAG_BYTES
        return String.fromCharCode(
            b[at],
            b[at + 1],
            b[at + 2],
            b[at + 3],
            b[at + 4],
            b[t],
            b[t + 1],
            b[t + 2],
            b[t + 3],
            b[t + 4],
            b[t + 5],
            b[t + 6],
            b[t + 7],
            n & 0xffff
        )
    }
    return b.toString("latin1", at, at + n) + String.fromCharCode(n & 0xffff)
}

/** The last AUDIT_FRAMES distinct frames it was given: a set, and a ring of them in the order
 * given, whose oldest goes when a new one comes (a set's own first entry is slow to find once
 * many have gone from its front). */
class RecentFrames {
    private ring: string[] = []
    private set = new Set<string>()
    private next = 0

    add(d: string): void {
        if (this.set.has(d)) return
        if (this.ring.length < AUDIT_FRAMES) this.ring.push(d)
        else {
            this.set.delete(this.ring[this.next])
            this.ring[this.next] = d
            this.next = (this.next + 1) % AUDIT_FRAMES
        }
        this.set.add(d)
    }

    has(d: string): boolean {
        return this.set.has(d)
    }
}

export function defaultSimOptions(): SimOptions {
    return { boards: 1, seed: 1, durationMs: 10000, mode: "consistent", baud: 115200, faults: [], rate: 20, drainMs: 60000, mutation: "", rpoTargetMs: 0 }
}

/** The one command that repeats a run. */
export function replayCommand(o: SimOptions): string {
    const parts = ["npx seqmirror sim", `--boards ${o.boards}`, `--seed ${o.seed}`, `--duration ${formatMs(o.durationMs)}`]
    if (o.mode !== "consistent") parts.push(`--mode ${o.mode}`)
    if (o.baud !== 115200) parts.push(`--baud ${o.baud}`)
    if (o.faults.length > 0) parts.push(`--faults ${o.faults.join(",")}`)
    if (o.rate !== 20) parts.push(`--rate ${o.rate}`)
    if (o.depth !== undefined && o.depth !== 4) parts.push(`--depth ${o.depth}`)
    if (o.rpoTargetMs > 0) parts.push(`--rpo-target ${o.rpoTargetMs}ms`)
    if (o.verifyEveryMs) parts.push(`--verify-every ${formatMs(o.verifyEveryMs)}`)
    if (o.congestion === "block") parts.push("--congestion block")
    if (o.history !== undefined) parts.push(`--history ${o.history}`)
    if (o.mutation) parts.push(`--mutate ${o.mutation}`)
    if (o.powerOff && o.powerOff.length > 0) parts.push(`--power-off ${formatEvents(o.powerOff)}`)
    if (o.linkDown && o.linkDown.length > 0) parts.push(`--link-down ${formatEvents(o.linkDown)}`)
    if (o.keys === "none") parts.push("--keys none")
    if (o.disasterMs !== undefined) parts.push(`--disaster ${formatMs(o.disasterMs)}`)
    if (o.firstSeq !== undefined && o.firstSeq !== 1) parts.push(`--first-seq ${o.firstSeq}`)
    return parts.join(" ")
}

export interface Percentiles {
    p50: number
    p99: number
    max: number
}

export interface SimResult {
    seed: number
    boards: number
    mode: string
    faults: string[]
    virtualMs: number
    writesIssued: number
    writesAcked: number
    /** Portions the remote made visible at its applies: every portion staged on the remote
     * board (each staging counts, a resend staged twice twice) whose seq the remote then
     * applied. The export's applies.jsonl lists exactly these. */
    portionsApplied: number
    /** The totals of the final manifests the remote applied (docs/EXPORT.md, "Counters"):
     * at each commit, the portions of the seq committed, per its manifest (a resync's one
     * commit brings many seqs, but counts only the seq it commits at). */
    manifestPortionsApplied: number
    appliedSeq: number
    /** No safety violation and the remote caught up with every acknowledged write. */
    consistent: boolean
    /** No safety violation: the remote never showed a state that breaks a dependency, and no
     * acknowledged write was lost on a primary. */
    safe: boolean
    /** After the faults stopped, the remote caught up with every acknowledged write. */
    caughtUp: boolean
    violations: string[]
    ackLatencyMs: Percentiles
    rpoLagMs: Percentiles
    rpoLagSeqs: Percentiles
    linkEfficiency: number
    faultsInjected: Record<string, number>
    /** Writes the apps saw fail (an error answer), over every board. */
    writesFailed: number
    /** Times the primaries suspended replication, over every board and boot. */
    suspensions: number
    /** Full resyncs the remote committed, over its boots. */
    resyncs: number
    /** Frames the sealed links dropped, over every end and boot: droppedAuth (did not
     * authenticate), droppedReplay (seen before, or behind the replay window), handshakesRefused
     * (HELLOs without the member's key or identity). */
    framesRejected: Record<string, number>
    /** Writes the primaries acknowledged while replication was suspended, over every boot. */
    ackedDuringSuspension: number
    /** Restores that ended: boards put in place of lost ones that took their image back from
     * the remote (the replace-primary class). */
    restores: number
    /** The disaster's figures (--disaster): the promotion, the failover's data loss, the
     * failback. */
    disaster?: DisasterResult
    replay: string
}

export function percentiles(values: number[]): Percentiles {
    if (values.length === 0) return { p50: 0, p99: 0, max: 0 }
    const v = values.slice().sort((a, b) => a - b)
    const at = (q: number) => v[Math.min(v.length - 1, Math.floor(q * v.length))]
    const r = (x: number) => Math.round(x * 1000) / 1000
    return { p50: r(at(0.5)), p99: r(at(0.99)), max: r(v[v.length - 1]) }
}

/** A simulation run with its group, apps and measurements, stepped by the caller or by run(). */
export class Simulation {
    readonly kernel = new SimKernel()
    readonly group: SimGroup
    readonly history: History
    readonly apps: App[] = []
    readonly violations: string[] = []
    readonly livenessViolations: string[] = []
    /** Faults injected, by class: scheduled ones as they happen, the models' rate-based ones at
     * the end of the run. */
    readonly faultsInjected: Record<string, number> = {
        power: 0,
        remotePower: 0,
        reboot: 0,
        linkOutage: 0,
        linkBytesLost: 0,
        linkBitErrors: 0,
        linkDuplicates: 0,
        busNacks: 0,
        busGlitches: 0,
        shuttleLost: 0,
        slowFlash: 0,
        remoteReplaced: 0,
        death: 0,
        rot: 0,
        badReads: 0,
        remoteFlashFail: 0,
        remoteFlashDead: 0,
        ramFlips: 0,
        damageAccepted: 0,
        powerOff: 0,
        linkDown: 0,
        attackInjected: 0,
        attackReplayed: 0,
        attackPosed: 0,
        attackFlipped: 0,
        primaryReplaced: 0,
        primaryLost: 0,
    }

    /** Told of each fault of the rot, remotefail and ram classes and of the operator's
     * decisions (the fault log listens). */
    onFault: ((target: string, detail: string) => void) | null = null
    /** Blocks that read back damaged on the remote at the judgement (its store says Corrupt):
     * reported damage, not a silent loss. */
    remoteDamaged = 0
    private rpoSamples: number[] = []
    private rpoSeqSamples: number[] = []
    private portionsApplied = 0
    private manifestPortionsApplied = 0
    /** Called at every apply with the portions it made visible (member, lba, seq, the write's
     * counter or null for a block that is not a write of that member and lba); the export
     * listens. */
    onApply: ((seq: number, visible: Array<[number, number, number, number | null]>) => void) | null = null
    /** Called with each primary's shuttle agent as its board starts (the export follows
     * evictions). */
    onAgent: ((member: number, agent: ShuttleAgent) => void) | null = null
    /** Per board: acknowledged writes (seq, issue time) the remote has not applied yet. */
    private unapplied: Array<Array<[number, number]>> = []
    private faultRng: Prng
    private workloadStopped = false
    /** Primaries powered off for good (--power-off without a duration), and the remote. */
    private readonly goneForGood = new Set<number>()
    private remoteGone = false
    /** Latest time a board powered off by a scheduled event comes back: the remote's catch-up
     * after the workload counts from then. */
    private returnsAt = 0
    /** Called once when a board is up again (index: member; last: the remote). */
    private upWaiters: Array<Array<() => void>> = []
    /** Outages of each wire under way from --link-down (a wire is down while any lasts). */
    private linkDowns: number[] = []
    /** Counters of the boards' earlier boots, and the board of the current boot. */
    private primaryTotals: Array<{ suspensions: number; acked: number }> = []
    private lastBoards: (PrimaryBoard | null)[] = []
    private remoteResyncs = 0
    private lastRemoteBoard: RemoteBoard | null = null
    /** The group's I2C bus and each primary's shuttle agent of its current boot (groups of two
     * or more; for the console and the live view). */
    readonly shuttleBus: I2cBus | null = null
    readonly agents: (ShuttleAgent | null)[] = []
    /** The adversary on each member's link (the attack class), and every sealing layer made. */
    readonly adversaries: LinkAdversary[] = []
    private seals: FrameSealer[] = []
    /** The frames (frameId) each member's primary (0) and the remote's link (1) sealed, and of
     * those each accepted, the last AUDIT_FRAMES of each. */
    private sealedFrames: Array<[RecentFrames, RecentFrames]> = []
    private acceptedFrames: Array<[RecentFrames, RecentFrames]> = []

    constructor(
        readonly opts: SimOptions,
        groupOpts?: Partial<GroupOptions>,
        workloadOpts?: Partial<WorkloadOptions>
    ) {
        const g = new GroupOptions()
        g.boards = opts.boards
        g.seed = opts.seed
        g.baud = opts.baud
        g.mode = opts.mode === "none" || opts.mutation === "ack-gating" ? AckMode.None : AckMode.Consistent
        if (opts.faults.includes("bus")) {
            g.busNackChance = 0.01
            g.busGlitchChancePerByte = 0.0005
        }
        g.rpoTargetMs = opts.rpoTargetMs
        g.verifyEveryMs = opts.verifyEveryMs ?? 0
        g.congestion = opts.congestion === "block" ? Congestion.Block : Congestion.PullAhead
        if (opts.history !== undefined) g.maxHistorySeqs = opts.history
        Object.assign(g, groupOpts ?? {})
        this.group = new SimGroup(this.kernel, g)
        if (opts.firstSeq !== undefined && opts.firstSeq !== 1) {
            const applied = (opts.firstSeq - 1) >>> 0
            for (const p of this.group.primaries) presetApplied(p.chip, StoreRole.Primary, g.blockSize, applied)
            presetApplied(this.group.remote.chip, StoreRole.Remote, g.blockSize, applied)
        }
        if (opts.keys !== "none") this.sealLinks()
        else if (opts.faults.includes("attack")) throw new Error("the attack class needs sealed links (not --keys none)")
        if (opts.boards > 1)
            this.shuttleBus = attachShuttle(this.group, (p, agent) => {
                this.agents[p.member] = agent
                this.followMembership(p.member, agent)
                if (this.onAgent) this.onAgent(p.member, agent)
            })
        this.history = new History(opts.boards, g.lbaCount)
        if (opts.disasterMs !== undefined) this.disaster = new Disaster(this, opts.disasterMs)
        const disaster = this.disaster
        this.faultRng = new Prng(opts.seed ^ 0x5eed)
        const w = new WorkloadOptions()
        w.rate = opts.rate
        if (opts.depth !== undefined) w.queueDepth = opts.depth
        w.lbaCount = g.lbaCount
        w.blockSize = g.blockSize
        w.burstEveryMs = 2000
        w.burstWrites = 20
        Object.assign(w, workloadOpts ?? {})
        for (let b = 0; b < opts.boards; b++) {
            this.unapplied.push([])
            const p = this.group.primaries[b]
            const app = new App(
                b,
                w,
                this.group.rng.fork(500 + b),
                this.history,
                {
                    write: (lba, data, done) => {
                        if (disaster && disaster.takesWrites()) return disaster.write(b, lba, data, done)
                        if (!p.board || !p.up) return done(255, 0)
                        p.board.write(lba, data, done)
                    },
                    isUp: () => {
                        const up = p.up && p.board !== null && p.board.isAdopted()
                        return disaster ? disaster.isUp(b, up) : up
                    },
                },
                (d, f) => {
                    this.kernel.setTimer(d, f)
                },
                () => this.kernel.millis()
            )
            this.apps.push(app)
            this.primaryTotals.push({ suspensions: 0, acked: 0 })
            this.lastBoards.push(null)
            this.upWaiters.push([])
            this.linkDowns.push(0)
            p.onUp = () => {
                const board = p.board!
                // every simulated primary verifies when asked (or every --verify-every)
                attachVerifier(board, new Verifier(b, this.group.opts.lbaCount, p.store!, board.lost))
                attachPacing(board)
                this.countBoot(b, board)
                this.wakeUpWaiters(b)
                if (opts.mutation === "resync-copy") p.store!.newestSeq = () => -1
                // RPO lag counts from the acknowledgement: from then on the app holds the write
                // for safe, and it is lost if the primary fails before the remote applies it
                board.onAck = (_lba, seq) => this.unapplied[b].push([seq, this.kernel.millis()])
                // the operator accepted the loss of a damaged block: the checker excuses it
                board.onLossAccepted = (lba) => this.history.acceptLoss(b, lba)
                this.kernel.setTimer(0, () => app.issue())
            }
        }
        this.upWaiters.push([])
        {
            const r = this.group.remote
            r.onUp = () => {
                const rb = r.board!
                if (this.lastRemoteBoard && this.lastRemoteBoard !== rb) this.remoteResyncs += this.lastRemoteBoard.resyncsApplied
                this.lastRemoteBoard = rb
                if (disaster) rb.onFailedBack = () => disaster.failedBack()
                this.wakeUpWaiters(opts.boards)
                if (opts.mutation !== "manifest-check" && opts.mutation !== "atomic-apply") return
                if (opts.mutation === "manifest-check") rb.checkPortions = false
                else {
                    const st = r.store!
                    const write = st.write.bind(st)
                    st.write = (m, lba, seq, data, done) => write(m, lba, seq, data, (err) => (err !== 0 ? done(err) : st.commit(seq, () => done(err))))
                }
            }
        }
        this.group.onApplied = (seq, portions) => this.applied(seq, portions)
        this.group.onStaged = (m, lba, seq, data) => {
            const id = decodeBlock(data)
            if (!id) this.violations.push(`remote: staged a block no write produced (member ${m} lba ${lba} seq ${seq})`)
            this.staged.push([m, lba, seq, id ? id.counter : -1, id && id.board === m && id.lba === lba ? id.counter : null])
        }
        // a restore discards what the remote staged above its applied seq (every member's)
        this.group.onRestoreBegun = (_m, applied) => {
            this.staged = this.staged.filter((e) => ((e[2] - applied) | 0) <= 0)
        }
        this.group.onRestored = (p, applied) => this.restored(p.member, applied)
        this.resetShadow()
    }

    /** The disaster of --disaster (null: none). */
    readonly disaster: Disaster | null = null

    /** Restores that ended, and that began (boards replaced). */
    restoresDone = 0

    /**
     * The `replace-primary` class and the console's `fault replace <board>`: the board is lost
     * with its flash, and a new board with a blank flash takes its place and restores its image
     * from the remote. The writes it had acknowledged that the remote does not show are lost
     * with it (the checker excuses them, and what depends on them); the restored image must be
     * the remote's. Not while the remote is away, or replaced and not caught up with the group
     * (two disasters at once lose what neither holds), nor while another board restores, or is
     * off for a while holding seqs the remote does not know (awayWithSeqs).
     */
    replacePrimary(member: number, prng: Prng, offMs: number): boolean {
        const p = this.group.primaries[member]
        if (this.workloadStopped || !p.up || !this.group.remote.up) return false
        // a remote replaced that has not caught up with the group holds no image to restore
        if (this.remoteCaughtUpAt === Infinity) return false
        // nor while another member is off for a while (a death, a power-off) with seqs the
        // remote does not know: the group's newest seqs are then only on that member, and the
        // board restored meanwhile would start them anew below its (docs/OPERATIONS.md,
        // "Restore a primary")
        for (const q of this.group.primaries) if (q.restoring || (q !== p && this.awayWithSeqs(q))) return false
        if (p.board && p.board.verifier) this.verifyFound[member] += p.board.verifier.found - p.board.verifier.foundDamaged
        this.loseWrites(
            member,
            this.shadow[member].map((id) => id.counter)
        )
        this.group.powerCycle(p, prng, offMs, PartialMode.Any, true)
        this.apps[member].powerLost()
        this.faultsInjected.primaryReplaced++
        return true
    }

    /** A replaced board's restore ended: its flash must hold the remote's image of it. */
    private restored(member: number, applied: number): void {
        this.restoresDone++
        const p = this.group.primaries[member]
        const g = this.group.opts
        const dmg: Array<[number, number]> = []
        const img = readFlashImage(
            p.chip,
            { role: StoreRole.Primary, blockSize: g.blockSize, boards: this.opts.boards, lbaCount: g.lbaCount, only: member },
            dmg
        )
        const where = "primary " + member + " restored as of seq " + applied
        if (!img) return void this.violations.push(where + ": its flash does not mount")
        const ids = decodeImage(this.history, g.lbaCount, (b, l) => (b === member ? img[b][l] : null), decodeBlock, this.violations, where)
        // a remote replaced during the restore (a second disaster) holds less than the restore
        // took from the one before: the board keeps those blocks, not older ones
        const replaced = this.remoteReplacedInRestore.has(member)
        this.remoteReplacedInRestore.delete(member)
        let damaged: Set<number> | null = null
        // a block damaged on the board's own flash since (the rot class) is its own reported
        // damage, held with its alarm
        const own = new Set(dmg.map(([, lba]) => lba))
        for (let lba = 0; lba < g.lbaCount; lba++) {
            const has = ids[member][lba].counter
            const remote = this.shadow[member][lba].counter
            if (replaced ? has >= remote : has === remote) continue
            if (own.has(lba)) continue
            // a block that reads back damaged on the remote is not restored (the board says so):
            // its loss is reported, as one the operator accepts
            if (!damaged) damaged = this.remoteDamagedOf(member)
            if (damaged.has(lba)) this.history.acceptLoss(member, lba)
            else this.violations.push(where + ": lba " + lba + " shows write " + has + ", the remote " + remote)
        }
    }

    /**
     * The disaster (host-sim/disaster.ts): every board's writes the remote does not show now
     * are lost with its flash (excused, as for a replaced board); returns the failover's data
     * loss as the checker counts it: acknowledged writes not in the remote's image (a later
     * write to their lba is not either), and the age of the oldest at `atMs`.
     */
    lostAtDisaster(atMs: number): { writes: number; oldestMs: number } {
        let writes = 0
        let oldest = -1
        for (let b = 0; b < this.opts.boards; b++) {
            const shown = this.shadow[b].map((id) => id.counter)
            for (const w of this.history.writes[b])
                if (w.ackedAt >= 0 && w.counter > shown[w.lba]) {
                    writes++
                    if (oldest < 0 || w.ackedAt < oldest) oldest = w.ackedAt
                }
            this.loseWrites(b, shown)
        }
        return { writes, oldestMs: oldest < 0 ? 0 : Math.round(atMs - oldest) }
    }

    /** Told when a board's writes after what the remote shows (`shown`, per lba) are lost with
     * its flash, up to its `issued` writes so far (the export records it). */
    onLost: ((member: number, shown: number[], issued: number) => void) | null = null

    /** Board `member`'s writes after `shown` (per lba) are lost with its flash: the checker
     * excuses them (History.lostWith). */
    private loseWrites(member: number, shown: number[]): void {
        this.history.lostWith(member, shown)
        if (this.onLost) this.onLost(member, shown, this.history.writes[member].length)
    }

    /** A primary lost with its flash (its power cut wherever it is), until a new board, blank,
     * takes its place (Disaster.newBoards). */
    losePrimary(p: SimPrimary, prng: Prng, offMs: number): void {
        if (p.board && p.board.verifier) this.verifyFound[p.member] += p.board.verifier.found - p.board.verifier.foundDamaged
        this.faultsInjected.primaryLost++
        if (p.up) this.group.powerCycle(p, prng, offMs, PartialMode.Any, true)
        this.group.loseFlash(p, prng)
    }

    /** A write the promoted remote applied: the checker's image of the remote shows it. */
    showPromotedWrite(b: number, lba: number, data: Buffer, seq: number): void {
        const id = decodeBlock(data)
        if (!id || id.board !== b || id.lba !== lba) return void this.violations.push("remote: a promoted write of board " + b + " lba " + lba + " is no write")
        this.shadow[b][lba] = new BlockId(b, lba, id.counter)
        this.shadowSeq[b][lba] = seq
        this.setShown(b, lba, id.counter)
        // an apply of one portion (the export lists it with the others)
        this.portionsApplied++
        if (this.onApply) this.onApply(seq, [[b, lba, seq, id.counter]])
    }

    /** The remote lost power while promoted: the checker's image is what its flash holds (a
     * write it applied but never answered may be there or not). */
    reloadShadowFromRemote(): void {
        const g = this.group.opts
        const damaged: Array<[number, number]> = []
        const img = readFlashImage(
            this.group.remote.chip,
            { role: StoreRole.Remote, blockSize: g.blockSize, boards: this.opts.boards, lbaCount: g.lbaCount },
            damaged
        )
        if (!img) return void this.violations.push("remote flash at its power cut while promoted: the store does not mount")
        const ids = decodeImage(this.history, g.lbaCount, (b, l) => img[b][l], decodeBlock, this.violations, "promoted remote")
        // (a block that reads back damaged holds what the checker saw last: reported damage)
        this.reported(ids, damaged, this.shadow)
        for (let b = 0; b < this.opts.boards; b++)
            for (let lba = 0; lba < g.lbaCount; lba++)
                if (ids[b][lba].counter !== this.shadow[b][lba].counter) {
                    const seq = this.group.appliedSeq()
                    this.shadow[b][lba] = ids[b][lba]
                    this.shadowSeq[b][lba] = seq
                    // (a write it applied and never answered: the export lists it as applied)
                    this.portionsApplied++
                    if (this.onApply) this.onApply(seq, [[b, lba, seq, ids[b][lba].counter]])
                }
        this.shadowChanged()
    }

    /** The lbas of `member` whose blocks read back damaged on the remote's flash now. */
    private remoteDamagedOf(member: number): Set<number> {
        const g = this.group.opts
        const dmg: Array<[number, number]> = []
        readFlashImage(this.group.remote.chip, { role: StoreRole.Remote, blockSize: g.blockSize, boards: this.opts.boards, lbaCount: g.lbaCount }, dmg)
        return new Set(dmg.filter(([b]) => b === member).map(([, lba]) => lba))
    }

    /** After the remote's last replacement, when its first full resync committed (every
     * member's copy in, so it knows the group's seqs): Infinity until then; -1 when never
     * replaced. */
    private remoteCaughtUpAt = -1

    /** Member q is off for a while (longer than a reboot) and holds seqs of the group the
     * remote does not know: it went off before the remote, replaced, caught up with the group
     * again, or its newest seq is after the remote's applied one. */
    private awayWithSeqs(q: SimPrimary): boolean {
        if (!this.offForAWhile(q)) return false
        if (this.remoteCaughtUpAt >= 0) if (q.offSince <= this.remoteCaughtUpAt) return true
        // the remote has applied nothing since q went off, and not q's newest seq: q may hold
        // the only final manifests of seqs after it
        const applied = this.group.appliedSeq()
        return applied === q.appliedAtOff && q.seqAtOff !== 0 && seqAfter(q.seqAtOff, applied)
    }

    /** Member q is off, for longer than a reboot from now (a death, a power-off). */
    private offForAWhile(q: SimPrimary): boolean {
        return !q.up && q.offUntil - this.kernel.millis() > OPERATOR_MS
    }

    /** Boards whose restore was under way when the remote was replaced. */
    private remoteReplacedInRestore = new Set<number>()

    /**
     * Seals every link with the seeded key set (docs/FORMAT-link.md §11): member m's key is drawn
     * from the seed, the nonces from a generator of their own. Every sealing layer is audited:
     * a session frame (or a remote's answer) an end accepts must be one its peer sealed, and
     * accepted once; anything else is an effect of someone without the keys, a violation. With
     * the attack class, an adversary sits on every link.
     */
    private sealLinks(): void {
        const seed = this.opts.seed
        const cipher = new SimCipher(seededBytes(new Prng((seed ^ 0x5ea1ed) >>> 0)))
        const g = this.group
        for (let m = 0; m < this.opts.boards; m++) {
            this.sealedFrames.push([new RecentFrames(), new RecentFrames()])
            this.acceptedFrames.push([new RecentFrames(), new RecentFrames()])
        }
        g.primarySealOf = (m) => this.audited(new LinkSeal(cipher, seededKey(seed, m), m), m, 0)
        g.remoteSealOf = (m) => this.audited(new RemoteSeal(cipher, seededKey(seed, m), m), m, 1)
        if (!this.opts.faults.includes("attack")) return
        const pool = new AttackPool(cipher, (m) => seededKey(seed, m), seededKey(seed, 0, 1), this.opts.boards, g.opts.maxPayload)
        const rr = new Prng((seed ^ 0xa77ac4) >>> 0)
        for (let m = 0; m < this.opts.boards; m++) this.adversaries.push(new LinkAdversary(m, g.wires[m], pool, rr.fork(m), () => this.kernel.millis()))
        g.linkOf = (m, remote) => (remote ? this.adversaries[m].remoteSide : this.adversaries[m].primarySide)
    }

    /** The sealing layer `seal` of member m's link at its primary (end 0) or the remote (1),
     * watched by the run's checker. */
    private audited<T extends FrameSealer>(seal: T, m: number, end: number): T {
        this.seals.push(seal)
        if (this.opts.mutation === "replay-window") (seal as unknown as { fresh: (ctr: number) => boolean }).fresh = () => true
        const wrap = seal.wrap.bind(seal)
        seal.wrap = (b, n, out, at) => {
            const len = wrap(b, n, out, at)
            if (len > 0) this.sealedFrames[m][end].add(frameId(out, at, len))
            return len
        }
        const unwrap = seal.unwrap.bind(seal)
        seal.unwrap = (buf, n) => {
            const plain = unwrap(buf, n)
            if (plain && (buf[0] === SEALED_SESSION || buf[0] === SEALED_ANSWER)) {
                const d = frameId(buf, 0, n)
                const where = end === 1 ? "remote: member " + m + "'s link" : "primary " + m + "'s link"
                if (!this.sealedFrames[m][1 - end].has(d))
                    this.violation(where + " accepted a frame its peer never sealed, at " + Math.round(this.kernel.millis()) + " ms")
                else if (this.acceptedFrames[m][end].has(d))
                    this.violation(where + " accepted a frame a second time, at " + Math.round(this.kernel.millis()) + " ms")
                this.acceptedFrames[m][end].add(d)
            }
            return plain
        }
        return seal
    }

    private violation(v: string): void {
        if (this.violations.length < 50) this.violations.push(v)
    }

    /** Frames the sealed links dropped, over every end and boot. */
    private framesRejected(): Record<string, number> {
        const r: Record<string, number> = { droppedAuth: 0, droppedReplay: 0, handshakesRefused: 0 }
        for (const s of this.seals) {
            const c: ChannelCounters | undefined = s.counters
            if (!c) continue
            r.droppedAuth += c.droppedAuth
            r.droppedReplay += c.droppedReplay
            r.handshakesRefused += c.handshakesRefused
        }
        return r
    }

    /** A primary's new boot: the counters of its board of the boot before go to the totals. */
    private countBoot(b: number, board: PrimaryBoard): void {
        const prev = this.lastBoards[b]
        if (prev && prev !== board) {
            this.primaryTotals[b].suspensions += prev.suspensions
            this.primaryTotals[b].acked += prev.ackedDuringSuspension
        }
        this.lastBoards[b] = board
    }

    /** Counters over every boot: writes the apps saw fail, suspensions, full resyncs the remote
     * committed, writes acknowledged while replication was suspended. */
    longEventCounters(): { writesFailed: number; suspensions: number; resyncs: number; ackedDuringSuspension: number; restores: number } {
        let writesFailed = 0
        let suspensions = 0
        let acked = 0
        for (let b = 0; b < this.opts.boards; b++) {
            writesFailed += this.apps[b].writesRejected
            const last = this.lastBoards[b]
            suspensions += this.primaryTotals[b].suspensions + (last ? last.suspensions : 0)
            acked += this.primaryTotals[b].acked + (last ? last.ackedDuringSuspension : 0)
        }
        const resyncs = this.remoteResyncs + (this.lastRemoteBoard ? this.lastRemoteBoard.resyncsApplied : 0)
        return { writesFailed, suspensions, resyncs, ackedDuringSuspension: acked, restores: this.restoresDone }
    }

    private wakeUpWaiters(i: number): void {
        const list = this.upWaiters[i]
        if (list.length === 0) return
        this.upWaiters[i] = []
        for (const f of list) this.kernel.setTimer(0, f)
    }

    /** Runs `f` now if the board is up, else once it is up again (a fault has it off or
     * booting); never for a board gone for good. */
    whenUp(target: number | "remote", f: () => void): void {
        if (target === "remote") {
            if (this.remoteGone) return
            if (this.group.remote.up) f()
            else this.upWaiters[this.opts.boards].push(f)
            return
        }
        if (this.goneForGood.has(target)) return
        if (this.group.primaries[target].up) f()
        else this.upWaiters[target].push(f)
    }

    /**
     * Powers a board off now for `offMs`, or for good (null): its power is cut wherever it is
     * (part of a flash program under way may land), its app's outstanding writes die with it,
     * and its flash is checked as the cut left it. `kind` is the class counted.
     */
    powerOffBoard(target: number | "remote", offMs: number | null, prng: Prng, kind: string): void {
        if (this.workloadStopped) return
        const ms = offMs === null ? FOREVER_MS : offMs
        if (target === "remote") {
            if (!this.group.remote.up) return
            if (offMs === null) this.remoteGone = true
            else this.returnsAt = Math.max(this.returnsAt, this.kernel.millis() + ms)
            this.group.powerCycleRemote(prng, ms)
            this.faultsInjected[kind] = (this.faultsInjected[kind] ?? 0) + 1
            this.checkFlashAtCut(-1)
            return
        }
        const p = this.group.primaries[target]
        if (!p.up) return
        if (offMs === null) this.goneForGood.add(target)
        else this.returnsAt = Math.max(this.returnsAt, this.kernel.millis() + ms)
        this.cutPrimary(p, prng, ms, PartialMode.Any, kind)
    }

    /** Takes a member's link (`remote`: every link) down now for `forMs`. A link stays down
     * while any such outage of it lasts. */
    linkDownFor(target: number | "remote", forMs: number): void {
        if (this.workloadStopped) return
        const wires: number[] = []
        if (target === "remote") for (let b = 0; b < this.opts.boards; b++) wires.push(b)
        else wires.push(target)
        for (const b of wires) {
            this.linkDowns[b]++
            this.group.wires[b].setUp(false)
        }
        this.faultsInjected.linkDown++
        const self = this
        this.kernel.setTimer(forMs, () => {
            for (const b of wires) {
                if (self.linkDowns[b] === 0) continue // the faults stopped meanwhile
                if (--self.linkDowns[b] === 0) self.group.wires[b].setUp(true)
            }
        })
    }

    /** The scheduled events of the options (--power-off, --link-down). */
    private scheduleEvents(): void {
        const self = this
        const pr = new Prng((this.opts.seed ^ 0x0ff0ff) >>> 0)
        for (const e of this.opts.powerOff ?? []) {
            const prng = pr.fork(e.atMs)
            this.kernel.setTimer(e.atMs, () => {
                if (!self.workloadStopped) self.whenUp(e.target, () => self.powerOffBoard(e.target, e.forMs, prng, "powerOff"))
            })
        }
        for (const e of this.opts.linkDown ?? []) this.kernel.setTimer(e.atMs, () => self.linkDownFor(e.target, e.forMs))
    }

    /** The checker's image of the remote: nothing written. */
    private resetShadow(): void {
        this.shadow = []
        this.shadowSeq = []
        for (let b = 0; b < this.opts.boards; b++) {
            const row: BlockId[] = []
            const seqs: number[] = []
            for (let l = 0; l < this.group.opts.lbaCount; l++) {
                row.push(new BlockId(b, l, 0))
                seqs.push(0)
            }
            this.shadow.push(row)
            this.shadowSeq.push(seqs)
        }
        this.shadowChanged()
    }

    /** The shadow was replaced as a whole: its flat copy (`shown`, `shownDeps`) anew. */
    private shadowChanged(): void {
        const n = this.opts.boards
        const lbas = this.group.opts.lbaCount
        this.shown = []
        this.shownDeps = []
        this.appliedNow = []
        this.depBound = []
        for (let b = 0; b < n; b++) {
            const row: number[] = []
            const deps: number[] = []
            for (let l = 0; l < lbas; l++) row.push(0)
            for (let i = 0; i < n * lbas; i++) deps.push(0)
            this.shown.push(row)
            this.shownDeps.push(deps)
            this.appliedNow.push(0)
            this.depBound.push(0)
        }
        for (let b = 0; b < n; b++) for (let l = 0; l < lbas; l++) this.setShown(b, l, this.shadow[b][l].counter)
    }

    /** Board b's lba shows write `counter` (0: none) in the checker's image of the remote. */
    private setShown(b: number, lba: number, counter: number): void {
        this.shown[b][lba] = counter
        const at = b * this.group.opts.lbaCount + lba
        const w = counter > 0 ? this.history.get(b, counter) : null
        for (let d = 0; d < this.opts.boards; d++) {
            // a counter the history lacks: checkRemote looks at it (it passes it over)
            const dep = counter === 0 ? 0 : w ? w.deps[d] : UNKNOWN_WRITE
            this.shownDeps[d][at] = dep
            if (dep > this.depBound[d]) this.depBound[d] = dep
        }
    }

    /**
     * False when checkRemote certainly finds nothing in the shadow (it then needs no run), from
     * the flat copy: no visible write depends on a write past what its board shows, and no lba
     * shows less than a write to it acknowledged at or before what its board shows. True when
     * one of those holds: checkRemote then judges (its excuses may clear it).
     */
    private mayViolate(): boolean {
        const n = this.opts.boards
        const applied = this.appliedNow
        for (let b = 0; b < n; b++) {
            const row = this.shown[b]
            let a = 0
            for (let i = 0; i < row.length; i++) if (row[i] > a) a = row[i]
            applied[b] = a
        }
        for (let d = 0; d < n; d++) {
            const a = applied[d]
            if (this.depBound[d] <= a) continue
            // the bound is above: the highest dependency on d shown now, exactly
            const deps = this.shownDeps[d]
            let max = 0
            for (let i = 0; i < deps.length; i++) if (deps[i] > max) max = deps[i]
            this.depBound[d] = max
            if (max > a) return true
        }
        for (let b = 0; b < n; b++) {
            const row = this.shown[b]
            const top = this.history.ackedTop[b]
            for (let lba = 0; lba < row.length; lba++) if (top[lba] > row[lba] && this.history.newestAcked(b, lba, applied[b]) > row[lba]) return true
        }
        return false
    }

    /** Staged portions (member, lba, seq, write counter or -1 for a block that is no write,
     * the counter the export shows) not yet applied, and the image they make visible when the
     * remote applies their seq: the checker runs on it after every apply. */
    private staged: Array<[number, number, number, number, number | null]> = []
    private shadow: BlockId[][] = []
    private shadowSeq: number[][] = []
    /** The shadow's counters, shown[b][lba], and the dependencies of the writes they are,
     * shownDeps[d][b * lbaCount + lba]: flat rows the check after every apply reads quickly. */
    private shown: number[][] = []
    private shownDeps: number[][] = []
    /** depBound[d]: at least the highest of shownDeps[d] (exact after each scan of it). */
    private depBound: number[] = []
    private appliedNow: number[] = []
    /** Runs checkRemote after every apply even when `mayViolate` says it finds nothing, and
     * fails the run if it does find something (for the tests of that shortcut). */
    crossCheck = false
    checksAfterApply = 0
    /** Final reads of the remote's image read again, its image having changed during them. */
    remoteRereads = 0
    /** Flash images checked at power cuts. */
    flashChecks = 0

    /** Boards admitted again whose whole image the remote has not applied yet. */
    private rejoining = new Set<number>()
    private resyncsSeen = 0

    /** An evicted board is out of the group's promise (the checker excuses its writes after what
     * the remote held of it) until the resync commit that applies its whole image. */
    private followMembership(member: number, agent: ShuttleAgent): void {
        const evicted = agent.onEvicted
        const admitted = agent.onAdmitted
        agent.onEvicted = (address, self, seq) => {
            if (evicted) evicted(address, self, seq)
            // the group has evicted the board (whichever member learns it first: the evicted
            // one may be off, and learn it only when it returns): its writes after what the
            // remote holds of it are out of the promise from now on
            const m = self ? member : this.group.primaries.findIndex((p) => p.address === address)
            if (m < 0) return
            let held = 0
            for (const id of this.shadow[m]) if (id.counter > held) held = id.counter
            this.history.leave(m, held)
            this.rejoining.delete(m)
        }
        agent.onAdmitted = (address, self, seq) => {
            if (admitted) admitted(address, self, seq)
            if (self) this.rejoining.add(member)
        }
    }

    private checkAfterApply(seq: number): void {
        const rb = this.group.remote.board
        if (rb && this.rejoining.size > 0 && rb.resyncsApplied !== this.resyncsSeen)
            for (const b of [...this.rejoining])
                if (rb.memberCopied(b)) {
                    this.history.rejoin(b)
                    this.rejoining.delete(b)
                }
        if (rb) if (rb.resyncsApplied > 0) if (this.remoteCaughtUpAt === Infinity) this.remoteCaughtUpAt = this.kernel.millis()
        if (rb) this.resyncsSeen = rb.resyncsApplied
        // the portions of seqs up to this one become visible; the rest stay staged, in order
        const staged = this.staged
        const visible: Array<[number, number, number, number | null]> | null = this.onApply ? [] : null
        let kept = 0
        for (let i = 0; i < staged.length; i++) {
            const e = staged[i]
            const [m, lba, s, counter, shown] = e
            if (((s - seq) | 0) > 0) {
                staged[kept++] = e
                continue
            }
            this.portionsApplied++
            if (visible) visible.push([m, lba, s, shown])
            if (counter < 0) continue
            // (a block the shadow holds nothing of takes any write: its seq 0 is no seq, and
            // after the wrap of the u32 seqs a write's seq can lie before 0)
            const cur = this.shadowSeq[m][lba]
            const held = this.shadow[m][lba].counter
            if (held === 0 || ((s - cur) | 0) > 0 || (s === cur && counter > held)) {
                this.shadow[m][lba] = new BlockId(m, lba, counter)
                this.shadowSeq[m][lba] = s
                this.setShown(m, lba, counter)
            }
        }
        staged.length = kept
        if (this.onApply && visible) this.onApply(seq, visible)
        this.checksAfterApply++
        if (this.violations.length >= 50) return
        const may = this.mayViolate()
        if (!may && !this.crossCheck) return
        const found = checkRemote(this.history, this.shadow, `remote after apply of seq ${seq}`)
        if (!may && found.length > 0) throw new Error("the quick check after an apply missed: " + found[0])
        for (const v of found) this.violations.push(v)
    }

    private applied(seq: number, portions: number): void {
        this.checkAfterApply(seq)
        this.manifestPortionsApplied += portions
        for (let b = 0; b < this.unapplied.length; b++) {
            const q = this.unapplied[b]
            let i = 0
            while (i < q.length && ((q[i][0] - seq) | 0) <= 0) i++
            if (i > 0) q.splice(0, i)
        }
    }

    private sampleRpo(): void {
        const now = this.kernel.millis()
        let lag = 0
        let seqs = 0
        for (let b = 0; b < this.unapplied.length; b++) {
            const q = this.unapplied[b]
            if (q.length > 0) lag = Math.max(lag, now - q[0][1])
            const p = this.group.primaries[b]
            if (p.board) seqs = Math.max(seqs, p.board.closedSeqs().length)
        }
        this.rpoSamples.push(lag)
        this.rpoSeqSamples.push(seqs)
    }

    /**
     * Faults, each class on its own schedule drawn from the seed:
     * - power: a primary loses power, half the time at the start of a flash program or erase
     *   (part of it lands), else wherever it is; the remote loses power too;
     * - reboot: a primary restarts (RAM lost; a flash operation under way completes);
     * - link: byte loss, bit errors and duplicated bytes at low rates, and outages;
     * - bus: NACKs and glitches on the I2C bus, and lost shuttles;
     * - slow: each flash chip (the remote's too) at its datasheet maximum times, or anywhere
     *   between typical and maximum;
     * - replace: the remote is replaced by a new board with a blank flash, which the group must
     *   resync in full (drawn from a generator of its own, so the other classes' schedules stay
     *   as they are);
     * - death: each primary, one after another while the workload runs, is off for 10 to 120 s
     *   (uniform; its power is cut wherever it is), so the group must carry on without it and
     *   take it back (a generator of its own too: deathSchedule);
     * - rot, remotefail, ram: scheduleStorageFaults.
     */
    private scheduleFaults(): void {
        const f = this.opts.faults
        const end = this.opts.durationMs
        const rng = this.faultRng
        const self = this
        if (f.includes("link"))
            for (const w of this.group.wires) {
                w.setFaults({ byteLoss: 2e-5, bitError: 2e-6, duplication: 1e-5 })
                for (let t = rng.int(5000) + 1000; t < end; t += 3000 + rng.int(12000)) {
                    const d = 100 + rng.int(4000)
                    // as UartWire.schedulePartition, but none begins once the workload stopped
                    this.kernel.setTimer(t, () => {
                        if (self.workloadStopped) return
                        w.setUp(false)
                        self.kernel.setTimer(d, () => {
                            // an outage of --link-down still under way keeps the link down
                            if (!self.linkHeldDown(w)) w.setUp(true)
                        })
                    })
                    this.faultsInjected.linkOutage++
                }
            }
        // the adversaries act on schedules of their own (AttackPool's generators)
        for (const a of this.adversaries) {
            const ar = new Prng((this.opts.seed ^ 0xa77ac5 ^ Math.imul(a.member + 1, 0x9e3779b1)) >>> 0)
            for (let t = 300 + ar.int(1000); t < end; t += 150 + ar.int(900))
                this.kernel.setTimer(t, () => {
                    if (!self.workloadStopped) a.act()
                })
        }
        if (f.includes("power"))
            for (const p of this.group.primaries)
                for (let t = rng.int(4000) + 500; t < end; t += 2000 + rng.int(8000)) {
                    const atOperation = rng.chance(0.5)
                    const prng = rng.fork(t)
                    const offMs = 5 + rng.int(200)
                    this.kernel.setTimer(t, () => {
                        if (!atOperation) return self.cutPrimary(p, prng, offMs, PartialMode.Any, "power")
                        // at the start of the board's next program or erase
                        p.chip.watchOperations(() => {
                            p.chip.watchOperations(null)
                            self.kernel.setTimer(0.01, () => self.cutPrimary(p, prng, offMs, PartialMode.Any, "power"))
                        })
                    })
                }
        if (f.includes("reboot"))
            for (const p of this.group.primaries)
                for (let t = rng.int(5000) + 700; t < end; t += 3000 + rng.int(9000)) {
                    const prng = rng.fork(t + 7)
                    const offMs = 1 + rng.int(50)
                    this.kernel.setTimer(t, () => self.cutPrimary(p, prng, offMs, PartialMode.Everything, "reboot"))
                }
        if (f.includes("power"))
            for (let t = rng.int(6000) + 1000; t < end; t += 4000 + rng.int(10000))
                this.kernel.setTimer(t, () => {
                    if (self.workloadStopped || !self.group.remote.up) return
                    self.group.powerCycleRemote(rng.fork(t + 1), 5 + rng.int(300))
                    self.faultsInjected.remotePower++
                    self.checkFlashAtCut(-1)
                })
        if (f.includes("slow")) {
            // each chip, the remote's too, at the datasheet's maximum times or anywhere between
            // typical and maximum
            const chips = this.group.primaries.map((p) => p.chip)
            chips.push(this.group.remote.chip)
            for (const chip of chips) {
                chip.setSlow(rng.chance(0.5) ? SlowMode.Max : SlowMode.Random, rng.fork(77))
                this.faultsInjected.slowFlash++
            }
        }
        if (f.includes("replace")) {
            const rr = new Prng(this.opts.seed ^ 0x7e91ace)
            for (let t = rr.int(6000) + 1500; t < end; t += 20000 + rr.int(20000)) {
                const prng = rr.fork(t)
                const offMs = 50 + rr.int(1000)
                this.kernel.setTimer(t, () => {
                    if (!self.workloadStopped) self.replaceRemote(prng, offMs, null)
                })
            }
        }
        if (f.includes("replace-primary")) {
            // drawn from a generator of its own: one board lost and replaced after a quarter to
            // three quarters of the run, and again every 30 to 60 s in longer runs. A replacement
            // the moment does not allow (replacePrimary: the remote away or not caught up, another
            // board restoring or away with seqs) is tried again 1 to 5 s later, for as long as the
            // workload runs: else a run long enough for those to overlap never replaced a board
            const rr = new Prng((this.opts.seed ^ 0x5e9a1ace) >>> 0)
            for (let t = Math.floor(end / 4) + rr.int(Math.max(1, Math.floor(end / 2))); t < end; t += 30000 + rr.int(30000)) {
                const member = rr.int(this.opts.boards)
                const prng = rr.fork(t)
                const retry = rr.fork(t + 1)
                const offMs = 500 + rr.int(3000)
                const attempt = (): void => {
                    if (self.workloadStopped) return
                    self.whenUp(member, () => {
                        if (!self.replacePrimary(member, prng, offMs)) self.kernel.setTimer(1000 + retry.int(4000), attempt)
                    })
                }
                this.kernel.setTimer(t, attempt)
            }
        }
        if (f.includes("death"))
            for (const d of deathSchedule(this.opts.seed, this.opts.boards, end)) {
                const prng = new Prng((this.opts.seed ^ 0xdea7b0d ^ Math.imul(d.member + 1, 0x9e3779b1)) >>> 0)
                this.kernel.setTimer(d.atMs, () => {
                    if (!self.workloadStopped) self.whenUp(d.member, () => self.powerOffBoard(d.member, d.forMs, prng, "death"))
                })
            }
        const bus = this.shuttleBus
        if (f.includes("bus") && bus)
            for (let t = rng.int(3000) + 500; t < end; t += 1000 + rng.int(5000))
                this.kernel.setTimer(t, () => {
                    if (self.workloadStopped) return
                    bus.dropNext((_from, to, data) => to !== 0 && data.length > 0 && data[0] === FrameType.Shuttle)
                    self.faultsInjected.shuttleLost++
                })
    }

    /**
     * Replaces the remote by a new board: its flash blank, or (with `image`) a copy of an older
     * remote's flash, as a remote restored from a backup. Either way it lacks history the
     * primaries no longer hold, and the group resyncs it in full.
     */
    replaceRemote(prng: Prng, offMs: number, image: SpiNorChip | null): void {
        if (!this.group.remote.up) return
        // the remote is the only copy during a disaster: not replaced then
        if (this.disaster) if (this.disaster.active()) return
        // nor while a board restores from it and another member is off for a while: the
        // group's newest seqs would then be only on that member (as in replacePrimary)
        for (const p of this.group.primaries) if (p.restoring) for (const q of this.group.primaries) if (q !== p) if (this.offForAWhile(q)) return
        // a board restoring from the remote loses what only the remote held of it
        for (const p of this.group.primaries)
            if (p.restoring) {
                this.loseWrites(
                    p.member,
                    this.shadow[p.member].map(() => 0)
                )
                this.remoteReplacedInRestore.add(p.member)
            }
        this.group.powerCycleRemote(prng, offMs, true)
        this.remoteCaughtUpAt = Infinity
        this.faultsInjected.remoteReplaced++
        // what the new board shows: nothing, or the older image; nothing staged counts (a
        // version staged on the older image has a version at least as new on its member, which
        // the resync sends again or copies)
        this.staged = []
        this.resetShadow()
        if (!image) return
        this.group.remote.chip.copyMemory(image)
        const g = this.group.opts
        const img = readFlashImage(image, { role: StoreRole.Remote, blockSize: g.blockSize, boards: this.opts.boards, lbaCount: g.lbaCount })
        if (!img) return void this.violations.push("the remote image to restore does not mount")
        this.shadow = decodeImage(this.history, g.lbaCount, (b, l) => img[b][l], decodeBlock, this.violations, "restored remote image")
        this.shadowChanged()
    }

    private linkHeldDown(w: UartWire): boolean {
        const b = this.group.wires.indexOf(w)
        return b >= 0 && this.linkDowns[b] > 0
    }

    private cutPrimary(p: SimPrimary, prng: Prng, offMs: number, mode: PartialMode, kind: string): void {
        if (this.workloadStopped || !p.up) return
        if (p.board && p.board.verifier) this.verifyFound[p.member] += p.board.verifier.found - p.board.verifier.foundDamaged
        this.group.powerCycle(p, prng, offMs, mode)
        // the app's outstanding writes die with the board: never answered
        this.apps[p.member].powerLost()
        this.faultsInjected[kind] = (this.faultsInjected[kind] ?? 0) + 1
        this.checkFlashAtCut(p.member)
    }

    /**
     * The checker on the flash itself, as the cut left it: a copy is mounted with the store and
     * read. A primary's flash must hold every write acknowledged so far; the remote's applied
     * image must be consistent (what a failover to it would serve).
     */
    private checkFlashAtCut(member: number): void {
        if (this.violations.length >= 50) return
        this.flashChecks++
        const g = this.group.opts
        const t = Math.round(this.kernel.millis())
        if (member < 0) {
            const damaged: Array<[number, number]> = []
            const img = readFlashImage(
                this.group.remote.chip,
                { role: StoreRole.Remote, blockSize: g.blockSize, boards: this.opts.boards, lbaCount: g.lbaCount },
                damaged
            )
            const where = "remote flash at its power cut at " + t + " ms"
            if (!img) return void this.violations.push(where + ": the store does not mount")
            const ids = decodeImage(this.history, g.lbaCount, (b, l) => img[b][l], decodeBlock, this.violations, where)
            this.reported(ids, damaged, this.shadow)
            for (const v of checkRemote(this.history, ids, where)) this.violations.push(v)
            return
        }
        const p = this.group.primaries[member]
        // a board restoring holds part of its image: its restore starts again at its boot
        if (p.restoring) return
        const damaged: Array<[number, number]> = []
        const img = readFlashImage(
            p.chip,
            { role: StoreRole.Primary, blockSize: g.blockSize, boards: this.opts.boards, lbaCount: g.lbaCount, only: member },
            damaged
        )
        const where = "primary " + member + " flash at its power cut at " + t + " ms"
        if (!img) return void this.violations.push(where + ": the store does not mount")
        const ids = decodeImage(this.history, g.lbaCount, (b, l) => (b === member ? img[b][l] : null), decodeBlock, this.violations, where)
        this.reported(ids, damaged, null)
        for (const v of checkPrimary(this.history, member, ids, where)) this.violations.push(v)
    }

    /**
     * Blocks whose records read back damaged (the store says Corrupt, it returns no data): the
     * damage is reported, not a silent loss, so the checker takes such a block as holding what
     * it last held: on the remote, what the checker saw applied (`shadow`); on a primary, its
     * newest acknowledged write. The primary holds such a block with its alarm until the
     * operator accepts its loss (then the checker excuses that block on the remote).
     */
    private reported(ids: BlockId[][], damaged: Array<[number, number]>, shadow: BlockId[][] | null): void {
        for (const [b, lba] of damaged) {
            if (shadow) ids[b][lba] = shadow[b][lba]
            else ids[b][lba] = new BlockId(b, lba, this.history.newestAcked(b, lba, this.history.writes[b].length))
        }
    }

    /** The simulator plays the operator (OPERATOR_MS after the alarm): it accepts the loss of a
     * damaged block a primary holds, and replaces a remote whose flash failed for good. */
    private operate(): void {
        const now = this.kernel.millis()
        for (let b = 0; b < this.opts.boards; b++) {
            const p = this.group.primaries[b]
            const board = p.up ? p.board : null
            if (!board || board.damagedLba < 0) {
                this.damagedSince[b] = -1
                continue
            }
            if (this.damagedSince[b] < 0) this.damagedSince[b] = now
            else if (now - this.damagedSince[b] >= OPERATOR_MS) {
                const lba = board.damagedLba
                this.damagedSince[b] = -1
                if (board.acceptDamage()) {
                    this.faultsInjected.damageAccepted++
                    this.fault("primary " + b, "operator accepts the loss of damaged lba " + lba)
                }
            }
        }
        const r = this.group.remote
        const rb = r.up ? r.board : null
        if (!rb || !rb.flashFailed) this.remoteFailedSince = -1
        else if (this.remoteFailedSince < 0) this.remoteFailedSince = now
        else if (now - this.remoteFailedSince >= OPERATOR_MS) {
            this.remoteFailedSince = -1
            this.group.remote.chip.failWrites(0)
            this.fault("remote", "operator replaces the remote whose flash failed")
            this.replaceRemote(new Prng((this.opts.seed ^ Math.floor(now)) >>> 0), 500, null)
        }
        this.kernel.setTimer(500, () => this.operate())
    }

    private damagedSince: number[] = []
    /** Blocks verify found different, on each primary's boards before their last power cut. */
    private verifyFound: number[] = [0, 0, 0, 0, 0, 0, 0, 0]
    private remoteFailedSince = -1

    /** A line of the fault log (the faults' effects and the operator's actions, a disaster's
     * too: host-sim/disaster.ts). */
    fault(target: string, detail: string): void {
        if (this.onFault) this.onFault(target, detail)
    }

    /** A programmed byte of a record (entry or data slot; not a sector header) of a used
     * sector of `chip`, or -1 when none was found. */
    private rotAddress(chip: SpiNorChip, pr: Prng): number {
        const sectors = chip.capacity() / 4096
        for (let n = 0; n < 40; n++) {
            const base = pr.int(sectors) * 4096
            if (chip.peek(base) !== 0x53 || chip.peek(base + 1) !== 0x51) continue
            const a = base + 16 + pr.int(4096 - 16)
            if (chip.peek(a) !== 0xff) return a
        }
        return -1
    }

    /** A byte of a data slot an entry of its used sector names (a data record's data), or -1. */
    private dataSlotAddress(chip: SpiNorChip, pr: Prng): number {
        const B = this.group.opts.blockSize
        const sectors = chip.capacity() / 4096
        for (let n = 0; n < 40; n++) {
            const base = pr.int(sectors) * 4096
            if (chip.peek(base) !== 0x53 || chip.peek(base + 1) !== 0x51) continue
            const slots: number[] = []
            for (let e = base + 16; e + 16 <= base + 4096 && chip.peek(e) !== 0xff; e += 16) if (chip.peek(e) === 0x3c) slots.push(chip.peek(e + 2))
            if (slots.length === 0) continue
            const slot = slots[pr.int(slots.length)]
            const a = base + 4096 - (slot + 1) * B + pr.int(B)
            if (a >= base + 16) return a
        }
        return -1
    }

    /**
     * The rot, remotefail and ram classes (each from a generator of its own, so the other
     * classes' schedules stay as they were).
     */
    private scheduleStorageFaults(): void {
        const f = this.opts.faults
        const end = this.opts.durationMs
        const self = this
        const fi = this.faultsInjected
        const boards = this.opts.boards
        if (f.includes("rot")) {
            const rr = new Prng((this.opts.seed ^ 0x7077ed) >>> 0)
            for (let t = 1000 + rr.int(3000); t < end; t += 1500 + rr.int(5000)) {
                const target = rr.int(boards + 1)
                const bad = rr.chance(0.3)
                const pr = rr.fork(t)
                this.kernel.setTimer(t, () => {
                    if (self.workloadStopped) return
                    const chip = target === boards ? self.group.remote.chip : self.group.primaries[target].chip
                    const name = target === boards ? "remote" : "primary " + target
                    if (bad) {
                        chip.failReads(1)
                        fi.badReads++
                        self.fault(name, "the next flash read comes back with a bit flipped")
                        return
                    }
                    // one event in four is a worn pair of cells in a data slot: two bits of a
                    // byte, more than the store mends (damage, held with its alarm); any other
                    // is one bit anywhere in a record (mended where it is read)
                    const pair = pr.chance(0.25)
                    const a = pair ? self.dataSlotAddress(chip, pr) : self.rotAddress(chip, pr)
                    if (a < 0) return
                    const bit = pr.int(8)
                    chip.flipBit(a, bit)
                    if (pair) chip.flipBit(a, (bit + 1 + pr.int(7)) & 7)
                    fi.rot++
                    self.fault(name, (pair ? "two bits flip" : "a bit flips") + " at rest at flash address " + a)
                })
            }
        }
        if (f.includes("remotefail")) {
            const rr = new Prng((this.opts.seed ^ 0x4e3f1a) >>> 0)
            for (let t = 1500 + rr.int(4000); t < end; t += 3000 + rr.int(8000)) {
                const n = 1 + rr.int(40)
                this.kernel.setTimer(t, () => {
                    if (self.workloadStopped || !self.group.remote.up) return
                    self.group.remote.chip.failWrites(n)
                    fi.remoteFlashFail++
                    self.fault("remote", "flash programs and erases fail (" + n + " write enables ignored)")
                })
            }
            // the remote's flash fails for good in a third of the runs: the operator replaces it
            if (rr.chance(1 / 3)) {
                const t = 2000 + rr.int(Math.max(1, end - 2000))
                this.kernel.setTimer(t, () => {
                    if (self.workloadStopped || !self.group.remote.up) return
                    // (during a disaster the remote holds the only copy: two disasters at once
                    // lose what neither side holds)
                    if (self.disaster) if (self.disaster.active()) return
                    self.group.remote.chip.failWrites(-1)
                    fi.remoteFlashDead++
                    self.fault("remote", "flash programs and erases fail for good")
                })
            }
        }
        if (f.includes("ram")) {
            const rr = new Prng((this.opts.seed ^ 0x4a3b17) >>> 0)
            for (let t = 800 + rr.int(2000); t < end; t += 700 + rr.int(3000)) {
                const pr = rr.fork(t)
                this.kernel.setTimer(t, () => {
                    if (self.workloadStopped) return
                    if (pr.chance(0.5)) {
                        const b = pr.int(boards)
                        const p = self.group.primaries[b]
                        if (p.up && p.board && self.flipInRing(p.board, pr)) {
                            fi.ramFlips++
                            self.fault("primary " + b, "a bit flips in a waiting portion of the aux ring")
                        }
                    } else if (self.group.remote.up && self.group.remote.board && self.flipInStaging(self.group.remote.board, pr)) {
                        fi.ramFlips++
                        self.fault("remote", "a bit flips in a staging buffer")
                    }
                })
            }
        }
        if (f.includes("rot") || f.includes("remotefail")) this.kernel.setTimer(500, () => self.operate())
    }

    /** Flips one bit of the block or CRC of a portion waiting in the board's aux ring (the
     * CRC-32C covers the block; the slot's seq and lba are not flipped). */
    private flipInRing(board: PrimaryBoard, pr: Prng): boolean {
        const ring = board.ring
        if (ring.count === 0) return false
        const i = pr.int(ring.count)
        const off = ring.offsetAt(i) + 10 + pr.int(4 + ring.lengthAt(i))
        ring.mem[off] ^= 1 << pr.int(8)
        return true
    }

    /** Flips one bit of a portion the remote holds in RAM to stage: waiting in its staging
     * queue, or in its store's call queue. */
    private flipInStaging(rb: RemoteBoard, pr: Prng): boolean {
        const bufs: Array<[Buffer, number]> = []
        for (const d of rb.stagingData()) bufs.push([d, d.length])
        // waiting writes only (the running one may be on its way to the flash already)
        const st = this.group.remote.store
        if (st) for (const b of st.queuedData()) bufs.push(b)
        if (bufs.length === 0) return false
        const [buf, len] = bufs[pr.int(bufs.length)]
        buf[pr.int(len)] ^= 1 << pr.int(8)
        return true
    }

    /** Adds the faults the models injected at their rates (link bytes, bus NACKs and glitches). */
    private countModelFaults(): void {
        const fi = this.faultsInjected
        for (const a of this.adversaries) {
            fi.attackInjected += a.counts.attackInjected
            fi.attackReplayed += a.counts.attackReplayed
            fi.attackPosed += a.counts.attackPosed
            fi.attackFlipped += a.counts.attackFlipped
        }
        for (const w of this.group.wires)
            for (const end of [w.a, w.b]) {
                fi.linkBytesLost += end.counters.lost - end.counters.lostInOutage
                fi.linkBitErrors += end.counters.corrupted
                fi.linkDuplicates += end.counters.duplicated
            }
        if (this.shuttleBus) {
            fi.busNacks += this.shuttleBus.counters.injectedNacks
            fi.busGlitches += this.shuttleBus.counters.glitches
        }
    }

    /** Runs the workload for the duration, then lets the remote catch up, then judges. */
    run(): SimResult {
        this.start()
        this.kernel.run(this.opts.durationMs, Number.MAX_SAFE_INTEGER)
        return this.finish()
    }

    /** Boots the group and starts the workload and the faults; the caller then runs the kernel
     * (run() does it in one go, the live view in step with wall time). */
    start(): void {
        const o = this.opts
        this.group.start()
        for (const a of this.apps) a.start()
        this.scheduleFaults()
        this.scheduleStorageFaults()
        this.scheduleEvents()
        if (this.disaster) this.disaster.schedule()
        const sample = () => {
            this.sampleRpo()
            if (this.kernel.millis() < o.durationMs && !this.workloadStopped) this.kernel.setTimer(100, sample)
        }
        this.kernel.setTimer(100, sample)
    }

    /** Stops the workload and the faults (now, or at the end of the duration), lets the remote
     * catch up, and judges. */
    finish(): SimResult {
        const o = this.opts
        // the faults stop and the apps stop issuing: the remote must catch up (liveness)
        this.workloadStopped = true
        for (const a of this.apps) a.stop()
        for (const a of this.adversaries) a.stop()
        for (let b = 0; b < this.group.wires.length; b++) {
            const w = this.group.wires[b]
            w.setFaults({ byteLoss: 0, bitError: 0, duplication: 0 })
            this.linkDowns[b] = 0
            w.setUp(true)
        }
        // a board off for a while (--power-off, death) comes back even after the workload: the
        // catch-up counts from then; a remote gone for good never catches up
        const deadline = Math.max(this.kernel.millis(), this.returnsAt) + o.drainMs
        const drain = () => {
            while (this.kernel.millis() < deadline && !this.remoteGone && !this.caughtUp()) this.kernel.run(this.kernel.millis() + 100, Number.MAX_SAFE_INTEGER)
        }
        drain()
        // writes still in flight when the apps stopped are acknowledged a little later
        this.kernel.run(this.kernel.millis() + 2000, Number.MAX_SAFE_INTEGER)
        drain()
        const virtualMs = this.kernel.millis()
        this.countModelFaults()
        this.judge()
        if (this.disaster) this.disaster.judge(this.livenessViolations)
        const latencies: number[] = []
        for (const list of this.history.writes) for (const w of list) if (w.ackedAt >= 0) latencies.push(w.ackedAt - w.issuedAt)
        let payload = 0
        let capacity = 0
        for (const w of this.group.wires) {
            payload += w.a.counters.delivered
            capacity += (w.a.counters.busyMs * o.baud) / 10000
        }
        let delivered = 0
        for (const ch of this.group.remote.channels) delivered += ch.counters.payloadBytesDelivered
        return {
            seed: o.seed,
            boards: o.boards,
            mode: o.mode,
            faults: o.faults,
            virtualMs: Math.round(virtualMs),
            writesIssued: this.history.writes.reduce((n, l) => n + l.length, 0),
            writesAcked: this.history.totalAcked(),
            portionsApplied: this.portionsApplied,
            manifestPortionsApplied: this.manifestPortionsApplied,
            appliedSeq: this.group.appliedSeq(),
            consistent: this.violations.length === 0 && this.livenessViolations.length === 0,
            safe: this.violations.length === 0,
            caughtUp: this.livenessViolations.length === 0,
            violations: this.violations.concat(this.livenessViolations).slice(0, 50),
            ackLatencyMs: percentiles(latencies),
            rpoLagMs: percentiles(this.rpoSamples),
            rpoLagSeqs: percentiles(this.rpoSeqSamples),
            linkEfficiency: capacity > 0 ? Math.round((Math.min(delivered, payload) / capacity) * 10000) / 10000 : 0,
            faultsInjected: this.faultsInjected,
            framesRejected: this.framesRejected(),
            ...this.longEventCounters(),
            ...(this.disaster ? { disaster: this.disaster.result } : {}),
            replay: replayCommand(o),
        }
    }

    /** RPO lag of board b now: age of its oldest acknowledged write the remote has not applied
     * (ms, 0 when none), and its closed seqs the remote has not confirmed. */
    rpoLagMs(b: number): number {
        const q = this.unapplied[b]
        return q.length > 0 ? this.kernel.millis() - q[0][1] : 0
    }

    rpoLagSeqs(b: number): number {
        const p = this.group.primaries[b]
        return p.board ? p.board.closedSeqs().length : 0
    }

    /** Whether the workload and the faults have stopped (finish() was called). */
    stopped(): boolean {
        return this.workloadStopped
    }

    private caughtUp(): boolean {
        if (!this.group.remote.up) return false
        for (let b = 0; b < this.unapplied.length; b++) {
            // a member gone for good has nothing more to send: its writes the remote lacks are
            // the judgement's business, not a reason to wait
            if (this.goneForGood.has(b)) continue
            if (this.unapplied[b].length > 0) return false
            const p = this.group.primaries[b]
            if (!p.up || !p.board || p.board.writesWaiting() > 0) return false
        }
        // and the remote holds them: a remote that replaced an older one since those writes
        // were applied holds nothing until its full resync
        for (let b = 0; b < this.unapplied.length; b++) {
            if (this.goneForGood.has(b)) continue
            for (let lba = 0; lba < this.shadow[b].length; lba++) if (lacksAcked(this.history, this.shadow, b, lba) > 0) return false
        }
        return true
    }

    /**
     * The remote's image, read through its store (and the blocks that read back damaged). The
     * reads take virtual time, and the remote may apply meanwhile (a resync's commit in the
     * catch-up): an image read across an apply mixes two images, so it is read again until no
     * change of the image (shadowChanges) falls in the reads; after JUDGE_READS tries, a
     * violation in `v`.
     */
    readRemoteImage(v: string[]): { image: (Buffer | null)[][]; damaged: Array<[number, number]> } {
        let damaged: Array<[number, number]> = []
        let image: (Buffer | null)[][] = []
        for (let tries = 0; tries < JUDGE_READS; tries++) {
            const before = this.shadowChanges()
            const dmg: Array<[number, number]> = []
            damaged = dmg
            image = this.readImage((b, lba, done) => {
                const st = this.group.remote.store
                if (!st || !this.group.remote.up) return done(null)
                st.read(b, lba, (err, data) => {
                    if (err === StoreError.Corrupt) dmg.push([b, lba])
                    done(err === 0 ? data : null)
                })
            })
            if (this.shadowChanges() === before) break
            this.remoteRereads++
            if (tries === JUDGE_READS - 1) v.push("remote: its image changed during each of " + JUDGE_READS + " final reads")
        }
        return { image, damaged }
    }

    /** Changes to the checker's image of the remote so far: the portions applies made
     * visible, promoted writes, and a remote replaced (an apply of a seq without portions
     * changes nothing: an idle group's seqs do not make the reads start again). */
    private shadowChanges(): number {
        return this.portionsApplied + this.faultsInjected.remoteReplaced
    }

    /** Reads a store's image through the firmware, in virtual time. */
    readImage(read: (b: number, lba: number, done: (d: Buffer | null) => void) => void): (Buffer | null)[][] {
        const lbaCount = this.group.opts.lbaCount
        const image: (Buffer | null)[][] = []
        for (let b = 0; b < this.opts.boards; b++) {
            const row: (Buffer | null)[] = []
            for (let lba = 0; lba < lbaCount; lba++) {
                let got = false
                let out: Buffer | null = null
                read(b, lba, (d) => {
                    got = true
                    out = d ? Buffer.from(d) : null
                })
                let guard = 0
                while (!got && guard++ < 100000) if (!this.kernel.step(Number.MAX_SAFE_INTEGER)) break
                row.push(out)
            }
            image.push(row)
        }
        return image
    }

    judge(): void {
        // a verify that found a block different: nothing in a run makes one, so it is a false
        // alarm (or a real difference the other checks missed); a block the remote reports
        // damaged (the rot class) is damage it reports, not a difference it hides
        for (const p of this.group.primaries) {
            const v = p.board ? p.board.verifier : null
            const found = this.verifyFound[p.member] + (v ? v.found - v.foundDamaged : 0)
            if (found > 0) this.violations.push("primary " + p.member + ": verify found " + found + " block(s) different from the remote's image")
        }
        const v = this.violations
        for (const e of this.group.bootErrors) v.push(e)
        const { image: remoteImg, damaged } = this.readRemoteImage(v)
        const remote = decodeImage(this.history, this.group.opts.lbaCount, (b, l) => remoteImg[b][l], decodeBlock, v, "remote")
        this.remoteDamaged = damaged.length
        this.reported(remote, damaged, this.shadow)
        for (const x of checkRemote(this.history, remote, "remote")) v.push(x)
        for (const x of checkCaughtUp(this.history, remote)) this.livenessViolations.push(x)
        for (let b = 0; b < this.opts.boards; b++) {
            const p = this.group.primaries[b]
            const g = this.group.opts
            // a board that is off (gone for good) is judged by its flash, mounted as a copy
            const dmg: Array<[number, number]> = []
            const img =
                p.up && p.store
                    ? this.readImage((bb, lba, done) => {
                          if (bb !== b || !p.store) return done(null)
                          p.store.read(b, lba, (err, data) => {
                              if (err === StoreError.Corrupt) dmg.push([b, lba])
                              done(err === 0 ? data : null)
                          })
                      })
                    : readFlashImage(p.chip, { role: StoreRole.Primary, blockSize: g.blockSize, boards: this.opts.boards, lbaCount: g.lbaCount, only: b }, dmg)
            if (!img) {
                v.push("primary " + b + ": its flash does not mount")
                continue
            }
            const ids: BlockId[][] = decodeImage(this.history, this.group.opts.lbaCount, (bb, l) => (bb === b ? img[bb][l] : null), decodeBlock, [], "primary")
            this.reported(ids, dmg, null)
            for (const x of checkPrimary(this.history, b, ids, "primary " + b)) v.push(x)
        }
    }
}

export function runSim(opts: SimOptions): SimResult {
    return new Simulation(opts).run()
}
