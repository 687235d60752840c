import { describe, expect, it } from "vitest"
import { SimKernel } from "../../host-sim/kernel"
import { Prng } from "../../host-sim/prng"
import { I2cBus, i2cTransferBits, i2cTransferMs, I2cTransaction } from "../../host-sim/models/i2cBus"

function bytes(n: number, v = 0x5a): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = (v + i) & 0xff
    return b
}

describe("I2C bus timing", () => {
    it("a 32-byte write at 100 kHz takes (1+32)*9 bits plus START and STOP", () => {
        expect(i2cTransferBits(32)).toBe(33 * 9 + 2)
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        bus.attach(0x11)
        let doneAt = -1
        let acked = false
        a.write(0x11, bytes(32), (ack) => {
            acked = ack
            doneAt = k.millis()
        })
        k.run(100, 1000)
        expect(acked).toBe(true)
        expect(doneAt).toBeCloseTo(2.99, 9)
        expect(bus.counters.busyMs).toBeCloseTo(2.99, 9)
        expect(bus.counters.bytes).toBe(32)
        expect(bus.counters.transactions).toBe(1)
    })

    it("scales with the bit rate", () => {
        for (const rate of [100000, 400000, 1000000]) {
            const k = new SimKernel()
            const bus = new I2cBus(k, { bitRate: rate })
            const a = bus.attach(0x10)
            bus.attach(0x11)
            let doneAt = -1
            a.write(0x11, bytes(10), () => (doneAt = k.millis()))
            k.run(100, 1000)
            expect(doneAt).toBeCloseTo(i2cTransferMs(rate, 10), 9)
            expect(doneAt).toBeCloseTo(((11 * 9 + 2) * 1000) / rate, 9)
        }
    })

    it("serializes transfers: a master waits while the bus is busy", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 400000 })
        const a = bus.attach(0x10)
        const b = bus.attach(0x11)
        const c = bus.attach(0x12)
        const ends: number[] = []
        a.write(0x12, bytes(20), () => ends.push(k.millis()))
        k.run(0.1, 100) // a's transfer is on the wire
        b.write(0x12, bytes(20), () => ends.push(k.millis()))
        k.run(100, 1000)
        const t = i2cTransferMs(400000, 20)
        expect(ends[0]).toBeCloseTo(t, 9)
        expect(ends[1]).toBeCloseTo(2 * t, 9)
        expect(bus.counters.busyMs).toBeCloseTo(2 * t, 9)
        expect(c.address()).toBe(0x12)
    })

    it("arbitrates deterministically: the lower address wins, then the lower data", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        const b = bus.attach(0x11)
        bus.attach(0x20)
        bus.attach(0x21)
        const order: string[] = []
        a.write(0x21, Buffer.from([1]), () => order.push("a->21"))
        b.write(0x20, Buffer.from([9]), () => order.push("b->20"))
        a.write(0x20, Buffer.from([3]), () => order.push("a->20"))
        k.run(100, 1000)
        expect(order).toEqual(["a->20", "b->20", "a->21"])
    })
})

describe("I2C bus hand-off", () => {
    it("a master that waited for the STOP starts before the target that just received can answer", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        const b = bus.attach(0x11)
        const c = bus.attach(0x12)
        bus.attach(0x70)
        const order: string[] = []
        // b answers a at once, to a low address; c has been waiting to write to a high one
        b.onReceive(() => b.write(0x10, Buffer.from([1]), () => order.push("b->10")))
        a.write(0x11, bytes(8), () => order.push("a->11"))
        k.run(0.05, 100)
        c.write(0x70, Buffer.from([1]), () => order.push("c->70"))
        k.run(100, 1000)
        expect(order).toEqual(["a->11", "c->70", "b->10"])
    })
})

describe("I2C addressing", () => {
    it("NACKs a write to an address with no member, after the address byte only", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        let res: boolean | null = null
        let at = -1
        a.write(0x33, bytes(32), (ack) => {
            res = ack
            at = k.millis()
        })
        k.run(100, 1000)
        expect(res).toBe(false)
        expect(at).toBeCloseTo((9 + 2) / 100, 9)
        expect(bus.counters.nacks).toBe(1)
        expect(bus.counters.bytes).toBe(0)
    })

    it("NACKs for a member that is powered off, and delivers again once it is on", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        const b = bus.attach(0x11)
        const got: number[] = []
        b.onReceive((d) => got.push(d[0]))
        bus.setPowered(0x11, false)
        const acks: boolean[] = []
        a.write(0x11, Buffer.from([1]), (ack) => acks.push(ack))
        k.run(10, 1000)
        bus.setPowered(0x11, true)
        a.write(0x11, Buffer.from([2]), (ack) => acks.push(ack))
        k.run(20, 1000)
        expect(acks).toEqual([false, true])
        expect(got).toEqual([2])
    })

    it("a member that is off cannot send", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        bus.attach(0x11)
        bus.setPowered(0x10, false)
        let res: boolean | null = null
        a.write(0x11, Buffer.from([1]), (ack) => (res = ack))
        k.run(10, 1000)
        expect(res).toBe(false)
        expect(bus.counters.transactions).toBe(0)
        expect(bus.counters.refused).toBe(1)
    })

    it("NACKs a write longer than the target's receive buffer at the first byte that does not fit", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        const b = bus.attach(0x11, { rxBufferSize: 8 })
        let got = 0
        b.onReceive(() => got++)
        let res: boolean | null = null
        a.write(0x11, bytes(20), (ack) => (res = ack))
        k.run(10, 1000)
        expect(res).toBe(false)
        expect(got).toBe(0)
        expect(bus.counters.bytes).toBe(9)
        expect(bus.counters.busyMs).toBeCloseTo(((1 + 9) * 9 + 2) / 100, 9)
    })

    it("delivers a general call to every powered member that enabled it, not to the sender", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const eps = [0x10, 0x11, 0x12, 0x13].map((a, i) => bus.attach(a, { generalCall: i !== 2 }))
        const got: string[] = []
        eps.forEach((ep) => ep.onReceive((_d, gc) => got.push(ep.address().toString(16) + (gc ? ":gc" : ":w"))))
        bus.setPowered(0x13, false)
        let res: boolean | null = null
        eps[0].generalCall(Buffer.from([7, 7]), (ack) => (res = ack))
        k.run(10, 1000)
        expect(res).toBe(true)
        expect(got).toEqual(["11:gc"])
        expect(bus.counters.generalCalls).toBe(1)
    })

    it("a general call nobody answers is NACKed", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        bus.attach(0x11, { generalCall: false })
        let res: boolean | null = null
        a.generalCall(Buffer.from([1]), (ack) => (res = ack))
        k.run(10, 1000)
        expect(res).toBe(false)
    })

    it("runs the target's handler after the delivery delay, the master's done at the STOP", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000, deliveryDelayMs: 0.5 })
        const a = bus.attach(0x10)
        const b = bus.attach(0x11)
        let recvAt = -1
        let doneAt = -1
        b.onReceive(() => (recvAt = k.millis()))
        a.write(0x11, bytes(4), () => (doneAt = k.millis()))
        k.run(10, 1000)
        expect(doneAt).toBeCloseTo(i2cTransferMs(100000, 4), 9)
        expect(recvAt).toBeCloseTo(i2cTransferMs(100000, 4) + 0.5, 9)
    })

    it("a re-attached address detaches the old endpoint", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        const old = bus.attach(0x11)
        const got: string[] = []
        old.onReceive(() => got.push("old"))
        const fresh = bus.attach(0x11)
        fresh.onReceive(() => got.push("new"))
        let res: boolean | null = null
        old.write(0x10, Buffer.from([1]), (ack) => (res = ack))
        a.write(0x11, Buffer.from([1]), () => {})
        k.run(10, 1000)
        expect(res).toBe(false)
        expect(got).toEqual(["new"])
    })
})

describe("I2C faults", () => {
    it("injects NACKs at the configured rate", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 1000000, prng: new Prng(3), nackChance: 0.25 })
        const a = bus.attach(0x10)
        bus.attach(0x11)
        let nacks = 0
        for (let i = 0; i < 2000; i++) a.write(0x11, Buffer.from([i & 0xff]), (ack) => (ack ? 0 : nacks++))
        k.run(1e6, 1e6)
        expect(nacks).toBe(bus.counters.injectedNacks)
        expect(Math.abs(nacks - 500)).toBeLessThan(80)
    })

    it("glitches flip bits in what the target receives while the master sees ACK", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 400000, prng: new Prng(9), glitchChancePerByte: 0.01 })
        const a = bus.attach(0x10)
        const b = bus.attach(0x11)
        const sent = bytes(64)
        let flipped = 0
        b.onReceive((d) => {
            for (let i = 0; i < d.length; i++) {
                let x = d[i] ^ sent[i]
                while (x) {
                    flipped += x & 1
                    x >>= 1
                }
            }
        })
        let acks = 0
        for (let i = 0; i < 200; i++) a.write(0x11, sent, (ack) => (ack ? acks++ : 0))
        k.run(1e6, 1e6)
        expect(acks).toBe(200)
        expect(bus.counters.glitches).toBeGreaterThan(0)
        expect(flipped).toBe(bus.counters.glitches)
    })

    it("dropNext loses exactly the matching transaction, and the master still sees ACK", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        const b = bus.attach(0x11)
        const got: number[] = []
        b.onReceive((d) => got.push(d[0]))
        bus.dropNext((from, to, d) => from === 0x10 && to === 0x11 && d[0] === 2)
        const acks: boolean[] = []
        for (let i = 1; i <= 4; i++) a.write(0x11, Buffer.from([i]), (ack) => acks.push(ack))
        k.run(100, 1000)
        expect(got).toEqual([1, 3, 4])
        expect(acks).toEqual([true, true, true, true])
        expect(bus.counters.dropped).toBe(1)
    })

    it("copies the master's buffer, so reusing it at once does not change what is sent", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 100000 })
        const a = bus.attach(0x10)
        const b = bus.attach(0x11)
        const got: number[] = []
        b.onReceive((d) => got.push(d[0]))
        const buf = Buffer.from([1])
        a.write(0x11, buf, () => {})
        buf[0] = 99
        const seen: I2cTransaction[] = []
        bus.observe((t) => seen.push(t))
        k.run(100, 1000)
        expect(got).toEqual([1])
        expect(seen.length).toBe(1)
        expect(seen[0].ack).toBe(true)
    })
})
