import { SpiNorFlash } from "../../hal/spiNor"
import { BlockStore } from "../../firmware/store/blockStore"
import { MountReport, StoreError, StoreOptions, StoreRole } from "../../firmware/store/types"
import { SimKernel } from "../../host-sim/kernel"
import { SpiNorChip } from "../../host-sim/models/spiNorChip"

/** A store on a simulated chip, with helpers that run virtual time until a call completes. */
export class Rig {
    k: SimKernel
    flash: SpiNorFlash
    store: BlockStore

    constructor(
        public chip: SpiNorChip,
        public opts: StoreOptions
    ) {
        this.k = new SimKernel()
        chip.powerOn(this.k)
        this.flash = new SpiNorFlash(chip.boardBus(), this.k, { capacity: chip.capacity() })
        this.store = new BlockStore(this.flash, this.k, opts)
    }

    static blank(capacity: number, opts: StoreOptions): Rig {
        const k = new SimKernel()
        return new Rig(new SpiNorChip(k, { capacity }), opts)
    }

    /** A store over a chip holding a copy of `image` (not mounted yet); `whole`: its mount reads
     * every sector whole, as before the light parse (the first read of a sector is all of it). */
    static fromImage(image: Buffer, opts: StoreOptions, whole = false): Rig {
        const chip = new SpiNorChip(new SimKernel(), { capacity: image.length })
        chip.loadImage(image)
        const rig = new Rig(chip, opts)
        if (whole) (rig.store as unknown as { mPrefix: number }).mPrefix = 4096
        return rig
    }

    /** Runs events until `fired()` is true or nothing is left; returns the events run. */
    runUntil(fired: () => boolean, maxEvents = 10_000_000): number {
        let n = 0
        while (!fired() && n < maxEvents && this.k.step(Infinity)) n++
        return n
    }

    /** Runs every pending event. */
    drain(): void {
        while (this.k.step(Infinity)) continue
    }

    init(): void {
        let err = -1
        this.flash.init((e) => (err = e))
        this.runUntil(() => err >= 0)
        if (err !== 0) throw new Error("flash init " + err)
    }

    mount(): { err: StoreError; report: MountReport } {
        this.init()
        let out: { err: StoreError; report: MountReport } | null = null
        this.store.mount((err, report) => (out = { err, report }))
        this.runUntil(() => out !== null)
        if (!out) throw new Error("mount never completed")
        return out
    }

    write(member: number, lba: number, seq: number, data: Buffer): StoreError {
        let err = -1
        this.store.write(member, lba, seq, data, (e) => (err = e))
        this.runUntil(() => err >= 0)
        return err
    }

    read(member: number, lba: number): { err: StoreError; data: Buffer | null } {
        let out: { err: StoreError; data: Buffer | null } | null = null
        this.store.read(member, lba, (err, data) => (out = { err, data }))
        this.runUntil(() => out !== null)
        if (!out) throw new Error("read never completed")
        return out
    }

    readPinned(member: number, lba: number, seq: number): { err: StoreError; data: Buffer | null } {
        let out: { err: StoreError; data: Buffer | null } | null = null
        this.store.readPinned({ member, lba, seq }, (err, data) => (out = { err, data }))
        this.runUntil(() => out !== null)
        if (!out) throw new Error("readPinned never completed")
        return out
    }

    call(fn: (done: (err: StoreError) => void) => void): StoreError {
        let err = -1
        fn((e) => (err = e))
        this.runUntil(() => err >= 0)
        return err
    }

    commit(seq: number): StoreError {
        return this.call((d) => this.store.commit(seq, d))
    }

    confirm(seq: number): StoreError {
        return this.call((d) => this.store.confirm(seq, d))
    }
}

/** A block whose bytes say who wrote it: member, lba, seq, and a version counter. */
export function block(size: number, member: number, lba: number, seq: number, version: number): Buffer {
    const b = Buffer.alloc(size)
    for (let i = 0; i < size; i++) b[i] = (member * 31 + lba * 7 + seq * 13 + version * 101 + i) & 0xff
    b[0] = member
    b.writeUInt32LE(lba, 1)
    b.writeUInt32LE(seq >>> 0, 5)
    b.writeUInt32LE(version, 9)
    return b
}

export const PRIMARY: StoreOptions = { role: StoreRole.Primary }
export const REMOTE: StoreOptions = { role: StoreRole.Remote }
