import { afterAll, describe, expect, it } from "vitest"
import { spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { cmdKeygen, cmdPrimary, cmdRemote } from "../../host-sim/host/commands"
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
                ["remote", "--data", join(dir, "r0"), "--config", config],
                /^seqmirror: the link needs every member's key: --key-file FILE \(seqmirror keygen --out DIR makes the keys\), or --insecure to run it in the clear$/,
            ],
            [["primary", "--data", join(dir, "p0.flash"), "--config", config], /^seqmirror: the link needs this member's key: --key-file FILE/],
            [
                ["remote", "--data", aFile, "--config", config, "--insecure"],
                /^seqmirror: --data .*a-file is not a directory \(the remote keeps its flash file and group file in one\)$/,
            ],
            [
                ["primary", "--data", join(dir, "p.flash"), "--config", three, "--connect", "127.0.0.1:9", "--insecure"],
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
        for (const w of [
            "--data DIR",
            "--listen HOST:PORT",
            "--config FILE",
            "--console [HOST:]PORT",
            "--key-file FILE",
            "seqmirror remote export --data DIR [--json]",
        ])
            expect(remote.stdout).toContain(w)
        expect(primary.stdout).toMatch(/^seqmirror primary — /)
        for (const w of ["--data FILE", "--key-file FILE", "--connect HOST:PORT", "--member N|NAME", "--rate R", "--duration D", "--json", "LBA TEXT"])
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
        // each runs when its turn comes (without keys: these are about other options)
        const remote = (args: string[]) => () => cmdRemote(args[0] === "export" || args[0] === "--bogus" ? args : [...args, "--insecure"])
        const primary = (args: string[]) => () => cmdPrimary([...args, "--insecure"])
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
            [remote(["--data", join(dir, "r4"), "--config", config, "--console", "x"]), /--console must be HOST:PORT \(or PORT\), not "x"/],
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

    it("refuses key files that others can read, that miss a member or hold another's, that are not keys", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const two = groupOfOne(dir, (c) => (c.group.members = [c.group.members[0], { name: "primary-b", address: 17 }]), "two.json")
        const keys = join(dir, "keys")
        await cmdKeygen(["--config", two, "--out", keys])
        const file = (name: string, text: string, mode = 0o600) => {
            const p = join(dir, name)
            writeFileSync(p, text, { mode })
            chmodSync(p, mode)
            return p
        }
        const hex = "ab".repeat(32)
        const open = file("open.keys", "primary-a " + hex + "\n", 0o644)
        const short = file("short.keys", "primary-a abcd\n")
        const zeros = file("zeros.keys", "primary-a " + "00".repeat(32) + "\n")
        const twice = file("twice.keys", "primary-a " + hex + "\nprimary-b " + hex + "\n")
        const stranger = file("stranger.keys", "primary-a " + hex + "\nmallory " + "cd".repeat(32) + "\n")
        const remote =
            (k: string, cfg = config) =>
            () =>
                cmdRemote(["--data", join(dir, "r"), "--config", cfg, "--listen", "127.0.0.1:0", "--key-file", k])
        const primary =
            (k: string, member = "0") =>
            () =>
                cmdPrimary(["--data", join(dir, "p.flash"), "--config", config, "--connect", "127.0.0.1:9", "--member", member, "--key-file", k])
        const cases: Array<[() => Promise<number>, RegExp]> = [
            [remote(open), /--key-file .*open\.keys can be read or written by others \(mode 644\): it holds secrets; chmod 600/],
            [remote(short), /line 1: the key of primary-a has 4 hex digits, not 64/],
            [remote(zeros), /the key of primary-a is all zeros/],
            [remote(twice, two), /primary-b has the key of primary-a: each member needs a key of its own/],
            [remote(stranger), /mallory is not a member of the group \(primary-a\)/],
            [remote(join(keys, "primary-a.key"), two), /no key for member primary-b: the remote needs every member's key/],
            [primary(join(keys, "remote.keys")), /holds other members' keys too: a primary holds only its own/],
            [primary(join(keys, "primary-b.key")), /primary-b\.key: no key for primary-a/],
            [() => cmdRemote(["--data", join(dir, "r"), "--config", config, "--key-file", hex, "--insecure"]), /--key-file and --insecure exclude each other/],
            [async () => cmdKeygen(["--config", two, "--out", keys]), /remote\.keys exists: keygen never writes over keys/],
        ]
        for (const [run, re] of cases) await expect(run()).rejects.toThrow(re)
        expect(existsSync(join(dir, "p.flash"))).toBe(false)
        expect(existsSync(join(dir, "r"))).toBe(false)
        // what keygen wrote: a key per member, readable by its owner only; a board's .env.local line
        for (const f of ["remote.keys", "primary-a.key", "primary-b.key", "primary-a.env.local"]) expect(statSync(join(keys, f)).mode & 0o777).toBe(0o600)
        expect(statSync(keys).mode & 0o777).toBe(0o700)
        const all = readFileSync(join(keys, "remote.keys"), "utf8")
        const a = /^primary-a ([0-9a-f]{64})$/m.exec(all)![1]
        const b = /^primary-b ([0-9a-f]{64})$/m.exec(all)![1]
        expect(a).not.toBe(b)
        expect(readFileSync(join(keys, "primary-b.key"), "utf8")).toContain("primary-b " + b + "\n")
        expect(readFileSync(join(keys, "primary-b.key"), "utf8")).not.toContain(a)
        expect(readFileSync(join(keys, "primary-a.env.local"), "utf8")).toContain('SEQMIRROR_KEY="' + a + '"\n')
    })
})
