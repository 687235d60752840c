import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { unhex } from "./target"

export const CORPUS_DIR = join(fileURLToPath(new URL(".", import.meta.url)), "corpus")

/** A decoder's corpus file: one input in hex per line; lines starting with # are comments (a
 * regression names what it caught in the comment line before it). */
export function corpusPath(target: string): string {
    return join(CORPUS_DIR, target + ".hex")
}

export function loadCorpus(target: string): Buffer[] {
    const p = corpusPath(target)
    if (!existsSync(p)) return []
    const out: Buffer[] = []
    for (const line of readFileSync(p, "utf8").split("\n")) {
        const t = line.trim()
        if (t === "" || t.startsWith("#")) continue
        out.push(unhex(t))
    }
    return out
}
