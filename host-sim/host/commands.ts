// The command lines of `seqmirror remote`, `seqmirror remote export` and `seqmirror primary`:
// options, their checks and help texts (Node only).
import { parseArgs } from "node:util"
import { parseDurationMs } from "../simEvents"
import { fail, loadConfig, parseHostPort } from "./hostConfig"
import { runPrimary } from "./primary"
import { runRemote } from "./remote"
import { formatImage, readRemoteImage } from "./remoteExport"
import { promoteDataDir } from "./remotePromote"
import { keygen } from "./keys"

export const REMOTE_HELP = `seqmirror remote — the remote's firmware on this machine, over TCP

Usage: seqmirror remote --data DIR --key-file FILE [--listen HOST:PORT] [--config FILE]
                        [--console [HOST:]PORT [--console-admin]]
       seqmirror remote export --data DIR [--json]
       seqmirror remote promote --data DIR [--json]

Runs the remote of a group (the firmware the simulator's remote runs: its block store, one
link channel per member, the apply) and mirrors the primaries that connect to it: boards
over Wi-Fi, or \`seqmirror primary\` on a host. Each primary opens one TCP connection; the
member id in its HELLO says whose it is, and a new connection of a member replaces its old one.
Every frame is sealed (AES-256-CCM) with the member's key: a HELLO that does not open under
the key of the member it names is refused and its connection closed, so only the configured
members, holding their keys, are taken (docs/FORMAT-link.md §11).
It stops cleanly on SIGINT or SIGTERM (Ctrl-C): the flash operation under way finishes, the
sockets close, exit code 0. What it confirmed to a primary is on disk before it says so:
killed at any moment, it comes back with everything it applied.

Options
  --data DIR          where its flash lives (made if missing): DIR/flash.bin, store.flashBytes
                      bytes per member, and DIR/group.json, the group it was made for
  --listen HOST:PORT  where primaries connect (default 0.0.0.0 and the configuration's
                      link.remotePort); PORT alone listens on every interface; port 0:
                      any free port (printed at start: "listening on HOST:PORT")
  --config FILE       the group: members, block size, store size (default devicescript.json)
  --key-file FILE     every member's link key, one line each: NAME HEX (seqmirror keygen
                      writes it: remote.keys); refused if others can read it (chmod 600)
  --insecure          no --key-file: the link in the clear, unauthenticated (anyone who
                      reaches the port can read every block and write into the image)
  --console [HOST:]PORT  also serve the console on HOST:PORT (default host 127.0.0.1, this
                      machine only; port 0: any free port, printed at start); the console
                      always reads commands from stdin too (status, stats --json, seq, link,
                      group, read <member> <lba>, promote, failback, write <member> <lba>
                      <text>, help)
  --console-admin     commands that change state are taken from console clients on other
                      machines too (default: refused unless the client is on this machine)

Options of export (the remote need not be stopped: export reads a copy of the flash file)
  --data DIR          the remote's directory
  --json              one JSON object: {format, version, appliedSeq, group, blockSize,
                      lbaCount, members: [{member, name, blocks: [{lba, seq, digest, crc32c,
                      base64}]}]}; digest: first 16 hex digits of the block's SHA-256
  prints the applied image: every write up to appliedSeq, for every member; blocks never
  written are left out

promote (the primary site is lost: docs/OPERATIONS.md, "Promote the remote"), for a remote
whose process is stopped (a running one is promoted on its console: promote)
  --data DIR          the remote's directory; what is staged above the applied seq is
                      discarded, and the promotion recorded: started again, the remote fences
                      its primaries (they are refused, and say so on their consoles), takes
                      writes to its image on its console (write) and serves boards that
                      restore from it; failback on its console hands the role back
  --json              one JSON object: {promotedSeq, already, seqsLost, writesLost}

Bad options, an unusable --data or configuration: one line on stderr, exit code 2.
`

export const PRIMARY_HELP = `seqmirror primary — a primary's firmware on this machine, replicating over TCP

Usage: seqmirror primary --data FILE --key-file FILE [--connect HOST:PORT] [--member N|NAME]
                         [--config FILE] [--restore] [--rate R [--duration D] | < lines] [--json]

Runs the firmware a board runs (its block store in FILE, the pipeline, its cycle, the link
channel over TCP to the remote, reconnecting with backoff) and writes blocks: at a rate, or one
per line of stdin. A group of one, as on a board (a host has no group bus). Killed and started
again on the same FILE, it recovers what its flash holds and goes on (a new generation).

Options
  --data FILE         its flash: store.flashBytes bytes, made erased if missing
  --connect HOST:PORT the remote (default: the configuration's link.remoteHost:remotePort)
  --member N|NAME     which member of group.members it is (default: board.member)
  --config FILE       the configuration (default devicescript.json)
  --key-file FILE     this member's link key: NAME HEX, its line only (seqmirror keygen
                      writes NAME.key); refused if others can read it (chmod 600)
  --insecure          no --key-file: the link in the clear (a remote run with --insecure)
  --restore           a board in place of a lost one: FILE blank (or missing), it first takes
                      the member's image back from the remote (as of the remote's applied
                      seq), then replicates; a FILE that holds blocks is not restored over
  --rate R            R writes per second, each to a random lba, until --duration D
                      (e.g. 20s, 2m; default: until Ctrl-C); --seed N picks the lbas
  (no --rate)         one write per line of stdin: "LBA TEXT", the text's bytes padded with
                      zeros to a block; empty lines and lines starting with # are skipped
  --drain T           after the workload, wait at most T for the remote to confirm every
                      acknowledged write (default 60s)
  --json              one JSON object per line: start, write {n, lba, digest}, ack {n, lba,
                      seq, digest}, confirmed {n, lba, seq, digest} (the remote applied it),
                      fail, log {line}, end {written, acked, confirmed, failed, drained, ...};
                      digest: first 16 hex digits of the block's SHA-256

Exit code 0 when every acknowledged write was confirmed (or on SIGINT/SIGTERM), 1 when the
drain ran out; bad options, an unusable --data or configuration: one line on stderr, exit 2.
`

export const KEYGEN_HELP = `seqmirror keygen — link keys for every member of a group

Usage: seqmirror keygen --out DIR [--config FILE]

Makes a new 32-byte key for every member of the configuration's group.members, from the
system's cryptographic generator, and writes (mode 600, DIR made with mode 700; nothing is
written over):
  DIR/remote.keys       every member's key: seqmirror remote --key-file DIR/remote.keys
  DIR/NAME.key          one member's key: seqmirror primary --key-file DIR/NAME.key
  DIR/NAME.env.local    the line SEQMIRROR_KEY="..." for that member's board: copy it into
                        the board project's .env.local (never into devicescript.json or the
                        repository); devs deploys it into the board's settings

Each primary holds only its own key, the remote every member's. To change the keys, make new
ones and give each end its new file (docs/HARDWARE.md, "Link keys").

Options
  --out DIR           where the keys go
  --config FILE       the group (default devicescript.json)
`

export function cmdKeygen(args: string[]): number {
    if (wantsHelp(args)) {
        process.stdout.write(KEYGEN_HELP)
        return 0
    }
    const { values, positionals } = parseArgs({ args, options: { out: { type: "string" }, config: { type: "string" } }, allowPositionals: true, strict: true })
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}" (seqmirror keygen --help)`)
    const out = required("out", values.out, "keys")
    const config = loadConfig(values.config ?? "devicescript.json").config
    for (const line of keygen(config, out)) process.stdout.write("seqmirror keygen: " + line + "\n")
    return 0
}

function wantsHelp(args: string[]): boolean {
    return args.includes("--help") || args.includes("-h")
}

function intOption(name: string, s: string | undefined, def: number, min: number, max: number): number {
    if (s === undefined) return def
    if (!/^\d+$/.test(s)) fail(`--${name} must be a whole number, not "${s}"`)
    const v = Number(s)
    if (v < min || v > max) fail(`--${name} must be between ${min} and ${max}, not ${v}`)
    return v
}

/** --key-file FILE, or null with --insecure (one of them is required): `what` says which key. */
function keyFileOption(file: string | undefined, insecure: boolean, what: string): string | null {
    if (file !== undefined && insecure) fail("--key-file and --insecure exclude each other")
    if (file === "") fail("--key-file needs a file, e.g. --key-file keys/remote.keys")
    if (file === undefined && !insecure)
        fail(`the link needs ${what}: --key-file FILE (seqmirror keygen --out DIR makes the keys), or --insecure to run it in the clear`)
    return file ?? null
}

function required(name: string, v: string | undefined, example: string): string {
    if (v === undefined || v === "") fail(`--${name} is required, e.g. --${name} ${example}`)
    return v
}

export async function cmdRemote(args: string[]): Promise<number> {
    if (wantsHelp(args)) {
        process.stdout.write(REMOTE_HELP)
        return 0
    }
    if (args[0] === "export") return cmdRemoteExport(args.slice(1))
    if (args[0] === "promote") return cmdRemotePromote(args.slice(1))
    const { values, positionals } = parseArgs({
        args,
        options: {
            data: { type: "string" },
            listen: { type: "string" },
            config: { type: "string" },
            console: { type: "string" },
            "console-admin": { type: "boolean" },
            "key-file": { type: "string" },
            insecure: { type: "boolean" },
        },
        allowPositionals: true,
        strict: true,
    })
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}" (seqmirror remote --help)`)
    const dataDir = required("data", values.data, "remote-data")
    const configPath = values.config ?? "devicescript.json"
    let consolePort: number | null = null
    let consoleHost = "127.0.0.1"
    if (values.console !== undefined) {
        const c = parseHostPort("console", values.console, "127.0.0.1", true)
        consolePort = c.port
        consoleHost = c.host
    }
    if (values["console-admin"] && values.console === undefined) fail("--console-admin needs --console (stdin is this machine's console already)")
    const keyFile = keyFileOption(values["key-file"], values.insecure === true, "every member's key")
    let listen: { host: string; port: number }
    if (values.listen !== undefined) listen = parseHostPort("listen", values.listen, "0.0.0.0", true)
    else listen = { host: "0.0.0.0", port: loadConfig(configPath).config.link.remotePort }
    return runRemote({
        listenHost: listen.host,
        listenPort: listen.port,
        dataDir,
        configPath,
        consolePort,
        consoleHost,
        consoleAdmin: values["console-admin"] === true,
        stdinConsole: true,
        keyFile,
        insecure: values.insecure === true,
    })
}

async function cmdRemoteExport(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({ args, options: { data: { type: "string" }, json: { type: "boolean" } }, allowPositionals: true, strict: true })
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}" (seqmirror remote --help)`)
    const dir = required("data", values.data, "remote-data")
    const image = await readRemoteImage(dir)
    if (values.json) process.stdout.write(JSON.stringify(image) + "\n")
    else for (const l of formatImage(dir, image)) process.stdout.write(l + "\n")
    return 0
}

async function cmdRemotePromote(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({ args, options: { data: { type: "string" }, json: { type: "boolean" } }, allowPositionals: true, strict: true })
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}" (seqmirror remote --help)`)
    const dir = required("data", values.data, "remote-data")
    const p = await promoteDataDir(dir)
    if (values.json) {
        process.stdout.write(JSON.stringify({ promotedSeq: p.seq, already: p.already, seqsLost: p.seqsLost, writesLost: p.writesLost }) + "\n")
        return 0
    }
    const out = (line: string) => process.stdout.write("seqmirror remote promote: " + line + "\n")
    if (p.already) out("promoted already, as of seq " + p.seq)
    else {
        out("promoted: the image as of seq " + p.seq + " is writable for every member's volume; the primaries are fenced when it runs")
        out(
            "failover data loss: " +
                p.writesLost +
                " staged write(s) in " +
                p.seqsLost +
                " seq(s) above it, discarded (seqs the stopped remote heard of only in manifests are not counted)"
        )
    }
    out("start it: seqmirror remote --data " + dir + " ...; fail back on its console: failback")
    return 0
}

export async function cmdPrimary(args: string[]): Promise<number> {
    if (wantsHelp(args)) {
        process.stdout.write(PRIMARY_HELP)
        return 0
    }
    const { values, positionals } = parseArgs({
        args,
        options: {
            data: { type: "string" },
            connect: { type: "string" },
            member: { type: "string" },
            config: { type: "string" },
            rate: { type: "string" },
            duration: { type: "string" },
            seed: { type: "string" },
            drain: { type: "string" },
            json: { type: "boolean" },
            "key-file": { type: "string" },
            insecure: { type: "boolean" },
            restore: { type: "boolean" },
        },
        allowPositionals: true,
        strict: true,
    })
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}" (seqmirror primary --help)`)
    const keyFile = keyFileOption(values["key-file"], values.insecure === true, "this member's key")
    const dataFile = required("data", values.data, "primary.flash")
    const configPath = values.config ?? "devicescript.json"
    if (values.duration !== undefined && values.rate === undefined) fail("--duration needs --rate (without --rate, stdin's lines are the writes)")
    const rate = values.rate === undefined ? null : intOption("rate", values.rate, 20, 1, 10000)
    const durationMs = values.duration === undefined ? null : parseDurationMs(values.duration)
    if (durationMs !== null && !(durationMs > 0)) fail("--duration must be positive")
    const drainMs = values.drain === undefined ? 60000 : parseDurationMs(values.drain, "drain time")
    let connect: { host: string; port: number }
    if (values.connect !== undefined) connect = parseHostPort("connect", values.connect, "127.0.0.1")
    else {
        const l = loadConfig(configPath).config.link
        connect = { host: l.remoteHost, port: l.remotePort }
    }
    return runPrimary({
        connectHost: connect.host,
        connectPort: connect.port,
        dataFile,
        configPath,
        member: values.member ?? null,
        rate,
        durationMs,
        seed: intOption("seed", values.seed, 1, 0, 0xffffffff),
        json: values.json === true,
        drainMs,
        keyFile,
        insecure: values.insecure === true,
        restore: values.restore === true,
    })
}
