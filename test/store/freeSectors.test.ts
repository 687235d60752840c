import { describe, expect, it } from "vitest"
import { Flash, FlashError, FlashGeometry } from "../../hal/flash"
import { SpiNorFlash } from "../../hal/spiNor"
import { BlockStore } from "../../firmware/store/blockStore"
import { MountReport, StoreError } from "../../firmware/store/types"
import { block, PRIMARY, Rig } from "./harness"

// A sector the mount finds erased by its header is not read further at the boot: it is read
// whole when the store needs another free sector (between calls while fewer than its reserve and
// spare are, or when a call needs room first), and one whose room is not all erased (an erase a
// power cut stopped) is erased before anything is written to it. docs/FORMAT-flash.md, "Free
// sectors".

const S = 4096
const B = 256
/** The free sectors the store keeps ready: its default reserve and spare, and an eighth of its 64. */
const READY = 2 + 2 + 64 / 8

/** The flash below, counting the bytes read. */
class CountingFlash implements Flash {
    bytesRead = 0
    constructor(private inner: SpiNorFlash) {}
    suspendsErase(): boolean {
        return this.inner.suspendsErase()
    }
    geometry(): FlashGeometry {
        return this.inner.geometry()
    }
    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void {
        this.bytesRead += len
        this.inner.read(addr, len, done)
    }
    program(addr: number, data: Buffer, done: (err: FlashError) => void): void {
        this.inner.program(addr, data, done)
    }
    eraseSector(addr: number, done: (err: FlashError) => void): void {
        this.inner.eraseSector(addr, done)
    }
}

/** A 256 KB store (64 sectors) with `writes` blocks written, then everything run out. */
function written(writes: number): Rig {
    const r = Rig.blank(256 * 1024, PRIMARY)
    expect(r.mount().err).toBe(StoreError.None)
    for (let i = 0; i < writes; i++) expect(r.write(0, i % 40, 1 + i, block(B, 0, i % 40, 1 + i, 0))).toBe(StoreError.None)
    r.drain()
    return r
}

/** Mounts a store over `r`'s chip through a counting driver, and runs until the mount ends. */
function mountCounted(r: Rig): { store: BlockStore; counter: CountingFlash; report: MountReport } {
    const counter = new CountingFlash(r.flash)
    const store = new BlockStore(counter, r.k, PRIMARY)
    let report: MountReport | null = null
    store.mount((err, rep) => {
        expect(err).toBe(StoreError.None)
        report = rep
    })
    r.runUntil(() => report !== null)
    return { store, counter, report: report as unknown as MountReport }
}

describe("free sectors at a boot", () => {
    it("are read by their header only: a nearly empty store mounts reading a few sectors, not the chip, and reads only the free sectors it keeps ready", () => {
        const r = written(20)
        const { store, counter, report } = mountCounted(r)
        // 2 sectors hold the 20 records; 62 are free
        expect(report.usedSectors + 1).toBeGreaterThanOrEqual(2)
        expect(report.freeSectors).toBe(64 - report.usedSectors)
        // every header (16 bytes), and the used sectors (the newest whole, the other by its entries)
        expect(counter.bytesRead).toBeLessThanOrEqual(64 * 16 + report.usedSectors * S)
        // free by their header
        expect(store.freeSectors()).toBe(report.freeSectors)
        // between calls, it reads those it keeps ready (its reserve and spare), not the rest
        const atMount = counter.bytesRead
        r.drain()
        expect(store.freeSectors()).toBe(report.freeSectors)
        // (the first piece of the first one may have been asked for as the mount ended)
        const ready = counter.bytesRead - atMount
        expect(ready).toBeGreaterThan((READY - 1) * (S - 16))
        expect(ready).toBeLessThanOrEqual(READY * (S - 16))
        expect(store.stats.dirtySectors).toBe(0)
        // and no more while it takes no new sector
        r.k.run(r.k.millis() + 60000, Number.MAX_SAFE_INTEGER)
        expect(counter.bytesRead - atMount).toBe(ready)
    })

    it("are read when a call needs one before its work between calls got to them, and the writes go on", () => {
        const r = written(20)
        const { store, counter, report } = mountCounted(r)
        const atMount = counter.bytesRead
        // writes at once: each opens sectors read just before, on the call's own path
        for (let i = 0; i < 60; i++) {
            let err = -1
            store.write(0, 100 + i, 50 + i, block(B, 0, 100 + i, 50 + i, 1), (e) => (err = e))
            r.runUntil(() => err >= 0)
            expect(err).toBe(StoreError.None)
        }
        r.drain()
        expect(store.freeSectors() + report.usedSectors).toBeLessThanOrEqual(64)
        // the 60 records took about 4 sectors: read, with those kept ready, and not the rest
        expect(counter.bytesRead - atMount).toBeLessThanOrEqual((READY + 6) * S)
        for (let i = 0; i < 60; i++) {
            let got: Buffer | null = null
            store.read(0, 100 + i, (_e, d) => (got = d))
            r.runUntil(() => got !== null)
            expect((got as unknown as Buffer).equals(block(B, 0, 100 + i, 50 + i, 1))).toBe(true)
        }
    })

    it("one whose header reads erased but whose room does not (an erase a power cut stopped) is erased before a write lands in it", () => {
        const r = written(20)
        const image = r.chip.snapshot()
        // sectors 10 to 19: erased headers over rooms of zeros, which no program can undo
        for (let s = 10; s < 20; s++) image.fill(0, s * S + 16, (s + 1) * S)
        const again = Rig.fromImage(image, PRIMARY)
        const m = again.mount()
        expect(m.err).toBe(StoreError.None)
        expect(m.report.dirtySectors).toBe(0)
        // enough writes to go round the store twice (each confirmed, so that older versions
        // are garbage): every sector is opened, collected, reused
        for (let i = 0; i < 2 * 64 * 15; i++) {
            expect({ i, err: again.write(0, i % 200, 100 + i, block(B, 0, i % 200, 100 + i, 2)) }).toEqual({ i, err: StoreError.None })
            if (i % 10 === 9) expect(again.confirm(100 + i)).toBe(StoreError.None)
        }
        again.drain()
        // the ten were found, and erased before use: every block reads back as written
        expect(again.store.stats.dirtySectors).toBe(10)
        for (let lba = 0; lba < 200; lba++) {
            let last = lba
            while (last + 200 < 2 * 64 * 15) last += 200
            const got = again.read(0, lba)
            expect({ lba, err: got.err }).toEqual({ lba, err: StoreError.None })
            expect(got.data!.equals(block(B, 0, lba, 100 + last, 2))).toBe(true)
        }
        // and a boot after that finds the store whole
        const third = Rig.fromImage(again.chip.snapshot(), PRIMARY)
        expect(third.mount().report.badCrc).toBe(0)
        for (let lba = 0; lba < 200; lba += 7) expect(third.read(0, lba).err).toBe(StoreError.None)
    })
})
