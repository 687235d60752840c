// `seqmirror remote`: the remote's firmware on a host, over real TCP, its store in a file
// (Node only). docs/HARDWARE.md has the quick start; README.md "Try it on one machine".
import { mkdirSync, statSync, accessSync, constants } from "node:fs"
import { join } from "node:path"
import { addRemoteCommands, RemoteParts } from "../../firmware/console/commands"
import { appliedText } from "../../firmware/console/remoteCommands"
import { LogLevel, Shell } from "../../firmware/console/shell"
import { remoteFlashBytes, remoteOptionsOf, RemoteFirmware } from "../../firmware/boot/remoteFirmware"
import { checkChannelConfig } from "../../firmware/link/config"
import { StoreError, storeErrorName } from "../../firmware/store/types"
import { BoardConsole, CONSOLE_MAX_LINE, SimConsole } from "../console/hub"
import { ConsoleServer } from "../console/tcp"
import { FileFlash, FlashFileError } from "./fileFlash"
import { lockDataDir, unlockDataDir } from "./dataLock"
import { fail, groupFileOf, haltOnThrow, groupMismatch, loadConfig, readGroupFile, REMOTE_FLASH_FILE, writeGroupFile } from "./hostConfig"
import { NodeClock } from "./nodeClock"
import { RemoteListener } from "./tcpLink"
import { readKeyFile, remoteKeys } from "./keys"
import { RemoteSeal } from "../../firmware/link/remoteSeal"
import { NodeCipher } from "../nodeCipher"

export interface RemoteHostOptions {
    listenHost: string
    listenPort: number
    dataDir: string
    configPath: string
    /** TCP port of the console (0: any free one), or null for none; it listens on consoleHost
     * (127.0.0.1 unless told otherwise). */
    consolePort: number | null
    consoleHost?: string
    /** Commands that change state are taken from console clients that are not on this machine
     * too (default: from local ones only). */
    consoleAdmin?: boolean
    /** Read console lines from stdin too. */
    stdinConsole: boolean
    /** Every member's link key (docs/FORMAT-link.md §11), or null with `insecure`: the link in
     * the clear. */
    keyFile: string | null
    insecure?: boolean
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
    let keys: Buffer[] | null = null
    if (o.keyFile !== null) keys = remoteKeys(readKeyFile(o.keyFile), config)
    else if (!o.insecure) fail("the link needs every member's key: --key-file FILE, or --insecure")
    prepareDataDir(o.dataDir, group)
    lockDataDir(o.dataDir, "stop it first (one remote per data directory)")
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
    const cipher = new NodeCipher()
    const seals: RemoteSeal[] = []
    const listener = new RemoteListener(clock, {
        members: members.length,
        nominalBitRate: config.link.baud,
        maxPayload: ropts.channel.maxPayload,
        sessionOf: (m) => (fw && fw.channels[m] ? fw.channels[m].session() : 0),
        log,
        authentic: keys ? (m, buf, n) => (seals[m] ? seals[m].authentic(buf, n) : false) : undefined,
    })
    fw = new RemoteFirmware(
        ropts,
        clock,
        flash,
        (m) => listener.links[m],
        () => Math.random,
        keys
            ? (m) => {
                  seals[m] = new RemoteSeal(cipher, (keys as Buffer[])[m], m)
                  return seals[m]
              }
            : null
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
    out("store: " + rep.sectors + " sectors, " + rep.liveRecords + " blocks held, " + rep.freeSectors + " free sectors; " + appliedText(store))

    if (keys) out("link: sealed (AES-256-CCM), every member's key from " + o.keyFile + "; only those members are taken")
    else out("link: NOT sealed (--insecure): anyone who reaches the port can read every block and write into this image")
    let boundPort = o.listenPort
    try {
        const at = await listener.listen(o.listenHost, o.listenPort)
        boundPort = at.port
        out("listening on " + at.host + ":" + at.port + " (TCP, one connection per member)")
    } catch (e) {
        clock.stop()
        await flash.close()
        fail(`--listen ${o.listenHost}:${o.listenPort}: ${(e as Error).message}`)
    }

    const parts = (): RemoteParts => ({
        clock,
        board,
        store,
        channels: remote.channels,
        suspendAfterMs: config.group.suspendAfterMs,
        refusedElsewhere: () => listener.refused,
    })
    addRemoteCommands(shell, con, parts, () =>
        hostStatus(
            listener,
            o,
            boundPort,
            members.map((m) => m.name)
        )
    )
    board.onApplied = (seq, m) => shell.log(LogLevel.Debug, "applied seq " + seq + ": " + m.totalPortions() + " portions")

    // commands that change state: from this machine's consoles only, unless --console-admin
    shell.guard = (cmd) =>
        con.lineLocal || o.consoleAdmin
            ? null
            : cmd.name + " changes the remote's state: refused on a console that is not on this machine (seqmirror remote --console-admin)"
    let server: ConsoleServer | null = null
    if (o.consolePort !== null) {
        const bc = new BoardConsole("remote", con, shell)
        const host = o.consoleHost ?? "127.0.0.1"
        server = new ConsoleServer({ boards: [bc] }, "host", host)
        try {
            await server.listen(o.consolePort, false)
        } catch {
            await listener.close()
            clock.stop()
            await flash.close()
            fail(`--console ${host}:${o.consolePort}: the port is in use or the address is not this machine's (port 0: any free port)`)
        }
        const port = bc.port
        out(
            "console on " +
                host +
                ":" +
                port +
                " (nc " +
                (host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host) +
                " " +
                port +
                ")" +
                (o.stdinConsole ? " and on stdin" : "") +
                "; type help" +
                (isLoopbackHost(host)
                    ? ""
                    : o.consoleAdmin
                      ? "; commands that change state taken from anywhere"
                      : "; commands that change state only from this machine")
        )
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
        const line = appliedText(store) + ", members connected " + connected + "/" + listener.links.length + ", staged portions " + board.stagedPortions()
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
                unlockDataDir(o.dataDir)
                if (server) await server.close("seqmirror remote: stopped")
                out("stopped; " + appliedText(store) + ", " + flash.programs + " programs and " + flash.erases + " erases this run, all synced")
                process.stdin.destroy()
                resolve(0)
            })()
        }
        process.on("SIGINT", () => stop("SIGINT"))
        process.on("SIGTERM", () => stop("SIGTERM"))
    })
}

/** Whether a listening address is this machine's loopback only. */
function isLoopbackHost(host: string): boolean {
    return host === "127.0.0.1" || host === "::1" || host === "localhost"
}

/** The host's lines of `status`: where it listens, its data, each member's connection. */
function hostStatus(listener: RemoteListener, o: RemoteHostOptions, port: number, names: string[]): string[] {
    const lines = ["host: data " + o.dataDir + ", listening on " + o.listenHost + ":" + port]
    for (const l of listener.links)
        lines.push("member " + l.member + " (" + names[l.member] + "): " + (l.socket ? "connected from " + l.peer : "not connected"))
    return lines
}
