import { i2c } from "@devicescript/i2c"
import { Clock } from "../clock"
import { errorText } from "./errorText"

export interface I2cMasterOptions {
    /** What bitRate() reports: the rate the board definition sets (its i2c.kHz). */
    bitRate: number
}

/**
 * What the DeviceScript runtime's I2C can do, and the part of `GroupBus` built on it.
 *
 * The runtime has one I2C master (`@devicescript/i2c`, `xfer(addr, write, readLen)`), and
 * nothing else:
 * - no target mode: a board cannot be addressed, so it cannot receive the shuttle, a release
 *   or anything else (`GroupBus.onReceive` is impossible);
 * - no general call: the runtime refuses address 0x00 ("invalid I2C address: 0"), so a board
 *   can neither send the release broadcast nor receive one;
 * - a failed write returns one code (-1) for a NACK of the address, a NACK of a data byte or a
 *   bus error: `write` reports all of them as `ack = false`.
 * So this runtime cannot implement `GroupBus`, and a board cannot be a member of a group of
 * two or more (the boot says so, firmware/boot/bootCheck.ts). A group of one needs no bus.
 *
 * `I2cMaster` is the honest remainder: master writes with ACK/NACK, for a runtime that gains
 * target mode later, or for tools on the bench (probing which addresses answer).
 *
 * Pins and clock: the runtime takes them from the board definition chosen at flash time
 * (its `i2c` section: pinSDA, pinSCL, kHz) or from a `configureHardware({ i2c: ... })` call
 * that the compiler evaluates at build time (it must be a literal: "expecting JSON literal
 * here"), so board.pins.sda/scl and group.busBitRate cannot be applied at run time.
 * @devsWhenUsed
 */
export class I2cMaster {
    writes = 0
    nacks = 0
    /** The last error the runtime gave ("I2C not supported (yet)" on a board without I2C). */
    lastError = ""

    constructor(
        private clock: Clock,
        private opts: I2cMasterOptions
    ) {}

    /**
     * One master write `ST SAD+W SAK B0 SAK … SP`; `done(true)` when the target acknowledged
     * its address and every byte, `done(false)` on any NACK or bus error (the runtime does not
     * tell them apart). `done` runs from the run loop. Addresses 0x01..0x7f; 0x00 (general
     * call) is refused by the runtime and completes with `false`.
     */
    write(addr: number, data: Buffer, done: (ack: boolean) => void): void {
        i2cWriteFiber.start(this, addr, data, done)
    }

    bitRate(): number {
        return this.opts.bitRate
    }

    /** Runs on the write's fiber. */
    async _write(addr: number, data: Buffer, done: (ack: boolean) => void) {
        let ack = false
        if (addr >= 1)
            if (addr <= 0x7f) {
                try {
                    await i2c.xfer(addr, data)
                    ack = true
                } catch (e) {
                    ack = false
                    this.lastError = errorText(e)
                }
            }
        this.writes++
        if (!ack) this.nacks++
        this.clock.setTimer(0, () => done(ack))
    }
}

async function i2cWriteFiber(bus: I2cMaster, addr: number, data: Buffer, done: (ack: boolean) => void) {
    await bus._write(addr, data, done)
}
