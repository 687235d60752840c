// Runs the DeviceScript compiler and VM for the benchmarks (Node only). Each call works in a
// fresh temporary folder: `devs` writes its output (.devicescript/bin) into the current folder,
// and builds running at the same time in the project folder (the board tests) would overwrite
// each other's size reports.
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url))
const CLI = join(PROJECT_ROOT, "node_modules", "@devicescript", "cli", "built", "devicescript-cli.cjs")
// eslint-disable-next-line no-control-regex -- the CLI's ANSI colour codes start with ESC
const ANSI = /\x1b\[[0-9;]*m/g

/** The VM refuses an image with more function bytecode than this (verification error 1051). */
export const FUNCTION_BYTECODE_LIMIT = 65536

export interface DevsRun {
    code: number
    output: string
    /** The VM's console lines, without their "WASM> " prefix. */
    lines: string[]
    /** The folder the command ran in, until `done()` removes it. */
    dir: string
    done(): void
}

/** Runs `devs ARGS` (paths in ARGS relative to the project root) in a temporary folder. */
export function runDevs(args: string[], timeoutMs = 120_000): DevsRun {
    if (!existsSync(CLI)) throw new Error("the DeviceScript CLI is not installed (" + CLI + ")")
    const dir = mkdtempSync(join(tmpdir(), "seqmirror-devs-"))
    writeFileSync(join(dir, "devsconfig.json"), "{}\n")
    const abs = args.map((a) => (a.endsWith(".ts") ? join(PROJECT_ROOT, a) : a))
    const r = spawnSync(process.execPath, [CLI, ...abs], {
        cwd: dir,
        encoding: "utf8",
        timeout: timeoutMs,
        env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
        maxBuffer: 16 * 1024 * 1024,
    })
    const output = ((r.stdout ?? "") + (r.stderr ?? "")).replace(ANSI, "")
    const lines: string[] = []
    for (const l of output.split("\n")) {
        const at = l.indexOf("WASM> ")
        if (at >= 0) lines.push(l.slice(at + 6).replace(/\r$/, ""))
    }
    return { code: r.status ?? -1, output, lines, dir, done: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface ImageSize {
    entry: string
    /** Bytecode of the functions: what the VM's 64 KB limit applies to. */
    functionBytes: number
    /** Strings, floats and the header. */
    dataBytes: number
    totalBytes: number
    limitBytes: number
    /** The function bytecode is within the VM's limit. */
    fits: boolean
    /** Whether the compiler's verification accepted the image (null: not asked). */
    verified: boolean | null
}

/** Compiles `entry` and reads the compiler's size report. With `verify` false, an image over
 * the limit is still measured. */
export function imageSize(entry: string, verify: boolean): ImageSize {
    const r = runDevs(["build", entry, "-s", ...(verify ? [] : ["--no-verify"])])
    try {
        const report = join(r.dir, ".devicescript", "bin", "bytecode-sizes.md")
        if (!existsSync(report)) throw new Error("devs build " + entry + " made no size report:\n" + r.output.slice(-2000))
        const md = readFileSync(report, "utf8")
        const num = (re: RegExp): number => {
            const m = re.exec(md)
            if (!m) throw new Error("devs size report of " + entry + " lacks " + re)
            return Number(m[1])
        }
        const functionBytes = num(/^\s*(\d+)\s*\|\s*Function TOTAL/m)
        return {
            entry,
            functionBytes,
            dataBytes: num(/^\s*(\d+)\s*\|\s*Data TOTAL/m),
            totalBytes: num(/^\s*(\d+)\s*\|\s*TOTAL/m),
            limitBytes: FUNCTION_BYTECODE_LIMIT,
            fits: functionBytes <= FUNCTION_BYTECODE_LIMIT,
            verified: verify ? r.code === 0 && !/verification (error|failure)/.test(r.output) : null,
        }
    } finally {
        r.done()
    }
}
