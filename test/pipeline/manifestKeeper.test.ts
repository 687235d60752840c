import { describe, expect, it } from "vitest"
import { MANIFEST_MEMBER, ManifestKeeper } from "../../firmware/pipeline/manifestKeeper"
import { Manifest, ManifestEntry } from "../../firmware/protocol/messages"
import { StoreError, StoreRole } from "../../firmware/store/types"
import { Rig } from "../store/harness"

/** A final manifest of seq s with `n` members' entries (10 + 9n bytes encoded). */
function manifest(s: number, n: number): Manifest {
    const e: ManifestEntry[] = []
    for (let m = 0; m < n; m++) e.push(new ManifestEntry(m, s + m, (s + m) * 32))
    return new Manifest(s, s - 1, e)
}

function keeper(r: Rig, blockSize: number): ManifestKeeper {
    return new ManifestKeeper(r.store, r.k, blockSize)
}

function load(k: ManifestKeeper, r: Rig): Manifest[] {
    const out: Manifest[] = []
    let done = false
    k.load(
        (m) => out.push(m),
        () => (done = true)
    )
    r.runUntil(() => done)
    expect(done).toBe(true)
    return out
}

describe("final manifests kept on a primary's flash", () => {
    it("come back after a power cut, in seq order, also when longer than a block (32-byte blocks: 3 pieces)", () => {
        const r = Rig.blank(65536, { role: StoreRole.Primary, blockSize: 32 })
        expect(r.mount().err).toBe(StoreError.None)
        const k = keeper(r, 32)
        for (let s = 1; s <= 5; s++) k.keep(manifest(s, 8)) // 82 bytes each
        k.keep(manifest(3, 8)) // the same seq again: kept once
        r.drain()
        expect(k.kept).toBe(5)
        expect(k.errors).toBe(0)
        expect(r.store.pinnedSeqs(MANIFEST_MEMBER)).toEqual([1, 2, 3, 4, 5])

        const r2 = new Rig(r.chip, r.opts)
        expect(r2.mount().err).toBe(StoreError.None)
        const k2 = keeper(r2, 32)
        const back = load(k2, r2)
        expect(back.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])
        for (const m of back) expect(m).toEqual(manifest(m.seq, 8))
        expect(k2.newestFinal()).toBe(5)
    })

    it("go with their seq's confirmation, and a gap ends what is known final for sure", () => {
        const r = Rig.blank(65536, { role: StoreRole.Primary, blockSize: 256 })
        expect(r.mount().err).toBe(StoreError.None)
        const k = keeper(r, 256)
        for (const s of [1, 2, 3, 5, 6]) k.keep(manifest(s, 3))
        r.drain()
        // seq 4's manifest never reached the flash: 5 and 6 are not final for sure
        expect(k.newestFinal()).toBe(3)
        expect(r.confirm(2)).toBe(StoreError.None)
        expect(r.store.pinnedSeqs(MANIFEST_MEMBER)).toEqual([3, 5, 6])
        expect(k.newestFinal()).toBe(3)
        expect(r.confirm(4)).toBe(StoreError.None)
        expect(k.newestFinal()).toBe(6)
        // a manifest of a seq the remote already applied is not written again
        k.keep(manifest(4, 3))
        r.drain()
        expect(r.store.pinnedSeqs(MANIFEST_MEMBER)).toEqual([5, 6])
        // a seq finalized again out of order (a regenerated shuttle) is still kept
        k.keep(manifest(8, 3))
        k.keep(manifest(7, 3))
        r.drain()
        expect(r.store.pinnedSeqs(MANIFEST_MEMBER)).toEqual([5, 6, 7, 8])
        expect(k.newestFinal()).toBe(8)
    })

    it("of a seq at or before a confirmed seq 0 (past the wrap of the u32 seqs) are not written", () => {
        const r = Rig.blank(65536, { role: StoreRole.Primary, blockSize: 256 })
        expect(r.mount().err).toBe(StoreError.None)
        const k = keeper(r, 256)
        expect(r.confirm(0)).toBe(StoreError.None)
        // seq 0 itself and the one before it are confirmed: nothing to keep; seq 1 is kept
        k.keep(new Manifest(0, 4294967295, [new ManifestEntry(0, 1, 32)]))
        k.keep(new Manifest(4294967295, 4294967294, [new ManifestEntry(0, 1, 32)]))
        r.drain()
        expect(k.kept).toBe(0)
        k.keep(manifest(1, 1))
        r.drain()
        expect(k.kept).toBe(1)
        expect(r.store.pinnedSeqs(MANIFEST_MEMBER)).toEqual([1])
    })
})
