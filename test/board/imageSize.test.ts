import { afterAll, describe, expect, it } from "vitest"
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ROOT } from "./devs"
import { runCommand } from "../turn"

// The board image against the DeviceScript VM's limit (docs/HARDWARE.md, "Image size"), built by
// `npm run build`'s script (bin/build-board.mjs: the configuration's module, the compiler on
// firmware/main.ts, what the image uses). Each build runs in a folder of its own (a copy of
// firmware/ and hal/ with its own devsconfig.json: the compiler writes its output under the
// folder it runs in, and the other board tests build under the project's).
// - The shipped configuration leaves the room the VM tests need beside the board's code (a chip
//   and a harness: test/board/*.vm.test.ts).
// - What a board can turn on (the restore, online verify, bounded-RPO pacing) is compiled in
//   only when asked for: the two largest together load, and so do all three (docs/HARDWARE.md
//   has the figures).
// - An image that would not load fails the build with what to turn off, not the compiler's
//   verification error alone.

const SHIPPED = JSON.parse(readFileSync(join(ROOT, "devicescript.json"), "utf8"))
/** What the VM tests' entries need beside the board's code (`npm run build` says when less). */
const VM_TESTS_ROOM = 4096

const folders: string[] = []
afterAll(() => {
    for (const f of folders) rmSync(f, { recursive: true, force: true })
})

interface Built {
    status: number
    out: string
    /** Bytes left under the VM's limit (negative: over it), as bin/image-size.mjs says. */
    left: number
}

/** `npm run build` of `config` in a folder of its own; `padLines` lines of code more in the
 * board entry, to take it over the limit. */
async function build(config: unknown, padLines = 0): Promise<Built> {
    const dir = mkdtempSync(join(tmpdir(), "seqmirror-image-"))
    folders.push(dir)
    cpSync(join(ROOT, "firmware"), join(dir, "firmware"), { recursive: true })
    cpSync(join(ROOT, "hal"), join(dir, "hal"), { recursive: true })
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"))
    writeFileSync(join(dir, "devsconfig.json"), "{}\n")
    writeFileSync(join(dir, "devicescript.json"), JSON.stringify(config, null, 2) + "\n")
    if (padLines > 0) {
        let pad = "\nfunction pad(n: number): number {\n    let x = n\n"
        for (let i = 0; i < padLines; i++) pad += `    x = (x * ${i + 3} + ${i}) & 0xffff\n`
        pad += '    return x\n}\nconsole.log("pad " + pad(1))\n'
        writeFileSync(join(dir, "firmware", "main.ts"), readFileSync(join(dir, "firmware", "main.ts"), "utf8") + pad)
    }
    const r = await runCommand(process.execPath, [join(ROOT, "bin", "build-board.mjs")], { cwd: dir, env: { ...process.env, NO_COLOR: "1" } })
    const out = r.stdout + r.stderr
    const m = /(\d+) bytes (left|over)/.exec(out)
    expect(m, out.slice(-2000)).not.toBeNull()
    return { status: r.status ?? -1, out, left: m![2] === "left" ? Number(m![1]) : -Number(m![1]) }
}

function withExtras(restore: boolean, verify: boolean, pacing: boolean): unknown {
    const c = JSON.parse(JSON.stringify(SHIPPED))
    c.board.restore = restore
    c.group.verifyEveryMs = verify ? 60000 : 0
    c.group.rpoTargetMs = pacing ? 2000 : 0
    return c
}

describe("the board image against the DeviceScript VM's 64 KB limit", () => {
    let shipped = -1

    it("the shipped configuration leaves the VM tests their room", async () => {
        const b = await build(SHIPPED)
        expect(b.status, b.out.slice(-2000)).toBe(0)
        shipped = b.left
        expect(shipped).toBeGreaterThanOrEqual(VM_TESTS_ROOM)
    }, 120_000)

    it("a board that can be restored and verifies online loads, with room taken by each", async () => {
        const b = await build(withExtras(true, true, false))
        expect(b.status, b.out.slice(-2000)).toBe(0)
        expect(b.left).toBeGreaterThan(0)
        expect(b.left).toBeLessThan(shipped)
    }, 120_000)

    it("an image with everything a board can turn on loads", async () => {
        const b = await build(withExtras(true, true, true))
        expect(b.status, b.out.slice(-2000)).toBe(0)
        expect(b.left).toBeGreaterThan(0)
    }, 120_000)

    it("an image over the limit fails the build with what to turn off", async () => {
        // the board entry made longer than the room left, with the restore on
        const b = await build(withExtras(true, false, false), 800)
        expect(b.status).toBe(1)
        expect(b.left).toBeLessThan(0)
        expect(b.out).toMatch(/image-size: the image is \d+ bytes over the VM's limit: it would not load/)
        expect(b.out).toContain(
            "build-board: the board image of devicescript.json does not fit the DeviceScript VM's 64 KB: it turns on board.restore (the restore from the remote), each compiled in only when asked for: turn one off"
        )
    }, 120_000)
})
