import { Clock, Timer } from "../../hal/clock"
import { GroupBus } from "../../hal/groupBus"
import { copyOf } from "../codec/bytes"
import { seqAfter, seqDiff } from "../seq"
import {
    encodeEvicted,
    encodeRelease,
    encodeShuttle,
    EVICTED_BYTES,
    EvictedFrame,
    FLAG_ADMIT,
    FLAG_BUSY,
    FLAG_RAISED,
    MAX_MEMBERS,
    MAX_WINDOW,
    RELEASE_MAX_BYTES,
    RELEASE_MIN_BYTES,
    ReleaseFrame,
    SHUTTLE_MAX_BYTES,
} from "./frames"
import { ShuttleHost, ShuttleOptions } from "./host"
import { KEPT_FINALS, ShuttleMember } from "./member"

/**
 * How a member passes the shuttle on (the hand-over, with retries and absent members, and the
 * idle pause), what it sends to every member at once (releases and evictions as general
 * calls), and how it finds the shuttle lost and makes a new one (the lap timer and
 * regeneration). ShuttleAgent (firmware/shuttle/agent.ts) adds the frames in and the visit.
 */
export abstract class ShuttleRelay extends ShuttleMember {
    protected holding = false
    /** Incremented whenever a held shuttle is given up, so late callbacks can tell. */
    protected holdToken = 0
    protected lapTimer: Timer | null = null
    private holdTimer: Timer | null = null
    protected rel = new ReleaseFrame()
    protected ev = new EvictedFrame()
    private lastFrameLen = 0
    private txShuttle: Buffer
    private txRelease: Buffer
    private txEvicted: Buffer

    protected idlePauseMs: number
    protected idlePauseMaxMs: number
    /** This member was the lap's first member at its current visit. */
    protected visitFirst = false
    /** The last shuttle this member passed on, it passed as the lap's first member: the next
     * visit comes after a lap without a long pause (false: after up to idlePauseMaxMs). */
    protected passedFirst = false
    private retries: number
    protected hopSlackMs: number

    constructor(bus: GroupBus, clock: Clock, host: ShuttleHost, opts: ShuttleOptions) {
        super(bus, clock, host, opts)
        this.idlePauseMs = opts.idlePauseMs !== undefined ? opts.idlePauseMs : 20
        this.idlePauseMaxMs = opts.idlePauseMaxMs !== undefined ? opts.idlePauseMaxMs : 100
        if (this.idlePauseMaxMs < this.idlePauseMs) this.idlePauseMaxMs = this.idlePauseMs
        this.retries = opts.handoverRetries !== undefined ? opts.handoverRetries : 1
        this.hopSlackMs = opts.hopSlackMs !== undefined ? opts.hopSlackMs : 1
        this.txShuttle = Buffer.alloc(SHUTTLE_MAX_BYTES)
        this.txRelease = Buffer.alloc(RELEASE_MAX_BYTES)
        this.txEvicted = Buffer.alloc(EVICTED_BYTES)
    }

    /** A visit of the shuttle this member holds (`again`: once more, at the end of an idle
     * pause). */
    protected abstract visit(again: boolean): void

    /** The lap timeout for this member's rank, with the current group size and frame size;
     * longer by the idle pause's growth unless this member passed the shuttle on as the lap's
     * first member (or before the first visit after a restart: it cannot know). */
    lapTimeoutMs(): number {
        const est = this.lapEstimateMs()
        const base = this.opts.lapTimeoutMs !== undefined ? this.opts.lapTimeoutMs : 3 * est
        const rank = this.ring.indexOf(this.addr)
        const growth = this.passedFirst ? 0 : this.idlePauseMaxMs - this.idlePauseMs
        let wait = base + (rank > 0 ? rank : 0) * est + growth
        // a member that holds seqs makes the shuttle before any fresh one
        if (this.fresh) wait += this.ring.length * est
        return wait
    }

    /** Estimated time of one busy lap on this bus (ms). */
    lapEstimateMs(): number {
        const n = this.ring.length
        let bytes = 16 + n + 2 * n * 6
        if (this.lastFrameLen > bytes) bytes = this.lastFrameLen
        const rate = this.bus.bitRate()
        const hop = (((1 + bytes) * 9 + 2) * 1000) / rate
        const rel = (((1 + RELEASE_MIN_BYTES + 2 * n * 3) * 9 + 2) * 1000) / rate
        return n * (hop * (1 + this.retries) + this.hopSlackMs) + rel + this.idlePauseMs
    }

    // ---- general calls

    /** Sends the release of `seq` as a general call, with the final manifests of the window
     * (seqs just before `seq`): every member learns them at once, not only as the shuttle
     * passes, so a manifest survives the loss of the shuttle together with its finalizer. */
    protected sendRelease(seq: number): void {
        const f = this.frame
        const r = this.rel
        r.group = this.opts.group
        r.epoch = this.epoch
        r.origin = this.origin
        r.sender = this.addr
        r.seq = seq
        r.memberMask = 0
        r.count = f.finalLag === 0 && seq === f.seq ? f.windowLen : 0
        for (let i = 0; i < f.count; i++) {
            const id = this.idOf(f.members[i])
            r.memberMask |= 1 << id
            for (let w = 0; w < r.count; w++) {
                r.portions[w * 8 + id] = f.portions[w * 8 + i]
                r.bytes[w * 8 + id] = f.bytes[w * 8 + i]
            }
        }
        const n = encodeRelease(r, this.txRelease)
        this.counters.releasesSent++
        this.bus.generalCall(copyOf(this.txRelease, 0, n), () => {})
    }

    /** Sends EVICTED about `target` to member `to`, or to every member when `to` is 0. */
    protected sendNotice(to: number, target: number): void {
        if (to === this.addr) return
        const e = this.ev
        e.group = this.opts.group
        e.epoch = this.epoch
        e.origin = this.origin
        e.sender = this.addr
        e.target = target
        const n = encodeEvicted(e, this.txEvicted)
        this.counters.noticesSent++
        if (to === 0) this.bus.generalCall(copyOf(this.txEvicted, 0, n), () => {})
        else this.bus.write(to, copyOf(this.txEvicted, 0, n), () => {})
    }

    // ---- hand-over

    /** The idle pause: at its end, a board that got data meanwhile takes its turn again
     * (so a write during the pause does not wait a whole extra lap). */
    protected pause(me: number, ms: number): void {
        const self = this
        const token = this.holdToken
        this.holdTimer = this.clock.setTimer(ms, () => {
            self.holdTimer = null
            if (!self.running || !self.holding || self.holdToken !== token) return
            if (self.host.hasDataToSend() && self.host.mayClose()) self.visit(true)
            else self.handOver(me, me, 0)
        })
    }

    private holdFor(ms: number, me: number): void {
        const self = this
        const token = this.holdToken
        this.holdTimer = this.clock.setTimer(ms, () => {
            self.holdTimer = null
            if (self.holding && self.holdToken === token) self.handOver(me, me, 0)
        })
    }

    /** Writes the shuttle to the member after `from` (in ring order); on NACK retries, then
     * marks it absent and tries the next; keeps the shuttle when nobody answers. */
    protected handOver(me: number, from: number, tries: number): void {
        const f = this.frame
        if (!this.running || !this.holding) return
        const next = (from + 1) % f.count
        if (next === me) {
            // nobody else answers: keep the shuttle and try again later
            this.holdFor(this.lapEstimateMs(), me)
            return
        }
        f.holder = this.addr
        this.passedFirst = this.visitFirst
        const len = encodeShuttle(f, this.txShuttle)
        this.lastFrameLen = len
        const target = f.members[next]
        const token = this.holdToken
        const self = this
        this.counters.handovers++
        // a copy per hop, as the bus driver may hold the buffer until done and a regenerated
        // shuttle may be encoded meanwhile: slice copies in the VM; on Node it is a view, and
        // the bus model takes its own copy at the request
        this.bus.write(target, this.txShuttle.slice(0, len), (ack) => {
            if (!self.running || self.holdToken !== token || !self.holding) return
            if (ack) {
                self.holding = false
                self.armLapTimer(-1)
                return
            }
            self.counters.handoverNacks++
            if (tries < self.retries) {
                self.handOver(me, from, tries + 1)
                return
            }
            if ((f.absent & (1 << next)) === 0) self.counters.absentMarked++
            f.absent |= 1 << next
            self.handOver(me, next, 0)
        })
    }

    protected dropHeld(): void {
        this.holding = false
        this.holdToken++
        if (this.holdTimer) this.clock.clearTimer(this.holdTimer)
        this.holdTimer = null
    }

    // ---- loss and regeneration

    protected armLapTimer(ms: number): void {
        if (!this.running) return
        if (this.lapTimer) this.clock.clearTimer(this.lapTimer)
        const self = this
        const delay = ms >= 0 ? ms + this.ring.indexOf(this.addr) * this.lapEstimateMs() : this.lapTimeoutMs()
        this.lapTimer = this.clock.setTimer(delay, () => {
            self.lapTimer = null
            self.lapTimedOut()
        })
    }

    private lapTimedOut(): void {
        if (!this.running) return
        if (this.holding) {
            this.armLapTimer(-1)
            return
        }
        this.regenerate()
    }

    /**
     * No visit within the lap timeout: the shuttle is lost (or was never made). This member
     * makes a new one with a later epoch, at the highest seq it adopted, listing the open seqs
     * since the last final manifest it knows with zero totals: every member writes its own
     * totals again as the new shuttle goes round, and a member whose capture seq is ahead
     * raises S. The first seq the new shuttle issues is S+1 once every member has adopted S,
     * so it is above every seq in use (invariant 9) and capture seqs stay within two
     * consecutive values (invariant 1).
     */
    protected regenerate(): void {
        const f = this.frame
        this.epoch = this.hasEpoch ? (this.epoch + 1) & 0xffff : 1
        this.origin = this.addr
        this.hasEpoch = true
        this.counters.regenerations++
        f.group = this.opts.group
        f.epoch = this.epoch
        f.origin = this.addr
        f.holder = this.addr
        const c = this.host.captureSeq()
        f.seq = seqAfter(this.highestSeq, c) ? this.highestSeq : c
        // this member adopted S, but S may itself have been raised: not every member need have
        // adopted S-1, so nothing is released until every member adopts S
        f.flags = FLAG_BUSY | FLAG_RAISED | (this.admitFlag ? FLAG_ADMIT : 0)
        f.count = this.ring.length
        for (let i = 0; i < f.count; i++) f.members[i] = this.ring[i]
        f.adopted = 0
        f.absent = 0
        f.delivered = 0
        f.held = 0
        f.copying = 0
        let open = seqDiff((f.seq - 1) >>> 0, this.lastFinal)
        if (open < 0) open = 0
        if (open > MAX_WINDOW) {
            this.counters.manifestsMissed += open - MAX_WINDOW
            open = MAX_WINDOW
        }
        // the final manifests this member keeps, just before the open seqs, go round again for
        // the members the lost shuttle had not reached (same member set only)
        let finals = 0
        while (finals < KEPT_FINALS && finals + open < MAX_WINDOW) {
            const want = (this.lastFinal - finals) >>> 0
            const k = this.keptSeq.length - 1 - finals
            if (k < 0 || this.keptSeq[k] !== want || this.keptEvicted[k] !== this.evicted) break
            finals++
        }
        f.windowLen = finals + open
        f.finalLag = open
        for (let i = 0; i < MAX_WINDOW * MAX_MEMBERS; i++) {
            f.portions[i] = 0
            f.bytes[i] = 0
        }
        for (let w = 0; w < finals; w++) {
            const k = this.keptSeq.length - finals + w
            for (let i = 0; i < f.count; i++) {
                const id = this.idOf(f.members[i])
                f.portions[w * 8 + i] = this.keptPortions[k * 8 + id]
                f.bytes[w * 8 + i] = this.keptBytes[k * 8 + id]
            }
        }
        this.save()
        this.dropHeld()
        this.visit(false)
    }
}
