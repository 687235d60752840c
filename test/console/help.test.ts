import { describe, expect, it } from "vitest"
import { execFile } from "node:child_process"

// Every command and subcommand answers --help and -h with its own usage and exit code 0, and
// runs nothing: wherever the flag stands among the arguments, whatever the other arguments are
// (even ones that would be refused), and `seqmirror help COMMAND` prints the same.

// node with tsx's loader in the same process, as bin/seqmirror.mjs runs it (tsx's own command
// starts a second process for each run)
const NODE_TSX = [process.execPath, "--import", "tsx"]

interface Run {
    code: number | null
    stdout: string
    stderr: string
}

function cli(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
        execFile(NODE_TSX[0], [...NODE_TSX.slice(1), "host-sim/cli.ts", ...args], { encoding: "utf8", timeout: 60_000 }, (err, stdout, stderr) => {
            const code = err === null ? 0 : typeof err.code === "number" ? err.code : null
            resolve({ code, stdout, stderr })
        })
    })
}

/** Runs the argument lists a few at a time (each is a Node process compiling the CLI). */
async function cliAll(argvs: string[][], parallel = 4): Promise<Run[]> {
    const out: Run[] = new Array(argvs.length)
    let next = 0
    const worker = async () => {
        while (next < argvs.length) {
            const i = next++
            out[i] = await cli(argvs[i])
        }
    }
    await Promise.all(Array.from({ length: parallel }, worker))
    return out
}

/** Each command's arguments before the flag, and how its usage starts. */
const COMMANDS: Array<{ args: string[]; usage: RegExp }> = [
    { args: ["sim"], usage: /^Usage: seqmirror sim \[options\]\n/ },
    { args: ["sweep"], usage: /^Usage: seqmirror sweep \[options\]\n/ },
    { args: ["bench"], usage: /^Usage: seqmirror bench \[options\]\n/ },
    { args: ["config"], usage: /^Usage: seqmirror config check FILE\n/ },
    { args: ["config", "check"], usage: /^Usage: seqmirror config check FILE\n/ },
    { args: ["remote"], usage: /^seqmirror remote — / },
    { args: ["remote", "export"], usage: /^seqmirror remote — [^]*seqmirror remote export --data DIR/ },
    { args: ["primary"], usage: /^seqmirror primary — / },
    { args: ["keygen"], usage: /^seqmirror keygen — / },
]

/** Arguments that would run something, or be refused, without the flag. */
const AROUND: Record<string, string[]> = {
    sim: ["--boards", "3", "--duration", "10m"],
    sweep: ["--seeds", "1..2000", "--faults", "all", "--bogus"],
    bench: ["--json"],
    config: ["check", "no-such-file.json"],
    remote: ["--data", "/nonexistent/remote-data", "--listen", "127.0.0.1:0"],
    primary: ["--data", "/nonexistent/primary.flash", "--connect", "127.0.0.1:1", "--rate", "5"],
    keygen: ["--out", "/nonexistent/keys"],
}

describe("seqmirror: --help and -h on every command", () => {
    it("each command and subcommand prints its usage with --help and -h, first or after other arguments, exit 0, nothing run", async () => {
        const cases: Array<{ argv: string[]; usage: RegExp }> = []
        for (const c of COMMANDS)
            for (const flag of ["--help", "-h"]) {
                cases.push({ argv: [...c.args, flag], usage: c.usage })
                const around = AROUND[c.args[0]]
                if (c.args.length === 1) cases.push({ argv: [...c.args, ...around, flag], usage: c.usage })
            }
        for (const c of COMMANDS) cases.push({ argv: ["help", ...c.args], usage: c.usage })
        const runs = await cliAll(cases.map((c) => c.argv))
        runs.forEach((r, i) => {
            const what = "seqmirror " + cases[i].argv.join(" ")
            expect(r.code, what).toBe(0)
            expect(r.stdout, what).toMatch(cases[i].usage)
            expect(r.stderr, what).toBe("")
            // the usage only: no summary of a run, a sweep, a check or a benchmark
            expect(r.stdout, what).not.toMatch(/"runs"|failed seeds|verdict:|: ok\b|listening on \d/)
        })
    }, 300_000)

    it("the top level: --help, -h, help and no arguments print the command list; help of an unknown command is refused", async () => {
        const [long, short, word, none, unknown] = await cliAll([["--help"], ["-h"], ["help"], [], ["help", "bogus"]])
        for (const r of [long, short, word, none]) {
            expect(r.code).toBe(0)
            expect(r.stdout).toMatch(/^seqmirror — /)
            expect(r.stdout).toContain("help [COMMAND]")
        }
        expect(unknown.code).toBe(2)
        expect(unknown.stderr).toMatch(/unknown command "bogus"/)
    }, 60_000)
})
