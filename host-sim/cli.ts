// The seqmirror command line (Node only).
import { parseArgs } from "node:util"
import { readFileSync } from "node:fs"
import { SeqmirrorConfig, validateConfig } from "../firmware/config"
import { boardFixedRam, boardRamLine, boardRamProblem } from "./bench/fixedRam"
import { availableParallelism } from "node:os"
import { SimOptions, SimResult, defaultSimOptions, replayCommand, MUTATIONS } from "./sim"
import { classesNotInjected, combineSummaries, FAULT_CLASSES, runSweep, shardRange, SweepSummary } from "./sweep"
import { ConsolePortError, DEFAULT_CONSOLE_PORT, socatAvailable } from "./console/tcp"
import { DashboardMode } from "./live/driver"
import { checkOutputs, formatSummary, LiveSettings, runBatch, runLive, SimOutputs } from "./simRun"
import { cmdBench } from "./bench/bench"
import { OptionError, parseDurationMs, parseDurationRange, parseLinkDown, parsePowerOff } from "./simEvents"
import { cmdKeygen, cmdPrimary, cmdRemote } from "./host/commands"

class UsageError extends Error {}

const HELP = `seqmirror — asynchronous, group-consistent replication of SPI-flash stores between boards

Usage: seqmirror <command> [options]

Commands
  sim                 run a simulated group: in virtual time as fast as possible, or live
                      (--speed) with a dashboard and a serial console per board
  sweep               run many seeds with faults and report every failure with its replay command
  config check FILE   validate a board configuration (devicescript.json)
  remote              run the remote on this machine, over TCP: boards and host primaries
                      replicate to it (seqmirror remote --help)
  remote export       print the image a remote's data directory holds
  primary             run a primary's firmware on this machine, replicating to a remote
                      over TCP, with a workload (seqmirror primary --help)
  keygen              make a link key for every member of a group: the remote's key file,
                      each primary's, each board's .env.local line (seqmirror keygen --help)
  bench               measure how close seqmirror comes to what the hardware allows
                      (about a minute; docs/PERFORMANCE.md explains every figure)
  help [COMMAND]      this text, or a command's usage (the same as COMMAND --help)

Options of sim
  --boards N          primary boards in the group, 1..8 (default 1)
  --seed N            seed of the run (default 1)
  --duration T        virtual time of workload, e.g. 500ms, 10s, 2m (default 10s); then the
                      remote catches up and the run is judged
  --mode M            consistent | none (default consistent)
  --baud N            link baud rate (default 115200)
  --faults LIST       none | all | comma list of power,link,bus,reboot,slow,replace,death,
                      rot,remotefail,ram,attack,replace-primary (default none); attack: an
                      adversary on every member's link injects, replays, poses and flips bits;
                      the remote must take none of it; replace-primary: a board is lost with
                      its flash and a blank one restores its image from the remote
  --keys K            seeded (default): every member's link key drawn from the seed, every
                      frame sealed (docs/FORMAT-link.md §11); none: frames in the clear
  --power-off M@T[+D] power member M (0-based; remote: the remote board) off at virtual time
                      T for D, or for good without +D; e.g. 2@10s+60s, remote@5s+2s;
                      repeat the option or give a comma list
  --link-down M@T+D   take member M's link (remote: every link) down at T for D; repeat the
                      option or give a comma list
  --disaster T        the primary site is lost at virtual time T: every primary with its
                      flash; the operator promotes the remote 3 s later and the apps write
                      to it; new boards restore from it; the operator fails back (the
                      result's "disaster" has the promotion, the data loss, the failback)
  --first-seq N       the group's first seq (default 1): every board's flash and the
                      remote's start as if the seq before it had been applied, e.g.
                      4294967000 to cross the wrap of the u32 seqs within a run
  --rate N            writes per second per board (default 20)
  --depth N           writes each board's app keeps outstanding, 1..1000 (default 4); deeper
                      than the boards take, writes are refused busy and the store's queue fills
  --json              print one JSON object (last line of stdout)
  --rpo-target T      bounded-RPO pacing: hold acknowledgements while the oldest write the
                      remote has not applied is older than T (default off)
  --verify-every T    each primary verifies its image against the remote's this often; any
                      block found different is a violation (default off)
  --congestion P      at a primary's replication history bound: pull-ahead (suspend, track,
                      resync; default) or block (hold acknowledgements, suspend after 5 s)
  --history N         every primary's replication history bound, 4..4096 seqs (default 256;
                      the shipped board's group.maxHistorySeqs is 6)
  --mutate M          switch off one safety mechanism to see the checker catch it:
                      ack-gating | manifest-check | atomic-apply | resync-copy |
                      replay-window (testing only)
  --report FILE.html  write a self-contained HTML report with charts over time
  --export DIR        write the write history and the final images as JSON lines
                      (docs/EXPORT.md; check them with node bin/check-export.mjs DIR)

Live runs (sim with --speed)
  --speed N|max       run live at N times real time (1 = real time), or as fast as it goes;
                      Ctrl-C stops the run, lets the remote catch up and prints the summary
  --console-port P    first TCP port of the board consoles (default ${DEFAULT_CONSOLE_PORT}, or the next free
                      block); the boards take consecutive ports in the order printed; 0: any
                      free ports
  --no-console        no board consoles
  --pty               also a pseudo-terminal per board (needs socat): /tmp/seqmirror-primary0, ...
  --dashboard         redraw the dashboard in place (default when stdout is a terminal;
                      otherwise one status line per 5 s of virtual time)
  --no-dashboard      neither the dashboard nor the status lines

Options of sweep: those of sim without the live ones, and
  --seeds A..B        the seeds to run (default 1..50); --duration defaults to 10s
  --duration A..B     also a range, e.g. 10s..10m: each seed draws its duration from it
                      (the same for the same seed; its replay command carries it)
  --workers N         worker processes running seeds in parallel (default: the cores available)
  --shard I/N         run part I of N of the seeds (consecutive parts, sizes within one), e.g.
                      --shard 2/4 on the second of four machines; the summary says which part
  --combine FILE...   no runs: one summary of the --json summaries in the FILEs, the shards of
                      one sweep (all of them) or runs of the same options over seed ranges that
                      do not overlap; with --json, one JSON object as a sweep prints
  prints each failure with the one command that replays it; exits 1 on any violation; on a
  terminal, a progress line on stderr (runs done, failures, time left)

Options of bench
  --json              print one JSON object instead of the table
  --quick             shortened runs (about 10 s; figures indicative only)

Every command takes --help (-h): its usage and options; seqmirror --help: this text.
`

function fail(msg: string): never {
    throw new UsageError(msg)
}

export function parseDuration(s: string): number {
    return parseDurationMs(s)
}

function parseIntOpt(name: string, s: string | undefined, def: number, min: number, max: number): number {
    if (s === undefined) return def
    if (!/^\d+$/.test(s)) fail(`--${name} must be a whole number, not "${s}"`)
    const v = Number(s)
    if (v < min || v > max) fail(`--${name} must be between ${min} and ${max}, not ${v}`)
    return v
}

export function parseFaults(s: string | undefined): string[] {
    if (s === undefined || s === "none") return []
    if (s === "all") return FAULT_CLASSES.slice()
    const list = s.split(",").map((x) => x.trim())
    for (const f of list) if (!FAULT_CLASSES.includes(f)) fail(`unknown fault class "${f}" (use all, none or ${FAULT_CLASSES.join(",")})`)
    return list
}

/** The options of a run; `durationEnd`: the end of the workload the scheduled events must
 * begin before (a sweep's longest duration when it draws them from a range). */
function simOptions(values: Values, durationEnd?: number): SimOptions {
    const o = defaultSimOptions()
    o.boards = parseIntOpt("boards", values.boards as string | undefined, o.boards, 1, 8)
    o.seed = parseIntOpt("seed", values.seed as string | undefined, o.seed, 0, 0xffffffff)
    if (values.duration !== undefined && durationEnd === undefined) {
        if ((values.duration as string).includes("..")) fail(`--duration ${values.duration}: a range is for sweep; sim takes one duration`)
        o.durationMs = parseDuration(values.duration as string)
    }
    if (!(o.durationMs > 0)) fail("--duration must be positive")
    const mode = (values.mode as string | undefined) ?? "consistent"
    if (mode !== "consistent" && mode !== "none") fail(`--mode must be consistent or none, not "${mode}"`)
    o.mode = mode
    o.baud = parseIntOpt("baud", values.baud as string | undefined, o.baud, 1200, 4000000)
    o.faults = parseFaults(values.faults as string | undefined)
    const keys = (values.keys as string | undefined) ?? "seeded"
    if (keys !== "seeded" && keys !== "none") fail(`--keys must be seeded or none, not "${keys}"`)
    if (keys === "none") {
        if (o.faults.includes("attack")) fail("--faults attack needs sealed links: drop --keys none (or the attack class)")
        o.keys = "none"
    }
    o.rate = parseIntOpt("rate", values.rate as string | undefined, o.rate, 1, 100000)
    if (values.depth !== undefined) o.depth = parseIntOpt("depth", values.depth as string, 4, 1, 1000)
    if (values["rpo-target"] !== undefined) o.rpoTargetMs = parseDuration(values["rpo-target"] as string)
    if (values["verify-every"] !== undefined) o.verifyEveryMs = parseDuration(values["verify-every"] as string)
    const congestion = (values.congestion as string | undefined) ?? "pull-ahead"
    if (congestion !== "pull-ahead" && congestion !== "block") fail(`--congestion must be pull-ahead or block, not "${congestion}"`)
    o.congestion = congestion
    if (values.history !== undefined) o.history = parseIntOpt("history", values.history as string, 256, 4, 4096)
    const mut = values.mutate as string | undefined
    if (mut !== undefined && !MUTATIONS.includes(mut)) fail(`--mutate must be one of ${MUTATIONS.join(", ")}, not "${mut}"`)
    o.mutation = mut ?? ""
    const end = durationEnd ?? o.durationMs
    o.powerOff = parsePowerOff(values["power-off"] as string[] | undefined, o.boards, end)
    o.linkDown = parseLinkDown(values["link-down"] as string[] | undefined, o.boards, end)
    if (values.disaster !== undefined) {
        o.disasterMs = parseDuration(values.disaster as string)
        if (!(o.disasterMs > 0 && o.disasterMs < end)) fail(`--disaster ${values.disaster}: the disaster must come within the run's --duration`)
    }
    if (values["first-seq"] !== undefined) o.firstSeq = parseIntOpt("first-seq", values["first-seq"] as string, 1, 0, 0xffffffff)
    return o
}

const SIM_OPTIONS = {
    boards: { type: "string" },
    seed: { type: "string" },
    duration: { type: "string" },
    mode: { type: "string" },
    baud: { type: "string" },
    faults: { type: "string" },
    keys: { type: "string" },
    rate: { type: "string" },
    depth: { type: "string" },
    mutate: { type: "string" },
    "rpo-target": { type: "string" },
    "verify-every": { type: "string" },
    congestion: { type: "string" },
    history: { type: "string" },
    "power-off": { type: "string", multiple: true },
    "link-down": { type: "string", multiple: true },
    disaster: { type: "string" },
    "first-seq": { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
} as const

const LIVE_OPTIONS = {
    speed: { type: "string" },
    "console-port": { type: "string" },
    "no-console": { type: "boolean" },
    pty: { type: "boolean" },
    dashboard: { type: "boolean" },
    "no-dashboard": { type: "boolean" },
    report: { type: "string" },
    export: { type: "string" },
} as const

export function parseSpeed(s: string): number {
    if (s === "max") return Infinity
    if (!/^\d+(\.\d+)?$/.test(s) || !(Number(s) > 0) || Number(s) > 1e6) fail(`--speed must be a positive number (1 = real time) or max, not "${s}"`)
    return Number(s)
}

type Values = Record<string, string | boolean | string[] | undefined>

/** --help or -h anywhere among a command's arguments (before the options are checked, so it
 * never runs anything). */
function wantsHelp(args: string[]): boolean {
    return args.includes("--help") || args.includes("-h")
}

function liveSettings(values: Values, boards: number): LiveSettings | null {
    const liveOnly = ["console-port", "no-console", "pty", "dashboard", "no-dashboard"].filter((k) => values[k] !== undefined)
    if (values.speed === undefined) {
        if (liveOnly.length > 0) fail(`--${liveOnly[0]} needs a live run: add --speed 1 (real time) or --speed max`)
        return null
    }
    const speed = parseSpeed(values.speed as string)
    if (values["no-console"] && values["console-port"] !== undefined) fail("--console-port and --no-console exclude each other")
    if (values.dashboard && values["no-dashboard"]) fail("--dashboard and --no-dashboard exclude each other")
    let consolePort: number | null = DEFAULT_CONSOLE_PORT
    if (values["no-console"]) consolePort = null
    else if (values["console-port"] !== undefined) {
        consolePort = parseIntOpt("console-port", values["console-port"] as string, 0, 0, 65535)
        if (consolePort !== 0 && consolePort + boards > 65535) fail(`--console-port ${consolePort}: ${boards + 1} consecutive ports do not fit below 65536`)
        if (consolePort !== 0 && consolePort < 1024) fail(`--console-port must be 1024 or above (or 0), not ${consolePort}`)
    }
    if (values.pty) {
        if (consolePort === null) fail("--pty needs the consoles: drop --no-console")
        if (!socatAvailable()) fail("--pty needs socat, which is not installed (e.g. apt install socat); the TCP consoles work without it")
    }
    let dashboard: DashboardMode = process.stdout.isTTY ? "tty" : "plain"
    if (values.dashboard) dashboard = "tty"
    if (values["no-dashboard"]) dashboard = "off"
    return { speed, consolePort, consolePortGiven: values["console-port"] !== undefined, pty: values.pty === true, dashboard }
}

function simOutputs(values: Values): SimOutputs {
    const o: SimOutputs = { reportFile: null, exportDir: null }
    if (values.report !== undefined) {
        if (values.report === "") fail("--report needs a file name, e.g. --report run.html")
        o.reportFile = values.report as string
    }
    if (values.export !== undefined) {
        if (values.export === "") fail("--export needs a directory, e.g. --export out")
        o.exportDir = values.export as string
    }
    const err = checkOutputs(o)
    if (err !== null) fail(err)
    return o
}

function cmdSim(args: string[]): number | Promise<number> {
    if (wantsHelp(args)) return help("sim")
    const { values, positionals } = parseArgs({ args, options: { ...SIM_OPTIONS, ...LIVE_OPTIONS }, allowPositionals: true, strict: true })
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}"`)
    const opts = simOptions(values)
    const live = liveSettings(values, opts.boards)
    const outputs = simOutputs(values)
    const finish = (result: SimResult, notes: string[]): number => {
        if (values.json) process.stdout.write(JSON.stringify(result) + "\n")
        else for (const l of formatSummary(result).concat(notes)) process.stdout.write(l + "\n")
        if (!result.consistent) {
            process.stderr.write(`replay: ${replayCommand(opts)}\n`)
            return 1
        }
        return 0
    }
    if (live === null) {
        const { result, notes } = runBatch(opts, outputs)
        return finish(result, notes)
    }
    return runLive(opts, live, outputs, process.stdout).then(
        ({ result, notes }) => finish(result, notes),
        (e) => {
            if (e instanceof ConsolePortError) {
                process.stderr.write(`seqmirror: ${e.message}\n`)
                return 2
            }
            throw e
        }
    )
}

export function parseSeeds(s: string | undefined): [number, number] {
    if (s === undefined) return [1, 50]
    const m = /^(\d+)\.\.(\d+)$/.exec(s)
    if (!m) fail(`--seeds must look like A..B, not "${s}"`)
    const a = Number(m[1])
    const b = Number(m[2])
    if (b < a) fail(`--seeds ${s}: the range is empty`)
    return [a, b]
}

export function parseShard(s: string): [number, number] {
    const m = /^(\d+)\/(\d+)$/.exec(s)
    if (!m) fail(`--shard must look like I/N, e.g. 2/4, not "${s}"`)
    const i = Number(m[1])
    const n = Number(m[2])
    if (n < 1 || i < 1 || i > n) fail(`--shard ${s}: I must be between 1 and N`)
    return [i, n]
}

/** The seqs the runs applied, and with --first-seq whether they crossed 2^31 and the wrap to 0
 * (a first seq near them tests them only in the runs that get that far). */
function seqLines(s: SweepSummary): string {
    if (!s.seqsApplied || s.seqsApplied[0] < 0) return ""
    let out = `seqs the remote applied per run: ${s.seqsApplied[0]} to ${s.seqsApplied[1]}`
    const first = /(?:^| )--first-seq (\d+)/.exec(s.options)
    if (!first) return out + "\n"
    out += `; runs whose seqs went past 2^31: ${s.runsPast2to31}, past 4294967295 to 0: ${s.runsPastWrap}\n`
    if (s.runsPast2to31 + s.runsPastWrap === 0)
        out += `no run's seqs reached 2^31 or the wrap from --first-seq ${first[1]}: a longer --duration, or a first seq nearer, crosses them\n`
    return out
}

/** The lines a sweep's summary prints without --json (after the failures). */
function sweepLines(s: SweepSummary): string {
    const seeds = s.seeds.map((r) => r[0] + ".." + r[1]).join(", ")
    const part = s.shard
        ? `shard ${s.shard.index}/${s.shard.count} of seeds ${s.shard.of[0]}..${s.shard.of[1]}: `
        : s.parts > 1
          ? `${s.parts} parts combined: `
          : ""
    const rejected = Object.entries(s.framesRejected ?? {}).filter(([, v]) => v > 0)
    const never = classesNotInjected(s.options, s.faultsInjected)
    return (
        `${part}seeds ${seeds}: ${s.runs} runs, ${s.failedSeeds.length} failed (${s.unsafeRuns} unsafe), ${s.violations} violations, ` +
        `${(s.wallMs / 1000).toFixed(1)} s on ${s.workers} worker(s)\n` +
        (s.writesFailed + s.suspensions + s.resyncs + s.ackedDuringSuspension + s.restores + s.failbacks > 0
            ? `writes failed ${s.writesFailed}; replication suspended ${s.suspensions} time(s), ` +
              `${s.ackedDuringSuspension} writes acknowledged while suspended; full resyncs ${s.resyncs}` +
              (s.restores > 0 ? `; boards restored from the remote ${s.restores}` : "") +
              (s.failbacks > 0 ? `; failbacks completed ${s.failbacks}` : "") +
              "\n"
            : "") +
        seqLines(s) +
        (rejected.length > 0 ? "frames rejected by the sealed links: " + rejected.map(([k, v]) => `${k} ${v}`).join(", ") + "\n" : "") +
        (never.length > 0 ? `fault classes asked for that no run injected, so untested here: ${never.join(", ")}\n` : "")
    )
}

/** The progress line of a sweep on a terminal: rewritten in place, at most five times a second. */
function progressLine(total: number): { update: (done: number, failed: number) => void; clear: () => void } {
    const started = Date.now()
    let last = 0
    let shown = false
    return {
        update: (done, failed) => {
            const now = Date.now()
            if (done < total && now - last < 200) return
            last = now
            const leftMs = done > 0 ? ((now - started) / done) * (total - done) : 0
            const left = done > 0 ? formatLeft(leftMs) + " left" : "starting"
            process.stderr.write(`\r\x1b[Ksweep: ${done}/${total} runs, ${failed} failed, ${left}`)
            shown = true
        },
        clear: () => {
            if (shown) process.stderr.write("\r\x1b[K")
        },
    }
}

function formatLeft(ms: number): string {
    const s = Math.round(ms / 1000)
    if (s < 60) return s + " s"
    const m = Math.floor(s / 60)
    if (m < 60) return m + " min " + (s % 60) + " s"
    return Math.floor(m / 60) + " h " + (m % 60) + " min"
}

/** `sweep --combine FILE...`: reads the --json summaries and prints one. */
function cmdCombine(files: string[], json: boolean): number {
    if (files.length === 0) fail("--combine needs the summaries to combine: sweep --combine a.json b.json ...")
    const parts: SweepSummary[] = []
    for (const f of files) {
        let text: string
        try {
            text = readFileSync(f, "utf8")
        } catch (e) {
            fail(`cannot read ${f}: ${(e as Error).message}`)
        }
        // the summary is the last line that is a JSON object (what sweep --json prints last)
        const line = text
            .split("\n")
            .filter((l) => l.trim().startsWith("{"))
            .pop()
        let v: SweepSummary | null
        try {
            v = line ? (JSON.parse(line) as SweepSummary) : null
        } catch {
            v = null
        }
        if (!v || typeof v.options !== "string" || !Array.isArray(v.seeds) || typeof v.runs !== "number") fail(`${f}: not the --json summary of a sweep`)
        parts.push(v)
    }
    let s: SweepSummary
    try {
        s = combineSummaries(parts)
    } catch (e) {
        fail((e as Error).message)
    }
    if (json) process.stdout.write(JSON.stringify(s) + "\n")
    else {
        for (const f of s.failures) process.stdout.write(`seed ${f.seed}: ${f.violations[0]}\n  replay: ${f.replay}\n`)
        process.stdout.write(sweepLines(s))
    }
    return s.failedSeeds.length > 0 ? 1 : 0
}

async function cmdSweep(args: string[]): Promise<number> {
    if (wantsHelp(args)) return help("sweep")
    const { values, positionals } = parseArgs({
        args,
        options: { ...SIM_OPTIONS, seeds: { type: "string" }, workers: { type: "string" }, shard: { type: "string" }, combine: { type: "boolean" } },
        allowPositionals: true,
        strict: true,
    })
    if (values.combine) {
        const others = Object.keys(values).filter((k) => k !== "combine" && k !== "json")
        if (others.length > 0) fail(`--combine takes only files and --json, not --${others[0]}`)
        return cmdCombine(positionals, values.json === true)
    }
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}"`)
    let [first, last] = parseSeeds(values.seeds as string | undefined)
    if (values.seed !== undefined) fail("sweep takes --seeds A..B, not --seed")
    let shard: { index: number; count: number; of: [number, number] } | undefined
    if (values.shard !== undefined) {
        const [i, n] = parseShard(values.shard as string)
        const r = shardRange(first, last, i, n)
        if (!r) fail(`--shard ${i}/${n}: ${last - first + 1} seeds cannot make ${n} parts`)
        shard = { index: i, count: n, of: [first, last] }
        ;[first, last] = r
    }
    let durationRange: [number, number] | undefined
    if (values.duration !== undefined) durationRange = parseDurationRange(values.duration as string)
    const base = simOptions(values, durationRange ? durationRange[1] : undefined)
    if (durationRange) base.durationMs = durationRange[0]
    const workers = parseIntOpt("workers", values.workers as string | undefined, availableParallelism(), 1, 64)
    const progress = process.stderr.isTTY ? progressLine(last - first + 1) : null
    const summary = await runSweep({
        base,
        first,
        last,
        workers,
        shard,
        durationRange: durationRange && durationRange[1] > durationRange[0] ? durationRange : undefined,
        onFailure: (f) => {
            if (values.json) return
            if (progress) progress.clear()
            process.stdout.write(`seed ${f.seed}: ${f.violations[0]}\n  replay: ${f.replay}\n`)
        },
        onProgress: progress ? progress.update : undefined,
    })
    if (progress) progress.clear()
    if (values.json) process.stdout.write(JSON.stringify(summary) + "\n")
    else process.stdout.write(sweepLines(summary))
    return summary.failedSeeds.length > 0 ? 1 : 0
}

/** The section of HELP that starts with the line `title` (up to the next unindented line). */
function helpSection(title: string): string {
    const lines = HELP.split("\n")
    const at = lines.findIndex((l) => l.startsWith(title))
    if (at < 0) return ""
    let end = at + 1
    while (end < lines.length && (lines[end] === "" || lines[end].startsWith(" "))) end++
    return lines.slice(at, end).join("\n").trimEnd() + "\n\n"
}

/** `seqmirror --help`: everything; `seqmirror CMD --help`: that command's usage and options. */
function help(cmd?: string): number {
    if (cmd === undefined) {
        process.stdout.write(HELP)
        return 0
    }
    // the command's line of the command list, with its continuation lines
    const lines = HELP.split("\n")
    let at = lines.findIndex((l) => l.startsWith("  " + cmd + " "))
    let about = ""
    if (at >= 0) {
        about = lines[at].trim().replace(/^\S+(?: \S+)*\s{2,}/, "")
        while (++at < lines.length && /^ {6,}\S/.test(lines[at])) about += " " + lines[at].trim()
    }
    let out = "Usage: seqmirror " + cmd + " [options]\n" + (about ? "\n" + about + "\n" : "") + "\n"
    if (cmd === "sim") out += helpSection("Options of sim") + helpSection("Live runs")
    else if (cmd === "sweep") out += helpSection("Options of sweep") + helpSection("Options of sim")
    else if (cmd === "bench") out += helpSection("Options of bench")
    else if (cmd === "config")
        out =
            "Usage: seqmirror config check FILE\n\nValidates a board configuration (devicescript.json); a primary that is a group of one is also\nchecked against a board's heap. Exit 0 when it is valid, 1 when not.\n"
    process.stdout.write(out)
    return 0
}

function cmdConfig(args: string[]): number {
    if (wantsHelp(args)) return help("config")
    if (args[0] !== "check" || args.length !== 2) fail("usage: seqmirror config check FILE")
    let text: string
    try {
        text = readFileSync(args[1], "utf8")
    } catch (e) {
        fail(`cannot read ${args[1]}: ${(e as Error).message}`)
    }
    let cfg: unknown
    try {
        cfg = JSON.parse(text)
    } catch (e) {
        process.stdout.write(`${args[1]}: not valid JSON: ${(e as Error).message}\n`)
        return 1
    }
    const errors = validateConfig(cfg)
    if (errors.length === 0) {
        // a primary that is a group of one is what a board runs: its RAM must fit a board's heap
        const c = cfg as SeqmirrorConfig
        if (c.board.role === "primary" && c.group.members.length === 1) {
            const ram = boardFixedRam(c)
            const problem = boardRamProblem(ram)
            if (problem !== null) {
                process.stdout.write(`${args[1]}: ${problem}\n`)
                return 1
            }
            process.stdout.write(`${args[1]}: ok; on a board: ${boardRamLine(ram)}\n`)
            return 0
        }
        process.stdout.write(`${args[1]}: ok\n`)
        return 0
    }
    for (const e of errors) process.stdout.write(`${args[1]}: ${e}\n`)
    return 1
}

/** The commands main runs (help COMMAND takes one of these). */
const COMMANDS = ["sim", "sweep", "config", "bench", "remote", "primary", "keygen"]

export async function main(argv: string[]): Promise<number> {
    const [cmd, ...rest] = argv
    try {
        switch (cmd) {
            case "help":
                // help COMMAND: that command's usage, as COMMAND --help prints it
                if (rest.length > 0 && COMMANDS.includes(rest[0])) return await main([...rest, "--help"])
                if (rest.length > 0) fail(`unknown command "${rest[0]}" (try seqmirror --help)`)
                process.stdout.write(HELP)
                return 0
            case undefined:
            case "--help":
            case "-h":
                process.stdout.write(HELP)
                return 0
            case "sim":
                return cmdSim(rest)
            case "sweep":
                return await cmdSweep(rest)
            case "config":
                return cmdConfig(rest)
            case "bench":
                if (wantsHelp(rest)) return help("bench")
                return cmdBench(rest)
            case "remote":
                return await cmdRemote(rest)
            case "primary":
                return await cmdPrimary(rest)
            case "keygen":
                return cmdKeygen(rest)
            default:
                fail(`unknown command "${cmd}" (try seqmirror --help)`)
        }
    } catch (e) {
        if (e instanceof UsageError || e instanceof OptionError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
            process.stderr.write(`seqmirror: ${(e as Error).message}\n`)
            return 2
        }
        throw e
    }
}

// a reader that goes away (seqmirror ... | head) is not an error
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0)
    throw e
})
main(process.argv.slice(2)).then(
    (c) => {
        process.exitCode = c
    },
    (e) => {
        process.stderr.write(`seqmirror: ${(e as Error).stack ?? e}\n`)
        process.exitCode = 3
    }
)
