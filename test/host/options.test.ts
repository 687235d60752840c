import { afterAll, describe, expect, it } from "vitest"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { cmdPrimary, cmdRemote } from "../../host-sim/host/commands"
import { groupOfOne, removeTemps, ROOT, tempDir } from "./harness"

afterAll(() => removeTemps())

/** Runs the CLI to its end (the cases run side by side). */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const c = spawn(process.execPath, [join(ROOT, "bin", "seqmirror.mjs"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        c.stdout.on("data", (d) => (stdout += d))
        c.stderr.on("data", (d) => (stderr += d))
        c.on("close", (code) => resolve({ code, stdout, stderr }))
    })
}

describe("seqmirror remote and primary: help, bad options and unusable data", () => {
    it("--help prints each command's usage (exit 0); a bad option gives one line on stderr and exit code 2", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const three = groupOfOne(
            dir,
            (c) => {
                c.group.members = [c.group.members[0], { name: "primary-b", address: 17 }, { name: "primary-c", address: 18 }]
            },
            "three.json"
        )
        const aFile = join(dir, "a-file")
        writeFileSync(aFile, "")
        const bad: Array<[string[], RegExp]> = [
            [["remote", "--config", config], /^seqmirror: --data is required, e\.g\. --data remote-data$/],
            [
                ["remote", "--data", aFile, "--config", config],
                /^seqmirror: --data .*a-file is not a directory \(the remote keeps its flash file and group file in one\)$/,
            ],
            [
                ["primary", "--data", join(dir, "p.flash"), "--config", three, "--connect", "127.0.0.1:9"],
                /a member of a group of 3 must receive the shuttle .* on a host a board runs only a group of one/,
            ],
        ]
        const [remote, primary, all, ...results] = await Promise.all([
            cli(["remote", "--help"]),
            cli(["primary", "--help"]),
            cli(["--help"]),
            ...bad.map(([args]) => cli(args)),
        ])
        for (const r of [remote, primary, all]) expect(r.code).toBe(0)
        expect(remote.stdout).toMatch(/^seqmirror remote — /)
        for (const w of ["--data DIR", "--listen HOST:PORT", "--config FILE", "--console PORT", "seqmirror remote export --data DIR [--json]"])
            expect(remote.stdout).toContain(w)
        expect(primary.stdout).toMatch(/^seqmirror primary — /)
        for (const w of ["--data FILE", "--connect HOST:PORT", "--member N|NAME", "--rate R", "--duration D", "--json", "LBA TEXT"])
            expect(primary.stdout).toContain(w)
        for (const w of ["remote export", "primary", "seqmirror remote --help"]) expect(all.stdout).toContain(w)
        results.forEach((r, i) => {
            const [args, re] = bad[i]
            expect(r.code, args.join(" ") + ": " + r.stderr).toBe(2)
            const lines = r.stderr.trimEnd().split("\n")
            expect(lines, args.join(" ")).toHaveLength(1)
            expect(lines[0], args.join(" ")).toMatch(re)
            expect(r.stdout).toBe("")
        })
    })

    it("refuses unusable data, addresses and configurations, each with a line that says why", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        // a directory whose flash file is not the size of this group's flash
        const wrongSize = join(dir, "wrong-size")
        mkdirSync(wrongSize)
        writeFileSync(join(wrongSize, "flash.bin"), Buffer.alloc(4096, 0xff))
        // a directory made for a group of two members
        const otherGroup = join(dir, "other-group")
        mkdirSync(otherGroup)
        writeFileSync(
            join(otherGroup, "group.json"),
            JSON.stringify({
                format: "seqmirror-remote-data",
                version: 1,
                group: 1,
                members: [
                    { name: "a", address: 16 },
                    { name: "b", address: 17 },
                ],
                blockSize: 256,
                flashBytes: 65536,
                lbaCount: 60,
            })
        )
        const empty = join(dir, "empty")
        mkdirSync(empty)
        const taken = createServer()
        await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", () => resolve()))
        const takenPort = (taken.address() as { port: number }).port
        // each runs when its turn comes
        const remote = (args: string[]) => () => cmdRemote(args)
        const primary = (args: string[]) => () => cmdPrimary(args)
        const cases: Array<[() => Promise<number>, RegExp]> = [
            [
                remote(["--data", wrongSize, "--config", config, "--listen", "127.0.0.1:0"]),
                /flash\.bin holds 4096 bytes, but this flash is 65536 bytes: it was made for another configuration/,
            ],
            [
                remote(["--data", otherGroup, "--config", config, "--listen", "127.0.0.1:0"]),
                /it holds the remote of a group of 2 members, 256-byte blocks, store\.flashBytes 65536; the configuration has 1 member, 256-byte blocks, store\.flashBytes 65536; use another directory/,
            ],
            [remote(["--data", join(dir, "r"), "--config", config, "--listen", "nowhere"]), /--listen must be HOST:PORT \(or PORT\), not "nowhere"/],
            [remote(["--data", join(dir, "r2"), "--config", config, "--listen", "127.0.0.1:" + takenPort]), /--listen 127\.0\.0\.1:\d+: listen EADDRINUSE/],
            [remote(["--data", join(dir, "r3"), "--config", join(dir, "missing.json")]), /cannot read the configuration .*missing\.json/],
            [remote(["--data", join(dir, "r4"), "--config", config, "--console", "x"]), /--console must be a whole number, not "x"/],
            [remote(["--bogus"]), /Unknown option '--bogus'/],
            [remote(["export", "--data", empty]), /holds no remote/],
            [remote(["export", "--data", join(dir, "nothing-here")]), /--data .*nothing-here: ENOENT/],
            [primary(["--data", dir, "--config", config, "--connect", "127.0.0.1:9"]), /is not a regular file/],
            [
                primary(["--data", join(dir, "p.flash"), "--config", config, "--connect", "127.0.0.1:9", "--member", "5"]),
                /--member 5: the group has 1 member\(s\), 0\.\.0/,
            ],
            [
                primary(["--data", join(dir, "p.flash"), "--config", config, "--connect", "127.0.0.1:9", "--member", "nobody"]),
                /--member nobody: not in group\.members \(primary-a\)/,
            ],
            [
                primary(["--data", join(dir, "p.flash"), "--config", config, "--connect", "127.0.0.1:0"]),
                /--connect 127\.0\.0\.1:0: the port must be 1\.\.65535/,
            ],
            [primary(["--data", join(dir, "p.flash"), "--config", config, "--duration", "5s"]), /--duration needs --rate/],
            [primary(["--data", join(dir, "p.flash"), "--config", config, "--rate", "fast"]), /--rate must be a whole number, not "fast"/],
        ]
        for (const [run, re] of cases) await expect(run()).rejects.toThrow(re)
        taken.close()
        // none of them made a file where it refused
        expect(existsSync(join(dir, "p.flash"))).toBe(false)
        expect(existsSync(join(wrongSize, "group.json"))).toBe(false)
    })
})
