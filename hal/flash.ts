/**
 * Flash: an SPI NOR flash chip (W25Q128JV class), seen as bytes, pages and sectors.
 *
 * Contract
 * - Geometry: `pageSize` bytes per page (256), `sectorSize` bytes per erase sector (4096),
 *   `capacity` bytes in all. Addresses run from 0 to capacity-1.
 * - `read(addr, len, done)`: reads `len` bytes starting at `addr` (may cross pages and sectors);
 *   `done(err, data)`. Reading never changes the chip.
 * - `program(addr, data, done)`: programs `data` at `addr`. NOR programming can only clear bits
 *   (1→0): the cell becomes `old & new`. A bit that is already 0 cannot be set back to 1 by a
 *   program; only an erase can. The range must lie within one page; a program that would cross a
 *   page boundary is refused with `FlashError.CrossesPage` and changes nothing (the chip itself
 *   would wrap around inside the page and corrupt data, so the driver refuses before sending).
 *   Datasheet time: 0.7 ms typical, 3 ms max for a full page.
 * - `eraseSector(addr, done)`: sets the 4 KB sector that holds `addr` to 0xFF.
 *   Datasheet time: 45 ms typical, 400 ms max.
 * - `eraseBlock(addr, done)`, where the flash has it: sets the 64 KB block (`FLASH_BLOCK_SIZE`,
 *   16 sectors, aligned) that holds `addr` to 0xFF in one operation (the chip's Block Erase, D8h). Datasheet time:
 *   150 ms typical, 2000 ms max, against 720 ms and 6.4 s for its sectors one by one. It is one
 *   erase in every rule below: one at a time, suspended alike, the whole block refused to
 *   reads and programs meanwhile.
 * - One operation at a time: a call while another is in flight is refused with `FlashError.Busy`.
 *   Except, where `suspendsErase()` is true, reads and programs while an erase runs: the driver
 *   suspends the erase (the chip's Erase Suspend), runs them, and resumes it when the last of
 *   those that follow one another (one's done calling the next) has ended; the erase's `done`
 *   comes once it has completed (never while one of them is under way). Reads and programs of
 *   the sector being erased, and a second erase, are refused with `FlashError.Busy`.
 * - Errors come back through `done`, never as an exception. `FlashError.NoDevice` means the chip
 *   did not answer (JEDEC ID FF FF FF or 00 00 00); `FlashError.Timeout` means the chip stayed
 *   busy past the datasheet maximum (the operation may or may not have happened).
 * - Power loss: an interrupted program leaves any subset of the page's intended 1→0 changes
 *   applied; an interrupted erase leaves the sector (every sector of the block) with arbitrary
 *   contents. Software above
 *   must detect both (checksums), never assume.
 */
export const enum FlashError {
    None = 0,
    Busy = 1,
    OutOfRange = 2,
    CrossesPage = 3,
    Timeout = 4,
    NoDevice = 5,
}

export interface FlashGeometry {
    pageSize: number
    sectorSize: number
    capacity: number
}

/** The bytes `eraseBlock` erases: 16 sectors (the W25Q128JV's 64 KB Block Erase, D8h). */
export const FLASH_BLOCK_SIZE = 65536

export interface Flash {
    geometry(): FlashGeometry
    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void
    program(addr: number, data: Buffer, done: (err: FlashError) => void): void
    eraseSector(addr: number, done: (err: FlashError) => void): void
    /** Where the flash has it (BlockFlash). */
    eraseBlock?(addr: number, done: (err: FlashError) => void): void
    /** Reads and programs may be called while an erase runs (see above). */
    suspendsErase(): boolean
}

/** A Flash with block erases. */
export interface BlockFlash extends Flash {
    eraseBlock(addr: number, done: (err: FlashError) => void): void
}
