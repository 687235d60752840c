/**
 * Link: an unframed, unreliable byte stream from a primary board to the remote board
 * (a UART at 8N1, or a radio/TCP socket on Wi-Fi boards).
 *
 * Contract
 * - Bytes go out in order. On a UART at `baud`, 8N1 carries baud/10 bytes per second; a radio
 *   has its own rate. Nothing is guaranteed to arrive: bytes may be lost, corrupted or (on some
 *   radios) duplicated, and the link may be down for any time. There is no framing and no
 *   integrity check: the layer above adds both.
 * - `write(data)` puts bytes into the transmit FIFO and returns how many it took (0..data.length);
 *   it never blocks. What was not taken must be offered again later.
 * - `txFree()` is the free room in the transmit FIFO, in bytes.
 * - `onTxReady(handler)`: `handler` is called from the run loop whenever the FIFO drains below
 *   half full after a write left it above, so a sender need not poll. A link without a FIFO of
 *   its own (the board's socket link: the runtime's socket queues a copy of what it takes) calls
 *   it whenever it can take bytes again after a write it did not take whole, and when it comes
 *   up.
 * - `onReceive(handler)`: `handler(bytes)` is called from the run loop with bytes as they arrive;
 *   chunks have no relation to the sender's writes.
 * - `bitRate()` is the physical rate in bits per second (the baud of a UART), for pacing and for
 *   efficiency figures.
 */
export interface Link {
    write(data: Buffer): number
    txFree(): number
    onTxReady(handler: () => void): void
    onReceive(handler: (data: Buffer) => void): void
    bitRate(): number
}
