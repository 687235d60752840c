import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { getU32, putU32 } from "../../firmware/codec/bytes"
import { PipelineChannel } from "../../firmware/protocol/ports"
import { LinkPair, makeMessage, Stream } from "./harness"

describe("link channel delivery", () => {
    it("delivers every message exactly once and in order, both ways, on a clean link", () => {
        const p = new LinkPair({ seed: 1 })
        const fwd = new Stream(300, (i) => 8 + ((i * 37) % 600), p.primary, p.remote)
        const back = new Stream(40, (i) => 8 + (i % 30), p.remote, p.primary)
        expect(p.runUntil(() => fwd.done() && back.done(), 30_000)).toBe(true)
        p.run(100) // the last acks
        expect(fwd.errors).toEqual([])
        expect(back.errors).toEqual([])
        expect(p.primary.counters.retransmissions).toBe(0)
        expect(p.remote.counters.droppedDuplicate).toBe(0)
        expect(p.primary.unacknowledged()).toBe(0)
        expect(p.remote.counters.messagesDelivered).toBe(300)
    })

    it("satisfies the pipeline's channel contract", () => {
        const p = new LinkPair()
        const asPipeline: PipelineChannel[] = [p.primary, p.remote]
        expect(asPipeline.length).toBe(2)
    })

    it("delivers exactly once and in order under byte loss, bit errors, duplication and outages of any length", () => {
        fc.assert(
            fc.property(
                fc.record({
                    seed: fc.integer({ min: 1, max: 0x7fffffff }),
                    baud: fc.constantFrom(115200, 921600),
                    fifo: fc.constantFrom(256, 1024, 4096),
                    byteLoss: fc.double({ min: 0, max: 3e-4, noNaN: true }),
                    bitError: fc.double({ min: 0, max: 2e-5, noNaN: true }),
                    duplication: fc.double({ min: 0, max: 2e-4, noNaN: true }),
                    outages: fc.array(fc.tuple(fc.integer({ min: 0, max: 4000 }), fc.integer({ min: 1, max: 60_000 })), { maxLength: 3 }),
                    maxLen: fc.integer({ min: 8, max: 1094 }),
                }),
                (o) => {
                    const p = new LinkPair({ seed: o.seed, baud: o.baud, txFifoBytes: o.fifo })
                    p.wire.setFaults({ byteLoss: o.byteLoss, bitError: o.bitError, duplication: o.duplication })
                    let quiet = 0
                    for (const [at, ms] of o.outages) {
                        p.wire.schedulePartition(at, ms)
                        quiet = Math.max(quiet, at + ms)
                    }
                    const count = o.baud === 115200 ? 40 : 120
                    const fwd = new Stream(count, (i) => 8 + (((i * 2654435761) >>> 0) % (o.maxLen - 7)), p.primary, p.remote)
                    const back = new Stream(20, (i) => 8 + (i % 40), p.remote, p.primary)
                    const done = p.runUntil(() => fwd.done() && back.done(), quiet + 120_000, 100)
                    const why = JSON.stringify({ t: p.k.millis(), fwd: fwd.received, back: back.received, p: p.primary.state(), r: p.remote.state() })
                    expect(fwd.errors, why).toEqual([])
                    expect(back.errors, why).toEqual([])
                    expect(done, why).toBe(true)
                    // outages are resumed, never a new session that would drop messages
                    expect(p.primary.counters.sessionsStarted).toBe(1)
                    expect(p.remote.counters.sessionsStarted).toBe(1)
                    expect(p.primary.counters.messagesDiscarded + p.remote.counters.messagesDiscarded).toBe(0)
                }
            ),
            { numRuns: 150, seed: 20261125 }
        )
    })

    it("resumes after a long outage from the remote's cumulative ack, resending nothing it has", () => {
        const p = new LinkPair({ seed: 2, baud: 921600 })
        const fwd = new Stream(200, () => 272, p.primary, p.remote)
        expect(p.runUntil(() => fwd.received >= 40, 5000, 1)).toBe(true)
        // the remote's acks stop reaching the primary, then the whole link goes down
        p.wire.b.setFaults({ byteLoss: 1, bitError: 0, duplication: 0 })
        p.run(30)
        const receivedBeforeOutage = fwd.received
        p.wire.setUp(false)
        p.wire.b.setFaults({ byteLoss: 0, bitError: 0, duplication: 0 })
        expect(p.runUntil(() => p.primary.state() !== "up", 10_000)).toBe(true)
        // the remote has messages whose acks the primary never saw
        expect(p.remote.counters.messagesDelivered).toBeGreaterThan(p.primary.counters.messagesAcked)
        const dupsAtDeath = p.remote.counters.droppedDuplicate
        p.run(20_000)
        p.wire.setUp(true)
        expect(p.runUntil(() => fwd.done(), 30_000)).toBe(true)
        expect(fwd.errors).toEqual([])
        expect(p.primary.counters.sessionsResumed).toBeGreaterThanOrEqual(1)
        expect(p.primary.counters.sessionsStarted).toBe(1)
        expect(receivedBeforeOutage).toBeGreaterThan(40)
        // the WELCOME told the primary what had arrived: nothing was sent twice after the resume
        expect(p.remote.counters.droppedDuplicate).toBe(dupsAtDeath)
    })

    it("after the remote lost its state, starts a new session and hands the remote's resume state to the primary", () => {
        const p = new LinkPair({ seed: 3, baud: 921600 })
        // the remote application keeps its count of messages durably (like applied seqs)
        let durable = 0
        const sessions: { resumed: boolean; from: number }[] = []
        let next = 0
        const pump = () => {
            while (next < 300) {
                if (!p.primary.send(makeMessage(next, 100))) return
                next++
            }
        }
        p.primary.onWritable(pump)
        p.primary.onSessionUp((resumed, resume) => {
            const from = getU32(resume, 0)
            sessions.push({ resumed, from })
            if (!resumed) next = from
            pump()
        })
        const attach = () => {
            const r = p.remote
            r.setResumeState(() => {
                const b = Buffer.alloc(4)
                putU32(b, 0, durable)
                return b
            })
            r.onMessage((m) => {
                if (getU32(m, 0) === durable) durable++
                else durable = -1e9 // out of order or repeated: fails below
            })
        }
        attach()
        expect(p.runUntil(() => durable >= 100, 10_000, 1)).toBe(true)
        // the remote board reboots: its channel state is gone, its durable count is not
        p.remote.stop()
        p.makeRemote()
        attach()
        expect(p.runUntil(() => durable === 300, 30_000)).toBe(true)
        expect(sessions[0]).toEqual({ resumed: false, from: 0 })
        expect(sessions.length).toBe(2)
        expect(sessions[1].resumed).toBe(false)
        expect(sessions[1].from).toBeGreaterThanOrEqual(100)
        expect(p.primary.counters.resetsReceived).toBeGreaterThanOrEqual(1)
        expect(p.primary.counters.sessionsStarted).toBe(2)
    })

    it("with remote reboots at any time under faults, the resume state lets the application deliver each message once", () => {
        fc.assert(
            fc.property(
                fc.integer({ min: 1, max: 0x7fffffff }),
                fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 3 }),
                fc.double({ min: 0, max: 2e-4, noNaN: true }),
                (seed, reboots, byteLoss) => {
                    const p = new LinkPair({ seed, baud: 921600 })
                    p.wire.setFaults({ byteLoss, bitError: 0, duplication: 0 })
                    let durable = 0
                    let broken = false
                    let next = 0
                    const pump = () => {
                        while (next < 400 && p.primary.send(makeMessage(next, 200))) next++
                    }
                    p.primary.onWritable(pump)
                    p.primary.onSessionUp((resumed, resume) => {
                        if (!resumed) next = getU32(resume, 0)
                        pump()
                    })
                    const attach = () => {
                        p.remote.setResumeState(() => {
                            const b = Buffer.alloc(4)
                            putU32(b, 0, durable)
                            return b
                        })
                        p.remote.onMessage((m) => {
                            if (getU32(m, 0) === durable) durable++
                            else broken = true
                        })
                    }
                    attach()
                    for (const at of reboots) {
                        p.run(at)
                        p.remote.stop()
                        p.makeRemote()
                        attach()
                    }
                    expect(p.runUntil(() => durable === 400 || broken, 120_000)).toBe(true)
                    expect(broken).toBe(false)
                    expect(p.primary.counters.sessionsStarted).toBeGreaterThanOrEqual(1)
                }
            ),
            { numRuns: 40, seed: 5150 }
        )
    })
})

describe("link channel flow control", () => {
    it("stops the sender when the remote gives no credit, and resumes when it does", () => {
        const p = new LinkPair({ seed: 4, baud: 921600 })
        p.remote.setReceiveCredit(0)
        const fwd = new Stream(400, () => 272, p.primary, p.remote)
        p.run(2000)
        expect(fwd.received).toBe(0)
        // the remote holds one window of frames; the primary filled its own and waits
        const rxWindow = 8
        expect(p.primary.counters.dataFramesSent - p.primary.counters.retransmissions).toBeLessThanOrEqual(rxWindow)
        expect(fwd.next).toBeLessThan(400)
        expect(p.primary.send(makeMessage(999, 272))).toBe(false)
        const framesWhileHeld = p.primary.counters.dataFramesSent
        p.run(5000)
        expect(p.primary.counters.dataFramesSent).toBe(framesWhileHeld)
        expect(p.primary.state()).toBe("up") // held, not dead: probes keep the link alive
        p.remote.setReceiveCredit(-1)
        expect(p.runUntil(() => fwd.done(), 10_000)).toBe(true)
        expect(fwd.errors).toEqual([])
    })

    it("delivers exactly as many messages as the credit allows", () => {
        const p = new LinkPair({ seed: 5, baud: 921600 })
        p.remote.setReceiveCredit(7)
        const fwd = new Stream(100, () => 100, p.primary, p.remote)
        p.run(1000)
        expect(fwd.received).toBe(7)
        expect(p.remote.receiveCredit()).toBe(0)
        p.remote.setReceiveCredit(50)
        p.run(1000)
        expect(fwd.received).toBe(57)
        p.remote.setReceiveCredit(-1)
        expect(p.runUntil(() => fwd.done(), 5000)).toBe(true)
        expect(fwd.errors).toEqual([])
    })

    it("pushes back when the send window is full and calls onWritable when a frame of room opens", () => {
        const p = new LinkPair({ seed: 6 })
        expect(p.primary.send(makeMessage(0, 10))).toBe(false) // no session yet
        let writable = 0
        p.primary.onWritable(() => writable++)
        expect(p.runUntil(() => p.primary.isUp(), 2000, 1)).toBe(true)
        expect(writable).toBe(1)
        let accepted = 0
        while (p.primary.send(makeMessage(accepted, 272))) accepted++
        // 8 frames of 4 messages of 272 bytes
        expect(accepted).toBe(32)
        p.run(500)
        expect(writable).toBe(2)
        expect(p.primary.send(makeMessage(accepted, 272))).toBe(true)
    })

    it("throws on a message longer than maxMessage()", () => {
        const p = new LinkPair({ seed: 7 })
        p.runUntil(() => p.primary.isUp(), 2000, 1)
        expect(p.primary.maxMessage()).toBe(1094)
        expect(() => p.primary.send(Buffer.alloc(1095))).toThrow(/maxMessage/)
        expect(p.primary.send(Buffer.alloc(1094))).toBe(true)
    })
})

describe("link channel liveness", () => {
    it("probes an idle link, declares a silent one dead within deadMs, and resumes when it returns", () => {
        const p = new LinkPair({ seed: 8 })
        const states: string[] = []
        p.primary.onStateChange((s) => states.push(s))
        p.run(5000)
        expect(p.primary.state()).toBe("up")
        const probes = p.primary.counters.probesSent
        expect(probes).toBeGreaterThanOrEqual(8) // every keepaliveMs (500) while idle
        p.wire.setUp(false)
        const downAt = p.k.millis()
        expect(p.runUntil(() => p.primary.state() !== "up", 5000, 1)).toBe(true)
        expect(p.k.millis() - downAt).toBeLessThanOrEqual(3000 + 1)
        expect(p.runUntil(() => p.remote.state() === "down", 5000, 1)).toBe(true)
        p.run(10_000)
        p.wire.setUp(true)
        expect(p.runUntil(() => p.primary.isUp() && p.remote.isUp(), 15_000, 1)).toBe(true)
        expect(p.primary.counters.sessionsResumed).toBe(1)
        expect(p.primary.counters.linkDeaths).toBe(1)
        expect(states[0]).toBe("connecting")
        expect(states).toContain("down")
        const fwd = new Stream(10, () => 50, p.primary, p.remote)
        fwd.pump()
        expect(p.runUntil(() => fwd.done(), 2000)).toBe(true)
    })
})
