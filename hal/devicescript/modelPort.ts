import * as ds from "@devicescript/core"
import { SpiBus } from "../spi"
import { SpiPort } from "./spiBus"

/**
 * An `SpiPort` over a transaction-level `SpiBus`, such as the simulator's SPI NOR chip model
 * (host-sim/models/spiNorChip.ts). The DeviceScript VM has no SPI, so this is how the board's
 * bus, its fiber, the run loop and the flash driver run together in the VM (test/board).
 *
 * Bytes written while chip select is low are collected; the exchange (or chip select going
 * high, for a command without a read) is one `transfer` of the model, awaited on the calling
 * fiber until its callback comes from the run loop. `dead` makes the port answer 0xFF, as a
 * bus without a chip does.
 * @devsWhenUsed
 */
export class ModelSpiPort implements SpiPort {
    private tx: Buffer
    private txLen = 0
    private exchanged = false
    dead = false

    constructor(
        private model: SpiBus,
        maxCommandBytes?: number
    ) {
        this.tx = Buffer.alloc(maxCommandBytes !== undefined ? maxCommandBytes : 264)
    }

    open(): string[] {
        return []
    }

    async select() {
        this.txLen = 0
        this.exchanged = false
    }

    async write(tx: Buffer) {
        if (this.txLen + tx.length > this.tx.length) throw new Error("model port: command too long")
        this.tx.blitAt(this.txLen, tx, 0, tx.length)
        this.txLen += tx.length
    }

    async exchange(out: Buffer): Promise<Buffer> {
        this.exchanged = true
        if (this.dead) {
            const rx = Buffer.alloc(out.length)
            for (let i = 0; i < rx.length; i++) rx[i] = 0xff
            return rx
        }
        return await this.run(out.length)
    }

    async deselect() {
        if (!this.exchanged) if (!this.dead) await this.run(0)
    }

    private async run(rxLen: number): Promise<Buffer> {
        const me = ds.Fiber.self()
        const box = new RxBox()
        this.model.transfer(this.tx.slice(0, this.txLen), rxLen, (rx) => {
            box.rx = rx
            box.done = true
            if (box.waiting) if (me.suspended) me.resume(null)
        })
        while (!box.done) {
            box.waiting = true
            await ds.suspend(1000)
            box.waiting = false
        }
        return box.rx
    }
}

/** @devsWhenUsed */
class RxBox {
    rx: Buffer = Buffer.alloc(0)
    done = false
    waiting = false
}
