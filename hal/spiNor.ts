/**
 * SPI NOR flash (W25Q128JV class): the command set and datasheet figures shared by the JEDEC
 * driver below and the simulator's chip model.
 */
export const enum NorCmd {
    WriteEnable = 0x06,
    WriteDisable = 0x04,
    ReadStatus1 = 0x05,
    Read = 0x03,
    PageProgram = 0x02,
    SectorErase = 0x20,
    JedecId = 0x9f,
}

/** Status register 1: an erase or program is running. */
export const NOR_STATUS_BUSY = 0x01
/** Status register 1: write enable latch. */
export const NOR_STATUS_WEL = 0x02

export const NOR_PAGE_SIZE = 256
export const NOR_SECTOR_SIZE = 4096

/** Datasheet (W25Q128JV, tBP1/tBP2/tPP, tSE): the first byte of a program and a full page. */
export const NOR_PROGRAM_FIRST_BYTE_TYP_MS = 0.03
export const NOR_PROGRAM_FIRST_BYTE_MAX_MS = 0.05
export const NOR_PROGRAM_TYP_MS = 0.7
export const NOR_PROGRAM_MAX_MS = 3
export const NOR_ERASE_TYP_MS = 45
export const NOR_ERASE_MAX_MS = 400

/** Typical busy time of a program of n bytes: from the first-byte time to the full-page time. */
export function norProgramTypMs(n: number): number {
    if (n <= 1) return NOR_PROGRAM_FIRST_BYTE_TYP_MS
    return NOR_PROGRAM_FIRST_BYTE_TYP_MS + ((NOR_PROGRAM_TYP_MS - NOR_PROGRAM_FIRST_BYTE_TYP_MS) * (n - 1)) / 255
}

/** Maximum busy time of a program of n bytes. */
export function norProgramMaxMs(n: number): number {
    if (n <= 1) return NOR_PROGRAM_FIRST_BYTE_MAX_MS
    return NOR_PROGRAM_FIRST_BYTE_MAX_MS + ((NOR_PROGRAM_MAX_MS - NOR_PROGRAM_FIRST_BYTE_MAX_MS) * (n - 1)) / 255
}
