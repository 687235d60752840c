import * as ds from "@devicescript/core"
import { i2c } from "@devicescript/i2c"
import { configureHardware } from "@devicescript/servers"
import { Clock } from "../clock"
import { errorText } from "./errorText"

export interface I2cMasterOptions {
    sda: number
    scl: number
    /** 100000, 400000 or 1000000 (group.busBitRate). */
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
 */
export class I2cMaster {
    private ready = false

    writes = 0
    nacks = 0

    constructor(private clock: Clock, private opts: I2cMasterOptions) {}

    /** Sets the pins and the bus clock. Null when ready, else what failed. */
    open(): string | null {
        let sda: ds.IOPin
        let scl: ds.IOPin
        try {
            sda = ds.gpio(this.opts.sda)
        } catch (e) {
            return "board.pins.sda: GPIO " + this.opts.sda + " is not available on this board: " + errorText(e)
        }
        try {
            scl = ds.gpio(this.opts.scl)
        } catch (e) {
            return "board.pins.scl: GPIO " + this.opts.scl + " is not available on this board: " + errorText(e)
        }
        try {
            configureHardware({ i2c: { pinSDA: sda, pinSCL: scl, kHz: Math.floor(this.opts.bitRate / 1000) } })
        } catch (e) {
            return "I2C: " + errorText(e)
        }
        this.ready = true
        return null
    }

    /**
     * One master write `ST SAD+W SAK B0 SAK … SP`; `done(true)` when the target acknowledged
     * its address and every byte, `done(false)` on any NACK or bus error (the runtime does not
     * tell them apart). `done` runs from the run loop. Addresses 0x01..0x7f; 0x00 (general
     * call) is refused by the runtime and completes with `false`.
     */
    write(addr: number, data: Buffer, done: (ack: boolean) => void): void {
        if (!this.ready) throw new Error("i2c: write before open()")
        i2cWriteFiber.start(this, addr, data, done)
    }

    bitRate(): number {
        return this.opts.bitRate
    }

    /** Runs on the write's fiber. */
    async _write(addr: number, data: Buffer, done: (ack: boolean) => void) {
        let ack = false
        if (addr >= 1 && addr <= 0x7f) {
            try {
                await i2c.xfer(addr, data)
                ack = true
            } catch (e) {
                ack = false
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
