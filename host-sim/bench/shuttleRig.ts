import { SimKernel } from "../kernel"
import { Prng } from "../prng"
import { I2cBus, I2cBusOptions, I2cEndpoint } from "../models/i2cBus"
import { Manifest } from "../../firmware/protocol/messages"
import { SeqTotals } from "../../firmware/protocol/seqTotals"
import { seqAfter, seqAtOrBefore, seqDiff } from "../../firmware/seq"
import { ShuttleAgent } from "../../firmware/shuttle/agent"
import { Hold, Need, ShuttleHost, ShuttleOptions, ShuttleState } from "../../firmware/shuttle/host"

/** A board as the shuttle sees it: counts of portions per seq, and a record of every call. */
export class TestHost implements ShuttleHost {
    capture: number
    /** Portions and bytes stamped per seq. */
    portions: Record<number, number> = {}
    bytes: Record<number, number> = {}
    closed: number[] = []
    adopts: { seq: number; at: number }[] = []
    releases: { seq: number; at: number }[] = []
    manifests: Manifest[] = []
    releasedSeq = 0
    mayCloseNow = true
    /** The test's board holds its capture seq open (a resync's copy at the history bound). */
    holdNow: number = Hold.None
    /** Why the test's board cannot go on without the next seq. */
    needNow = Need.None
    /** Writes waiting for their seq to be released (consistent mode). */
    unacked: { seq: number; issuedAt: number; done: (seq: number) => void }[] = []

    constructor(
        public group: TestGroup,
        public id: number,
        startSeq: number
    ) {
        this.capture = startSeq
    }

    /** Stamps n portions of `size` bytes with the capture seq; each is acknowledged once its
     * seq is released. */
    write(n = 1, size = 256, done?: (seq: number) => void): number {
        const s = this.capture
        this.portions[s] = (this.portions[s] || 0) + n
        this.bytes[s] = (this.bytes[s] || 0) + n * size
        if (done) {
            if (this.hasReleased && seqAtOrBefore(s, this.releasedSeq)) done(s)
            else this.unacked.push({ seq: s, issuedAt: this.group.k.millis(), done })
        }
        return s
    }

    captureSeq(): number {
        return this.capture
    }
    hasDataToSend(): boolean {
        return (this.portions[this.capture] || 0) > 0
    }
    mayClose(): boolean {
        return this.mayCloseNow && (this.holdNow & Hold.Held) === 0
    }
    holdsSeq(): number {
        return this.holdNow
    }
    needsClose(): Need {
        return this.needNow
    }
    /** A board that holds no seq (ShuttleOptions.fresh): its capture seq is a placeholder the
     * first seq it adopts replaces (reseat). */
    fresh = false

    reseat(seq: number): void {
        if (!this.fresh) throw new Error("reseat of a member that holds seqs")
        this.fresh = false
        this.capture = seq
    }

    adopt(seq: number): SeqTotals {
        if (seqAfter(this.capture, seq)) throw new Error("capture seq would decrease")
        this.adopts.push({ seq, at: this.group.k.millis() })
        if (seq === this.capture) return new SeqTotals(seq, 0, 0)
        const old = this.capture
        this.capture = seq
        this.closed.push(old)
        // a member admitted again is back in the group once it adopts the group's seq
        if (this.group.admitted[this.id]) {
            this.group.admitted[this.id] = false
            this.group.evicted[this.id] = false
        }
        this.group.afterAdopt(this)
        return new SeqTotals(old, this.portions[old] || 0, this.bytes[old] || 0)
    }
    /** Released-seq state is RAM: a reboot forgets it. */
    hasReleased = false

    release(seq: number): void {
        if (this.hasReleased && !seqAfter(seq, this.releasedSeq)) throw new Error("release must rise")
        this.hasReleased = true
        this.releasedSeq = seq
        this.releases.push({ seq, at: this.group.k.millis() })
        this.group.afterRelease(this, seq)
        const left: typeof this.unacked = []
        for (const w of this.unacked) {
            if (seqAtOrBefore(w.seq, seq)) w.done(w.seq)
            else left.push(w)
        }
        this.unacked = left
    }
    manifestFinal(m: Manifest): void {
        this.manifests.push(m)
        this.group.afterManifest(this, m)
    }
    closedSeqs(): SeqTotals[] {
        return this.closed.map((s) => new SeqTotals(s, this.portions[s] || 0, this.bytes[s] || 0))
    }

    isTracked(_seq: number): boolean {
        return false
    }

    visited(): void {}
}

export interface GroupOptions {
    size: number
    bitRate?: number
    seed?: number
    bus?: Partial<I2cBusOptions>
    agent?: Partial<ShuttleOptions>
    /** Options for one member only (on top of `agent`). */
    agentFor?: (i: number) => Partial<ShuttleOptions>
    startSeq?: number
    /** Check invariants 1 and release ordering at every adopt/release (default true). */
    check?: boolean
}

/** A group of N members on one simulated I2C bus, with invariant checks on every change. */
export class TestGroup {
    k = new SimKernel()
    bus: I2cBus
    addrs: number[] = []
    hosts: TestHost[] = []
    agents: ShuttleAgent[] = []
    endpoints: I2cEndpoint[] = []
    states: (ShuttleState | null)[] = []
    /** Members currently evicted (not checked for invariant 1). */
    evicted: boolean[] = []
    /** Members told of their admission that have not adopted a seq since (still out). */
    admitted: boolean[] = []
    /** Members powered off (their capture seq is frozen, still checked). */
    off: boolean[] = []
    violations: string[] = []
    maxSpread = 0
    /** seq -> the manifest first delivered for it (all later deliveries must be equal). */
    finalManifests: Record<number, string> = {}

    constructor(public opts: GroupOptions) {
        const prng = new Prng(opts.seed ?? 1)
        this.bus = new I2cBus(this.k, { bitRate: opts.bitRate ?? 100000, prng, ...(opts.bus || {}) })
        for (let i = 0; i < opts.size; i++) this.addrs.push(0x10 + i)
        for (let i = 0; i < opts.size; i++) {
            this.hosts.push(new TestHost(this, i, opts.startSeq ?? 1))
            this.states.push(null)
            this.evicted.push(false)
            this.admitted.push(false)
            this.off.push(false)
            this.agents.push(this.makeAgent(i))
        }
    }

    private makeAgent(i: number): ShuttleAgent {
        const ep = this.bus.attach(this.addrs[i])
        this.endpoints[i] = ep
        const self = this
        const a = new ShuttleAgent(ep, this.k, this.hosts[i], {
            group: 7,
            members: this.addrs,
            restored: this.states[i],
            persist: (s) => (self.states[i] = s),
            ...(this.opts.agent || {}),
            ...(this.opts.agentFor ? this.opts.agentFor(i) : {}),
        })
        a.onEvicted = (_addr, me) => {
            if (me) self.evicted[i] = true
        }
        a.onAdmitted = (_addr, me) => {
            if (me) self.admitted[i] = true
        }
        return a
    }

    start(): this {
        for (const a of this.agents) a.start()
        return this
    }

    run(ms: number): void {
        this.k.run(this.k.millis() + ms, 1e9)
    }

    captures(): number[] {
        return this.hosts.map((h) => h.capture)
    }

    /** Capture seqs of the members in the group (not evicted). */
    liveCaptures(): number[] {
        // (a fresh member's placeholder is no seq)
        return this.hosts.filter((h, i) => !h.fresh && !this.evicted[i] && !this.agentsEvicted(i)).map((h) => h.capture)
    }

    private agentsEvicted(i: number): boolean {
        // a member evicted by the others, whether or not it knows
        for (let j = 0; j < this.agents.length; j++) {
            if (j === i || this.evicted[j] || this.off[j]) continue
            if (this.agents[j].members().indexOf(this.addrs[i]) < 0) return true
        }
        return false
    }

    afterAdopt(_h: TestHost): void {
        if (this.opts.check === false) return
        const cs = this.liveCaptures()
        let lo = cs[0]
        let hi = cs[0]
        for (const c of cs) {
            if (seqAfter(lo, c)) lo = c
            if (seqAfter(c, hi)) hi = c
        }
        const spread = seqDiff(hi, lo)
        if (spread > this.maxSpread) this.maxSpread = spread
        if (spread > 1) this.violations.push("capture seqs " + cs.join(",") + " at " + this.k.millis())
    }

    afterRelease(h: TestHost, seq: number): void {
        if (this.opts.check === false) return
        this.hosts.forEach((o, i) => {
            if (o.fresh || this.evicted[i] || this.agentsEvicted(i)) return
            if (seqAfter(seq, o.capture)) this.violations.push("member " + h.id + " released " + seq + " while member " + i + " captures " + o.capture)
        })
    }

    afterManifest(_h: TestHost, m: Manifest): void {
        const key = JSON.stringify(m.entries.map((e) => [e.member, e.portions, e.bytes]).sort())
        const prev = this.finalManifests[m.seq]
        if (prev === undefined) this.finalManifests[m.seq] = key
        else if (prev !== key) this.violations.push("two manifests for seq " + m.seq + ": " + prev + " and " + key)
        if (m.prevSeq !== (m.seq - 1) >>> 0) this.violations.push("manifest " + m.seq + " prevSeq " + m.prevSeq)
    }

    /** Power cut: the board stops; its capture seq and data stay (they are on its flash). */
    powerOff(i: number): void {
        this.agents[i].stop()
        this.bus.setPowered(this.addrs[i], false)
        this.off[i] = true
    }

    /** Boots the board again: a new agent with the state it persisted. */
    powerOn(i: number): void {
        this.bus.setPowered(this.addrs[i], true)
        this.off[i] = false
        this.hosts[i].hasReleased = false
        this.agents[i] = this.makeAgent(i)
        this.agents[i].start()
    }

    totalCounter(name: keyof ShuttleAgent["counters"]): number {
        let n = 0
        for (const a of this.agents) n += a.counters[name] as number
        return n
    }
}
