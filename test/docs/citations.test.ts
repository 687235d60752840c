import { describe, expect, it } from "vitest"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

// Code and documents cite only documents in the repository: every `NAME.md` (a document's
// name in capitals, with or without a path) in the source, the tests, the scripts and the
// documents names a file that exists, from the project's root or from the citing file's folder
// (a link inside docs/ is relative to docs/).

const ROOT = fileURLToPath(new URL("../..", import.meta.url))

const FOLDERS = ["firmware", "hal", "host-sim", "test", "bin", "docs", ".ci"]
const TOP_FILES = ["README.md", "package.json", "devicescript.json", "vitest.config.ts"]
const TEXT = /\.(ts|mjs|js|md|json|sh)$|^run$/

function filesUnder(dir: string): string[] {
    const out: string[] = []
    for (const name of readdirSync(join(ROOT, dir))) {
        const rel = dir + "/" + name
        // this file's samples cite documents that are not there on purpose
        if (name === "node_modules" || name.startsWith(".tmp-") || rel === "test/fuzz/corpus" || rel === "test/docs/citations.test.ts") continue
        if (statSync(join(ROOT, rel)).isDirectory()) out.push(...filesUnder(rel))
        else if (TEXT.test(name)) out.push(rel)
    }
    return out
}

/** The documents a text cites: NAME.md (starting with a capital), with the path before it if any. A path
 * broken over two comment lines ("docs/" at the end of one) counts as one. */
function citationsIn(text: string): string[] {
    const joined = text.replace(/docs\/[ \t]*\r?\n[ \t]*(?:\*|\/\/|#)?[ \t]*/g, "docs/")
    const found: string[] = []
    for (const m of joined.matchAll(/(?:\.{1,2}\/)*(?:[A-Za-z0-9_-]+\/)*[A-Z][A-Za-z0-9_-]*\.md\b/g)) found.push(m[0])
    return found
}

function resolves(file: string, cited: string): boolean {
    return existsSync(resolve(ROOT, cited)) || existsSync(resolve(ROOT, dirname(file), cited))
}

describe("documents cited by code and documents exist in the repository", () => {
    it("finds citations, and would catch one of a document that is not there (the check is not vacuous)", () => {
        const text = `// the design (DESIGN.md, "x"); see docs/\n * FORMAT-shuttle.md and [Format](FORMAT.md#a), README.md\nconst out = "bytecode-sizes.md"`
        expect(citationsIn(text)).toEqual(["DESIGN.md", "docs/FORMAT-shuttle.md", "FORMAT.md", "README.md"])
        expect(resolves("firmware/seq.ts", "DESIGN.md")).toBe(false)
        expect(resolves("firmware/seq.ts", "docs/DESIGN.md")).toBe(true)
        expect(resolves("docs/EXPORT.md", "DESIGN.md")).toBe(true)
        expect(resolves("docs/EXPORT.md", "DEVICESCRIPT.md")).toBe(false)
    })

    it("every NAME.md cited in firmware/, hal/, host-sim/, test/, bin/, docs/ and the top-level files exists", () => {
        const files = [...FOLDERS.flatMap(filesUnder), ...TOP_FILES]
        expect(files).toContain("docs/DESIGN.md")
        expect(files).toContain("firmware/shuttle/agent.ts")
        const missing: string[] = []
        let cited = 0
        for (const f of files)
            for (const c of citationsIn(readFileSync(join(ROOT, f), "utf8"))) {
                cited++
                if (!resolves(f, c)) missing.push(f + " cites " + c)
            }
        expect(cited).toBeGreaterThan(50)
        expect(missing).toEqual([])
    })

    it("the design and the DeviceScript rules are in docs/", () => {
        for (const d of ["DESIGN.md", "PORTABLE.md"]) expect(existsSync(join(ROOT, "docs", d)), d).toBe(true)
        // every document in docs/ is reachable: the README or another document names it
        const named = new Set<string>()
        for (const f of ["README.md", ...filesUnder("docs")])
            for (const c of citationsIn(readFileSync(join(ROOT, f), "utf8")))
                named.add(relative(ROOT, existsSync(resolve(ROOT, c)) ? resolve(ROOT, c) : resolve(ROOT, dirname(f), c)))
        const unnamed = readdirSync(join(ROOT, "docs")).filter((d) => d.endsWith(".md") && !named.has("docs/" + d))
        expect(unnamed).toEqual([])
    })
})
