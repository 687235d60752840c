/**
 * What a runtime offers to seqmirror's drivers. The boot check (bootCheck.ts) compares a
 * configuration with it, so that a board that cannot do what its configuration asks says so
 * at start, one line per missing capability, instead of running without it.
 */
export interface RuntimeCapabilities {
    /** Shown in the boot lines, e.g. "DeviceScript 2.16.4". */
    name: string
    /** An SPI master (for the NOR flash). */
    spiMaster: boolean
    /** I2C master writes with ACK/NACK. */
    i2cMaster: boolean
    /** I2C target mode: the board can be addressed and receive (the shuttle). */
    i2cTarget: boolean
    /** I2C general call, sent and received (the release broadcast). */
    i2cGeneralCall: boolean
    /** A UART driver (the link as a serial line). */
    uart: boolean
    /** Outgoing TCP connections (the link over Wi-Fi). */
    tcpClient: boolean
    /** Listening TCP sockets (a remote accepting its primaries' links). */
    tcpServer: boolean
    /** Lines can be read from the console. */
    consoleInput: boolean
}

/**
 * The DeviceScript runtime, 2.16.4 (the last release): SPI master, I2C master only (the
 * runtime refuses address 0, and has no target mode), TCP client sockets, one at a time, on
 * Wi-Fi boards, no UART driver, no console input. docs/HARDWARE.md has the details.
 */
export function deviceScriptCapabilities(): RuntimeCapabilities {
    return {
        name: "DeviceScript 2.16.4",
        spiMaster: true,
        i2cMaster: true,
        i2cTarget: false,
        i2cGeneralCall: false,
        uart: false,
        tcpClient: true,
        tcpServer: false,
        consoleInput: false,
    }
}
