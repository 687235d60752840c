import { Clock, Timer } from "../../hal/clock"
import { GroupBus } from "../../hal/groupBus"
import { copyOf } from "../codec/bytes"
import { Manifest, ManifestEntry, TRACKED } from "../protocol/messages"
import { SeqTotals } from "../protocol/seqTotals"
import { seqAfter, seqDiff, seqNext } from "../seq"
import {
    compareEpoch,
    decodeEvicted,
    decodeRelease,
    decodeShuttle,
    encodeEvicted,
    encodeRelease,
    encodeShuttle,
    EVICTED_BYTES,
    EvictedFrame,
    FLAG_BUSY,
    FLAG_ADMIT,
    FLAG_DATA,
    FLAG_RAISED,
    FrameError,
    FrameType,
    MAX_MEMBERS,
    MAX_WINDOW,
    RELEASE_MAX_BYTES,
    RELEASE_MIN_BYTES,
    ReleaseFrame,
    SHUTTLE_MAX_BYTES,
    ShuttleFrame,
} from "./frames"

/**
 * What the shuttle agent needs from its board (the replication pipeline's cycle side;
 * firmware/pipeline/primary.ts `PrimaryBoard` implements it).
 *
 * Contract
 * - `captureSeq()`: the seq the board stamps on new writes now. It never decreases while the
 *   board runs. After a restart it is a seq the board had adopted, or one the group has
 *   already passed (never one above every seq the group used).
 * - `hasDataToSend()`: writes were captured with the capture seq (or wait to be stamped).
 * - `mayClose()`: the minimum cycle time has passed and the bound on closed seqs waiting for
 *   transmission is not reached.
 * - `adopt(seq)`: start stamping `seq` (never below the capture seq). When `seq` is newer this
 *   closes the capture seq and returns its final totals; adopting the capture seq again
 *   closes nothing and returns zeros.
 * - `release(seq)`: every member has adopted `seq`; writes stamped with it or earlier may be
 *   acknowledged (mode "consistent"). Called with rising seqs only.
 * - `manifestFinal(m)`: the final group totals of seq m.seq (one entry per member with data,
 *   keyed by member id = index in the configured member list), to forward to the remote.
 *   Called once per seq in seq order; after a restart a manifest may come again (identical).
 * - `closedSeqs()`: totals of the closed seqs the remote has not confirmed (used to report
 *   them again into a regenerated shuttle after a restart).
 * - `isTracked(seq)`: the board suspended replication and tracks `seq`: its totals of it are
 *   TRACKED, so the remote never applies the seq alone.
 * - `visited()`: the shuttle has just taken the board's totals of every open seq.
 */
export interface ShuttleHost {
    captureSeq(): number
    hasDataToSend(): boolean
    mayClose(): boolean
    adopt(seq: number): SeqTotals
    release(seq: number): void
    manifestFinal(m: Manifest): void
    closedSeqs(): SeqTotals[]
    isTracked(seq: number): boolean
    visited(): void
}

/**
 * What a member keeps across restarts (the board stores it, e.g. as store metadata). After a
 * restart the board passes back a state whose epoch is at least the last one saved and whose
 * seq is at least the highest seq adopted.
 */
export class ShuttleState {
    constructor(
        /** Newest shuttle epoch seen (16-bit). */
        public epoch: number,
        /** Address of the member that generated that epoch's shuttle. */
        public origin: number,
        /** Highest seq this member adopted. */
        public seq: number,
        /** Bit per member id: members evicted from the group, for good. */
        public evicted: number,
        /** The newest seq this board knows is final for sure: the remote confirmed it as
         * applied, or its final manifest is kept on the board's flash (the board reads it at
         * boot; the agent does not save it). */
        public confirmed: number
    ) {}
}

export interface ShuttleOptions {
    /** Group id carried in every frame; frames of another group are dropped. */
    group: number
    /** The group's member addresses in configuration order: a member's id is its index. 2..8
     * members; this board's address (the bus endpoint's) must be one of them. */
    members: number[]
    /** Pause at the lap's first member before passing on a shuttle that found nothing to do
     * during a whole lap, so an idle group does not keep the bus busy (default 20 ms). */
    idlePauseMs?: number
    /** Bound of the idle pause while the group is quiet: after a lap in which no member did
     * anything or had data to send, the pause doubles, from `idlePauseMs` up to this (default
     * 100 ms). Keep it at most the group's minimum cycle time (`minCycleMs`): the first seq
     * after a quiet spell then closes within one cycle time and two laps of its first write. */
    idlePauseMaxMs?: number
    /** Time without a visit after which the shuttle is taken as lost. Default: 3 × the
     * estimated lap time at the bus rate for the group's size, plus the idle pause. Members
     * wait one more estimated lap per rank, so the lowest live member regenerates first. Every
     * member but the lap's first waits the idle pause's growth (`idlePauseMaxMs` -
     * `idlePauseMs`) more: the lap's first member may pause that much longer between two of
     * their visits (its own pause comes before it passes the shuttle on, so not in its wait). */
    lapTimeoutMs?: number
    /** Hand-overs tried again after a NACK before the next member is marked absent (default 1). */
    handoverRetries?: number
    /** Allowance per hop for a board's own latency, in the lap time estimate (default 1 ms). */
    hopSlackMs?: number
    /** State kept across restarts, or null for a board that never ran in this group. */
    restored?: ShuttleState | null
    /** Saves the state; called when the epoch, the adopted seq or the evicted set changes. */
    persist?: (state: ShuttleState) => void
}

export class ShuttleCounters {
    /** Shuttle visits processed (frames received and regenerated). */
    visits = 0
    /** Laps completed, counted by the member that starts each lap. */
    laps = 0
    /** Times this member moved S to S+1. */
    increments = 0
    /** Times this member raised S to its own capture seq (after a regeneration). */
    raises = 0
    regenerations = 0
    releasesSent = 0
    releasesHeard = 0
    /** Releases ignored: for a seq this member has not adopted. */
    releasesIgnored = 0
    manifestsDelivered = 0
    /** Final manifests this member never saw (it was absent while they went round). */
    manifestsMissed = 0
    handovers = 0
    handoverNacks = 0
    /** Members this member found absent (not acknowledging a hand-over). */
    absentMarked = 0
    /** Frames with a bad CRC, length or field. */
    badFrames = 0
    /** Frames of another group, or listing addresses not configured. */
    foreignFrames = 0
    /** Shuttles of an older epoch. */
    staleDropped = 0
    /** A second shuttle of the current epoch while this member held one. */
    duplicateDropped = 0
    /** Shuttles whose S is more than one away from this member's seq (never so when all is
     * well: S stays within one of every member's seq), dropped unless they keep coming. */
    implausibleDropped = 0
    /** Shuttles that list a member this member knows is evicted, or that lack this member. */
    membershipDropped = 0
    noticesSent = 0
    /** S could not move because the shuttle's window of open seqs was full. */
    windowFull = 0
    /** Idle pauses taken. */
    idlePauses = 0
    /** Of those, pauses longer than `idlePauseMs`: the group was quiet for more than a lap. */
    longPauses = 0
}

const HISTORY = 8
/** Final manifests a member keeps to put into a shuttle it regenerates: the lost one may have
 * been carrying them to members that had not seen them yet. */
const KEPT_FINALS = 2

/**
 * One member's part in the shuttle protocol (docs/DESIGN.md, "The shuttle: one token decides";
 * docs/FORMAT-shuttle.md). Event-driven: frames from the group bus, timers from the clock.
 *
 * At each visit the member
 *  1. delivers the final manifests it has not seen to its board (and drops them from the
 *     shuttle once every member has them);
 *  2. applies a pending operator eviction;
 *  3. raises S to its capture seq if it is ahead (only after a regeneration);
 *  4. if it had adopted S before this visit, every member has adopted S, and it has data and
 *     may close: moves S to S+1 — with no data anywhere S never moves;
 *  5. adopts S, which closes its previous seq, and writes the totals of every open seq it has
 *     closed into the shuttle (its running totals);
 *  6. when every member has now adopted S: the manifests up to S-1 are final, S is released,
 *     and this member sends the release as a general call;
 *  7. passes the shuttle to the next member in address order, skipping (and marking absent)
 *     members that do not acknowledge.
 */
export class ShuttleAgent {
    readonly counters = new ShuttleCounters()
    /** Called with the member's own eviction (it stops) and with other members' evictions;
     * `seq` is the group's seq when this member learned it (0: restored at boot). */
    onEvicted: ((address: number, self: boolean, seq: number) => void) | null = null
    /** Called with the member's own admission (it takes part again: its board copies its whole
     * image to the remote) and with other members' admissions, at the group's seq `seq`. */
    onAdmitted: ((address: number, self: boolean, seq: number) => void) | null = null
    /** Duration of the last lap, measured by the member that starts laps (ms), or -1. */
    lastLapMs = -1

    private addr: number
    private ids: number[]
    /** Current members (not evicted), ascending addresses: the ring. */
    private ring: number[] = []
    private evicted = 0
    private pendingEvict: number[] = []
    /** Addresses the operator admitted here, until the shuttle shows them adopting. */
    private pendingAdmit: number[] = []
    /** Frames this member passes on carry FLAG_ADMIT, until it sees every listed member adopt
     * (S moved twice since admitSeq, or every adopted bit set). */
    private admitFlag = false
    private admitSeq = 0
    /** Evicted: the board listens for the shuttle that admits it again, and for nothing else. */
    private listening = false

    private epoch = 0
    private origin = 0
    private hasEpoch = false
    private highestSeq: number
    private released: number
    private lastFinal: number
    private lastDelivered: number
    private adoptedOnce = false
    private selfEvicted = false

    private histSeq: number[] = []
    private histPortions: number[] = []
    private histBytes: number[] = []
    private historyFloor: number

    private keptSeq: number[] = []
    private keptPortions: number[] = []
    private keptBytes: number[] = []
    private keptEvicted: number[] = []

    private frame = new ShuttleFrame()
    private scratch = new ShuttleFrame()
    private holding = false
    /** Incremented whenever a held shuttle is given up, so late callbacks can tell. */
    private holdToken = 0
    private lapStartMs = -1
    private implausibleSeq = 0
    private implausibleCount = 0
    private txShuttle: Buffer
    private txRelease: Buffer
    private txEvicted: Buffer
    private rel = new ReleaseFrame()
    private ev = new EvictedFrame()
    private lastFrameLen = 0

    private lapTimer: Timer | null = null
    private holdTimer: Timer | null = null
    private running = false

    private idlePauseMs: number
    private idlePauseMaxMs: number
    /** The last idle pause this member took as the lap's first member, while the group stays
     * quiet (0: the last lap it started was not quiet, or it was not the lap's first member). */
    private quietPauseMs = 0
    /** This member was the lap's first member at its current visit. */
    private visitFirst = false
    /** The last shuttle this member passed on, it passed as the lap's first member: the next
     * visit comes after a lap without a long pause (false: after up to idlePauseMaxMs). */
    private passedFirst = false
    private retries: number
    private hopSlackMs: number

    constructor(
        private bus: GroupBus,
        private clock: Clock,
        private host: ShuttleHost,
        private opts: ShuttleOptions
    ) {
        this.addr = bus.address()
        const ms = opts.members
        if (ms.length < 2 || ms.length > MAX_MEMBERS) throw new Error("a group has 2 to 8 members")
        this.ids = []
        for (let i = 0; i < ms.length; i++) {
            if (ms[i] < 0x08 || ms[i] > 0x77) throw new Error("member address out of range 0x08..0x77")
            for (let j = 0; j < i; j++) if (ms[j] === ms[i]) throw new Error("member address listed twice")
            this.ids.push(ms[i])
        }
        if (this.idOf(this.addr) < 0) throw new Error("this board's address is not a member")
        this.idlePauseMs = opts.idlePauseMs !== undefined ? opts.idlePauseMs : 20
        this.idlePauseMaxMs = opts.idlePauseMaxMs !== undefined ? opts.idlePauseMaxMs : 100
        if (this.idlePauseMaxMs < this.idlePauseMs) this.idlePauseMaxMs = this.idlePauseMs
        this.retries = opts.handoverRetries !== undefined ? opts.handoverRetries : 1
        this.hopSlackMs = opts.hopSlackMs !== undefined ? opts.hopSlackMs : 1
        this.txShuttle = Buffer.alloc(SHUTTLE_MAX_BYTES)
        this.txRelease = Buffer.alloc(RELEASE_MAX_BYTES)
        this.txEvicted = Buffer.alloc(EVICTED_BYTES)
        for (let i = 0; i < KEPT_FINALS * MAX_MEMBERS; i++) {
            this.keptPortions.push(0)
            this.keptBytes.push(0)
        }

        const c = host.captureSeq()
        const r = opts.restored
        if (r) {
            this.epoch = r.epoch & 0xffff
            this.origin = r.origin
            this.hasEpoch = true
            this.evicted = r.evicted & ((1 << ms.length) - 1)
            this.highestSeq = seqAfter(r.seq, c) ? r.seq : c
            // having adopted seq h means the group had adopted h-1 and closed h-2; but the final
            // manifest of a seq after the one the board knows final for sure may be lost with
            // the power, so such seqs are taken as open again: the members write their totals
            // of them once more (from the data still pinned on their flash) and they become final
            // with the same totals, instead of waiting for a manifest nobody holds
            this.lastFinal = (this.highestSeq - 2) >>> 0
            if (seqAfter(this.lastFinal, r.confirmed)) this.lastFinal = r.confirmed >>> 0
        } else {
            this.highestSeq = c
            this.lastFinal = (c - 1) >>> 0
        }
        this.lastDelivered = this.lastFinal
        this.released = (c - 1) >>> 0
        this.historyFloor = c
        this.buildRing()
        // a board evicted for good stays out: it never starts (isEvicted says so)
        this.selfEvicted = this.ring.indexOf(this.addr) < 0
        const self = this
        bus.onReceive((data, gc) => self.receive(data, gc))
    }

    // ---- public

    /** Starts taking part: the lowest member creates the first shuttle if none comes. */
    start(): void {
        if (this.running) return
        this.listening = this.selfEvicted
        if (this.selfEvicted) return
        this.running = true
        this.armLapTimer(this.opts.restored ? -1 : this.hopSlackMs)
    }

    /** Stops for good (power off, eviction): no more timers, frames are ignored. */
    stop(): void {
        this.running = false
        this.listening = false
        this.dropHeld()
        if (this.lapTimer) this.clock.clearTimer(this.lapTimer)
        this.lapTimer = null
    }

    isRunning(): boolean {
        return this.running
    }

    /** This board was evicted from the group: it takes no part any more. */
    isEvicted(): boolean {
        return this.selfEvicted
    }

    /** The newest seq every member is known to have adopted. */
    releasedSeq(): number {
        return this.released
    }

    epochOf(): number {
        return this.epoch
    }

    /** Current member addresses, ascending. */
    members(): number[] {
        const out: number[] = []
        for (let i = 0; i < this.ring.length; i++) out.push(this.ring[i])
        return out
    }

    /** The shuttle this member holds or last passed on (for tests and the console). */
    lastShuttle(): ShuttleFrame {
        return this.frame
    }

    /**
     * Operator eviction: removes the member at `address` from the group for good (docs/
     * FORMAT-shuttle.md, "Eviction"). It takes effect at a visit of this member once every
     * other member has the final manifests the shuttle carries; from then on seqs become final
     * without that member, its totals leave every seq that was not yet final, and the evicted
     * board is told to stop (at once, and again whenever it speaks). Returns null when
     * accepted, or why not.
     */
    evict(address: number): string | null {
        if (address === this.addr) return "a member cannot evict itself"
        if (this.ring.indexOf(address) < 0) return "not a current member"
        if (this.ring.length - this.pendingEvict.length <= 2) return "a group keeps at least 2 members"
        if (this.pendingEvict.indexOf(address) < 0) this.pendingEvict.push(address)
        this.pendingAdmit = without(this.pendingAdmit, address)
        return null
    }

    /**
     * Operator admission: takes a member evicted earlier back into the group (docs/
     * FORMAT-shuttle.md, "Admission"). At the next visit of this member, the member goes back
     * into the shuttle's list with zero totals, and every adopted bit is cleared: no seq is released again until every member, the
     * admitted one included, has taken a shuttle that lists it. The evicted board, which
     * listens for just that, wakes, and its board copies its whole image to the remote, which
     * applies it with the group's next resync. Returns null when accepted, or why not.
     */
    admit(address: number): string | null {
        const id = this.idOf(address)
        if (id < 0) return "not a member of the group's configuration"
        if (this.selfEvicted) return "this board is evicted itself"
        if (this.pendingAdmit.indexOf(address) >= 0) return "already being admitted"
        if ((this.evicted & (1 << id)) === 0) return "not evicted"
        this.pendingAdmit.push(address)
        return null
    }

    /** The lap timeout for this member's rank, with the current group size and frame size;
     * longer by the idle pause's growth unless this member passed the shuttle on as the lap's
     * first member (or before the first visit after a restart: it cannot know). */
    lapTimeoutMs(): number {
        const est = this.lapEstimateMs()
        const base = this.opts.lapTimeoutMs !== undefined ? this.opts.lapTimeoutMs : 3 * est
        const rank = this.ring.indexOf(this.addr)
        const growth = this.passedFirst ? 0 : this.idlePauseMaxMs - this.idlePauseMs
        return base + (rank > 0 ? rank : 0) * est + growth
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

    // ---- frames in

    private receive(data: Buffer, gc: boolean): void {
        if (!this.running) {
            // an evicted board listens for the shuttle that admits it again
            if (this.listening && !gc && data.length > 0 && data[0] === FrameType.Shuttle) this.onShuttle(data)
            return
        }
        if (data.length < 1) {
            this.counters.badFrames++
            return
        }
        const t = data[0]
        if (t === FrameType.Shuttle && !gc) this.onShuttle(data)
        else if (t === FrameType.Release && gc) this.onRelease(data)
        else if (t === FrameType.Evicted) this.onEvictedNotice(data)
        else this.counters.badFrames++
    }

    private onShuttle(data: Buffer): void {
        const f = this.scratch
        if (decodeShuttle(data, data.length, f) !== FrameError.None) {
            this.counters.badFrames++
            return
        }
        if (f.group !== this.opts.group) {
            this.counters.foreignFrames++
            return
        }
        // membership: the frame's list must be the ring, or the ring less members evicted since,
        // or (FLAG_ADMIT) plus members admitted again
        let admits = 0
        for (let i = 0; i < f.count; i++) {
            const a = f.members[i]
            const id = this.idOf(a)
            if (id < 0) {
                this.counters.foreignFrames++
                return
            }
            if ((this.evicted & (1 << id)) !== 0 && (f.flags & FLAG_ADMIT) !== 0) admits |= 1 << id
            else if ((this.evicted & (1 << id)) !== 0) {
                this.counters.membershipDropped++
                // whoever sent it does not know: tell it (an evicted board then stops)
                this.sendNotice(f.holder, a)
                return
            }
        }
        if (f.indexOf(this.addr) < 0) {
            this.counters.membershipDropped++
            return
        }
        if (!this.running) {
            // evicted: only the shuttle that admits this board again wakes it, whatever its
            // epoch and seq (the group went on without it)
            if ((admits & (1 << this.idOf(this.addr))) === 0) return
            this.selfEvicted = false
            this.listening = false
            this.running = true
            this.hasEpoch = false
        }
        const cmp = this.hasEpoch ? compareEpoch(f.epoch, f.origin, this.epoch, this.origin) : 1
        if (cmp >= 0 && this.hasEpoch && !this.plausible(f)) return
        if (cmp < 0) {
            this.counters.staleDropped++
            return
        }
        // within one epoch S never goes back below a seq this member adopted from it: a frame
        // that does is an old copy, as is a second frame while this member holds one
        if (cmp === 0 && (this.holding || seqAfter(this.host.captureSeq(), f.seq))) {
            this.counters.duplicateDropped++
            return
        }
        if (cmp > 0) {
            // a newer shuttle supersedes the one this member may hold
            this.dropHeld()
            this.epoch = f.epoch
            this.origin = f.origin
            this.hasEpoch = true
            this.save()
        }
        if ((f.flags & FLAG_ADMIT) !== 0 && !this.admitFlag) this.flagAdmit(f.seq)
        if (admits !== 0) this.learnAdmitted(admits, f.seq)
        for (let i = 0; i < this.ring.length; i++) {
            const a = this.ring[i]
            if (f.indexOf(a) < 0) this.learnEvicted(a)
        }
        this.frame.copyFrom(f)
        this.visit(false)
    }

    /**
     * S is within one of this member's highest seq whenever all is well (S cannot pass the seq
     * after any member's, and a regenerated shuttle starts at its maker's). A frame far off is
     * corrupt in a way the CRC missed, or forged: dropped, so that one bad frame cannot make a
     * member jump. A shuttle with about the same S coming a third time in a row is taken anyway
     * (the live shuttle comes every lap; a board restored far behind must not lock out).
     */
    private plausible(f: ShuttleFrame): boolean {
        const c = this.host.captureSeq()
        const ref = seqAfter(this.highestSeq, c) ? this.highestSeq : c
        const d = seqDiff(f.seq, ref)
        if (d <= 1 && d >= -1) {
            this.implausibleCount = 0
            return true
        }
        // counted by S, not by epoch: after a whole group restarted, members far apart each
        // regenerate in turn, so the shuttles that keep coming have new epochs but about one S
        const e = seqDiff(f.seq, this.implausibleSeq)
        if (this.implausibleCount > 0 && e <= 1 && e >= -1) this.implausibleCount++
        else {
            this.implausibleSeq = f.seq
            this.implausibleCount = 1
        }
        if (this.implausibleCount >= 3) {
            this.implausibleCount = 0
            return true
        }
        this.counters.implausibleDropped++
        return false
    }

    private onRelease(data: Buffer): void {
        const r = this.rel
        if (decodeRelease(data, data.length, r) !== FrameError.None) {
            this.counters.badFrames++
            return
        }
        if (r.group !== this.opts.group) {
            this.counters.foreignFrames++
            return
        }
        // "every member adopted r" stays true once true, whatever the epoch; but it cannot be
        // true of a seq this member has not adopted
        if (!this.adoptedOnce || seqAfter(r.seq, this.host.captureSeq())) {
            this.counters.releasesIgnored++
            return
        }
        this.counters.releasesHeard++
        this.raiseReleased(r.seq)
        // the final manifests it carries, for seqs r.seq-count .. r.seq-1; only for the same
        // member set as this member's (else the shuttle brings them)
        let mask = 0
        for (let i = 0; i < this.ring.length; i++) mask |= 1 << this.idOf(this.ring[i])
        if (r.count === 0 || r.memberMask !== mask) return
        for (let w = 0; w < r.count; w++) {
            const s = (r.seq - r.count + w) >>> 0
            if (!seqAfter(s, this.lastDelivered)) continue
            if (seqDiff(s, this.lastDelivered) > 1) this.counters.manifestsMissed += seqDiff(s, this.lastDelivered) - 1
            for (let id = 0; id < MAX_MEMBERS; id++) {
                this.byIdP[id] = r.portions[w * 8 + id]
                this.byIdB[id] = r.bytes[w * 8 + id]
            }
            this.deliverOne(s)
            this.lastDelivered = s
            if (seqAfter(s, this.lastFinal)) this.lastFinal = s
        }
    }

    private onEvictedNotice(data: Buffer): void {
        const e = this.ev
        if (decodeEvicted(data, data.length, e) !== FrameError.None) {
            this.counters.badFrames++
            return
        }
        if (e.group !== this.opts.group || this.ring.indexOf(e.sender) < 0 || this.idOf(e.target) < 0) {
            this.counters.foreignFrames++
            return
        }
        if (e.target === this.addr) {
            this.evicted |= 1 << this.idOf(this.addr)
            this.selfEvicted = true
            this.save()
            this.stop()
            this.listening = true
            if (this.onEvicted) this.onEvicted(this.addr, true, this.highestSeq)
            return
        }
        if (this.ring.indexOf(e.target) >= 0 && this.ring.length > 2) this.learnEvicted(e.target)
    }

    // ---- the visit

    private visit(again: boolean): void {
        const f = this.frame
        const c0 = this.counters
        if (!again) c0.visits++
        this.holding = true
        this.holdToken++
        if (this.lapTimer) this.clock.clearTimer(this.lapTimer)
        this.lapTimer = null

        let me = f.indexOf(this.addr)
        // this member was skipped (marked absent) since it last passed the shuttle on: another
        // member was the lap's first meanwhile
        const skipped = (f.absent & (1 << me)) !== 0
        f.absent &= ~(1 << me)
        const wasBusy = (f.flags & FLAG_BUSY) !== 0
        const hadData = (f.flags & FLAG_DATA) !== 0
        const anchor = this.isAnchor(f, me)
        if (!again) {
            this.visitFirst = anchor
            // the pause grows only over laps this member started one after the other: a member
            // that becomes the lap's first member (or is again, after others were) starts from
            // the base pause, which every member's timeout covers
            if (!anchor || skipped || !this.passedFirst) this.quietPauseMs = 0
        }
        if (anchor && !again) {
            const now = this.clock.millis()
            if (this.lapStartMs >= 0) {
                this.lastLapMs = now - this.lapStartMs
                c0.laps++
            }
            this.lapStartMs = now
            f.flags &= ~(FLAG_BUSY | FLAG_DATA)
        }
        let acted = false

        // 1. final manifests: what this member knows is final is final in the shuttle too (a
        // regenerated shuttle may reopen seqs its maker had not seen final)
        if (this.restoreKeptFinals()) acted = true
        if (this.deliverFinals()) acted = true
        let evicting = 0
        for (let k = 0; k < this.pendingEvict.length; k++) {
            const i = f.indexOf(this.pendingEvict[k])
            if (i >= 0) evicting |= 1 << i
        }
        this.trimDelivered(evicting)

        // 2. operator eviction, once every other member has the final manifests of the window
        // (removing a member's totals from a final manifest would change it)
        if (this.pendingEvict.length > 0 && f.finalLag === f.windowLen) {
            for (let k = 0; k < this.pendingEvict.length; k++) {
                const a = this.pendingEvict[k]
                const i = f.indexOf(a)
                if (i >= 0 && f.count > 2) {
                    this.removeMember(f, i)
                    this.learnEvicted(a)
                    // tell every member at once (the evicted one stops), so that no member
                    // accepts a shuttle the evicted one might still make with its old view
                    this.sendNotice(0, a)
                    acted = true
                }
            }
            this.pendingEvict = []
            me = f.indexOf(this.addr)
        }
        // 2b. operator admission; it stays pending until the admitted member adopts
        if (this.pendingAdmit.length > 0 && this.admitPending(f)) {
            acted = true
            me = f.indexOf(this.addr)
        }
        const all = f.allMask()
        const bit = 1 << me
        const seqOnArrival = f.seq
        const fullOnArrival = f.adopted === all

        // 3. raise S to this member's capture seq when it is ahead (a regenerated shuttle
        // starts at its regenerator's seq; a member may have adopted S+1 from the lost one)
        const c = this.host.captureSeq()
        if (seqAfter(c, f.seq)) {
            if (!this.growWindow(seqDiff(c, f.seq))) {
                c0.windowFull++
                if ((f.adopted | bit) === all && f.finalLag > 0) {
                    // every other member adopted S and this one is past it, so every seq of the
                    // window is closed everywhere: make them final now, and the window moves on
                    // once the members have delivered them (after a whole group restarted, the
                    // window reopens every seq the remote had not confirmed, and may be full)
                    this.finalizeWindow(me)
                    f.flags |= FLAG_BUSY
                    this.handOver(me, me, 0)
                    return
                }
                // a member behind S has not taken it yet: this shuttle cannot go on here, and a
                // shuttle regenerated below this member's seq would stop here again, so this
                // member makes the next one, at its own seq
                this.regenerate()
                return
            }
            f.seq = c
            f.adopted = 0
            // a restarted member's capture seq is one it never adopted (the seq after the newest
            // on its flash): S-1 was not adopted by every member, so it is not released by this S
            if (!this.adoptedOnce) f.flags |= FLAG_RAISED
            c0.raises++
            acted = true
        }

        // 4. the seq update
        const hadAdopted = (f.adopted & bit) !== 0 && c === f.seq && this.adoptedOnce
        if (hadAdopted && f.adopted === all && this.host.hasDataToSend() && this.host.mayClose()) {
            if (this.growWindow(1)) {
                f.seq = seqNext(f.seq)
                f.adopted = 0
                f.flags &= ~FLAG_RAISED
                c0.increments++
                acted = true
            } else c0.windowFull++
        }

        // 5. adopt S; this closes the previous capture seq
        if (!this.adoptedOnce || c !== f.seq) {
            // invariant 1: a capture seq never decreases
            if (seqAfter(c, f.seq)) throw new Error("shuttle would lower the capture seq")
            const t = this.host.adopt(f.seq)
            if (this.host.captureSeq() !== f.seq) throw new Error("board did not adopt the shuttle's seq")
            if (c !== f.seq) this.remember(c, t.portions, t.bytes)
            this.adoptedOnce = true
            if (seqAfter(f.seq, this.highestSeq)) this.highestSeq = f.seq
            this.save()
            acted = true
        }
        f.adopted |= bit
        // running totals: this member's totals of every open (not final) seq of the window
        for (let w = f.windowLen - f.finalLag; w < f.windowLen; w++) {
            this.totalsOf(f.windowSeq(w))
            f.portions[w * 8 + me] = this.tP
            f.bytes[w * 8 + me] = this.tB
        }
        this.host.visited()

        // 6. release and final manifests
        if ((f.flags & FLAG_RAISED) === 0) this.raiseReleased((f.seq - 1) >>> 0)
        if (f.adopted === all) {
            f.flags &= ~FLAG_RAISED
            this.raiseReleased(f.seq)
            if (f.finalLag > 0) {
                this.finalizeWindow(me)
                acted = true
            }
            if (!(fullOnArrival && seqOnArrival === f.seq)) this.sendRelease(f.seq)
        }

        if (acted) f.flags |= FLAG_BUSY
        // data waiting for the minimum cycle time (or for the link): the lap is not quiet
        if (this.host.hasDataToSend()) f.flags |= FLAG_DATA
        // every member has taken a shuttle that lists the members admitted (S moves only when
        // every member adopted it, and nobody had adopted S when they went in): the flag has done
        if (f.adopted === all || seqDiff(f.seq, this.admitSeq) >= 2) this.admitFlag = false
        if (this.admitFlag) f.flags |= FLAG_ADMIT
        else f.flags &= ~FLAG_ADMIT
        // 7. pass it on, after a pause if a whole lap found nothing to do; the pause doubles
        // with every further lap in which no member had data either (up to idlePauseMaxMs)
        if (anchor && !again) {
            const quiet = !wasBusy && !acted && !hadData && (f.flags & FLAG_DATA) === 0
            if (!quiet) this.quietPauseMs = 0
            else this.quietPauseMs = this.quietPauseMs > 0 ? this.quietPauseMs * 2 : this.idlePauseMs
            if (this.quietPauseMs > this.idlePauseMaxMs) this.quietPauseMs = this.idlePauseMaxMs
        }
        if (anchor && !again && !wasBusy && !acted && this.idlePauseMs > 0) {
            c0.idlePauses++
            const ms = this.quietPauseMs > this.idlePauseMs ? this.quietPauseMs : this.idlePauseMs
            if (ms > this.idlePauseMs) c0.longPauses++
            this.pause(me, ms)
        } else this.handOver(me, me, 0)
    }

    /** Writes this member's totals of the open seqs of the window and makes them final. */
    private finalizeWindow(me: number): void {
        const f = this.frame
        for (let w = f.windowLen - f.finalLag; w < f.windowLen; w++) {
            this.totalsOf(f.windowSeq(w))
            f.portions[w * 8 + me] = this.tP
            f.bytes[w * 8 + me] = this.tB
        }
        f.finalLag = 0
        f.delivered = 0
        this.host.visited()
        this.deliverFinals()
    }

    /** The idle pause: at its end, a board that got data meanwhile takes its turn again
     * (so a write during the pause does not wait a whole extra lap). */
    private pause(me: number, ms: number): void {
        const self = this
        const token = this.holdToken
        this.holdTimer = this.clock.setTimer(ms, () => {
            self.holdTimer = null
            if (!self.running || !self.holding || self.holdToken !== token) return
            if (self.host.hasDataToSend() && self.host.mayClose()) self.visit(true)
            else self.handOver(me, me, 0)
        })
    }

    /** Delivers the final manifests of the window this member has not delivered yet. */
    private deliverFinals(): boolean {
        const f = this.frame
        const me = f.indexOf(this.addr)
        const finalN = f.windowLen - f.finalLag
        const F = f.finalThrough()
        let any = false
        if (finalN > 0 && seqAfter(F, this.lastDelivered)) {
            const first = f.windowSeq(0)
            if (seqDiff(first, this.lastDelivered) > 1) this.counters.manifestsMissed += seqDiff(first, this.lastDelivered) - 1
            for (let w = 0; w < finalN; w++) {
                const s = f.windowSeq(w)
                if (!seqAfter(s, this.lastDelivered)) continue
                for (let id = 0; id < MAX_MEMBERS; id++) {
                    this.byIdP[id] = 0
                    this.byIdB[id] = 0
                }
                for (let i = 0; i < f.count; i++) {
                    const id = this.idOf(f.members[i])
                    this.byIdP[id] = f.portions[w * 8 + i]
                    this.byIdB[id] = f.bytes[w * 8 + i]
                }
                this.deliverOne(s)
                any = true
            }
            this.lastDelivered = F
        }
        if (seqAfter(F, this.lastFinal)) this.lastFinal = F
        if (finalN > 0) f.delivered |= 1 << me
        return any
    }

    /** Marks the open seqs of the window that this member knows as final (it kept their
     * manifests) final again, with the totals it delivered, so that a manifest never changes. */
    private restoreKeptFinals(): boolean {
        const f = this.frame
        let any = false
        while (f.finalLag > 0) {
            const s = (f.finalThrough() + 1) >>> 0
            let k = -1
            for (let j = 0; j < this.keptSeq.length; j++) if (this.keptSeq[j] === s) k = j
            if (k < 0 || this.keptEvicted[k] !== this.evicted) break
            const w = f.windowLen - f.finalLag
            for (let i = 0; i < f.count; i++) {
                const id = this.idOf(f.members[i])
                f.portions[w * 8 + i] = this.keptPortions[k * 8 + id]
                f.bytes[w * 8 + i] = this.keptBytes[k * 8 + id]
            }
            f.finalLag--
            if (!any) f.delivered = 0
            any = true
        }
        return any
    }

    /** Totals by member id of the manifest being delivered. */
    private byIdP: number[] = [0, 0, 0, 0, 0, 0, 0, 0]
    private byIdB: number[] = [0, 0, 0, 0, 0, 0, 0, 0]

    /** Gives the final manifest of seq s (totals in byIdP/byIdB) to the board and keeps it. */
    private deliverOne(s: number): void {
        const entries: ManifestEntry[] = []
        for (let id = 0; id < this.ids.length; id++) {
            const p = this.byIdP[id]
            const b = this.byIdB[id]
            if (p > 0 || b > 0) entries.push(new ManifestEntry(id, p, b))
        }
        this.host.manifestFinal(new Manifest(s, (s - 1) >>> 0, entries))
        this.counters.manifestsDelivered++
        if (this.keptSeq.length === KEPT_FINALS) {
            for (let k = 0; k + 1 < KEPT_FINALS; k++) {
                for (let id = 0; id < MAX_MEMBERS; id++) {
                    this.keptPortions[k * 8 + id] = this.keptPortions[(k + 1) * 8 + id]
                    this.keptBytes[k * 8 + id] = this.keptBytes[(k + 1) * 8 + id]
                }
            }
            this.keptSeq.shift()
            this.keptEvicted.shift()
        }
        const k = this.keptSeq.length
        for (let id = 0; id < MAX_MEMBERS; id++) {
            this.keptPortions[k * 8 + id] = this.byIdP[id]
            this.keptBytes[k * 8 + id] = this.byIdB[id]
        }
        this.keptSeq.push(s)
        this.keptEvicted.push(this.evicted)
    }

    /** Drops the final seqs from the window once every member has delivered them, not
     * counting members about to be evicted. An absent member holds them back: it cannot fall
     * far behind, since S cannot pass the seq after its capture seq. */
    private trimDelivered(except: number): void {
        const f = this.frame
        const finalN = f.windowLen - f.finalLag
        if (finalN === 0) return
        const need = f.allMask() & ~except
        if ((f.delivered & need) !== need) return
        this.shiftWindow(f, finalN)
        f.delivered = 0
    }

    /** Makes room for k more seqs at the end of the window; false if it cannot. Final seqs
     * still going round are dropped first if needed (members that missed them count it). */
    private growWindow(k: number): boolean {
        const f = this.frame
        if (k < 1) return true
        if (f.windowLen + k > MAX_WINDOW) {
            const finalN = f.windowLen - f.finalLag
            const need = f.windowLen + k - MAX_WINDOW
            if (need > finalN) return false
            this.shiftWindow(f, need)
        }
        for (let n = 0; n < k; n++) {
            const w = f.windowLen
            for (let i = 0; i < MAX_MEMBERS; i++) {
                f.portions[w * 8 + i] = 0
                f.bytes[w * 8 + i] = 0
            }
            f.windowLen++
            f.finalLag++
        }
        return true
    }

    private shiftWindow(f: ShuttleFrame, n: number): void {
        for (let w = 0; w + n < f.windowLen; w++) {
            for (let i = 0; i < MAX_MEMBERS; i++) {
                f.portions[w * 8 + i] = f.portions[(w + n) * 8 + i]
                f.bytes[w * 8 + i] = f.bytes[(w + n) * 8 + i]
            }
        }
        f.windowLen -= n
        if (f.finalLag > f.windowLen) f.finalLag = f.windowLen
    }

    private removeMember(f: ShuttleFrame, idx: number): void {
        const squeeze = (m: number) => (m & ((1 << idx) - 1)) | ((m >> (idx + 1)) << idx)
        for (let i = idx; i + 1 < f.count; i++) {
            f.members[i] = f.members[i + 1]
            for (let w = 0; w < f.windowLen; w++) {
                f.portions[w * 8 + i] = f.portions[w * 8 + i + 1]
                f.bytes[w * 8 + i] = f.bytes[w * 8 + i + 1]
            }
        }
        f.count--
        f.adopted = squeeze(f.adopted)
        f.absent = squeeze(f.absent)
        f.delivered = squeeze(f.delivered)
    }

    private isAnchor(f: ShuttleFrame, me: number): boolean {
        for (let i = 0; i < f.count; i++) if ((f.absent & (1 << i)) === 0) return i === me
        return false
    }

    // ---- totals of this member's closed seqs

    private tP = 0
    private tB = 0

    private remember(seq: number, portions: number, bytes: number): void {
        if (this.histSeq.length === HISTORY) {
            this.historyFloor = seqNext(this.histSeq[0])
            this.histSeq.shift()
            this.histPortions.shift()
            this.histBytes.shift()
        }
        this.histSeq.push(seq)
        this.histPortions.push(portions)
        this.histBytes.push(bytes)
    }

    /** Sets tP/tB to this member's totals of a seq before its capture seq. */
    private totalsOf(seq: number): void {
        if (this.host.isTracked(seq)) {
            this.tP = TRACKED
            this.tB = 0
            return
        }
        for (let i = this.histSeq.length - 1; i >= 0; i--) {
            if (this.histSeq[i] === seq) {
                this.tP = this.histPortions[i]
                this.tB = this.histBytes[i]
                return
            }
        }
        this.tP = 0
        this.tB = 0
        // every closure at or after the floor is remembered: a seq there that is not is one
        // this member skipped; before the floor (after a restart) the board still has its data
        if (!seqAfter(this.historyFloor, seq)) return
        const closed = this.host.closedSeqs()
        for (let i = 0; i < closed.length; i++) {
            if (closed[i].seq === seq) {
                this.tP = closed[i].portions
                this.tB = closed[i].bytes
                return
            }
        }
    }

    // ---- release

    private raiseReleased(seq: number): void {
        if (!seqAfter(seq, this.released)) return
        if (seqAfter(seq, this.host.captureSeq())) return
        this.released = seq
        this.host.release(seq)
    }

    /** Sends the release of `seq` as a general call, with the final manifests of the window
     * (seqs just before `seq`): every member learns them at once, not only as the shuttle
     * passes, so a manifest survives the loss of the shuttle together with its finalizer. */
    private sendRelease(seq: number): void {
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
    private sendNotice(to: number, target: number): void {
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
    private handOver(me: number, from: number, tries: number): void {
        const f = this.frame
        if (!this.running || !this.holding) return
        let next = (from + 1) % f.count
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
        // a copy per hop: the bus driver may hold the buffer until done
        this.bus.write(target, copyOf(this.txShuttle, 0, len), (ack) => {
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

    private dropHeld(): void {
        this.holding = false
        this.holdToken++
        if (this.holdTimer) this.clock.clearTimer(this.holdTimer)
        this.holdTimer = null
    }

    // ---- loss and regeneration

    private armLapTimer(ms: number): void {
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
    private regenerate(): void {
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

    // ---- membership and state

    private idOf(addr: number): number {
        for (let i = 0; i < this.ids.length; i++) if (this.ids[i] === addr) return i
        return -1
    }

    private buildRing(): void {
        const r: number[] = []
        for (let i = 0; i < this.ids.length; i++) if ((this.evicted & (1 << i)) === 0) r.push(this.ids[i])
        // ascending addresses: the order the shuttle travels
        for (let i = 1; i < r.length; i++) {
            const v = r[i]
            let j = i - 1
            while (j >= 0 && r[j] > v) {
                r[j + 1] = r[j]
                j--
            }
            r[j + 1] = v
        }
        this.ring = r
    }

    private learnEvicted(addr: number): void {
        const id = this.idOf(addr)
        if (id < 0 || (this.evicted & (1 << id)) !== 0) return
        this.evicted |= 1 << id
        this.buildRing()
        this.pendingEvict = without(this.pendingEvict, addr)
        this.save()
        if (this.onEvicted) this.onEvicted(addr, false, this.highestSeq)
    }

    /** Members of `mask` (by id) are admitted again, at the group's seq `seq`. */
    private learnAdmitted(mask: number, seq: number): void {
        this.evicted &= ~mask
        this.flagAdmit(seq)
        this.buildRing()
        this.save()
        for (let id = 0; id < this.ids.length; id++)
            if ((mask & (1 << id)) !== 0 && this.onAdmitted) this.onAdmitted(this.ids[id], this.ids[id] === this.addr, seq)
    }

    private flagAdmit(seq: number): void {
        this.admitFlag = true
        this.admitSeq = seq
    }

    /** The operator's pending admissions at this visit: a member listed and adopting is done;
     * one not listed goes in. True when the list changed. */
    private admitPending(f: ShuttleFrame): boolean {
        const left: number[] = []
        let changed = false
        for (let k = 0; k < this.pendingAdmit.length; k++) {
            const a = this.pendingAdmit[k]
            const i = f.indexOf(a)
            if (i >= 0 && (f.adopted & (1 << i)) !== 0) continue
            left.push(a)
            if (i < 0 && f.count < MAX_MEMBERS) {
                this.insertMember(f, a)
                this.learnAdmitted(1 << this.idOf(a), f.seq)
                changed = true
            }
        }
        this.pendingAdmit = left
        return changed
    }

    /** Puts `addr` into the list at its place with zero totals (the final seqs of the window
     * were made without it, and their manifests list only members with data: they do not
     * change), counted as having delivered them; nobody has adopted S since. */
    private insertMember(f: ShuttleFrame, addr: number): void {
        let idx = 0
        while (idx < f.count && f.members[idx] < addr) idx++
        for (let i = f.count; i >= idx; i--) {
            if (i > idx) f.members[i] = f.members[i - 1]
            for (let w = 0; w < f.windowLen; w++) {
                f.portions[w * 8 + i] = i > idx ? f.portions[w * 8 + i - 1] : 0
                f.bytes[w * 8 + i] = i > idx ? f.bytes[w * 8 + i - 1] : 0
            }
        }
        f.members[idx] = addr
        f.count++
        f.adopted = 0
        f.absent = (f.absent & ((1 << idx) - 1)) | ((f.absent >> idx) << (idx + 1))
        f.delivered = (f.delivered & ((1 << idx) - 1)) | ((f.delivered >> idx) << (idx + 1)) | (1 << idx)
    }

    private save(): void {
        if (this.opts.persist) this.opts.persist(new ShuttleState(this.epoch, this.origin, this.highestSeq, this.evicted, 0))
    }
}

function without(list: number[], v: number): number[] {
    const out: number[] = []
    for (let i = 0; i < list.length; i++) if (list[i] !== v) out.push(list[i])
    return out
}
