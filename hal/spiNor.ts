import { Clock, Timer } from "./clock"
import { Flash, FLASH_BLOCK_SIZE, FlashError, FlashGeometry } from "./flash"
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
    /** 64 KB block erase. */
    BlockErase = 0xd8,
    JedecId = 0x9f,
    ReadStatus2 = 0x35,
    /** Erase/Program Suspend. */
    Suspend = 0x75,
    /** Erase/Program Resume. */
    Resume = 0x7a,
}

/** Status register 1: an erase or program is running. */
export const NOR_STATUS_BUSY = 0x01
/** Status register 1: write enable latch. */
export const NOR_STATUS_WEL = 0x02
/** Status register 2: an erase (or program) is suspended. */
export const NOR_STATUS2_SUS = 0x80

export const NOR_PAGE_SIZE = 256
export const NOR_SECTOR_SIZE = 4096
/** The 64 KB block a Block Erase (D8h) erases: 16 sectors, aligned. */
export const NOR_BLOCK_SIZE = FLASH_BLOCK_SIZE

/** Datasheet (W25Q128JV, tBP1/tBP2/tPP, tSE): the first byte of a program and a full page. */
export const NOR_PROGRAM_FIRST_BYTE_TYP_MS = 0.03
export const NOR_PROGRAM_FIRST_BYTE_MAX_MS = 0.05
export const NOR_PROGRAM_TYP_MS = 0.7
export const NOR_PROGRAM_MAX_MS = 3
export const NOR_ERASE_TYP_MS = 45
export const NOR_ERASE_MAX_MS = 400
/** Datasheet (W25Q128JV, tBE2): a 64 KB block erase. */
export const NOR_BLOCK_ERASE_TYP_MS = 150
export const NOR_BLOCK_ERASE_MAX_MS = 2000
/** Datasheet (W25Q128JV, tSUS): an erase stops at most this long after the Suspend command's
 * chip-select rise (BUSY clears then), and a Suspend comes no sooner than this after a Resume. */
export const NOR_SUSPEND_MS = 0.02

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

/** The erase under way behind reads and programs. */
const enum Er {
    None = 0,
    /** Running, its next status poll due (erTimer). */
    Running = 1,
    /** Its status poll in flight. */
    Polling = 2,
    /** A Suspend waits until tSUS after the last Resume (erTimer). */
    SuspendDelay = 3,
    /** The Suspend in flight. */
    SuspendSent = 4,
    /** tSUS after the Suspend (erTimer). */
    SuspendWait = 5,
    /** The read of SUS in flight. */
    SuspendCheck = 6,
    Suspended = 7,
    /** The Resume in flight. */
    Resuming = 8,
    /** It ended before the Suspend took: done once the read or program that came is done. */
    Completed = 9,
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
    // ---- the erase under way behind reads and programs (registers)
    private er!: Er
    /** Its done (null: no erase under way). */
    private erDone!: ((err: FlashError) => void) | null
    private erAddr!: number
    /** Its bytes (a sector or a block), command, datasheet typical and maximum times: set when
     * it is asked for (no erase is under way then). */
    private erLen!: number
    private erCmd!: number
    private erTypMs!: number
    private erMaxMs!: number
    /** When it began, moved on by the time it spent suspended (for its timeout). */
    private erStart!: number
    private erTimer!: Timer | null
    private erResumedAt!: number
    private erSuspendedAt!: number
    /** A read or program waits for the erase's transfer in flight, then suspends it. */
    private erWaiting!: boolean
    /** One-byte commands: Suspend, Resume, Read Status Register 2. */
    private cmdSus: Buffer
    private cmdRes: Buffer
    private cmdSr2: Buffer
    private readonly erTick: () => void
    private readonly onEr: (rx: Buffer) => void
    /** A read or program called while an erase's command went out: made once it has. */
    private pendOp!: DriverOp
    private pendAddr!: number
    private pendLen!: number
    private pendData!: Buffer
    private pendRead!: ((err: FlashError, data: Buffer) => void) | null
    private pendWrite!: ((err: FlashError) => void) | null

    /** Status polls sent, timeouts seen, erases suspended. */
    polls = 0
    timeouts = 0
    suspends = 0

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
        this.cmdSus = Buffer.alloc(1)
        this.cmdSus[0] = NorCmd.Suspend
        this.cmdRes = Buffer.alloc(1)
        this.cmdRes[0] = NorCmd.Resume
        this.cmdSr2 = Buffer.alloc(1)
        this.cmdSr2[0] = NorCmd.ReadStatus2
        this.er = Er.None
        this.erDone = null
        this.pendOp = DriverOp.Idle
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
                    putCommand(me.cmd, me.erCmd, me.erAddr)
                    me.bus.transfer(me.cmd, 0, me.onSent)
                }
                return
            }
            // the command went out: the chip is busy from chip-select rise
            me.phase = Phase.Wait
            me.opStart = me.clock.millis()
            if (me.op === DriverOp.Erase) {
                // the erase goes on behind: reads and programs suspend it
                me.op = DriverOp.Idle
                me.erDone = me.writeDone
                me.writeDone = null
                me.erStart = me.opStart
                me.erResumedAt = -NOR_ERASE_MAX_MS
                me.erWaiting = false
                me.er = Er.Running
                me.erTimer = me.clock.setTimer(me.erTypMs, me.erTick)
                me.replay()
                return
            }
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
                    // the longest operation the chip may still be busy with
                    maxMs = NOR_BLOCK_ERASE_MAX_MS
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
        this.erTick = () => {
            const me = self
            me.erTimer = null
            const st = me.er
            if (st === Er.Running) {
                me.er = Er.Polling
                me.polls = me.polls + 1
                me.bus.transfer(me.rdsr, 1, me.onEr)
            } else if (st === Er.SuspendDelay) me.suspendNow()
            else {
                // tSUS has passed: SUS says whether the erase stopped or had ended
                me.er = Er.SuspendCheck
                me.bus.transfer(me.cmdSr2, 1, me.onEr)
            }
        }
        this.onEr = (rx) => {
            const me = self
            const st = me.er
            const now = me.clock.millis()
            if (st === Er.Polling) {
                if ((rx[0] & NOR_STATUS_BUSY) === 0) {
                    if (me.erWaiting) {
                        me.erWaiting = false
                        me.er = Er.Completed
                        me.begin()
                    } else me.endErase(FlashError.None)
                } else if (me.erWaiting) me.suspendNow()
                else if (now - me.erStart > me.erMaxMs + me.erasePollMs) me.endErase(FlashError.Timeout)
                else me.run(me.erasePollMs)
            } else if (st === Er.SuspendSent) {
                me.erSuspendedAt = now
                me.er = Er.SuspendWait
                me.erTimer = me.clock.setTimer(NOR_SUSPEND_MS, me.erTick)
            } else if (st === Er.SuspendCheck) {
                me.erWaiting = false
                me.er = Er.Completed
                if ((rx[0] & NOR_STATUS2_SUS) !== 0) {
                    me.er = Er.Suspended
                    me.suspends = me.suspends + 1
                }
                me.begin()
            } else {
                // resumed: the time suspended does not count against the erase's maximum
                me.erStart = me.erStart + now - me.erSuspendedAt
                me.erResumedAt = now
                if (me.erWaiting) me.suspendNow()
                else me.run(me.erasePollMs)
            }
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

    /** Reads and programs suspend an erase under way (75h/7Ah). */
    suspendsErase(): boolean {
        return true
    }

    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void {
        if (this.defer(DriverOp.Read, addr, len, EMPTY)) {
            this.pendRead = done
            return
        }
        const err = this.check(addr, len)
        if (err !== FlashError.None) return this.later(done, err, EMPTY)
        this.op = DriverOp.Read
        this.readDone = done
        this.opAddr = addr
        this.opLen = len
        this.opOffset = 0
        this.opData = EMPTY
        if (len > this.readChunk) this.opData = Buffer.alloc(len)
        this.start()
    }

    program(addr: number, data: Buffer, done: (err: FlashError) => void): void {
        if (this.defer(DriverOp.Program, addr, 0, data)) {
            this.pendWrite = done
            return
        }
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
                    this.start()
                    return
                }
                err = FlashError.CrossesPage
            }
        this.later(done, err, 0)
    }

    eraseSector(addr: number, done: (err: FlashError) => void): void {
        let err = this.check(addr, 1)
        // one erase at a time
        if (this.erDone) err = FlashError.Busy
        if (err !== FlashError.None) {
            this.later(done, err, 0)
            return
        }
        this.op = DriverOp.Erase
        this.writeDone = done
        this.erAddr = addr - (addr % NOR_SECTOR_SIZE)
        this.erLen = NOR_SECTOR_SIZE
        this.erCmd = NorCmd.SectorErase
        this.erTypMs = NOR_ERASE_TYP_MS
        this.erMaxMs = NOR_ERASE_MAX_MS
        this.startWrite()
    }

    /** Erases the 64 KB block that holds addr (Block Erase, D8h), as eraseSector does a sector:
     * the erase eraseSector set up, made the block's before its command goes out (a bus answers
     * from the run loop: the WREN is the first transfer, the command the third). */
    eraseBlock(addr: number, done: (err: FlashError) => void): void {
        const idle = this.op === DriverOp.Idle
        this.eraseSector(addr, done)
        if (idle)
            if (this.op === DriverOp.Erase) {
                this.erAddr = addr - (addr % NOR_BLOCK_SIZE)
                this.erLen = NOR_BLOCK_SIZE
                this.erCmd = NorCmd.BlockErase
                this.erTypMs = NOR_BLOCK_ERASE_TYP_MS
                this.erMaxMs = NOR_BLOCK_ERASE_MAX_MS
            }
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
        // the sector or block being erased is not read or programmed meanwhile
        if (this.erDone) if (addr < this.erAddr + this.erLen) if (addr + len > this.erAddr) return FlashError.Busy
        return FlashError.None
    }

    /** A read or program while an erase's command goes out waits for it (one at a time):
     * true when this one does. */
    private defer(op: DriverOp, addr: number, len: number, data: Buffer): boolean {
        if (this.op !== DriverOp.Erase) return false
        if (this.pendOp !== DriverOp.Idle) return false
        this.pendOp = op
        this.pendAddr = addr
        this.pendLen = len
        this.pendData = data
        return true
    }

    /** The read or program that waited for an erase's command is made now. */
    private replay(): void {
        const op = this.pendOp
        if (op === DriverOp.Idle) return
        this.pendOp = DriverOp.Idle
        const data = this.pendData
        this.pendData = EMPTY
        if (op === DriverOp.Read) {
            const done = this.pendRead as (err: FlashError, data: Buffer) => void
            this.pendRead = null
            this.read(this.pendAddr, this.pendLen, done)
        } else {
            const done = this.pendWrite as (err: FlashError) => void
            this.pendWrite = null
            this.program(this.pendAddr, data, done)
        }
    }

    /** Suspends the erase under way, if any, for the read or program just set up, then
     * begins that. */
    private start(): void {
        const st = this.er
        if (st === Er.None) return this.begin()
        if (st === Er.Suspended) return this.begin()
        if (st === Er.Completed) return this.begin()
        if (st === Er.Running) {
            this.clock.clearTimer(this.erTimer as Timer)
            return this.suspendNow()
        }
        // its status poll or its Resume is in flight: the suspend follows that
        this.erWaiting = true
    }

    private begin(): void {
        if (this.op === DriverOp.Read) {
            if (this.suspect) this.startReadyCheck()
            else this.nextChunk()
        } else this.startWrite()
    }

    /** Suspend (75h), no sooner than tSUS after the last Resume. */
    private suspendNow(): void {
        const wait = this.erResumedAt + NOR_SUSPEND_MS - this.clock.millis()
        if (wait > 0) {
            this.er = Er.SuspendDelay
            this.erTimer = this.clock.setTimer(wait, this.erTick)
            return
        }
        this.er = Er.SuspendSent
        this.bus.transfer(this.cmdSus, 0, this.onEr)
    }

    /** The erase runs on: its next status poll in `ms`. */
    private run(ms: number): void {
        this.er = Er.Running
        this.erTimer = this.clock.setTimer(ms, this.erTick)
    }

    private endErase(err: FlashError): void {
        const done = this.erDone
        this.erDone = null
        this.er = Er.None
        if (err !== FlashError.None) {
            this.timeouts = this.timeouts + 1
            this.suspect = true
        }
        if (done) done(err)
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
        // nothing followed at once: the erase suspended for it resumes (7Ah), or the erase that
        // ended meanwhile is done
        if (this.op === DriverOp.Idle) {
            if (this.er === Er.Suspended) {
                this.er = Er.Resuming
                this.bus.transfer(this.cmdRes, 0, this.onEr)
            } else if (this.er === Er.Completed) this.endErase(FlashError.None)
            // an erase whose command failed: what waited for it
            else this.replay()
        }
    }
}
