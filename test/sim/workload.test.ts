import { describe, expect, it } from "vitest"
import { decodeBlock, encodeBlock } from "../../host-sim/workload"
import { Prng } from "../../host-sim/prng"

describe("the workload's blocks", () => {
    it("decode to the write that made them, and a changed byte makes a block no write made (or, in the lba, names another lba)", () => {
        const r = new Prng(3)
        for (let n = 0; n < 200; n++) {
            const size = r.chance(0.5) ? 256 : 16 + r.int(300)
            const b = Buffer.alloc(size)
            const board = r.int(8)
            const lba = r.int(4096)
            const counter = 1 + r.int(100000)
            encodeBlock(b, board, lba, counter)
            const id = decodeBlock(b)
            expect(id).not.toBeNull()
            expect([id!.board, id!.lba, id!.counter]).toEqual([board, lba, counter])
            const at = r.int(size)
            b[at] ^= 1 << r.int(8)
            if (at >= 8 && at < 12) expect(decodeBlock(b)!.lba).not.toBe(lba)
            else expect(decodeBlock(b)).toBeNull()
        }
        expect(decodeBlock(Buffer.alloc(15))).toBeNull()
    })
})
