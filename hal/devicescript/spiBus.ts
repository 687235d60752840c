import * as ds from "@devicescript/core"
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

/**
 * The runtime's SPI builtins, which `@devicescript/spi` wraps: `spiConfigure` takes the GPIO
 * numbers of MISO, MOSI and SCK, the mode and the clock; `spiXfer` clocks out `tx` (nothing
 * when null) and clocks in as many bytes into `rx` (ignored when null).
 */
interface SpiBuiltins {
    spiConfigure(miso: number, mosi: number, sck: number, mode: number, hz: number): void
    spiXfer(tx: Buffer | null, rx: Buffer | null): Promise<void>
}

/** The bus's pins (a configuration's board.pins may be given as it is). */
export interface DsSpiPins {
    sck: number
    mosi: number
    miso: number
    /** GPIO of the chip select: an output, high when idle, low during a transfer. */
    cs: number
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
 * The runtime's SPI master (mode 0) with chip select on a GPIO, on the runtime's SPI builtins
 * directly (as `@devicescript/spi` calls them, without its wrapper class).
 * @devsWhenUsed
 */
export class DsSpiPort implements SpiPort {
    private csPin!: ds.IOPin | null

    constructor(
        private pins: DsSpiPins,
        private hz: number
    ) {}

    open(): string[] {
        const problems: string[] = []
        const names = ["sck", "mosi", "miso", "cs"]
        const byName = this.pins as unknown as Record<string, number>
        const pins: ds.IOPin[] = []
        for (let i = 0; i < 4; i++) {
            const gpio = byName[names[i]]
            try {
                pins.push(ds.gpio(gpio))
            } catch (e) {
                problems.push("board.pins." + names[i] + ": GPIO " + gpio + " is not available on this board: " + errorText(e))
            }
        }
        if (problems.length > 0) return problems
        try {
            const cs = pins[3]
            cs.setMode(ds.GPIOMode.OutputHigh)
            this.csPin = cs
            // (the pins were found: their numbers are the configuration's)
            const p = this.pins
            ;(ds as unknown as SpiBuiltins).spiConfigure(p.miso, p.mosi, p.sck, 0, this.hz)
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
        await (ds as unknown as SpiBuiltins).spiXfer(tx, null)
    }

    async exchange(out: Buffer): Promise<Buffer> {
        const rx = Buffer.alloc(out.length)
        await (ds as unknown as SpiBuiltins).spiXfer(out, rx)
        return rx
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
    // (flags and registers without initializers: undefined reads as false, and each is set
    // before it is read; the worker fiber reads busy, resultReady and sets workerIdle)
    private opened!: boolean
    private worker!: ds.Fiber
    workerIdle!: boolean
    busy!: boolean
    resultReady!: boolean
    private pendingTx!: Buffer
    private pendingRxLen!: number
    private pendingDone!: ((rx: Buffer) => void) | null
    private doneRx!: Buffer
    private zeroBufs: Buffer[] = []
    private readonly deliver: () => void

    transfers = 0
    failedTransfers = 0
    lastError = ""

    constructor(
        private clock: Clock,
        pins: DsSpiPins,
        private hz: number,
        port?: SpiPort
    ) {
        if (port === undefined) port = new DsSpiPort(pins, hz)
        this.port = port
        const self = this
        // the transfer's result, from the run loop
        this.deliver = () => {
            const done = self.pendingDone
            const rx = self.doneRx
            self.pendingDone = null
            self.pendingTx = EMPTY
            self.doneRx = EMPTY
            self.resultReady = false
            self.busy = false
            if (done) done(rx)
        }
    }

    open(): string[] {
        const problems = this.port.open()
        this.opened = problems.length === 0
        return problems
    }

    clockHz(): number {
        return this.hz
    }

    transfer(tx: Buffer, rxLen: number, done: (rx: Buffer) => void): void {
        if (this.busy) throw new Error("spi: transfer while another is in flight")
        if (!this.opened) throw new Error("spi: transfer before open()")
        this.busy = true
        this.pendingTx = tx
        this.pendingRxLen = rxLen
        this.pendingDone = done
        const w = this.worker
        if (!w) this.worker = spiWorker.start(this)
        else if (this.workerIdle) if (w.suspended) w.resume(null)
    }

    // ---- worker side (called from the bus's fiber)

    async _run() {
        const tx = this.pendingTx
        const rxLen = this.pendingRxLen
        let rx = EMPTY
        try {
            await this.port.select()
            if (tx.length > 0) await this.port.write(tx)
            if (rxLen > 0) {
                // zeros to clock out, one buffer per length, kept
                const bufs = this.zeroBufs
                let z = EMPTY
                for (let i = 0; i < bufs.length; i++) if (bufs[i].length === rxLen) z = bufs[i]
                if (z.length === 0) {
                    z = Buffer.alloc(rxLen)
                    bufs.push(z)
                }
                rx = await this.port.exchange(z)
            }
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
}

async function spiWorker(bus: DsSpiBus) {
    while (true) {
        if (bus.busy)
            if (!bus.resultReady) {
                await bus._run()
                continue
            }
        bus.workerIdle = true
        await ds.suspend(60000)
        bus.workerIdle = false
    }
}
