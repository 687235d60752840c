import { describe, expect, it } from "vitest"
import { BlockStore } from "../../firmware/store/blockStore"
import { StoreError, StoreRole } from "../../firmware/store/types"
import { ImageShape, readFlashImage } from "../../host-sim/flashImage"
import { SimKernel } from "../../host-sim/kernel"
import { SpiNorChip } from "../../host-sim/models/spiNorChip"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"

/** The image as a board booting from a copy of the flash serves it, through the chip's fast
 * face (the board's own flash) with its times: what readFlashImage must give. */
function referenceImage(source: SpiNorChip, shape: ImageShape, damaged: Array<[number, number]>): (Buffer | null)[][] | null {
    const kernel = new SimKernel()
    const chip = new SpiNorChip(kernel, { capacity: source.capacity() })
    chip.copyMemory(source)
    chip.powerOn(kernel)
    const flash = chip.boardFlash(kernel, { capacity: source.capacity() })
    const image: (Buffer | null)[][] = []
    let result: (Buffer | null)[][] | null = null
    flash.init((err) => {
        if (err !== 0) return
        const store = new BlockStore(flash, kernel, { role: shape.role, blockSize: shape.blockSize })
        store.mount((err2) => {
            if (err2 !== 0) return
            const next = (b: number, lba: number): void => {
                if (lba === shape.lbaCount) return next(b + 1, 0)
                if (b === shape.boards) return void (result = image)
                if (lba === 0) image.push([])
                if (shape.only !== undefined && b !== shape.only) return next(b + 1, 0)
                store.read(b, lba, (e, data) => {
                    image[b].push(e === 0 && data ? Buffer.from(data) : null)
                    if (e === StoreError.Corrupt) damaged.push([b, lba])
                    next(b, lba + 1)
                })
            }
            next(0, 0)
        })
    })
    while (kernel.step(Number.MAX_SAFE_INTEGER));
    return result
}

describe("the checker's look at a flash (readFlashImage)", () => {
    it("reads what a board booting from the flash serves, at every moment of runs with power cuts and rot", () => {
        let looks = 0
        for (const seed of [1, 2, 3]) {
            const sim = new Simulation({
                ...defaultSimOptions(),
                boards: 3,
                seed,
                durationMs: 6000,
                faults: ["power", "reboot", "rot", "remotefail", "replace"],
            })
            const g = sim.group.opts
            sim.start()
            for (let t = 500; t <= 6000; t += 500) {
                sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
                const chips: Array<[SpiNorChip, ImageShape]> = sim.group.primaries.map((p) => [
                    p.chip,
                    { role: StoreRole.Primary, blockSize: g.blockSize, boards: 3, lbaCount: g.lbaCount, only: p.member },
                ])
                chips.push([sim.group.remote.chip, { role: StoreRole.Remote, blockSize: g.blockSize, boards: 3, lbaCount: g.lbaCount }])
                for (const [chip, shape] of chips) {
                    const d1: Array<[number, number]> = []
                    const d2: Array<[number, number]> = []
                    expect(readFlashImage(chip, shape, d1)).toEqual(referenceImage(chip, shape, d2))
                    expect(d1).toEqual(d2)
                    looks++
                }
            }
        }
        expect(looks).toBe(3 * 12 * 4)
    }, 60_000)
})
