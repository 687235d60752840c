// Reads the blocks a flash image holds, the way a board would after booting from it (Node only).
import { Flash, FlashError, FlashGeometry } from "../hal/flash"
import { BlockStore } from "../firmware/store/blockStore"
import { StoreError, StoreRole } from "../firmware/store/types"
import { SimKernel } from "./kernel"
import { FastNorFlash, SpiNorChip } from "./models/spiNorChip"
import { NOR_PAGE_SIZE, NOR_SECTOR_SIZE } from "../hal/spiNor"

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
    const flash = new ChipLook(source, kernel)
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
            for (let b = 0; b < shape.boards; b++) image.push([])
            // the reads, IN_FLIGHT queued at a time (each done queues the next): the store's
            // queue is never empty before the last, so it does nothing between its calls (no
            // collection, no free sector read) until the look has ended
            const blocks: Array<[number, number]> = []
            for (let b = 0; b < shape.boards; b++)
                if (shape.only === undefined || b === shape.only) for (let lba = 0; lba < shape.lbaCount; lba++) blocks.push([b, lba])
            let issued = 0
            let answered = 0
            const next = (): void => {
                const [b, lba] = blocks[issued++]
                store.read(b, lba, (e, data) => {
                    image[b][lba] = e === 0 && data ? Buffer.from(data) : null
                    // a block whose record reads back damaged: the store says so (no data)
                    if (e === StoreError.Corrupt && damaged) damaged.push([b, lba])
                    if (++answered === blocks.length) done = true
                    else if (issued < blocks.length) next()
                })
            }
            if (blocks.length === 0) done = true
            for (let i = 0; i < IN_FLIGHT && issued < blocks.length; i++) next()
        })
    })
    while (!done) if (!kernel.step(Number.MAX_SAFE_INTEGER)) break
    return failed || !done ? null : image
}

/** Reads the checker's look keeps queued at the store (of its queue of 16). */
const IN_FLIGHT = 8

/** Bytes of the Buffers ChipLook cuts its reads from. */
const SLAB_BYTES = 65536

/**
 * The flash of the checker's look: the chip's cells as they are (SpiNorChip.peekInto), read straight
 * into a Buffer nothing else holds (a part of a larger one never handed out before, not cleared
 * first: the read writes every byte), in one event at once, with no command, count or fault of
 * the chip's. The checker's mount runs in a kernel of its own, where the bus's times mean
 * nothing (the store times nothing but its mount's report), and the main kernel does not run
 * meanwhile, so the cells cannot change under it. A mount never writes, but a store's first call
 * after one may (it zeroes a torn entry): a write goes to a copy of the cells made then.
 */
class ChipLook implements Flash {
    private busy = false
    private slab = Buffer.alloc(0)
    private slabAt = 0
    private geo: FlashGeometry
    /** The fast face of the copy the first write made (null: no write yet, the source's cells). */
    private face: FastNorFlash | null = null

    constructor(
        private chip: SpiNorChip,
        private kernel: SimKernel
    ) {
        this.geo = { pageSize: NOR_PAGE_SIZE, sectorSize: NOR_SECTOR_SIZE, capacity: chip.capacity() }
    }

    /** done(None, id) with the chip's JEDEC ID, or NoDevice for one that answers none, as the
     * fast face's init. */
    init(done: (err: FlashError, jedecId: number) => void): void {
        const id = this.chip.jedecNumber()
        const err = id === 0xffffff || id === 0 ? FlashError.NoDevice : FlashError.None
        this.kernel.setTimer(0, () => done(err, id))
    }

    geometry(): FlashGeometry {
        return this.geo
    }

    suspendsErase(): boolean {
        return false
    }

    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void {
        // the fast face's checks (one operation at a time, the range), its answers
        const cap = this.geo.capacity
        let err = FlashError.None
        if (this.busy) err = FlashError.Busy
        else if (!(addr >= 0) || !(len >= 0) || Math.floor(addr) !== addr || Math.floor(len) !== len) err = FlashError.OutOfRange
        else if (addr + len > cap || (len === 0 && addr >= cap)) err = FlashError.OutOfRange
        if (err !== FlashError.None) {
            this.kernel.setTimer(0, () => done(err, Buffer.alloc(0)))
            return
        }
        this.busy = true
        if (this.slabAt + len > this.slab.length) {
            this.slab = Buffer.allocUnsafe(len > SLAB_BYTES ? len : SLAB_BYTES)
            this.slabAt = 0
        }
        const data = this.slab.subarray(this.slabAt, this.slabAt + len)
        this.slabAt += len
        this.chip.peekInto(addr, data)
        this.kernel.setTimer(0, () => {
            this.busy = false
            done(FlashError.None, data)
        })
    }

    program(addr: number, data: Buffer, done: (err: FlashError) => void): void {
        this.write(done, (face, d) => face.program(addr, data, d))
    }

    eraseSector(addr: number, done: (err: FlashError) => void): void {
        this.write(done, (face, d) => face.eraseSector(addr, d))
    }

    /** A write goes to a copy of the cells, made at the first one, through the chip's fast face
     * (a store programs after its mount when it zeroes a torn entry); the source never changes. */
    private write(done: (err: FlashError) => void, start: (face: FastNorFlash, d: (err: FlashError) => void) => void): void {
        if (this.busy) {
            this.kernel.setTimer(0, () => done(FlashError.Busy))
            return
        }
        this.busy = true
        if (!this.face) {
            const copy = new SpiNorChip(this.kernel, { capacity: this.geo.capacity })
            copy.copyMemory(this.chip)
            copy.powerOn(this.kernel)
            this.chip = copy
            const face = copy.boardFlash(this.kernel, { capacity: this.geo.capacity })
            this.face = face
            // the fast face takes writes once it has read the chip's ID
            face.init(() => start(face, (err) => this.wrote(done, err)))
            return
        }
        start(this.face, (err) => this.wrote(done, err))
    }

    private wrote(done: (err: FlashError) => void, err: FlashError): void {
        this.busy = false
        done(err)
    }
}
