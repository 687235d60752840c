import { describe, expect, it } from "vitest"
import { AckMode, PrimaryBoard } from "../../firmware/pipeline/primary"
import { PipelineChannel } from "../../firmware/protocol/ports"
import { MemStore } from "../protocol/memStore"
import { SimKernel } from "../../host-sim/kernel"

/** A link that never comes up. */
const noLink: PipelineChannel = {
    send: () => false,
    isUp: () => false,
    onWritable: () => {},
    onMessage: () => {},
    onSessionUp: () => {},
    setReceiveCredit: () => {},
}

function newBoard(k: SimKernel, store: MemStore): PrimaryBoard {
    return new PrimaryBoard(
        { member: 0, blockSize: 16, lbaCount: 8, auxRingBytes: 1024, maxLbasPerSeq: 8, mode: AckMode.Consistent, minCycleMs: 10, maxClosedSeqs: 8 },
        k,
        store,
        noLink
    )
}

function boardAfterBoot(k: SimKernel, store: MemStore): PrimaryBoard {
    const b = newBoard(k, store)
    // the flash holds data up to seq 5, the board had adopted seq 6, the remote confirmed 2
    b.recover(5, 2, 6)
    return b
}

describe("a primary after a boot", () => {
    it("stamps no write until the group has released the seq it adopted", () => {
        const k = new SimKernel()
        const store = new MemStore(k, { timing: { writeMs: 0, readMs: 0 } })
        const b = boardAfterBoot(k, store)
        // its capture seq is new: after every seq it adopted or holds data of
        expect(b.captureSeq()).toBe(7)
        const acks: number[] = []
        b.write(3, Buffer.alloc(16, 1), (err, seq) => acks.push(err === 0 ? seq : -1))
        k.run(100, 1000)
        expect(store.writes).toEqual([])
        b.adopt(7)
        b.release(6)
        k.run(200, 1000)
        // adopted, but its seq not yet released: the group may have released later seqs while
        // it was off, so a write stamped now could land before one it depends on
        expect(store.writes).toEqual([])
        expect(acks).toEqual([])
        b.release(7)
        k.run(300, 1000)
        expect(store.writes).toEqual([[3, 7]])
        expect(acks).toEqual([7])
    })

    it("reports every seq after the confirmed one up to the newest it adopted, none of them with data it lost", () => {
        const k = new SimKernel()
        const b = boardAfterBoot(k, new MemStore(k, { timing: { writeMs: 0, readMs: 0 } }))
        expect(b.closedSeqs().map((t) => [t.seq, t.portions])).toEqual([
            [3, 0],
            [4, 0],
            [5, 0],
            [6, 0],
        ])
    })

    it("takes 0 from the store for none, not for a seq: restored with no block, past 2^31 it starts after the newest seq it kept", () => {
        // a board restored from a remote that had applied nothing holds no block (the store saw
        // no seq: 0) and no confirmed seq (0), and keeps the newest seq the remote heard of.
        // From 2^31 on that seq lies before 0: taken as a seq, 0 was the newest, and the board
        // started at 1, almost half a turn after the group's seqs
        for (const heard of [2147483750, 4294967000, 1000]) {
            const k = new SimKernel()
            const b = newBoard(k, new MemStore(k, { timing: { writeMs: 0, readMs: 0 } }))
            b.recover(0, 0, heard)
            expect(b.captureSeq()).toBe((heard + 1) >>> 0)
        }
        // and one that kept none starts at 1
        const k = new SimKernel()
        const b = newBoard(k, new MemStore(k, { timing: { writeMs: 0, readMs: 0 } }))
        b.recover(0, 0, -1)
        expect(b.captureSeq()).toBe(1)
    })
})
