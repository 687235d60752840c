import { describe, expect, it } from "vitest"
import { StoreError } from "../../firmware/store/types"
import { block, PRIMARY, Rig } from "./harness"

// Between calls the store collects garbage ahead of need: until its reserve and spare sectors
// and an eighth of all its sectors are free, taking a victim at least seven eighths garbage
// (half, below the reserve and spare). A burst of writes after idle time then lands in sectors
// erased already: none of its calls waits for an erase. docs/FORMAT-flash.md, "Collection
// between calls".

const B = 256
/** Free sectors kept ahead in a 64-sector store: the default reserve and spare, and an eighth. */
const AHEAD = 2 + 2 + 64 / 8

/** A 256 KB store (64 sectors) after `writes` writes over 40 blocks, each seq confirmed: all
 * but the newest version of each block is garbage. */
function churned(writes: number): Rig {
    const r = Rig.blank(256 * 1024, PRIMARY)
    expect(r.mount().err).toBe(StoreError.None)
    for (let i = 0; i < writes; i++) {
        expect(r.write(0, i % 40, 1 + i, block(B, 0, i % 40, 1 + i, 0))).toBe(StoreError.None)
        if (i % 10 === 9) expect(r.confirm(1 + i)).toBe(StoreError.None)
    }
    return r
}

/** `n` writes to new blocks, `inFlight` queued at a time (each done queues the next): the
 * queue never runs empty, so nothing runs between calls. Returns the erases made until the
 * last one was done (what the store does between calls after it is not counted). */
function burst(r: Rig, n: number, inFlight: number, seq: number): number {
    const before = r.store.stats.erases
    let issued = 0
    let done = 0
    let erases = -1
    const next = (): void => {
        const lba = 100 + issued
        issued++
        r.store.write(0, lba, seq, block(B, 0, lba, seq, 1), (err) => {
            expect(err).toBe(StoreError.None)
            done++
            if (issued < n) next()
            if (done === n) erases = r.store.stats.erases - before
        })
    }
    for (let i = 0; i < inFlight; i++) next()
    r.runUntil(() => done === n)
    return erases
}

describe("collection between calls", () => {
    it("erases ahead, in idle time, an eighth of the store more than its reserve and spare", () => {
        const r = churned(2000)
        r.drain()
        expect(r.store.freeSectors()).toBeGreaterThanOrEqual(AHEAD)
        // and stops there: nothing more to do between calls, however long the store idles
        const erases = r.store.stats.erases
        r.k.run(r.k.millis() + 60000, Number.MAX_SAFE_INTEGER)
        expect(r.store.stats.erases).toBe(erases)
    })

    it("so a burst of writes after idle time makes no erase: 8 sectors' worth, queued back to back", () => {
        const r = churned(2000)
        r.drain()
        // 8 sectors of 15 records: the free sectors kept ahead hold them, with the reserve left
        expect(burst(r, 8 * 15, 8, 5000)).toBe(0)
        for (let i = 0; i < 8 * 15; i++) expect(r.read(0, 100 + i).data?.equals(block(B, 0, 100 + i, 5000, 1))).toBe(true)
        // a longer burst collects in its calls once the sectors kept ahead are used
        expect(burst(r, 30 * 15, 8, 5001)).toBeGreaterThan(0)
    })

    it("leaves a victim alone, beyond the reserve and spare, while more than an eighth of it is live", () => {
        // 58 sectors a fifth live (of 15 records, 3 kept: 2 blocks written once, and the newest
        // of 13 writes of a block of the sector's own); 6 free, fewer than kept ahead
        const r = Rig.blank(256 * 1024, PRIMARY)
        expect(r.mount().err).toBe(StoreError.None)
        let seq = 1
        for (let s = 0; s < 58; s++)
            for (let j = 0; j < 15; j++) {
                const lba = j < 2 ? 2 * s + j : 1000 + s
                expect(r.write(0, lba, seq, block(B, 0, lba, seq, 0))).toBe(StoreError.None)
                seq++
            }
        expect(r.confirm(seq)).toBe(StoreError.None)
        r.drain()
        expect(r.store.freeSectors()).toBeGreaterThanOrEqual(2 + 2)
        expect(r.store.freeSectors()).toBeLessThan(AHEAD)
        // half garbage would do below the reserve and spare, and three quarters would take
        // these; ahead of them it waits for more
        expect(r.store.stats.gcRelocated).toBe(0)
        for (let s = 0; s < 58; s++) expect(r.read(0, 1000 + s).data?.equals(block(B, 0, 1000 + s, 15 * s + 15, 0))).toBe(true)
    })
})
