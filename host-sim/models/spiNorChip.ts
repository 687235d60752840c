import { Clock, Timer } from "../../hal/clock"
import { Flash, FlashError, FlashGeometry } from "../../hal/flash"
import { SpiBus } from "../../hal/spi"
import {
    NorCmd,
    NOR_BLOCK_ERASE_MAX_MS,
    NOR_BLOCK_ERASE_TYP_MS,
    NOR_BLOCK_SIZE,
    NOR_ERASE_MAX_MS,
    NOR_ERASE_TYP_MS,
    NOR_PAGE_SIZE,
    NOR_SECTOR_SIZE,
    NOR_STATUS_BUSY,
    NOR_STATUS_WEL,
    NOR_STATUS2_SUS,
    NOR_SUSPEND_MS,
    norProgramMaxMs,
    norProgramTypMs,
    SpiNorFlashOptions,
    WREN_ATTEMPTS,
} from "../../hal/spiNor"
import { crc32cUpdate } from "../../firmware/codec/crc32c"
import { copyOf } from "../../firmware/codec/bytes"
import { Prng } from "../prng"
import { setTimerAt } from "./timerAt"

/**
 * A W25Q128JV-class SPI NOR chip at the command level, for the simulator. Portable: it also
 * runs in the DeviceScript VM.
 *
 * It implements `SpiBus`: each `transfer` is one command, executed when chip select rises (at
 * the end of the transfer's wire time). Commands:
 * - 0x9F JEDEC ID: answers the configured ID (EF 40 18 by default), then 0xFF.
 * - 0x03 read: 3-byte address, then data for as long as the master clocks; the address wraps at
 *   the model's capacity (a real chip ignores the address bits above its size).
 * - 0x06 write enable / 0x04 write disable: sets / clears WEL.
 * - 0x02 page program: needs WEL; cell = old & new; bytes past the end of the 256 B page wrap to
 *   its start (and more than 256 data bytes keep only the last 256), as the real chip does.
 * - 0x20 sector erase: needs WEL; the 4 KB sector becomes 0xFF.
 * - 0xD8 block erase: needs WEL; the 64 KB block (16 sectors) becomes 0xFF; one erase (counted
 *   once in `erases`, once per sector in `sectorEraseCounts`), suspended, resumed and cut as a
 *   sector erase is, over its 16 sectors.
 * - 0x05 read status register 1: BUSY (bit 0), WEL (bit 1), repeated for every byte clocked.
 * - 0x35 read status register 2: SUS (bit 7).
 * - 0x75 erase suspend: accepted while an erase runs (BUSY, SUS clear); SUS sets at once
 *   and the erase stops tSUS (20 µs) later, when BUSY clears; an erase that would end within
 *   tSUS ends instead (SUS stays clear). While SUS is set the chip takes reads and programs of
 *   any other sector; programs of the suspended sector (block) and erases are ignored. Program
 *   suspend is not modelled (75h during a program is ignored).
 * - 0x7A resume: accepted while SUS is set and BUSY clear; the erase runs on for what it had
 *   left.
 * While a program or erase is running (or an erase is stopping), every command but 0x05, 0x35
 * and 0x75 is ignored (answered with 0xFF). WEL clears when a program or erase ends. Malformed
 * commands are ignored (counted).
 *
 * Timing: a transfer takes (bytes × 8 / clockHz) plus `transferOverheadMs`. Program and erase
 * busy times follow the datasheet (typical by default; see `setSlow`).
 *
 * Faults: `powerCut` interrupts a running program (a random subset of its bit changes lands)
 * or erase, suspended or not (the sector is left with arbitrary contents), and leaves the chip
 * unpowered: every
 * byte reads 0xFF and commands are ignored until `powerOn`. `cutAt` and `onOperation` (or
 * `watchOperations`) let a harness cut at any chosen program or erase.
 *
 * Two faces: `boardBus()` is the chip on its SPI bus, one event per command, for the JEDEC
 * driver (hal/spiNor.ts) to drive; `boardFlash()` is the chip and that driver together as a
 * board's `Flash`, one event per operation (FastNorFlash below), with the same times, bytes
 * and power cuts.
 */

/** How much of an interrupted program or erase lands on the cells. */
export const enum PartialMode {
    /** One of the modes below, drawn from the Prng. */
    Any = 0,
    /** None of it (the operation had not really started). */
    Nothing = 1,
    /** All of it (finished on the cells, but the completion was never seen). */
    Everything = 2,
    /** The bytes before a random point (program: intended value; erase: 0xFF). */
    Prefix = 3,
    /** A random subset of bits (program: of the 1→0 changes; erase: bytes partly set to 1s). */
    RandomBits = 4,
}

export const enum SlowMode {
    /** Datasheet typical times. */
    Typical = 0,
    /** Datasheet maximum times. */
    Max = 1,
    /** Drawn uniformly between typical and maximum from the Prng. */
    Random = 2,
}

export const enum NorOpKind {
    Program = 1,
    Erase = 2,
}

export interface SpiNorChipOptions {
    /** Bytes of memory; a multiple of the 4 KB sector (64 KB..16 MB are sensible). */
    capacity: number
    /** SPI clock (default 8 MHz). */
    clockHz?: number
    /** Fixed cost of one transfer: chip-select setup, driver call (default 0.002 ms). */
    transferOverheadMs?: number
    /** The three JEDEC ID bytes (default EF 40 18). */
    jedecId?: number[]
    /** Allocates the Buffers the fast face cuts its reads from (default Buffer.alloc). A read
     * writes every byte of its part, so the simulator on Node passes Buffer.allocUnsafe and
     * saves clearing them. */
    slabs?: (n: number) => Buffer
}

/**
 * What the last power cut interrupted, for test diagnostics.
 * @devsWhenUsed
 */
export class PowerCutInfo {
    kind = 0
    addr = -1
    mode: PartialMode = PartialMode.Nothing
    /** Bits (program) or bytes (erase) that changed. */
    changed = 0
    /** An erase was suspended (it is cut with what was running, if anything). */
    suspended = false
}

/** @devsWhenUsed */
export class SpiNorChip implements SpiBus {
    /**
     * The cells, one Buffer per 4 KB sector (the VM refuses Buffers of 64 KB). null: never
     * programmed. An erase sets a sector's Buffer to 0xFF, as a new one is set, by doubling
     * copies, so no loop ever steps through 4 KB (the VM aborts long loops); a read is a copy.
     */
    private sectors: (Buffer | null)[] = []
    /** Per sector, a range of cells known to be erased (0xFF): offsets ffLo[s] to ffHi[s]
     * (excluded). A store fills a sector from both ends (records from its start, entries from
     * its end), so the range is what lies between: a program inside it sets its bytes with one
     * copy, and an erase fills only what is outside it. */
    private ffLo: number[] = []
    private ffHi: number[] = []
    private cap: number
    private clock: Clock
    private hz: number
    private overheadMs: number
    private id: number[]
    private powered = true
    private epoch = 0
    private inFlight = false
    private wel = false
    private busy = false
    private busyTimer: Timer | null = null
    private opKind = 0
    private opAddr = 0
    /** An erase's bytes: a sector, or a block. */
    private opSize = NOR_SECTOR_SIZE
    /** When the running operation ends (command level). */
    private opEndMs = 0
    /** An erase is suspended (SUS): its sector and the busy time it has left. */
    private sus = false
    private susAddr = 0
    private susSize = NOR_SECTOR_SIZE
    private susLeftMs = 0
    /** The running erase is stopping for a suspend: its end is BUSY clearing. */
    private stopping = false
    /** Page program latch: latchLen bytes for page offsets latchStart, latchStart+1, ... (mod
     * 256). Only the bytes sent are touched, so an event costs O(bytes sent). */
    private latch: Buffer
    private latchStart = 0
    private latchLen = 0
    private slow: SlowMode = SlowMode.Typical
    private slowPrng: Prng | null = null
    private readonly completeOp: () => void
    /** The fast face's state (FastNorFlash), made at its first operation. */
    private fast: FastState | null = null
    /** The fast face's erase, which reads and programs suspend (made at its first erase). */
    private fastEr: FastState | null = null

    // ---- counters
    /** Program commands started (accepted by the chip). */
    programs = 0
    /** Sector erases started. */
    erases = 0
    /** Erases suspended (0x75 accepted). */
    suspends = 0
    /** Data bytes sent in accepted program commands. */
    bytesProgrammed = 0
    reads = 0
    bytesRead = 0
    transfers = 0
    /** Commands ignored because the chip was busy. */
    ignoredWhileBusy = 0
    /** Program/erase commands ignored because WEL was clear, and malformed commands. */
    ignoredCommands = 0
    /** Erases started on each sector, interrupted ones included. */
    sectorEraseCounts: number[] = []
    powerCuts = 0
    readonly lastCut = new PowerCutInfo()
    /** When the last power cut came. */
    lastCutMs = -1
    /** Read commands still to come back with one bit flipped (a bad read, transient). */
    private badReads = 0
    /** Write enables still to be ignored (so programs and erases fail); -1: all, for good. */
    private refusedWrites = 0

    // ---- fault hooks
    /** Called when a program or erase starts (1-based count of both); it may call `powerCut`.
     * Under the fast face, set it with `watchOperations` while an operation may be under way
     * (a hook set directly then applies from the next operation on). */
    onOperation: ((kind: NorOpKind, index: number, addr: number) => void) | null = null
    /** Set by cutAt: cuts power at its operation. */
    private cutHook: ((index: number) => void) | null = null

    constructor(clock: Clock, opts: SpiNorChipOptions) {
        if (opts.capacity <= 0 || opts.capacity % NOR_SECTOR_SIZE !== 0) throw new Error("SpiNorChip: capacity must be a multiple of 4096")
        this.clock = clock
        this.cap = opts.capacity
        for (let s = 0; s < opts.capacity / NOR_SECTOR_SIZE; s++) {
            this.sectors.push(null)
            this.ffLo.push(0)
            this.ffHi.push(NOR_SECTOR_SIZE)
            this.sectorEraseCounts.push(0)
        }
        this.hz = opts.clockHz !== undefined ? opts.clockHz : 8000000
        this.overheadMs = opts.transferOverheadMs !== undefined ? opts.transferOverheadMs : 0.002
        this.id = opts.jedecId ? opts.jedecId : [0xef, 0x40, 0x18]
        this.slabs = opts.slabs ? opts.slabs : null
        this.latch = Buffer.alloc(NOR_PAGE_SIZE)
        const self = this
        this.completeOp = () => self.finishOp()
    }

    capacity(): number {
        return this.cap
    }

    private slabs: ((n: number) => Buffer) | null

    /** A Buffer of n bytes for the fast face to cut its reads from (SpiNorChipOptions.slabs).
     * @devsWhenUsed */
    slab(n: number): Buffer {
        return this.slabs ? this.slabs(n) : Buffer.alloc(n)
    }

    /** The three JEDEC ID bytes as one number. */
    jedecNumber(): number {
        return (this.id[0] << 16) | (this.id[1] << 8) | this.id[2]
    }

    /** The cells from `addr` on into `out` as they are now (an operation under way settled
     * first): no command, no count, no injected fault. The checker's look at a chip. */
    peekInto(addr: number, out: Buffer): void {
        this.settleFast()
        this.readInto(addr % this.cap, out)
    }

    clockHz(): number {
        return this.hz
    }

    isPowered(): boolean {
        return this.powered
    }

    isBusy(): boolean {
        this.settleFast()
        return this.busy
    }

    /** Program or erase commands started so far (the index the next one gets, minus one). */
    operations(): number {
        this.settleFast()
        return this.programs + this.erases
    }

    /** Wire time of a transfer of n bytes, in ms. */
    transferMs(n: number): number {
        return (n * 8 * 1000) / this.hz + this.overheadMs
    }

    transfer(tx: Buffer, rxLen: number, done: (rx: Buffer) => void): void {
        if (this.inFlight) throw new Error("SpiNorChip: overlapping transfer")
        this.inFlight = true
        const epoch = this.epoch
        const self = this
        this.clock.setTimer(this.transferMs(tx.length + rxLen), () => {
            // a transfer that straddles a power cut or a power-on completes with a dead bus
            if (epoch === self.epoch) self.inFlight = false
            const rx = Buffer.alloc(rxLen)
            if (epoch === self.epoch) self.execute(tx, rx)
            else for (let i = 0; i < rxLen; i++) rx[i] = 0xff
            done(rx)
        })
    }

    /**
     * A handle on this chip for one boot of a board: when power is cut, the board's processor
     * dies with it, so the handle drops the completion of a transfer in flight and ignores later
     * calls. The next boot takes a new handle after `powerOn`.
     */
    boardBus(): SpiBus {
        return new BoardSpiHandle(this, this.epoch)
    }

    /**
     * The same boot's handle as a `Flash`: the JEDEC driver over `boardBus()`, in one event per
     * operation (FastNorFlash). `clock` is the board's clock; `opts` the driver's options.
     * @devsWhenUsed */
    boardFlash(clock: Clock, opts?: SpiNorFlashOptions): FastNorFlash {
        return new FastNorFlash(this, clock, this.epoch, opts ? opts : {})
    }

    /** The power epoch (bumped by every cut and power-on). */
    powerEpoch(): number {
        return this.epoch
    }

    // ---- timing faults

    /** Program and erase times: typical, maximum, or drawn between them from `prng`.
     * @devsWhenUsed */
    setSlow(mode: SlowMode, prng: Prng | null): void {
        this.slow = mode
        this.slowPrng = prng
    }

    private busyMs(typ: number, max: number): number {
        if (this.slow === SlowMode.Max) return max
        if (this.slow === SlowMode.Random && this.slowPrng) return typ + this.slowPrng.float() * (max - typ)
        return typ
    }

    // ---- power

    /**
     * Cuts power now. A program in progress leaves a subset of its 1→0 changes on the cells and
     * an erase in progress leaves its sector with arbitrary contents (`mode`, drawn from `prng`
     * when `Any`); neither completes. Until `powerOn`, the chip answers 0xFF and ignores commands.
     * @devsWhenUsed */
    powerCut(prng: Prng, mode: PartialMode = PartialMode.Any): void {
        this.settleFast()
        const info = this.lastCut
        info.kind = 0
        info.addr = -1
        info.changed = 0
        info.mode = PartialMode.Nothing
        info.suspended = this.sus
        let m = mode
        if (m === PartialMode.Any) if (this.busy || this.sus) m = (1 + prng.int(4)) as PartialMode
        if (this.busy) {
            info.kind = this.opKind
            info.addr = this.opAddr
            info.mode = m
            if (this.opKind === NorOpKind.Program) info.changed = this.partialProgram(prng, m)
            else info.changed = this.partialErases(prng, m, this.opAddr, this.opSize)
            if (this.busyTimer) this.clock.clearTimer(this.busyTimer)
            this.busyTimer = null
        }
        // a suspended erase is cut too (its sector, as an erase cut while running); while it
        // stops (tSUS) it is the operation running above
        if (this.sus)
            if (!this.busy || this.opKind !== NorOpKind.Erase) {
                info.changed += this.partialErases(prng, m, this.susAddr, this.susSize)
                if (!this.busy) {
                    info.kind = NorOpKind.Erase
                    info.addr = this.susAddr
                    info.mode = m
                }
            }
        this.sus = false
        this.stopping = false
        this.dropFast()
        this.busy = false
        this.wel = false
        this.powered = false
        this.inFlight = false
        this.epoch++
        this.powerCuts++
        this.lastCutMs = this.clock.millis()
    }

    /** Restores power (optionally on a new clock, for a harness that restarts its kernel). */
    powerOn(clock?: Clock): void {
        if (clock) this.clock = clock
        this.powered = true
        this.busy = false
        this.sus = false
        this.stopping = false
        this.wel = false
        this.inFlight = false
        this.epoch++
    }

    // ---- faults at rest (the simulator's rot and remotefail classes)

    /** Flips one bit of the cells at addr: a bit that changed at rest.
     * @devsWhenUsed */
    flipBit(addr: number, bit: number): void {
        const s = Math.floor(addr / NOR_SECTOR_SIZE)
        this.cells(s)[addr % NOR_SECTOR_SIZE] ^= 1 << (bit & 7)
        this.used(s, addr % NOR_SECTOR_SIZE, (addr % NOR_SECTOR_SIZE) + 1)
    }

    /** The next `n` read commands each return one bit flipped (the cells stay as they are).
     * @devsWhenUsed */
    failReads(n: number): void {
        this.badReads += n
    }

    /** The next `n` write enables are ignored, so programs and erases fail (-1: for good; 0:
     * they work again).
     * @devsWhenUsed */
    failWrites(n: number): void {
        this.refusedWrites = n
    }

    // ---- image access for tests and digests

    /** The byte at addr. */
    peek(addr: number): number {
        this.settleFast()
        const b = this.sectors[Math.floor(addr / NOR_SECTOR_SIZE)]
        return b ? b[addr % NOR_SECTOR_SIZE] : 0xff
    }

    /** Sets the byte at addr, bypassing the NOR rules (for tests that corrupt the image). */
    poke(addr: number, v: number): void {
        this.settleFast()
        const s = Math.floor(addr / NOR_SECTOR_SIZE)
        this.cells(s)[addr % NOR_SECTOR_SIZE] = v & 0xff
        this.used(s, addr % NOR_SECTOR_SIZE, (addr % NOR_SECTOR_SIZE) + 1)
    }

    /** A copy of the whole memory in one Buffer (for Node tests: loops over every byte).
     * @devsWhenUsed */
    snapshot(): Buffer {
        const out = Buffer.alloc(this.cap)
        for (let a = 0; a < this.cap; a++) out[a] = this.peek(a)
        return out
    }

    /** Makes this chip's memory a copy of `other`'s (same capacity), e.g. to mount a power-cut
     * image elsewhere; sector by sector, so cheap enough to do at every cut.
     * @devsWhenUsed */
    copyMemory(other: SpiNorChip): void {
        if (other.cap !== this.cap) throw new Error("SpiNorChip: capacity differs")
        other.settleFast()
        this.settleFast()
        for (let s = 0; s < this.sectors.length; s++) {
            const b = other.sectors[s]
            this.sectors[s] = b ? copyOf(b, 0, b.length) : null
            this.ffLo[s] = other.ffLo[s]
            this.ffHi[s] = other.ffHi[s]
        }
    }

    /** Replaces the memory with `img` (same length; for Node tests: loops over every byte).
     * @devsWhenUsed */
    loadImage(img: Buffer): void {
        if (img.length !== this.cap) throw new Error("SpiNorChip: image size")
        this.settleFast()
        for (let s = 0; s < this.sectors.length; s++) this.sectors[s] = null
        for (let a = 0; a < this.cap; a++) if (img[a] !== 0xff) this.poke(a, img[a])
    }

    /** CRC-32C of the whole memory, for comparing images (for Node tests: one pass over all).
     * @devsWhenUsed */
    digest(): number {
        let c = 0
        const one = Buffer.alloc(1)
        for (let a = 0; a < this.cap; a++) {
            one[0] = this.peek(a)
            c = crc32cUpdate(c, one, 0, 1)
        }
        return c
    }

    /** Sector s's cell Buffer, allocated erased (0xFF) on first use. */
    private cells(s: number): Buffer {
        let b = this.sectors[s]
        if (!b) {
            b = Buffer.alloc(NOR_SECTOR_SIZE)
            fillFF(b, 0, NOR_SECTOR_SIZE)
            this.sectors[s] = b
            this.ffLo[s] = 0
            this.ffHi[s] = NOR_SECTOR_SIZE
        }
        return b
    }

    /** Sector s's cells from offset a to b (excluded) may no longer be 0xFF: the erased range
     * keeps the larger of its parts outside them. */
    private used(s: number, a: number, b: number): void {
        const lo = this.ffLo[s]
        const hi = this.ffHi[s]
        if (b <= lo || a >= hi) return
        if (a - lo >= hi - b) this.ffHi[s] = a > lo ? a : lo
        else this.ffLo[s] = b < hi ? b : hi
    }

    // ---- command execution (at chip-select rise)

    private execute(tx: Buffer, rx: Buffer): void {
        this.transfers++
        // what every byte clocked in answers: 0xFF for nothing (an ignored command)
        const cmd = tx.length > 0 ? tx[0] : -1
        if (!this.powered || cmd < 0) return fillWith(rx, 0xff)
        if (this.busy && cmd !== NorCmd.ReadStatus1 && cmd !== NorCmd.ReadStatus2 && cmd !== NorCmd.Suspend) {
            this.ignoredWhileBusy++
            return fillWith(rx, 0xff)
        }
        switch (cmd) {
            case NorCmd.ReadStatus1:
                return fillWith(rx, (this.busy ? NOR_STATUS_BUSY : 0) | (this.wel ? NOR_STATUS_WEL : 0))
            case NorCmd.ReadStatus2:
                return fillWith(rx, this.sus ? NOR_STATUS2_SUS : 0)
            case NorCmd.Suspend:
                // ignored unless an erase runs (the datasheet's rule; not counted as malformed)
                if (this.busy && !this.sus && this.opKind === NorOpKind.Erase) this.suspendErase(this.clock.millis())
                return
            case NorCmd.Resume:
                if (this.sus) this.resumeErase(this.clock.millis())
                return
            case NorCmd.JedecId:
                for (let i = 0; i < rx.length; i++) rx[i] = i < this.id.length ? this.id[i] : 0xff
                return
            case NorCmd.WriteEnable:
                // a chip whose program and erase fail (worn out, or failing for now) never
                // sets WEL: the driver's check after WREN sees it
                if (this.refusedWrites !== 0) {
                    if (this.refusedWrites > 0) this.refusedWrites--
                    return
                }
                this.wel = true
                return
            case NorCmd.WriteDisable:
                this.wel = false
                return
            case NorCmd.Read: {
                if (tx.length < 4) break
                this.readInto(this.addrOf(tx) % this.cap, rx)
                this.reads++
                this.bytesRead += rx.length
                if (this.badReads > 0 && rx.length > 0) {
                    this.badReads--
                    rx[(this.reads * 7) % rx.length] ^= 1 << (this.reads & 7)
                }
                return
            }
            case NorCmd.PageProgram:
                if (tx.length < 5 || !this.wel) break
                // not in the sector of a suspended erase
                if (this.sus && Math.floor((this.addrOf(tx) % this.cap) / this.susSize) === this.susAddr / this.susSize) break
                this.startProgram(tx)
                return
            case NorCmd.SectorErase:
                if (tx.length < 4 || !this.wel || this.sus) break
                this.startErase(tx, NOR_SECTOR_SIZE)
                return
            case NorCmd.BlockErase:
                if (tx.length < 4 || !this.wel || this.sus) break
                this.startErase(tx, NOR_BLOCK_SIZE)
                return
        }
        this.ignoredCommands++
        fillWith(rx, 0xff)
    }

    /** The cells from `a` on into `out` (the address wraps at the capacity). */
    private readInto(a: number, out: Buffer): void {
        const cap = this.cap
        let at = 0
        while (at < out.length) {
            // the part of the read in one sector (and before the wrap)
            const off = a % NOR_SECTOR_SIZE
            let n = NOR_SECTOR_SIZE - off
            if (n > out.length - at) n = out.length - at
            if (n > cap - a) n = cap - a
            const sec = this.sectors[Math.floor(a / NOR_SECTOR_SIZE)]
            if (sec) out.set(sec.slice(off, off + n), at)
            else fillFF(out, at, n)
            at += n
            a = a + n === cap ? 0 : a + n
        }
    }

    private addrOf(tx: Buffer): number {
        return (tx[1] << 16) | (tx[2] << 8) | tx[3]
    }

    private startProgram(tx: Buffer): void {
        const addr = this.addrOf(tx) % this.cap
        const base = addr - (addr % NOR_PAGE_SIZE)
        const n = tx.length - 4
        // the page buffer wraps: byte i goes to offset (start + i) mod 256, so of more than 256
        // bytes only the last 256 count, starting at offset (start + n - 256) mod 256
        const kept = n < NOR_PAGE_SIZE ? n : NOR_PAGE_SIZE
        this.latchStart = (addr - base + n - kept) % NOR_PAGE_SIZE
        this.latchLen = kept
        for (let i = 0; i < kept; i++) this.latch[i] = tx[4 + n - kept + i]
        this.programs++
        this.bytesProgrammed += n
        this.begin(NorOpKind.Program, base, this.busyMs(norProgramTypMs(kept), norProgramMaxMs(kept)))
    }

    private startErase(tx: Buffer, size: number): void {
        const addr = this.addrOf(tx) % this.cap
        const base = addr - (addr % size)
        this.erases++
        this.countErases(base, size)
        this.opSize = size
        if (size === NOR_BLOCK_SIZE) this.begin(NorOpKind.Erase, base, this.busyMs(NOR_BLOCK_ERASE_TYP_MS, NOR_BLOCK_ERASE_MAX_MS))
        else this.begin(NorOpKind.Erase, base, this.busyMs(NOR_ERASE_TYP_MS, NOR_ERASE_MAX_MS))
    }

    /** One more erase of each sector from base for size bytes. */
    private countErases(base: number, size: number): void {
        for (let a = base; a < base + size; a += NOR_SECTOR_SIZE) this.sectorEraseCounts[a / NOR_SECTOR_SIZE]++
    }

    /** Suspend at `atMs` (the command's chip-select rise) of the erase running: SUS at once,
     * stopped (BUSY clear) tSUS later; an erase that ends before then ends. */
    private suspendErase(atMs: number): void {
        const left = this.opEndMs - (atMs + NOR_SUSPEND_MS)
        if (left <= 0) return
        this.suspends++
        this.sus = true
        this.susAddr = this.opAddr
        this.susSize = this.opSize
        this.susLeftMs = left
        if (this.busyTimer) this.clock.clearTimer(this.busyTimer)
        this.opEndMs = atMs + NOR_SUSPEND_MS
        this.stopping = true
        this.busyTimer = this.clock.setTimer(NOR_SUSPEND_MS, this.completeOp)
    }

    /** Resume at `atMs`: the suspended erase runs for what it had left. */
    private resumeErase(atMs: number): void {
        this.sus = false
        this.busy = true
        this.opKind = NorOpKind.Erase
        this.opAddr = this.susAddr
        this.opSize = this.susSize
        this.opEndMs = atMs + this.susLeftMs
        this.busyTimer = this.clock.setTimer(this.susLeftMs, this.completeOp)
    }

    private begin(kind: NorOpKind, addr: number, ms: number): void {
        this.busy = true
        this.opKind = kind
        this.opAddr = addr
        this.opEndMs = this.clock.millis() + ms
        this.busyTimer = this.clock.setTimer(ms, this.completeOp)
        const index = this.programs + this.erases
        if (this.onOperation) this.onOperation(kind, index, addr)
        if (this.cutHook) this.cutHook(index)
    }

    /**
     * Cuts power during the program or erase with this 1-based index (0: no cut), in `mode`
     * (the power-loss tests; an image that never cuts power leaves it out).
     * @devsWhenUsed */
    cutAt(index: number, prng: Prng, mode: PartialMode): void {
        const self = this
        this.cutHook =
            index <= 0
                ? null
                : (i) => {
                      if (i === index && self.busy) self.powerCut(prng, mode)
                  }
        if (this.cutHook) this.armFastHooks()
    }

    /** Sets `onOperation` (null: none); a program or erase of the fast face that has not begun
     * yet is reported too.
     * @devsWhenUsed */
    watchOperations(hook: ((kind: NorOpKind, index: number, addr: number) => void) | null): void {
        this.onOperation = hook
        if (hook) this.armFastHooks()
    }

    // ---- the fast face (FastNorFlash): one event per operation

    /**
     * For FastNorFlash: a program of `data` at `addr`, or an erase of the sector at `addr`, as
     * the JEDEC driver runs it over `boardBus()` — WREN, a status read that finds WEL set, the
     * command, then status reads `firstPollMs` after the command and every `pollMs` after the
     * one before until BUSY is clear — in one event at the end of that last status read. Every
     * time is added up exactly as the command-level events would have added it, so the
     * completion comes at the same instant. Nothing happens at the command's chip-select rise:
     * the operation is begun (counted, BUSY, its slow time drawn) and ended (its cells written)
     * when something looks (the completion, a power cut, `peek`, `isBusy`, ...), by comparing
     * the time with the command's times; a harness hook (`onOperation`, `cutAt`) adds an event
     * at the chip-select rise. `done(statusReads)` at the completion.
     * @devsWhenUsed */
    fastWrite(
        kind: NorOpKind,
        addr: number,
        data: Buffer | null,
        firstPollMs: number,
        pollMs: number,
        fromMs: number,
        done: (statusReads: number) => void
    ): void {
        const f = this.fastState()
        // an erase begun before counts (and draws its time) first
        this.settleEraseBegin()
        const now = fromMs
        const n = data ? data.length : 0
        const t1 = now + this.transferMs(1)
        const t2 = t1 + this.transferMs(2)
        const start = t2 + this.transferMs(data ? n + 4 : 4)
        const a = addr % this.cap
        if (kind === NorOpKind.Program && data) {
            // the page latch as startProgram fills it
            const kept = n < NOR_PAGE_SIZE ? n : NOR_PAGE_SIZE
            this.latchStart = ((a % NOR_PAGE_SIZE) + n - kept) % NOR_PAGE_SIZE
            this.latchLen = kept
            this.latch.set(kept === n ? data : data.slice(n - kept, n), 0)
            f.typMs = norProgramTypMs(kept)
            f.maxMs = norProgramMaxMs(kept)
            f.addr = a - (a % NOR_PAGE_SIZE)
        } else {
            f.typMs = NOR_ERASE_TYP_MS
            f.maxMs = NOR_ERASE_MAX_MS
            f.addr = a - (a % NOR_SECTOR_SIZE)
        }
        const end = start + this.nextBusyMs(f)
        const statusMs = this.transferMs(2)
        let at = start + firstPollMs + statusMs
        let reads = 2
        while (end > at) {
            at = at + pollMs + statusMs
            reads++
        }
        f.kind = kind
        // (an erase's: its bytes)
        f.len = data ? n : NOR_SECTOR_SIZE
        f.startMs = start
        f.endMs = end
        f.begun = false
        const self = this
        f.timer = setTimerAt(this.clock, at, () => {
            f.timer = null
            // an erase that ended before this began is settled first
            self.settleFast()
            if (!f.begun) self.fastBegin(f)
            if (self.busy) self.finishOp()
            f.kind = 0
            self.transfers += reads - 1
            done(reads)
        })
        if (this.onOperation || this.cutHook) this.armFastHooks()
    }

    /** For FastNorFlash: `then` at `atMs` (the end of a read or an ID read), unless power is
     * cut before.
     * @devsWhenUsed */
    fastLater(atMs: number, then: () => void): void {
        const f = this.fastState()
        f.timer = setTimerAt(this.clock, atMs, () => {
            f.timer = null
            then()
        })
    }

    /** The fast face's state, idle (one operation at a time, and none of the command level).
     * @devsWhenUsed */
    private fastState(): FastState {
        if (!this.fast) this.fast = new FastState()
        if (this.inFlight || this.fast.timer) throw new Error("SpiNorChip: overlapping transfer")
        return this.fast
    }

    /** For FastNorFlash: what `transfers` 0x03 commands read from `addr` on (0xFF while
     * unpowered), counted as they would be.
     * @devsWhenUsed */
    fastRead(addr: number, out: Buffer, transfers: number, chunk: number): void {
        if (this.powered) this.readInto(addr % this.cap, out)
        else fillFF(out, 0, out.length)
        this.transfers += transfers
        if (this.powered) {
            this.reads += transfers
            this.bytesRead += out.length
            // `failReads`: each 0x03 command of the read flips one bit of its chunk, as the
            // command level does
            for (let i = 0; i < transfers && this.badReads > 0; i++) {
                this.badReads--
                const at = i * chunk
                const len = (i === transfers - 1 ? out.length : at + chunk) - at
                const r = this.reads - transfers + i + 1
                if (len > 0) out[at + ((r * 7) % len)] ^= 1 << (r & 7)
            }
        }
    }

    /** For FastNorFlash: how many of up to `attempts` write enables in a row the chip ignores
     * (`failWrites`), each counted as the WREN and the status read that finds WEL clear.
     * @devsWhenUsed */
    fastRefusals(attempts: number): number {
        let n = 0
        while (n < attempts && this.refusedWrites !== 0) {
            if (this.refusedWrites > 0) this.refusedWrites--
            n++
        }
        this.transfers += 2 * n
        return n
    }

    /** For FastNorFlash: one more SPI transfer (a status read) in the counters.
     * @devsWhenUsed */
    countTransfer(): void {
        this.transfers++
    }

    /** For FastNorFlash: byte i of the answer to 0x9F.
     * @devsWhenUsed */
    fastIdByte(i: number): number {
        if (i === 0) this.transfers++
        return this.powered && i < this.id.length ? this.id[i] : 0xff
    }

    /** The busy time the next program or erase will draw, without drawing it.
     * @devsWhenUsed */
    private nextBusyMs(f: FastState): number {
        if (this.slow === SlowMode.Random && this.slowPrng) {
            if (!f.lookahead) f.lookahead = new Prng(0)
            f.lookahead.copyFrom(this.slowPrng)
            return f.typMs + f.lookahead.float() * (f.maxMs - f.typMs)
        }
        return this.busyMs(f.typMs, f.maxMs)
    }

    /** The fast operation's command has gone out: counted and BUSY, as startProgram and
     * startErase do.
     * @devsWhenUsed */
    private fastBegin(f: FastState): void {
        f.begun = true
        this.transfers += 3
        if (f.kind === NorOpKind.Program) {
            this.programs++
            this.bytesProgrammed += f.len
        } else {
            this.erases++
            this.countErases(f.addr, f.len)
            this.opSize = f.len
        }
        // the draw nextBusyMs looked ahead at
        this.busyMs(f.typMs, f.maxMs)
        this.busy = true
        this.wel = true
        this.opKind = f.kind
        this.opAddr = f.addr
        this.busyTimer = null
    }

    /** The fast face's part (FastNorFlash, below): settles (0), arms the hooks of (1) or drops
     * (2) its operations; null until a fast face is made, so that an image without one (the VM
     * self-test) holds none of it. */
    private fastHook: ((what: number) => void) | null = null

    /** For FastNorFlash: its part of the chip from now on.
     * @devsWhenUsed */
    fastOn(): void {
        const self = this
        this.fastHook = (what) => {
            if (what === 0) self.settleNow()
            else if (what === 1) self.armNow()
            else self.dropNow()
        }
    }

    private settleFast(): void {
        if (this.fastHook) this.fastHook(0)
    }

    private armFastHooks(): void {
        if (this.fastHook) this.fastHook(1)
    }

    private dropFast(): void {
        if (this.fastHook) this.fastHook(2)
    }

    /**
     * Brings the fast operation up to now: begun once its command's chip select has risen,
     * ended once the chip is ready. A look at the very instant of either edge finds it as a
     * command-level event set before the operation began would: not begun yet, still busy.
     * @devsWhenUsed
     */
    private settleNow(): void {
        const now = this.clock.millis()
        // the erase first: a program or read of the fast face begins only while it is suspended
        const e = this.fastEr
        if (e && e.kind !== 0) {
            if (!e.begun && now > e.startMs) this.fastBegin(e)
            if (e.begun && now > e.endMs) this.endFastErase()
        }
        const f = this.fast
        if (!f || f.kind === 0) return
        if (!f.begun && now > f.startMs) this.fastBegin(f)
        if (f.begun && this.busy && now > f.endMs) this.finishOp()
    }

    /** The fast face's erase, begun at its command, is counted (and draws its time) before a
     * later operation looks ahead at its own draw.
     * @devsWhenUsed */
    private settleEraseBegin(): void {
        const e = this.fastEr
        if (e && e.kind !== 0 && !e.begun) this.fastBegin(e)
    }

    /** The fast face's erase ends (running: its cells are erased).
     * @devsWhenUsed */
    private endFastErase(): void {
        const e = this.fastEr as FastState
        if (this.busy && this.opKind === NorOpKind.Erase) this.finishOp()
        e.kind = 0
    }

    /** Events at the fast operations' chip-select rises, for the hooks (once each).
     * @devsWhenUsed */
    private armNow(): void {
        this.armHook(this.fastEr)
        this.armHook(this.fast)
    }

    /** @devsWhenUsed */
    private armHook(f: FastState | null): void {
        if (!f || f.kind === 0 || f.begun || f.hookTimer) return
        const self = this
        f.hookTimer = setTimerAt(this.clock, f.startMs, () => {
            f.hookTimer = null
            self.settleFast()
            if (f.begun) return
            self.fastBegin(f)
            const index = self.programs + self.erases
            if (self.onOperation) self.onOperation(self.opKind, index, self.opAddr)
            if (self.cutHook) self.cutHook(index)
        })
    }

    /** Power is gone: the fast face's events with it.
     * @devsWhenUsed */
    private dropNow(): void {
        this.dropState(this.fast)
        this.dropState(this.fastEr)
    }

    /** @devsWhenUsed */
    private dropState(f: FastState | null): void {
        if (!f) return
        if (f.timer) this.clock.clearTimer(f.timer)
        if (f.hookTimer) this.clock.clearTimer(f.hookTimer)
        f.timer = null
        f.hookTimer = null
        f.kind = 0
    }

    /**
     * For FastNorFlash: an erase of the `size` bytes (a sector, or a block) that hold `addr`,
     * whose command's chip select rises at `startMs` (begun then: counted, BUSY, its time
     * drawn), which reads and programs may suspend. Returns when it ends if nothing suspends
     * it.
     * @devsWhenUsed */
    fastEraseStart(addr: number, size: number, startMs: number): number {
        if (!this.fastEr) this.fastEr = new FastState()
        this.settleFast()
        const e = this.fastEr
        e.kind = NorOpKind.Erase
        e.addr = (addr % this.cap) - (addr % size)
        e.len = size
        e.typMs = size === NOR_BLOCK_SIZE ? NOR_BLOCK_ERASE_TYP_MS : NOR_ERASE_TYP_MS
        e.maxMs = size === NOR_BLOCK_SIZE ? NOR_BLOCK_ERASE_MAX_MS : NOR_ERASE_MAX_MS
        e.startMs = startMs
        e.endMs = startMs + this.nextBusyMs(e)
        e.begun = false
        if (this.onOperation || this.cutHook) this.armFastHooks()
        return e.endMs
    }

    /** For FastNorFlash: the erase's busy time left when suspended (SUS), or when it ends if
     * it runs (Infinity while suspended).
     * @devsWhenUsed */
    fastEraseEndMs(): number {
        const e = this.fastEr
        if (!e || e.kind === 0) return -1
        if (this.sus) return Infinity
        return e.endMs
    }

    /** For FastNorFlash: the busy time a suspended erase has left.
     * @devsWhenUsed */
    fastEraseLeftMs(): number {
        return this.susLeftMs
    }

    /** For FastNorFlash, at `atMs`, tSUS after a Suspend's chip-select rise: the erase running
     * stops there (SUS, with what it has left), or it has ended by then.
     * @devsWhenUsed */
    fastEraseStop(atMs: number): void {
        this.settleFast()
        const e = this.fastEr
        if (!e || e.kind === 0) return
        if (e.endMs - atMs <= 0) {
            this.endFastErase()
            return
        }
        this.suspends++
        this.sus = true
        this.susAddr = e.addr
        this.susSize = e.len
        this.susLeftMs = e.endMs - atMs
        e.endMs = Infinity
        this.busy = false
    }

    /** For FastNorFlash, at `atMs`, a Resume's chip-select rise: the suspended erase runs on.
     * @devsWhenUsed */
    fastEraseResume(atMs: number): void {
        this.settleFast()
        const e = this.fastEr
        if (!e || e.kind === 0 || !this.sus) return
        this.sus = false
        this.busy = true
        this.opKind = NorOpKind.Erase
        this.opAddr = e.addr
        this.opSize = e.len
        e.endMs = atMs + this.susLeftMs
    }

    /** For FastNorFlash: the erase's completion poll found it ended.
     * @devsWhenUsed */
    fastEraseDone(): void {
        this.settleFast()
        const e = this.fastEr
        if (e && e.kind !== 0) this.endFastErase()
    }

    private finishOp(): void {
        if (!this.busy) return
        if (this.stopping) {
            // a suspended erase has stopped: its sector as it is
            this.stopping = false
            this.busy = false
            this.busyTimer = null
            return
        }
        if (this.opKind === NorOpKind.Program) this.programAll()
        else for (let a = this.opAddr; a < this.opAddr + this.opSize; a += NOR_SECTOR_SIZE) this.eraseAll(a)
        this.busy = false
        this.wel = false
        this.busyTimer = null
    }

    /** Applies the latched program to the page whole (a program that ends). Apart from
     * partialProgram, which only a power cut needs: the VM self-test's image carries neither it
     * nor partialErase.
     * @devsWhenUsed */
    private programAll(): void {
        const s = Math.floor(this.opAddr / NOR_SECTOR_SIZE)
        const sec = this.cells(s)
        const base = this.opAddr % NOR_SECTOR_SIZE
        const from = base + this.latchStart
        const n = this.latchLen
        if (this.latchStart + n <= NOR_PAGE_SIZE)
            if (from >= this.ffLo[s])
                if (from + n <= this.ffHi[s]) {
                    // erased cells (old & new = new), and no wrap in the page: one copy
                    sec.set(n === NOR_PAGE_SIZE ? this.latch : this.latch.slice(0, n), from)
                    this.used(s, from, from + n)
                    return
                }
        this.used(s, base, base + NOR_PAGE_SIZE)
        let off = this.latchStart
        for (let i = 0; i < n; i++) {
            // a program clears the bits its data has at 0
            sec[base + off] = sec[base + off] & this.latch[i]
            off = off + 1 === NOR_PAGE_SIZE ? 0 : off + 1
        }
    }

    /** Applies an erase to the sector whole: the cells back to 0xFF in a few copies, no loop over
     * 4 KB (the VM's loop budget), and only those before the erased part; the Buffer stays for
     * the next program.
     * @devsWhenUsed */
    private eraseAll(addr: number): void {
        const s = Math.floor(addr / NOR_SECTOR_SIZE)
        const was = this.sectors[s]
        if (was) {
            fillFF(was, 0, this.ffLo[s])
            fillFF(was, this.ffHi[s], NOR_SECTOR_SIZE - this.ffHi[s])
        }
        this.ffLo[s] = 0
        this.ffHi[s] = NOR_SECTOR_SIZE
    }

    /** Applies the latched program to the page, fully or in part (a power cut); returns bits
     * cleared (counted only with a prng).
     * @devsWhenUsed */
    private partialProgram(prng: Prng | null, mode: PartialMode): number {
        if (mode === PartialMode.Nothing) return 0
        if (!prng)
            if (mode === PartialMode.Everything) {
                this.programAll()
                return 0
            }
        const s = Math.floor(this.opAddr / NOR_SECTOR_SIZE)
        const sec = this.cells(s)
        const base = this.opAddr % NOR_SECTOR_SIZE
        this.used(s, base, base + NOR_PAGE_SIZE)
        const cut = prng && mode === PartialMode.Prefix ? prng.int(this.latchLen + 1) : this.latchLen
        let changed = 0
        let off = this.latchStart
        for (let i = 0; i < this.latchLen; i++) {
            // the bits still 1 that the program clears
            const cur = sec[base + off]
            let clear = cur & ~this.latch[i] & 0xff
            if (i >= cut) clear = 0
            if (mode === PartialMode.RandomBits && prng) clear = clear & prng.next() & 0xff
            sec[base + off] = cur & ~clear & 0xff
            if (prng) for (let b = clear; b !== 0; b = b & (b - 1)) changed++
            off = off + 1 === NOR_PAGE_SIZE ? 0 : off + 1
        }
        return changed
    }

    /** Applies an erase to each sector of the `size` bytes from addr, fully or in part (each
     * drawn on its own); returns bytes changed.
     * @devsWhenUsed */
    private partialErases(prng: Prng | null, mode: PartialMode, addr: number, size: number): number {
        let changed = 0
        for (let a = addr; a < addr + size; a += NOR_SECTOR_SIZE) changed += this.partialErase(prng, mode, a)
        return changed
    }

    /** Applies an erase to the sector, fully or in part; returns bytes changed.
     * @devsWhenUsed */
    private partialErase(prng: Prng | null, mode: PartialMode, addr: number): number {
        const s = Math.floor(addr / NOR_SECTOR_SIZE)
        if (mode === PartialMode.Nothing) return 0
        const was = this.sectors[s]
        if (mode === PartialMode.Everything || !was) {
            this.eraseAll(addr)
            return was ? NOR_SECTOR_SIZE : 0
        }
        const sec = was
        // an erase only sets bits, so what was erased stays so; the range is left empty anyway
        this.ffLo[s] = NOR_SECTOR_SIZE
        this.ffHi[s] = NOR_SECTOR_SIZE
        const cut = prng && mode === PartialMode.Prefix ? prng.int(NOR_SECTOR_SIZE + 1) : NOR_SECTOR_SIZE
        let changed = 0
        for (let i = 0; i < NOR_SECTOR_SIZE; i++) {
            const old = sec[i]
            let v = 0xff
            if (mode === PartialMode.Prefix && i >= cut) v = old
            if (mode === PartialMode.RandomBits && prng) {
                const r = prng.int(3)
                // erased, left alone, or some of its bits raised (a weakly erased cell)
                v = r === 0 ? 0xff : r === 1 ? old : (old | prng.next()) & 0xff
            }
            if (v !== old) changed++
            sec[i] = v
        }
        return changed
    }
}

/**
 * One boot's view of the chip: dead after the next power cut (see `SpiNorChip.boardBus`).
 * @devsWhenUsed
 */
class BoardSpiHandle implements SpiBus {
    constructor(
        private chip: SpiNorChip,
        private epoch: number
    ) {}

    transfer(tx: Buffer, rxLen: number, done: (rx: Buffer) => void): void {
        if (this.chip.powerEpoch() !== this.epoch) return
        const self = this
        this.chip.transfer(tx, rxLen, (rx) => {
            if (self.chip.powerEpoch() === self.epoch) done(rx)
        })
    }

    clockHz(): number {
        return this.chip.clockHz()
    }
}

const EMPTY = Buffer.alloc(0)

/** Every byte of `b` set to v (short answers: a few bytes). */
function fillWith(b: Buffer, v: number): void {
    for (let i = 0; i < b.length; i++) b[i] = v
}

/** The size of the Buffers the fast face's reads are cut from (the VM refuses 64 KB ones). */
const SLAB_BYTES = 16384

/** Sets n bytes of `b` from `at` on to 0xFF: one byte, then copies that double what is set
 * (a few native copies instead of a loop over every byte). */
function fillFF(b: Buffer, at: number, n: number): void {
    if (n <= 0) return
    if (!erasedCells) {
        const e = Buffer.alloc(NOR_SECTOR_SIZE)
        e[0] = 0xff
        for (let k = 1; k < NOR_SECTOR_SIZE; k += k) e.set(e.slice(0, k), k)
        erasedCells = e
    }
    const src = erasedCells
    while (n > 0) {
        const m = n < NOR_SECTOR_SIZE ? n : NOR_SECTOR_SIZE
        b.set(m === NOR_SECTOR_SIZE ? src : src.slice(0, m), at)
        at += m
        n -= m
    }
}

/** One sector of erased cells (0xFF), made once: the source of every 0xFF fill, one copy. */
let erasedCells: Buffer | null = null

/**
 * The fast face's operation under way: 0 (none) or the NorOpKind of a program or an erase, its
 * data bytes and times (chip select rises on its command at startMs: then it is begun, counted
 * and BUSY; the chip is ready again at endMs: then its cells change), its events.
 * @devsWhenUsed
 */
class FastState {
    kind = 0
    addr = 0
    len = 0
    startMs = 0
    endMs = 0
    begun = false
    typMs = 0
    maxMs = 0
    timer: Timer | null = null
    hookTimer: Timer | null = null
    lookahead: Prng | null = null
}

/** @devsWhenUsed */
class PollPoint {
    rxMs = 0
    polls = 0
}

/**
 * A board's flash as the JEDEC driver (`SpiNorFlash`, hal/spiNor.ts) over the chip's
 * `boardBus()` gives it, in one event per operation instead of one per SPI command and status
 * poll: the same checks and errors, the same completion times (see `SpiNorChip.fastWrite`),
 * the same bytes, the same counters on the chip, and the same power cuts (an operation cut
 * before its command's chip-select rise changes nothing, one cut while the chip is busy lands
 * in part as the chip model's `powerCut` draws it, one cut later has landed in full; the
 * completion never comes). Like the board's bus handle, it dies with the next power cut. The
 * driver's timeout path never runs over this chip model (its busy times stay within the
 * datasheet maximum), so this face has none; its refused writes (`failWrites`: WREN ignored,
 * NoDevice after the driver's attempts, a ready check before the next operation) and flipped
 * reads (`failReads`) are the driver's.
 * @devsWhenUsed
 */
export class FastNorFlash implements Flash {
    private geo: FlashGeometry
    private readChunk: number
    private programPollMs: number
    private erasePollMs: number
    private id = -1
    private busy = false
    /** A write failed: the next operation begins with a ready check, as the driver's does. */
    private suspect = false
    private slab: Buffer = EMPTY
    private slabAt = 0
    private erAddr = 0
    /** The erase's bytes: a sector, or a block. */
    private erSize = NOR_SECTOR_SIZE
    private pt = new PollPoint()
    /** An erase's command failing (NoDevice), and a call waiting for its command. */
    private erFailing = false
    private waiting: (() => void) | null = null
    /** Status polls the driver would have sent (its WEL checks included), as SpiNorFlash
     * counts them; erases suspended, as it counts them. */
    polls = 0
    suspends = 0
    // ---- the erase under way behind reads and programs, on SpiNorFlash's timeline
    private erDone: ((err: FlashError) => void) | null = null
    /** Its command's chip-select rise: before it the driver is busy with the erase. */
    private erCmdMs = 0
    /** The run under way: when it began (the command, or a Resume) and its first poll's delay. */
    private erSegMs = 0
    private erFirstMs = 0
    private erResumedAt = 0
    /** Its completion poll (the first to find the chip ready). */
    private erTimer: Timer | null = null
    /** Suspended for the operation under way (or the one its done began). */
    private erSuspended = false
    /** A Resume in flight: its chip-select rise (-1: none). */
    private erResumeAt = -1
    /** A read or program came while the Resume was in flight: it suspends the erase again. */
    private erWaiting = false
    /** The erase ended before a suspend took: done once the operation under way is done. */
    private erCompleted = false

    constructor(
        private chip: SpiNorChip,
        private clock: Clock,
        private epoch: number,
        private opts: SpiNorFlashOptions
    ) {
        this.geo = { pageSize: NOR_PAGE_SIZE, sectorSize: NOR_SECTOR_SIZE, capacity: opts.capacity !== undefined ? opts.capacity : 0 }
        this.readChunk = opts.readChunk !== undefined && opts.readChunk > 0 ? opts.readChunk : 256
        this.programPollMs = opts.programPollMs !== undefined ? opts.programPollMs : 0.05
        this.erasePollMs = opts.erasePollMs !== undefined ? opts.erasePollMs : 1
        chip.fastOn()
    }

    /** Probes the chip: done(None, id) with the 24-bit JEDEC ID, or done(NoDevice, id). */
    init(done: (err: FlashError, jedecId: number) => void): void {
        if (this.busy) {
            this.clock.setTimer(0, () => done(FlashError.Busy, -1))
            return
        }
        if (this.dead()) return
        this.busy = true
        const self = this
        const chip = this.chip
        chip.fastLater(this.clock.millis() + chip.transferMs(4), () => {
            self.busy = false
            const b2 = chip.fastIdByte(2)
            const id = (chip.fastIdByte(0) << 16) | (chip.fastIdByte(1) << 8) | b2
            let err = FlashError.None
            if (id === 0xffffff || id === 0) err = FlashError.NoDevice
            else if (self.opts.capacity === undefined) {
                if (b2 >= 16 && b2 <= 28) self.geo.capacity = Math.pow(2, b2)
                else err = FlashError.NoDevice
            }
            if (err === FlashError.None) self.id = id
            done(err, id)
        })
    }

    /** The JEDEC ID read at init (-1 before a successful init). */
    jedecId(): number {
        return this.id
    }

    geometry(): FlashGeometry {
        return this.geo
    }

    suspendsErase(): boolean {
        return true
    }

    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void {
        if (this.deferred(() => this.read(addr, len, done))) return
        const err = this.check(addr, len)
        if (err !== FlashError.None) {
            this.clock.setTimer(0, () => done(err, EMPTY))
            return
        }
        this.busy = true
        if (this.dead()) return
        // one 0x03 command per chunk, back to back (after a status read if an earlier write
        // failed, as the driver's ready check does), once an erase under way is suspended
        const chip = this.chip
        let at = this.afterReadyCheck(this.suspendErase())
        let off = 0
        let chunks = 0
        while (chunks === 0 || off < len) {
            const n = len - off < this.readChunk ? len - off : this.readChunk
            at = at + chip.transferMs(4 + n)
            off += n
            chunks++
        }
        const self = this
        chip.fastLater(at, () => {
            self.busy = false
            const data = self.fresh(len)
            chip.fastRead(addr, data, chunks, self.readChunk)
            done(FlashError.None, data)
            self.afterOp()
        })
    }

    /**
     * A Buffer of n bytes that nothing else holds, as the driver's reads give: a part of a
     * larger Buffer never handed out before (on Node a view, so that the mount's many 4 KB
     * reads allocate and clear memory a quarter as often), or a Buffer of its own.
     */
    private fresh(n: number): Buffer {
        if (n > SLAB_BYTES / 4) return Buffer.alloc(n)
        if (this.slabAt + n > this.slab.length) {
            this.slab = this.chip.slab(SLAB_BYTES)
            this.slabAt = 0
        }
        const b = this.slab.slice(this.slabAt, this.slabAt + n)
        this.slabAt += n
        return b
    }

    program(addr: number, data: Buffer, done: (err: FlashError) => void): void {
        if (this.deferred(() => this.program(addr, data, done))) return
        let err = this.check(addr, data.length)
        if (err === FlashError.None && data.length > 0) {
            const page = this.geo.pageSize
            if (Math.floor(addr / page) !== Math.floor((addr + data.length - 1) / page)) err = FlashError.CrossesPage
        }
        if (err !== FlashError.None || data.length === 0) {
            this.clock.setTimer(0, () => done(err))
            return
        }
        this.write(NorOpKind.Program, addr, data, norProgramTypMs(data.length), this.programPollMs, done)
    }

    /**
     * As SpiNorFlash's: WREN, the WEL check and the command, then the erase runs behind (its
     * polls, first after the typical time, then every poll interval) while reads and programs
     * suspend it: each waits for the erase's poll or Resume in flight, sends Suspend no sooner
     * than tSUS after the last Resume, waits tSUS, reads SUS, runs, and sends Resume unless its
     * done began another operation. The erase's done comes at the poll that finds it ended, or,
     * when it had ended before a Suspend took, after the operation that came.
     */
    eraseSector(addr: number, done: (err: FlashError) => void): void {
        this.erase(addr, NOR_SECTOR_SIZE, done)
    }

    /** As eraseSector, of the 64 KB block that holds addr (D8h). */
    eraseBlock(addr: number, done: (err: FlashError) => void): void {
        this.erase(addr, NOR_BLOCK_SIZE, done)
    }

    private erase(addr: number, size: number, done: (err: FlashError) => void): void {
        let err = this.check(addr, 1)
        if (this.erDone) err = FlashError.Busy
        if (err !== FlashError.None) {
            this.clock.setTimer(0, () => done(err))
            return
        }
        // a call after the power was cut goes out to nothing and never ends, and the driver
        // stays busy with it
        this.busy = true
        if (this.dead()) return
        const chip = this.chip
        const self = this
        let at = this.afterReadyCheck(this.clock.millis())
        const refused = chip.fastRefusals(WREN_ATTEMPTS)
        for (let i = 0; i < refused; i++) at = at + chip.transferMs(1) + chip.transferMs(2)
        this.polls += refused
        this.busy = true
        if (refused >= WREN_ATTEMPTS) {
            this.erFailing = true
            chip.fastLater(at, () => {
                self.busy = false
                self.suspect = true
                self.erFailing = false
                done(FlashError.NoDevice)
                self.replay()
            })
            return
        }
        // WREN, the WEL check (a poll), the command
        const start = at + chip.transferMs(1) + chip.transferMs(2) + chip.transferMs(4)
        this.polls++
        this.busy = false
        this.erDone = done
        this.erCmdMs = start
        this.erSuspended = false
        this.erCompleted = false
        this.erWaiting = false
        this.erResumeAt = -1
        this.erResumedAt = -NOR_ERASE_MAX_MS
        const base = addr - (addr % size)
        this.erAddr = base
        this.erSize = size
        this.erRun(start, size === NOR_BLOCK_SIZE ? NOR_BLOCK_ERASE_TYP_MS : NOR_ERASE_TYP_MS, chip.fastEraseStart(base, size, start))
    }

    /**
     * A read or program called while an erase's command goes out (or fails) is made once it
     * has, as the driver does (one at a time; another is refused): true when `call` waits.
     */
    private deferred(call: () => void): boolean {
        if (this.waiting) return false
        const failing = this.erFailing
        // the command still going out, or cut off by the power (it never goes out)
        const going = this.erDone !== null && this.clock.millis() < this.erCmdMs
        if (!failing) if (!going) if (!(this.erDone !== null && this.dead() && this.chip.lastCutMs <= this.erCmdMs)) return false
        this.waiting = call
        if (going) {
            const self = this
            const epoch = this.epoch
            setTimerAt(this.clock, this.erCmdMs, () => {
                if (self.chip.powerEpoch() === epoch) self.replay()
            })
        }
        return true
    }

    private replay(): void {
        const call = this.waiting
        this.waiting = null
        if (call) call()
    }

    /** The erase runs from `segMs` (its command or a Resume), first poll after `firstMs`:
     * its completion poll, the first at or after `endMs`. */
    private erRun(segMs: number, firstMs: number, endMs: number): void {
        this.erSegMs = segMs
        this.erFirstMs = firstMs
        const p = this.pollAt(endMs)
        const self = this
        const epoch = this.epoch
        this.erTimer = setTimerAt(this.clock, p.rxMs, () => {
            self.erTimer = null
            if (self.chip.powerEpoch() !== epoch) return
            self.polls += p.polls
            self.chip.fastEraseDone()
            self.countTransfers(p.polls)
            self.endErase()
        })
    }

    /** The run's first status poll whose answer (at its chip-select rise) comes at or after
     * `untilMs` (the erase's end: its completion poll): when, and how many were sent. */
    private pollAt(untilMs: number): PollPoint {
        const sm = this.chip.transferMs(2)
        let rx = this.erSegMs + this.erFirstMs + sm
        let n = 1
        while (untilMs > rx) {
            rx = rx + this.erasePollMs + sm
            n++
        }
        const pt = this.pt
        pt.rxMs = rx
        pt.polls = n
        return pt
    }

    private countTransfers(n: number): void {
        for (let i = 0; i < n; i++) this.chip.countTransfer()
    }

    private endErase(): void {
        const done = this.erDone
        this.erDone = null
        if (done) done(FlashError.None)
    }

    /**
     * A read or program begins: when the erase under way is suspended for it (or has ended),
     * following the driver's steps; now when none is under way or it is suspended already.
     */
    private suspendErase(): number {
        const now = this.clock.millis()
        if (!this.erDone || this.erSuspended || this.erCompleted) return now
        const chip = this.chip
        const sm = chip.transferMs(2)
        let from = now
        let endMs = chip.fastEraseEndMs()
        if (this.erResumeAt >= 0) {
            // the Resume in flight: the suspend follows it (the erase runs on from it)
            this.erWaiting = true
            endMs = this.erResumeAt + chip.fastEraseLeftMs()
            from = this.erResumeAt + NOR_SUSPEND_MS
        } else {
            if (this.erTimer) this.clock.clearTimer(this.erTimer)
            this.erTimer = null
            // the polls sent so far; one in flight is waited for, and may find the erase ended
            let sent = 0
            let rx = this.erSegMs + this.erFirstMs + sm
            while (rx - sm <= now) {
                sent++
                if (rx > now) {
                    from = rx
                    break
                }
                rx = rx + this.erasePollMs + sm
            }
            this.polls += sent
            this.countTransfers(sent)
            if (sent > 0)
                if (from > now)
                    if (endMs <= from) {
                        // that poll finds it ended: done after this operation
                        this.erCompleted = true
                        return from
                    }
        }
        if (from < this.erResumedAt + NOR_SUSPEND_MS) from = this.erResumedAt + NOR_SUSPEND_MS
        // Suspend, tSUS, read SUS
        const a = from + chip.transferMs(1)
        const stop = a + NOR_SUSPEND_MS
        const b = stop + sm
        this.countTransfers(2)
        if (endMs - stop > 0) {
            this.erSuspended = true
            this.suspends++
        } else this.erCompleted = true
        const self = this
        const epoch = this.epoch
        setTimerAt(this.clock, stop, () => {
            if (self.chip.powerEpoch() === epoch) self.chip.fastEraseStop(stop)
        })
        return b
    }

    /** The operation's done has run: unless it began another, the erase suspended for it
     * resumes (the driver's Resume), or the one that ended meanwhile is done. */
    private afterOp(): void {
        if (this.busy || !this.erDone) return
        if (this.erCompleted) {
            this.erCompleted = false
            this.endErase()
            return
        }
        if (!this.erSuspended) return
        this.erSuspended = false
        const chip = this.chip
        const r = this.clock.millis() + chip.transferMs(1)
        this.erResumeAt = r
        chip.countTransfer()
        const self = this
        const epoch = this.epoch
        setTimerAt(this.clock, r, () => {
            if (self.chip.powerEpoch() !== epoch) return
            self.erResumeAt = -1
            self.erResumedAt = r
            self.chip.fastEraseResume(r)
            if (self.erWaiting) {
                // the operation that came meanwhile has its suspend from here
                self.erWaiting = false
                return
            }
            self.erRun(r, self.erasePollMs, self.chip.fastEraseEndMs())
        })
    }

    private write(kind: NorOpKind, addr: number, data: Buffer | null, firstPollMs: number, pollMs: number, done: (err: FlashError) => void): void {
        this.busy = true
        if (this.dead()) return
        const self = this
        const chip = this.chip
        let at = this.afterReadyCheck(this.suspendErase())
        // a chip that fails its writes never sets WEL: the driver tries WREN a few times, then
        // gives up with NoDevice and checks the chip is ready before its next operation
        const refused = chip.fastRefusals(WREN_ATTEMPTS)
        for (let i = 0; i < refused; i++) at = at + chip.transferMs(1) + chip.transferMs(2)
        this.polls += refused
        if (refused >= WREN_ATTEMPTS) {
            chip.fastLater(at, () => {
                self.busy = false
                self.suspect = true
                done(FlashError.NoDevice)
                self.afterOp()
            })
            return
        }
        chip.fastWrite(kind, addr, data, firstPollMs, pollMs, at, (statusReads) => {
            self.busy = false
            self.polls += statusReads
            done(FlashError.None)
            self.afterOp()
        })
    }

    /** When an operation begun at `atMs` sends its first command: after the driver's ready
     * check (one status read) if a write failed before. */
    private afterReadyCheck(atMs: number): number {
        if (!this.suspect) return atMs
        this.suspect = false
        this.polls++
        this.chip.countTransfer()
        return atMs + this.chip.transferMs(2)
    }

    /** The power was cut since this face was made: the board is gone, nothing answers. */
    private dead(): boolean {
        return this.chip.powerEpoch() !== this.epoch
    }

    private check(addr: number, len: number): FlashError {
        if (this.busy) return FlashError.Busy
        if (this.erDone) {
            // the erase's own command still going out (another call waits for it already), or
            // cut off by the power
            if (this.clock.millis() < this.erCmdMs) return FlashError.Busy
            if (this.dead()) if (this.chip.lastCutMs <= this.erCmdMs) return FlashError.Busy
        }
        if (this.id < 0) return FlashError.NoDevice
        if (!(addr >= 0) || !(len >= 0) || Math.floor(addr) !== addr || Math.floor(len) !== len) return FlashError.OutOfRange
        if (addr + len > this.geo.capacity || (len === 0 && addr >= this.geo.capacity)) return FlashError.OutOfRange
        // (after the range, as the driver checks)
        if (this.erDone) if (addr < this.erAddr + this.erSize) if (addr + len > this.erAddr) return FlashError.Busy
        return FlashError.None
    }
}
