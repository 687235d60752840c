import { describe, expect, it } from "vitest"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

// The layers of the tree: hal/ is the hardware's side and needs nothing above it; firmware/
// runs on every platform and needs nothing of the simulator's or the tests'. Read from the
// import specifiers of every file, so a new file is covered without a list.

const ROOT = fileURLToPath(new URL("../..", import.meta.url))

function tsFiles(dir: string): string[] {
    return (readdirSync(join(ROOT, dir), { recursive: true }) as string[])
        .map((f) => f.split("\\").join("/"))
        .filter((f) => f.endsWith(".ts"))
        .map((f) => dir + "/" + f)
}

/** Every module specifier of a source: static imports and re-exports, side-effect imports, import(). */
function importsOf(source: string): string[] {
    const found: string[] = []
    const patterns = [/\b(?:import|export)\s[^'"`;]*?\bfrom\s*["']([^"']+)["']/g, /\bimport\s*["']([^"']+)["']/g, /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g]
    for (const re of patterns) for (const m of source.matchAll(re)) found.push(m[1])
    return found
}

/** Project folder ("firmware", "hal", ...) a relative specifier of `file` lands in; null for packages. */
function landsIn(file: string, spec: string): string | null {
    if (!spec.startsWith(".")) return null
    const target = relative(ROOT, resolve(ROOT, dirname(file), spec))
        .split("\\")
        .join("/")
    return target.split("/")[0]
}

function crossings(dirs: string[], forbidden: string[]): string[] {
    const bad: string[] = []
    for (const d of dirs)
        for (const f of tsFiles(d))
            for (const spec of importsOf(readFileSync(join(ROOT, f), "utf8"))) {
                const top = landsIn(f, spec)
                if (top !== null && forbidden.includes(top)) bad.push(f + " imports " + spec)
            }
    return bad
}

describe("layers: what each folder may import", () => {
    it("finds the imports of a source (the scan is not vacuous)", () => {
        const src = `import { a } from "../../firmware/x"\nimport type { B } from '../y'\nexport { c } from "./z"\nimport "./side"\nconst m = await import("../dyn")\nimport {\n  d,\n  e,\n} from "../multi"\n`
        expect(importsOf(src).sort()).toEqual(["../../firmware/x", "../dyn", "../multi", "../y", "./side", "./z"])
        expect(landsIn("hal/devicescript/socketLink.ts", "../../firmware/link/backoff")).toBe("firmware")
        expect(landsIn("hal/devicescript/socketLink.ts", "../backoff")).toBe("hal")
        expect(landsIn("hal/devicescript/socketLink.ts", "@devicescript/core")).toBeNull()
    })

    it("nothing under hal/ imports from firmware/, host-sim/ or test/", () => {
        expect(tsFiles("hal")).toContain("hal/devicescript/socketLink.ts")
        expect(crossings(["hal"], ["firmware", "host-sim", "test"])).toEqual([])
    })

    it("nothing under firmware/ imports from host-sim/ or test/", () => {
        expect(crossings(["firmware"], ["host-sim", "test"])).toEqual([])
    })
})
