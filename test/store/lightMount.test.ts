import { describe, expect, it } from "vitest"
import { crc32c } from "../../firmware/codec/crc32c"
import { StoreError, StoreOptions } from "../../firmware/store/types"
import { PartialMode } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"
import { block, PRIMARY, REMOTE, Rig } from "./harness"

// A mount reads each used sector's header and entries, and its data only when they call for it
// (docs/FORMAT-flash.md, "How a boot decides what is valid"). Whatever the flash holds, the
// store it mounts must answer exactly as the store a mount reading every sector whole gives.

const CAPACITY = 64 * 1024
const LBAS = 40

/** A store mounted over a copy of `image`; `whole`: every sector read whole, as before the
 * light parse (the prefix read is the whole sector). */
function mounted(image: Buffer, opts: StoreOptions, whole: boolean): { rig: Rig; err: StoreError; durationMs: number } {
    const rig = Rig.fromImage(image, opts, whole)
    const m = rig.mount()
    return { rig, err: m.err, durationMs: m.report.durationMs }
}

/** What a board can see of a mounted store: each block read (its error and data), the seqs
 * above the horizon with their versions, the horizon and the highest seq seen. */
function view(rig: Rig, members: number, remote: boolean): string[] {
    const out: string[] = []
    const s = rig.store
    for (let m = 0; m < members; m++)
        for (let lba = 0; lba < LBAS; lba++) {
            const r = rig.read(m, lba)
            out.push(m + "/" + lba + ": " + r.err + " " + (r.data ? crc32c(r.data) : "-"))
        }
    for (let m = 0; m < members; m++)
        for (const seq of s.pinnedSeqs(m))
            out.push(
                "seq " +
                    m +
                    "/" +
                    seq +
                    ": " +
                    s
                        .pinned(m, seq)
                        .map((v) => v.lba)
                        .join(",")
            )
    out.push("horizon " + (remote ? s.appliedSeq() : s.confirmedSeq()) + " max " + s.maxSeqSeen() + " live " + s.liveVersions())
    return out
}

/** A store worked by random writes, horizons and (remote) discards, then cut by power in a
 * write, then bits flipped at rest: the image left. */
function damagedImage(seed: number, remote: boolean): Buffer {
    const p = new Prng(seed)
    const opts = remote ? REMOTE : PRIMARY
    const rig = Rig.blank(CAPACITY, opts)
    expect(rig.mount().err).toBe(StoreError.None)
    const members = remote ? 3 : 1
    let seq = 1
    let horizon = 0
    const writes = 150 + p.int(400)
    for (let i = 0; i < writes; i++) {
        if (p.chance(0.15)) seq++
        const member = p.int(members)
        const lba = p.int(LBAS)
        const err = rig.write(member, lba, seq, block(256, member, lba, seq, i))
        if (err === StoreError.Full) {
            // room comes back with the horizon
            horizon = seq - 1
            if (remote) rig.commit(horizon)
            else rig.confirm(horizon)
            continue
        }
        expect(err).toBe(StoreError.None)
        if (p.chance(0.05))
            if (seq - 2 > horizon) {
                horizon = seq - 2
                if (remote) rig.commit(horizon)
                else rig.confirm(horizon)
            }
        if (remote)
            if (p.chance(0.01))
                if (seq - 1 > horizon) {
                    rig.call((d) => rig.store.discardAbove(seq - 1, d))
                    seq++
                }
    }
    // a power cut in a last write (or none), anywhere in its operations
    if (p.chance(0.7)) {
        rig.chip.cutAt(rig.chip.operations() + 1 + p.int(3), p.fork(1), PartialMode.Any)
        rig.store.write(0, p.int(LBAS), seq + 1, block(256, 0, 0, seq + 1, 9999), () => {})
        rig.drain()
    }
    // bits flipped at rest: none, one, two in one record, or a few anywhere
    const flips = [0, 1, 2, 2, 5][p.int(5)]
    const at = p.int(CAPACITY - 300)
    for (let f = 0; f < flips; f++) {
        const addr = flips === 2 ? at + p.int(272) : p.int(CAPACITY)
        rig.chip.flipBit(addr, p.int(8))
    }
    return rig.chip.snapshot()
}

describe("the light mount", () => {
    it("gives the store a whole scan gives, whatever the flash holds: writes, horizons, discards, power cuts and flipped bits", () => {
        let light = 0
        let whole = 0
        for (let seed = 1; seed <= 60; seed++) {
            const remote = seed % 3 === 0
            const image = damagedImage(seed, remote)
            const a = mounted(image, remote ? REMOTE : PRIMARY, false)
            const b = mounted(image, remote ? REMOTE : PRIMARY, true)
            expect(a.err, "seed " + seed).toBe(b.err)
            if (a.err !== StoreError.None) continue
            expect(view(a.rig, remote ? 3 : 1, remote), "seed " + seed).toEqual(view(b.rig, remote ? 3 : 1, remote))
            light += a.durationMs
            whole += b.durationMs
        }
        // and it reads far less: headers and entries instead of whole sectors
        expect(light).toBeLessThan(whole * 0.6)
    })

    it("takes the highest seq only from a record whose CRC checks, wherever it lies", () => {
        const rig = Rig.blank(CAPACITY, PRIMARY)
        expect(rig.mount().err).toBe(StoreError.None)
        // the highest seq in the first sector, then later sectors of lower seqs
        expect(rig.write(0, 0, 50, block(256, 0, 0, 50, 0))).toBe(StoreError.None)
        for (let lba = 1; lba < 40; lba++) expect(rig.write(0, lba, 10, block(256, 0, lba, 10, lba))).toBe(StoreError.None)
        const v = rig.store.pinned(0, 50)[0]
        // its data damaged: two bits, more than a read mends
        rig.chip.flipBit(v.addr + 20, 3)
        rig.chip.flipBit(v.addr + 200, 4)
        const image = rig.chip.snapshot()
        const a = mounted(image, PRIMARY, false)
        const b = mounted(image, PRIMARY, true)
        // a whole scan finds the damage and does not take its seq; nor does the light one
        expect(b.rig.store.maxSeqSeen()).toBe(10)
        expect(a.rig.store.maxSeqSeen()).toBe(10)
        expect(view(a.rig, 1, false)).toEqual(view(b.rig, 1, false))
        expect(a.rig.read(0, 0).err).toBe(StoreError.Corrupt)
    })

    it("after a cut in a data slot's program, appends skip that slot: the newest sector is read whole", () => {
        let torn = 0
        for (let seed = 1; seed <= 12; seed++) {
            const rig = Rig.blank(CAPACITY, PRIMARY)
            expect(rig.mount().err).toBe(StoreError.None)
            for (let lba = 0; lba < 20 + seed; lba++) expect(rig.write(0, lba, 10, block(256, 0, lba, 10, 0))).toBe(StoreError.None)
            // the power fails in the next write's first program, its data slot's
            rig.chip.cutAt(rig.chip.operations() + 1, new Prng(seed), PartialMode.Prefix)
            rig.store.write(0, 0, 11, block(256, 0, 0, 11, 1), () => {})
            rig.drain()
            const again = Rig.fromImage(rig.chip.snapshot(), PRIMARY)
            const m = again.mount()
            expect(m.err).toBe(StoreError.None)
            torn += m.report.tornData
            // more writes, then every block reads back as written
            for (let lba = 40; lba < 46; lba++) expect(again.write(0, lba, 12, block(256, 0, lba, 12, 2))).toBe(StoreError.None)
            const third = Rig.fromImage(again.chip.snapshot(), PRIMARY)
            expect(third.mount().err).toBe(StoreError.None)
            for (let lba = 40; lba < 46; lba++) expect(third.read(0, lba).data, "seed " + seed + " lba " + lba).toEqual(block(256, 0, lba, 12, 2))
        }
        expect(torn).toBeGreaterThan(6)
    })

    it("reads a full store's used sectors but the newest by their first 512 bytes", () => {
        const rig = Rig.blank(CAPACITY, PRIMARY)
        expect(rig.mount().err).toBe(StoreError.None)
        // every slot but the reserve's holds a version of its own lba
        for (let lba = 0; lba < 13 * 15; lba++) expect(rig.write(0, lba, 1 + (lba >> 4), block(256, 0, lba, 1, lba))).toBe(StoreError.None)
        const image = rig.chip.snapshot()
        const a = mounted(image, PRIMARY, false)
        const b = mounted(image, PRIMARY, true)
        expect(a.err).toBe(StoreError.None)
        const used = a.rig.store.lastMountReport().usedSectors
        expect(used).toBe(13)
        // the whole scan reads 16 sectors whole; the light one saves at least three quarters of
        // the read of each used sector but the newest (512 of 4096 bytes, and its header again)
        expect(b.durationMs - a.durationMs).toBeGreaterThan(((0.75 * b.durationMs) / 16) * (used - 1))
        // the data was not read at mount, and a read checks it: a damaged block says so
        const v = a.rig.store.pinned(0, 5)[0]
        rig.chip.flipBit(v.addr + 40, 1)
        rig.chip.flipBit(v.addr + 90, 2)
        const c = mounted(rig.chip.snapshot(), PRIMARY, false)
        expect(c.rig.read(0, v.lba).err).toBe(StoreError.Corrupt)
        expect(c.rig.read(0, v.lba + 1).err).toBe(StoreError.None)
    })
})
