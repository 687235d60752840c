import { afterAll, describe, expect, it } from "vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { devs, ROOT, TempDir } from "./devs"

// The DeviceScript compiler only compiles what an entry uses: a bare `import "./x"` checks
// nothing, so the entry names every exported class, function and constant.
function exportedValues(source: string): string[] {
    const names: string[] = []
    const re = /^export\s+(?:async\s+)?(class|function|const|let)\s+(enum\s+)?([A-Za-z_$][\w$]*)/gm
    for (const m of source.matchAll(re)) if (!m[2]) names.push(m[3])
    return names
}

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

    it("compiles every export of every file under hal/devicescript/", async () => {
        const files = readdirSync(join(ROOT, "hal", "devicescript"))
            .filter((f) => f.endsWith(".ts"))
            .map((f) => "hal/devicescript/" + f)
        expect(files).toContain("hal/devicescript/board.ts")
        const entry = dir.write("all.ts", entryFor(dir, files))
        const r = await devs(["build", entry])
        expect(r.stdout + r.stderr).not.toMatch(/error/i)
        expect(r.code).toBe(0)
    })

    it("would catch code the DeviceScript compiler rejects (the check is not vacuous)", async () => {
        const bad = dir.write("bad.ts", "export class Bad {\n    m(a: number): boolean { return a == 3 }\n}\n")
        const entry = dir.write("badEntry.ts", entryFor(dir, [bad]))
        const r = await devs(["build", entry])
        expect(r.stdout + r.stderr).toMatch(/please use ===/)
        expect(r.code).not.toBe(0)
    })
})
