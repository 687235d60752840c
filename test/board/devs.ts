// Running the DeviceScript compiler and VM from the board tests (Node only).
import { spawn } from "node:child_process"
import { createServer } from "node:net"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

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
