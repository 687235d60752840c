import { Clock, Timer } from "../../hal/clock"
import { GroupBus } from "../../hal/groupBus"
import { Prng } from "../prng"
import { copyBytes } from "./copyBytes"

/**
 * A multi-master I2C bus shared by the members of one group, at bit level timing.
 * Portable: it runs on Node and inside the DeviceScript VM.
 *
 * Timing: a write of n data bytes is `ST SAD+W SAK B0 SAK … Bn-1 SAK SP`, that is
 * (1 + n) × 9 bit times plus one bit time each for START and STOP (`i2cTransferBits`). A NACK
 * ends the transfer after the byte that was not acknowledged.
 *
 * Arbitration: transfers are serialized. A master that asks while the bus is busy waits for the
 * STOP; all masters waiting then start together, before any target has reacted to the frame
 * that just ended, and the wired-AND arbitration lets the one whose bits (address byte, then
 * data) are lowest win; equal frames go in the order asked. A request made while the bus is
 * idle waits for the end of the current event, so requests made at the same instant arbitrate.
 * Losers try again at the next STOP (I2C promises no fairness).
 *
 * Delivery: a target's receive handler runs `deliveryDelayMs` after the STOP (the target's
 * interrupt and run-loop latency); the master's `done` runs at the STOP.
 *
 * Faults (drawn from the Prng given in the options, so a run is a function of its seed):
 * NACK injection (the addressed target does not acknowledge its address), glitches (one to
 * three bits flipped in a transferred byte, sometimes in the next one too: the target still
 * acknowledges, the data it gets is wrong),
 * members powered off (they NACK their address and send nothing), and `dropNext` to lose one
 * chosen transaction (the master sees ACK, the target never gets it).
 */
export interface I2cBusOptions {
    /** Bus clock in bits per second: 100000, 400000 or 1000000. */
    bitRate: number
    prng?: Prng
    /** Chance that a transaction's address is not acknowledged although the target is there. */
    nackChance?: number
    /** Chance, per data byte, that one bit of it arrives flipped. */
    glitchChancePerByte?: number
    /** Time from the STOP until the target's receive handler runs (ms). */
    deliveryDelayMs?: number
}

export interface I2cAttachOptions {
    /** The member answers the general call (address 0x00). Default true. */
    generalCall?: boolean
    /** Bytes the member's target receive buffer holds; a longer write is NACKed at the first
     * byte that does not fit. Default 1024. */
    rxBufferSize?: number
}

/** Bit times of one write transaction of `dataBytes` bytes that is acknowledged throughout. */
export function i2cTransferBits(dataBytes: number): number {
    return (1 + dataBytes) * 9 + 2
}

/** Milliseconds one acknowledged write of `dataBytes` bytes occupies the bus at `bitRate`. */
export function i2cTransferMs(bitRate: number, dataBytes: number): number {
    return (i2cTransferBits(dataBytes) * 1000) / bitRate
}

export class I2cBusCounters {
    /** Transactions started on the wire (writes and general calls, acknowledged or not). */
    transactions = 0
    /** Data bytes clocked on the wire (not counting address bytes). */
    bytes = 0
    /** Time the bus was busy (ms). */
    busyMs = 0
    /** Transactions that ended with a NACK (of the address or of a data byte). */
    nacks = 0
    /** Of those, NACKs injected as faults. */
    injectedNacks = 0
    generalCalls = 0
    /** Bits flipped by glitches. */
    glitches = 0
    /** Transactions lost on purpose by `dropNext`. */
    dropped = 0
    /** Writes refused at once because the sending member is powered off or detached. */
    refused = 0
}

/** One transaction seen on the wire, for observers (tests, benchmarks). */
export class I2cTransaction {
    constructor(
        public from: number,
        /** Target address; 0 for a general call. */
        public to: number,
        public data: Buffer,
        public ack: boolean,
        public startMs: number,
        public endMs: number
    ) {}
}

class Member {
    powered = true
    handler: ((data: Buffer, generalCall: boolean) => void) | null = null
    endpoint: I2cEndpoint | null = null
    constructor(
        public addr: number,
        public generalCall: boolean,
        public rxBufferSize: number
    ) {}
}

class Request {
    constructor(
        public from: Member,
        public endpoint: I2cEndpoint,
        public to: number,
        public data: Buffer,
        public done: (ack: boolean) => void,
        public order: number
    ) {}
}

class DropRule {
    constructor(public match: (from: number, to: number, data: Buffer) => boolean) {}
}

/** Lower wire order wins arbitration: the address byte, then the data bytes. */
function wins(a: Request, b: Request): boolean {
    const aa = a.to << 1
    const ba = b.to << 1
    if (aa !== ba) return aa < ba
    const n = a.data.length < b.data.length ? a.data.length : b.data.length
    for (let i = 0; i < n; i++) if (a.data[i] !== b.data[i]) return a.data[i] < b.data[i]
    return a.order < b.order
}

export class I2cBus {
    readonly counters = new I2cBusCounters()
    private members: Member[] = []
    private waiting: Request[] = []
    private busy = false
    private kick: Timer | null = null
    private nextOrder = 0
    private drops: DropRule[] = []
    private observers: ((t: I2cTransaction) => void)[] = []
    private nackChance: number
    private glitchChance: number
    private deliveryDelayMs: number
    private prng: Prng | null

    constructor(
        private clock: Clock,
        private opts: I2cBusOptions
    ) {
        if (opts.bitRate !== 100000 && opts.bitRate !== 400000 && opts.bitRate !== 1000000) throw new Error("I2C bit rate must be 100000, 400000 or 1000000")
        this.prng = opts.prng ? opts.prng : null
        this.nackChance = opts.nackChance ? opts.nackChance : 0
        this.glitchChance = opts.glitchChancePerByte ? opts.glitchChancePerByte : 0
        this.deliveryDelayMs = opts.deliveryDelayMs ? opts.deliveryDelayMs : 0
        if ((this.nackChance > 0 || this.glitchChance > 0) && !this.prng) throw new Error("fault chances need a Prng")
    }

    bitRate(): number {
        return this.opts.bitRate
    }

    /**
     * Connects a member at a 7-bit address and returns its endpoint. Attaching an address again
     * (a board that rebooted) gives a new endpoint; the old one is detached: it receives nothing
     * more and its writes are refused.
     */
    attach(addr: number, opts?: I2cAttachOptions): I2cEndpoint {
        if (addr < 0x08 || addr > 0x77 || Math.floor(addr) !== addr) throw new Error("I2C address out of range 0x08..0x77")
        let m = this.memberAt(addr)
        const gc = opts && opts.generalCall === false ? false : true
        const rx = opts && opts.rxBufferSize ? opts.rxBufferSize : 1024
        if (!m) {
            m = new Member(addr, gc, rx)
            this.members.push(m)
        } else {
            m.generalCall = gc
            m.rxBufferSize = rx
            m.handler = null
        }
        const ep = new I2cEndpoint(this, addr)
        m.endpoint = ep
        return ep
    }

    /** Powers a member off (it NACKs, receives nothing, cannot send) or on again. */
    setPowered(addr: number, on: boolean): void {
        const m = this.memberAt(addr)
        if (!m) throw new Error("no member at that address")
        m.powered = on
    }

    isPowered(addr: number): boolean {
        const m = this.memberAt(addr)
        return m !== null && m.powered
    }

    /** Loses the next transaction for which `match(from, to, data)` is true: the master sees
     * an ACK and no target receives it. Rules are used once, in the order given. */
    dropNext(match: (from: number, to: number, data: Buffer) => boolean): void {
        this.drops.push(new DropRule(match))
    }

    /** Calls `fn` with every transaction when it ends. */
    observe(fn: (t: I2cTransaction) => void): void {
        this.observers.push(fn)
    }

    isBusy(): boolean {
        return this.busy
    }

    // ---- used by endpoints

    request(ep: I2cEndpoint, to: number, data: Buffer, done: (ack: boolean) => void): void {
        const from = this.memberAt(ep.address())
        if (!from || from.endpoint !== ep || !from.powered) {
            this.counters.refused++
            this.clock.setTimer(0, () => done(false))
            return
        }
        // the bus owns a copy: the master may reuse its buffer at once
        this.waiting.push(new Request(from, ep, to, copyBytes(data, data.length), done, this.nextOrder++))
        this.schedule()
    }

    subscribe(ep: I2cEndpoint, handler: (data: Buffer, generalCall: boolean) => void): void {
        const m = this.memberAt(ep.address())
        if (m && m.endpoint === ep) m.handler = handler
    }

    // ---- the wire

    private memberAt(addr: number): Member | null {
        for (let i = 0; i < this.members.length; i++) if (this.members[i].addr === addr) return this.members[i]
        return null
    }

    private schedule(): void {
        if (this.busy || this.kick || this.waiting.length === 0) return
        const self = this
        this.kick = this.clock.setTimer(0, () => {
            self.kick = null
            self.arbitrate()
        })
    }

    private arbitrate(): void {
        if (this.busy || this.waiting.length === 0) return
        let best = 0
        for (let i = 1; i < this.waiting.length; i++) if (wins(this.waiting[i], this.waiting[best])) best = i
        const req = this.waiting[best]
        const rest: Request[] = []
        for (let i = 0; i < this.waiting.length; i++) if (i !== best) rest.push(this.waiting[i])
        this.waiting = rest
        // a master that lost power while waiting never starts its transfer
        if (!req.from.powered || req.from.endpoint !== req.endpoint) {
            this.counters.refused++
            req.done(false)
            this.schedule()
            return
        }
        this.transfer(req)
    }

    private transfer(req: Request): void {
        const c = this.counters
        const n = req.data.length
        const gc = req.to === 0
        // who answers
        const targets: Member[] = []
        let injected = false
        if (this.nackChance > 0 && (this.prng as Prng).chance(this.nackChance)) injected = true
        else if (gc) {
            for (let i = 0; i < this.members.length; i++) {
                const m = this.members[i]
                if (m !== req.from && m.powered && m.generalCall && n <= m.rxBufferSize) targets.push(m)
            }
        } else {
            const m = this.memberAt(req.to)
            if (m && m.powered && m !== req.from) targets.push(m)
        }
        // how many data bytes go on the wire before the transfer ends
        let clocked = n
        let ack = targets.length > 0
        if (ack && !gc && n > targets[0].rxBufferSize) {
            clocked = targets[0].rxBufferSize + 1
            ack = false
        }
        if (targets.length === 0) clocked = 0
        const bits = (1 + clocked) * 9 + 2
        const ms = (bits * 1000) / this.opts.bitRate
        c.transactions++
        if (gc) c.generalCalls++
        c.bytes += clocked
        c.busyMs += ms
        if (!ack) {
            c.nacks++
            if (injected) c.injectedNacks++
        }
        // what the targets get
        let payload: Buffer | null = null
        if (ack) {
            payload = req.data
            if (this.glitchChance > 0) {
                const p = this.prng as Prng
                for (let i = 0; i < n; i++) {
                    if (p.chance(this.glitchChance)) {
                        if (payload === req.data) payload = copyBytes(req.data, n)
                        // a burst of noise: one to three bits of the byte, and one time in four
                        // one to three bits of the next one too (what an 8-bit check can miss)
                        const burst = i + 1 < n && p.chance(0.25) ? 2 : 1
                        for (let j = 0; j < burst; j++) {
                            let mask = 0
                            const bits = 1 + p.int(3)
                            for (let k = 0; k < bits; k++) mask ^= 1 << p.int(8)
                            payload[i + j] = payload[i + j] ^ mask
                            for (; mask !== 0; mask >>= 1) c.glitches += mask & 1
                        }
                    }
                }
            }
            for (let i = 0; i < this.drops.length; i++) {
                if (this.drops[i].match(req.from.addr, req.to, req.data)) {
                    const left: DropRule[] = []
                    for (let j = 0; j < this.drops.length; j++) if (j !== i) left.push(this.drops[j])
                    this.drops = left
                    c.dropped++
                    payload = null
                    break
                }
            }
        }
        this.busy = true
        const start = this.clock.millis()
        const self = this
        this.clock.setTimer(ms, () => self.finish(req, ack, targets, payload, start))
    }

    private finish(req: Request, ack: boolean, targets: Member[], payload: Buffer | null, start: number): void {
        this.busy = false
        const end = this.clock.millis()
        // masters that waited for this STOP start at once (after the bus-free time, which is
        // negligible), before a target that is only now receiving could react to the frame
        if (this.waiting.length > 0) this.arbitrate()
        if (payload) {
            // the bus's copy can go to a lone target when no observer looks at it after
            const own = targets.length === 1 && this.observers.length === 0
            for (let i = 0; i < targets.length; i++) this.deliver(targets[i], payload, req.to === 0, own)
        }
        if (this.observers.length > 0) {
            const t = new I2cTransaction(req.from.addr, req.to, req.data, ack, start, end)
            for (let i = 0; i < this.observers.length; i++) this.observers[i](t)
        }
        if (req.from.endpoint === req.endpoint) req.done(ack)
        this.schedule()
    }

    private deliver(m: Member, payload: Buffer, gc: boolean, own: boolean): void {
        // each target gets its own copy, so one handler cannot change what another sees
        let copy = payload
        if (!own) copy = copyBytes(payload, payload.length)
        if (this.deliveryDelayMs > 0) {
            const ep = m.endpoint
            this.clock.setTimer(this.deliveryDelayMs, () => {
                if (m.powered && m.endpoint === ep && m.handler) m.handler(copy, gc)
            })
        } else if (m.powered && m.handler) m.handler(copy, gc)
    }
}

/** One member's view of the bus: the `GroupBus` the firmware is given. */
export class I2cEndpoint implements GroupBus {
    constructor(
        private bus: I2cBus,
        private addr: number
    ) {}

    address(): number {
        return this.addr
    }

    write(addr: number, data: Buffer, done: (ack: boolean) => void): void {
        if (addr === 0) throw new Error("address 0 is the general call: use generalCall")
        this.bus.request(this, addr, data, done)
    }

    generalCall(data: Buffer, done: (ack: boolean) => void): void {
        this.bus.request(this, 0, data, done)
    }

    onReceive(handler: (data: Buffer, generalCall: boolean) => void): void {
        this.bus.subscribe(this, handler)
    }

    bitRate(): number {
        return this.bus.bitRate()
    }
}
