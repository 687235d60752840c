import { describe, expect, it } from "vitest"
import { putU32 } from "../../firmware/codec/bytes"
import { CobsDecoder, cobsEncode } from "../../firmware/codec/cobs"
import { crc32c } from "../../firmware/codec/crc32c"
import {
    CRC_BYTES,
    FrameType,
    HANDSHAKE_BYTES,
    OFF_GENERATION,
    OFF_MEMBER,
    OFF_NONCE,
    OFF_REASON,
    OFF_SESSION,
    OFF_VERSION,
    PROTOCOL_VERSION,
} from "../../firmware/link/frame"
import { COUNTER_LIMIT, LinkSeal, SEALED_ANSWER, SEALED_HELLO, SEALED_HINT, SEALED_SESSION } from "../../firmware/link/seal"
import { NodeCipher, seededKey, SimCipher } from "../../host-sim/nodeCipher"
import { LinkPair, makeMessage, Stream } from "./harness"

const KEY = seededKey(1, 0)
const OTHER_KEY = seededKey(1, 1)

/** Whole raw frames (CRC included) of a byte stream, as a receiver decodes them. */
function framesOf(chunks: Buffer[]): Buffer[] {
    const out: Buffer[] = []
    const d = new CobsDecoder(8192, (buf, len) => out.push(Buffer.from(buf.subarray(0, len))))
    for (const c of chunks) d.push(c, 0, c.length)
    return out
}

/** A raw frame (without CRC) on the wire: its CRC and COBS encoding, between delimiters. */
function onWire(raw: Buffer): Buffer {
    const f = Buffer.alloc(raw.length + CRC_BYTES)
    raw.copy(f)
    putU32(f, raw.length, crc32c(raw))
    return Buffer.concat([Buffer.alloc(1), cobsEncode(f)])
}

/** A plain handshake frame of `type`, as a peer without the key would write it. */
function plainHandshake(type: number, member: number, generation: number, nonce: number): Buffer {
    const b = Buffer.alloc(HANDSHAKE_BYTES)
    b[0] = type
    b[OFF_VERSION] = PROTOCOL_VERSION
    b[OFF_REASON] = type === FrameType.Refuse ? 1 : 0
    b.writeUInt16LE(member, OFF_MEMBER)
    putU32(b, OFF_GENERATION, generation)
    putU32(b, OFF_NONCE, nonce)
    b.writeUInt16LE(1096, 30)
    return b
}

/** The remote's hint without its CRC: a RESET of session 0, in the clear on a sealed link. */
const HINT = Buffer.alloc(18)
HINT[0] = SEALED_HINT

/** A sealed pair with taps at both ends, recording what each end writes. */
function sealedPair(extra: Partial<ConstructorParameters<typeof LinkPair>[0]> = {}) {
    const p = new LinkPair({ key: KEY, tap: true, ...extra })
    const fromPrimary: Buffer[] = []
    const fromRemote: Buffer[] = []
    p.primaryTap.onWrite = (d) => fromPrimary.push(d)
    p.remoteTap.onWrite = (d) => fromRemote.push(d)
    return { p, fromPrimary, fromRemote }
}

describe("the sealed link", () => {
    it("carries a stream exactly once and in order, and nothing of it is in the clear on the wire", () => {
        const { p, fromPrimary, fromRemote } = sealedPair()
        const s = new Stream(400, (i) => 40 + (i % 500), p.primary, p.remote)
        expect(p.runUntil(() => s.done(), 60_000)).toBe(true)
        expect(s.errors).toEqual([])
        const up = framesOf(fromPrimary)
        const down = framesOf(fromRemote)
        expect(up[0][0]).toBe(SEALED_HELLO)
        // the remote's hint as its link starts, the one clear frame: its kind and zeros
        expect(down[0].subarray(0, 18)).toEqual(HINT)
        expect(down[1][0]).toBe(SEALED_ANSWER)
        expect(up.slice(1).every((f) => f[0] === SEALED_SESSION)).toBe(true)
        expect(down.slice(2).every((f) => f[0] === SEALED_SESSION)).toBe(true)
        // a message's bytes (its index and length are its first 8 bytes) never appear
        const wire = Buffer.concat(fromPrimary)
        for (const i of [0, 17, 399]) expect(wire.indexOf(makeMessage(i, 40 + (i % 500)).subarray(0, 16))).toBe(-1)
        for (const c of [p.primary.counters, p.remote.counters]) {
            expect(c.droppedAuth).toBe(0)
            expect(c.droppedReplay).toBe(0)
        }
    })

    it("refuses a primary with another key, or with its key on another member's link: it gets nothing and changes nothing", () => {
        for (const o of [
            { key: OTHER_KEY, remoteKey: KEY },
            { key: KEY, member: 0, remoteMember: 1 },
        ]) {
            const p = new LinkPair(o)
            let delivered = 0
            p.remote.onMessage(() => delivered++)
            p.primary.onSessionUp(() => p.primary.send(makeMessage(0, 100)))
            p.run(20_000)
            expect(p.primary.isUp()).toBe(false)
            expect(p.primary.state()).not.toBe("refused")
            expect(p.primary.counters.handshakeTimeouts).toBeGreaterThan(2)
            expect(p.remote.counters.handshakesRefused).toBe(p.primary.counters.hellosSent)
            // the hint as the link started, sent to whoever listens; nothing in answer
            expect(p.remote.counters.framesSent).toBe(1)
            expect(p.remote.counters.resetsSent).toBe(1)
            expect(p.remote.counters.sessionsStarted).toBe(0)
            expect(p.remote.session()).toBe(0)
            expect(p.persistedGeneration).toBe(0)
            expect(delivered).toBe(0)
        }
    })

    it("a sealed end and a plain end never make a session", () => {
        const sealedPrimary = new LinkPair({ key: KEY, remoteKey: null })
        const sealedRemote = new LinkPair({ seed: 3, remoteKey: KEY })
        for (const p of [sealedPrimary, sealedRemote]) {
            p.run(10_000)
            expect(p.primary.isUp()).toBe(false)
            expect(p.remote.counters.sessionsStarted).toBe(0)
        }
        expect(sealedPrimary.remote.counters.droppedMalformed + sealedPrimary.remote.counters.droppedUnexpected).toBeGreaterThan(0)
        expect(sealedRemote.remote.counters.droppedAuth).toBeGreaterThan(0)
        expect(sealedRemote.remote.counters.framesSent).toBe(1)
    })

    it("drops forged, altered, replayed and plain frames, counted, and the stream goes on unharmed", () => {
        const { p, fromPrimary, fromRemote } = sealedPair()
        const s = new Stream(600, (i) => 200 + (i % 300), p.primary, p.remote)
        p.run(1500)
        expect(p.primary.isUp()).toBe(true)
        const session = p.remote.session()
        // replays of everything the primary sent so far, HELLO included
        const captured = framesOf(fromPrimary)
        expect(captured.length).toBeGreaterThan(5)
        for (const f of captured) p.remoteTap.inject(Buffer.concat([Buffer.alloc(1), cobsEncode(f)]))
        // the same frames with bits flipped and a CRC that fits: one in the ciphertext, and the
        // counter's top bit, so that the frame is not behind the replay window
        let flipped = 0
        for (const f of captured) {
            const raw = Buffer.from(f.subarray(0, f.length - CRC_BYTES))
            if (raw[0] !== SEALED_SESSION) continue
            raw[4] ^= 0x80
            raw[5 + ((flipped * 37) % (raw.length - 5))] ^= 1 << (flipped % 8)
            p.remoteTap.inject(onWire(raw))
            flipped++
        }
        // plain frames a peer without the key can make: a HELLO of a newer generation, DATA, RESET
        p.remoteTap.inject(onWire(plainHandshake(FrameType.Hello, 0, 99, 1234)))
        const data = Buffer.alloc(40)
        data[0] = FrameType.Data
        putU32(data, OFF_SESSION, session)
        data.writeUInt16LE(14, 24)
        p.remoteTap.inject(onWire(data))
        // towards the primary: a REFUSE (plain, then as a sealed answer it cannot open) and a RESET
        p.primaryTap.inject(onWire(plainHandshake(FrameType.Refuse, 0, 99, 0)))
        const fakeAnswer = Buffer.alloc(80, 0x5a)
        fakeAnswer[0] = SEALED_ANSWER
        p.primaryTap.inject(onWire(fakeAnswer))
        const reset = Buffer.alloc(18)
        reset[0] = FrameType.Reset
        putU32(reset, OFF_SESSION, session)
        p.primaryTap.inject(onWire(reset))
        for (const f of framesOf(fromRemote)) p.primaryTap.inject(Buffer.concat([Buffer.alloc(1), cobsEncode(f)]))

        expect(p.runUntil(() => s.done(), 60_000)).toBe(true)
        expect(s.errors).toEqual([])
        expect(p.remote.session()).toBe(session)
        expect(p.remote.counters.sessionsStarted).toBe(1)
        expect(p.persistedGeneration).toBe(1)
        expect(p.primary.state()).toBe("up")
        expect(p.primary.counters.refusals).toBe(0)
        // the hint at the start and its replay; the RESET naming the session, in the clear, is
        // dropped, and the replayed hint, with the session busy, does not take it down
        expect(p.primary.counters.resetsReceived).toBe(2)
        expect(p.primary.counters.linkDeaths).toBe(0)
        expect(p.primary.counters.sessionsStarted).toBe(1)
        const rc = p.remote.counters
        expect(flipped).toBeGreaterThan(2)
        expect(rc.droppedReplay).toBeGreaterThanOrEqual(captured.length - 1)
        expect(rc.droppedAuth).toBeGreaterThanOrEqual(flipped + 2)
        expect(p.primary.counters.droppedAuth).toBeGreaterThanOrEqual(3)
        expect(p.primary.counters.droppedReplay).toBeGreaterThan(0)
        expect(rc.messagesDelivered).toBe(600)
    })

    it("resumes across outages and remote reboots with new keys: no key and counter is ever used twice", () => {
        const { p } = sealedPair({ seed: 5 })
        const used = new Set<string>()
        let reused = 0
        const seal = p.cipher.seal.bind(p.cipher)
        p.cipher.seal = (key, nonce, data) => {
            const id = key.toString("hex") + nonce.toString("hex")
            if (used.has(id)) reused++
            used.add(id)
            return seal(key, nonce, data)
        }
        const s = new Stream(3000, (i) => 100 + (i % 400), p.primary, p.remote)
        p.run(500)
        for (let i = 0; i < 4; i++) {
            p.wire.setUp(false)
            p.run(5000)
            p.wire.setUp(true)
            expect(p.runUntil(() => p.primary.isUp(), 15_000)).toBe(true)
            p.run(500)
        }
        expect(p.primary.counters.sessionsResumed).toBeGreaterThanOrEqual(4)
        // the remote reboots: its session and keys are gone; the primary starts a new session
        p.remote.stop()
        const before = s.received
        const r = p.makeRemote()
        s.next = before
        r.onMessage((m, len) => s.check(m, len))
        p.run(12_000)
        expect(p.primary.counters.sessionsStarted).toBe(2)
        expect(p.runUntil(() => s.done(), 120_000)).toBe(true)
        expect(s.errors).toEqual([])
        expect(reused).toBe(0)
        expect(used.size).toBeGreaterThan(1000)
    })

    it("after the remote's reboot the primary connects at its hint, not when the link is found dead", () => {
        // ms from the new remote's start to a new session, the hint delivered or swallowed
        const reconnectMs = (swallowHint: boolean): number => {
            const { p } = sealedPair({ seed: 4 })
            const s = new Stream(100_000, () => 200, p.primary, p.remote)
            p.run(2000)
            expect(p.primary.isUp()).toBe(true)
            // the remote is off for 1.2 s (less than the 3 s that find a link dead), then boots
            p.remote.stop()
            p.run(1200)
            expect(p.primary.isUp()).toBe(true)
            if (swallowHint) p.primaryTap.filter = (d) => (framesOf([d]).some((f) => f[0] === SEALED_HINT) ? null : d)
            const r = p.makeRemote()
            r.onMessage((m, len) => s.check(m, len))
            const from = p.k.millis()
            expect(p.runUntil(() => p.primary.counters.sessionsStarted === 2, 20_000, 1)).toBe(true)
            // the first remote's hint, and the new one's unless swallowed
            expect(p.primary.counters.resetsReceived).toBe(swallowHint ? 1 : 2)
            return p.k.millis() - from
        }
        const hinted = reconnectMs(false)
        const found = reconnectMs(true)
        // with the hint: a handshake's round trips; without: the rest of the 3 s without a frame
        expect(hinted).toBeLessThan(100)
        expect(found).toBeGreaterThan(1500)
    })

    it("a hint anyone can send brings a HELLO forward, and never takes a live session down", () => {
        const { p } = sealedPair({ seed: 5 })
        const s = new Stream(100_000, () => 200, p.primary, p.remote)
        p.run(2000)
        const hellos = p.primary.counters.hellosSent
        // forged while the session is up and busy: taken, and nothing changes
        for (let i = 0; i < 20; i++) {
            p.primaryTap.inject(onWire(HINT))
            p.run(50)
        }
        expect(p.primary.counters.resetsReceived).toBe(21)
        expect(p.primary.counters.linkDeaths).toBe(0)
        expect(p.primary.counters.hellosSent).toBe(hellos)
        expect(p.primary.isUp()).toBe(true)
        // the line is cut: the link is found dead, and the HELLOs back off, growing
        p.wire.setUp(false)
        expect(p.runUntil(() => p.primary.counters.handshakeTimeouts >= 4 && p.primary.state() === "down", 60_000, 1)).toBe(true)
        const sent = p.primary.counters.hellosSent
        // a hint (here a forged one) while it waits out its backoff: a HELLO at once
        p.primaryTap.inject(onWire(HINT))
        p.run(1)
        expect(p.primary.state()).toBe("connecting")
        expect(p.primary.counters.hellosSent).toBe(sent + 1)
        // and the session resumes once the line is back: nothing was lost
        p.wire.setUp(true)
        expect(p.runUntil(() => p.primary.isUp(), 20_000)).toBe(true)
        expect(p.primary.counters.sessionsStarted).toBe(1)
        expect(p.runUntil(() => s.received >= 300, 30_000)).toBe(true)
        expect(s.errors).toEqual([])
    })

    it("takes new keys before a frame counter runs out", () => {
        const { p } = sealedPair({ seed: 6 })
        const s = new Stream(800, () => 300, p.primary, p.remote)
        p.run(300)
        expect(p.primary.isUp()).toBe(true)
        const seal = p.primarySeal as LinkSeal
        ;(seal as unknown as { txCtr: number }).txCtr = COUNTER_LIMIT - 5
        expect(p.runUntil(() => s.done(), 60_000)).toBe(true)
        expect(s.errors).toEqual([])
        expect(p.primary.counters.sessionsResumed).toBe(1)
        expect((seal as unknown as { txCtr: number }).txCtr).toBeLessThan(COUNTER_LIMIT - 5)
    })

    it("a replayed HELLO changes nothing, even one the remote no longer remembers", () => {
        const { p, fromPrimary } = sealedPair({ seed: 8 })
        const s = new Stream(300, () => 200, p.primary, p.remote)
        p.run(300)
        const hello = framesOf(fromPrimary)[0]
        expect(hello[0]).toBe(SEALED_HELLO)
        const session = p.remote.session()
        p.remoteTap.inject(Buffer.concat([Buffer.alloc(1), cobsEncode(hello)]))
        p.run(100)
        expect(p.remote.counters.droppedReplay).toBe(1)
        // the remote forgets it (a reboot, or many HELLOs since): the WELCOME goes out, but with
        // no frame under its keys nothing changes
        ;(p.remoteSeal as unknown as { seen: string[] }).seen = []
        p.remoteTap.inject(Buffer.concat([Buffer.alloc(1), cobsEncode(hello)]))
        expect(p.runUntil(() => s.done(), 30_000)).toBe(true)
        expect(s.errors).toEqual([])
        expect(p.remote.session()).toBe(session)
        expect(p.remote.counters.sessionsStarted + p.remote.counters.sessionsResumed).toBe(1)
        expect(p.primary.counters.droppedAuth).toBeGreaterThanOrEqual(1)
    })

    it("a replayed HELLO of a newer generation changes nothing: the generation rises only for a primary that holds the WELCOME's keys", () => {
        // a member's old board, of generation 7, says HELLO (the board is lost since, with it
        // the remote that knew its generation)
        const old = sealedPair({ generation: 7, highestGeneration: 3 })
        old.p.run(300)
        const hello = framesOf(old.fromPrimary)[0]
        expect(hello[0]).toBe(SEALED_HELLO)
        // a remote that knows generation 3, and the board restored in the old one's place at 5:
        // the old HELLO, replayed, is authentic and new to this remote, and gets its WELCOME...
        const { p } = sealedPair({ generation: 5, highestGeneration: 3 })
        p.remoteTap.inject(Buffer.concat([Buffer.alloc(1), cobsEncode(hello)]))
        p.run(2000)
        // ...but nobody holds its keys: the live board is not shut out as stale
        expect(p.primary.state()).toBe("up")
        expect(p.primary.counters.refusals).toBe(0)
        expect(p.remote.generation()).toBe(5)
        expect(p.remote.highestGeneration()).toBe(5)
        expect(p.persistedGeneration).toBe(5)
    })

    it("the remote persists a newer generation before the session takes it, and starts the session only once the primary holds the keys", () => {
        const p = new LinkPair({ key: KEY, generation: 7, highestGeneration: 3 })
        const persistedAtUp: number[] = []
        p.remote.onSessionUp(() => persistedAtUp.push(p.persistedGeneration))
        p.run(2000)
        expect(persistedAtUp).toEqual([7])
        expect(p.remote.highestGeneration()).toBe(7)
        expect(p.remote.generation()).toBe(7)
    })

    it("while the newer generation is being persisted, the first frame under the keys is held and taken with the session: nothing waits for a retransmission", () => {
        const p = new LinkPair({ key: KEY, generation: 7, highestGeneration: 3, persistMs: 3 })
        const persistedAtUp: number[] = []
        p.remote.onSessionUp(() => persistedAtUp.push(p.persistedGeneration))
        const got: number[] = []
        p.remote.onMessage((m) => got.push(m[0]))
        expect(p.runUntil(() => p.primary.isUp(), 2000)).toBe(true)
        p.primary.send(Buffer.from([42]))
        expect(p.runUntil(() => got.length > 0, 2000, 1)).toBe(true)
        expect(persistedAtUp).toEqual([7])
        expect(got).toEqual([42])
        // the primary's first frame (its ACK) waited on the remote, and nothing was sent twice
        expect(p.primary.counters.retransmissions).toBe(0)
        expect(p.primary.counters.timeouts).toBe(0)
        expect(p.remote.counters.droppedStale).toBe(0)
    })
})

describe("the simulator's cipher", () => {
    it("seals and opens as NodeCipher: every length of short and long frames, several keys, a frame changed, a second opening", () => {
        const node = new NodeCipher()
        const sim = new SimCipher()
        const nonce = Buffer.alloc(13)
        // every length to 300, then longer ones past the cipher's kept buffers (1,280 bytes)
        const lengths: number[] = []
        for (let n = 0; n <= 300; n++) lengths.push(n)
        lengths.push(1100, 1279, 1280, 1281, 1500, 4000, 1200)
        for (const n of lengths) {
            const key = seededKey(n % 5, n % 3)
            const data = Buffer.alloc(n)
            for (let i = 0; i < n; i++) data[i] = (i * 31 + n * 7) & 0xff
            putU32(nonce, 0, n)
            nonce[12] = n & 0xff
            const sealed = sim.seal(key, nonce, data)
            expect(sealed.equals(node.seal(key, nonce, data))).toBe(true)
            // as sealed (remembered), then again (by the cipher)
            expect(sim.open(key, nonce, sealed)?.equals(data)).toBe(true)
            expect(sim.open(key, nonce, sealed)?.equals(data)).toBe(true)
            const changed = Buffer.from(sealed)
            changed[n % changed.length] ^= 4
            expect(sim.open(key, nonce, changed)).toBeNull()
            expect(node.open(key, nonce, changed)).toBeNull()
            expect(sim.open(seededKey(99, 9), nonce, sim.seal(key, nonce, data))).toBeNull()
        }
    })
})
