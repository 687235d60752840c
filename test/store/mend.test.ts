import { describe, expect, it } from "vitest"
import { crc32cFlippedBit, crc32cUpdate } from "../../firmware/codec/crc32c"
import { entryLen, mendFields } from "../../firmware/store/format"
import { StoreError } from "../../firmware/store/types"
import { Prng } from "../../host-sim/prng"
import { block, PRIMARY, Rig } from "./harness"

// One bit that flips at rest (or in a read) is mended where the record is read: at mount, on
// a read and in a garbage collection's copy. Two bits are damage, detected and never mended
// into other data. docs/FORMAT-flash.md, "Damage and tears".

const B = 256

/** The address of the entry of the data record whose slot starts at `slotAddr`. */
function entryOf(r: Rig, slotAddr: number): number {
    const sector = slotAddr - (slotAddr % 4096)
    const slot = (4096 - (slotAddr % 4096)) / B - 1
    for (let a = sector + 16; a < slotAddr; a += 16) if (r.chip.peek(a) === 0x3c && r.chip.peek(a + 2) === slot) return a
    throw new Error("no entry for the slot at " + slotAddr)
}

/** A store with lbas 0..5 written (lba 3 twice: its newest version is what a read must give). */
function written(): { r: Rig; slot: number; entry: number } {
    const r = Rig.blank(64 * 1024, PRIMARY)
    expect(r.mount().err).toBe(StoreError.None)
    for (let lba = 0; lba < 6; lba++) expect(r.write(0, lba, 1, block(B, 0, lba, 1, 0))).toBe(StoreError.None)
    expect(r.write(0, 3, 2, block(B, 0, 3, 2, 1))).toBe(StoreError.None)
    // lba 6 after it, so lba 3's record is not the newest sector's last (a tear)
    expect(r.write(0, 6, 2, block(B, 0, 6, 2, 0))).toBe(StoreError.None)
    const slot = r.store.pinned(0, 2).find((e) => e.lba === 3)!.addr
    return { r, slot, entry: entryOf(r, slot) }
}

function flip(r: Rig, addr: number, bit: number): void {
    r.chip.poke(addr, r.chip.peek(addr) ^ (1 << bit))
}

describe("a record with one flipped bit", () => {
    it("reads back whole at mount and on a read, wherever the bit is: data, type, member, slot, lba, length, seq or CRC", () => {
        const want = block(B, 0, 3, 2, 1)
        // every bit of the entry, and bits spread over the data slot
        const spots: [boolean, number, number][] = []
        for (let i = 0; i < 16; i++) for (let b = 0; b < 8; b++) spots.push([true, i, b])
        for (let i = 0; i < B; i += 17) spots.push([false, i, i % 8])
        for (const [inEntry, i, b] of spots) {
            for (const atMount of [false, true]) {
                const { r, slot, entry } = written()
                flip(r, (inEntry ? entry : slot) + i, b)
                const rr = atMount ? new Rig(r.chip, PRIMARY) : r
                if (atMount) {
                    const m = rr.mount()
                    expect(m.err).toBe(StoreError.None)
                    expect(m.report.badCrc, `entry ${inEntry} byte ${i} bit ${b}`).toBe(0)
                }
                const got = rr.read(0, 3)
                expect(got.err, `entry ${inEntry} byte ${i} bit ${b} mount ${atMount}`).toBe(StoreError.None)
                expect(got.data!.equals(want)).toBe(true)
                expect(rr.readPinned(0, 3, 2).data!.equals(want)).toBe(true)
                expect(rr.store.stats.mended).toBeGreaterThan(0)
                // the other blocks are as written
                expect(rr.read(0, 6).data!.equals(block(B, 0, 6, 2, 0))).toBe(true)
            }
        }
    })

    it("is copied clean by garbage collection", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        r.write(0, 1, 1, block(B, 0, 1, 1, 0))
        for (let i = 0; i < 20; i++) r.write(0, 2, 1, block(B, 0, 2, 1, i + 1))
        const v = r.store.pinned(0, 1).find((e) => e.lba === 1)!
        flip(r, v.addr + 10, 2)
        expect(r.call((d) => r.store.collect(d))).toBe(StoreError.None)
        expect(r.store.stats.corruptCopied).toBe(0)
        const moved = r.store.pinned(0, 1).find((e) => e.lba === 1)!
        expect(moved.addr).not.toBe(v.addr)
        const mended = r.store.stats.mended
        expect(mended).toBeGreaterThan(0)
        // the copy checks as it is: reading it mends nothing
        expect(r.read(0, 1).data!.equals(block(B, 0, 1, 1, 0))).toBe(true)
        expect(r.store.stats.mended).toBe(mended)
    })
})

describe("a record with two flipped bits", () => {
    it("is mended when one of them is in the entry's fields or check, wherever the other is", () => {
        const p = new Prng(4)
        const want = block(B, 0, 3, 2, 1)
        for (let n = 0; n < 60; n++) {
            for (const atMount of [false, true]) {
                const { r, slot, entry } = written()
                // a bit of the fields or check (bytes 0..11; not the slot field, whose flip
                // moves the data a mount reads: that one is found alone), and one anywhere else
                let fb = p.int(96)
                if (fb >> 3 === 2) fb += 8
                flip(r, entry + (fb >> 3), fb & 7)
                const other = p.int(B + 4)
                if (other < B) flip(r, slot + other, p.int(8))
                else flip(r, entry + 12 + (other - B), p.int(8))
                const rr = atMount ? new Rig(r.chip, PRIMARY) : r
                if (atMount) expect({ n, fb, other, bad: rr.mount().report.badCrc }).toEqual({ n, fb, other, bad: 0 })
                const got = rr.read(0, 3)
                expect({ n, atMount, fb, other, err: got.err }).toEqual({ n, atMount, fb, other, err: StoreError.None })
                expect(got.data!.equals(want)).toBe(true)
            }
        }
    })

    it("both in the data is damage: a read says Corrupt, never other data, and a mount keeps it as damaged", () => {
        const p = new Prng(5)
        for (let n = 0; n < 40; n++) {
            const { r, slot } = written()
            const a = p.int(B)
            flip(r, slot + a, p.int(8))
            flip(r, slot + ((a + 1 + p.int(B - 1)) % B), p.int(8))
            expect(r.read(0, 3).err).toBe(StoreError.Corrupt)
            const again = new Rig(r.chip, PRIMARY)
            expect(again.mount().err).toBe(StoreError.None)
            expect(again.store.lastMountReport().corruptedOld).toBe(1)
            expect(again.read(0, 3).err).toBe(StoreError.Corrupt)
            expect(again.read(0, 6).err).toBe(StoreError.None)
        }
    })
})

describe("a record with more flipped bits than are mended", () => {
    it("one in the lba or seq field and two in the data: kept under the fields their check mends, its reads say Corrupt", () => {
        const p = new Prng(6)
        for (let n = 0; n < 40; n++) {
            const { r, slot, entry } = written()
            const fb = [3, 4, 5, 8, 9, 10, 11][p.int(7)]
            flip(r, entry + fb, p.int(8))
            const a = p.int(B)
            flip(r, slot + a, p.int(8))
            flip(r, slot + ((a + 1 + p.int(B - 1)) % B), p.int(8))
            const image = r.chip.snapshot()
            // whole or light (a light parse reads the sector whole for fields that fail their check)
            for (const whole of [false, true]) {
                const again = Rig.fromImage(image, PRIMARY, whole)
                expect(again.mount().report.corruptedOld).toBe(1)
                // the write of lba 3 at seq 2 is held as damage, never lost: dropped, a read would
                // give the older version and the seq would go to the remote without it
                expect(again.store.pinned(0, 2).map((v) => v.lba)).toEqual([3, 6])
                expect({ n, fb, a, err: again.read(0, 3).err }).toEqual({ n, fb, a, err: StoreError.Corrupt })
                expect(again.readPinned(0, 3, 2).err).toBe(StoreError.Corrupt)
                expect(again.read(0, 6).err).toBe(StoreError.None)
            }
        }
    })

    it("two in the fields that their check takes for one, naming a seq after every checked one: not a version, no seq never stamped", () => {
        const { r, entry } = written()
        const e = Buffer.alloc(16)
        for (let k = 0; k < 16; k++) e[k] = r.chip.peek(entry + k)
        // pairs of field bits the CRC-7 mends into a third one that leaves type, slot and
        // length whole and moves the seq after 2, the highest stamped
        let found = 0
        for (let x = 0; x < 96; x++)
            for (let y = x + 1; y < 96; y++) {
                const c = Buffer.from(e)
                c[x >> 3] ^= 1 << (x & 7)
                c[y >> 3] ^= 1 << (y & 7)
                if (mendFields(c, 0) < 0) continue
                if (c[0] !== e[0] || c[1] !== e[1] || c[2] !== e[2] || entryLen(c, 0) !== B) continue
                const seq = c.readUInt32LE(8)
                if (seq <= 2 || seq > 0x7fffffff) continue
                found++
                const bad = new Rig(r.chip, PRIMARY)
                flip(bad, entry + (x >> 3), x & 7)
                flip(bad, entry + (y >> 3), y & 7)
                for (const whole of [false, true]) {
                    const again = Rig.fromImage(bad.chip.snapshot(), PRIMARY, whole)
                    expect(again.mount().report.corruptedOld).toBe(1)
                    expect({ x, y, seqs: again.store.pinnedSeqs(0) }).toEqual({ x, y, seqs: [1, 2] })
                    expect(again.store.maxSeqSeen()).toBe(2)
                }
                flip(bad, entry + (x >> 3), x & 7)
                flip(bad, entry + (y >> 3), y & 7)
            }
        expect(found).toBeGreaterThan(5)
    })
})

describe("crc32cFlippedBit", () => {
    it("places every single flipped bit, and never takes two to four flipped bits for one", () => {
        const p = new Prng(9)
        for (const n of [13, 76, 140, 268]) {
            const m = Buffer.alloc(n)
            for (let i = 0; i < n; i++) m[i] = p.next() & 0xff
            const c = crc32cUpdate(0, m, 0, n)
            for (let bit = 0; bit < 8 * n; bit++) {
                m[bit >> 3] ^= 1 << (bit & 7)
                expect(crc32cFlippedBit(crc32cUpdate(0, m, 0, n) ^ c, n)).toBe(bit)
                m[bit >> 3] ^= 1 << (bit & 7)
            }
            for (let k = 0; k < 32; k++) expect(crc32cFlippedBit((c ^ (c ^ (1 << k))) >>> 0, n)).toBe(8 * n + k)
            for (let t = 0; t < 3000; t++) {
                const flips = 2 + p.int(3)
                const at: number[] = []
                while (at.length < flips) {
                    const x = p.int(8 * n + 32)
                    if (!at.includes(x)) at.push(x)
                }
                let syn = 0
                for (const x of at) {
                    if (x >= 8 * n) syn ^= 1 << (x - 8 * n)
                    else {
                        m[x >> 3] ^= 1 << (x & 7)
                        syn ^= crc32cUpdate(0, m, 0, n) ^ c
                        m[x >> 3] ^= 1 << (x & 7)
                    }
                }
                expect(crc32cFlippedBit(syn >>> 0, n)).toBe(-1)
            }
        }
    })
})

describe("a sector header with one flipped bit", () => {
    it("is mended at mount, wherever the bit is: the sector and every version in it stay", () => {
        for (let i = 0; i < 16; i++) {
            for (let b = 0; b < 8; b++) {
                const { r, slot } = written()
                const sector = slot - (slot % 4096)
                flip(r, sector + i, b)
                const rr = new Rig(r.chip, PRIMARY)
                const m = rr.mount()
                expect(m.err, `header byte ${i} bit ${b}`).toBe(StoreError.None)
                expect(rr.store.stats.mended, `header byte ${i} bit ${b}`).toBeGreaterThan(0)
                for (let lba = 0; lba < 7; lba++) {
                    const want = lba === 3 ? block(B, 0, 3, 2, 1) : lba === 6 ? block(B, 0, 6, 2, 0) : block(B, 0, lba, 1, 0)
                    const got = rr.read(0, lba)
                    expect(got.err, `header byte ${i} bit ${b}, lba ${lba}`).toBe(StoreError.None)
                    expect(got.data!.equals(want), `header byte ${i} bit ${b}, lba ${lba}`).toBe(true)
                }
            }
        }
    })
})
