import { describe, expect, it } from "vitest"
import { Clock } from "../../hal/clock"
import { Link } from "../../hal/link"
import { SimKernel } from "../../host-sim/kernel"
import { UartWire } from "../../host-sim/models/uart"
import { setTimerAt } from "../../host-sim/models/timerAt"
import { Prng } from "../../host-sim/prng"

/**
 * The UART model (one event per write) against a byte-by-byte reference: one event for every
 * byte that leaves a transmitter and one for every byte that arrives. Both put byte k of a run
 * at the run's start plus k byte times, so they are compared exactly: what each write() takes,
 * txFree() and txReady at the same instants, the same bytes received in the same order, and
 * each write's last byte arriving at the same instant (the reference's arrival of that byte is
 * when the model hands over the write). Faults and outages land on the same bytes.
 */

type PassFn = (b: number, out: Buffer, len: number) => number

/** One direction of the reference: a FIFO of bytes, stepped byte by byte. */
class ByteEnd implements Link {
    peer: ByteEnd | null = null
    private fifo: number[] = []
    private runStart = 0
    private ended = 0
    private armed = false
    private ready: (() => void) | null = null
    private receive: ((data: Buffer) => void) | null = null
    /** The fault pass of a model end with the same Prng and faults: the same draws. */
    pass: PassFn | null = null
    lost = 0
    private out = Buffer.alloc(2)

    constructor(
        private clock: Clock,
        private wire: { byteMs: number; propagationMs: number; downAt: (t: number) => boolean },
        private fifoBytes: number
    ) {}

    write(data: Buffer): number {
        const n = Math.min(data.length, this.fifoBytes - this.fifo.length)
        const idle = this.fifo.length === 0
        for (let i = 0; i < n; i++) this.fifo.push(data[i])
        if (idle && n > 0) {
            this.runStart = this.clock.millis()
            this.ended = 0
            this.next()
        }
        if (this.fifo.length * 2 >= this.fifoBytes) this.armed = true
        return n
    }

    txFree(): number {
        return this.fifoBytes - this.fifo.length
    }

    onTxReady(h: () => void): void {
        this.ready = h
    }

    onReceive(h: (data: Buffer) => void): void {
        this.receive = h
    }

    bitRate(): number {
        return 0
    }

    private next(): void {
        setTimerAt(this.clock, this.runStart + (this.ended + 1) * this.wire.byteMs, () => this.byteLeft())
    }

    private byteLeft(): void {
        const b = this.fifo.shift()!
        this.ended++
        const t = this.clock.millis()
        if (this.wire.downAt(t)) this.lost++
        else {
            const len = this.pass ? this.pass(b, this.out, 0) : ((this.out[0] = b), 1)
            for (let i = 0; i < len; i++) {
                const v = this.out[i]
                setTimerAt(this.clock, t + this.wire.propagationMs, () => this.peer!.receive?.(Buffer.from([v])))
            }
        }
        if (this.fifo.length > 0) this.next()
        if (this.armed && this.fifo.length * 2 < this.fifoBytes) {
            this.armed = false
            this.ready?.()
        }
    }
}

/** A writer like the link channel: frames of 1..1200 bytes at seeded times, each written with
 * as many calls as the FIFO needs (more on txReady). Logs what it sees. */
function writer(name: string, end: Link, k: SimKernel, seed: number, log: string[], until: number): void {
    const p = new Prng(seed)
    let frame: Buffer | null = null
    let pos = 0
    const pump = () => {
        while (frame) {
            const n = end.write(frame.subarray(pos))
            log.push(`${name} t=${k.millis()} wrote ${n} of ${frame.length - pos} free ${end.txFree()}`)
            pos += n
            if (pos < frame.length) return
            frame = null
            // sometimes the next frame in the same event
            if (p.chance(0.3)) newFrame()
        }
    }
    const newFrame = () => {
        const len = 1 + p.int(p.chance(0.5) ? 40 : 1200)
        frame = Buffer.alloc(len)
        for (let i = 0; i < len; i++) frame[i] = p.next() & 0xff
        pos = 0
    }
    end.onTxReady(() => {
        log.push(`${name} t=${k.millis()} ready free ${end.txFree()}`)
        pump()
    })
    const tick = () => {
        if (k.millis() > until) return
        if (!frame) {
            newFrame()
            pump()
        }
        k.setTimer(p.float() * (p.chance(0.5) ? 0.5 : 80), tick)
    }
    k.setTimer(p.float(), tick)
}

/** What a receiver got: every byte with its arrival time, and each hand-over's time and size. */
function receiver(end: Link, k: SimKernel): { bytes: number[]; at: number[]; handovers: Array<[number, number]> } {
    const r = { bytes: [] as number[], at: [] as number[], handovers: [] as Array<[number, number]> }
    end.onReceive((d) => {
        for (const b of d) {
            r.bytes.push(b)
            r.at.push(k.millis())
        }
        r.handovers.push([k.millis(), d.length])
    })
    return r
}

interface Setup {
    baud: number
    fifo: number
    faults: boolean
    outages: Array<[number, number]>
}

function both(s: Setup, seed: number) {
    const runs = []
    for (const reference of [true, false]) {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(seed), { baud: s.baud, txFifoBytes: s.fifo, propagationMs: 0.05 })
        if (s.faults) wire.setFaults({ byteLoss: 2e-3, bitError: 1e-4, duplication: 1e-3 })
        for (const [at, ms] of s.outages) wire.schedulePartition(at, ms)
        let a: Link = wire.a
        let b: Link = wire.b
        let refA: ByteEnd | null = null
        if (reference) {
            const ra = new ByteEnd(k, wire, s.fifo)
            const rb = new ByteEnd(k, wire, s.fifo)
            ra.peer = rb
            rb.peer = ra
            // the model ends' fault passes: the same Prng draws, byte by byte
            ra.pass = wire.a.faultPass()
            rb.pass = wire.b.faultPass()
            a = ra
            b = rb
            refA = ra
        }
        const log: string[] = []
        writer("a", a, k, seed * 2 + 1, log, 1500)
        writer("b", b, k, seed * 2 + 2, log, 1500)
        const atB = receiver(b, k)
        const atA = receiver(a, k)
        k.run(4000, 10_000_000)
        runs.push({ log, atA, atB, k, wire, a, b, refA })
    }
    return { ref: runs[0], fast: runs[1] }
}

function expectSameArrivals(ref: ReturnType<typeof receiver>, fast: ReturnType<typeof receiver>, lossy: boolean): void {
    expect(fast.bytes).toEqual(ref.bytes)
    // each hand-over comes when its last byte arrives in the reference (exactly, on a line
    // that loses nothing; never earlier otherwise), and no byte of it arrived later there
    let i = 0
    for (const [t, n] of fast.handovers) {
        i += n
        if (!lossy) expect(t).toBe(ref.at[i - 1])
        else expect(t).toBeGreaterThanOrEqual(ref.at[i - 1])
    }
    for (let j = 0; j < fast.at.length; j++) expect(fast.at[j]).toBeGreaterThanOrEqual(ref.at[j])
}

describe("UART model against a byte-by-byte reference", () => {
    it("takes, frees, signals and delivers at the same instants on a clean line", () => {
        for (const [baud, fifo, seed] of [
            [115200, 1024, 1],
            [921600, 256, 2],
            [9600, 64, 3],
        ]) {
            const { ref, fast } = both({ baud, fifo, faults: false, outages: [] }, seed)
            expect(fast.log).toEqual(ref.log)
            expect(fast.log.filter((l) => l.includes("ready")).length).toBeGreaterThan(5)
            expectSameArrivals(ref.atB, fast.atB, false)
            expectSameArrivals(ref.atA, fast.atA, false)
            expect(fast.atB.bytes.length).toBeGreaterThan(1000)
            // one event per write (and a few per txReady and for the writers), against two
            // per byte
            expect(fast.k.eventsRun * 20).toBeLessThan(ref.k.eventsRun)
        }
    })

    it("loses the same bytes to outages and faults", () => {
        for (const seed of [4, 5]) {
            const { ref, fast } = both(
                {
                    baud: 115200,
                    fifo: 1024,
                    faults: true,
                    outages: [
                        [200.123, 150.5],
                        [700.7, 3.3],
                    ],
                },
                seed
            )
            expect(fast.log).toEqual(ref.log)
            expectSameArrivals(ref.atB, fast.atB, true)
            expectSameArrivals(ref.atA, fast.atA, true)
            const c = fast.wire.a.counters
            expect(c.lostInOutage).toBe(ref.refA!.lost)
            expect(c.lostInOutage).toBeGreaterThan(1000)
            expect(c.lost - c.lostInOutage + c.corrupted + c.duplicated).toBeGreaterThan(10)
        }
    })
})
