import fc from "fast-check"
import { cobsEncode, CobsDecoder } from "../../../firmware/codec/cobs"
import {
    decodeManifest,
    decodeSeqDone,
    encodeApplied,
    encodeManifest,
    encodeResync,
    encodeSeqDone,
    Manifest,
    ManifestEntry,
    Msg,
    SeqDone,
    TRACKED,
} from "../../../firmware/protocol/messages"
import {
    decodeEvicted,
    decodeRelease,
    decodeShuttle,
    encodeEvicted,
    encodeRelease,
    encodeShuttle,
    EVICTED_BYTES,
    EvictedFrame,
    FLAG_ADMIT,
    FLAG_BUSY,
    FLAG_DATA,
    FLAG_RAISED,
    FrameError,
    FrameType,
    MAX_MEMBERS,
    MAX_WINDOW,
    RELEASE_MAX_BYTES,
    ReleaseFrame,
    seal,
    SHUTTLE_MAX_BYTES,
    ShuttleFrame,
} from "../../../firmware/shuttle/frames"
import { shuttleFrames } from "../../shuttle/arbitraries"
import { mix } from "../rng"
import { check, Target } from "../target"

const u32 = fc.oneof(
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.constantFrom(0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 0x7fffffff, 0x80000000, 0xffffffff),
    fc.integer({ min: 0, max: 300 })
)

// ---- COBS

/** Longest frame the COBS target's decoder takes: small, so that oversize frames are common. */
const COBS_MAX = 48

/** What the spec says a stream decodes to: per delimited frame, its bytes, "oversize" or
 * "malformed"; empty frames are nothing. Written from docs/FORMAT-link.md and the COBS paper,
 * not from the decoder. */
function cobsReference(stream: Buffer, max: number): Array<Buffer | "oversize" | "malformed"> {
    const out: Array<Buffer | "oversize" | "malformed"> = []
    let start = 0
    for (let i = 0; i <= stream.length; i++) {
        if (i < stream.length && stream[i] !== 0) continue
        if (i === stream.length) break // no delimiter yet: the frame is not complete
        const enc = stream.subarray(start, i)
        start = i + 1
        if (enc.length === 0) continue
        const dec: number[] = []
        let p = 0
        let truncated = false
        while (p < enc.length) {
            const code = enc[p++]
            const take = code - 1
            for (let k = 0; k < take; k++) {
                if (p >= enc.length) {
                    truncated = true
                    break
                }
                dec.push(enc[p++])
            }
            if (truncated) break
            if (p < enc.length && code !== 0xff) dec.push(0)
        }
        if (dec.length > max) out.push("oversize")
        else if (truncated) out.push("malformed")
        else out.push(Buffer.from(dec))
    }
    return out
}

const cobs: Target = {
    name: "cobs",
    about: "the link's streaming COBS decoder against a reference decoder, whole and in chunks",
    valid: fc
        .tuple(
            fc.array(
                fc.oneof(
                    fc.uint8Array({ maxLength: 60 }),
                    fc.uint8Array({ maxLength: 600 }).map((a) => a.map((x) => (x % 3 === 0 ? 0 : x)))
                ),
                { maxLength: 6 }
            ),
            fc.boolean()
        )
        .map(([frames, lead]) => {
            const parts: Buffer[] = lead ? [Buffer.from([0])] : []
            for (const f of frames) parts.push(cobsEncode(Buffer.from(f)))
            return Buffer.concat(parts)
        }),
    maxLen: 2000,
    timeLimitMs: 50,
    run(input: Buffer): void {
        // the stream, then a delimiter so that the last frame ends
        const stream = Buffer.concat([input, Buffer.from([0])])
        const want = cobsReference(stream, COBS_MAX)
        const wantFrames = want.filter((x) => typeof x !== "string") as Buffer[]
        const wantOver = want.filter((x) => x === "oversize").length
        const wantBad = want.filter((x) => x === "malformed").length
        // whole, then in chunks cut where the input says
        for (let pass = 0; pass < 2; pass++) {
            const got: Buffer[] = []
            const d = new CobsDecoder(COBS_MAX, (buf, len) => got.push(Buffer.from(buf.subarray(0, len))))
            if (pass === 0) d.push(stream, 0, stream.length)
            else {
                let at = 0
                let h = mix(stream.length, stream[0] ?? 0)
                while (at < stream.length) {
                    h = mix(h)
                    const end = Math.min(stream.length, at + 1 + (h % 37))
                    d.push(stream, at, end)
                    at = end
                }
            }
            const how = pass === 0 ? "whole" : "in chunks"
            check(got.length === wantFrames.length, `${how}: ${got.length} frames decoded, the reference finds ${wantFrames.length}`)
            for (let i = 0; i < got.length; i++)
                check(
                    got[i].equals(wantFrames[i]),
                    `${how}: frame ${i} decodes to ${got[i].toString("hex")}, the reference to ${wantFrames[i].toString("hex")}`
                )
            check(d.droppedOversize === wantOver, `${how}: ${d.droppedOversize} oversize frames counted, the reference finds ${wantOver}`)
            check(d.droppedMalformed === wantBad, `${how}: ${d.droppedMalformed} malformed frames counted, the reference finds ${wantBad}`)
        }
    },
}

// ---- replication messages

const seqDoneArb = fc
    .record({ seq: u32, sent: u32, bytes: u32, short: fc.boolean() })
    .map((r) => encodeSeqDone(new SeqDone(r.seq, r.sent, r.bytes, r.short ? 1 : 0)))
const manifestArb = fc
    .record({
        seq: u32,
        prev: u32,
        entries: fc.uniqueArray(fc.tuple(fc.nat(255), fc.oneof(u32, fc.constant(TRACKED)), u32), { maxLength: 10, selector: (e) => e[0] }),
    })
    .map((r) =>
        encodeManifest(
            new Manifest(
                r.seq,
                r.prev,
                r.entries.map(([m, p, b]) => new ManifestEntry(m, p, b))
            )
        )
    )
export const messageArb = fc.oneof(
    seqDoneArb,
    manifestArb,
    fc.tuple(u32, u32, u32, fc.nat(255)).map(([a, b, c, f]) => encodeResync(a, b, c, f)),
    u32.map((s) => encodeApplied(s)),
    fc.tuple(u32, u32, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([seq, lba, d]) => {
        const b = Buffer.alloc(9 + d.length)
        b[0] = Msg.Portion
        b.writeUInt32LE(seq, 1)
        b.writeUInt32LE(lba, 5)
        Buffer.from(d).copy(b, 9)
        return b
    }),
    fc.nat(255).map((m) => Buffer.from([Msg.Evicted, m]))
)

/** Decodes at the start of a buffer longer than the message, filled past it with junk: a
 * decoder must read nothing beyond `len`. */
function withJunk(input: Buffer): Buffer {
    const b = Buffer.alloc(input.length + 16, 0xa5)
    input.copy(b, 0)
    return b
}

const messages: Target = {
    name: "messages",
    about: "SEQ_DONE and MANIFEST decoders: null, or a message that encodes back to the same bytes",
    valid: messageArb,
    maxLen: 400,
    timeLimitMs: 50,
    run(input: Buffer): void {
        const len = input.length
        const junk = withJunk(input)
        const d = decodeSeqDone(input, len)
        const dj = decodeSeqDone(junk, len)
        check((d === null) === (dj === null), "SEQ_DONE: the bytes after the message change the verdict")
        if (d) {
            check(encodeSeqDone(d).equals(input), `SEQ_DONE decodes to ${JSON.stringify(d)}, which encodes to other bytes`)
            check(input[0] === Msg.SeqDone, "SEQ_DONE accepted with another type byte")
        }
        const m = decodeManifest(input, len)
        const mj = decodeManifest(junk, len)
        check((m === null) === (mj === null), "MANIFEST: the bytes after the message change the verdict")
        if (m) {
            check(input[0] === Msg.Manifest, "MANIFEST accepted with another type byte")
            check(encodeManifest(m).equals(input), `MANIFEST decodes to ${JSON.stringify(m)}, which encodes to other bytes`)
            const members = new Set(m.entries.map((e) => e.member))
            check(members.size === m.entries.length, "MANIFEST accepted with a member listed twice")
            for (const e of m.entries) check(e.member >= 0 && e.member <= 255 && e.portions >= 0 && e.portions <= 0xffffffff, "MANIFEST entry out of range")
        }
    },
}

// ---- shuttle frames

const addr = fc.integer({ min: 0x08, max: 0x77 })
const shuttleArb = shuttleFrames().map((f) => {
    const out = Buffer.alloc(SHUTTLE_MAX_BYTES)
    return Buffer.from(out.subarray(0, encodeShuttle(f, out)))
})
const releaseArb = fc
    .record({
        group: fc.nat(255),
        epoch: fc.nat(0xffff),
        origin: addr,
        sender: addr,
        seq: u32,
        mask: fc.nat(255),
        count: fc.nat(MAX_WINDOW),
        totals: fc.array(fc.tuple(u32, u32), { minLength: 120, maxLength: 120 }),
    })
    .map((r) => {
        const f = new ReleaseFrame()
        f.group = r.group
        f.epoch = r.epoch
        f.origin = r.origin
        f.sender = r.sender
        f.seq = r.seq
        f.memberMask = r.mask
        f.count = r.count
        for (let i = 0; i < 120; i++) {
            f.portions[i] = r.totals[i][0]
            f.bytes[i] = r.totals[i][1]
        }
        const out = Buffer.alloc(RELEASE_MAX_BYTES)
        return Buffer.from(out.subarray(0, encodeRelease(f, out)))
    })
const evictedArb = fc.record({ group: fc.nat(255), epoch: fc.nat(0xffff), origin: addr, sender: addr, target: addr }).map((r) => {
    const e = new EvictedFrame()
    Object.assign(e, r)
    const out = Buffer.alloc(EVICTED_BYTES)
    encodeEvicted(e, out)
    return out
})

const validAddress = (a: number) => a >= 0x08 && a <= 0x77

function shuttleFields(f: ShuttleFrame): string {
    const tot: number[] = []
    for (let w = 0; w < f.windowLen; w++) for (let i = 0; i < f.count; i++) tot.push(f.portions[w * 8 + i], f.bytes[w * 8 + i])
    return JSON.stringify([
        f.group,
        f.epoch,
        f.origin,
        f.holder,
        f.seq,
        f.flags,
        f.members.slice(0, f.count),
        f.adopted,
        f.absent,
        f.delivered,
        f.windowLen,
        f.finalLag,
        tot,
    ])
}

function releaseFields(r: ReleaseFrame): string {
    const tot: number[] = []
    for (let w = 0; w < r.count; w++) for (let m = 0; m < MAX_MEMBERS; m++) if (r.memberMask & (1 << m)) tot.push(r.portions[w * 8 + m], r.bytes[w * 8 + m])
    return JSON.stringify([r.group, r.epoch, r.origin, r.sender, r.seq, r.memberMask, r.count, tot])
}

const scratchS = new ShuttleFrame()
const scratchS2 = new ShuttleFrame()
const scratchR = new ReleaseFrame()
const scratchR2 = new ReleaseFrame()
const scratchE = new EvictedFrame()
const outS = Buffer.alloc(SHUTTLE_MAX_BYTES)
const outR = Buffer.alloc(RELEASE_MAX_BYTES)

const shuttle: Target = {
    name: "shuttle",
    about: "SHUTTLE, RELEASE and EVICTED decoders: fields in range, and what they accept encodes to a frame that decodes the same",
    valid: fc.oneof(shuttleArb, releaseArb, evictedArb),
    maxLen: SHUTTLE_MAX_BYTES + 40,
    timeLimitMs: 50,
    reseal(b: Buffer): Buffer {
        if (b.length < 3) return b
        const c = Buffer.from(b)
        seal(c, c.length - 2)
        return c
    },
    run(input: Buffer): void {
        const len = input.length
        const junk = withJunk(input)
        const es = decodeShuttle(input, len, scratchS)
        check(decodeShuttle(junk, len, scratchS2) === es, "SHUTTLE: the bytes after the frame change the verdict")
        if (es === FrameError.None) {
            const f = scratchS
            check(input[0] === FrameType.Shuttle, "SHUTTLE accepted with another type")
            check(f.count >= 2 && f.count <= MAX_MEMBERS, `SHUTTLE accepted with ${f.count} members`)
            check(validAddress(f.origin) && validAddress(f.holder), "SHUTTLE accepted with a reserved origin or holder address")
            for (let i = 0; i < f.count; i++)
                check(validAddress(f.members[i]) && (i === 0 || f.members[i] > f.members[i - 1]), "SHUTTLE accepted with members not valid and ascending")
            const all = (1 << f.count) - 1
            check(((f.adopted | f.absent | f.delivered) & ~all) === 0, "SHUTTLE accepted with mask bits above the member count")
            check(f.windowLen <= MAX_WINDOW && f.finalLag <= f.windowLen, "SHUTTLE accepted with a bad window")
            check((f.flags & ~(FLAG_BUSY | FLAG_RAISED | FLAG_ADMIT | FLAG_DATA)) === 0, "SHUTTLE accepted with unknown flags")
            const n = encodeShuttle(f, outS)
            check(n <= len, `SHUTTLE re-encodes longer (${n}) than the frame (${len})`)
            check(decodeShuttle(outS, n, scratchS2) === FrameError.None, "SHUTTLE: its re-encoding is refused")
            check(shuttleFields(scratchS2) === shuttleFields(f), "SHUTTLE: its re-encoding decodes to other fields")
        }
        const er = decodeRelease(input, len, scratchR)
        check(decodeRelease(junk, len, scratchR2) === er, "RELEASE: the bytes after the frame change the verdict")
        if (er === FrameError.None) {
            const r = scratchR
            check(input[0] === FrameType.Release, "RELEASE accepted with another type")
            check(validAddress(r.origin) && validAddress(r.sender), "RELEASE accepted with a reserved address")
            check(r.count <= MAX_WINDOW, `RELEASE accepted with ${r.count} manifests`)
            const n = encodeRelease(r, outR)
            check(n <= len, `RELEASE re-encodes longer (${n}) than the frame (${len})`)
            check(decodeRelease(outR, n, scratchR2) === FrameError.None, "RELEASE: its re-encoding is refused")
            check(releaseFields(scratchR2) === releaseFields(r), "RELEASE: its re-encoding decodes to other fields")
        }
        const ee = decodeEvicted(input, len, scratchE)
        if (ee === FrameError.None) {
            check(input[0] === FrameType.Evicted && len === EVICTED_BYTES, "EVICTED accepted with another type or length")
            check(validAddress(scratchE.origin) && validAddress(scratchE.sender) && validAddress(scratchE.target), "EVICTED accepted with a reserved address")
            const out = Buffer.alloc(EVICTED_BYTES)
            encodeEvicted(scratchE, out)
            check(out.equals(input), "EVICTED: its re-encoding differs from the frame")
        }
        for (const e of [es, er, ee]) check(e >= FrameError.None && e <= FrameError.Length, `a decoder returned ${e}, not a FrameError`)
    },
}

export const codecTargets = [cobs, messages, shuttle]
