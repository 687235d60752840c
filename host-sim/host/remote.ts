// `seqmirror remote`: the remote's firmware on a host, over real TCP, its store in a file
// (Node only). docs/HARDWARE.md has the quick start; README.md "Try it on one machine".
import { mkdirSync, statSync, accessSync, constants } from "node:fs"
import { join } from "node:path"
import { addRemoteCommands, RemoteParts } from "../../firmware/console/commands"
import { LogLevel, Shell } from "../../firmware/console/shell"
import { remoteFlashBytes, remoteOptionsOf, RemoteFirmware } from "../../firmware/boot/remoteFirmware"
import { checkChannelConfig } from "../../firmware/link/config"
import { StoreError, storeErrorName } from "../../firmware/store/types"
import { BoardConsole, CONSOLE_MAX_LINE, SimConsole } from "../console/hub"
import { ConsoleServer } from "../console/tcp"
import { FileFlash, FlashFileError } from "./fileFlash"
import { fail, groupFileOf, haltOnThrow, groupMismatch, loadConfig, readGroupFile, REMOTE_FLASH_FILE, writeGroupFile } from "./hostConfig"
import { NodeClock } from "./nodeClock"
import { RemoteListener } from "./tcpLink"

export interface RemoteHostOptions {
    listenHost: string
    listenPort: number
    dataDir: string
    configPath: string
    /** TCP port of the console on 127.0.0.1 (0: any free one), or null for none. */
    consolePort: number | null
    /** Read console lines from stdin too. */
    stdinConsole: boolean
}

/** How often the remote prints a status line, when something changed. */
const STATUS_EVERY_MS = 5000

/** Prepares DIR: made if missing, a writable directory; its group file, if any, for this
 * group. */
function prepareDataDir(dir: string, group: ReturnType<typeof groupFileOf>): void {
    let st
    try {
        st = statSync(dir)
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") fail(`--data ${dir}: ${(e as Error).message}`)
        try {
            mkdirSync(dir, { recursive: true })
            st = statSync(dir)
        } catch (e2) {
            fail(`--data ${dir}: cannot make the directory: ${(e2 as Error).message}`)
        }
    }
    if (!st.isDirectory()) fail(`--data ${dir} is not a directory (the remote keeps its flash file and group file in one)`)
    try {
        accessSync(dir, constants.W_OK | constants.X_OK)
    } catch {
        fail(`--data ${dir} is not writable`)
    }
    const had = readGroupFile(dir)
    if (had !== null) {
        const why = groupMismatch(had, group)
        if (why !== "") fail(`--data ${dir}: ${why}; use another directory for this group`)
    }
}

/**
 * Runs the remote until SIGINT or SIGTERM: resolves with the exit code (0 after a clean
 * stop); option and file problems throw OptionError (one line, exit code 2).
 */
export async function runRemote(o: RemoteHostOptions): Promise<number> {
    const loaded = loadConfig(o.configPath)
    const config = loaded.config
    const group = groupFileOf(config)
    const members = config.group.members
    const ropts = remoteOptionsOf(config)
    const chErr = checkChannelConfig(ropts.channel)
    if (chErr !== null) fail("link channel: " + chErr)
    prepareDataDir(o.dataDir, group)
    const flashPath = join(o.dataDir, REMOTE_FLASH_FILE)
    const capacity = remoteFlashBytes(config)
    let flash: FileFlash
    try {
        flash = FileFlash.open(flashPath, capacity)
    } catch (e) {
        if (e instanceof FlashFileError) fail(`--data ${o.dataDir}: ${e.message}`)
        throw e
    }
    // the group the flash is for, with this configuration's names
    writeGroupFile(o.dataDir, group)
    const out = (line: string) => process.stdout.write("seqmirror remote: " + line + "\n")
    out(
        "group " +
            config.group.id +
            ", " +
            members.length +
            (members.length === 1 ? " member" : " members") +
            " (" +
            members.map((m, i) => i + " " + m.name).join(", ") +
            "), " +
            config.store.blockSize +
            "-byte blocks; flash " +
            flashPath +
            ", " +
            capacity +
            " bytes"
    )

    const clock = new NodeClock()
    // the console: every line the remote reports goes to it, so to stdout and to every client
    const con = new SimConsole()
    const shell = new Shell(con, CONSOLE_MAX_LINE)
    const stdio = con.connect({ write: (text) => process.stdout.write(text.replace(/\r\n/g, "\n")) }, false)
    const log = (line: string) => shell.log(LogLevel.Info, line)

    let fw: RemoteFirmware | null = null
    const listener = new RemoteListener(clock, {
        members: members.length,
        nominalBitRate: config.link.baud,
        maxPayload: ropts.channel.maxPayload,
        sessionOf: (m) => (fw && fw.channels[m] ? fw.channels[m].session() : 0),
        log,
    })
    fw = new RemoteFirmware(
        ropts,
        clock,
        flash,
        (m) => listener.links[m],
        () => Math.random
    )
    const remote = fw
    const mounted = await new Promise<StoreError>((resolve) => remote.start(resolve))
    if (mounted !== StoreError.None) {
        clock.stop()
        await flash.close()
        if (mounted === StoreError.IncompatibleFormat)
            fail(`--data ${o.dataDir}: ${flashPath} holds a store of another format or block size; it is left untouched`)
        if (mounted === StoreError.Config)
            fail(
                `the remote's store of ${capacity} bytes (store.flashBytes × ${members.length} members) has more records than one store indexes (65534): lower store.flashBytes`
            )
        fail(`--data ${o.dataDir}: the store did not mount: ${storeErrorName(mounted)}`)
    }
    const store = remote.store
    const board = remote.board!
    const rep = store.lastMountReport()
    out("store: " + rep.sectors + " sectors, " + rep.liveRecords + " blocks held, " + rep.freeSectors + " free sectors; applied seq " + store.appliedSeq())

    try {
        const at = await listener.listen(o.listenHost, o.listenPort)
        out("listening on " + at.host + ":" + at.port + " (TCP, one connection per member)")
    } catch (e) {
        clock.stop()
        await flash.close()
        fail(`--listen ${o.listenHost}:${o.listenPort}: ${(e as Error).message}`)
    }

    const parts = (): RemoteParts => ({ clock, board, store, channels: remote.channels, suspendAfterMs: config.group.suspendAfterMs })
    addRemoteCommands(shell, con, parts, () =>
        hostStatus(
            listener,
            o,
            members.map((m) => m.name)
        )
    )
    board.onApplied = (seq, m) => shell.log(LogLevel.Debug, "applied seq " + seq + ": " + m.totalPortions() + " portions")

    let server: ConsoleServer | null = null
    if (o.consolePort !== null) {
        const bc = new BoardConsole("remote", con, shell)
        server = new ConsoleServer({ boards: [bc] }, "host")
        try {
            await server.listen(o.consolePort, false)
        } catch {
            await listener.close()
            clock.stop()
            await flash.close()
            fail(`--console ${o.consolePort}: the port is in use (0: any free port)`)
        }
        const port = bc.port
        out("console on 127.0.0.1:" + port + " (nc 127.0.0.1 " + port + ")" + (o.stdinConsole ? " and on stdin" : "") + "; type help")
    } else if (o.stdinConsole) out("console on stdin; type help")
    haltOnThrow()
    if (o.stdinConsole) {
        // a remote started in the background of a terminal must not be stopped by reading it
        process.on("SIGTTIN", () => {})
        process.stdin.on("data", (d: Buffer) => stdio.feed(d))
        process.stdin.on("error", () => {})
    }

    // a status line when something changed
    let last = ""
    const status = () => {
        let connected = 0
        for (const l of listener.links) if (l.socket) connected++
        const line =
            "applied seq " +
            store.appliedSeq() +
            ", members connected " +
            connected +
            "/" +
            listener.links.length +
            ", staged portions " +
            board.stagedPortions()
        if (line !== last) log(line)
        last = line
        clock.setTimer(STATUS_EVERY_MS, status)
    }
    clock.setTimer(STATUS_EVERY_MS, status)

    return new Promise<number>((resolve) => {
        let stopping = false
        const stop = (sig: string) => {
            if (stopping) return
            stopping = true
            out("stopping (" + sig + "): finishing the flash operation under way")
            void (async () => {
                await listener.close()
                remote.stop()
                clock.stop()
                await flash.close()
                if (server) await server.close("seqmirror remote: stopped")
                out("stopped; applied seq " + store.appliedSeq() + ", " + flash.programs + " programs and " + flash.erases + " erases this run, all synced")
                process.stdin.destroy()
                resolve(0)
            })()
        }
        process.on("SIGINT", () => stop("SIGINT"))
        process.on("SIGTERM", () => stop("SIGTERM"))
    })
}

/** The host's lines of `status`: where it listens, its data, each member's connection. */
function hostStatus(listener: RemoteListener, o: RemoteHostOptions, names: string[]): string[] {
    const lines = ["host: data " + o.dataDir + ", listening on " + o.listenHost + ":" + o.listenPort]
    for (const l of listener.links)
        lines.push("member " + l.member + " (" + names[l.member] + "): " + (l.socket ? "connected from " + l.peer : "not connected"))
    return lines
}
