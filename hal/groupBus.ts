/**
 * GroupBus: the I2C bus shared by the primary boards of one group (multi-master).
 *
 * Contract
 * - Every member is both a master and a target at its own 7-bit address (0x08..0x77).
 * - `write(addr, data, done)` sends one master write transaction:
 *   `ST SAD+W SAK B0 SAK B1 SAK … Bn SAK SP`. `done(true)` when the target acknowledged its
 *   address and every byte; `done(false)` on a NACK (no such member, a member that is off, or a
 *   target whose receive buffer is full). The transfer takes (1 + n) × 9 bits plus start and
 *   stop at the bus bit rate (100 kHz, 400 kHz or 1 MHz); if the bus is busy the transfer waits
 *   for it (arbitration), so `done` may come later than that.
 * - `generalCall(data, done)` sends the same frame to address 0x00, which every member that
 *   enables general call receives; `done(true)` when at least one target acknowledged.
 * - `onReceive(handler)`: `handler(data, generalCall)` is called from the run loop with each
 *   complete transaction this member received as a target.
 * - I2C has no integrity check: a glitch can flip bits, and the layer above must check (PEC).
 * - `bitRate()`: the bus clock in bits per second.
 * - A runtime that cannot act as a target (no target mode or no general-call receive) must say
 *   so at start; it cannot implement this interface.
 */
export interface GroupBus {
    address(): number
    write(addr: number, data: Buffer, done: (ack: boolean) => void): void
    generalCall(data: Buffer, done: (ack: boolean) => void): void
    onReceive(handler: (data: Buffer, generalCall: boolean) => void): void
    bitRate(): number
}
