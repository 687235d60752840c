import { afterAll, describe, expect, it } from "vitest"
import { ChildProcess, spawn, spawnSync } from "node:child_process"
import { Ran, runCommand } from "../turn"
import { constants, createReadStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

// node with tsx's loader in the same process (as bin/seqmirror.mjs does), not tsx's own command,
// which runs the CLI in a child and relays signals to it: a Ctrl-C must reach the CLI once
const TSX = [process.execPath, "--import", "tsx", "host-sim/cli.ts"]

const temps: string[] = []
function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), "seqmirror-cli-"))
    temps.push(d)
    return d
}
afterAll(() => {
    for (const d of temps) rmSync(d, { recursive: true, force: true })
})

const socat = spawnSync("socat", ["-V"]).status === 0

/** Processes the tests started: ended at the end even when a test fails. */
const started: ChildProcess[] = []
afterAll(() => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL")
})

function cli(args: string[]): Promise<Ran> {
    return runCommand(TSX[0], [...TSX.slice(1), ...args])
}

/** Starts the CLI; `waitFor(re)` resolves when stdout has a match (no sleeps: output events). */
function start(args: string[]) {
    const child: ChildProcess = spawn(TSX[0], [...TSX.slice(1), ...args], { stdio: ["ignore", "pipe", "pipe"] })
    started.push(child)
    let out = ""
    let err = ""
    const waiters: Array<() => void> = []
    child.stdout!.on("data", (d) => {
        out += d
        waiters.splice(0).forEach((f) => f())
    })
    child.stderr!.on("data", (d) => (err += d))
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)))
    return {
        child,
        exited,
        output: () => out,
        errors: () => err,
        async waitFor(re: RegExp): Promise<RegExpMatchArray> {
            for (;;) {
                const m = re.exec(out)
                if (m) return m
                if (child.exitCode !== null) throw new Error("exited before " + re + ": " + out + err)
                await new Promise<void>((r) => waiters.push(r))
            }
        },
    }
}

describe("seqmirror --help and option checks", () => {
    it("--help lists the commands and every option of sim", async () => {
        const r = await cli(["--help"])
        expect(r.status).toBe(0)
        for (const w of [
            "sim",
            "sweep",
            "config check",
            "--boards",
            "--seed",
            "--duration",
            "--mode",
            "--baud",
            "--faults",
            "--rate",
            "--json",
            "--report",
            "--export",
            "--speed",
            "--console-port",
            "--no-console",
            "--pty",
            "--dashboard",
            "--no-dashboard",
            "--seeds",
        ])
            expect(r.stdout).toContain(w)
    })

    it("every command answers --help with its own usage and options, exit 0, and runs nothing", async () => {
        const sim = await cli(["sim", "--help"])
        expect(sim.status).toBe(0)
        expect(sim.stdout).toMatch(/^Usage: seqmirror sim \[options\]\n\nrun a simulated group/)
        for (const w of ["--boards", "--faults", "--speed", "--console-port"]) expect(sim.stdout).toContain(w)
        const sweep = await cli(["sweep", "--help"])
        expect(sweep.status).toBe(0)
        expect(sweep.stdout).toMatch(/^Usage: seqmirror sweep \[options\]/)
        for (const w of ["--seeds", "--workers", "--boards"]) expect(sweep.stdout).toContain(w)
        // no sweep ran: nothing but the usage was printed
        expect(sweep.stdout).not.toMatch(/"runs"|failed seeds/)
        const bench = await cli(["bench", "-h"])
        expect(bench.status).toBe(0)
        expect(bench.stdout).toContain("--quick")
        const config = await cli(["config", "check", "--help"])
        expect(config.status).toBe(0)
        expect(config.stdout).toMatch(/^Usage: seqmirror config check FILE/)
        for (const c of [["remote"], ["remote", "export"], ["primary"]]) {
            const h = await cli([...c, "--help"])
            expect(h.status).toBe(0)
            expect(h.stdout).toMatch(new RegExp("^seqmirror " + c[0]))
        }
    })

    it("bad live options, report and export paths give one line and exit code 2", async () => {
        const dir = tempDir()
        writeFileSync(join(dir, "a-file"), "")
        const cases: Array<[string[], RegExp]> = [
            [["sim", "--speed", "fast"], /--speed must be a positive number \(1 = real time\) or max, not "fast"/],
            [["sim", "--speed", "0"], /--speed must be a positive number/],
            [["sim", "--console-port", "7001"], /--console-port needs a live run: add --speed 1/],
            [["sim", "--dashboard"], /--dashboard needs a live run/],
            [["sim", "--speed", "1", "--console-port", "70000"], /--console-port must be between 0 and 65535/],
            [["sim", "--speed", "1", "--console-port", "80"], /--console-port must be 1024 or above \(or 0\)/],
            [["sim", "--speed", "1", "--console-port", "65534", "--boards", "3"], /4 consecutive ports do not fit/],
            [["sim", "--speed", "1", "--no-console", "--console-port", "9000"], /exclude each other/],
            [["sim", "--speed", "1", "--dashboard", "--no-dashboard"], /exclude each other/],
            [["sim", "--speed", "1", "--no-console", "--pty"], /--pty needs the consoles/],
            [["sim", "--report", join(dir, "missing", "r.html")], /--report: directory ".*missing" does not exist/],
            [["sim", "--report", dir], /is a directory; give a file name/],
            [["sim", "--export", join(dir, "a-file")], /is a file, not a directory/],
            [["sweep", "--speed", "1"], /Unknown option '--speed'/],
        ]
        for (const [args, re] of cases) {
            const r = await cli(args)
            expect(r.status, args.join(" ")).toBe(2)
            expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1)
            expect(r.stderr, args.join(" ")).toMatch(/^seqmirror: /)
            expect(r.stderr, args.join(" ")).toMatch(re)
        }
    })

    it("--report and --export do not change the run", async () => {
        const dir = tempDir()
        const plain = await cli(["sim", "--boards", "2", "--seed", "3", "--duration", "5s", "--json"])
        const withOutputs = await cli([
            "sim",
            "--boards",
            "2",
            "--seed",
            "3",
            "--duration",
            "5s",
            "--json",
            "--report",
            join(dir, "r.html"),
            "--export",
            join(dir, "x"),
        ])
        expect(withOutputs.status).toBe(0)
        expect(withOutputs.stdout).toBe(plain.stdout)
        expect(existsSync(join(dir, "r.html"))).toBe(true)
        expect(existsSync(join(dir, "x", "writes.jsonl"))).toBe(true)
    })
})

describe("a live run from the command line", () => {
    it("prints the console ports, runs to its end at --speed max, and writes the report and the export", async () => {
        const dir = tempDir()
        const p = start([
            "sim",
            "--boards",
            "3",
            "--speed",
            "max",
            "--duration",
            "10s",
            "--console-port",
            "0",
            "--report",
            join(dir, "run.html"),
            "--export",
            join(dir, "out"),
        ])
        expect(await p.exited).toBe(0)
        const out = p.output()
        expect(out).toMatch(/^seqmirror: 3 primary board\(s\) and a remote, seed 1, 10 s of workload as fast as it goes$/m)
        const ports = [...out.matchAll(/^ {2}(primary \d|remote) +port (\d+)$/gm)].map((m) => m[1])
        expect(ports).toEqual(["primary 0", "primary 1", "primary 2", "remote"])
        // stdout is not a terminal: a plain status line per 5 s of virtual time
        expect(out).toMatch(/^t 5\.0 s \| p0 seq \d+\/\d+ ring \d+% spill \d+ .* \| remote applied \d+ consistent$/m)
        expect(out).toMatch(/^t 10\.0 s \| /m)
        expect(out).toMatch(/^verdict: consistent$/m)
        expect(out).toContain(`report: ${join(dir, "run.html")}`)
        expect(readFileSync(join(dir, "run.html"), "utf8")).toContain('id="verdict">verdict: consistent<')
        expect(spawnSync("node", ["bin/check-export.mjs", join(dir, "out")]).status).toBe(0)
    })

    it("the default group at real-time pace shows the dashboard at once, and Ctrl-C stops it with a summary", async () => {
        const p = start(["sim", "--boards", "3", "--speed", "1", "--duration", "2m", "--console-port", "0", "--dashboard"])
        await p.waitFor(/remote +up +applied seq \d+/)
        const frame = p.output()
        expect(frame).toMatch(/board +state +capture +released +aux ring +spill +goodput +RPO lag +console/)
        for (const b of [0, 1, 2]) expect(frame).toMatch(new RegExp(`primary ${b} +(up|boot|off) `))
        expect(frame).toContain("\x1b[?25l") // drawn in place: the cursor is hidden while it runs
        p.child.kill("SIGINT")
        expect(await p.exited).toBe(0)
        const out = p.output()
        expect(out).toMatch(/^verdict: consistent$/m)
        expect(out).toContain("\x1b[?25h")
        expect(out).toMatch(/seed 1: 3 board\(s\), [\d.]+ s virtual/)
        // stopped well before the two minutes
        expect(Number(/seed 1: 3 board\(s\), ([\d.]+) s virtual/.exec(out)![1])).toBeLessThan(60)
    })

    it("--pty gives each board a pseudo-terminal through socat that echoes and answers (or says socat is missing)", async () => {
        if (!socat) {
            const r = await cli(["sim", "--speed", "1", "--pty"])
            expect(r.status).toBe(2)
            expect(r.stderr).toBe("seqmirror: --pty needs socat, which is not installed (e.g. apt install socat); the TCP consoles work without it\n")
            return
        }
        const p = start(["sim", "--boards", "2", "--speed", "1", "--duration", "2m", "--console-port", "0", "--pty"])
        const m = await p.waitFor(/^ {2}primary 1 +port \d+ +pty (\S+)$/m)
        const fd = openSync(m[1], constants.O_RDWR | constants.O_NOCTTY)
        const stream = createReadStream("", { fd })
        let seen = ""
        const waiters: Array<() => void> = []
        stream.on("data", (d) => {
            seen += d
            waiters.splice(0).forEach((f) => f())
        })
        const until = async (re: RegExp) => {
            while (!re.test(seen)) await new Promise<void>((r) => waiters.push(r))
        }
        stream.on("error", () => {}) // EIO once socat has gone
        // the board boots in virtual time; its boot line waits in the terminal until read
        await until(/info: boot 1: primary 1 up/)
        // a raw terminal sends each key as typed, with backspace, and CR for Enter
        writeSync(fd, "grp\x7foup\r")
        await until(/group of 2: 0x10 0x11\(this\)\r\n/)
        expect(seen).toContain("grp\b \boup\r\n")
        p.child.kill("SIGINT")
        expect(await p.exited).toBe(0)
        stream.destroy() // closes the terminal
        expect(p.output()).toMatch(/^verdict: consistent$/m)
    })
})
