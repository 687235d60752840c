import { FlashError } from "../../hal/flash"
import { SpiNorFlash } from "../../hal/spiNor"
import { RunLoop } from "../../hal/devicescript/clock"
import { initFlash } from "../../hal/devicescript/flashProbe"
import { SocketLink } from "../../hal/devicescript/socketLink"
import { DsSpiBus, SpiPort } from "../../hal/devicescript/spiBus"
import { hex32 } from "../codec/bytes"
import { SeqmirrorConfig } from "../config"
import { checkBoot } from "./bootCheck"
import { deviceScriptCapabilities, RuntimeCapabilities } from "./capabilities"
import { PrimaryFirmware } from "./primaryFirmware"
import { LinkSeal } from "../link/seal"

// A board's start on the DeviceScript runtime: the drivers of hal/devicescript/ brought up from
// a validated configuration, then a primary's firmware on them. The board entry
// (firmware/main.ts) calls it, and so do the VM tests of test/board/. Like the entry, this file
// is DeviceScript-side: it imports the runtime's drivers, so it is type-checked with the
// DeviceScript types (tsconfig.devicescript.json), not Node's.

/**
 * The board's drivers, constructed and probed, for firmware/main.ts to wire into the firmware.
 * Every callback of every driver runs from `loop`.
 */
export interface BoardDrivers {
    config: SeqmirrorConfig
    /** For a primary: its index in group.members (the member id); -1 on a remote. */
    memberIndex: number
    /** The Clock: the board's run loop. */
    loop: RunLoop
    /** The SPI bus of the flash (its counters: transfers, failedTransfers). */
    spi: DsSpiBus
    /** The NOR flash, initialised; its capacity is store.flashBytes (the store's part). */
    flash: SpiNorFlash
    /** JEDEC ID and full size of the chip found. */
    jedecId: number
    chipBytes: number
    /** For a primary: the link to the remote, not started (call `link.start()` once its
     * handlers are wired). Null on a remote. */
    link: SocketLink | null
    /** Always null: this runtime cannot implement GroupBus, so a board runs a group of one
     * (the boot refuses a group member). */
    groupBus: null
    /** Uniform in [0, 1), for backoff jitter and session nonces. */
    random: () => number
}

export interface BoardStart {
    ok: boolean
    /** Null when the board must not start (then `problems` says why). */
    drivers: BoardDrivers | null
    /** One line per problem, without the "seqmirror: " prefix. */
    problems: string[]
    /** What the board does, one line each, without the prefix. */
    notes: string[]
}

export interface StartOptions {
    /** Name of the configuration for error lines (default "devicescript.json"). */
    source?: string
    /** Default: deviceScriptCapabilities(). */
    caps?: RuntimeCapabilities
    /** Where boot lines go (default console.log). */
    print?: (line: string) => void
    /** How long the flash may take to answer its JEDEC ID (default 2000 ms). */
    flashTimeoutMs?: number
    /** The byte-level SPI under the flash (default: the runtime's, on board.pins); the tests
     * put a chip model here. */
    spiPort?: SpiPort
    /** The run loop to use (default: a new one). */
    loop?: RunLoop
    /** The member's 32-byte link key (docs/FORMAT-link.md §11): the board entry passes what its
     * settings hold, null when they hold none: then the board does not start. Left out, the
     * check is not made (tests against a remote without keys). The key itself goes to
     * runStarted, in the link's sealing layer. */
    key?: Buffer | null
}

/**
 * Starts a board from its configuration text (firmware/boot/boardConfig.ts, generated from
 * devicescript.json at build time):
 * 1. parses and validates it (validateConfig) and checks the runtime can do what it asks
 *    (checkBoot): a group member, a remote, a missing link are refused here;
 * 2. opens the SPI bus (pins, clock) and probes the NOR flash (JEDEC ID, size against
 *    store.flashBytes);
 * 3. constructs the link (a primary's TCP socket to link.remoteHost:remotePort).
 * It prints what it found: one line per note, one line per problem, then either
 * "seqmirror: board ready" or "seqmirror: board not started: N problem(s)". On failure
 * `drivers` is null and the run loop is stopped; it never throws.
 */
export async function startBoard(configText: string, opts?: StartOptions): Promise<BoardStart> {
    const o: StartOptions = opts !== undefined ? opts : {}
    const caps = o.caps !== undefined ? o.caps : deviceScriptCapabilities()
    return await startChecked(checkBoot(configText, o.source !== undefined ? o.source : "devicescript.json", caps), caps, o)
}

/** What startChecked needs of a boot check (a BootCheck, or what the build embedded of one). */
export interface CheckedConfig {
    config: SeqmirrorConfig | null
    memberIndex: number
    problems: string[]
    notes: string[]
}

/**
 * Steps 2 and 3 of startBoard, on the result of step 1 (checkBoot). Without `caps`, the
 * runtime is DeviceScript's (the link is a TCP socket): the board image, whose check ran at
 * build time, passes none.
 */
export async function startChecked(check: CheckedConfig, caps?: RuntimeCapabilities, opts?: StartOptions): Promise<BoardStart> {
    let o: StartOptions = {}
    if (opts !== undefined) o = opts
    let print = (line: string) => console.log(line)
    if (o.print !== undefined) print = o.print
    let flashTimeoutMs = 2000
    if (o.flashTimeoutMs !== undefined) flashTimeoutMs = o.flashTimeoutMs
    const problems = check.problems
    const notes = check.notes
    const cfg = check.config
    if (cfg === null) return finish(print, problems, notes, null)
    if (o.key === null)
        problems.push("no link key: the setting SEQMIRROR_KEY is missing or is not 64 hex digits (seqmirror keygen makes one for .env.local; docs/HARDWARE.md)")
    else if (o.key !== undefined) notes.push("link: every frame sealed with this member's key (AES-256-CCM)")

    let loop = o.loop
    if (loop === undefined) loop = new RunLoop()
    const bus = new DsSpiBus(loop, cfg.board.pins, cfg.board.spiHz, o.spiPort)
    let flash: SpiNorFlash | null = null
    let jedecId = -1
    let chipBytes = 0
    const spiProblems = bus.open()
    for (let i = 0; i < spiProblems.length; i++) problems.push(spiProblems[i])
    if (spiProblems.length > 0) problems.push("the SPI NOR flash was not probed: its bus is not available")
    else {
        // the whole chip, to learn its size (the store takes its first store.flashBytes)
        const probe = new SpiNorFlash(bus, loop)
        const r = await initFlash(probe, flashTimeoutMs)
        const id = "JEDEC ID " + hex32(r.id >>> 0).slice(2)
        if (r.err === FlashError.Timeout) problems.push("SPI NOR flash: no answer within " + flashTimeoutMs + " ms (SPI driver stuck?)")
        else if (r.err !== FlashError.None)
            problems.push("no SPI NOR flash answers on chip select GPIO " + cfg.board.pins.cs + " (" + id + "): check its wiring and power (docs/HARDWARE.md)")
        else {
            jedecId = r.id
            chipBytes = probe.geometry().capacity
            const storeBytes = cfg.store.flashBytes
            if (chipBytes < storeBytes)
                problems.push("store.flashBytes: " + storeBytes + " is more than the flash chip holds (" + chipBytes + " bytes, " + id + ")")
            else {
                flash = probe
                notes.push("flash: " + id + ", " + chipBytes + " bytes; the store uses the first " + storeBytes)
            }
        }
    }

    let link: SocketLink | null = null
    // a board without capabilities given is one of this runtime: TCP, no UART
    let tcp = true
    if (caps !== undefined) {
        if (caps.uart) tcp = false
        if (!caps.tcpClient) tcp = false
    }
    if (tcp) if (cfg.board.role === "primary") link = new SocketLink(loop, cfg.link)

    // (the flash is null only when a problem says why)
    if (problems.length > 0) {
        loop.stop()
        return finish(print, problems, notes, null)
    }
    const drivers: BoardDrivers = {
        config: cfg,
        memberIndex: check.memberIndex,
        loop: loop,
        spi: bus,
        flash: flash as SpiNorFlash,
        jedecId: jedecId,
        chipBytes: chipBytes,
        link: link,
        groupBus: null,
        random: () => Math.random(),
    }
    return finish(print, problems, notes, drivers)
}

function finish(print: (line: string) => void, problems: string[], notes: string[], drivers: BoardDrivers | null): BoardStart {
    for (let i = 0; i < notes.length; i++) print("seqmirror: " + notes[i])
    for (let i = 0; i < problems.length; i++) print("seqmirror: " + problems[i])
    if (drivers !== null) print("seqmirror: board ready")
    else {
        let what = " problems"
        if (problems.length === 1) what = " problem"
        print("seqmirror: board not started: " + problems.length + what)
    }
    return { ok: drivers !== null, drivers: drivers, problems: problems, notes: notes }
}

/** How often a replicating board prints its status line. */
const STATUS_EVERY_MS = 60000

/**
 * The board entry's whole start (firmware/main.ts is this call with the configuration embedded
 * at build time): startBoard, then, when the drivers are up, runStarted. Resolves with
 * the firmware once replication is starting, or null when the board does not start (after
 * the lines saying why). `ready(fw)` is called once replication runs: the application's
 * writes then go to `fw.board`.
 */
export async function runBoard(configText: string, opts?: StartOptions, ready?: (fw: PrimaryFirmware) => void): Promise<PrimaryFirmware | null> {
    return runStarted(await startBoard(configText, opts), ready)
}

/**
 * Runs a primary's replication on a board that started (null when it did not): the
 * PrimaryFirmware (block store on the flash, link channel on the link, pipeline, SoloCycle),
 * started from the run loop; the link starts once the firmware listens to it. On failure the
 * firmware has printed why and the run loop stops. While it runs, a status line every minute.
 * Returns the firmware at once. `sealer`: the link's sealing layer (docs/FORMAT-link.md §11; the
 * board entry makes it with the key from the board's settings), or none: the link is not
 * sealed. `extras`: what the configuration turns on beyond replication, given to the firmware
 * before it starts (the board entry passes boardExtras, which bin/gen-board-config.mjs generates
 * from its configuration; a VM test, its own).
 */
export function runStarted(
    started: BoardStart,
    ready?: (fw: PrimaryFirmware) => void,
    sealer?: LinkSeal | null,
    extras?: (fw: PrimaryFirmware) => void
): PrimaryFirmware | null {
    const d = started.drivers
    if (d === null) return null
    const link = d.link as SocketLink
    const loop = d.loop
    const fw = new PrimaryFirmware(d.config, d.memberIndex, loop, link, d.random, (line) => console.log("seqmirror: " + line), d.flash)
    if (extras) extras(fw)
    if (sealer) fw.sealer = sealer
    loop.setTimer(0, () => {
        fw.start((ok) => {
            if (!ok) {
                loop.stop()
                return
            }
            link.start()
            const status = () => {
                console.log("seqmirror: " + fw.statusLine())
                loop.setTimer(STATUS_EVERY_MS, status)
            }
            loop.setTimer(STATUS_EVERY_MS, status)
            if (ready !== undefined) ready(fw)
        })
    })
    return fw
}
