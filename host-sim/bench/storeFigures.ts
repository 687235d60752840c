/**
 * Block store figures: write amplification, boot scan time of a full store, erase-count spread.
 * Run: npx tsx host-sim/bench/storeFigures.ts [--quick] (`seqmirror bench` shows a part).
 * Times are the chip model's virtual (datasheet) time: SPI at the given clock, W25Q128JV
 * program/erase times; processor time is not modelled.
 */
import { SpiNorFlash } from "../../hal/spiNor"
import { BlockStore } from "../../firmware/store/blockStore"
import { StoreError, StoreOptions, StoreRole } from "../../firmware/store/types"
import { SimKernel } from "../kernel"
import { PartialMode, SpiNorChip } from "../models/spiNorChip"
import { Prng } from "../prng"

interface Setup {
    k: SimKernel
    chip: SpiNorChip
    store: BlockStore
}

function setup(capacity: number, opts: StoreOptions, clockHz = 8_000_000, chip?: SpiNorChip): Setup {
    const k = new SimKernel()
    const c = chip ?? new SpiNorChip(k, { capacity, clockHz })
    c.powerOn(k)
    const flash = new SpiNorFlash(c.boardBus(), k, { capacity })
    let ok = false
    flash.init(() => (ok = true))
    while (!ok && k.step(Infinity)) continue
    const store = new BlockStore(flash, k, opts)
    let mounted = false
    store.mount((err) => {
        if (err !== StoreError.None) throw new Error("mount " + err)
        mounted = true
    })
    while (!mounted && k.step(Infinity)) continue
    return { k, chip: c, store }
}

function call(s: Setup, fn: (done: (e: StoreError) => void) => void): StoreError {
    let err = -1
    fn((e) => (err = e))
    while (err < 0 && s.k.step(Infinity)) continue
    return err
}

/**
 * A primary under a random write workload: `lbas` blocks (a fill ratio of the capacity), hot
 * ones taking `hotShare` of the writes, a seq closed every `perSeq` writes and confirmed one
 * seq later (the remote keeps up).
 */
function primaryWorkload(s: Setup, writes: number, lbas: number, hotLbas: number, hotShare: number, perSeq: number, seed: number, fillFirst = false): number {
    const p = new Prng(seed)
    const data = Buffer.alloc(s.store.blockSize())
    let seq = 1
    const t0 = s.k.millis()
    maxWriteMs = 0
    for (let i = 0; i < writes; i++) {
        // with fillFirst, every lba is written once first: data outside the hot set stays cold
        if (i > 0 && i % perSeq === 0) {
            seq++
            if (seq > 2) call(s, (d) => s.store.confirm(seq - 2, d))
        }
        const lba = fillFirst && i < lbas ? i : p.chance(hotShare) ? p.int(hotLbas) : hotLbas + p.int(lbas - hotLbas)
        data[0] = i & 0xff
        data[1] = lba & 0xff
        const tw = s.k.millis()
        const err = call(s, (d) => s.store.write(0, lba, seq, data, d))
        if (err !== StoreError.None) throw new Error(`write ${i} failed: ${err}`)
        maxWriteMs = Math.max(maxWriteMs, s.k.millis() - tw)
    }
    return s.k.millis() - t0
}

/** The longest single write of the last workload (garbage collection runs inline). */
let maxWriteMs = 0

function spread(counts: number[]): { min: number; max: number; mean: number; sd: number } {
    const min = Math.min(...counts)
    const max = Math.max(...counts)
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length
    const sd = Math.sqrt(counts.reduce((a, b) => a + (b - mean) ** 2, 0) / counts.length)
    return { min, max, mean, sd }
}

export function pad(v: string | number, n: number): string {
    const s = typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v
    return s.length >= n ? s : " ".repeat(n - s.length) + s
}

export function table(title: string, head: string[], rows: (string | number)[][]): void {
    console.log("\n" + title)
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => pad(r[i], 0).length)) + 1)
    console.log(head.map((h, i) => pad(h, w[i])).join(" |"))
    console.log(w.map((n) => "-".repeat(n)).join("-|"))
    for (const r of rows) console.log(r.map((v, i) => pad(v, w[i])).join(" |"))
}

export type Cell = string | number

/** Write amplification of a 1 MB primary store under uniform random writes, for each block size
 * and live fill; `writesPerLba` writes per live lba (10 for the full table). */
export function writeAmplificationRows(blockSizes: number[], fills: number[], writesPerLba: number): Cell[][] {
    const rows: Cell[][] = []
    const cap = 1 << 20
    for (const B of blockSizes) {
        for (const fill of fills) {
            const slots = 256 * Math.floor(4080 / (16 + B))
            const lbas = Math.floor(slots * fill)
            const writes = lbas * writesPerLba
            const s = setup(cap, { role: StoreRole.Primary, blockSize: B })
            const ms = primaryWorkload(s, writes, lbas, 1, 0, 64, B + fill * 100)
            const st = s.store.stats
            rows.push([B, `${fill * 100}%`, writes, s.store.writeAmplification(), st.gcRuns, st.gcRelocated, st.erases, ms / writes, maxWriteMs])
        }
    }
    return rows
}

export const WRITE_AMPLIFICATION_HEAD = ["block", "live fill", "writes", "WA", "gc runs", "relocated", "erases", "ms/write", "max ms"]

/** Boot scan (mount) of a full 1 MB store at each SPI clock. */
export function mountRows(clocksHz: number[], fillWrites: number): Cell[][] {
    const rows: Cell[][] = []
    for (const hz of clocksHz) {
        const cap = 1 << 20
        const s = setup(cap, { role: StoreRole.Primary }, hz)
        // fill every slot: writes over 75% of the capacity, then overwrite until the log has wrapped
        primaryWorkload(s, fillWrites, 2800, 1, 0, 64, 1)
        const s2 = setup(cap, { role: StoreRole.Primary }, hz, s.chip)
        const rep = s2.store.lastMountReport()
        rows.push([hz / 1e6, rep.usedSectors, rep.freeSectors, rep.records, rep.liveRecords, rep.durationMs])
    }
    return rows
}

export const MOUNT_HEAD = ["SPI MHz", "used sectors", "free sectors", "records", "live", "mount ms"]

/** The store over a whole chip of `capacity` bytes at 8 MHz SPI: the boot scan after a clean
 * stop and after a power cut that tore a record (a second scan), and the RAM of its index. */
export interface ChipScaleRow {
    capacityBytes: number
    sectors: number
    /** Blocks written: nine in ten of the store's data slots, each an lba of its own. */
    blocks: number
    /** The mount of that full store after a clean stop, and after a power cut that tore a
     * record (the whole scan runs twice then: docs/FORMAT-flash.md, "A second look"). */
    cleanMountMs: number
    cutMountMs: number
    /** The mount of the same chip with 8 blocks written: its free sectors are read whole. */
    emptyMountMs: number
    /** The store's RAM between calls (`ramBytes`: the index, the sector tables, the queue). */
    indexRamBytes: number
}

export function chipScaleRow(capacity: number): ChipScaleRow {
    const opts = { role: StoreRole.Primary }
    const data = Buffer.alloc(256, 0x5a)
    const empty = setup(capacity, opts)
    for (let lba = 0; lba < 8; lba++) if (call(empty, (d) => empty.store.write(0, lba, 1, data, d)) !== StoreError.None) throw new Error("write")
    const emptyAgain = setup(capacity, opts, 8_000_000, empty.chip)
    const s = setup(capacity, opts)
    const blocks = Math.floor((capacity / 4096) * 15 * 0.9)
    // a seq every 64 blocks, as a primary's history holds them
    for (let lba = 0; lba < blocks; lba++) if (call(s, (d) => s.store.write(0, lba, 1 + (lba >> 6), data, d)) !== StoreError.None) throw new Error("write")
    const clean = setup(capacity, opts, 8_000_000, s.chip)
    // a write torn by a power cut in its entry (the operation after its data slot's program)
    clean.chip.cutAt(clean.chip.operations() + 2, new Prng(1), PartialMode.Prefix)
    call(clean, (d) => clean.store.write(0, 9, 1 + (blocks >> 6), data, d))
    clean.chip.cutAt(0, new Prng(1), PartialMode.Prefix)
    const cut = setup(capacity, opts, 8_000_000, clean.chip)
    if (cut.store.lastMountReport().torn !== 1) throw new Error("the cut tore no record")
    return {
        capacityBytes: capacity,
        sectors: capacity / 4096,
        blocks,
        cleanMountMs: clean.store.lastMountReport().durationMs,
        cutMountMs: cut.store.lastMountReport().durationMs,
        emptyMountMs: emptyAgain.store.lastMountReport().durationMs,
        indexRamBytes: clean.store.ramBytes(),
    }
}

/** Erase counts across the 64 sectors of a 256 KB store after `writes` random writes. */
export function eraseSpreadRows(writes: number): Cell[][] {
    const rows: Cell[][] = []
    const cap = 256 * 1024
    const slots = 64 * 15
    for (const [name, hot, share, wear] of [
        ["uniform", 1, 0, 16],
        ["10% of lbas hot, rest cold, static WL (spread 16)", Math.floor(slots * 0.06), 1, 16],
        ["10% of lbas hot, rest cold, no static WL", Math.floor(slots * 0.06), 1, 1e9],
    ] as [string, number, number, number][]) {
        const s = setup(cap, { role: StoreRole.Primary, wearSpread: wear })
        primaryWorkload(s, writes, Math.floor(slots * 0.6), hot, share, 64, 3, share === 1)
        const c = spread(s.store.eraseCounts())
        rows.push([name, writes, c.min, c.max, c.mean, c.sd, s.store.stats.gcStaticRuns, s.store.writeAmplification()])
    }
    return rows
}

export const ERASE_SPREAD_HEAD = ["workload", "writes", "min", "max", "mean", "sd", "static runs", "WA"]

// `npx tsx host-sim/bench/storeFigures.ts [--quick]` prints the tables
if (typeof process !== "undefined" && process.argv[1] && process.argv[1].endsWith("storeFigures.ts")) {
    const quick = process.argv.includes("--quick")
    table(
        "Write amplification, 1 MB primary store, uniform random writes (flash bytes programmed / user bytes)",
        WRITE_AMPLIFICATION_HEAD,
        writeAmplificationRows([256, 128, 64], [0.25, 0.5, 0.75], quick ? 4 : 10)
    )
    table(
        "Boot scan (mount) of a full 1 MB store, virtual time (SPI read 0x03 in 256-byte transfers; CPU not modelled)",
        MOUNT_HEAD,
        mountRows([8_000_000, 20_000_000, 50_000_000], quick ? 6000 : 9000)
    )
    table(
        "Erase counts across the 64 sectors of a 256 KB store after a long random workload (60% live fill)",
        ERASE_SPREAD_HEAD,
        eraseSpreadRows(quick ? 40_000 : 150_000)
    )
}
