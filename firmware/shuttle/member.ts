import { Clock } from "../../hal/clock"
import { GroupBus } from "../../hal/groupBus"
import { Manifest, ManifestEntry } from "../protocol/messages"
import { seqAfter, seqDiff } from "../seq"
import { ClosedTotals } from "./closedTotals"
import { MAX_MEMBERS, ShuttleFrame } from "./frames"
import { ShuttleCounters, ShuttleHost, ShuttleOptions, ShuttleState } from "./host"
import { insertMember } from "./window"

/** Final manifests a member keeps to put into a shuttle it regenerates: the lost one may have
 * been carrying them to members that had not seen them yet. */
export const KEPT_FINALS = 2

/**
 * What one member of the shuttle protocol knows, the ground of its agent (ShuttleAgent,
 * firmware/shuttle/agent.ts): the group's members as it knows them (eviction and admission),
 * the seqs it adopted, released and knows final, the final manifests it delivered to its
 * board (it keeps the last KEPT_FINALS), and the state it keeps across restarts.
 */
export abstract class ShuttleMember {
    readonly counters = new ShuttleCounters()
    /** Called with the member's own eviction (it stops) and with other members' evictions;
     * `seq` is the group's seq when this member learned it (0: restored at boot). */
    onEvicted: ((address: number, self: boolean, seq: number) => void) | null = null
    /** Called with the member's own admission (it takes part again: its board copies its whole
     * image to the remote) and with other members' admissions, at the group's seq `seq`. */
    onAdmitted: ((address: number, self: boolean, seq: number) => void) | null = null

    protected addr: number
    protected ids: number[]
    /** Current members (not evicted), ascending addresses: the ring. */
    protected ring: number[] = []
    protected evicted = 0
    protected pendingEvict: number[] = []
    /** Addresses the operator admitted here, until the shuttle shows them adopting. */
    protected pendingAdmit: number[] = []
    /** Frames this member passes on carry FLAG_ADMIT, until it sees every listed member adopt
     * (S moved twice since admitSeq, or every adopted bit set). */
    protected admitFlag = false
    protected admitSeq = 0
    /** Evicted: the board listens for the shuttle that admits it again, and for nothing else. */
    protected listening = false
    protected running = false

    protected epoch = 0
    protected origin = 0
    protected hasEpoch = false
    protected highestSeq: number
    protected released: number
    protected lastFinal: number
    protected lastDelivered: number
    protected adoptedOnce = false
    /** ShuttleOptions.fresh, until the member adopts its first seq. */
    protected fresh: boolean
    protected selfEvicted = false

    /** This member's totals of the seqs it closed. */
    protected closed: ClosedTotals

    protected keptSeq: number[] = []
    protected keptPortions: number[] = []
    protected keptBytes: number[] = []
    protected keptEvicted: number[] = []
    /** Totals by member id of the manifest being delivered. */
    protected byIdP: number[] = [0, 0, 0, 0, 0, 0, 0, 0]
    protected byIdB: number[] = [0, 0, 0, 0, 0, 0, 0, 0]

    /** The shuttle this member holds or last passed on. */
    protected frame = new ShuttleFrame()

    constructor(
        protected bus: GroupBus,
        protected clock: Clock,
        protected host: ShuttleHost,
        protected opts: ShuttleOptions
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
        for (let i = 0; i < KEPT_FINALS * MAX_MEMBERS; i++) {
            this.keptPortions.push(0)
            this.keptBytes.push(0)
        }

        const c = host.captureSeq()
        const r = opts.restored
        this.fresh = !r && opts.fresh === true
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
        this.closed = new ClosedTotals(host, c)
        this.buildRing()
        // a board evicted for good stays out: it never starts (isEvicted says so)
        this.selfEvicted = this.ring.indexOf(this.addr) < 0
        const self = this
        bus.onReceive((data, gc) => self.receive(data, gc))
    }

    /** A fresh member takes the seqs it knows from the first shuttle it takes, at S, as a
     * member restarted after adopting S would; its board takes S when it adopts it. */
    protected seatAt(seq: number): void {
        this.highestSeq = seq
        this.lastFinal = (seq - 2) >>> 0
        this.lastDelivered = this.lastFinal
        this.released = (seq - 1) >>> 0
        this.closed = new ClosedTotals(this.host, seq)
    }

    /** A frame from the group bus (`gc`: a general call). */
    protected abstract receive(data: Buffer, gc: boolean): void

    // ---- public

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

    // ---- membership and state

    protected idOf(addr: number): number {
        for (let i = 0; i < this.ids.length; i++) if (this.ids[i] === addr) return i
        return -1
    }

    protected buildRing(): void {
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

    protected learnEvicted(addr: number): void {
        const id = this.idOf(addr)
        if (id < 0 || (this.evicted & (1 << id)) !== 0) return
        this.evicted |= 1 << id
        this.buildRing()
        this.pendingEvict = without(this.pendingEvict, addr)
        this.save()
        if (this.onEvicted) this.onEvicted(addr, false, this.highestSeq)
    }

    /** Members of `mask` (by id) are admitted again, at the group's seq `seq`. */
    protected learnAdmitted(mask: number, seq: number): void {
        this.evicted &= ~mask
        this.flagAdmit(seq)
        this.buildRing()
        this.save()
        for (let id = 0; id < this.ids.length; id++)
            if ((mask & (1 << id)) !== 0 && this.onAdmitted) this.onAdmitted(this.ids[id], this.ids[id] === this.addr, seq)
    }

    protected flagAdmit(seq: number): void {
        this.admitFlag = true
        this.admitSeq = seq
    }

    /** The operator's pending admissions at this visit: a member listed and adopting is done;
     * one not listed goes in. True when the list changed. */
    protected admitPending(f: ShuttleFrame): boolean {
        const left: number[] = []
        let changed = false
        for (let k = 0; k < this.pendingAdmit.length; k++) {
            const a = this.pendingAdmit[k]
            const i = f.indexOf(a)
            if (i >= 0 && (f.adopted & (1 << i)) !== 0) continue
            left.push(a)
            if (i < 0 && f.count < MAX_MEMBERS) {
                insertMember(f, a)
                this.learnAdmitted(1 << this.idOf(a), f.seq)
                changed = true
            }
        }
        this.pendingAdmit = left
        return changed
    }

    protected save(): void {
        if (this.opts.persist) this.opts.persist(new ShuttleState(this.epoch, this.origin, this.highestSeq, this.evicted, 0))
    }

    // ---- release and final manifests

    protected raiseReleased(seq: number): void {
        if (!seqAfter(seq, this.released)) return
        if (seqAfter(seq, this.host.captureSeq())) return
        this.released = seq
        this.host.release(seq)
    }

    /** Delivers the final manifests of the window this member has not delivered yet. */
    protected deliverFinals(): boolean {
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
    protected restoreKeptFinals(): boolean {
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

    /** Gives the final manifest of seq s (totals in byIdP/byIdB) to the board and keeps it. */
    protected deliverOne(s: number): void {
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
}

function without(list: number[], v: number): number[] {
    const out: number[] = []
    for (let i = 0; i < list.length; i++) if (list[i] !== v) out.push(list[i])
    return out
}
