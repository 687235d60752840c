import { describe, expect, it } from "vitest"
import { Flash, FlashError, FlashGeometry } from "../../hal/flash"
import { SpiNorFlash } from "../../hal/spiNor"
import { BlockStore } from "../../firmware/store/blockStore"
import { StoreError } from "../../firmware/store/types"
import { block, PRIMARY, Rig } from "./harness"

/** The flash below, but program number `at` (counted from 1) fails without changing a bit,
 * as a chip that ignores its write enable does. */
class OneRefusedProgram implements Flash {
    programs = 0
    constructor(
        private inner: SpiNorFlash,
        private at: number
    ) {}
    suspendsErase(): boolean {
        return false
    }

    geometry(): FlashGeometry {
        return this.inner.geometry()
    }
    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void {
        this.inner.read(addr, len, done)
    }
    program(addr: number, data: Buffer, done: (err: FlashError) => void): void {
        if (++this.programs === this.at) {
            this.inner.read(addr, 0, () => done(FlashError.NoDevice))
            return
        }
        this.inner.program(addr, data, done)
    }
    eraseSector(addr: number, done: (err: FlashError) => void): void {
        this.inner.eraseSector(addr, done)
    }
}

describe("a program the flash refuses", () => {
    it("loses no record written after it: a refused entry leaves no erased entry before later ones", () => {
        // every program of the run in turn refused: a data slot, an entry, a sector header
        for (let at = 1; at <= 60; at++) {
            const rig = Rig.blank(64 * 1024, PRIMARY)
            rig.init()
            const flash = new OneRefusedProgram(rig.flash, at)
            rig.store = new BlockStore(flash, rig.k, PRIMARY)
            expect(rig.call((d) => rig.store.mount((e) => d(e)))).toBe(StoreError.None)
            // 40 writes; a refused one is written again, as the pipeline does
            for (let i = 0; i < 40; i++) {
                const lba = i % 24
                let err = rig.write(0, lba, 1 + i, block(256, 0, lba, 1 + i, i))
                if (err !== StoreError.None) err = rig.write(0, lba, 1 + i, block(256, 0, lba, 1 + i, i))
                expect({ at, i, err }).toEqual({ at, i, err: StoreError.None })
            }
            // a board that boots from this flash serves every block's newest write
            const again = new Rig(rig.chip, PRIMARY)
            expect(again.mount().err).toBe(StoreError.None)
            for (let lba = 0; lba < 24; lba++) {
                const i = lba + (lba < 16 ? 24 : 0)
                const got = again.read(0, lba)
                expect({ at, lba, err: got.err, same: got.data !== null && got.data.equals(block(256, 0, lba, 1 + i, i)) }).toEqual({
                    at,
                    lba,
                    err: StoreError.None,
                    same: true,
                })
            }
        }
    })
})
