import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { LineReader } from "../../firmware/console/lineReader"

function linesOf(max: number, ...chunks: (string | number[])[]): string[] {
    const out: string[] = []
    const r = new LineReader(max, (l) => out.push(l))
    for (const c of chunks) r.feed(typeof c === "string" ? Buffer.from(c, "latin1") : Buffer.from(c))
    return out
}

describe("line reader", () => {
    it("ends a line at CR, LF or CR LF, across chunk boundaries", () => {
        expect(linesOf(80, "a\nb\rc\r\nd")).toEqual(["a", "b", "c"])
        expect(linesOf(80, "st", "atus\r", "\nseq\n")).toEqual(["status", "seq"])
        expect(linesOf(80, "\r\n\r\n")).toEqual(["", ""])
        expect(linesOf(80, "\n\n")).toEqual(["", ""])
    })

    it("backspace and DEL take back the last character", () => {
        expect(linesOf(80, "stx\bat\x7ftus\r")).toEqual(["status"])
        expect(linesOf(80, "\b\b\bok\n")).toEqual(["ok"])
    })

    it("a stray subnegotiation start swallows a bounded number of bytes", () => {
        expect(linesOf(80, [0xff, 0xfa], "x".repeat(64), "ok\n")).toEqual(["ok"])
    })

    it("drops telnet negotiation and keeps an escaped 0xff", () => {
        expect(linesOf(80, [0xff, 0xfb, 0x01, 0x68, 0xff, 0xfa, 0x18, 0x01, 0xff, 0xf0, 0x69, 0x0a])).toEqual(["hi"])
        expect(linesOf(80, [0x61, 0xff, 0xff, 0x62, 0x0a])).toEqual(["a\u00ffb"])
        expect(linesOf(80, [0xff, 0xf4, 0x61, 0x0a])).toEqual(["a"])
    })

    it("keeps at most max + 1 characters of an over-long line and drops the rest up to its end", () => {
        const out = linesOf(8, "0123456789abcdef\nok\n")
        expect(out).toEqual(["012345678", "ok"])
        const r = new LineReader(8, () => {})
        r.feed(Buffer.from("x".repeat(100000)))
        expect(r.pending()).toBe(9)
        r.feed(Buffer.from("\n"))
        expect(r.overlong).toBe(1)
    })

    it("any bytes: never throws, lines never exceed max + 1, and a clean line after garbage comes through", () => {
        fc.assert(
            fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 10 }), (chunks) => {
                const out: string[] = []
                const r = new LineReader(32, (l) => out.push(l))
                for (const c of chunks) r.feed(Buffer.from(c))
                // an unfinished telnet command swallows at most 64 bytes; a line end resets the rest
                r.feed(Buffer.from("\n".repeat(65) + "help\n"))
                for (const l of out) expect(l.length).toBeLessThanOrEqual(33)
                expect(out[out.length - 1]).toBe("help")
            }),
            { numRuns: 500 }
        )
    })
})
