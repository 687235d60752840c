// The fuzz campaign: every decoder of outside input, a million inputs each by default
// (`npm run fuzz`; `npm run fuzz -- --help` for the options). Each decoder runs in a child
// process that reports its progress; one that stops reporting is stuck on an input, which is
// found again from its index and reported like any other failure.
import { ChildProcess, fork } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { campaign, CampaignStats, Failure, InputSource, minimize, runOne } from "./engine"
import { corpusPath, loadCorpus } from "./corpus"
import { isKnown, KNOWN } from "./known"
import { hex, Target, unhex } from "./target"
import { selectTargets, TARGETS } from "./targets/index"

const HELP = `usage: npm run fuzz -- [options]

  --only NAMES     decoders to fuzz, comma-separated (a prefix takes a family: link)
  --count N        inputs per decoder (default 1e6; 1e5 and 100000 both work)
  --seed S         the campaign's seed (default 1): the same seed gives the same inputs
  --jobs J         decoders fuzzed at once, one process each (default 1)
  --list           list the decoders
  --write-corpus   write test/fuzz/corpus/NAME.hex anew: seeds drawn from the campaign's
                   inputs (at --seed), a few hundred per decoder, keeping its regression lines
  --replay NAME INPUT
                   run one input (hex, or a file of hex) through a decoder and say what failed
  --help

Prints a table (decoder, inputs, inputs/s, failures, of them known: test/fuzz/known.ts lists
failures found outside the decoders, awaiting a fix there); exits 1 when any input failed.`

const SELF = fileURLToPath(import.meta.url)
/** A child that reports no progress for this long is stuck on an input. */
const WATCHDOG_MS = 60000

interface Options {
    only: string[] | null
    count: number
    seed: number
    jobs: number
}

function parseCount(s: string): number {
    const v = Number(s)
    if (!Number.isFinite(v) || v < 1 || Math.floor(v) !== v) throw new Error(`--count ${s}: not a whole number of inputs`)
    return v
}

function parseArgs(argv: string[]): Options | "help" | "list" | "corpus" | { replay: string; input: string } {
    const o: Options = { only: null, count: 1e6, seed: 1, jobs: 1 }
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i]
        const val = () => {
            const v = argv[++i]
            if (v === undefined) throw new Error(`${a} needs a value`)
            return v
        }
        if (a === "--help" || a === "-h") return "help"
        else if (a === "--list") return "list"
        else if (a === "--write-corpus") return "corpus"
        else if (a === "--only")
            o.only = val()
                .split(",")
                .map((s) => s.trim())
                .filter((s) => s !== "")
        else if (a === "--count") o.count = parseCount(val())
        else if (a === "--seed") o.seed = parseCount(val()) >>> 0
        else if (a === "--jobs") o.jobs = Math.max(1, parseCount(val()))
        else if (a === "--replay") {
            const name = val()
            return { replay: name, input: val() }
        } else throw new Error(`unknown option ${a}; try --help`)
    }
    return o
}

function targetNamed(name: string): Target {
    const t = TARGETS.find((x) => x.name === name)
    if (!t) throw new Error(`no decoder "${name}"; --list lists them`)
    return t
}

/** The command that runs one input again. */
export function replayCommand(target: string, file: string): string {
    return `npm run fuzz -- --replay ${target} ${file}`
}

function saveFailure(f: Failure, min: string): string {
    const dir = join(tmpdir(), "seqmirror-fuzz")
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `${f.target}-${f.index}.hex`)
    writeFileSync(file, `# ${f.message.replace(/\n/g, " ")}\n${min}\n`)
    return file
}

function report(f: Failure, out: NodeJS.WriteStream): void {
    if (f.input === "" && f.message.startsWith("the campaign")) {
        out.write(`\nFAIL ${f.target}: ${f.message}\n`)
        return
    }
    const t = targetNamed(f.target)
    const min = hex(minimize(t, Buffer.from(f.input, "hex")))
    const file = saveFailure(f, min)
    out.write(`\nFAIL ${f.target}, input ${f.index}: ${f.message}\n`)
    out.write(`  input (hex, ${f.input.length / 2} bytes): ${f.input}\n`)
    if (min !== f.input) out.write(`  minimized (${min.length / 2} bytes): ${min}\n`)
    out.write(`  reproduce: ${replayCommand(f.target, file)}\n`)
    const known = KNOWN.find((k) => k.target === f.target && k.pattern.test(f.message))
    if (known) out.write(`  known, not a decoder's bug: ${known.where} (test/fuzz/known.ts)\n`)
}

// ---- child: one decoder's campaign

function child(name: string, seed: number, from: number, to: number, trace: boolean): void {
    const t = targetNamed(name)
    const send = (m: object) => process.send!(m)
    const stats = trace
        ? traceRun(t, seed, from, to, (i) => send({ kind: "progress", i }))
        : campaign(t, seed, loadCorpus(name), from, to, (i) => send({ kind: "progress", i }))
    send({ kind: "done", stats })
}

/** Reports every input before it runs: finds the input a child got stuck on. */
function traceRun(t: Target, seed: number, from: number, to: number, progress: (i: number) => void): CampaignStats {
    const src = new InputSource(t, seed, loadCorpus(t.name))
    const failures: Failure[] = []
    const start = Date.now()
    for (let i = from; i < to; i++) {
        progress(i)
        const input = src.input(i)
        const msg = runOne(t, input)
        if (msg !== null) failures.push({ target: t.name, index: i, input: hex(input), message: msg })
    }
    return { target: t.name, inputs: to - from, ms: Date.now() - start, failures }
}

/** Seeds per decoder in its corpus file. */
const CORPUS_SEEDS = 200

/**
 * Writes a decoder's corpus: its regression lines (a comment line, then the input) stay; the
 * seeds are drawn anew from the campaign's first inputs, one per distinct (length class, first
 * byte, verdict), so they spread over the kinds of input rather than repeat one.
 */
function writeCorpus(t: Target): number {
    const keep: string[] = []
    let lines: string[] = []
    try {
        lines = readFileSync(corpusPath(t.name), "utf8").split("\n")
    } catch {
        /* a new file */
    }
    for (let i = 0; i < lines.length; i++)
        if (lines[i].startsWith("# regression")) {
            keep.push(lines[i], lines[i + 1] ?? "")
            i++
        }
    const src = new InputSource(t, 1, [])
    const seen = new Set<string>()
    const seeds: string[] = []
    for (let i = 0; i < 50000 && seeds.length < CORPUS_SEEDS; i++) {
        const input = src.input(i)
        if (input.length > 600) continue
        const verdict = runOne(t, input) === null ? "ok" : "fail"
        if (verdict !== "ok") continue
        const key = `${Math.floor(Math.log2(input.length + 1))}:${input[0] ?? -1}:${input[input.length >> 1] ?? -1}`
        if (seen.has(key)) continue
        seen.add(key)
        seeds.push(hex(input))
    }
    const head = [`# ${t.name}: ${t.about}`, "# seeds (npm run fuzz -- --write-corpus draws them anew; regression lines stay)"]
    writeFileSync(corpusPath(t.name), [...head, ...keep, ...seeds].join("\n") + "\n")
    return seeds.length + keep.length / 2
}

interface Row {
    target: string
    inputs: number
    ms: number
    failures: Failure[]
}

/** Runs [from, to) of a decoder's campaign in a child; a stuck input becomes a failure and the
 * campaign goes on after it. */
async function runTarget(t: Target, o: Options): Promise<Row> {
    const row: Row = { target: t.name, inputs: 0, ms: 0, failures: [] }
    let from = 0
    while (from < o.count) {
        const r = await runChild(t.name, o.seed, from, o.count, false)
        row.ms += r.ms
        if (!r.stats && !r.killed) {
            row.failures.push({
                target: t.name,
                index: r.last,
                input: "",
                message: `the campaign's process ended without a result after input ${r.last} (see its output above)`,
            })
            break
        }
        if (r.stats) {
            row.inputs += r.stats.inputs
            row.failures.push(...r.stats.failures)
            break
        }
        // stuck after input r.last: find the very input with a child that reports each one
        const tr = await runChild(t.name, o.seed, r.last, Math.min(o.count, r.last + 512), true)
        row.ms += tr.ms
        if (!tr.stats && !tr.killed) {
            row.failures.push({ target: t.name, index: tr.last, input: "", message: `the campaign's process ended without a result after input ${tr.last}` })
            break
        }
        const stuck = tr.stats ? -1 : tr.last
        row.inputs += (stuck >= 0 ? stuck + 1 : Math.min(o.count, r.last + 512)) - from
        if (tr.stats) row.failures.push(...tr.stats.failures)
        if (stuck >= 0) {
            const input = new InputSource(t, o.seed, loadCorpus(t.name)).input(stuck)
            row.failures.push({ target: t.name, index: stuck, input: hex(input), message: `stuck: no answer within ${WATCHDOG_MS / 1000} s` })
            from = stuck + 1
        } else from = Math.min(o.count, r.last + 512)
        if (row.failures.length >= 5) break
    }
    return row
}

function runChild(
    name: string,
    seed: number,
    from: number,
    to: number,
    trace: boolean
): Promise<{ stats: CampaignStats | null; last: number; ms: number; killed: boolean }> {
    return new Promise((resolve) => {
        const started = Date.now()
        const c: ChildProcess = fork(SELF, ["--child", name, String(seed), String(from), String(to), trace ? "trace" : ""], {
            stdio: ["ignore", "inherit", "inherit", "ipc"],
        })
        let last = from
        let stats: CampaignStats | null = null
        let killed = false
        let timer = setTimeout(stuck, WATCHDOG_MS)
        function stuck(): void {
            killed = true
            c.kill("SIGKILL")
        }
        c.on("message", (m: any) => {
            if (m.kind === "progress") {
                last = m.i
                clearTimeout(timer)
                timer = setTimeout(stuck, WATCHDOG_MS)
            } else if (m.kind === "done") stats = m.stats
        })
        c.on("exit", () => {
            clearTimeout(timer)
            resolve({ stats, last, ms: Date.now() - started, killed })
        })
    })
}

function table(rows: Row[]): string[] {
    const head = ["decoder", "inputs", "inputs/s", "failures", "of them known"]
    const body = rows.map((r) => [
        r.target,
        String(r.inputs),
        r.ms > 0 ? String(Math.round((r.inputs * 1000) / r.ms)) : "-",
        String(r.failures.length),
        String(r.failures.filter((f) => isKnown(r.target, f.message)).length),
    ])
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ")
    return [line(head), ...body.map(line)]
}

async function main(): Promise<number> {
    const argv = process.argv.slice(2)
    if (argv[0] === "--child") {
        child(argv[1], Number(argv[2]), Number(argv[3]), Number(argv[4]), argv[5] === "trace")
        return 0
    }
    let o: ReturnType<typeof parseArgs>
    try {
        o = parseArgs(argv)
    } catch (e) {
        process.stderr.write(`fuzz: ${(e as Error).message}\n`)
        return 2
    }
    if (o === "help") {
        process.stdout.write(HELP + "\n")
        return 0
    }
    if (o === "list") {
        for (const t of TARGETS) process.stdout.write(`${t.name.padEnd(14)} ${t.about}\n`)
        return 0
    }
    if (o === "corpus") {
        for (const t of TARGETS) {
            const n = writeCorpus(t)
            process.stdout.write(`${corpusPath(t.name)}: ${n} seeds\n`)
        }
        return 0
    }
    if ("replay" in o) {
        let t: Target
        let input: Buffer
        try {
            t = targetNamed(o.replay)
            let text = o.input
            try {
                text = readFileSync(o.input, "utf8")
            } catch {
                /* not a file: the hex itself */
            }
            input = unhex(
                text
                    .split("\n")
                    .filter((l) => !l.trim().startsWith("#"))
                    .join("")
            )
        } catch (e) {
            process.stderr.write(`fuzz: ${(e as Error).message}\n`)
            return 2
        }
        const msg = runOne(t, input)
        process.stdout.write(msg === null ? `${t.name}: ${input.length} bytes, every property holds\n` : `${t.name}: FAIL: ${msg}\n`)
        return msg === null ? 0 : 1
    }
    const targets = selectTargets(o.only)
    if (targets.length === 0) {
        process.stderr.write(`fuzz: no decoder matches --only ${o.only!.join(",")}; --list lists them\n`)
        return 2
    }
    process.stdout.write(`fuzzing ${targets.map((t) => t.name).join(", ")}: ${o.count} inputs each, seed ${o.seed}, ${o.jobs} at once\n`)
    const rows: Row[] = new Array(targets.length)
    let next = 0
    const worker = async () => {
        while (next < targets.length) {
            const k = next++
            const r = await runTarget(targets[k], o as Options)
            rows[k] = r
            process.stdout.write(`  ${r.target}: ${r.inputs} inputs in ${(r.ms / 1000).toFixed(1)} s, ${r.failures.length} failure(s)\n`)
            for (const f of r.failures) report(f, process.stdout)
        }
    }
    await Promise.all(Array.from({ length: Math.min(o.jobs, targets.length) }, worker))
    process.stdout.write("\n" + table(rows).join("\n") + "\n")
    return rows.some((r) => r.failures.length > 0) ? 1 : 0
}

main().then(
    (code) => {
        if (process.argv[2] !== "--child") process.exitCode = code
    },
    (e) => {
        process.stderr.write(`fuzz: ${(e as Error).stack}\n`)
        process.exitCode = 2
    }
)
