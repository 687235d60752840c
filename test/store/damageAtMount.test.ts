import { describe, expect, it } from "vitest"
import { StoreError } from "../../firmware/store/types"
import { PartialMode } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"
import { block, PRIMARY, Rig } from "./harness"

// A record that fails its CRC at mount is either the one a power cut tore (the last entry of the
// newest sector: dropped, its write never finished) or damage at rest (anywhere else: kept as
// a version whose reads say Corrupt, so the board holds it with its alarm rather than send its
// seq short). docs/FORMAT-flash.md, "Damage and tears".

describe("a damaged record found at mount", () => {
    it("in a closed sector is kept as a damaged version, not dropped", () => {
        const rig = Rig.blank(64 * 1024, PRIMARY)
        expect(rig.mount().err).toBe(StoreError.None)
        // 40 writes of 256-byte blocks: the first sector (15 records) is closed
        for (let i = 0; i < 40; i++) expect(rig.write(0, i, 10 + i, block(256, 0, i, 10 + i, 1))).toBe(StoreError.None)
        expect(rig.write(0, 3, 9, block(256, 0, 3, 9, 0))).toBe(StoreError.None)
        const v = rig.store.pinned(0, 13)[0]
        expect(v.lba).toBe(3)
        // two bits: more than the store mends
        rig.chip.flipBit(v.addr + 77, 2)
        rig.chip.flipBit(v.addr + 140, 5)
        const image = rig.chip.snapshot()
        // the mount reads the sector light (its entries only) or whole (here made to): whole,
        // it finds the damage; either way the version stays and its reads say Corrupt
        for (const whole of [false, true]) {
            const again = Rig.fromImage(image, PRIMARY, whole)
            const m = again.mount()
            expect(m.err).toBe(StoreError.None)
            expect(m.report.torn).toBe(0)
            expect(m.report.corruptedOld).toBe(whole ? 1 : 0)
            // the version is still there, and says it is damaged; the older version of lba 3 is
            // not served in its place
            expect(again.store.pinned(0, 13).map((p) => p.lba)).toEqual([3])
            expect(again.readPinned(0, 3, 13).err).toBe(StoreError.Corrupt)
            expect(again.read(0, 3).err).toBe(StoreError.Corrupt)
            expect(again.read(0, 4).err).toBe(StoreError.None)
        }
    })

    it("as the last record of the newest sector, damaged at rest, is held as damage: a power cut cannot have made it", () => {
        const rig = Rig.blank(64 * 1024, PRIMARY)
        expect(rig.mount().err).toBe(StoreError.None)
        for (let i = 0; i < 5; i++) expect(rig.write(0, i, 10 + i, block(256, 0, i, 10 + i, 1))).toBe(StoreError.None)
        const v = rig.store.pinned(0, 14)[0]
        expect(v.lba).toBe(4)
        // the newest record's data, two bits: not mended, and its entry is whole
        rig.chip.flipBit(v.addr + 30, 1)
        rig.chip.flipBit(v.addr + 200, 6)
        const again = new Rig(rig.chip, PRIMARY)
        const m = again.mount()
        expect(m.err).toBe(StoreError.None)
        expect(m.report.torn).toBe(0)
        expect(m.report.corruptedOld).toBe(1)
        expect(again.read(0, 4).err).toBe(StoreError.Corrupt)
        expect(again.store.pinned(0, 14).map((p) => p.lba)).toEqual([4])
    })

    it("torn by a power cut as the last record is still dropped, and is zeroed before the next append", () => {
        let tried = 0
        for (let seed = 1; seed < 40; seed++) {
            const rig = Rig.blank(64 * 1024, PRIMARY)
            expect(rig.mount().err).toBe(StoreError.None)
            for (let i = 0; i < 5; i++) expect(rig.write(0, i, 10 + i, block(256, 0, i, 10 + i, 1))).toBe(StoreError.None)
            // cut in the program of the next write's entry (its second program)
            rig.chip.cutAt(rig.chip.operations() + 2, new Prng(seed), PartialMode.RandomBits)
            rig.write(0, 7, 20, block(256, 0, 7, 20, 1))
            const again = new Rig(rig.chip, PRIMARY)
            const m = again.mount()
            if (m.report.torn !== 1) continue
            tried++
            expect(again.store.pinned(0, 20)).toEqual([])
            expect(again.readPinned(0, 7, 20).err).toBe(StoreError.NotFound)
            // appends go on after the torn entry; at the next mount it is no damage
            expect(again.write(0, 8, 21, block(256, 0, 8, 21, 1))).toBe(StoreError.None)
            const third = new Rig(rig.chip, PRIMARY)
            const m3 = third.mount()
            expect(m3.report.torn).toBe(0)
            expect(m3.report.corruptedOld).toBe(0)
            expect(m3.report.badCrc).toBe(0)
            expect(third.readPinned(0, 8, 21).err).toBe(StoreError.None)
            for (let i = 0; i < 5; i++) expect(third.read(0, i).err).toBe(StoreError.None)
        }
        expect(tried).toBeGreaterThan(5)
    })
})
