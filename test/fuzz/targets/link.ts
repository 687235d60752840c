import fc from "fast-check"
import { Link } from "../../../hal/link"
import { cobsEncode } from "../../../firmware/codec/cobs"
import { crc32c } from "../../../firmware/codec/crc32c"
import { LinkChannel } from "../../../firmware/link/channel"
import { ChannelConfig, checkChannelConfig, defaultChannelConfig } from "../../../firmware/link/config"
import { PrimaryChannel } from "../../../firmware/link/primary"
import { RemoteChannel } from "../../../firmware/link/remote"
import { MiniClock } from "../clock"
import { mutate } from "../mutate"
import { Rng } from "../rng"
import { check, Target } from "../target"

// Frame layout, from docs/FORMAT-link.md (not from the code): header 18 bytes, DATA body
// seq u32 + xmit u16 + messages, handshake body 14 bytes + resume state, CRC-32C last.
const HEADER = 18
const DATA_HEADER = 24
const HANDSHAKE = 32
const MAX_RESUME = 64
const T_HELLO = 1
const T_WELCOME = 2
const T_REFUSE = 3
const T_DATA = 4
const T_ACK = 5
const T_RESET = 6

class WireLink implements Link {
    sent: Buffer[] = []
    rx: ((data: Buffer) => void) | null = null
    write(data: Buffer): number {
        this.sent.push(Buffer.from(data))
        return data.length
    }
    txFree(): number {
        return 1 << 20
    }
    onTxReady(_h: () => void): void {}
    onReceive(h: (data: Buffer) => void): void {
        this.rx = h
    }
    bitRate(): number {
        return 921600
    }
}

function channelConfig(remote: boolean): ChannelConfig {
    const c = defaultChannelConfig()
    if (remote) {
        c.keepaliveMs = 0
        c.txWindow = 4
    } else c.rxWindow = 4
    const err = checkChannelConfig(c)
    if (err) throw new Error(err)
    return c
}

const REMOTE_CFG = channelConfig(true)
const PRIMARY_CFG = channelConfig(false)

/** Raw frame bytes with their CRC, COBS-encoded and delimited. */
export function sealFrame(raw: Buffer): Buffer {
    const b = Buffer.alloc(raw.length + 4)
    raw.copy(b)
    b.writeUInt32LE(crc32c(raw), raw.length)
    return cobsEncode(b)
}

function header(type: number, flags: number, session: number, ack: number, sack: number, window: number, echo: number, bodyLen: number): Buffer {
    const b = Buffer.alloc(HEADER + bodyLen)
    b[0] = type
    b[1] = flags
    b.writeUInt32LE(session >>> 0, 2)
    b.writeUInt32LE(ack >>> 0, 6)
    b.writeUInt32LE(sack >>> 0, 10)
    b.writeUInt16LE(window & 0xffff, 14)
    b.writeUInt16LE(echo & 0xffff, 16)
    return b
}

/** Splits a wire stream into the raw frames a decoder should see (reference COBS decoding);
 * `null` for a frame whose COBS is bad, "oversize" for one longer than `max`. */
export function wireFrames(stream: Buffer, max: number): Array<Buffer | null | "oversize"> {
    const out: Array<Buffer | null | "oversize"> = []
    let start = 0
    for (let i = 0; i < stream.length; i++) {
        if (stream[i] !== 0) continue
        const enc = stream.subarray(start, i)
        start = i + 1
        if (enc.length === 0) continue
        const dec: number[] = []
        let p = 0
        let bad = false
        while (p < enc.length && !bad) {
            const code = enc[p++]
            for (let k = 1; k < code; k++) {
                if (p >= enc.length) {
                    bad = true
                    break
                }
                dec.push(enc[p++])
            }
            if (!bad && p < enc.length && code !== 0xff) dec.push(0)
        }
        out.push(dec.length > max ? "oversize" : bad ? null : Buffer.from(dec))
    }
    return out
}

type Verdict = "crc" | "malformed" | "ok"

/** What docs/FORMAT-link.md says of a raw frame (CRC included). */
function judge(raw: Buffer, maxPayload: number): Verdict {
    if (raw.length < HEADER + 4) return "malformed"
    const n = raw.length - 4
    if (crc32c(raw.subarray(0, n)) !== raw.readUInt32LE(n)) return "crc"
    if ((raw[1] & ~1) !== 0) return "malformed"
    const type = raw[0]
    if (type === T_DATA) {
        if (n <= DATA_HEADER || n - DATA_HEADER > maxPayload) return "malformed"
        let off = DATA_HEADER
        while (off < n) {
            if (off + 2 > n) return "malformed"
            off += 2 + raw.readUInt16LE(off)
        }
        return off === n ? "ok" : "malformed"
    }
    if (type === T_ACK || type === T_RESET) return n === HEADER ? "ok" : "malformed"
    if (type === T_HELLO || type === T_WELCOME) return n >= HANDSHAKE && n - HANDSHAKE <= MAX_RESUME ? "ok" : "malformed"
    if (type === T_REFUSE) return n === HANDSHAKE ? "ok" : "malformed"
    return "malformed"
}

/** The messages of a DATA frame the reference judges ok. */
function messagesOf(raw: Buffer): string[] {
    const out: string[] = []
    const n = raw.length - 4
    for (let off = DATA_HEADER; off < n;) {
        const len = raw.readUInt16LE(off)
        out.push(raw.subarray(off + 2, off + 2 + len).toString("hex"))
        off += 2 + len
    }
    return out
}

// ---- frames as an arbitrary

const u32 = fc.oneof(fc.nat(0xffffffff), fc.constantFrom(0, 1, 0xffffffff, 0x80000000), fc.nat(40))
const ackBlock = fc.record({
    flags: fc.constantFrom(0, 0, 1),
    ack: fc.oneof(fc.nat(12), u32),
    sack: fc.oneof(fc.constant(0), u32),
    window: fc.oneof(fc.nat(33), fc.nat(0xffff)),
    echo: fc.nat(0xffff),
})

function dataFrame(session: fc.Arbitrary<number>) {
    return fc
        .record({
            a: ackBlock,
            session,
            seq: fc.oneof(fc.nat(10), u32),
            xmit: fc.nat(0xffff),
            msgs: fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 1, maxLength: 4 }),
        })
        .map((r) => {
            const body = Buffer.concat(r.msgs.flatMap((m) => [Buffer.from([m.length & 0xff, m.length >> 8]), Buffer.from(m)]))
            const b = header(T_DATA, r.a.flags, r.session, r.a.ack, r.a.sack, r.a.window, r.a.echo, 6 + body.length)
            b.writeUInt32LE(r.seq >>> 0, 18)
            b.writeUInt16LE(r.xmit, 22)
            body.copy(b, 24)
            return b
        })
}

function bareFrame(type: number, session: fc.Arbitrary<number>) {
    return fc.record({ a: ackBlock, session }).map((r) => header(type, r.a.flags, r.session, r.a.ack, r.a.sack, r.a.window, r.a.echo, 0))
}

function handshakeFrame(type: number, session: fc.Arbitrary<number>, nonce: fc.Arbitrary<number>) {
    return fc
        .record({
            a: ackBlock,
            session,
            version: fc.constantFrom(1, 1, 1, 0, 2),
            reason: fc.nat(5),
            member: fc.constantFrom(0, 0, 0, 1, 0xffff),
            generation: fc.constantFrom(1, 1, 1, 0, 2, 0xffffffff),
            nonce,
            maxPayload: fc.constantFrom(1096, 1096, 1096, 548, 0),
            resume: fc.uint8Array({ maxLength: type === T_REFUSE ? 0 : 70 }),
        })
        .map((r) => {
            const b = header(type, r.a.flags, r.session, r.a.ack, r.a.sack, r.a.window, r.a.echo, HANDSHAKE - HEADER + r.resume.length)
            b[18] = r.version
            b[19] = r.reason
            b.writeUInt16LE(r.member, 20)
            b.writeUInt32LE(r.generation >>> 0, 22)
            b.writeUInt32LE(r.nonce >>> 0, 26)
            b.writeUInt16LE(r.maxPayload, 30)
            Buffer.from(r.resume).copy(b, 32)
            return b
        })
}

/** A handshake frame with every field as the other end expects it but the session and nonce. */
function goodHandshake(type: number, session: fc.Arbitrary<number>, nonce: fc.Arbitrary<number>) {
    return fc.record({ session, nonce, window: fc.nat(8), resume: fc.uint8Array({ maxLength: 8 }) }).map((r) => {
        const b = header(type, 0, r.session, 0, 0, r.window, 0, HANDSHAKE - HEADER + r.resume.length)
        b[18] = 1
        b.writeUInt16LE(0, 20)
        b.writeUInt32LE(1, 22)
        b.writeUInt32LE(r.nonce >>> 0, 26)
        b.writeUInt16LE(1096, 30)
        Buffer.from(r.resume).copy(b, 32)
        return b
    })
}

/** A wire stream of frames: sealed (a few with a bad CRC), sometimes with noise between them. */
function streamOf(first: fc.Arbitrary<Buffer>, frame: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
    return fc.tuple(first, fc.array(fc.tuple(frame, fc.constantFrom("ok", "ok", "ok", "ok", "crc", "noise")), { maxLength: 8 })).map(([f0, rest]) => {
        const parts: Buffer[] = [Buffer.from([0]), sealFrame(f0), Buffer.from([0])]
        for (const [f, how] of rest) {
            if (how === "noise") parts.push(Buffer.from([0x11, 0x22, 0x00]))
            const s = sealFrame(f)
            if (how === "crc") s[s.length - 1] ^= 0x40
            parts.push(s, Buffer.from([0]))
        }
        return Buffer.concat(parts)
    })
}

/** Mutates the frames of a wire stream rather than its COBS bytes: one frame's raw bytes get
 * byte mutations, and most get their CRC made good again; now and then the wire bytes
 * themselves are mutated. */
function mutateStream(rng: Rng, input: Buffer, pool: readonly Buffer[], maxLen: number): Buffer {
    if (rng.chance(0.2)) return mutate(rng, input, pool, maxLen)
    const frames = wireFrames(input, 1 << 16).filter((f): f is Buffer => f instanceof Buffer)
    if (frames.length === 0) return mutate(rng, input, pool, maxLen)
    const k = rng.int(frames.length)
    const other = frames.map((f) => f.subarray(0, Math.max(0, f.length - 4)))
    const raw = mutate(rng, Buffer.from(frames[k].subarray(0, Math.max(0, frames[k].length - 4))), other, maxLen)
    const parts: Buffer[] = [Buffer.from([0])]
    frames.forEach((f, i) => {
        if (i !== k) parts.push(cobsEncode(f), Buffer.from([0]))
        else if (rng.chance(0.8)) parts.push(sealFrame(raw), Buffer.from([0]))
        else parts.push(cobsEncode(Buffer.concat([raw, Buffer.alloc(4, rng.int(256))])), Buffer.from([0]))
    })
    const out = Buffer.concat(parts)
    return out.length > maxLen ? out.subarray(0, maxLen) : out
}

/** Feeds the stream to a channel and checks it against the reference: every frame the
 * reference calls bad is counted as dropped, and only messages of good DATA frames reach the
 * application. */
function feedAndCheck(ch: LinkChannel, link: WireLink, clock: MiniClock, stream: Buffer, cfg: ChannelConfig, frameMax: number, delivered: string[]): void {
    const c0 = { ...ch.counters }
    // in two pieces, cut where the input says, as bytes come from a UART
    const cut = stream.length > 0 ? stream[0] % (stream.length + 1) : 0
    link.rx!(stream.subarray(0, cut))
    link.rx!(stream.subarray(cut))
    check(clock.run(clock.millis() + 20, 100000), "the channel's timers did not settle within 20 ms")
    let crc = 0
    let malformed = 0
    let oversize = 0
    let ok = 0
    const okMessages = new Set<string>()
    for (const f of wireFrames(stream, frameMax)) {
        if (f === "oversize") oversize++
        else if (f === null) malformed++
        else {
            const v = judge(f, cfg.maxPayload)
            if (v === "crc") crc++
            else if (v === "malformed") malformed++
            else {
                ok++
                if (f[0] === T_DATA) for (const m of messagesOf(f)) okMessages.add(m)
            }
        }
    }
    const c = ch.counters
    check(c.droppedCrc - c0.droppedCrc === crc, `${c.droppedCrc - c0.droppedCrc} frames dropped for their CRC, the reference finds ${crc}`)
    check(
        c.droppedMalformed - c0.droppedMalformed === malformed,
        `${c.droppedMalformed - c0.droppedMalformed} frames dropped as malformed, the reference finds ${malformed}`
    )
    check(
        c.droppedOversize - c0.droppedOversize === oversize,
        `${c.droppedOversize - c0.droppedOversize} frames dropped as oversize, the reference finds ${oversize}`
    )
    check(c.framesReceived - c0.framesReceived <= ok, `${c.framesReceived - c0.framesReceived} frames taken, but only ${ok} are well formed`)
    for (const m of delivered) check(okMessages.has(m), `a message no good DATA frame carried reached the application: ${m.slice(0, 40)}`)
    check(["up", "down", "connecting", "refused"].includes(ch.state()), `state ${ch.state()}`)
}

function frameMaxOf(cfg: ChannelConfig): number {
    const data = DATA_HEADER + cfg.maxPayload + 4
    const ctrl = HANDSHAKE + cfg.maxResumeBytes + 4
    return data > ctrl ? data : ctrl
}

// ---- the remote's end

function newRemote(): { ch: RemoteChannel; link: WireLink; clock: MiniClock; delivered: string[] } {
    const link = new WireLink()
    const clock = new MiniClock()
    const rng = new Rng(7)
    const ch = new RemoteChannel(link, clock, () => rng.float(), REMOTE_CFG, 0, 1, null)
    const delivered: string[] = []
    ch.onMessage((m, len) => delivered.push(m.subarray(0, len).toString("hex")))
    return { ch, link, clock, delivered }
}

/** The session a fresh remote opens for the first HELLO (its random numbers are fixed). */
const REMOTE_SESSION = (() => {
    const r = newRemote()
    const hello = header(T_HELLO, 0, 0, 0, 0, 4, 0, HANDSHAKE - HEADER)
    hello[18] = 1
    hello.writeUInt32LE(1, 22)
    hello.writeUInt32LE(0x1234, 26)
    hello.writeUInt16LE(1096, 30)
    r.link.rx!(Buffer.concat([sealFrame(hello), Buffer.from([0])]))
    return r.ch.session()
})()

const remoteSession = fc.constantFrom(REMOTE_SESSION, REMOTE_SESSION, REMOTE_SESSION, 0, 1, 0xffffffff)
const helloFirst = fc.oneof(
    { weight: 3, arbitrary: goodHandshake(T_HELLO, fc.constantFrom(0, REMOTE_SESSION), fc.constant(0x1234)) },
    { weight: 1, arbitrary: handshakeFrame(T_HELLO, fc.constantFrom(0, 0, 0, REMOTE_SESSION), fc.constantFrom(0x1234, 0x1234, 1, 0)) }
)
const toRemote = fc.oneof(
    { weight: 5, arbitrary: dataFrame(remoteSession) },
    { weight: 2, arbitrary: bareFrame(T_ACK, remoteSession) },
    { weight: 1, arbitrary: bareFrame(T_RESET, remoteSession) },
    { weight: 2, arbitrary: handshakeFrame(T_HELLO, fc.constantFrom(0, REMOTE_SESSION, 5), fc.constantFrom(0x1234, 0x99)) },
    { weight: 1, arbitrary: handshakeFrame(T_WELCOME, remoteSession, fc.nat(5)) },
    { weight: 1, arbitrary: handshakeFrame(T_REFUSE, remoteSession, fc.nat(5)) }
)

const MAX_STREAM = 6000

const linkRemote: Target = {
    name: "link-remote",
    about: "wire bytes into the remote's link channel: COBS, CRC, headers, HELLO and DATA against the frame reference",
    valid: streamOf(helloFirst, toRemote),
    maxLen: MAX_STREAM,
    timeLimitMs: 100,
    mutate: (rng, input, pool) => mutateStream(rng, input, pool, MAX_STREAM),
    run(input: Buffer): void {
        const r = newRemote()
        feedAndCheck(r.ch, r.link, r.clock, input, REMOTE_CFG, frameMaxOf(REMOTE_CFG), r.delivered)
        // anything it sends is well formed
        for (const f of wireFrames(Buffer.concat(r.link.sent), 1 << 16))
            check(f instanceof Buffer && judge(f, REMOTE_CFG.maxPayload) === "ok", "the remote sent a frame that is not well formed")
    },
}

// ---- the primary's end

function newPrimary(): { ch: PrimaryChannel; link: WireLink; clock: MiniClock; delivered: string[] } {
    const link = new WireLink()
    const clock = new MiniClock()
    const rng = new Rng(9)
    const ch = new PrimaryChannel(link, clock, () => rng.float(), PRIMARY_CFG, 1, 0)
    const delivered: string[] = []
    ch.onMessage((m, len) => delivered.push(m.subarray(0, len).toString("hex")))
    clock.run(1) // the first HELLO goes out
    return { ch, link, clock, delivered }
}

/** The nonce of a fresh primary's first HELLO (its random numbers are fixed). */
const PRIMARY_NONCE = (() => {
    const p = newPrimary()
    const f = wireFrames(Buffer.concat(p.link.sent), 1 << 16)[0]
    if (!(f instanceof Buffer) || f[0] !== T_HELLO) throw new Error("link-primary: no HELLO")
    return f.readUInt32LE(26)
})()
const PRIMARY_SESSION = 0x5e5510
const primarySession = fc.constantFrom(PRIMARY_SESSION, PRIMARY_SESSION, PRIMARY_SESSION, 0, 7)
const welcomeFirst = fc.oneof(
    { weight: 3, arbitrary: goodHandshake(T_WELCOME, fc.constant(PRIMARY_SESSION), fc.constant(PRIMARY_NONCE)) },
    {
        weight: 1,
        arbitrary: handshakeFrame(
            T_WELCOME,
            fc.constantFrom(PRIMARY_SESSION, PRIMARY_SESSION, 0),
            fc.constantFrom(PRIMARY_NONCE, PRIMARY_NONCE, PRIMARY_NONCE, 1)
        ),
    },
    { weight: 1, arbitrary: handshakeFrame(T_REFUSE, fc.constant(0), fc.constantFrom(PRIMARY_NONCE, 1)) }
)
const toPrimary = fc.oneof(
    { weight: 5, arbitrary: dataFrame(primarySession) },
    { weight: 2, arbitrary: bareFrame(T_ACK, primarySession) },
    { weight: 1, arbitrary: bareFrame(T_RESET, primarySession) },
    { weight: 1, arbitrary: handshakeFrame(T_WELCOME, primarySession, fc.constantFrom(PRIMARY_NONCE, 3)) },
    { weight: 1, arbitrary: handshakeFrame(T_REFUSE, fc.constant(0), fc.constantFrom(PRIMARY_NONCE, 3)) },
    { weight: 1, arbitrary: handshakeFrame(T_HELLO, primarySession, fc.nat(5)) }
)

const linkPrimary: Target = {
    name: "link-primary",
    about: "wire bytes into a primary's link channel: COBS, CRC, headers, WELCOME, REFUSE, RESET and DATA against the frame reference",
    valid: streamOf(welcomeFirst, toPrimary),
    maxLen: MAX_STREAM,
    timeLimitMs: 100,
    mutate: (rng, input, pool) => mutateStream(rng, input, pool, MAX_STREAM),
    run(input: Buffer): void {
        const p = newPrimary()
        const sentBefore = p.link.sent.length
        feedAndCheck(p.ch, p.link, p.clock, input, PRIMARY_CFG, frameMaxOf(PRIMARY_CFG), p.delivered)
        for (const f of wireFrames(Buffer.concat(p.link.sent.slice(sentBefore)), 1 << 16))
            check(f instanceof Buffer && judge(f, PRIMARY_CFG.maxPayload) === "ok", "the primary sent a frame that is not well formed")
    },
}

export const linkTargets = [linkRemote, linkPrimary]
