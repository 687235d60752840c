// Reads the blocks a flash image holds, the way a board would after booting from it (Node only).
import { BlockStore } from "../firmware/store/blockStore"
import { StoreError, StoreRole } from "../firmware/store/types"
import { SimKernel } from "./kernel"
import { SpiNorChip } from "./models/spiNorChip"

export interface ImageShape {
    role: StoreRole
    blockSize: number
    /** Boards (members) in the group: rows of the result. */
    boards: number
    lbaCount: number
    /** Read only this board's row (the others stay empty); all rows when absent. */
    only?: number
}

/**
 * Mounts a copy of a flash chip's contents (as a power cut left them) with the firmware's
 * own store, in a kernel of its own, and reads every (board, lba): what a board booting from
 * that flash would serve, the primary's newest versions or the remote's applied image. Returns
 * null when the store does not mount.
 */
export function readFlashImage(source: SpiNorChip, shape: ImageShape, damaged?: Array<[number, number]>): (Buffer | null)[][] | null {
    const kernel = new SimKernel()
    const chip = new SpiNorChip(kernel, { capacity: source.capacity() })
    chip.copyMemory(source)
    chip.powerOn(kernel)
    const flash = chip.boardFlash(kernel, { capacity: source.capacity() })
    const image: (Buffer | null)[][] = []
    let failed = false
    let done = false
    flash.init((err) => {
        if (err !== 0) {
            failed = done = true
            return
        }
        // the checker's own mount need not yield to anything: long steps, fewer events
        const store = new BlockStore(flash, kernel, { role: shape.role, blockSize: shape.blockSize, stepBytes: 1 << 20 })
        store.mount((err2) => {
            if (err2 !== 0) {
                failed = done = true
                return
            }
            const next = (b: number, lba: number): void => {
                if (lba === shape.lbaCount) {
                    b++
                    lba = 0
                }
                if (b === shape.boards) {
                    done = true
                    return
                }
                if (lba === 0) image.push([])
                if (shape.only !== undefined && b !== shape.only) return next(b + 1, 0)
                store.read(b, lba, (e, data) => {
                    image[b].push(e === 0 && data ? Buffer.from(data) : null)
                    // a block whose record reads back damaged: the store says so (no data)
                    if (e === StoreError.Corrupt && damaged) damaged.push([b, lba])
                    next(b, lba + 1)
                })
            }
            next(0, 0)
        })
    })
    while (!done) if (!kernel.step(Number.MAX_SAFE_INTEGER)) break
    return failed || !done ? null : image
}
