// A NOR chip for the board's entries run in the DeviceScript VM, which has no SPI: an SpiPort
// under the board's SPI bus and JEDEC driver. It is never busy: WREN sets WEL; a page program or
// a sector or block erase runs when chip select rises and clears WEL. It keeps each page programmed since
// its erase in a dictionary (inverted: a new zeroed page reads erased), so that a chip of any
// size costs the VM's heap only the pages written.
import { SpiPort } from "../../hal/devicescript/spiBus"

/** @devsWhenUsed */
export class SparseNor implements SpiPort {
    private cmd = Buffer.alloc(264)
    private n = 0
    private wel = false
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- an object used as a map of page numbers (the VM has no Map)
    private pages: any = {}

    /** sizeId: the JEDEC ID's third byte, log2 of the size (0x14: 1 MB, 0x18: 16 MB). */
    constructor(private sizeId: number) {}

    /** Forgets every page written (a RAM probe's start: the chip is not the board's RAM). */
    forget(): void {
        this.pages = {}
    }

    open(): string[] {
        return []
    }
    async select() {
        this.n = 0
    }
    async write(tx: Buffer) {
        this.cmd.blitAt(this.n, tx, 0, tx.length)
        this.n += tx.length
    }
    async exchange(out: Buffer): Promise<Buffer> {
        const rx = Buffer.alloc(out.length)
        const c = this.cmd[0]
        const a = (this.cmd[1] << 16) | (this.cmd[2] << 8) | this.cmd[3]
        if (c === 0x9f) {
            rx[0] = 0xef
            rx[1] = 0x40
            rx[2] = this.sizeId
        } else if (c === 0x05) rx[0] = this.wel ? 2 : 0
        else if (c === 0x03)
            for (let i = 0; i < rx.length; i++) {
                const p = this.pages["" + ((a + i) >> 8)]
                rx[i] = p ? p[(a + i) & 255] ^ 0xff : 0xff
            }
        return rx
    }
    async deselect() {
        const c = this.cmd[0]
        const a = (this.cmd[1] << 16) | (this.cmd[2] << 8) | this.cmd[3]
        if (c === 0x06) this.wel = true
        else if ((c === 0x02 || c === 0x20 || c === 0xd8) && this.wel) {
            this.wel = false
            if (c === 0x20) for (let i = 0; i < 16; i++) this.pages["" + (((a >> 12) << 4) + i)] = null
            else if (c === 0xd8) for (let i = 0; i < 256; i++) this.pages["" + (((a >> 16) << 8) + i)] = null
            else {
                let p = this.pages["" + (a >> 8)]
                if (!p) {
                    p = Buffer.alloc(256)
                    this.pages["" + (a >> 8)] = p
                }
                // programming only clears bits (sets bits of the inverted cells), wrapping in the page
                for (let i = 4; i < this.n; i++) p[(a + i - 4) & 255] = p[(a + i - 4) & 255] | (this.cmd[i] ^ 0xff)
            }
        }
    }
}
