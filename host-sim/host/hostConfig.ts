// What the host commands (`seqmirror remote`, `seqmirror primary`) share: the configuration
// file, addresses, the remote's data directory and block digests (Node only).
import { createHash } from "node:crypto"
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Clock, Timer } from "../../hal/clock"
import { Flash, FlashError, FlashGeometry } from "../../hal/flash"
import { Link } from "../../hal/link"
import { NOR_PAGE_SIZE, NOR_SECTOR_SIZE } from "../../hal/spiNor"
import { RuntimeCapabilities } from "../../firmware/boot/capabilities"
import { PrimaryFirmware } from "../../firmware/boot/primaryFirmware"
import { SeqmirrorConfig, validateConfig } from "../../firmware/config"
import { OptionError } from "../simEvents"
import { syncDir } from "./fileFlash"

/** A problem with the command's options, configuration or files: one line, exit code 2. */
export function fail(msg: string): never {
    throw new OptionError(msg)
}

/**
 * As a board's run loop halts when an event throws (a broken invariant: the firmware must not
 * run on in a state it does not know), a host command stops at once: one line on stderr with
 * what was thrown, exit code 3, nothing more done (the flash keeps what its completed
 * operations wrote, as after a power cut).
 */
export function haltOnThrow(): void {
    const halt = (e: unknown) => {
        process.stderr.write("seqmirror: halted: " + ((e as Error)?.stack ?? String(e)) + "\n")
        process.exit(3)
    }
    process.on("uncaughtException", halt)
    process.on("unhandledRejection", halt)
}

/**
 * What a host offers the firmware: the flash is a file, the link a TCP connection (a remote
 * listens), the console reads lines; there is no group bus, so a primary on a host runs a
 * group of one, as a DeviceScript board does.
 */
export function hostCapabilities(): RuntimeCapabilities {
    return {
        name: "a host",
        spiMaster: true,
        i2cMaster: false,
        i2cTarget: false,
        i2cGeneralCall: false,
        uart: false,
        tcpClient: true,
        tcpServer: true,
        consoleInput: true,
    }
}

export interface LoadedConfig {
    config: SeqmirrorConfig
    /** The file's text and its name, for the boot check's lines. */
    text: string
    path: string
}

/** Reads and validates a configuration file (docs/CONFIG.md); fails with its first problem. */
export function loadConfig(path: string): LoadedConfig {
    let text: string
    try {
        text = readFileSync(path, "utf8")
    } catch (e) {
        fail(`cannot read the configuration ${path}: ${(e as Error).message} (give one with --config FILE)`)
    }
    let parsed: unknown
    try {
        parsed = JSON.parse(text)
    } catch (e) {
        fail(`${path}: not valid JSON: ${(e as Error).message}`)
    }
    const errors = validateConfig(parsed)
    if (errors.length > 0) fail(`${path}: ${errors[0]}` + (errors.length > 1 ? ` (and ${errors.length - 1} more: seqmirror config check ${path})` : ""))
    return { config: parsed as SeqmirrorConfig, text, path }
}

/** "HOST:PORT", "[v6]:PORT" or "PORT" (host `defaultHost`); port 0 only with `anyPort` (a
 * listener: any free port). */
export function parseHostPort(option: string, s: string, defaultHost: string, anyPort = false): { host: string; port: number } {
    const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s) ?? /^()()(\d+)$/.exec(s)
    if (!m) fail(`--${option} must be HOST:PORT (or PORT), not "${s}"`)
    const port = Number(m[3])
    const min = anyPort ? 0 : 1
    if (!(port >= min && port <= 65535)) fail(`--${option} ${s}: the port must be ${min}..65535`)
    const host = m[1] || m[2] || defaultHost
    return { host, port }
}

/** The digest the host commands print for a block: the first 16 hex digits of its SHA-256. */
export function digestOf(block: Buffer): string {
    return createHash("sha256").update(block).digest("hex").slice(0, 16)
}

/** How many lbas a primary of this configuration offers its application (PrimaryFirmware's
 * own figure: a quarter of its store's records). */
export function primaryLbaCount(config: SeqmirrorConfig): number {
    const fw = new PrimaryFirmware(config, 0, new IdleClock(), new NoLink(), Math.random, () => {}, new GeometryFlash(config.store.flashBytes))
    return fw.lbaCount
}

/** The remote's data directory: the flash file, and what the group was when it was made. */
export const REMOTE_FLASH_FILE = "flash.bin"
export const REMOTE_GROUP_FILE = "group.json"
const GROUP_FORMAT = "seqmirror-remote-data"

export interface RemoteGroupFile {
    format: string
    version: number
    group: number
    members: { name: string; address: number }[]
    blockSize: number
    /** store.flashBytes: per member; the flash file holds members × this. */
    flashBytes: number
    /** Lbas per member (a primary's lbaCount). */
    lbaCount: number
}

export function groupFileOf(config: SeqmirrorConfig): RemoteGroupFile {
    return {
        format: GROUP_FORMAT,
        version: 1,
        group: config.group.id,
        members: config.group.members.map((m) => ({ name: m.name, address: m.address })),
        blockSize: config.store.blockSize,
        flashBytes: config.store.flashBytes,
        lbaCount: primaryLbaCount(config),
    }
}

/** Reads DIR/group.json; null when there is none; fails when it is not one. */
export function readGroupFile(dir: string): RemoteGroupFile | null {
    const path = join(dir, REMOTE_GROUP_FILE)
    let text: string
    try {
        text = readFileSync(path, "utf8")
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return null
        fail(`cannot read ${path}: ${(e as Error).message}`)
    }
    let g: RemoteGroupFile
    try {
        g = JSON.parse(text) as RemoteGroupFile
    } catch (e) {
        fail(`${path}: not valid JSON: ${(e as Error).message}`)
    }
    if (
        g === null ||
        typeof g !== "object" ||
        g.format !== GROUP_FORMAT ||
        !Array.isArray(g.members) ||
        !(g.blockSize > 0) ||
        !(g.flashBytes > 0) ||
        !(g.lbaCount > 0)
    )
        fail(`${path} is not a seqmirror remote's group file`)
    return g
}

/** Writes DIR/group.json durably (a temporary file, renamed). */
export function writeGroupFile(dir: string, g: RemoteGroupFile): void {
    const path = join(dir, REMOTE_GROUP_FILE)
    try {
        const fd = openSync(path + ".new", "w")
        try {
            writeFileSync(fd, JSON.stringify(g, null, 2) + "\n")
            fsyncSync(fd)
        } finally {
            closeSync(fd)
        }
        renameSync(path + ".new", path)
    } catch (e) {
        fail(`cannot write ${path}: ${(e as Error).message}`)
    }
    syncDir(dir)
}

/** What differs between the group a data directory was made for and a configuration's
 * ("" when they match: same number of members, block size and store size). */
export function groupMismatch(had: RemoteGroupFile, now: RemoteGroupFile): string {
    const shape = (g: RemoteGroupFile) =>
        g.members.length + (g.members.length === 1 ? " member" : " members") + ", " + g.blockSize + "-byte blocks, store.flashBytes " + g.flashBytes
    if (had.members.length === now.members.length && had.blockSize === now.blockSize && had.flashBytes === now.flashBytes) return ""
    return "it holds the remote of a group of " + shape(had) + "; the configuration has " + shape(now)
}

// ---- placeholders for primaryLbaCount: the firmware's constructor only keeps them

class IdleClock implements Clock {
    millis(): number {
        return 0
    }
    setTimer(_delayMs: number, _fire: () => void): Timer {
        return { cancelled: true }
    }
    clearTimer(timer: Timer): void {
        timer.cancelled = true
    }
}

class NoLink implements Link {
    write(data: Buffer): number {
        return data.length
    }
    txFree(): number {
        return 0
    }
    onTxReady(_handler: () => void): void {}
    onReceive(_handler: (data: Buffer) => void): void {}
    bitRate(): number {
        return 0
    }
}

class GeometryFlash implements Flash {
    constructor(private capacity: number) {}
    suspendsErase(): boolean {
        return false
    }

    geometry(): FlashGeometry {
        return { pageSize: NOR_PAGE_SIZE, sectorSize: NOR_SECTOR_SIZE, capacity: this.capacity }
    }
    read(_addr: number, _len: number, done: (err: FlashError, data: Buffer) => void): void {
        done(FlashError.NoDevice, Buffer.alloc(0))
    }
    program(_addr: number, _data: Buffer, done: (err: FlashError) => void): void {
        done(FlashError.NoDevice)
    }
    eraseSector(_addr: number, done: (err: FlashError) => void): void {
        done(FlashError.NoDevice)
    }
}
