import fc from "fast-check"
import { defaultConfig, validateConfig } from "../../../firmware/config"
import { mutate } from "../mutate"
import { Rng } from "../rng"
import { check, Target } from "../target"

/**
 * The rules of docs/CONFIG.md, written again from the page alone: the differential oracle
 * for validateConfig. True when the configuration is valid.
 */
export function configValidByDocs(c: any): boolean {
    const obj = (v: any) => v !== null && typeof v === "object"
    const int = (v: any, lo: number, hi: number) => typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi
    const str = (v: any) => typeof v === "string" && v.length > 0
    if (!obj(c) || !obj(c.board) || !obj(c.group) || !obj(c.link) || !obj(c.store)) return false
    const { board, group, link, store } = c
    if (board.role !== "primary" && board.role !== "remote") return false
    if (board.role === "primary" && !str(board.member)) return false
    if (!obj(board.pins)) return false
    const pins = ["sck", "mosi", "miso", "cs", "sda", "scl"].map((k) => board.pins[k])
    if (!pins.every((p) => int(p, 0, 48)) || new Set(pins).size !== 6) return false
    if (!int(board.spiHz, 100000, 80000000)) return false
    if (!int(group.id, 0, 255)) return false
    if (group.mode !== "consistent" && group.mode !== "none") return false
    if (![100000, 400000, 1000000].includes(group.busBitRate)) return false
    if (!int(group.minCycleMs, 1, 3600000) || !int(group.maxClosedSeqs, 1, 64) || !int(group.rpoTargetMs, 0, 3600000)) return false
    if (!int(group.suspendAfterMs, 500, 3600000) || !int(group.historyShare, 10, 90)) return false
    if (group.verifyEveryMs !== undefined && !int(group.verifyEveryMs, 0, 604800000)) return false
    if (group.maxHistorySeqs !== undefined && !int(group.maxHistorySeqs, 4, 4096)) return false
    if (group.maxWritesWaiting !== undefined && !int(group.maxWritesWaiting, 1, 1024)) return false
    if (group.congestion !== "pull-ahead" && group.congestion !== "block") return false
    const ms = group.members
    if (!Array.isArray(ms) || ms.length < 1 || ms.length > 8) return false
    if (!ms.every((m: any) => obj(m) && str(m.name) && int(m.address, 8, 119))) return false
    if (new Set(ms.map((m: any) => m.name)).size !== ms.length || new Set(ms.map((m: any) => m.address)).size !== ms.length) return false
    if (board.role === "primary" && !ms.some((m: any) => m.name === board.member)) return false
    if (!int(link.baud, 1200, 4000000) || !str(link.remoteHost) || !int(link.remotePort, 1, 65535)) return false
    if (![64, 128, 256].includes(store.blockSize)) return false
    if (!int(store.auxRingBytes, 1024, 1048576) || !int(store.flashBytes, 65536, 16777216) || store.flashBytes % 4096 !== 0) return false
    return true
}

const EDGES: any[] = [
    0,
    -1,
    1,
    7,
    8,
    48,
    49,
    64,
    119,
    120,
    255,
    256,
    500,
    499,
    1024,
    1023,
    65535,
    65536,
    100000,
    400000,
    1000000,
    3600000,
    3600001,
    16777216,
    16781312,
    80000000,
    80000001,
    1.5,
    -0,
    1e308,
    "",
    "x",
    "16",
    null,
    true,
    [],
    {},
    "primary",
    "remote",
    "none",
    "block",
]

/** A valid configuration, varied within the documented ranges. */
const validConfig = fc
    .record({
        role: fc.constantFrom("primary", "remote"),
        pins: fc.uniqueArray(fc.integer({ min: 0, max: 48 }), { minLength: 6, maxLength: 6 }),
        spiHz: fc.integer({ min: 100000, max: 80000000 }),
        id: fc.nat(255),
        mode: fc.constantFrom("consistent", "none"),
        bus: fc.constantFrom(100000, 400000, 1000000),
        minCycleMs: fc.integer({ min: 1, max: 3600000 }),
        maxClosedSeqs: fc.integer({ min: 1, max: 64 }),
        rpo: fc.integer({ min: 0, max: 3600000 }),
        suspend: fc.integer({ min: 500, max: 3600000 }),
        share: fc.integer({ min: 10, max: 90 }),
        congestion: fc.constantFrom("pull-ahead", "block"),
        history: fc.integer({ min: 4, max: 4096 }),
        writes: fc.integer({ min: 1, max: 1024 }),
        members: fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.integer({ min: 8, max: 119 })), {
            minLength: 1,
            maxLength: 8,
            selector: (m) => m[0],
        }),
        me: fc.nat(7),
        baud: fc.integer({ min: 1200, max: 4000000 }),
        host: fc.string({ minLength: 1, maxLength: 20 }),
        port: fc.integer({ min: 1, max: 65535 }),
        blockSize: fc.constantFrom(64, 128, 256),
        ring: fc.integer({ min: 1024, max: 1048576 }),
        flashSectors: fc.integer({ min: 16, max: 4096 }),
        extra: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 })),
    })
    .map((r) => {
        const c: any = defaultConfig()
        const members = r.members.filter((m, i) => r.members.findIndex((x) => x[1] === m[1]) === i)
        c.board.role = r.role
        c.board.member = members[r.me % members.length][0]
        ;["sck", "mosi", "miso", "cs", "sda", "scl"].forEach((k, i) => (c.board.pins[k] = r.pins[i]))
        c.board.spiHz = r.spiHz
        Object.assign(c.group, {
            id: r.id,
            mode: r.mode,
            busBitRate: r.bus,
            minCycleMs: r.minCycleMs,
            maxClosedSeqs: r.maxClosedSeqs,
            rpoTargetMs: r.rpo,
            suspendAfterMs: r.suspend,
            historyShare: r.share,
            congestion: r.congestion,
            maxHistorySeqs: r.history,
            maxWritesWaiting: r.writes,
        })
        c.group.members = members.map(([name, address]) => ({ name, address }))
        c.link = { baud: r.baud, remoteHost: r.host, remotePort: r.port }
        c.store = { blockSize: r.blockSize, auxRingBytes: r.ring, flashBytes: r.flashSectors * 4096 }
        if (r.extra) c.extra = r.extra
        return c
    })

/** An edge value, fresh each time: the lists and objects among them are not shared between
 * trees. */
function edge(rng: Rng): any {
    return JSON.parse(JSON.stringify(EDGES[rng.int(EDGES.length)]) ?? "null")
}

/** Every path to a value in a parsed JSON tree. */
function paths(v: any, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
    out.push(at)
    if (v !== null && typeof v === "object") for (const k of Object.keys(v)) paths(v[k], [...at, Array.isArray(v) ? Number(k) : k], out)
    return out
}

/** A change of the parsed tree: a value at an edge or of another type, a key removed or added,
 * a list grown or shrunk, a section swapped with another. */
function mutateTree(rng: Rng, root: any): any {
    const ps = paths(root)
    const p = rng.pick(ps)
    if (p.length === 0) return rng.chance(0.5) ? edge(rng) : root
    let parent = root
    for (const k of p.slice(0, -1)) parent = parent[k]
    const key = p[p.length - 1]
    switch (rng.int(6)) {
        case 0:
        case 1:
            parent[key] = edge(rng)
            break
        case 2:
            if (typeof parent[key] === "number") parent[key] += rng.int(3) - 1
            else parent[key] = edge(rng)
            break
        case 3:
            if (Array.isArray(parent)) parent.splice(key as number, 1)
            else delete parent[key]
            break
        case 4:
            if (Array.isArray(parent[key])) parent[key].push(rng.chance(0.5) ? JSON.parse(JSON.stringify(rng.pick(parent[key]) ?? {})) : edge(rng))
            else if (parent[key] !== null && typeof parent[key] === "object") parent[key][rng.pick(["name", "address", "role", "extra", "sck"])] = edge(rng)
            else parent[key] = [parent[key]]
            break
        default: {
            const other = rng.pick(ps)
            let v = root
            for (const k of other) v = v?.[k]
            parent[key] = v === undefined ? null : JSON.parse(JSON.stringify(v))
        }
    }
    return root
}

const config: Target = {
    name: "config",
    about: "validateConfig on JSON text: never throws, and agrees with the rules of docs/CONFIG.md",
    valid: fc.tuple(validConfig, fc.constantFrom(0, 2)).map(([c, indent]) => Buffer.from(JSON.stringify(c, null, indent))),
    maxLen: 4000,
    timeLimitMs: 50,
    mutate(rng: Rng, input: Buffer, pool: readonly Buffer[]): Buffer {
        if (rng.chance(0.2)) return mutate(rng, input, pool, 4000)
        let tree: any
        try {
            tree = JSON.parse(input.toString("utf8"))
        } catch {
            return mutate(rng, input, pool, 4000)
        }
        const n = 1 + rng.int(3)
        for (let i = 0; i < n; i++) tree = mutateTree(rng, tree)
        return Buffer.from(JSON.stringify(tree) ?? "null")
    },
    validShare: 0.2,
    run(input: Buffer): void {
        let parsed: any
        try {
            parsed = JSON.parse(input.toString("utf8"))
        } catch {
            return // not JSON: the build's JSON parser refuses it before validation
        }
        const errors = validateConfig(parsed)
        check(
            Array.isArray(errors) && errors.every((e) => typeof e === "string" && e.length > 0),
            "validateConfig returned something other than a list of lines"
        )
        const byDocs = configValidByDocs(parsed)
        check(
            (errors.length === 0) === byDocs,
            errors.length === 0
                ? "validateConfig accepts a configuration docs/CONFIG.md refuses"
                : `validateConfig refuses a configuration docs/CONFIG.md accepts: ${errors[0]}`
        )
    },
}

export const configTargets = [config]
