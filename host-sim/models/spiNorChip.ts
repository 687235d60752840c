import { Clock, Timer } from "../../hal/clock"
import { SpiBus } from "../../hal/spi"
import {
    NorCmd,
    NOR_ERASE_MAX_MS,
    NOR_ERASE_TYP_MS,
    NOR_PAGE_SIZE,
    NOR_SECTOR_SIZE,
    NOR_STATUS_BUSY,
    NOR_STATUS_WEL,
    norProgramMaxMs,
    norProgramTypMs,
} from "../../hal/spiNor"
import { crc32cUpdate } from "../../firmware/codec/crc32c"
import { copyOf } from "../../firmware/codec/bytes"
import { Prng } from "../prng"

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
 * - 0x05 read status register 1: BUSY (bit 0), WEL (bit 1), repeated for every byte clocked.
 * While a program or erase is running, every command but 0x05 is ignored (answered with 0xFF).
 * WEL clears when a program or erase ends. Malformed commands are ignored (counted).
 *
 * Timing: a transfer takes (bytes × 8 / clockHz) plus `transferOverheadMs`. Program and erase
 * busy times follow the datasheet (typical by default; see `setSlow`).
 *
 * Faults: `powerCut` interrupts a running program (a random subset of its bit changes lands)
 * or erase (the sector is left with arbitrary contents) and leaves the chip unpowered: every
 * byte reads 0xFF and commands are ignored until `powerOn`. `cutAtOperation` and `onOperation`
 * let a harness cut at any chosen program or erase.
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
}

/** @devsWhenUsed */
export class SpiNorChip implements SpiBus {
    /**
     * The cells, one Buffer per 4 KB sector (the VM refuses Buffers of 64 KB), stored inverted
     * (0 = erased 0xFF) so that a new zeroed Buffer is an erased sector. null: erased and never
     * programmed since. An erase drops the sector's Buffer, so no loop ever fills 4 KB (the VM
     * aborts long loops).
     */
    private sectors: (Buffer | null)[] = []
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
    /** Page program latch: latchLen bytes for page offsets latchStart, latchStart+1, ... (mod
     * 256). Only the bytes sent are touched, so an event costs O(bytes sent). */
    private latch: Buffer
    private latchStart = 0
    private latchLen = 0
    private slow: SlowMode = SlowMode.Typical
    private slowPrng: Prng | null = null
    private readonly completeOp: () => void

    // ---- counters
    /** Program commands started (accepted by the chip). */
    programs = 0
    /** Sector erases started. */
    erases = 0
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
    /** Read commands still to come back with one bit flipped (a bad read, transient). */
    private badReads = 0
    /** Write enables still to be ignored (so programs and erases fail); -1: all, for good. */
    private refusedWrites = 0

    // ---- fault hooks
    /** Called when a program or erase starts (1-based count of both); it may call `powerCut`. */
    onOperation: ((kind: NorOpKind, index: number, addr: number) => void) | null = null
    /** Set by cutAt: cuts power at its operation. */
    private cutHook: ((index: number) => void) | null = null

    constructor(clock: Clock, opts: SpiNorChipOptions) {
        if (opts.capacity <= 0 || opts.capacity % NOR_SECTOR_SIZE !== 0)
            throw new Error("SpiNorChip: capacity must be a multiple of 4096")
        this.clock = clock
        this.cap = opts.capacity
        for (let s = 0; s < opts.capacity / NOR_SECTOR_SIZE; s++) this.sectors.push(null)
        this.hz = opts.clockHz !== undefined ? opts.clockHz : 8000000
        this.overheadMs = opts.transferOverheadMs !== undefined ? opts.transferOverheadMs : 0.002
        this.id = opts.jedecId ? opts.jedecId : [0xef, 0x40, 0x18]
        this.latch = Buffer.alloc(NOR_PAGE_SIZE)
        for (let s = 0; s < opts.capacity / NOR_SECTOR_SIZE; s++) this.sectorEraseCounts.push(0)
        const self = this
        this.completeOp = () => self.finishOp()
    }

    capacity(): number {
        return this.cap
    }

    clockHz(): number {
        return this.hz
    }

    isPowered(): boolean {
        return this.powered
    }

    isBusy(): boolean {
        return this.busy
    }

    /** Program or erase commands started so far (the index the next one gets, minus one). */
    operations(): number {
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
        const info = this.lastCut
        info.kind = 0
        info.addr = -1
        info.changed = 0
        info.mode = PartialMode.Nothing
        if (this.busy) {
            let m = mode
            if (m === PartialMode.Any) m = (1 + prng.int(4)) as PartialMode
            info.kind = this.opKind
            info.addr = this.opAddr
            info.mode = m
            if (this.opKind === NorOpKind.Program) info.changed = this.partialProgram(prng, m)
            else info.changed = this.partialErase(prng, m)
            if (this.busyTimer) this.clock.clearTimer(this.busyTimer)
            this.busyTimer = null
        }
        this.busy = false
        this.wel = false
        this.powered = false
        this.inFlight = false
        this.epoch++
        this.powerCuts++
    }

    /** Restores power (optionally on a new clock, for a harness that restarts its kernel). */
    powerOn(clock?: Clock): void {
        if (clock) this.clock = clock
        this.powered = true
        this.busy = false
        this.wel = false
        this.inFlight = false
        this.epoch++
    }

    // ---- faults at rest (the simulator's rot and remotefail classes)

    /** Flips one bit of the cells at addr: a bit that changed at rest.
     * @devsWhenUsed */
    flipBit(addr: number, bit: number): void {
        this.cells(Math.floor(addr / NOR_SECTOR_SIZE))[addr % NOR_SECTOR_SIZE] ^= 1 << (bit & 7)
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
        const b = this.sectors[Math.floor(addr / NOR_SECTOR_SIZE)]
        return b ? ~b[addr % NOR_SECTOR_SIZE] & 0xff : 0xff
    }

    /** Sets the byte at addr, bypassing the NOR rules (for tests that corrupt the image). */
    poke(addr: number, v: number): void {
        this.cells(Math.floor(addr / NOR_SECTOR_SIZE))[addr % NOR_SECTOR_SIZE] = ~v & 0xff
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
        for (let s = 0; s < this.sectors.length; s++) {
            const b = other.sectors[s]
            this.sectors[s] = b ? copyOf(b, 0, b.length) : null
        }
    }

    /** Replaces the memory with `img` (same length; for Node tests: loops over every byte).
     * @devsWhenUsed */
    loadImage(img: Buffer): void {
        if (img.length !== this.cap) throw new Error("SpiNorChip: image size")
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

    /** Sector s's cell Buffer (inverted), allocated zeroed (= erased) on first use. */
    private cells(s: number): Buffer {
        let b = this.sectors[s]
        if (!b) {
            b = Buffer.alloc(NOR_SECTOR_SIZE)
            this.sectors[s] = b
        }
        return b
    }

    // ---- command execution (at chip-select rise)

    private execute(tx: Buffer, rx: Buffer): void {
        this.transfers++
        if (!this.powered || tx.length === 0) {
            for (let i = 0; i < rx.length; i++) rx[i] = 0xff
            return
        }
        const cmd = tx[0]
        if (this.busy && cmd !== NorCmd.ReadStatus1) {
            this.ignoredWhileBusy++
            for (let i = 0; i < rx.length; i++) rx[i] = 0xff
            return
        }
        switch (cmd) {
            case NorCmd.ReadStatus1: {
                const st = (this.busy ? NOR_STATUS_BUSY : 0) | (this.wel ? NOR_STATUS_WEL : 0)
                for (let i = 0; i < rx.length; i++) rx[i] = st
                return
            }
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
                const cap = this.cap
                let a = this.addrOf(tx) % cap
                let sec = this.sectors[Math.floor(a / NOR_SECTOR_SIZE)]
                let off = a % NOR_SECTOR_SIZE
                for (let i = 0; i < rx.length; i++) {
                    rx[i] = sec ? ~sec[off] & 0xff : 0xff
                    a = a + 1 === cap ? 0 : a + 1
                    off++
                    if (off === NOR_SECTOR_SIZE) {
                        off = 0
                        sec = this.sectors[Math.floor(a / NOR_SECTOR_SIZE)]
                    }
                }
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
                this.startProgram(tx)
                return
            case NorCmd.SectorErase:
                if (tx.length < 4 || !this.wel) break
                this.startErase(tx)
                return
        }
        this.ignoredCommands++
        for (let i = 0; i < rx.length; i++) rx[i] = 0xff
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

    private startErase(tx: Buffer): void {
        const addr = this.addrOf(tx) % this.cap
        const base = addr - (addr % NOR_SECTOR_SIZE)
        this.erases++
        this.sectorEraseCounts[base / NOR_SECTOR_SIZE]++
        this.begin(NorOpKind.Erase, base, this.busyMs(NOR_ERASE_TYP_MS, NOR_ERASE_MAX_MS))
    }

    private begin(kind: NorOpKind, addr: number, ms: number): void {
        this.busy = true
        this.opKind = kind
        this.opAddr = addr
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
        this.cutHook = index <= 0 ? null : (i) => {
            if (i === index && self.busy) self.powerCut(prng, mode)
        }
    }

    private finishOp(): void {
        if (!this.busy) return
        if (this.opKind === NorOpKind.Program) this.partialProgram(null, PartialMode.Everything)
        else this.partialErase(null, PartialMode.Everything)
        this.busy = false
        this.wel = false
        this.busyTimer = null
    }

    /** Applies the latched program to the page, fully or in part; returns bits cleared (counted
     * for a power cut only: the normal path stays cheap for the VM's loop budget).
     * @devsWhenUsed */
    private partialProgram(prng: Prng | null, mode: PartialMode): number {
        if (mode === PartialMode.Nothing) return 0
        const sec = this.cells(Math.floor(this.opAddr / NOR_SECTOR_SIZE))
        const base = this.opAddr % NOR_SECTOR_SIZE
        const cut = prng && mode === PartialMode.Prefix ? prng.int(this.latchLen + 1) : this.latchLen
        let changed = 0
        let off = this.latchStart
        for (let i = 0; i < this.latchLen; i++) {
            // stored inverted: a set stored bit is a programmed (0) cell
            const cur = sec[base + off]
            let clear = ~cur & ~this.latch[i] & 0xff
            if (i >= cut) clear = 0
            if (mode === PartialMode.RandomBits && prng) clear = clear & prng.next() & 0xff
            sec[base + off] = cur | clear
            if (prng) for (let b = clear; b !== 0; b = b & (b - 1)) changed++
            off = off + 1 === NOR_PAGE_SIZE ? 0 : off + 1
        }
        return changed
    }

    /** Applies an erase to the sector, fully or in part; returns bytes changed.
     * @devsWhenUsed */
    private partialErase(prng: Prng | null, mode: PartialMode): number {
        const s = Math.floor(this.opAddr / NOR_SECTOR_SIZE)
        if (mode === PartialMode.Nothing) return 0
        const was = this.sectors[s]
        if (mode === PartialMode.Everything || !was) {
            // a complete erase drops the cells: no loop over 4 KB (the VM's loop budget)
            this.sectors[s] = null
            return was ? NOR_SECTOR_SIZE : 0
        }
        const sec = was
        const cut = prng && mode === PartialMode.Prefix ? prng.int(NOR_SECTOR_SIZE + 1) : NOR_SECTOR_SIZE
        let changed = 0
        for (let i = 0; i < NOR_SECTOR_SIZE; i++) {
            const old = ~sec[i] & 0xff
            let v = 0xff
            if (mode === PartialMode.Prefix && i >= cut) v = old
            if (mode === PartialMode.RandomBits && prng) {
                const r = prng.int(3)
                // erased, left alone, or some of its bits raised (a weakly erased cell)
                v = r === 0 ? 0xff : r === 1 ? old : (old | prng.next()) & 0xff
            }
            if (v !== old) changed++
            sec[i] = ~v & 0xff
        }
        return changed
    }
}

/**
 * One boot's view of the chip: dead after the next power cut (see `SpiNorChip.boardBus`).
 * @devsWhenUsed
 */
class BoardSpiHandle implements SpiBus {
    constructor(private chip: SpiNorChip, private epoch: number) {}

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
