import { describe, expect, it } from "vitest"
import { Link } from "../../hal/link"
import { SimKernel } from "../../host-sim/kernel"
import { Prng } from "../../host-sim/prng"
import { UartWire } from "../../host-sim/models/uart"
import { ReconnectBackoff } from "../../hal/backoff"
import { RefuseReason } from "../../firmware/link/frame"
import { PrimaryChannel } from "../../firmware/link/primary"
import { RemoteChannel } from "../../firmware/link/remote"
import { RttEstimator } from "../../firmware/link/rtt"
import { config, LinkPair, makeMessage, Stream } from "./harness"

describe("link handshake and generations", () => {
    it("refuses a primary whose generation is older than the highest accepted, and it stops trying", () => {
        const p = new LinkPair({ generation: 4, highestGeneration: 5 })
        const refused: number[][] = []
        p.primary.onRefused((reason, highest) => refused.push([reason, highest]))
        let delivered = 0
        p.remote.onMessage(() => delivered++)
        p.run(60_000)
        expect(p.primary.state()).toBe("refused")
        expect(refused).toEqual([[RefuseReason.StaleGeneration, 5]])
        expect(p.primary.counters.hellosSent).toBe(1)
        expect(p.primary.send(makeMessage(0, 10))).toBe(false)
        expect(p.remote.counters.sessionsStarted).toBe(0)
        expect(p.remote.session()).toBe(0)
        expect(delivered).toBe(0)
        expect(p.persistedGeneration).toBe(5)
    })

    it("accepts the same generation again and persists a newer one before it answers", () => {
        const same = new LinkPair({ generation: 5, highestGeneration: 5 })
        expect(same.runUntil(() => same.primary.isUp(), 2000, 1)).toBe(true)

        // a newer generation: the WELCOME waits for the owner's done()
        const p = new LinkPair({ generation: 9, highestGeneration: 5 })
        let done: (() => void) | null = null
        const rr = new Prng(77)
        p.remote.stop()
        p.remote = new RemoteChannel(
            p.wire.b,
            p.k,
            () => rr.float(),
            config(undefined, true),
            0,
            5,
            (g, d) => {
                p.persistedGeneration = g
                done = d
            }
        )
        p.run(3000)
        expect(p.persistedGeneration).toBe(9)
        expect(p.remote.highestGeneration()).toBe(5)
        expect(p.remote.state()).toBe("connecting")
        expect(p.primary.isUp()).toBe(false)
        ;(done as unknown as () => void)()
        expect(p.remote.highestGeneration()).toBe(9)
        expect(p.runUntil(() => p.primary.isUp(), 5000, 1)).toBe(true)
        expect(p.remote.generation()).toBe(9)
    })

    it("refuses a primary of another member or with another maxPayload", () => {
        const member = new LinkPair({ member: 3, remoteMember: 2 })
        const why: number[] = []
        member.primary.onRefused((r) => why.push(r))
        member.run(2000)
        const payload = new LinkPair({ primary: { maxPayload: 512 } })
        payload.primary.onRefused((r) => why.push(r))
        payload.run(2000)
        expect(why).toEqual([RefuseReason.WrongMember, RefuseReason.MaxPayload])
        expect(member.primary.state()).toBe("refused")
        expect(payload.primary.state()).toBe("refused")
    })

    it("has no split brain: once a newer generation has a session, the older primary is cut off and refused", () => {
        // two primaries share the remote's receiver (like a radio channel)
        const k = new SimKernel()
        const prng = new Prng(11)
        const wireOld = new UartWire(k, prng.fork(1), { baud: 921600, txFifoBytes: 1024, propagationMs: 0.05 })
        const wireNew = new UartWire(k, prng.fork(2), { baud: 921600, txFifoBytes: 1024, propagationMs: 0.05 })
        const shared: Link = {
            write(d: Buffer): number {
                wireNew.b.write(d)
                return wireOld.b.write(d)
            },
            txFree: () => Math.min(wireOld.b.txFree(), wireNew.b.txFree()),
            onTxReady(h) {
                wireOld.b.onTxReady(h)
            },
            onReceive(h) {
                wireOld.b.onReceive(h)
                wireNew.b.onReceive(h)
            },
            bitRate: () => 921600,
        }
        let persisted = 1
        const r = prng.fork(3)
        const remote = new RemoteChannel(
            shared,
            k,
            () => r.float(),
            config(undefined, true),
            0,
            persisted,
            (g, done) => {
                persisted = g
                done()
            }
        )
        const from: number[] = []
        remote.onMessage((m, _len) => from.push(m[0]))
        const po = prng.fork(4)
        const oldPrimary = new PrimaryChannel(wireOld.a, k, () => po.float(), config(undefined, false), 1, 0)
        let oldRefused = -1
        oldPrimary.onRefused((_reason, highest) => (oldRefused = highest))
        // the old primary keeps sending a trickle (a flood would jam the shared receiver)
        const oldMsg = Buffer.alloc(20, 0x0a)
        const trickle = () => {
            oldPrimary.send(oldMsg)
            k.setTimer(20, trickle)
        }
        trickle()
        k.run(300, 1e7)
        expect(oldPrimary.isUp()).toBe(true)
        const oldSession = remote.session()

        // the board is replaced (or rebooted with a new generation) while the old one still runs
        const pn = prng.fork(5)
        const newPrimary = new PrimaryChannel(wireNew.a, k, () => pn.float(), config(undefined, false), 2, 0)
        const newMsg = Buffer.alloc(20, 0x0b)
        let newSent = 0
        const sendNew = () => {
            while (newSent < 200 && newPrimary.send(newMsg)) newSent++
        }
        newPrimary.onSessionUp(sendNew)
        newPrimary.onWritable(sendNew)
        k.run(k.millis() + 20_000, 1e7)
        expect(newPrimary.isUp()).toBe(true)
        expect(remote.session()).not.toBe(oldSession)
        expect(remote.generation()).toBe(2)
        expect(persisted).toBe(2)
        expect(oldPrimary.state()).toBe("refused")
        expect(oldRefused).toBe(2)
        expect(remote.counters.droppedStale).toBeGreaterThan(0)
        // after the first message of the new session, nothing from the old primary was taken
        const firstNew = from.indexOf(0x0b)
        expect(firstNew).toBeGreaterThan(0)
        expect(from.slice(firstNew).every((b) => b === 0x0b)).toBe(true)
        expect(from.length - firstNew).toBe(200)
    })
})

describe("reconnect backoff", () => {
    it("grows exponentially with jitter and stays under the cap", () => {
        const rnd = new Prng(5)
        const b = new ReconnectBackoff(200, 10_000, () => rnd.float())
        const delays: number[] = []
        for (let i = 0; i < 12; i++) delays.push(b.next())
        for (let i = 0; i < delays.length; i++) {
            const ceiling = Math.min(10_000, 200 * 2 ** i)
            expect(delays[i]).toBeGreaterThanOrEqual(ceiling / 2)
            expect(delays[i]).toBeLessThan(ceiling)
        }
        expect(new Set(delays.slice(6).map((d) => Math.round(d))).size).toBeGreaterThan(1) // jitter at the cap
        b.reset()
        expect(b.next()).toBeLessThan(200)
        const low = new ReconnectBackoff(200, 10_000, () => 0)
        const high = new ReconnectBackoff(200, 10_000, () => 0.999999)
        expect(low.next()).toBe(100)
        expect(high.next()).toBeCloseTo(200, 3)
    })

    it("spaces reconnect attempts on a dead link by growing, jittered, bounded delays", () => {
        const attemptsOf = (seed: number): number[] => {
            const p = new LinkPair({ seed })
            p.wire.setUp(false)
            const times: number[] = []
            p.primary.onStateChange((s) => {
                if (s === "connecting") times.push(p.k.millis())
            })
            p.run(120_000)
            return times
        }
        const a = attemptsOf(21)
        const b = attemptsOf(22)
        expect(a[0]).toBe(0)
        // gap = handshake timeout (1000) + backoff delay in [d/2, d)
        const gaps = a.slice(1).map((t, i) => t - a[i] - 1000)
        for (let i = 0; i < gaps.length; i++) {
            const ceiling = Math.min(10_000, 200 * 2 ** i)
            expect(gaps[i]).toBeGreaterThanOrEqual(ceiling / 2 - 1e-6)
            expect(gaps[i]).toBeLessThan(ceiling + 1e-6)
        }
        expect(gaps.length).toBeGreaterThan(8)
        // two boards that lost the link together do not retry in step
        expect(b.slice(1, 8)).not.toEqual(a.slice(1, 8))
        const apart = a.slice(3, 10).map((t, i) => Math.abs(t - b[i + 3]))
        expect(Math.max(...apart)).toBeGreaterThan(100)
    })
})

describe("retransmission timeout", () => {
    it("follows the measured RTT with a floor, a cap and backoff", () => {
        const r = new RttEstimator(50, 4000, 1000, 10)
        expect(r.rto()).toBe(1000)
        for (let i = 0; i < 50; i++) r.sample(100)
        expect(r.rto()).toBeGreaterThan(100)
        expect(r.rto()).toBeLessThan(130)
        r.backoff()
        r.backoff()
        expect(r.rto()).toBeGreaterThan(400)
        r.resetBackoff()
        expect(r.rto()).toBeLessThan(130)
        for (let i = 0; i < 10; i++) r.backoff()
        expect(r.rto()).toBe(4000)
        for (let i = 0; i < 50; i++) r.sample(1)
        expect(r.rto()).toBe(50)
    })

    it("keeps the stream going when a frame's ack is lost: the next frame's ack shows the loss", () => {
        const p = new LinkPair({ seed: 9, baud: 921600 })
        const fwd = new Stream(2000, () => 272, p.primary, p.remote)
        p.wire.a.setFaults({ byteLoss: 0, bitError: 2e-6, duplication: 0 })
        expect(p.runUntil(() => fwd.done(), 20_000)).toBe(true)
        expect(p.primary.counters.retransmissions).toBeGreaterThan(0)
        // losses were found from later acks, not by waiting for the timer
        expect(p.primary.counters.lossesDetected).toBeGreaterThan(0)
        expect(p.primary.counters.timeouts).toBeLessThanOrEqual(1)
        expect(p.remote.counters.droppedDuplicate).toBe(0)
    })
})
