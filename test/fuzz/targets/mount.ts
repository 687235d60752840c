import fc from "fast-check"
import { Flash, FlashError, FlashGeometry } from "../../../hal/flash"
import { crc32c, crc32cUpdate } from "../../../firmware/codec/crc32c"
import { smbusPec } from "../../../firmware/codec/crc8"
import { BlockStore } from "../../../firmware/store/blockStore"
import { StoreError, StoreRole } from "../../../firmware/store/types"
import { seqAfter } from "../../../firmware/seq"
import { MiniClock } from "../clock"
import { mix, Rng } from "../rng"
import { check, Target } from "../target"

/**
 * A flash image mounted by the block store, as a primary and as the remote. An input is a
 * base image and edits to it (a whole image in hex would be 48 KB):
 *   byte 0: bit 0 the role to mount as (0 primary, 1 remote); bit 1 "sealed": the edits may
 *           make CRCs good again, so the image may hold records nobody wrote
 *   bytes 1..2: the base (u16, of BASES built from a seeded workload of writes, commits or
 *           confirms, metadata and garbage collection on this geometry)
 *   then edits, each op u8 | offset u16 | operands:
 *     0 xor byte v | 1 set byte v | 2 fill len u16 with v | 3 copy len u8 bytes from offset src u16
 *     4 set u32 v | 5 make the CRC of the entry at offset good (sealed only) | 6 make the
 *     sector header at offset good (sealed only) | 7 copy len u16 bytes from base b u8
 * Properties: mount never throws and always ends (a bounded number of run-loop steps), with
 * success or IncompatibleFormat. Unsealed and without bytes of another base (op 7 brings in
 * records with good CRCs that this base never wrote), the store is only ever wrong in the safe direction:
 * every block it returns is a version written to that block; on the remote no block above its
 * applied seq is visible and the applied seq is one a commit wrote; on a primary the confirmed
 * seq is one a confirm wrote; and an image the edits left as it was mounts exactly as before.
 */

const SECTORS = 6
const SECTOR = 4096
const IMAGE = SECTORS * SECTOR
const B = 64
const MEMBERS = 3
const LBAS = 12
const BASES = 24

/** RAM flash, the fastest model: programs AND bits, erases set 0xFF, answers on the next turn. */
class RamFlash implements Flash {
    readonly mem = Buffer.alloc(IMAGE, 0xff)
    constructor(private clock: MiniClock) {}
    suspendsErase(): boolean {
        return false
    }

    geometry(): FlashGeometry {
        return { pageSize: 256, sectorSize: SECTOR, capacity: IMAGE }
    }
    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void {
        if (addr < 0 || addr + len > IMAGE) return void this.clock.setTimer(0, () => done(FlashError.OutOfRange, Buffer.alloc(0)))
        const d = Buffer.from(this.mem.subarray(addr, addr + len))
        this.clock.setTimer(0, () => done(FlashError.None, d))
    }
    program(addr: number, data: Buffer, done: (err: FlashError) => void): void {
        if (addr < 0 || addr + data.length > IMAGE) return void this.clock.setTimer(0, () => done(FlashError.OutOfRange))
        if (data.length > 0 && Math.floor(addr / 256) !== Math.floor((addr + data.length - 1) / 256))
            return void this.clock.setTimer(0, () => done(FlashError.CrossesPage))
        for (let i = 0; i < data.length; i++) this.mem[addr + i] &= data[i]
        this.clock.setTimer(0, () => done(FlashError.None))
    }
    eraseSector(addr: number, done: (err: FlashError) => void): void {
        const s = Math.floor(addr / SECTOR) * SECTOR
        this.mem.fill(0xff, s, s + SECTOR)
        this.clock.setTimer(0, () => done(FlashError.None))
    }
}

const OPTS = (role: StoreRole) => ({ role, blockSize: B, sectorCount: SECTORS, reserveSectors: 2, stepBytes: 1 << 16 })

/** The block a workload writes: it names its member, lba, seq and version and checks itself. */
function blockData(member: number, lba: number, seq: number, version: number): Buffer {
    const b = Buffer.alloc(B)
    b[0] = 0xb1
    b[1] = member
    b.writeUInt16LE(lba, 2)
    b.writeUInt32LE(seq >>> 0, 4)
    b.writeUInt32LE(version, 8)
    let x = mix(member, lba, seq, version)
    for (let i = 16; i < B; i++) {
        x = mix(x)
        b[i] = x & 0xff
    }
    b.writeUInt32LE(crc32c(b.subarray(16)), 12)
    return b
}

interface Base {
    role: StoreRole
    image: Buffer
    /** Every version written, by "member:lba": data hex → seq. */
    versions: Map<string, Map<string, number>>
    /** Seqs a commit (remote) or confirm (primary) wrote, 0 included. */
    horizons: Set<number>
    /** What the unedited image mounts to: the horizon and each block's read. */
    horizon: number
    reads: string[]
}

function until(clock: MiniClock, done: () => boolean): void {
    for (let i = 0; i < 1_000_000 && !done(); i++) if (!clock.step()) return
}

function call(clock: MiniClock, f: (done: (err: number) => void) => void): number {
    let err = -1
    f((e) => (err = e))
    until(clock, () => err >= 0)
    return err
}

const bases: Base[] = []

/** Base image `id`: a seeded workload on a fresh store, then an unedited mount's view of it. */
function base(id: number): Base {
    const k = id % BASES
    if (bases[k]) return bases[k]
    const role = k % 2 === 0 ? StoreRole.Primary : StoreRole.Remote
    const clock = new MiniClock()
    const flash = new RamFlash(clock)
    const store = new BlockStore(flash, clock, OPTS(role))
    check(call(clock, (d) => store.mount((e) => d(e))) === StoreError.None, "base: mount of a blank image")
    const rng = new Rng(mix(k, 0xba5e))
    const versions = new Map<string, Map<string, number>>()
    const horizons = new Set<number>([0])
    let seq = 1
    let version = 0
    const writes = 60 + rng.int(260)
    for (let i = 0; i < writes; i++) {
        if (rng.chance(0.15)) seq++
        const member = rng.int(MEMBERS)
        const lba = rng.chance(0.5) ? rng.int(3) : rng.int(LBAS)
        const data = blockData(member, lba, seq, ++version)
        const err = call(clock, (d) => store.write(member, lba, seq, data, d))
        // a write that failed (Full) programmed nothing; one that succeeded is a version
        if (err === StoreError.None) {
            const key = member + ":" + lba
            if (!versions.has(key)) versions.set(key, new Map())
            versions.get(key)!.set(data.toString("hex"), seq)
        }
        if (rng.chance(0.08)) {
            const h = Math.max(0, seq - rng.int(3))
            const err = call(clock, (d) => (role === StoreRole.Remote ? store.commit(h, d) : store.confirm(h, d)))
            if (err === StoreError.None) horizons.add(h)
        }
        if (rng.chance(0.03)) call(clock, (d) => store.setMeta(rng.int(4), rng.u32(), d))
        if (role === StoreRole.Remote && rng.chance(0.02)) call(clock, (d) => store.discardAbove(Math.max(0, seq - 1 - rng.int(2)), d))
    }
    const image = Buffer.from(flash.mem)
    const b: Base = { role, image, versions, horizons, horizon: 0, reads: [] }
    const m = mountImage(image, role)
    check(m.err === StoreError.None, `base ${k} does not mount: ${m.err}`)
    b.horizon = m.horizon
    b.reads = m.reads
    bases[k] = b
    return b
}

interface Mounted {
    err: number
    horizon: number
    /** Per (member, lba), member-major, then two blocks never written: "err:datahex". */
    reads: string[]
    store: BlockStore | null
}

const sharedClock = new MiniClock()
const sharedFlash = new RamFlash(sharedClock)

function mountImage(image: Buffer, role: StoreRole): Mounted {
    const clock = sharedClock
    image.copy(sharedFlash.mem)
    const store = new BlockStore(sharedFlash, clock, OPTS(role))
    let out: number | null = null
    store.mount((err) => (out = err))
    const settled = clock.run(Infinity, 200000)
    check(out !== null, settled ? "mount never answered" : "mount did not finish within 200000 run-loop steps")
    const err = out as unknown as number
    if (err !== StoreError.None) return { err, horizon: 0, reads: [], store: null }
    const reads: string[] = []
    const want = (m: number, lba: number) => {
        let r: string | null = null
        store.read(m, lba, (e, d) => (r = e + ":" + (d ? d.toString("hex") : "")))
        until(clock, () => r !== null)
        check(r !== null, `read of member ${m} lba ${lba} never answered`)
        reads.push(r as unknown as string)
    }
    for (let m = 0; m < MEMBERS; m++) for (let lba = 0; lba < LBAS; lba++) want(m, lba)
    want(7, 3)
    want(0, 4000)
    const horizon = role === StoreRole.Remote ? store.appliedSeq() : store.confirmedSeq()
    return { err, horizon, reads, store }
}

/** Applies the edits of an input to a copy of its base image. */
function edited(input: Buffer): { role: StoreRole; sealed: boolean; foreign: boolean; base: Base; image: Buffer } {
    const flags = input.length > 0 ? input[0] : 0
    const role = flags & 1 ? StoreRole.Remote : StoreRole.Primary
    const sealed = (flags & 2) !== 0
    const b = base(input.length >= 3 ? input.readUInt16LE(1) : 0)
    const img = Buffer.from(b.image)
    let foreign = false
    let at = 3
    const u8 = () => (at < input.length ? input[at++] : 0)
    const u16 = () => u8() | (u8() << 8)
    while (at + 3 <= input.length) {
        const op = input[at++] & 7
        const off = u16() % IMAGE
        switch (op) {
            case 0:
                img[off] ^= u8()
                break
            case 1:
                img[off] = u8()
                break
            case 2: {
                const len = u16() % 4097
                img.fill(u8(), off, Math.min(IMAGE, off + len))
                break
            }
            case 3: {
                const src = u16() % IMAGE
                const len = u8()
                img.copy(img, off, src, Math.min(IMAGE, src + len))
                break
            }
            case 4: {
                const v = (u16() | (u16() << 16)) >>> 0
                if (off + 4 <= IMAGE) img.writeUInt32LE(v, off)
                break
            }
            case 5:
                if (sealed) sealEntry(img, off)
                break
            case 6:
                if (sealed) sealHeader(img, off)
                break
            default: {
                const other = base(u8())
                const len = u16() % 4097
                if (other !== b && len > 0) foreign = true
                other.image.copy(img, off, off, Math.min(IMAGE, off + len))
            }
        }
    }
    return { role, sealed, foreign, base: b, image: img }
}

/** Makes the CRC of the entry holding `off` good (docs/FORMAT-flash.md, "Entries"). */
function sealEntry(img: Buffer, off: number): void {
    const s = Math.floor(off / SECTOR) * SECTOR
    const rel = off - s
    if (rel < 16) return
    const e = s + 16 + Math.floor((rel - 16) / 16) * 16
    if (e + 16 > s + SECTOR) return
    // a data record's CRC: its data, then entry bytes 0..11
    let crc = 0
    if (img[e] === 0x3c) {
        const slot = img[e + 2]
        const len = img.readUInt16LE(e + 6)
        const d = s + SECTOR - (slot + 1) * B
        if (len >= 1 && len <= B && d >= s) crc = crc32cUpdate(crc, img, d, d + len)
    }
    crc = crc32cUpdate(crc, img, e, e + 12)
    img.writeUInt32LE(crc >>> 0, e + 12)
}

/** Makes the sector header holding `off` good: parts A and B. */
function sealHeader(img: Buffer, off: number): void {
    const s = Math.floor(off / SECTOR) * SECTOR
    img[s + 7] = smbusPec(img, s, s + 7)
    img.writeUInt32LE(crc32c(img.subarray(s, s + 12)) >>> 0, s + 12)
}

function judge(input: Buffer): void {
    const e = edited(input)
    const m = mountImage(e.image, e.role)
    check(m.err === StoreError.None || m.err === StoreError.IncompatibleFormat, `mount failed with error ${m.err}`)
    if (m.err !== StoreError.None || !m.store) return
    const sameRole = e.role === e.base.role
    if (sameRole && e.image.equals(e.base.image)) {
        check(m.horizon === e.base.horizon && m.reads.join() === e.base.reads.join(), "the unedited image mounts differently from before")
    }
    if (e.sealed || e.foreign || !sameRole) {
        for (const r of m.reads) check(["0", "7"].includes(r.split(":")[0]), `a read failed with ${r.split(":")[0]}`)
        return
    }
    check(e.base.horizons.has(m.horizon), `the ${e.role === StoreRole.Remote ? "applied" : "confirmed"} seq ${m.horizon} is none a record wrote`)
    let i = 0
    for (let mem = 0; mem < MEMBERS; mem++)
        for (let lba = 0; lba < LBAS; lba++) {
            const [err, data] = m.reads[i++].split(":")
            check(err === "0" || err === "7", `read of member ${mem} lba ${lba} failed with ${err}`)
            if (err !== "0" || data === "") continue
            const seq = e.base.versions.get(mem + ":" + lba)?.get(data)
            check(seq !== undefined, `member ${mem} lba ${lba} reads a block never written there`)
            if (e.role === StoreRole.Remote) check(!seqAfter(seq!, m.horizon), `member ${mem} lba ${lba} shows seq ${seq}, above the applied seq ${m.horizon}`)
        }
    for (; i < m.reads.length; i++) check(m.reads[i] === "0:" || m.reads[i].startsWith("7:"), "a block never written reads as data")
}

/** Edits as an arbitrary: bit flips, bytes, runs erased or zeroed (torn tails), splices, u32
 * edges, sealed CRCs. */
const editArb = fc.oneof(
    fc.tuple(fc.constant(0), fc.nat(IMAGE - 1), fc.constantFrom(1, 2, 4, 8, 16, 32, 64, 128)).map(([o, a, v]) => [o, a & 0xff, a >> 8, v]),
    fc.tuple(fc.constant(1), fc.nat(IMAGE - 1), fc.nat(255)).map(([o, a, v]) => [o, a & 0xff, a >> 8, v]),
    fc.tuple(fc.constant(2), fc.nat(IMAGE - 1), fc.nat(4096), fc.constantFrom(0xff, 0xff, 0)).map(([o, a, l, v]) => [o, a & 0xff, a >> 8, l & 0xff, l >> 8, v]),
    fc.tuple(fc.constant(3), fc.nat(IMAGE - 1), fc.nat(IMAGE - 1), fc.nat(255)).map(([o, a, s, l]) => [o, a & 0xff, a >> 8, s & 0xff, s >> 8, l]),
    fc
        .tuple(fc.constant(4), fc.nat(IMAGE - 1), fc.constantFrom(0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 0xffff))
        .map(([o, a, v]) => [o, a & 0xff, a >> 8, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]),
    fc.tuple(fc.constantFrom(5, 6), fc.nat(IMAGE - 1)).map(([o, a]) => [o, a & 0xff, a >> 8]),
    fc.tuple(fc.constant(7), fc.nat(IMAGE - 1), fc.nat(255), fc.nat(4096)).map(([o, a, b, l]) => [o, a & 0xff, a >> 8, b, l & 0xff, l >> 8])
)

const mountArb = fc
    .tuple(fc.nat(3), fc.nat(BASES - 1), fc.array(editArb, { maxLength: 6 }))
    .map(([flags, b, edits]) => Buffer.from([flags, b & 0xff, b >> 8, ...edits.flat()]))

function mountTarget(role: StoreRole): Target {
    const name = role === StoreRole.Primary ? "mount-primary" : "mount-remote"
    return {
        name,
        about: `a flash image mounted by the block store as ${role === StoreRole.Primary ? "a primary" : "the remote"}: valid images with bit flips, torn tails, splices and sealed hostile records`,
        valid: mountArb.map((b) => {
            b[0] = (b[0] & ~1) | role
            // a base of the same role most of the time
            if (b[1] % 4 !== 0) b[1] = (b[1] & ~1) | role
            return b
        }),
        maxLen: 120,
        timeLimitMs: 400,
        validShare: 0.5,
        mutate(rng: Rng, input: Buffer, pool: readonly Buffer[]): Buffer {
            // the edit list's bytes: offsets, values and ops mutate, and lists splice
            const out = Buffer.from(input)
            const n = 1 + rng.int(3)
            let b = out
            for (let i = 0; i < n; i++) {
                const k = rng.int(6)
                if (k === 0 && b.length > 3) b[3 + rng.int(b.length - 3)] ^= 1 << rng.int(8)
                else if (k === 1 && b.length > 3) b[3 + rng.int(b.length - 3)] = rng.int(256)
                else if (k === 2) b = b.subarray(0, 3 + rng.int(Math.max(1, b.length - 2)))
                else if (k === 3) {
                    const o = rng.pick(pool)
                    b = Buffer.concat([b, o.subarray(3)]).subarray(0, 120)
                } else if (k === 4 && b.length >= 3) b.writeUInt16LE(rng.int(BASES), 1)
                else b[0] = (b[0] & 1) | (rng.chance(0.5) ? 2 : 0)
            }
            b[0] = (b[0] & ~1) | role
            return b
        },
        run: judge,
    }
}

export const mountTargets = [mountTarget(StoreRole.Primary), mountTarget(StoreRole.Remote)]
