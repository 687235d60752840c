import * as ds from "@devicescript/core"
import { spi } from "@devicescript/spi"
import { Clock } from "../clock"
import { SpiBus } from "../spi"
import { errorText } from "./errorText"

// The pin's mode setter is native; importing @devicescript/gpio for its type would also
// compile in that package's pin helpers (a 100 ms polling interval and the timers behind it).
declare module "@devicescript/core" {
    interface PinBase {
        setMode(mode: GPIOMode): void
    }
}

export interface DsSpiOptions {
    sck: number
    mosi: number
    miso: number
    /** GPIO of the chip select: an output, high when idle, low during a transfer. */
    cs: number
    hz: number
}

/**
 * The byte level under `DsSpiBus`: chip select and the clocked bytes. `DsSpiPort` is the
 * runtime's; the tests put a chip model here to run the bus, its fiber and the run loop in the
 * VM (which has no SPI).
 */
export interface SpiPort {
    /** Sets up pins and clock; one line per problem, none when ready. */
    open(): string[]
    /** Chip select low. */
    select(): Promise<void>
    /** Clocks out `tx`, ignoring what comes in. */
    write(tx: Buffer): Promise<void>
    /** Clocks out `out` and returns the bytes clocked in meanwhile (as many). */
    exchange(out: Buffer): Promise<Buffer>
    /** Chip select high: the end of the device's command. */
    deselect(): Promise<void>
}

/**
 * The runtime's SPI master (`@devicescript/spi`, mode 0) with chip select on a GPIO.
 * @devsWhenUsed
 */
export class DsSpiPort implements SpiPort {
    private csPin: ds.IOPin | null = null

    constructor(private opts: DsSpiOptions) {}

    open(): string[] {
        const problems: string[] = []
        const names = ["sck", "mosi", "miso", "cs"]
        const nums = [this.opts.sck, this.opts.mosi, this.opts.miso, this.opts.cs]
        const pins: ds.IOPin[] = []
        for (let i = 0; i < nums.length; i++) {
            try {
                pins.push(ds.gpio(nums[i]))
            } catch (e) {
                problems.push("board.pins." + names[i] + ": GPIO " + nums[i] + " is not available on this board: " + errorText(e))
            }
        }
        if (problems.length > 0) return problems
        try {
            const cs = pins[3]
            cs.setMode(ds.GPIOMode.OutputHigh)
            this.csPin = cs
            spi.configure({ sck: pins[0], mosi: pins[1], miso: pins[2], mode: 0, hz: this.opts.hz })
        } catch (e) {
            this.csPin = null
            problems.push("SPI: " + errorText(e))
        }
        return problems
    }

    async select() {
        ;(this.csPin as ds.IOPin).setMode(ds.GPIOMode.OutputLow) // open() succeeded before any transfer
    }

    async write(tx: Buffer) {
        await spi.write(tx)
    }

    async exchange(out: Buffer): Promise<Buffer> {
        return await spi.transfer(out)
    }

    async deselect() {
        ;(this.csPin as ds.IOPin).setMode(ds.GPIOMode.OutputHigh)
    }
}

const EMPTY = Buffer.alloc(0)

/**
 * `SpiBus` on the runtime's SPI master with the chip select on a GPIO (`DsSpiPort`).
 *
 * A transfer runs on the bus's own fiber, because the runtime's SPI calls are awaited:
 * CS low, write `tx`, exchange `rxLen` zero bytes for the bytes read (so 0x00 goes out while
 * reading, as the contract says), CS high. Chip select stays low across both calls, so the
 * device sees one command. The completion is handed to the run loop (`clock.setTimer(0, ...)`),
 * so `done` runs there like every other callback.
 *
 * `open()` configures the pins and the bus; it returns the lines saying what failed (a pin
 * the board's definition does not expose, or a runtime without SPI), none when ready.
 *
 * A transfer that the runtime fails (it throws: "SPI busy", "SPI error: n") completes with
 * 0xFF bytes, which is what a device that does not answer gives, and is counted in
 * `failedTransfers`; the first failure is logged. The flash driver above then sees a missing
 * chip or a timeout, never an exception from the bus.
 * @devsWhenUsed
 */
export class DsSpiBus implements SpiBus {
    private port: SpiPort
    private opened = false
    private worker: ds.Fiber | null = null
    private workerIdle = false
    private busy = false
    private resultReady = false
    private pendingTx: Buffer = EMPTY
    private pendingRxLen = 0
    private pendingDone: ((rx: Buffer) => void) | null = null
    private doneRx: Buffer = EMPTY
    /** Zero buffers kept for reuse, one per read length (a handful). */
    private zeroBufs: Buffer[] = []
    private readonly deliver: () => void

    transfers = 0
    failedTransfers = 0
    lastError = ""

    constructor(
        private clock: Clock,
        private opts: DsSpiOptions,
        port?: SpiPort
    ) {
        if (port === undefined) port = new DsSpiPort(opts)
        this.port = port
        const self = this
        this.deliver = () => self.complete()
    }

    /** Configures chip select and the SPI master: one line per problem, none when ready. */
    open(): string[] {
        const problems = this.port.open()
        this.opened = problems.length === 0
        return problems
    }

    clockHz(): number {
        return this.opts.hz
    }

    transfer(tx: Buffer, rxLen: number, done: (rx: Buffer) => void): void {
        if (this.busy) throw new Error("spi: transfer while another is in flight")
        if (!this.opened) throw new Error("spi: transfer before open()")
        this.busy = true
        this.pendingTx = tx
        this.pendingRxLen = rxLen
        this.pendingDone = done
        if (this.worker === null) this.worker = spiWorker.start(this)
        else if (this.workerIdle) if (this.worker.suspended) this.worker.resume(null)
    }

    // ---- worker side (called from the bus's fiber)

    _hasWork(): boolean {
        if (!this.busy) return false
        return !this.resultReady
    }

    _setIdle(v: boolean): void {
        this.workerIdle = v
    }

    async _run() {
        const tx = this.pendingTx
        const rxLen = this.pendingRxLen
        let rx = EMPTY
        try {
            await this.port.select()
            if (tx.length > 0) await this.port.write(tx)
            if (rxLen > 0) rx = await this.port.exchange(this.zeros(rxLen))
        } catch (e) {
            this.failedTransfers++
            if (this.lastError === "") console.log("seqmirror: SPI transfer failed: " + errorText(e))
            this.lastError = errorText(e)
            rx = Buffer.alloc(rxLen)
            for (let i = 0; i < rxLen; i++) rx[i] = 0xff
        }
        try {
            await this.port.deselect()
        } catch (e) {
            this.failedTransfers++
            this.lastError = errorText(e)
        }
        this.transfers++
        this.doneRx = rx
        this.resultReady = true
        this.clock.setTimer(0, this.deliver)
    }

    private complete(): void {
        const done = this.pendingDone
        const rx = this.doneRx
        this.pendingDone = null
        this.pendingTx = EMPTY
        this.doneRx = EMPTY
        this.resultReady = false
        this.busy = false
        if (done !== null) done(rx)
    }

    /** A buffer of n zero bytes, kept per length (reads use a handful of lengths). */
    private zeros(n: number): Buffer {
        for (let i = 0; i < this.zeroBufs.length; i++) if (this.zeroBufs[i].length === n) return this.zeroBufs[i]
        const z = Buffer.alloc(n)
        this.zeroBufs.push(z)
        return z
    }
}

async function spiWorker(bus: DsSpiBus) {
    while (true) {
        if (bus._hasWork()) {
            await bus._run()
            continue
        }
        bus._setIdle(true)
        await ds.suspend(60000)
        bus._setIdle(false)
    }
}
