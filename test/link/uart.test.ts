import { describe, expect, it } from "vitest"
import { SimKernel } from "../../host-sim/kernel"
import { Prng } from "../../host-sim/prng"
import { UartEnd, UartWire } from "../../host-sim/models/uart"

function pattern(n: number, seed: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 7 + (i >> 8)) & 0xff
    return b
}

/** Keeps `end` writing `data` from offset 0 as fast as the FIFO takes it; returns the offset. */
function streamer(end: UartEnd, data: Buffer): { offset: number } {
    const s = { offset: 0 }
    const push = () => {
        while (s.offset < data.length) {
            const n = end.write(data.subarray(s.offset, Math.min(data.length, s.offset + 512)))
            s.offset += n
            if (n === 0) return
        }
    }
    end.onTxReady(push)
    push()
    return s
}

function collector(end: UartEnd): { bytes: number[]; times: number[]; k: SimKernel | null } {
    const c = { bytes: [] as number[], times: [] as number[], k: null as SimKernel | null }
    end.onReceive((d) => {
        for (let i = 0; i < d.length; i++) c.bytes.push(d[i])
        c.times.push(c.k ? c.k.millis() : 0)
    })
    return c
}

describe("UART link model", () => {
    it("carries baud/10 bytes per second at 115200 and 921600 baud", () => {
        for (const baud of [115200, 921600]) {
            const k = new SimKernel()
            const wire = new UartWire(k, new Prng(1), { baud, txFifoBytes: 1024, propagationMs: 0.05 })
            const data = pattern(baud / 10 + 4096, 1)
            streamer(wire.a, data)
            const got = collector(wire.b)
            k.run(1000, 1_000_000)
            const perSecond = baud / 10
            // within one write (the streamer's are up to 512 bytes) of the exact figure
            expect(Math.abs(got.bytes.length - perSecond)).toBeLessThanOrEqual(512)
            expect(wire.a.counters.busyMs).toBeGreaterThan(999)
            expect(wire.a.counters.busyMs).toBeLessThanOrEqual(1000 + 1024 * (10000 / baud))
            expect(Buffer.from(got.bytes).equals(data.subarray(0, got.bytes.length))).toBe(true)
        }
    })

    it("delivers a write's bytes when its last byte arrives, after the propagation delay", () => {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(2), { baud: 115200, txFifoBytes: 256, propagationMs: 1 })
        const got = collector(wire.b)
        got.k = k
        wire.a.write(pattern(100, 2))
        k.run(100, 1000)
        const byteMs = 10000 / 115200
        expect(got.bytes.length).toBe(100)
        expect(got.times).toEqual([100 * byteMs + 1])
        expect(k.eventsRun).toBe(1)
    })

    it("runs the writes of one event back to back, one arrival each", () => {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(3), { baud: 921600, txFifoBytes: 4096, propagationMs: 0 })
        const got = collector(wire.b)
        got.k = k
        for (let i = 0; i < 10; i++) wire.a.write(pattern(3, i))
        expect(wire.a.txQueued()).toBe(30)
        k.run(10, 1000)
        const byteMs = 10000 / 921600
        expect(got.times).toEqual(Array.from({ length: 10 }, (_, i) => 3 * (i + 1) * byteMs))
        expect(wire.a.counters.busyMs).toBeCloseTo(30 * byteMs, 9)
        expect(wire.a.txQueued()).toBe(0)
    })

    it("takes only what fits in the TX FIFO and signals when it drains below half", () => {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(4), { baud: 115200, txFifoBytes: 256, propagationMs: 0 })
        let ready = 0
        let freeAtReady = -1
        wire.a.onTxReady(() => {
            ready++
            freeAtReady = wire.a.txFree()
        })
        expect(wire.a.write(pattern(1000, 4))).toBe(256)
        expect(wire.a.txFree()).toBe(0)
        expect(wire.a.write(pattern(10, 4))).toBe(0)
        k.run(1000, 1000)
        expect(ready).toBe(1)
        expect(freeAtReady).toBeGreaterThan(128)
        expect(wire.a.counters.offered).toBe(1010)
        expect(wire.a.counters.accepted).toBe(256)
    })

    it("is full duplex: both directions run at full rate at once", () => {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(5), { baud: 115200, txFifoBytes: 512, propagationMs: 0 })
        streamer(wire.a, pattern(20000, 5))
        streamer(wire.b, pattern(20000, 6))
        const ab = collector(wire.b)
        const ba = collector(wire.a)
        k.run(1000, 1_000_000)
        expect(Math.abs(ab.bytes.length - 11520)).toBeLessThanOrEqual(512)
        expect(Math.abs(ba.bytes.length - 11520)).toBeLessThanOrEqual(512)
    })

    it("loses, corrupts and duplicates bytes at the configured rates over a long run", () => {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(6), { baud: 921600, txFifoBytes: 4096, propagationMs: 0 })
        wire.a.setFaults({ byteLoss: 0.01, bitError: 1e-4, duplication: 0.002 })
        const n = 1_000_000
        streamer(wire.a, pattern(n, 6))
        collector(wire.b)
        k.run(20_000, 10_000_000)
        const c = wire.a.counters
        expect(c.sent).toBe(n)
        // binomial standard deviations: loss ~99.5, corrupted ~28, duplicated ~45
        expect(Math.abs(c.lost - 10_000)).toBeLessThan(500)
        const pCorrupt = 1 - Math.pow(1 - 1e-4, 8)
        expect(Math.abs(c.corrupted - (n - c.lost) * pCorrupt)).toBeLessThan(140)
        expect(Math.abs(c.duplicated - (n - c.lost) * 0.002)).toBeLessThan(225)
        expect(c.delivered).toBe(n - c.lost + c.duplicated)
        // the reverse direction was left clean
        expect(wire.b.counters.lost).toBe(0)
    })

    it("flips bits at the configured bit error rate", () => {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(7), { baud: 921600, txFifoBytes: 4096, propagationMs: 0 })
        wire.a.setFaults({ byteLoss: 0, bitError: 1e-3, duplication: 0 })
        const n = 500_000
        const data = pattern(n, 7)
        streamer(wire.a, data)
        const got = collector(wire.b)
        k.run(20_000, 10_000_000)
        expect(got.bytes.length).toBe(n)
        let flipped = 0
        for (let i = 0; i < n; i++) {
            let x = got.bytes[i] ^ data[i]
            while (x) {
                flipped += x & 1
                x >>= 1
            }
        }
        // 4,000,000 bits at 1e-3: mean 4000, sd ~63
        expect(Math.abs(flipped - 4000)).toBeLessThan(320)
    })

    it("drops the bytes sent while the link is down and carries the rest intact", () => {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(8), { baud: 115200, txFifoBytes: 1024, propagationMs: 0 })
        const data = pattern(50_000, 8)
        streamer(wire.a, data)
        const got = collector(wire.b)
        wire.schedulePartition(1000, 500)
        k.run(1000 + 250, 1_000_000)
        expect(wire.isUp()).toBe(false)
        k.run(3000, 1_000_000)
        expect(wire.isUp()).toBe(true)
        const c = wire.a.counters
        // 500 ms at 11520 B/s, to the byte boundary
        expect(Math.abs(c.lostInOutage - 5760)).toBeLessThanOrEqual(1)
        expect(c.lost).toBe(c.lostInOutage)
        expect(got.bytes.length).toBe(c.sent - c.lost)
        // what arrived is the stream with one contiguous gap
        let before = 0
        while (before < got.bytes.length && got.bytes[before] === data[before]) before++
        expect(Math.abs(before - 11520)).toBeLessThanOrEqual(1)
        const tail = got.bytes.length - before
        const resumeAt = before + c.lostInOutage
        expect(Buffer.from(got.bytes.slice(before)).equals(data.subarray(resumeAt, resumeAt + tail))).toBe(true)
    })

    it("treats rates too small for floating point as zero instead of hanging", () => {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(10), { baud: 921600, txFifoBytes: 4096, propagationMs: 0 })
        wire.setFaults({ byteLoss: 5e-324, bitError: 1e-300, duplication: Number.MIN_VALUE })
        streamer(wire.a, pattern(10_000, 10))
        collector(wire.b)
        k.run(1000, 1_000_000)
        expect(wire.a.counters.delivered).toBe(10_000)
        expect(wire.a.counters.corrupted).toBe(0)
    })

    it("changes faults at run time", () => {
        const k = new SimKernel()
        const wire = new UartWire(k, new Prng(9), { baud: 921600, txFifoBytes: 4096, propagationMs: 0 })
        streamer(wire.a, pattern(200_000, 9))
        collector(wire.b)
        wire.setFaults({ byteLoss: 0.5, bitError: 0, duplication: 0 })
        k.run(500, 1_000_000)
        const lostHalfway = wire.a.counters.lost
        expect(lostHalfway).toBeGreaterThan(15_000)
        wire.setFaults({ byteLoss: 0, bitError: 0, duplication: 0 })
        k.run(5000, 1_000_000)
        // faults apply when a write's bytes arrive, so none after the change
        expect(wire.a.counters.lost).toBe(lostHalfway)
        expect(wire.a.counters.sent).toBe(200_000)
    })
})
