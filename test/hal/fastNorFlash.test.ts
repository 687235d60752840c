import { describe, expect, it } from "vitest"
import { Flash, FlashError } from "../../hal/flash"
import { SpiNorFlash } from "../../hal/spiNor"
import { SimKernel } from "../../host-sim/kernel"
import { FastNorFlash, NorOpKind, PartialMode, SlowMode, SpiNorChip } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"

/**
 * The chip's fast face (one event per operation) against the reference: the JEDEC driver over
 * the command-level chip (one event per SPI command and status poll). The same operations,
 * issued at the same virtual times, must complete at the same instants (exactly: the times are
 * compared with toBe), with the same results, the same bytes on the cells and the same
 * counters; a power cut at the same instant must leave the same bytes.
 */

/** Two 64 KB blocks. */
const CAP = 131072

type Op =
    | { kind: "program"; addr: number; data: Buffer }
    | { kind: "erase"; addr: number }
    | { kind: "read"; addr: number; len: number }
    | { kind: "bad"; addr: number; len: number }
    | { kind: "failWrites"; n: number }
    | { kind: "failReads"; n: number }

/** A seeded mix: programs of 1..256 bytes inside a page (over earlier data too), erases, reads
 * of up to 1300 bytes (several chunks), and calls the driver refuses. */
function opsFor(seed: number, count: number): Op[] {
    const p = new Prng(seed)
    const ops: Op[] = []
    for (let i = 0; i < count; i++) {
        const r = p.int(100)
        if (r < 55) {
            const page = p.int(CAP / 256) & 0x3f
            const off = p.int(256)
            const len = 1 + p.int(256 - off)
            const data = Buffer.alloc(len)
            for (let j = 0; j < len; j++) data[j] = p.next() & 0xff
            ops.push({ kind: "program", addr: page * 256 + off, data })
        } else if (r < 62) ops.push({ kind: "erase", addr: p.int(4) * 4096 + p.int(4096) })
        else if (r < 95) ops.push({ kind: "read", addr: p.int(16384), len: p.int(1300) })
        else ops.push({ kind: "bad", addr: CAP - p.int(4), len: 8 })
    }
    return ops
}

interface Outcome {
    /** Per operation: completion time and error (and for a read, its bytes in hex). */
    log: string[]
    chip: SpiNorChip
    kernel: SimKernel
    flash: Flash & { polls: number }
}

interface RunOptions {
    fast: boolean
    ops: Op[]
    /** Gaps between one completion and the next call, drawn from this seed. */
    gapSeed: number
    slow?: SlowMode
    /** A power cut at this absolute time (in Any mode, from a Prng of cutSeed). */
    cutAtMs?: number
    cutSeed?: number
    /** Or at this operation index, from the chip's own hook. */
    cutAtOperation?: number
    /** Records every onOperation report. */
    hookLog?: string[]
    /** Read in chunks of this many bytes (the driver's default otherwise). */
    readChunk?: number
}

/** The chip, and the flash the run drives (its fast face, or the driver over its command
 * level), with the run's chip times and power cut. */
function rig(o: { fast: boolean; slow?: SlowMode; cutAtMs?: number; cutSeed?: number; cutAtOperation?: number; readChunk?: number }): {
    k: SimKernel
    chip: SpiNorChip
    flash: SpiNorFlash | FastNorFlash
} {
    const k = new SimKernel()
    const chip = new SpiNorChip(k, { capacity: CAP })
    if (o.slow !== undefined) chip.setSlow(o.slow, new Prng(77))
    const fo = { capacity: CAP, readChunk: o.readChunk }
    const flash = o.fast ? chip.boardFlash(k, fo) : new SpiNorFlash(chip.boardBus(), k, fo)
    if (o.cutAtMs !== undefined) {
        const cutPrng = new Prng(o.cutSeed ?? 1)
        k.setTimer(o.cutAtMs, () => chip.powerCut(cutPrng, PartialMode.Any))
    }
    if (o.cutAtOperation !== undefined) chip.cutAt(o.cutAtOperation, new Prng(o.cutSeed ?? 1), PartialMode.Any)
    return { k, chip, flash }
}

function run(o: RunOptions): Outcome {
    const { k, chip, flash } = rig(o)
    const log: string[] = []
    const gaps = new Prng(o.gapSeed)
    const hookLog = o.hookLog
    if (hookLog) chip.watchOperations((kind, index, addr) => hookLog.push(`${kind === NorOpKind.Program ? "P" : "E"}${index}@${addr} t=${k.millis()}`))
    let i = 0
    const next = (): void => {
        if (i >= o.ops.length) return
        const op = o.ops[i++]
        const after = (what: string) => {
            log.push(`${i - 1} ${op.kind} t=${k.millis()} ${what}`)
            // back to back, or after a gap that is sometimes long (the chip long idle)
            const g = gaps.int(4)
            if (g === 0) next()
            else k.setTimer(g === 1 ? gaps.float() * 0.01 : gaps.float() * 60, next)
        }
        switch (op.kind) {
            case "program":
                return flash.program(op.addr, op.data, (err) => after(`err ${err}`))
            case "erase":
                return flash.eraseSector(op.addr, (err) => after(`err ${err}`))
            case "read":
            case "bad":
                return flash.read(op.addr, op.len, (err, data) => after(`err ${err} ${data.toString("hex")}`))
            case "failWrites":
                chip.failWrites(op.n)
                return after("set")
            case "failReads":
                chip.failReads(op.n)
                return after("set")
        }
    }
    flash.init((err, id) => {
        log.push(`init t=${k.millis()} err ${err} id ${id}`)
        next()
    })
    while (k.step(Infinity)) continue
    return { log, chip, kernel: k, flash: flash as Flash & { polls: number } }
}

/** The chip's counters of operations (and, for a run without a cut, of its transfers: a cut
 * in the middle of an operation finds the face has not counted the commands and reads it has
 * no event for). */
function counters(c: SpiNorChip): number[] {
    const ops = [c.programs, c.erases, c.bytesProgrammed, c.powerCuts, ...c.sectorEraseCounts.slice(0, 4)]
    return c.powerCuts > 0 ? ops : ops.concat([c.reads, c.bytesRead, c.transfers])
}

function expectSame(ref: Outcome, fast: Outcome): void {
    expect(fast.log).toEqual(ref.log)
    expect(fast.chip.snapshot().equals(ref.chip.snapshot())).toBe(true)
    expect(counters(fast.chip)).toEqual(counters(ref.chip))
    expect(fast.chip.isPowered()).toBe(ref.chip.isPowered())
    const a = ref.chip.lastCut
    const b = fast.chip.lastCut
    expect([b.kind, b.addr, b.mode, b.changed]).toEqual([a.kind, a.addr, a.mode, a.changed])
}

describe("the chip's fast face against the JEDEC driver over the command-level chip", () => {
    it("completes every operation at the same instant with the same result and bytes, in one event each", () => {
        for (const slow of [SlowMode.Typical, SlowMode.Max, SlowMode.Random]) {
            const ops = opsFor(10 + slow, 400)
            const ref = run({ fast: false, ops, gapSeed: 3, slow })
            const fast = run({ fast: true, ops, gapSeed: 3, slow })
            expectSame(ref, fast)
            expect(fast.flash.polls).toBe(ref.flash.polls)
            expect(ref.log.filter((l) => l.includes("err 0")).length).toBeGreaterThan(350)
            expect(fast.kernel.millis()).toBe(ref.kernel.millis())
            // one event per operation (two for a long one early in the run: see fastAt), and
            // one per gap the harness waits
            expect(fast.kernel.eventsRun).toBeLessThanOrEqual(2 * ops.length + 10)
            expect(ref.kernel.eventsRun).toBeGreaterThan(2 * fast.kernel.eventsRun)
        }
    })

    it("refuses writes and flips read bits as the driver over the command-level chip does (the rot and remotefail faults)", () => {
        for (const seed of [1, 2, 3]) {
            const p = new Prng(100 + seed)
            const ops: Op[] = []
            for (const op of opsFor(20 + seed, 300)) {
                const r = p.int(100)
                // refused writes for a while (fewer than the driver's attempts, more, or for
                // good and then healed), and reads that come back with a bit flipped
                if (r < 6) ops.push({ kind: "failWrites", n: [1, 2, 3, 5, -1][p.int(5)] })
                else if (r < 9) ops.push({ kind: "failWrites", n: 0 })
                else if (r < 14) ops.push({ kind: "failReads", n: 1 + p.int(3) })
                ops.push(op)
            }
            const readChunk = [256, 100, 4096][seed - 1]
            const ref = run({ fast: false, ops, gapSeed: seed, readChunk })
            const fast = run({ fast: true, ops, gapSeed: seed, readChunk })
            expectSame(ref, fast)
            expect(fast.flash.polls).toBe(ref.flash.polls)
            expect(fast.kernel.millis()).toBe(ref.kernel.millis())
            // the faults did happen: writes refused with NoDevice, reads whose bytes differ
            // from the cells
            expect(ref.log.filter((l) => /(program|erase) .* err 5$/.test(l)).length).toBeGreaterThan(5)
        }
    })

    it("leaves the same bytes when power is cut at random instants, inside operations too", () => {
        const ops = opsFor(5, 60)
        let inside = 0
        let runs = 0
        for (const slow of [SlowMode.Typical, SlowMode.Random]) {
            const whole = run({ fast: false, ops, gapSeed: 9, slow })
            const endMs = whole.kernel.millis()
            // the times of the programs and erases: a cut drawn in one of them lands before
            // its command, while the chip is busy, or after (before the driver saw it)
            const spans: Array<[number, number]> = []
            let prev = 0
            for (const l of whole.log) {
                const t = Number(/t=([0-9.e+-]+)/.exec(l)![1])
                if (/ (program|erase) /.test(l)) spans.push([prev, t])
                prev = t
            }
            const p = new Prng(100 + slow)
            for (let c = 0; c < 80; c++) {
                let at: number
                if (c % 5 === 0) at = p.float() * endMs
                else {
                    const [a, b] = spans[p.int(spans.length)]
                    at = a + p.float() * (b - a)
                }
                const ref = run({ fast: false, ops, gapSeed: 9, slow, cutAtMs: at, cutSeed: c })
                const fast = run({ fast: true, ops, gapSeed: 9, slow, cutAtMs: at, cutSeed: c })
                expectSame(ref, fast)
                runs++
                if (ref.chip.lastCut.kind !== 0) inside++
            }
        }
        // many cuts find the chip busy (the rest land in the commands, the polls or the gaps)
        expect(inside).toBeGreaterThan(runs / 3)
    })

    it("reports each operation to the hooks at its command and cuts at the chosen one", () => {
        const ops = opsFor(6, 80)
        const refHooks: string[] = []
        const fastHooks: string[] = []
        run({ fast: false, ops, gapSeed: 4, hookLog: refHooks })
        run({ fast: true, ops, gapSeed: 4, hookLog: fastHooks })
        expect(fastHooks.length).toBeGreaterThan(40)
        expect(fastHooks).toEqual(refHooks)
        const operations = run({ fast: true, ops, gapSeed: 4 }).chip.operations()
        expect(operations).toBeGreaterThan(40)
        for (let index = 1; index <= operations; index += 6) {
            const ref = run({ fast: false, ops, gapSeed: 4, cutAtOperation: index, cutSeed: index })
            const fast = run({ fast: true, ops, gapSeed: 4, cutAtOperation: index, cutSeed: index })
            expectSame(ref, fast)
            expect(fast.chip.lastCut.kind).not.toBe(0)
            expect(fast.chip.operations()).toBe(index)
        }
    })

    it("refuses as the driver does, and dies with the power", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: CAP })
        const flash: FastNorFlash = chip.boardFlash(k)
        const got: string[] = []
        flash.read(0, 4, (err) => got.push(`before init ${err}`))
        flash.init((err, id) => got.push(`init ${err} ${id.toString(16)}`))
        flash.init((err) => got.push(`second init ${err}`))
        k.run(1, 100)
        // the size comes from the ID when none is given
        expect(flash.geometry().capacity).toBe(16 * 1024 * 1024)
        expect(got).toEqual([`before init ${FlashError.NoDevice}`, `second init ${FlashError.Busy}`, "init 0 ef4018"])
        flash.program(0x1f0, Buffer.alloc(32), (err) => got.push(`crosses ${err}`))
        flash.program(0, Buffer.alloc(1), (err) => got.push(`program ${err}`))
        chip.powerCut(new Prng(1))
        chip.powerOn()
        // the program cut before its command went out never completes (and, as the driver,
        // the face stays busy with it: a board's next boot makes a new one)
        flash.read(0, 4, (err) => got.push(`after the cut ${err}`))
        k.run(100, 100)
        expect(got.slice(3)).toEqual([`crosses ${FlashError.CrossesPage}`, `after the cut ${FlashError.Busy}`])
        expect(chip.lastCut.kind).toBe(0)
        expect(chip.peek(0)).toBe(0xff)
    })
})

/**
 * Two callers at once: one erases sector after sector (after a gap), the other reads and
 * programs all the while, back to back (from the done before), after gaps of microseconds (in
 * the suspend's tSUS, inside a status poll) or of milliseconds. Reads and programs suspend the
 * erase under way; those of its sector, and an erase while another or a read or program is
 * under way, are refused (Busy). With `blocks`, over both 64 KB blocks, a third of the erases
 * are of a whole block (D8h), whose every sector is refused while it runs.
 */
function runConcurrent(o: {
    fast: boolean
    seed: number
    slow?: SlowMode
    cutAtMs?: number
    cutSeed?: number
    cutAtOperation?: number
    blocks?: boolean
}): Outcome & { suspends: number } {
    const { k, chip, flash } = rig(o)
    const log: string[] = []
    const p = new Prng(o.seed)
    const gap = (): number => {
        const g = p.int(6)
        if (g === 0) return 0
        if (g === 1) return p.float() * 0.03
        if (g === 2) return p.float() * 0.6
        if (g === 3) return p.float() * 3
        return p.float() * 30
    }
    let erases = 0
    let tries = 0
    const erase = (): void => {
        if (erases >= 40 || tries++ >= 400) return
        const block = o.blocks === true && p.int(3) === 0
        const addr = o.blocks ? p.int(32) * 4096 + (block ? p.int(4096) : 0) : p.int(8) * 4096
        const from = k.millis()
        const done = (err: FlashError): void => {
            log.push(`${block ? "block" : "erase"} ${addr} t=${k.millis()} err ${err}` + (block ? ` from=${from}` : ""))
            if (err === FlashError.None) erases++
            k.setTimer(err === FlashError.None ? gap() * 2 : 0.5, erase)
        }
        if (block) flash.eraseBlock(addr, done)
        else flash.eraseSector(addr, done)
    }
    let ops = 0
    const other = (): void => {
        if (ops++ >= 1500) return
        const then = (what: string): void => {
            log.push(what)
            const g = gap()
            if (g === 0) other()
            else k.setTimer(g, other)
        }
        const addr = p.int(o.blocks ? 32 : 8) * 4096 + p.int(16) * 256
        if (p.int(2) === 0) {
            const len = 1 + p.int(256)
            const data = Buffer.alloc(len)
            for (let j = 0; j < len; j++) data[j] = p.next() & 0xff
            flash.program(addr, data, (err) => then(`program ${addr} t=${k.millis()} err ${err}`))
        } else {
            const len = 1 + p.int(600)
            flash.read(addr, len, (err, data) => then(`read ${addr} t=${k.millis()} err ${err} ${data.toString("hex")}`))
        }
    }
    flash.init(() => {
        erase()
        other()
    })
    while (k.step(Infinity)) continue
    return { log, chip, kernel: k, flash: flash as Flash & { polls: number }, suspends: flash.suspends }
}

/** runConcurrent on the fast face and on the driver over the command-level chip: the same
 * outcome (and, with `timing`, the same polls, suspends and end), and the reference's. */
function bothFaces(o: Omit<Parameters<typeof runConcurrent>[0], "fast">, timing = false): ReturnType<typeof runConcurrent> {
    const ref = runConcurrent({ ...o, fast: false })
    const fast = runConcurrent({ ...o, fast: true })
    expectSame(ref, fast)
    if (timing) {
        expect(fast.flash.polls).toBe(ref.flash.polls)
        expect(fast.suspends).toBe(ref.suspends)
        expect(fast.chip.suspends).toBe(ref.chip.suspends)
        expect(fast.kernel.millis()).toBe(ref.kernel.millis())
    }
    return ref
}

describe("an erase suspended for reads and programs (75h/7Ah)", () => {
    it("runs the same on the fast face as the driver over the command-level chip", () => {
        for (const slow of [SlowMode.Typical, SlowMode.Max, SlowMode.Random])
            for (const seed of [1, 2, 3, 4, 5, 6]) {
                const ref = bothFaces({ seed, slow }, true)
                // the erases did run behind the others, and were suspended for them
                const done = ref.log.filter((l) => /^erase .* err 0$/.test(l)).length
                expect(done).toBeGreaterThan(30)
                expect(ref.suspends).toBeGreaterThan(done)
                expect(ref.chip.suspends).toBe(ref.suspends)
                // the others were refused only in the erase's sector or while its command went out
                expect(ref.log.filter((l) => /^(program|read) .* err 0/.test(l)).length).toBeGreaterThan(1000)
            }
    })

    it("leaves the same bytes after a power cut at any instant, in a suspended erase too", () => {
        let inErase = 0
        let suspended = 0
        let runs = 0
        for (const seed of [4, 5]) {
            const whole = runConcurrent({ fast: false, seed })
            const endMs = whole.kernel.millis()
            const p = new Prng(seed * 31)
            // half of the cuts inside reads and programs, mostly during an erase they suspend
            const opEnds = whole.log.filter((l) => /^(program|read) .* err 0/.test(l)).map((l) => Number(/t=([0-9.e+-]+)/.exec(l)![1]))
            for (let c = 0; c < 60; c++) {
                const at = c % 2 === 0 ? p.float() * endMs : opEnds[p.int(opEnds.length)] - p.float() * 0.5
                const ref = bothFaces({ seed, cutAtMs: at, cutSeed: c })
                runs++
                if (ref.chip.lastCut.kind === NorOpKind.Erase) inErase++
                if (ref.chip.lastCut.suspended) suspended++
            }
            const ops = whole.chip.operations()
            for (let index = 1; index <= ops; index += Math.max(1, Math.floor(ops / 25))) {
                const ref = bothFaces({ seed, cutAtOperation: index, cutSeed: index })
                expect(ref.chip.operations()).toBe(index)
            }
        }
        // cuts land in erases, running or suspended (with a program running or not)
        expect(inErase).toBeGreaterThan(runs / 5)
        expect(suspended).toBeGreaterThan(5)
    })
})

describe("a block erase (D8h), suspended for reads and programs like a sector's", () => {
    it("runs the same on the fast face as the driver over the command-level chip, and erases its 16 sectors", () => {
        for (const slow of [SlowMode.Typical, SlowMode.Max, SlowMode.Random])
            for (const seed of [1, 2, 3, 4]) {
                const ref = bothFaces({ seed, slow, blocks: true }, true)
                const blocks = ref.log.filter((l) => /^block .* err 0 /.test(l)).length
                expect(blocks).toBeGreaterThan(5)
                // one erase each in the chip's count; each of its sectors counts one
                const c = ref.chip
                expect(c.sectorEraseCounts.reduce((a, b) => a + b, 0)).toBe(
                    c.erases + 15 * (c.erases - ref.log.filter((l) => /^erase .* err 0$/.test(l)).length)
                )
                // reads and programs went on in the other block meanwhile, and were refused in it
                expect(ref.log.filter((l) => /^(program|read) .* err 0/.test(l)).length).toBeGreaterThan(700)
            }
    })

    it("leaves the same bytes after a power cut at any instant, and at each operation", () => {
        let inBlock = 0
        let suspended = 0
        let runs = 0
        for (const seed of [2, 3]) {
            const whole = runConcurrent({ fast: false, seed, blocks: true })
            // from each block erase's call to its end
            const spans: Array<[number, number]> = []
            for (const l of whole.log) if (l.startsWith("block ")) spans.push([Number(/from=([0-9.e+-]+)/.exec(l)![1]), Number(/t=([0-9.e+-]+)/.exec(l)![1])])
            // and the ends of the reads and programs made during one (the erase suspended for them)
            const inside = whole.log
                .filter((l) => /^(program|read) .* err 0/.test(l))
                .map((l) => Number(/t=([0-9.e+-]+)/.exec(l)![1]))
                .filter((t) => spans.some(([a, b]) => t > a && t < b))
            const p = new Prng(seed * 17)
            for (let c = 0; c < 60; c++) {
                const [a, b] = spans[p.int(spans.length)]
                const at = c % 2 === 0 ? a + p.float() * (b - a) : inside[p.int(inside.length)] - p.float() * 0.3
                const ref = bothFaces({ seed, cutAtMs: at, cutSeed: c, blocks: true })
                runs++
                // (drawn inside a block erase's span: the erase the cut finds is that one, running
                // or suspended for a read or program)
                if (ref.chip.lastCut.kind === NorOpKind.Erase) inBlock++
                if (ref.chip.lastCut.suspended) suspended++
            }
            const ops = whole.chip.operations()
            for (let index = 1; index <= ops; index += Math.max(1, Math.floor(ops / 20))) {
                bothFaces({ seed, cutAtOperation: index, cutSeed: index, blocks: true })
            }
        }
        expect(inBlock).toBeGreaterThan(runs / 3)
        expect(suspended).toBeGreaterThan(5)
    })
})

describe("a simulated group on either flash model", () => {
    it("runs to the same result with the fast face as with the driver over the command-level chip", () => {
        const results: string[] = []
        const events: number[] = []
        for (const commandLevelFlash of [true, false]) {
            const o = defaultSimOptions()
            o.boards = 3
            o.seed = 2
            o.durationMs = 3000
            const sim = new Simulation(o, { commandLevelFlash })
            const r = sim.run()
            expect(r.consistent).toBe(true)
            results.push(JSON.stringify(r))
            events.push(sim.kernel.eventsRun)
        }
        expect(results[1]).toBe(results[0])
        expect(events[1] * 1.5).toBeLessThan(events[0])
    })
})
