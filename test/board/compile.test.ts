import { afterAll, describe, expect, it } from "vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { devs, ROOT, TempDir } from "./devs"

// The DeviceScript compiler only compiles what an entry uses: a bare `import "./x"` checks
// nothing, so the entry names every exported class, function and constant, and the build
// compiles every method (`-F allPrototypes`), since a class marked @devsWhenUsed otherwise
// gets only the methods something calls. The image is not verified: together the files are
// larger than the VM's 64 KB limit, which only the board image must meet.
function exportedValues(source: string): string[] {
    const names: string[] = []
    const re = /^export\s+(?:async\s+)?(class|function|const|let)\s+(enum\s+)?([A-Za-z_$][\w$]*)/gm
    for (const m of source.matchAll(re)) if (!m[2]) names.push(m[3])
    return names
}

/** The files under firmware/ that run only on a DeviceScript board (they import its drivers). */
const BOARD_SIDE = ["firmware/boot/boardStart.ts"]

/** Every method compiled, the image not verified. */
const COMPILE_ALL = ["-F", "allPrototypes", "--no-verify"]

function entryFor(dir: TempDir, files: string[]): string {
    let text = ""
    const all: string[] = []
    files.forEach((f, i) => {
        const names = exportedValues(readFileSync(join(ROOT, f), "utf8"))
        if (names.length === 0) return
        text += `import { ${names.map((n) => `${n} as v${i}_${n}`).join(", ")} } from "${dir.importOf(f.replace(/\.ts$/, ""))}"\n`
        for (const n of names) all.push(`v${i}_${n}`)
    })
    text += `const keep: any[] = [${all.join(", ")}]\nconsole.log("compiled " + keep.length)\n`
    return text
}

describe("board drivers compile with the DeviceScript compiler", () => {
    const dir = new TempDir("compile")
    afterAll(() => dir.remove())

    it("compiles every export of every file under hal/devicescript/ and the board's start", async () => {
        const files = readdirSync(join(ROOT, "hal", "devicescript"))
            .filter((f) => f.endsWith(".ts"))
            .map((f) => "hal/devicescript/" + f)
        expect(files).toContain("hal/devicescript/socketLink.ts")
        files.push(...BOARD_SIDE)
        const entry = dir.write("all.ts", entryFor(dir, files))
        const r = await devs(["build", entry, ...COMPILE_ALL])
        expect(r.stdout + r.stderr).not.toMatch(/error/i)
        expect(r.code).toBe(0)
    })

    it("compiles every method of the portable firmware and hardware layer", async () => {
        const files: string[] = []
        for (const d of ["firmware", "hal"]) {
            for (const f of readdirSync(join(ROOT, d), { recursive: true }) as string[]) {
                if (f.endsWith(".ts") && !f.startsWith("devicescript")) files.push(d + "/" + f.split("\\").join("/"))
            }
        }
        expect(files).toContain("firmware/store/blockStore.ts")
        expect(files).toContain("firmware/main.ts")
        const entry = dir.write(
            "portable.ts",
            entryFor(
                dir,
                files.filter((f) => f !== "firmware/main.ts" && !BOARD_SIDE.includes(f))
            )
        )
        const r = await devs(["build", entry, ...COMPILE_ALL])
        expect(r.stdout + r.stderr).not.toMatch(/error/i)
        expect(r.code).toBe(0)
    })

    it("would catch code the DeviceScript compiler rejects (the check is not vacuous)", async () => {
        // a method nothing calls, in a class marked @devsWhenUsed: compiled only with allPrototypes
        const bad = dir.write("bad.ts", "/** @devsWhenUsed */\nexport class Bad {\n    m(a: number): boolean { return a == 3 }\n}\n")
        const entry = dir.write("badEntry.ts", entryFor(dir, [bad]))
        const r = await devs(["build", entry, ...COMPILE_ALL])
        expect(r.stdout + r.stderr).toMatch(/please use ===/)
        expect(r.code).not.toBe(0)
    })
})
