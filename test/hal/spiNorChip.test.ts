import { describe, expect, it } from "vitest"
import { SimKernel } from "../../host-sim/kernel"
import { NorOpKind, PartialMode, SlowMode, SpiNorChip } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"

/** Runs one raw transfer on the chip and returns what came back, with the time it took. */
function xfer(k: SimKernel, chip: SpiNorChip, tx: number[], rxLen: number): { rx: number[]; ms: number } {
    const t0 = k.millis()
    let out: number[] | null = null
    chip.transfer(Buffer.from(tx), rxLen, (rx) => {
        out = Array.from(rx)
    })
    while (out === null && k.step(Infinity)) continue
    if (out === null) throw new Error("transfer never completed")
    return { rx: out, ms: k.millis() - t0 }
}

function status(k: SimKernel, chip: SpiNorChip): number {
    return xfer(k, chip, [0x05], 1).rx[0]
}

function read(k: SimKernel, chip: SpiNorChip, addr: number, n: number): number[] {
    return xfer(k, chip, [0x03, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff], n).rx
}

function program(k: SimKernel, chip: SpiNorChip, addr: number, data: number[]): void {
    xfer(k, chip, [0x06], 0)
    xfer(k, chip, [0x02, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff, ...data], 0)
}

function waitReady(k: SimKernel, chip: SpiNorChip): number {
    const t0 = k.millis()
    while (status(k, chip) & 1) k.run(k.millis() + 0.01, 1000)
    return k.millis() - t0
}

describe("SPI NOR chip model (W25Q128JV class)", () => {
    it("answers the JEDEC ID EF 40 18 and reads erased memory as FF", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        expect(xfer(k, chip, [0x9f], 3).rx).toEqual([0xef, 0x40, 0x18])
        expect(read(k, chip, 0x1234, 4)).toEqual([0xff, 0xff, 0xff, 0xff])
    })

    it("takes bytes*8/clockHz plus the fixed overhead per transfer", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536, clockHz: 8_000_000, transferOverheadMs: 0.002 })
        const r = xfer(k, chip, [0x03, 0, 0, 0], 256)
        expect(r.ms).toBeCloseTo((260 * 8) / 8000 + 0.002, 9)
    })

    it("programs only clear bits: a program that would set a bit leaves it unchanged", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        program(k, chip, 0x100, [0x0f, 0xf0])
        waitReady(k, chip)
        program(k, chip, 0x100, [0xf3, 0x3f])
        waitReady(k, chip)
        expect(read(k, chip, 0x100, 2)).toEqual([0x03, 0x30])
    })

    it("ignores program and erase without write enable", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        xfer(k, chip, [0x02, 0, 0, 0, 0x00], 0)
        expect(status(k, chip)).toBe(0)
        expect(read(k, chip, 0, 1)).toEqual([0xff])
        expect(chip.ignoredCommands).toBe(1)
    })

    it("wraps a page program within its 256-byte page, as the real chip does", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        program(k, chip, 0x2fe, [1, 2, 3, 4])
        waitReady(k, chip)
        expect(read(k, chip, 0x2fe, 2)).toEqual([1, 2])
        expect(read(k, chip, 0x200, 2)).toEqual([3, 4])
        expect(read(k, chip, 0x300, 1)).toEqual([0xff])
    })

    it("is busy for the datasheet program time and sets BUSY and WEL meanwhile", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        program(k, chip, 0, new Array(256).fill(0))
        expect(status(k, chip)).toBe(0x03)
        const t0 = k.millis()
        k.run(t0 + 0.69, 100)
        expect(status(k, chip) & 1).toBe(1)
        k.run(t0 + 0.72, 100)
        expect(status(k, chip)).toBe(0)
    })

    it("erases a 4 KB sector to FF in 45 ms and ignores reads while busy", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        program(k, chip, 0x1000, [0])
        waitReady(k, chip)
        xfer(k, chip, [0x06], 0)
        xfer(k, chip, [0x20, 0, 0x10, 0x80], 0)
        expect(read(k, chip, 0x1000, 1)).toEqual([0xff])
        expect(chip.ignoredWhileBusy).toBe(1)
        const t = waitReady(k, chip)
        expect(t).toBeGreaterThan(44.9)
        expect(t).toBeLessThan(45.1)
        expect(read(k, chip, 0x1000, 1)).toEqual([0xff])
        expect(chip.sectorEraseCounts[1]).toBe(1)
        expect(chip.erases).toBe(1)
    })

    it("erases the 64 KB block of its address with D8h, 16 sectors in one erase, in 150 ms (2 s at most)", () => {
        for (const slow of [SlowMode.Typical, SlowMode.Max]) {
            const k = new SimKernel()
            const chip = new SpiNorChip(k, { capacity: 3 * 65536 })
            chip.setSlow(slow, null)
            // a byte in the last sector before the block, in its first and last, and after it
            for (const a of [0xf000, 0x10000, 0x1f0ff, 0x20000]) chip.poke(a, 0)
            xfer(k, chip, [0x06], 0)
            xfer(k, chip, [0xd8, 0x01, 0x23, 0x45], 0)
            expect(status(k, chip) & 3).toBe(3)
            const t = waitReady(k, chip)
            const want = slow === SlowMode.Max ? 2000 : 150
            expect(t).toBeGreaterThan(want - 0.1)
            expect(t).toBeLessThan(want + 0.1)
            expect([0xf000, 0x10000, 0x1f0ff, 0x20000].map((a) => chip.peek(a))).toEqual([0, 0xff, 0xff, 0])
            expect(chip.erases).toBe(1)
            expect(chip.sectorEraseCounts.slice(14, 34)).toEqual([0, 0, ...Array(16).fill(1), 0, 0])
        }
    })

    it("leaves every sector of a block erase the power cut with arbitrary contents", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 2 * 65536 })
        for (let i = 0; i < 2 * 65536; i++) chip.poke(i, 0)
        xfer(k, chip, [0x06], 0)
        xfer(k, chip, [0xd8, 0x01, 0, 0], 0)
        k.run(k.millis() + 50, 1000)
        chip.powerCut(new Prng(5), PartialMode.RandomBits)
        chip.powerOn()
        expect(chip.lastCut.kind).toBe(NorOpKind.Erase)
        for (let s = 0; s < 32; s++) {
            let ff = 0
            for (let i = 0; i < 4096; i++) if (chip.peek(s * 4096 + i) === 0xff) ff++
            // the block's sectors partly erased, each of them; the other block untouched
            if (s < 16) expect(ff).toBe(0)
            else {
                expect(ff).toBeGreaterThan(500)
                expect(ff).toBeLessThan(4096 - 500)
            }
        }
    })

    it("takes the datasheet maximum in slow mode", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        chip.setSlow(SlowMode.Max, null)
        xfer(k, chip, [0x06], 0)
        xfer(k, chip, [0x20, 0, 0, 0], 0)
        const t = waitReady(k, chip)
        expect(t).toBeGreaterThan(399.9)
        expect(t).toBeLessThan(400.1)
    })

    it("leaves a subset of the intended bit changes when power is cut mid-program", () => {
        for (let seed = 1; seed <= 20; seed++) {
            const k = new SimKernel()
            const chip = new SpiNorChip(k, { capacity: 65536 })
            const data = Array.from({ length: 256 }, (_, i) => (i * 77 + seed) & 0xff)
            program(k, chip, 0x400, data)
            chip.powerCut(new Prng(seed), PartialMode.RandomBits)
            chip.powerOn()
            const got = read(k, chip, 0x400, 256)
            for (let i = 0; i < 256; i++) {
                // every cell is between "untouched" (FF) and "done" (data): only intended 0s
                expect(got[i] & data[i]).toBe(data[i])
            }
            expect(status(k, chip)).toBe(0)
        }
    })

    it("answers FF to everything and ignores commands while unpowered", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        chip.powerCut(new Prng(1))
        expect(xfer(k, chip, [0x9f], 3).rx).toEqual([0xff, 0xff, 0xff])
        program(k, chip, 0, [0])
        chip.powerOn()
        expect(read(k, chip, 0, 1)).toEqual([0xff])
    })

    it("cuts power at the chosen operation and reports each one to the hook", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        const seen: string[] = []
        chip.onOperation = (kind, index, addr) => seen.push(`${kind === NorOpKind.Program ? "P" : "E"}${index}@${addr}`)
        chip.cutAt(2, new Prng(3), PartialMode.Nothing)
        program(k, chip, 0x10, [0])
        waitReady(k, chip)
        program(k, chip, 0x20, [0])
        expect(chip.isPowered()).toBe(false)
        expect(seen).toEqual(["P1@0", "P2@0"])
        chip.powerOn()
        expect(read(k, chip, 0x10, 1)).toEqual([0])
        expect(read(k, chip, 0x20, 1)).toEqual([0xff])
    })

    it("leaves an interrupted erase with arbitrary contents, and a board handle dies with the power", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        for (let i = 0; i < 4096; i++) chip.poke(i, 0)
        const bus = chip.boardBus()
        let completed = 0
        bus.transfer(Buffer.from([0x06]), 0, () => completed++)
        k.run(1, 100)
        bus.transfer(Buffer.from([0x20, 0, 0, 0]), 0, () => completed++)
        k.run(2, 100)
        chip.powerCut(new Prng(9), PartialMode.RandomBits)
        chip.powerOn()
        let ff = 0,
            zero = 0
        for (let i = 0; i < 4096; i++) {
            if (chip.peek(i) === 0xff) ff++
            if (chip.peek(i) === 0) zero++
        }
        expect(ff).toBeGreaterThan(500)
        expect(zero).toBeGreaterThan(500)
        bus.transfer(Buffer.from([0x9f]), 3, () => completed++)
        k.run(100, 100)
        expect(completed).toBe(2)
    })

    it("holds a reference image under programs (appended, over programmed cells, wrapping), erases, pokes, flipped bits and power cuts", () => {
        const SIZE = 65536
        for (let seed = 1; seed <= 8; seed++) {
            const k = new SimKernel()
            const chip = new SpiNorChip(k, { capacity: SIZE })
            const ref = Buffer.alloc(SIZE, 0xff)
            const r = new Prng(seed)
            // where each sector's records go on (from its start) and its entries (from its
            // end), so that most programs land on erased cells
            const tail: number[] = []
            const head: number[] = []
            for (let s = 0; s < SIZE / 4096; s++) {
                tail.push(0)
                head.push(4096)
            }
            for (let op = 0; op < 400; op++) {
                const sec = r.int(SIZE / 4096)
                const x = r.int(100)
                if (x < 55) {
                    const entry = x >= 25 && x < 40 && head[sec] >= 16
                    const len = entry ? 16 : r.chance(0.1) ? 1 + r.int(300) : 1 + r.int(64)
                    const off = entry ? head[sec] - 16 : x < 25 ? tail[sec] % 4096 : r.int(4096)
                    const addr = sec * 4096 + off
                    const data: number[] = []
                    for (let i = 0; i < len; i++) data.push(r.chance(0.2) ? 0xff : r.int(256))
                    program(k, chip, addr, data)
                    waitReady(k, chip)
                    const kept = Math.min(len, 256)
                    const base = addr - (addr % 256)
                    const start = ((addr % 256) + len - kept) % 256
                    for (let i = 0; i < kept; i++) ref[base + ((start + i) % 256)] &= data[len - kept + i]
                    if (entry) head[sec] = off
                    else if (x < 25) tail[sec] = off + Math.min(len, 256 - (off % 256))
                } else if (x < 65) {
                    xfer(k, chip, [0x06], 0)
                    xfer(k, chip, [0x20, sec >> 4, (sec << 4) & 0xff, 0], 0)
                    waitReady(k, chip)
                    ref.fill(0xff, sec * 4096, sec * 4096 + 4096)
                    tail[sec] = 0
                    head[sec] = 4096
                } else if (x < 75) {
                    const a = sec * 4096 + r.int(4096)
                    const v = r.int(256)
                    chip.poke(a, v)
                    ref[a] = v
                } else if (x < 85) {
                    const a = sec * 4096 + r.int(4096)
                    const bit = r.int(8)
                    chip.flipBit(a, bit)
                    ref[a] ^= 1 << bit
                } else if (x < 90) {
                    // a cut during a program or an erase: what it left is the chip's to say
                    xfer(k, chip, [0x06], 0)
                    if (r.chance(0.5)) xfer(k, chip, [0x20, sec >> 4, (sec << 4) & 0xff, 0], 0)
                    else xfer(k, chip, [0x02, sec >> 4, ((sec << 4) & 0xff) | r.int(16), r.int(256), 1, 2, 3, 4, 5, 6, 7, 8], 0)
                    chip.powerCut(r, PartialMode.Any)
                    chip.powerOn()
                    chip.snapshot().copy(ref)
                } else {
                    const a = sec * 4096 + r.int(4096)
                    const n = 1 + r.int(600)
                    expect(read(k, chip, a, n)).toEqual(
                        Array.from(ref.subarray(a, Math.min(SIZE, a + n))).concat(Array.from(ref.subarray(0, Math.max(0, a + n - SIZE))))
                    )
                }
            }
            expect(chip.snapshot().equals(ref)).toBe(true)
        }
    })
})
