import { describe, expect, it } from "vitest"
import { Flash, FlashError, FlashGeometry } from "../../hal/flash"
import { SpiNorFlash } from "../../hal/spiNor"
import { BlockStore } from "../../firmware/store/blockStore"
import { MountReport, StoreError, StoreRole } from "../../firmware/store/types"
import { Prng } from "../../host-sim/prng"
import { Rig } from "./harness"

/** The flash below, but read number `at` (counted from 1) comes back with two bits of a byte flipped, as
 * an SPI read that failed once would (one flipped bit the store mends where it reads it). */
class OneBadRead implements Flash {
    reads = 0
    constructor(
        private inner: SpiNorFlash,
        private at: number,
        private prng: Prng
    ) {}
    suspendsErase(): boolean {
        return false
    }

    geometry(): FlashGeometry {
        return this.inner.geometry()
    }
    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void {
        const n = ++this.reads
        this.inner.read(addr, len, (err, data) => {
            if (n === this.at && err === FlashError.None && data.length > 0) {
                const copy = Buffer.from(data)
                copy[this.prng.int(copy.length)] ^= 3 << this.prng.int(7)
                return done(err, copy)
            }
            done(err, data)
        })
    }
    program(addr: number, data: Buffer, done: (err: FlashError) => void): void {
        this.inner.program(addr, data, done)
    }
    eraseSector(addr: number, done: (err: FlashError) => void): void {
        this.inner.eraseSector(addr, done)
    }
}

const OPTS = { role: StoreRole.Primary, blockSize: 256 }
const LBAS = 24

function blockOf(lba: number, round: number): Buffer {
    const b = Buffer.alloc(256, (lba * 13 + round * 7) & 0xff)
    b[0] = lba
    b[1] = round
    return b
}

describe("a read that fails once while the store mounts", () => {
    it("loses nothing: the scan runs again when it finds a bad entry or sector header, so a good record is never dropped and a good sector never erased", () => {
        // a store with several sectors of records, every lba written three times (the newest
        // version of each is what must survive)
        const rig = Rig.blank(64 * 1024, OPTS)
        expect(rig.mount().err).toBe(StoreError.None)
        let seq = 1
        for (let round = 0; round < 3; round++) {
            for (let lba = 0; lba < LBAS; lba++) expect(rig.write(0, lba, seq, blockOf(lba, round))).toBe(StoreError.None)
            expect(rig.call((d) => rig.store.confirm(seq, d))).toBe(StoreError.None)
            seq++
        }
        const clean = rig.mount().report
        // (each store here shares the driver with the next one: its work between calls, the
        // check of free sectors after a mount, ends before the next one starts)
        rig.runUntil(() => false)
        // how many reads a clean mount makes: a bad one at each of them in turn
        const counter = new OneBadRead(rig.flash, -1, new Prng(1))
        const probe = new BlockStore(counter, rig.k, OPTS)
        let done: MountReport | null = null
        probe.mount((_e, r) => (done = r))
        rig.runUntil(() => done !== null)
        const reads = counter.reads
        rig.runUntil(() => false)
        expect(reads).toBeGreaterThan(4)
        let rescans = 0
        for (let at = 1; at <= reads; at++) {
            const bad = new OneBadRead(rig.flash, at, new Prng(at))
            const store = new BlockStore(bad, rig.k, OPTS)
            let out: { err: StoreError; report: MountReport } | null = null
            store.mount((err, report) => (out = { err, report }))
            rig.runUntil(() => out !== null)
            const o = out as unknown as { err: StoreError; report: MountReport }
            expect({ at, err: o.err }).toEqual({ at, err: StoreError.None })
            // the same records and sectors as a clean mount: nothing dropped, nothing to erase
            expect({ at, records: o.report.records, used: o.report.usedSectors, bad: o.report.badCrc }).toEqual({
                at,
                records: clean.records,
                used: clean.usedSectors,
                bad: clean.badCrc,
            })
            if (bad.reads > reads) rescans++
            for (let lba = 0; lba < LBAS; lba++) {
                let r: { err: StoreError; data: Buffer | null } | null = null
                store.read(0, lba, (err, data) => (r = { err, data }))
                rig.runUntil(() => r !== null)
                const got = r as unknown as { err: StoreError; data: Buffer | null }
                expect({ at, lba, err: got.err, round: got.data ? got.data[1] : -1 }).toEqual({ at, lba, err: StoreError.None, round: 2 })
            }
            rig.runUntil(() => false)
        }
        // the flips that landed in an entry or a header made the scan run again
        expect(rescans).toBeGreaterThan(0)
    })
})
