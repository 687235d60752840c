import { describe, expect, it } from "vitest"
import { readFileSync } from "node:fs"
import { DEFAULT_HISTORY_SEQS, DEFAULT_WRITES_WAITING, defaultConfig, validateConfig } from "../../firmware/config"

describe("configuration", () => {
    it("accepts the shipped devicescript.json and the defaults", () => {
        expect(validateConfig(JSON.parse(readFileSync("devicescript.json", "utf8")))).toEqual([])
        expect(validateConfig(defaultConfig())).toEqual([])
    })
    it("names every problem of a broken file, one line each", () => {
        const c: any = defaultConfig()
        c.group.members.push({ name: "primary-a", address: 0x10 })
        c.group.busBitRate = 250000
        c.store.blockSize = 300
        c.board.pins.cs = c.board.pins.sck
        delete c.link
        const errors = validateConfig(c)
        expect(errors).toContain('group.members[3].name: "primary-a" is used twice')
        expect(errors).toContain("group.members[3].address: 16 is used twice")
        expect(errors).toContain("group.busBitRate: must be 100000, 400000 or 1000000")
        expect(errors.some((e) => e.startsWith("store.blockSize"))).toBe(true)
        expect(errors.some((e) => e.startsWith("board.pins.cs: pin 18 is used twice"))).toBe(true)
        expect(errors).toContain("link: missing section")
    })
    it("bounds the history and the waiting writes: left out, the defaults; out of range, one line each", () => {
        const c: any = defaultConfig()
        expect(c.group.maxHistorySeqs).toBe(DEFAULT_HISTORY_SEQS)
        expect(c.group.maxWritesWaiting).toBe(DEFAULT_WRITES_WAITING)
        delete c.group.maxHistorySeqs
        delete c.group.maxWritesWaiting
        expect(validateConfig(c)).toEqual([])
        expect(c.group.maxHistorySeqs).toBe(DEFAULT_HISTORY_SEQS)
        expect(c.group.maxWritesWaiting).toBe(DEFAULT_WRITES_WAITING)
        c.group.maxHistorySeqs = 3
        c.group.maxWritesWaiting = 1.5
        expect(validateConfig(c)).toEqual(["group.maxHistorySeqs: 3 is out of range 4..4096", "group.maxWritesWaiting: must be a whole number"])
        c.group.maxHistorySeqs = 4097
        c.group.maxWritesWaiting = 0
        expect(validateConfig(c)).toEqual(["group.maxHistorySeqs: 4097 is out of range 4..4096", "group.maxWritesWaiting: 0 is out of range 1..1024"])
    })
    it("never throws on arbitrary JSON values", () => {
        for (const v of [null, 3, "x", [], { board: 1 }, { group: { members: [null, 7] } }]) {
            expect(Array.isArray(validateConfig(v))).toBe(true)
            expect(validateConfig(v).length).toBeGreaterThan(0)
        }
    })
})
