import { Clock } from "./clock"
import { Flash, FlashError, FlashGeometry } from "./flash"
import { SpiBus } from "./spi"

/**
 * SPI NOR flash (W25Q128JV class): the command set and datasheet figures shared by the JEDEC
 * driver below and the simulator's chip model, and the driver itself. Portable.
 */
export const enum NorCmd {
    WriteEnable = 0x06,
    WriteDisable = 0x04,
    ReadStatus1 = 0x05,
    Read = 0x03,
    PageProgram = 0x02,
    SectorErase = 0x20,
    JedecId = 0x9f,
}

/** Status register 1: an erase or program is running. */
export const NOR_STATUS_BUSY = 0x01
/** Status register 1: write enable latch. */
export const NOR_STATUS_WEL = 0x02

export const NOR_PAGE_SIZE = 256
export const NOR_SECTOR_SIZE = 4096

/** Datasheet (W25Q128JV, tBP1/tBP2/tPP, tSE): the first byte of a program and a full page. */
export const NOR_PROGRAM_FIRST_BYTE_TYP_MS = 0.03
export const NOR_PROGRAM_FIRST_BYTE_MAX_MS = 0.05
export const NOR_PROGRAM_TYP_MS = 0.7
export const NOR_PROGRAM_MAX_MS = 3
export const NOR_ERASE_TYP_MS = 45
export const NOR_ERASE_MAX_MS = 400

/** Typical busy time of a program of n bytes: from the first-byte time to the full-page time. */
export function norProgramTypMs(n: number): number {
    if (n <= 1) return NOR_PROGRAM_FIRST_BYTE_TYP_MS
    return NOR_PROGRAM_FIRST_BYTE_TYP_MS + ((NOR_PROGRAM_TYP_MS - NOR_PROGRAM_FIRST_BYTE_TYP_MS) * (n - 1)) / 255
}

/** Maximum busy time of a program of n bytes. */
export function norProgramMaxMs(n: number): number {
    if (n <= 1) return NOR_PROGRAM_FIRST_BYTE_MAX_MS
    return NOR_PROGRAM_FIRST_BYTE_MAX_MS + ((NOR_PROGRAM_MAX_MS - NOR_PROGRAM_FIRST_BYTE_MAX_MS) * (n - 1)) / 255
}

export interface SpiNorFlashOptions {
    /** Bytes of the chip to use, from address 0 (default: the size the JEDEC ID gives). */
    capacity?: number
    /** Largest read in one transfer; longer reads are split (default 256: one event of the
     * simulator copies that many bytes, well inside the VM's loop budget). */
    readChunk?: number
    /** Status poll interval while a program runs, after the first poll (default 0.05 ms). */
    programPollMs?: number
    /** Status poll interval while an erase runs, after the first poll (default 1 ms). */
    erasePollMs?: number
}

const enum DriverOp {
    Idle = 0,
    Init = 1,
    Read = 2,
    Program = 3,
    Erase = 4,
}

const enum Phase {
    ReadyCheck = 0,
    WriteEnable = 1,
    CheckWel = 2,
    Command = 3,
    Wait = 4,
}

/** Attempts at WREN (each after the chip is found ready) before giving up. */
export const WREN_ATTEMPTS = 3

const EMPTY = Buffer.alloc(0)

/** A command with a 24-bit address, in b[0..4). */
function putCommand(b: Buffer, cmd: number, addr: number): void {
    b[0] = cmd
    b[1] = (addr >>> 16) & 0xff
    b[2] = (addr >>> 8) & 0xff
    b[3] = addr & 0xff
}

/**
 * The JEDEC SPI NOR driver: `Flash` over one `SpiBus` and a `Clock`.
 *
 * `init` reads the JEDEC ID (0x9F) and fails with NoDevice on FF FF FF (nothing answering) or
 * 00 00 00 (MISO stuck low). A program or erase is WREN (0x06), the command, then status polls
 * (0x05): the first after the datasheet typical time, then every poll interval, until BUSY
 * clears; a chip still busy past the datasheet maximum gives Timeout. Between WREN and the
 * command, one status read checks that WEL is set and BUSY clear: a busy chip ignores WREN and
 * would ignore the command too, which must not pass for success. After a Timeout the chip
 * may still be busy (and would ignore commands), so the next operation first polls until it is
 * ready. Reads (0x03) longer than `readChunk` are split into several transfers.
 * @devsWhenUsed
 */
export class SpiNorFlash implements Flash {
    private geo: FlashGeometry
    private readChunk: number
    private programPollMs: number
    private erasePollMs: number
    private id = -1
    private op: DriverOp = DriverOp.Idle
    private phase!: Phase
    /** The last program or erase timed out: poll until ready before the next command. */
    private suspect!: boolean
    private cmd: Buffer
    // registers of the operation under way (declared with `!`): each is set before it is read
    private wren: Buffer
    private rdsr: Buffer
    /** Transmit buffers kept for reuse, one per length used (a handful: commands, entries,
     * headers, blocks). */
    private txBufs: Buffer[] = []
    private opAddr!: number
    private opLen!: number
    private opData!: Buffer
    private opOffset!: number
    private opStart!: number
    private opMaxMs!: number
    private opPollMs!: number
    private wrenAttempts!: number
    private readDone!: ((err: FlashError, data: Buffer) => void) | null
    private writeDone!: ((err: FlashError) => void) | null
    private initDone!: ((err: FlashError, jedecId: number) => void) | null
    private readonly onIdRx: (rx: Buffer) => void
    private readonly onReadRx: (rx: Buffer) => void
    private readonly onSent: (rx: Buffer) => void
    private readonly onStatusRx: (rx: Buffer) => void
    private readonly pollNow: () => void

    /** Status polls sent, timeouts seen. */
    polls = 0
    timeouts = 0

    constructor(
        private bus: SpiBus,
        private clock: Clock,
        private opts: SpiNorFlashOptions = {}
    ) {
        let capacity = 0
        if (opts.capacity !== undefined) capacity = opts.capacity
        this.geo = { pageSize: NOR_PAGE_SIZE, sectorSize: NOR_SECTOR_SIZE, capacity: capacity }
        this.readChunk = 256
        if (opts.readChunk !== undefined) if (opts.readChunk > 0) this.readChunk = opts.readChunk
        this.programPollMs = 0.05
        if (opts.programPollMs !== undefined) this.programPollMs = opts.programPollMs
        this.erasePollMs = 1
        if (opts.erasePollMs !== undefined) this.erasePollMs = opts.erasePollMs
        this.cmd = Buffer.alloc(4)
        this.wren = Buffer.alloc(1)
        this.wren[0] = NorCmd.WriteEnable
        this.rdsr = Buffer.alloc(1)
        this.rdsr[0] = NorCmd.ReadStatus1
        const self = this
        this.onIdRx = (rx) => {
            const id = (rx[0] << 16) | (rx[1] << 8) | rx[2]
            const done = self.initDone
            self.initDone = null
            self.op = DriverOp.Idle
            let err = FlashError.None
            if (id === 0xffffff) err = FlashError.NoDevice
            else if (id === 0) err = FlashError.NoDevice
            else if (self.opts.capacity === undefined) {
                // the third ID byte is log2 of the size in bytes (0x18: 16 MB)
                const log2 = rx[2]
                err = FlashError.NoDevice
                if (log2 >= 16)
                    if (log2 <= 28) {
                        self.geo.capacity = Math.pow(2, log2)
                        err = FlashError.None
                    }
            }
            if (err === FlashError.None) self.id = id
            if (done) done(err, id)
        }
        this.onReadRx = (rx) => {
            const me = self
            if (me.opLen <= me.readChunk) {
                me.end(FlashError.None, rx)
                return
            }
            me.opData.set(rx, me.opOffset)
            me.opOffset = me.opOffset + rx.length
            if (me.opOffset < me.opLen) me.nextChunk()
            else me.end(FlashError.None, me.opData)
        }
        // the command sent (WREN, program, erase) went out
        this.onSent = (_rx) => {
            const me = self
            if (me.phase === Phase.WriteEnable) {
                me.phase = Phase.CheckWel
                me.pollNow()
                return
            }
            if (me.phase === Phase.CheckWel) {
                me.phase = Phase.Command
                if (me.op === DriverOp.Program) me.bus.transfer(me.opData, 0, me.onSent)
                else {
                    putCommand(me.cmd, NorCmd.SectorErase, me.opAddr)
                    me.bus.transfer(me.cmd, 0, me.onSent)
                }
                return
            }
            // the command went out: the chip is busy from chip-select rise
            me.phase = Phase.Wait
            me.opStart = me.clock.millis()
            let first = NOR_ERASE_TYP_MS
            if (me.op === DriverOp.Program) first = norProgramTypMs(me.opLen)
            me.clock.setTimer(first, me.pollNow)
        }
        this.onStatusRx = (rx) => {
            const me = self
            const busy = (rx[0] & NOR_STATUS_BUSY) !== 0
            if (me.phase === Phase.CheckWel) {
                const wel = (rx[0] & NOR_STATUS_WEL) !== 0
                if (!busy) if (wel) return me.onSent(rx)
                if (me.wrenAttempts >= WREN_ATTEMPTS) {
                    me.timeouts = me.timeouts + 1
                    me.suspect = true
                    let err = FlashError.NoDevice
                    if (busy) err = FlashError.Timeout
                    me.end(err, EMPTY)
                } else if (busy) me.startReadyCheck()
                else me.writeEnable()
                return
            }
            if (busy) {
                let maxMs = me.opMaxMs
                let interval = me.opPollMs
                if (me.phase === Phase.ReadyCheck) {
                    maxMs = NOR_ERASE_MAX_MS
                    interval = me.erasePollMs
                }
                if (me.clock.millis() - me.opStart > maxMs + interval) {
                    me.timeouts = me.timeouts + 1
                    me.suspect = true
                    me.end(FlashError.Timeout, EMPTY)
                    return
                }
                me.clock.setTimer(interval, me.pollNow)
                return
            }
            if (me.phase === Phase.ReadyCheck) {
                me.suspect = false
                if (me.op === DriverOp.Read) me.nextChunk()
                else me.writeEnable()
                return
            }
            me.end(FlashError.None, EMPTY)
        }
        this.pollNow = () => {
            self.polls = self.polls + 1
            self.bus.transfer(self.rdsr, 1, self.onStatusRx)
        }
    }

    /** Probes the chip: done(None, id) with the 24-bit JEDEC ID, or done(NoDevice, id). */
    init(done: (err: FlashError, jedecId: number) => void): void {
        if (this.op !== DriverOp.Idle) {
            this.later(done, FlashError.Busy, -1)
            return
        }
        this.op = DriverOp.Init
        this.initDone = done
        // a buffer of the command's length (kept: no other command has one byte and a reply)
        const b = this.txBuf(1)
        b[0] = NorCmd.JedecId
        this.bus.transfer(b, 3, this.onIdRx)
    }

    /** The JEDEC ID read at init (-1 before a successful init). */
    jedecId(): number {
        return this.id
    }

    geometry(): FlashGeometry {
        return this.geo
    }

    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void {
        const err = this.check(addr, len)
        if (err !== FlashError.None) return this.later(done, err, EMPTY)
        this.op = DriverOp.Read
        this.readDone = done
        this.opAddr = addr
        this.opLen = len
        this.opOffset = 0
        this.opData = EMPTY
        if (len > this.readChunk) this.opData = Buffer.alloc(len)
        if (this.suspect) this.startReadyCheck()
        else this.nextChunk()
    }

    program(addr: number, data: Buffer, done: (err: FlashError) => void): void {
        let err = this.check(addr, data.length)
        // a program of nothing: done at once
        if (err === FlashError.None)
            if (data.length > 0) {
                const page = this.geo.pageSize
                if (Math.floor(addr / page) === Math.floor((addr + data.length - 1) / page)) {
                    this.op = DriverOp.Program
                    this.writeDone = done
                    this.opAddr = addr
                    this.opLen = data.length
                    // the command and data go out in one transfer: copy into a buffer kept per length
                    const tx = this.txBuf(data.length + 4)
                    putCommand(tx, NorCmd.PageProgram, addr)
                    tx.set(data, 4)
                    this.opData = tx
                    this.opMaxMs = NOR_PROGRAM_MAX_MS
                    this.opPollMs = this.programPollMs
                    this.startWrite()
                    return
                }
                err = FlashError.CrossesPage
            }
        this.later(done, err, 0)
    }

    eraseSector(addr: number, done: (err: FlashError) => void): void {
        const err = this.check(addr, 1)
        if (err !== FlashError.None) {
            this.later(done, err, 0)
            return
        }
        this.op = DriverOp.Erase
        this.writeDone = done
        this.opAddr = addr - (addr % this.geo.sectorSize)
        this.opLen = 0
        this.opMaxMs = NOR_ERASE_MAX_MS
        this.opPollMs = this.erasePollMs
        this.startWrite()
    }

    // ---- internals

    private check(addr: number, len: number): FlashError {
        if (this.op !== DriverOp.Idle) return FlashError.Busy
        if (this.id < 0) return FlashError.NoDevice
        if (!(addr >= 0)) return FlashError.OutOfRange
        if (!(len >= 0)) return FlashError.OutOfRange
        if (Math.floor(addr) !== addr) return FlashError.OutOfRange
        if (Math.floor(len) !== len) return FlashError.OutOfRange
        if (addr + len > this.geo.capacity) return FlashError.OutOfRange
        if (len === 0) if (addr >= this.geo.capacity) return FlashError.OutOfRange
        return FlashError.None
    }

    /** Calls done(err, v) from the run loop (a write's done takes err only). */
    private later<T>(done: (err: FlashError, v: T) => void, err: FlashError, v: T): void {
        this.clock.setTimer(0, () => done(err, v))
    }

    /** The kept transmit buffer of n bytes. */
    private txBuf(n: number): Buffer {
        for (let i = 0; i < this.txBufs.length; i++) if (this.txBufs[i].length === n) return this.txBufs[i]
        const b = Buffer.alloc(n)
        this.txBufs.push(b)
        return b
    }

    private nextChunk(): void {
        const n = Math.min(this.readChunk, this.opLen - this.opOffset)
        const a = this.opAddr + this.opOffset
        putCommand(this.cmd, NorCmd.Read, a)
        this.bus.transfer(this.cmd, n, this.onReadRx)
    }

    private startWrite(): void {
        this.wrenAttempts = 0
        if (this.suspect) this.startReadyCheck()
        else this.writeEnable()
    }

    private writeEnable(): void {
        this.wrenAttempts++
        this.phase = Phase.WriteEnable
        this.bus.transfer(this.wren, 0, this.onSent)
    }

    /** Polls until a chip that timed out earlier is ready again. */
    private startReadyCheck(): void {
        this.phase = Phase.ReadyCheck
        this.opStart = this.clock.millis()
        this.pollNow()
    }

    /** The operation ends (err: None when it succeeded): its done, with what a read read. */
    private end(err: FlashError, data: Buffer): void {
        const op = this.op
        this.op = DriverOp.Idle
        this.opData = EMPTY
        if (op === DriverOp.Read) {
            const done = this.readDone
            this.readDone = null
            if (done) done(err, data)
        } else {
            const done = this.writeDone
            this.writeDone = null
            if (done) done(err)
        }
    }
}
