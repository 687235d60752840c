/**
 * SpiBus: one SPI peripheral (mode 0) with its own chip-select line.
 *
 * Contract
 * - `transfer(tx, rxLen, done)` asserts chip select (low), clocks out every byte of `tx`, then
 *   clocks in `rxLen` bytes (sending 0x00 while reading), releases chip select (high) and calls
 *   `done(rx)` with exactly `rxLen` bytes (an empty buffer when `rxLen` is 0).
 *   On the wire: `CS↓ tx[0] … tx[n-1] rx[0] … rx[m-1] CS↑`. One transfer is one command to the
 *   device: releasing chip select is what makes an SPI NOR chip start a program or an erase.
 * - The transfer takes (tx.length + rxLen) × 8 / clockHz seconds on the wire plus the driver's
 *   overhead; `done` is called from the run loop after that time.
 * - Transfers do not overlap: calling `transfer` while one is in flight is a programming error
 *   and throws.
 * - A device that is not powered answers 0xFF on every byte (MISO pulled up); the caller finds
 *   out from the data (a JEDEC ID of FF FF FF), not from an error.
 */
export interface SpiBus {
    transfer(tx: Buffer, rxLen: number, done: (rx: Buffer) => void): void
    /** The SPI clock in Hz, for the caller's timing estimates. */
    clockHz(): number
}
