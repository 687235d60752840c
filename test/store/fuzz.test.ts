import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { putU32 } from "../../firmware/codec/bytes"
import { crc32cUpdate } from "../../firmware/codec/crc32c"
import { encodeHeaderA, encodeHeaderB, EntryType, headerCheck } from "../../firmware/store/format"
import { StoreError, StoreOptions, StoreRole } from "../../firmware/store/types"
import { SimKernel } from "../../host-sim/kernel"
import { SpiNorChip } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"
import { block, Rig } from "./harness"
import { remoteOps, primaryOps, runOps, StoreModel, StoreOp } from "./scenario"

const CAP = 32768
const B = 256

/** Every version ever written per (member, lba): a read may return one of these, never other bytes. */
function versions(ops: StoreOp[]): Map<string, Buffer[]> {
    const m = new Map<string, Buffer[]>()
    for (const o of ops) {
        if (o.kind !== "write") continue
        const k = `${o.member}:${o.lba}`
        if (!m.has(k)) m.set(k, [])
        m.get(k)!.push(o.data)
    }
    return m
}

/**
 * Mounts whatever is on the chip, then uses the store: it must either refuse the flash with a
 * clear error, or come up and work (reads give a version once written or a Corrupt error,
 * writes succeed or fail with an error code). Never an exception.
 */
function mountAndUse(chip: SpiNorChip, opts: StoreOptions, known: Map<string, Buffer[]>, p: Prng): void {
    const r = new Rig(chip, opts)
    const m = r.mount()
    if (m.err !== StoreError.None) {
        expect([StoreError.IncompatibleFormat]).toContain(m.err)
        return
    }
    const rep = m.report
    expect(rep.freeSectors + rep.usedSectors + rep.dirtySectors).toBe(rep.sectors)
    expect(rep.torn + rep.corruptedOld).toBe(rep.badCrc)
    for (const [k, vs] of known) {
        const [member, lba] = k.split(":").map(Number)
        const got = r.read(member, lba)
        if (got.err === StoreError.Corrupt) continue
        expect(got.err).toBe(StoreError.None)
        if (got.data) expect(vs.some((v) => v.equals(got.data!))).toBe(true)
    }
    for (const seq of r.store.pinnedSeqs()) {
        for (const e of r.store.pinned(-1, seq)) {
            const got = r.readPinned(e.member, e.lba, e.seq)
            if (got.err === StoreError.Corrupt) continue
            expect(got.err).toBe(StoreError.None)
            const vs = known.get(`${e.member}:${e.lba}`)
            if (got.data && vs) expect(vs.some((v) => v.equals(got.data!))).toBe(true)
        }
    }
    // the store keeps working: writes land or fail with a code (SeqTooOld, Full)
    const h = opts.role === StoreRole.Remote ? r.store.appliedSeq() : r.store.confirmedSeq()
    const seq = (Math.max(h, r.store.maxSeqSeen()) + 1) >>> 0
    let ok = 0
    for (let i = 0; i < 40; i++) {
        const lba = p.int(8)
        const data = block(B, 3, lba, seq, 5000 + i)
        const err = r.write(3, lba, seq, data)
        expect([StoreError.None, StoreError.Full, StoreError.SeqTooOld]).toContain(err)
        if (err === StoreError.None) ok++
    }
    expect(ok).toBeGreaterThan(0)
    if (opts.role === StoreRole.Remote) expect([StoreError.None, StoreError.Full]).toContain(r.commit(seq))
    const r2 = new Rig(chip, opts)
    expect(r2.mount().err).toBe(StoreError.None)
}

function validImage(role: StoreRole, seed: number): { chip: SpiNorChip; ops: StoreOp[] } {
    const chip = new SpiNorChip(new SimKernel(), { capacity: CAP })
    const r = new Rig(chip, { role })
    expect(r.mount().err).toBe(StoreError.None)
    const ops = role === StoreRole.Primary ? primaryOps(seed, 120, 12, B) : remoteOps(seed, 25, 10, B)
    runOps(r, ops, 0, new StoreModel(role))
    return { chip, ops }
}

describe("mount fuzz: any flash contents give recovery or a clear error, never an exception", () => {
    it("fully random images", () => {
        const p = new Prng(1)
        for (let i = 0; i < 60; i++) {
            const chip = new SpiNorChip(new SimKernel(), { capacity: CAP })
            const img = Buffer.alloc(CAP)
            for (let a = 0; a < CAP; a++) img[a] = p.int(256)
            // some images have erased sectors among the noise
            for (let s = 0; s < 8; s++) if (p.chance(0.3)) img.fill(0xff, s * 4096, (s + 1) * 4096)
            chip.loadImage(img)
            mountAndUse(chip, { role: i % 2 ? StoreRole.Primary : StoreRole.Remote }, new Map(), p)
        }
    })

    it("valid images with random bit flips", () => {
        const p = new Prng(2)
        for (let i = 0; i < 60; i++) {
            const role = i % 2 ? StoreRole.Primary : StoreRole.Remote
            const { chip, ops } = validImage(role, i)
            const flips = 1 + p.int(i < 30 ? 4 : 200)
            for (let f = 0; f < flips; f++) {
                const a = p.int(CAP)
                chip.poke(a, chip.peek(a) ^ (1 << p.int(8)))
            }
            mountAndUse(chip, { role }, versions(ops), p)
        }
    })

    it("valid images with torn tails: the newest bytes partly erased, partly random", () => {
        const p = new Prng(3)
        for (let i = 0; i < 60; i++) {
            const role = i % 2 ? StoreRole.Primary : StoreRole.Remote
            const { chip, ops } = validImage(role, 100 + i)
            const s = p.int(8)
            const from = p.int(4096)
            const len = 1 + p.int(600)
            for (let a = from; a < Math.min(4096, from + len); a++) chip.poke(s * 4096 + a, p.chance(0.5) ? 0xff : chip.peek(s * 4096 + a) & p.int(256))
            mountAndUse(chip, { role }, versions(ops), p)
        }
    })

    it("well-formed sectors whose entries carry valid CRCs over hostile fields", () => {
        // headers and CRCs are right, so the parser has to judge every field itself
        const entry = fc.record({
            type: fc.constantFrom(EntryType.Data, EntryType.Commit, EntryType.Confirm, EntryType.Meta, EntryType.Discard, 0x00, 0x77),
            b1: fc.integer({ min: 0, max: 255 }),
            b2: fc.integer({ min: 0, max: 255 }),
            lba: fc.integer({ min: 0, max: 0xffffff }),
            len: fc.integer({ min: 0, max: 0xffff }),
            seq: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.nat(0xffffffff)),
            crcOk: fc.boolean(),
        })
        const sector = fc.record({
            kind: fc.constantFrom("valid", "valid", "valid", "erased", "headerA", "junk"),
            sectorSeq: fc.integer({ min: 0, max: 12 }),
            erase: fc.integer({ min: 0, max: 0xffffff }),
            log2: fc.constantFrom(8, 8, 8, 7),
            entries: fc.array(entry, { maxLength: 20 }),
            dataByte: fc.integer({ min: 0, max: 255 }),
        })
        fc.assert(
            fc.property(fc.array(sector, { minLength: 8, maxLength: 8 }), fc.boolean(), (sectors, remote) => {
                const img = Buffer.alloc(CAP, 0xff)
                sectors.forEach((sd, s) => {
                    const base = s * 4096
                    if (sd.kind === "erased") return
                    if (sd.kind === "junk") {
                        for (let a = 0; a < 4096; a += 7) img[base + a] = sd.dataByte
                        return
                    }
                    encodeHeaderA(img, base, sd.log2, sd.erase)
                    if (sd.kind === "headerA") return
                    encodeHeaderB(img, base, sd.sectorSeq)
                    sd.entries.forEach((e, i) => {
                        const off = base + 16 + 16 * i
                        img[off] = e.type
                        img[off + 1] = e.b1
                        img[off + 2] = e.b2 % 20
                        img[off + 3] = e.lba & 0xff
                        img[off + 4] = (e.lba >> 8) & 0xff
                        img[off + 5] = (e.lba >> 16) & 0xff
                        img[off + 6] = e.len & 0xff
                        img[off + 7] = (e.len >> 8) & 1
                        if (e.type === EntryType.Data) img[off + 7] |= headerCheck(img, off) << 1
                        putU32(img, off + 8, e.seq)
                        const slot = img[off + 2]
                        const dataOff = base + 4096 - (slot + 1) * 256
                        if (e.type === EntryType.Data && slot < 15) for (let a = 0; a < 256; a++) img[dataOff + a] = (sd.dataByte + a) & 0xff
                        // a data record's CRC: its data, then entry bytes 0..11
                        let crc = 0
                        if (e.type === EntryType.Data && slot < 15 && e.len <= 256) crc = crc32cUpdate(crc, img, dataOff, dataOff + (e.len % 257))
                        crc = crc32cUpdate(crc, img, off, off + 12)
                        // a bad CRC: more than the store mends (two bits of it)
                        putU32(img, off + 12, e.crcOk ? crc : crc ^ 0x00030000)
                    })
                })
                const chip = new SpiNorChip(new SimKernel(), { capacity: CAP })
                chip.loadImage(img)
                mountAndUse(chip, { role: remote ? StoreRole.Remote : StoreRole.Primary }, new Map(), new Prng(sectors.length))
            }),
            { numRuns: 150, seed: 42 }
        )
    })
})
