// The seqmirror command line (Node only).
import { parseArgs } from "node:util"
import { readFileSync } from "node:fs"
import { validateConfig } from "../firmware/config"
import { availableParallelism } from "node:os"
import { runSim, SimOptions, defaultSimOptions, replayCommand } from "./sim"
import { runSweep } from "./sweep"
import { cmdBench } from "./bench/bench"

class UsageError extends Error {}

const HELP = `seqmirror — asynchronous, group-consistent replication of SPI-flash stores between boards

Usage: seqmirror <command> [options]

Commands
  sim                 run a simulated group in virtual time, as fast as possible
  sweep               run many seeds with faults and report every failure with its replay command
  config check FILE   validate a board configuration (devicescript.json)
  bench               measure how close seqmirror comes to what the hardware allows
                      (about a minute; docs/PERFORMANCE.md explains every figure)
  help                this text

Options of sim
  --boards N          primary boards in the group, 1..8 (default 1)
  --seed N            seed of the run (default 1)
  --duration T        virtual time to run, e.g. 500ms, 10s, 2m (default 10s)
  --mode M            consistent | none (default consistent)
  --baud N            link baud rate (default 115200)
  --faults LIST       none | all | comma list of power,link,bus,reboot,slow (default none)
  --rate N            writes per second per board (default 20)
  --json              print one JSON object (last line of stdout)

Options of sweep: those of sim, and
  --seeds A..B        the seeds to run (default 1..50); --duration defaults to 10s
  --workers N         worker threads running seeds in parallel (default: the cores available)
  prints each failure with the one command that replays it; exits 1 on any violation

Options of bench
  --json              print one JSON object instead of the table
  --quick             shortened runs (about 10 s; figures indicative only)
`

function fail(msg: string): never {
    throw new UsageError(msg)
}

export function parseDuration(s: string): number {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim())
    if (!m) fail(`bad duration "${s}" (use e.g. 500ms, 10s, 2m)`)
    const v = parseFloat(m[1])
    const unit = m[2] ?? "s"
    return v * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60000 : 3600000)
}

function parseIntOpt(name: string, s: string | undefined, def: number, min: number, max: number): number {
    if (s === undefined) return def
    if (!/^\d+$/.test(s)) fail(`--${name} must be a whole number, not "${s}"`)
    const v = Number(s)
    if (v < min || v > max) fail(`--${name} must be between ${min} and ${max}, not ${v}`)
    return v
}

const FAULT_CLASSES = ["power", "link", "bus", "reboot", "slow"]

export function parseFaults(s: string | undefined): string[] {
    if (s === undefined || s === "none") return []
    if (s === "all") return FAULT_CLASSES.slice()
    const list = s.split(",").map((x) => x.trim())
    for (const f of list) if (!FAULT_CLASSES.includes(f)) fail(`unknown fault class "${f}" (use all, none or ${FAULT_CLASSES.join(",")})`)
    return list
}

function simOptions(values: Record<string, string | boolean | undefined>): SimOptions {
    const o = defaultSimOptions()
    o.boards = parseIntOpt("boards", values.boards as string | undefined, o.boards, 1, 8)
    o.seed = parseIntOpt("seed", values.seed as string | undefined, o.seed, 0, 0xffffffff)
    if (values.duration !== undefined) o.durationMs = parseDuration(values.duration as string)
    if (o.durationMs <= 0) fail("--duration must be positive")
    const mode = (values.mode as string | undefined) ?? "consistent"
    if (mode !== "consistent" && mode !== "none") fail(`--mode must be consistent or none, not "${mode}"`)
    o.mode = mode
    o.baud = parseIntOpt("baud", values.baud as string | undefined, o.baud, 1200, 4000000)
    o.faults = parseFaults(values.faults as string | undefined)
    o.rate = parseIntOpt("rate", values.rate as string | undefined, o.rate, 1, 100000)
    return o
}

const SIM_OPTIONS = {
    boards: { type: "string" },
    seed: { type: "string" },
    duration: { type: "string" },
    mode: { type: "string" },
    baud: { type: "string" },
    faults: { type: "string" },
    rate: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
} as const

function cmdSim(args: string[]): number {
    const { values, positionals } = parseArgs({ args, options: SIM_OPTIONS, allowPositionals: true, strict: true })
    if (values.help) {
        process.stdout.write(HELP)
        return 0
    }
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}"`)
    const opts = simOptions(values)
    const result = runSim(opts)
    if (values.json) process.stdout.write(JSON.stringify(result) + "\n")
    else {
        const r = result
        process.stdout.write(
            `seed ${r.seed}: ${r.boards} board(s), ${(r.virtualMs / 1000).toFixed(1)} s virtual, ` +
                `${r.writesAcked} writes acknowledged, ${r.portionsApplied} portions applied, applied seq ${r.appliedSeq}\n` +
                `verdict: ${r.consistent ? "consistent" : "NOT CONSISTENT"}\n`
        )
        for (const v of r.violations.slice(0, 20)) process.stdout.write(`  violation: ${v}\n`)
    }
    if (!result.consistent) {
        process.stderr.write(`replay: ${replayCommand(opts)}\n`)
        return 1
    }
    return 0
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

async function cmdSweep(args: string[]): Promise<number> {
    const { values, positionals } = parseArgs({
        args,
        options: { ...SIM_OPTIONS, seeds: { type: "string" }, workers: { type: "string" } },
        allowPositionals: true,
        strict: true,
    })
    if (positionals.length > 0) fail(`unexpected argument "${positionals[0]}"`)
    const [first, last] = parseSeeds(values.seeds as string | undefined)
    const base = simOptions(values)
    if (values.seed !== undefined) fail("sweep takes --seeds A..B, not --seed")
    const workers = parseIntOpt("workers", values.workers as string | undefined, availableParallelism(), 1, 64)
    const summary = await runSweep({
        base,
        first,
        last,
        workers,
        onFailure: (f) => {
            if (!values.json) process.stdout.write(`seed ${f.seed}: ${f.violations[0]}\n  replay: ${f.replay}\n`)
        },
    })
    if (values.json) process.stdout.write(JSON.stringify(summary) + "\n")
    else
        process.stdout.write(
            `${summary.runs} runs, ${summary.failedSeeds.length} failed (${summary.unsafeRuns} unsafe), ${summary.violations} violations, ` +
                `${(summary.wallMs / 1000).toFixed(1)} s on ${summary.workers} worker(s)\n`
        )
    return summary.failedSeeds.length > 0 ? 1 : 0
}

function cmdConfig(args: string[]): number {
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
        process.stdout.write(`${args[1]}: ok\n`)
        return 0
    }
    for (const e of errors) process.stdout.write(`${args[1]}: ${e}\n`)
    return 1
}

export async function main(argv: string[]): Promise<number> {
    const [cmd, ...rest] = argv
    try {
        switch (cmd) {
            case undefined:
            case "help":
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
                return cmdBench(rest)
            default:
                fail(`unknown command "${cmd}" (try seqmirror --help)`)
        }
    } catch (e) {
        if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
            process.stderr.write(`seqmirror: ${(e as Error).message}\n`)
            return 2
        }
        throw e
    }
}

process.exitCode = await main(process.argv.slice(2))
