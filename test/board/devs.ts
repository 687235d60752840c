// Running the DeviceScript compiler and VM from the board tests (Node only).
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { checkBoot } from "../../firmware/boot/bootCheck"
import { deviceScriptCapabilities } from "../../firmware/boot/capabilities"

export const ROOT = fileURLToPath(new URL("../..", import.meta.url))
const CLI = join(ROOT, "node_modules", "@devicescript", "cli", "built", "devicescript-cli.cjs")

export interface DevsResult {
    code: number
    stdout: string
    stderr: string
    /** The VM's console lines ("WASM> " removed, colours removed). */
    lines: string[]
}

// eslint-disable-next-line no-control-regex -- the CLI's ANSI colour codes start with ESC
const ANSI = /\x1b\[[0-9;]*m/g

/** Runs `devs ARGS` from the project root; `onLine` sees each VM line as it comes. */
export function devs(args: string[], onLine?: (line: string) => void): Promise<DevsResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" } })
        let stdout = ""
        let stderr = ""
        let partial = ""
        const lines: string[] = []
        child.stdout.on("data", (d: Buffer) => {
            const s = d.toString("utf8")
            stdout += s
            partial += s
            const parts = partial.split("\n")
            partial = parts.pop() ?? ""
            for (const p of parts) {
                const clean = p.replace(ANSI, "")
                const at = clean.indexOf("WASM> ")
                if (at < 0) continue
                const line = clean.slice(at + 6).replace(/\r$/, "")
                lines.push(line)
                if (onLine) onLine(line)
            }
        })
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")))
        child.on("error", reject)
        child.on("close", (code) => resolve({ code: code ?? -1, stdout: stdout.replace(ANSI, ""), stderr: stderr.replace(ANSI, ""), lines }))
    })
}

/** A temporary folder inside the project (entries must sit under devsconfig.json's root). */
export class TempDir {
    readonly path: string
    constructor(tag: string) {
        this.path = join(ROOT, "test", "board", ".tmp-" + tag + "-" + process.pid)
        rmSync(this.path, { recursive: true, force: true })
        mkdirSync(this.path, { recursive: true })
    }
    /** Writes a file and returns its path relative to the project root. */
    write(name: string, text: string): string {
        const p = join(this.path, name)
        writeFileSync(p, text)
        return relative(ROOT, p)
    }
    /** An import specifier from a file in this folder to a project path ("firmware/boot/boardStart"). */
    importOf(projectPath: string): string {
        const r = relative(this.path, join(ROOT, projectPath)).split("\\").join("/")
        return r.startsWith(".") ? r : "./" + r
    }
    remove(): void {
        rmSync(this.path, { recursive: true, force: true })
    }
}

/** Splits a VM run's lines into the sections its script opens with "=== NAME" lines. */
export function sectionsOf(lines: string[]): Record<string, string[]> {
    const sections: Record<string, string[]> = {}
    let current = ""
    for (const line of lines) {
        if (line.startsWith("=== ")) {
            current = line.slice(4)
            sections[current] = []
        } else if (current !== "") sections[current].push(line)
    }
    return sections
}

/** A TCP port on 127.0.0.1 that is free now. */
export function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const s = createServer()
        s.listen(0, "127.0.0.1", () => {
            const port = (s.address() as { port: number }).port
            s.close(() => resolve(port))
        })
    })
}

/**
 * The heap probe of the VM RAM tests: a program's tail that allocates `unit`-byte Buffers until
 * the VM runs out of memory (which it cannot survive), printing a line after each; heapProbes
 * reads how many it got. Run after nothing, and after what a test builds: the difference is
 * what that holds.
 */
export function heapProbe(unit: number): string {
    return `
const held: Buffer[] = []
for (let i = 1; i < 100000; i++) {
    held.push(Buffer.alloc(${unit}))
    console.log("heap probe " + i)
}
`
}

/** How many of the probe's Buffers a run allocated. */
export function heapProbes(run: DevsResult): number {
    let n = 0
    for (const l of run.lines) {
        const m = /^heap probe (\d+)$/.exec(l)
        if (m) n = Number(m[1])
    }
    return n
}

/**
 * The start of a VM entry that boots a board as firmware/main.ts does, the configuration checked
 * as the build checks it (its notes embedded): the imports (`imports`: more lines of them), the
 * member's key as the board's settings hold it (`keyHex`), the run loop `loop`, the lines of
 * `before`, and `const fw = runStarted(...)` over the VM's NOR chip (host-sim/vm/sparseNor.ts)
 * with a sealed link, `ready` and `extras` being the source text of runStarted's callbacks.
 * The configuration's boot check must find no problem.
 */
export function boardEntry(dir: TempDir, config: unknown, keyHex: string, o: { imports?: string; before?: string; ready?: string; extras?: string }): string {
    const text = JSON.stringify(config)
    const checked = checkBoot(text, "devicescript.json", deviceScriptCapabilities())
    if (checked.problems.length > 0) throw new Error("boardEntry: " + checked.problems.join("; "))
    const imp = (p: string) => JSON.stringify(dir.importOf(p))
    return `
import * as ds from "@devicescript/core"
import { runStarted, startChecked } from ${imp("firmware/boot/boardStart")}
import { RunLoop } from ${imp("hal/devicescript/clock")}
import { SparseNor } from ${imp("host-sim/vm/sparseNor")}
import { DsLinkCipher } from ${imp("hal/devicescript/linkCipher")}
import { LinkSeal } from ${imp("firmware/link/seal")}
${o.imports ?? ""}
// the member's key, as firmware/main.ts has it from the board's settings (settingsKey.vm.test.ts
// reads it there)
const key = Buffer.from(${JSON.stringify(keyHex)}, "hex")
const loop = new RunLoop()
${o.before ?? ""}
// as firmware/main.ts starts: the check ran at build time (here, checkBoot), its notes embedded
const fw = runStarted(
    await startChecked({ config: JSON.parse(${JSON.stringify(text)}), memberIndex: 0, problems: [], notes: ${JSON.stringify(checked.notes)} }, undefined, { loop: loop, spiPort: new SparseNor(0x14), key: key }),
    ${o.ready ?? "undefined"},
    new LinkSeal(new DsLinkCipher(), key, 0),
    ${o.extras ?? "undefined"}
)
`
}

/** Source text, for a VM entry made by boardEntry: the board has nothing left to send and the
 * remote applied every seq the board closed (its confirmed seq is the remote's applied one). */
export const BOARD_DRAINED = "fw.board.closedWaiting() === 0 && fw.store.pinnedSeqs(0).length === 0 && fw.board.remoteAppliedSeq() === fw.store.confirmedSeq()"

/** The member key of `member` that seqmirror keygen wrote for the board's settings
 * (KEYS/NAME.env.local: SEQMIRROR_KEY="..."). */
export function boardKeyHex(keysDir: string, member: string): string {
    const m = /^SEQMIRROR_KEY="([0-9a-f]{64})"$/m.exec(readFileSync(join(keysDir, member + ".env.local"), "utf8"))
    if (!m) throw new Error("no SEQMIRROR_KEY for " + member + " in " + keysDir)
    return m[1]
}
