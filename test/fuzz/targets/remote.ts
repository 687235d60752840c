import fc from "fast-check"
import { crc32c } from "../../../firmware/codec/crc32c"
import {
    encodeManifest,
    encodePortionHeader,
    encodeResync,
    encodeSeqDone,
    Manifest,
    ManifestEntry,
    Msg,
    PORTION_HEADER,
    SeqDone,
} from "../../../firmware/protocol/messages"
import { PipelineChannel } from "../../../firmware/protocol/ports"
import { RemoteBoard, RemoteStore } from "../../../firmware/remote/remoteBoard"
import { seqAfter } from "../../../firmware/seq"
import { MiniClock } from "../clock"
import { mutate } from "../mutate"
import { Rng } from "../rng"
import { check, Target } from "../target"

/**
 * What RemoteBoard receives: messages from its members' link channels, and new sessions. An
 * input is a header and records:
 *   header: 'V' | K u8 | CRC-32C of K and the records u32   (K: the seq a valid stream ends at)
 *   record: who u8 | len u16 | len bytes
 * who: bits 0-1 the member (0..2; 3 is member 0), bit 7 a new session of that member (no
 * bytes follow) instead of a message. A header whose CRC matches the records marks a stream
 * the arbitrary made whole; the remote must then apply every seq up to K.
 */
const MEMBERS = 3
const BLOCK = 64

const enum Err {
    None = 0,
    BadArgument = 2,
    SeqTooOld = 4,
}

class FakeStore implements RemoteStore {
    applied = 0
    commits: number[] = []
    writes = 0
    /** Writes the store refused for good (a bad argument, or a seq already applied): the same
     * write can never succeed. */
    refusedForGood = new Map<string, number>()
    constructor(private clock: MiniClock) {}
    write(member: number, lba: number, seq: number, data: Buffer, done: (err: number) => void): void {
        this.writes++
        let err = Err.None
        if (member < 0 || member > 255 || lba < 0 || lba > 0xffffff || data.length < 1 || data.length > BLOCK) err = Err.BadArgument
        else if (!seqAfter(seq, this.applied)) err = Err.SeqTooOld
        if (err !== Err.None) {
            const k = `${err === Err.BadArgument ? "bad argument" : "seq too old"}, member:lba:seq:bytes ${member}:${lba}:${seq}:${data.length}`
            this.refusedForGood.set(k, (this.refusedForGood.get(k) ?? 0) + 1)
        }
        this.clock.setTimer(0, () => done(err))
    }
    commit(seq: number, done: (err: number) => void): void {
        const ok = seqAfter(seq, this.applied)
        if (ok) {
            this.applied = seq
            this.commits.push(seq)
        }
        this.clock.setTimer(0, () => done(ok ? Err.None : Err.SeqTooOld))
    }
    appliedSeq(): number {
        return this.applied
    }
    dropStaged(_m: number, _upTo: number, done: (err: number) => void): void {
        this.clock.setTimer(0, () => done(0))
    }
}

class FakeChannel implements PipelineChannel {
    msg: ((m: Buffer, len: number) => void) | null = null
    up: ((resumed: boolean, resume: Buffer) => void) | null = null
    sent = 0
    send(_m: Buffer): boolean {
        this.sent++
        return true
    }
    isUp(): boolean {
        return true
    }
    onWritable(_h: () => void): void {}
    onMessage(h: (m: Buffer, len: number) => void): void {
        this.msg = h
    }
    onSessionUp(h: (resumed: boolean, resume: Buffer) => void): void {
        this.up = h
    }
    setReceiveCredit(_n: number): void {}
}

function record(who: number, msg: Buffer | null): Buffer {
    const m = msg ?? Buffer.alloc(0)
    const b = Buffer.alloc(3 + m.length)
    b[0] = who
    b.writeUInt16LE(m.length, 1)
    m.copy(b, 3)
    return b
}

function withHeader(k: number, records: Buffer): Buffer {
    const h = Buffer.alloc(6)
    h[0] = 0x56
    h[1] = k
    h.writeUInt32LE(crc32c(Buffer.concat([Buffer.from([k]), records])), 2)
    return Buffer.concat([h, records])
}

function portion(seq: number, lba: number, data: Buffer): Buffer {
    const b = Buffer.alloc(PORTION_HEADER + data.length)
    encodePortionHeader(b, seq >>> 0, lba >>> 0, crc32c(data))
    data.copy(b, PORTION_HEADER)
    return b
}

/** A whole stream: seqs 1..K, each member's portions and SEQ_DONE, and the manifest (from one
 * member or another), interleaved between members as links deliver them. */
const wholeStream = fc
    .record({
        k: fc.integer({ min: 1, max: 6 }),
        writes: fc.array(fc.array(fc.array(fc.nat(20), { maxLength: 4 }), { minLength: MEMBERS, maxLength: MEMBERS }), { minLength: 6, maxLength: 6 }),
        order: fc.array(fc.nat(1000), { minLength: 64, maxLength: 64 }),
        via: fc.array(fc.nat(MEMBERS - 1), { minLength: 6, maxLength: 6 }),
        repeat: fc.boolean(),
    })
    .map((r) => {
        const queues: Buffer[][] = [[], [], []]
        for (let s = 1; s <= r.k; s++) {
            const entries: ManifestEntry[] = []
            for (let m = 0; m < MEMBERS; m++) {
                const lbas = [...new Set(r.writes[s - 1][m])]
                for (const lba of lbas) queues[m].push(record(m, portion(s, lba, Buffer.alloc(BLOCK, (m * 31 + lba + s) & 0xff))))
                queues[m].push(record(m, encodeSeqDone(new SeqDone(s, lbas.length, lbas.length * BLOCK, 0))))
                entries.push(new ManifestEntry(m, lbas.length, lbas.length * BLOCK))
            }
            const man = encodeManifest(new Manifest(s, s - 1, entries))
            queues[r.via[s - 1]].push(record(r.via[s - 1], man))
            // the shuttle's other members forward the same manifest too
            if (r.repeat) queues[(r.via[s - 1] + 1) % MEMBERS].push(record((r.via[s - 1] + 1) % MEMBERS, man))
        }
        const out: Buffer[] = []
        let i = 0
        while (queues.some((q) => q.length > 0)) {
            const m = r.order[i++ % r.order.length] % MEMBERS
            const q = queues[m].length > 0 ? queues[m] : queues.find((x) => x.length > 0)!
            out.push(q.shift()!)
        }
        return withHeader(r.k, Buffer.concat(out))
    })

/** Loose messages of every kind, for streams that are not whole. */
const u32 = fc.oneof(fc.nat(8), fc.nat(0xffffffff), fc.constantFrom(0xffffffff, 0x80000000))
const looseRecord = fc.tuple(
    fc.constantFrom(0, 1, 2, 3, 0x80, 0x81),
    fc.oneof(
        fc.tuple(u32, fc.oneof(fc.nat(20), u32), fc.integer({ min: 0, max: 80 })).map(([s, l, n]) => portion(s, l, Buffer.alloc(n, 7))),
        fc.tuple(u32, fc.nat(5), fc.boolean()).map(([s, n, sh]) => encodeSeqDone(new SeqDone(s, n, n * BLOCK, sh ? 1 : 0))),
        fc
            .tuple(u32, u32, fc.uniqueArray(fc.tuple(fc.nat(4), fc.oneof(fc.nat(4), fc.constant(0xffffffff))), { maxLength: 4, selector: (e) => e[0] }))
            .map(([s, p, es]) =>
                encodeManifest(
                    new Manifest(
                        s,
                        p,
                        es.map(([m, n]) => new ManifestEntry(m, n, n * BLOCK))
                    )
                )
            ),
        fc.tuple(u32, u32, u32, fc.nat(255)).map(([a, b, c, f]) => encodeResync(a, b, c, f)),
        fc.nat(4).map((m) => Buffer.from([Msg.Evicted, m])),
        fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a))
    )
)
const looseStream = fc
    .array(looseRecord, { maxLength: 24 })
    .map((rs) => Buffer.concat([Buffer.from("V\0\0\0\0\0", "latin1"), ...rs.map(([w, m]) => record(w, w & 0x80 ? null : m))]))

/** The records of an input; a record cut short ends the list. */
/** Where the records of `input` end: its length when they fill it exactly. */
function recordsEnd(input: Buffer): number {
    let at = 6
    while (at + 3 <= input.length) {
        const len = input.readUInt16LE(at + 1)
        if (at + 3 + len > input.length) return -1
        at += 3 + len
    }
    return at
}

function records(input: Buffer): Array<{ who: number; msg: Buffer | null }> {
    const out: Array<{ who: number; msg: Buffer | null }> = []
    let at = 6
    while (at + 3 <= input.length) {
        const who = input[at]
        const len = input.readUInt16LE(at + 1)
        at += 3
        if (who & 0x80) {
            out.push({ who, msg: null })
            at += len
            continue
        }
        if (at + len > input.length) break
        out.push({ who, msg: input.subarray(at, at + len) })
        at += len
    }
    return out
}

/** Mutates the records: bytes of one message, or whole records dropped, repeated, moved or
 * sent by another member; now and then the raw bytes. */
function mutateRecords(rng: Rng, input: Buffer, pool: readonly Buffer[]): Buffer {
    const rs = records(input)
    if (rs.length === 0 || rng.chance(0.15)) return mutate(rng, input, pool, 8000)
    const k = rng.int(rs.length)
    switch (rng.int(5)) {
        case 0:
        case 1:
            if (rs[k].msg) rs[k].msg = mutate(rng, Buffer.from(rs[k].msg!), [], 400)
            break
        case 2:
            rs.splice(k, 1)
            break
        case 3:
            rs.splice(rng.int(rs.length + 1), 0, { ...rs[k] })
            break
        default:
            rs[k] = { ...rs[k], who: rng.chance(0.3) ? 0x80 | rng.int(3) : rng.int(3) }
    }
    return Buffer.concat([input.subarray(0, 6), ...rs.map((r) => record(r.who, r.msg))])
}

const remote: Target = {
    name: "remote",
    about: "what RemoteBoard receives from its members: it applies only seqs with a manifest, in order, a whole stream to its end, and never retries a write the store refused for good",
    valid: fc.oneof({ weight: 2, arbitrary: wholeStream }, { weight: 1, arbitrary: looseStream }),
    maxLen: 8000,
    timeLimitMs: 200,
    mutate: mutateRecords,
    run(input: Buffer): void {
        const clock = new MiniClock()
        const store = new FakeStore(clock)
        const chans: FakeChannel[] = []
        for (let m = 0; m < MEMBERS; m++) chans.push(new FakeChannel())
        const board = new RemoteBoard(store, chans, clock)
        const manifests = new Set<number>()
        // how often each portion arrived: a portion sent twice is staged twice, never more
        const arrivals = new Map<string, number>()
        for (const r of records(input)) {
            const ch = chans[(r.who & 3) % MEMBERS]
            if (r.msg === null) ch.up!(false, Buffer.alloc(4))
            else {
                if (r.msg.length >= 10 && r.msg[0] === Msg.Manifest) manifests.add(r.msg.readUInt32LE(1))
                if (r.msg.length > PORTION_HEADER && r.msg[0] === Msg.Portion) {
                    const k = `member:lba:seq:bytes ${(r.who & 3) % MEMBERS}:${r.msg.readUInt32LE(5)}:${r.msg.readUInt32LE(1)}:${r.msg.length - PORTION_HEADER}`
                    arrivals.set(k, (arrivals.get(k) ?? 0) + 1)
                }
                ch.msg!(r.msg, r.msg.length)
            }
            check(clock.run(clock.millis() + 1, 100000), "the remote's timers did not settle")
        }
        // let retries and the watch run for a while: 2 s
        check(clock.run(clock.millis() + 2000, 200000), "the remote's timers ran without end")
        let prev = 0
        for (const s of store.commits) {
            check(manifests.has(s), `seq ${s} applied without a manifest of it`)
            check(seqAfter(s, prev), `seq ${s} applied after ${prev}`)
            prev = s
        }
        check(board.appliedSeq() === store.applied, "the board's applied seq is not the store's")
        for (const [k, n] of store.refusedForGood) {
            const sent = arrivals.get(k.slice(k.indexOf("member:"))) ?? 1
            check(n <= sent, `a portion the store refused for good (${k}) was written ${n} times in 2 s, sent ${sent} times`)
        }
        // (the CRC alone is not enough: four 0xFF bytes have CRC 0xFFFFFFFF, and so would
        // pass as a stream of every seq with nothing in it)
        const whole =
            input.length > 6 &&
            input[0] === 0x56 &&
            input[1] > 0 &&
            recordsEnd(input) === input.length &&
            records(input).some((r) => r.msg !== null) &&
            input.readUInt32LE(2) === crc32c(Buffer.concat([input.subarray(1, 2), input.subarray(6)]))
        if (whole) check(store.applied === input[1], `a whole stream of seqs 1..${input[1]} left the remote at seq ${store.applied}`)
    },
}

export const remoteTargets = [remote]
