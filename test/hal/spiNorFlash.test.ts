import { describe, expect, it } from "vitest"
import { FlashError } from "../../hal/flash"
import { SpiBus } from "../../hal/spi"
import { SpiNorFlash } from "../../hal/spiNor"
import { SimKernel } from "../../host-sim/kernel"
import { PartialMode, SlowMode, SpiNorChip } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"

function setup(capacity = 65536, opts: { readChunk?: number } = {}) {
    const k = new SimKernel()
    const chip = new SpiNorChip(k, { capacity, clockHz: 8_000_000, transferOverheadMs: 0.002 })
    const flash = new SpiNorFlash(chip, k, { capacity, readChunk: opts.readChunk })
    let initErr = -1
    flash.init((err) => (initErr = err))
    k.run(k.millis() + 1, 100)
    expect(initErr).toBe(FlashError.None)
    return { k, chip, flash }
}

/** Runs the kernel until `done` fires; returns what it got and the virtual time it took. */
function wait<T>(k: SimKernel, start: (done: (v: T) => void) => void): { v: T; ms: number } {
    const t0 = k.millis()
    let got: { v: T } | null = null
    start((v) => (got = { v }))
    while (got === null && k.step(Infinity)) continue
    if (got === null) throw new Error("never completed")
    return { v: (got as { v: T }).v, ms: k.millis() - t0 }
}

describe("SPI NOR driver (JEDEC)", () => {
    it("probes the JEDEC ID at init and takes the size from it when none is configured", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        const flash = new SpiNorFlash(chip, k)
        const r = wait<number[]>(k, (d) => flash.init((err, id) => d([err, id])))
        expect(r.v).toEqual([FlashError.None, 0xef4018])
        expect(flash.geometry()).toEqual({ pageSize: 256, sectorSize: 4096, capacity: 16 * 1024 * 1024 })
    })

    it("reports NoDevice for an ID of FF FF FF (nothing answers) and 00 00 00 (MISO stuck low)", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        chip.powerCut(new Prng(1))
        const f1 = new SpiNorFlash(chip, k, { capacity: 65536 })
        expect(wait<number>(k, (d) => f1.init((err) => d(err))).v).toBe(FlashError.NoDevice)
        const zeros: SpiBus = {
            transfer: (_tx, n, done) => k.setTimer(0.01, () => done(Buffer.alloc(n))),
            clockHz: () => 8e6,
        }
        const f2 = new SpiNorFlash(zeros, k, { capacity: 65536 })
        expect(wait<number>(k, (d) => f2.init((err) => d(err))).v).toBe(FlashError.NoDevice)
        expect(wait<number>(k, (d) => f2.read(0, 4, (err) => d(err))).v).toBe(FlashError.NoDevice)
    })

    it("programs a page in about 0.7 ms of chip time plus the SPI transfer time, and reads it back", () => {
        const { k, flash } = setup()
        const data = Buffer.alloc(256)
        for (let i = 0; i < 256; i++) data[i] = i
        const r = wait<number>(k, (d) => flash.program(0x300, data, d))
        expect(r.v).toBe(FlashError.None)
        // WREN, status (WEL check), program command, one status poll
        const wire = (1 * 8) / 8000 + 0.002 + (2 * 8) / 8000 + 0.002 + (260 * 8) / 8000 + 0.002 + (2 * 8) / 8000 + 0.002
        expect(r.ms).toBeGreaterThanOrEqual(0.7 + wire - 1e-9)
        expect(r.ms).toBeLessThan(0.7 + wire + 0.06)
        const back = wait<Buffer>(k, (d) => flash.read(0x300, 256, (_err, b) => d(b)))
        expect(back.v.equals(data)).toBe(true)
    })

    it("erases a sector in about 45 ms", () => {
        const { k, flash } = setup()
        wait(k, (d) => flash.program(0x1010, Buffer.from([0]), d))
        const r = wait<number>(k, (d) => flash.eraseSector(0x1fff, d))
        expect(r.v).toBe(FlashError.None)
        expect(r.ms).toBeGreaterThan(45)
        expect(r.ms).toBeLessThan(46.2)
        expect(wait<Buffer>(k, (d) => flash.read(0x1010, 1, (_e, b) => d(b))).v[0]).toBe(0xff)
    })

    it("erases a 64 KB block (D8h) in about 150 ms, refusing its sectors meanwhile", () => {
        const { k, chip, flash } = setup(3 * 65536)
        const sent: number[] = []
        const transfer = chip.transfer.bind(chip)
        chip.transfer = (tx, n, done) => {
            if (tx.length === 4 && (tx[0] === 0xd8 || tx[0] === 0x20)) sent.push(tx.readUInt32BE(0))
            transfer(tx, n, done)
        }
        for (const a of [0xfff0, 0x10010, 0x1fff0, 0x20010]) wait(k, (d) => flash.program(a, Buffer.from([0]), d))
        const got: string[] = []
        const r = wait<number>(k, (d) => {
            flash.eraseBlock(0x12345, d)
            // reads go on outside the block, suspending the erase; inside it they are refused
            k.setTimer(20, () => flash.read(0x1fff0, 1, (e) => got.push(`in ${e}`)))
            k.setTimer(40, () => flash.read(0x20010, 1, (e, b) => got.push(`out ${e} ${b[0]}`)))
        })
        expect(r.v).toBe(FlashError.None)
        expect(r.ms).toBeGreaterThan(150)
        expect(r.ms).toBeLessThan(152)
        expect(sent).toEqual([0xd8010000])
        expect(got).toEqual([`in ${FlashError.Busy}`, "out 0 0"])
        const bytes = [0xfff0, 0x10010, 0x1fff0, 0x20010].map((a) => wait<Buffer>(k, (d) => flash.read(a, 1, (_e, b) => d(b))).v[0])
        expect(bytes).toEqual([0, 0xff, 0xff, 0])
    })

    it("refuses page-crossing programs, out-of-range calls and overlapping calls", () => {
        const { k, chip, flash } = setup()
        expect(wait<number>(k, (d) => flash.program(0xff, Buffer.alloc(2), d)).v).toBe(FlashError.CrossesPage)
        expect(chip.programs).toBe(0)
        expect(wait<number>(k, (d) => flash.program(65535, Buffer.alloc(2), d)).v).toBe(FlashError.OutOfRange)
        expect(wait<number>(k, (d) => flash.read(65530, 7, (e) => d(e))).v).toBe(FlashError.OutOfRange)
        expect(wait<number>(k, (d) => flash.eraseSector(65536, d)).v).toBe(FlashError.OutOfRange)
        expect(wait<number>(k, (d) => flash.read(-1, 1, (e) => d(e))).v).toBe(FlashError.OutOfRange)
        // while an erase runs: its sector is refused, another sector is read and programmed
        // (the erase suspended for them), a second erase is refused; a call while the erase's
        // command goes out waits for it (one; another is refused)
        const results: number[] = []
        flash.eraseSector(0, (e) => results.push(e))
        flash.read(0, 1, (e) => results.push(100 + e))
        flash.program(0, Buffer.alloc(1), (e) => results.push(200 + e))
        k.run(k.millis() + 1, 10000)
        flash.read(4096, 1, (e) => results.push(300 + e))
        k.run(k.millis() + 1, 10000)
        flash.program(4096, Buffer.alloc(1), (e) => results.push(400 + e))
        k.run(k.millis() + 2, 10000)
        flash.eraseSector(8192, (e) => results.push(500 + e))
        k.run(k.millis() + 100, 10000)
        expect(results).toEqual([200 + FlashError.Busy, 100 + FlashError.Busy, 300, 400, 500 + FlashError.Busy, FlashError.None])
        expect(flash.suspends).toBe(2)
        expect(chip.suspends).toBe(2)
    })

    it("splits long reads into transfers of at most readChunk bytes", () => {
        const { k, chip, flash } = setup(65536, { readChunk: 512 })
        chip.poke(4095, 0x5a)
        chip.poke(4096, 0xa5)
        const r = wait<Buffer>(k, (d) => flash.read(0, 8192, (_e, b) => d(b)))
        expect(r.v.length).toBe(8192)
        expect(r.v[4095]).toBe(0x5a)
        expect(r.v[4096]).toBe(0xa5)
        expect(chip.reads).toBe(16)
    })

    it("waits for the datasheet maximum in slow mode without timing out", () => {
        const { k, chip, flash } = setup()
        chip.setSlow(SlowMode.Max, null)
        const p = wait<number>(k, (d) => flash.program(0, Buffer.alloc(256), d))
        expect(p.v).toBe(FlashError.None)
        expect(p.ms).toBeGreaterThan(3)
        const e = wait<number>(k, (d) => flash.eraseSector(0, d))
        expect(e.v).toBe(FlashError.None)
        expect(e.ms).toBeGreaterThan(400)
        chip.setSlow(SlowMode.Random, new Prng(5))
        for (let i = 0; i < 5; i++) expect(wait<number>(k, (d) => flash.eraseSector(i * 4096, d)).v).toBe(FlashError.None)
    })

    it("times out at the datasheet maximum when the chip stays busy, then waits for it before the next command", () => {
        // a sector's erase at 400 ms, a block's at 2 s
        for (const [block, maxMs] of [
            [false, 400],
            [true, 2000],
        ] as const) {
            const { k, chip, flash } = setup()
            // power is cut while the erase runs: status reads FF (BUSY) from then on
            const r = wait<number>(k, (d) => {
                if (block) flash.eraseBlock(0, d)
                else flash.eraseSector(0, d)
                k.setTimer(10, () => chip.powerCut(new Prng(2), PartialMode.Nothing))
            })
            expect(r.v).toBe(FlashError.Timeout)
            expect(r.ms).toBeGreaterThan(maxMs)
            expect(r.ms).toBeLessThan(maxMs + 3)
            chip.powerOn()
            const p = wait<number>(k, (d) => flash.program(0x10, Buffer.from([0x12]), d))
            expect(p.v).toBe(FlashError.None)
            expect(wait<Buffer>(k, (d) => flash.read(0x10, 1, (_e, b) => d(b))).v[0]).toBe(0x12)
        }
    })

    it("never reports success for a program that a busy chip ignored: it waits, then programs", () => {
        const { k, chip, flash } = setup()
        // a stray erase started behind the driver's back keeps the chip busy for 400 ms
        chip.setSlow(SlowMode.Max, null)
        wait(k, (d) => chip.transfer(Buffer.from([0x06]), 0, d))
        wait(k, (d) => chip.transfer(Buffer.from([0x20, 0, 0, 0]), 0, d))
        const p = wait<number>(k, (d) => flash.program(0x2000, Buffer.from([1]), d))
        // WREN was ignored (WEL clear, BUSY set): the driver waited for the erase, then programmed
        expect(p.v).toBe(FlashError.None)
        expect(p.ms).toBeGreaterThan(399)
        expect(chip.peek(0x2000)).toBe(1)
        expect(chip.ignoredWhileBusy).toBeGreaterThan(0)
    })
})
