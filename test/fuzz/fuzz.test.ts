import { describe, expect, it } from "vitest"
import { campaign, minimize, runOne } from "./engine"
import { loadCorpus } from "./corpus"
import { isKnown, KNOWN } from "./known"
import { FuzzFailure, Target } from "./target"
import { TARGETS } from "./targets/index"

/** The corpus replays, then a short campaign per decoder (npm run fuzz runs the long one). */
const SMOKE = 2000

describe("fuzz corpus: every seed and regression input passes", () => {
    for (const t of TARGETS)
        it(t.name, () => {
            const corpus = loadCorpus(t.name)
            expect(corpus.length).toBeGreaterThanOrEqual(100)
            const failed = corpus.map((c) => [c.toString("hex"), runOne(t, c)]).filter(([, m]) => m !== null)
            expect(failed).toEqual([])
        })
})

describe("fuzz smoke: a short campaign per decoder finds nothing new", () => {
    for (const t of TARGETS)
        it(t.name, () => {
            const s = campaign(t, 4242, loadCorpus(t.name), 0, SMOKE)
            expect(s.inputs).toBe(SMOKE)
            expect(s.failures.filter((f) => !isKnown(t.name, f.message))).toEqual([])
        })
})

describe("known failures outside the decoders still reproduce as described", () => {
    it("lists each with its reproducer and where the fix belongs", () => {
        for (const k of KNOWN) expect(k.input.length > 0 && k.where.length > 0).toBe(true)
    })
    for (const k of KNOWN)
        it(`${k.target}: ${k.where}`, () => {
            const t = TARGETS.find((x) => x.name === k.target)!
            const msg = runOne(t, Buffer.from(k.input, "hex"))
            expect(msg).not.toBeNull()
            expect(msg!).toMatch(k.pattern)
        })
})

describe("the campaign's machinery", () => {
    // a decoder with a planted bug: inputs starting with 0x42 of five bytes or more fail, and
    // one starting 0x43 0x43 throws
    const planted: Target = {
        name: "planted",
        about: "a test decoder",
        valid: TARGETS[1].valid,
        maxLen: 64,
        timeLimitMs: 1000,
        run(input: Buffer): void {
            if (input.length >= 5 && input[0] === 0x42) throw new FuzzFailure("planted bug")
            if (input.length >= 2 && input[0] === 0x43 && input[1] === 0x43) throw new TypeError("escaped")
        },
    }

    it("reports a property failure and an escaping exception, and minimizes the input", () => {
        expect(runOne(planted, Buffer.from([0x42, 1, 2, 3, 4, 5, 6]))).toBe("planted bug")
        expect(runOne(planted, Buffer.from([0x43, 0x43]))).toMatch(/^exception: TypeError: escaped/)
        expect(minimize(planted, Buffer.from([0x42, 9, 9, 9, 9, 9, 9, 9, 9]))).toHaveLength(5)
        const corpus = [Buffer.from([0x42, 1, 2, 3, 4, 5])]
        const s = campaign(planted, 7, corpus, 0, 3000)
        expect(s.failures.map((f) => f.message)).toContain("planted bug")
        // the same seed gives the same inputs
        expect(campaign(planted, 7, corpus, 0, 3000).failures).toEqual(s.failures)
    })

    it("a run over the time bound is a failure", () => {
        const slow: Target = {
            ...planted,
            timeLimitMs: 1,
            run: () => {
                const end = Date.now() + 5
                while (Date.now() < end) continue
            },
        }
        expect(runOne(slow, Buffer.alloc(1))).toMatch(/^slow: /)
    })
})
