import { describe, expect, it } from "vitest"
import { PipelineStore } from "../../firmware/protocol/ports"
import { RemoteStore } from "../../firmware/remote/remoteBoard"
import { BlockStore, PrimaryBlockStore } from "../../firmware/store/blockStore"
import { MetaKey, StoreError, StoreRole } from "../../firmware/store/types"
import { SpiNorFlash } from "../../hal/spiNor"
import { SimKernel } from "../../host-sim/kernel"
import { SpiNorChip } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"
import { block, PRIMARY, REMOTE, Rig } from "./harness"

const B = 256

function remount(r: Rig, opts = r.opts): Rig {
    const r2 = new Rig(r.chip, opts)
    expect(r2.mount().err).toBe(StoreError.None)
    return r2
}

describe("block store: basics", () => {
    it("mounts a blank chip as an empty store and formats sectors as it uses them", () => {
        const r = Rig.blank(65536, PRIMARY)
        const m = r.mount()
        expect(m.err).toBe(StoreError.None)
        expect(m.report.blank).toBe(true)
        expect(m.report.freeSectors).toBe(16)
        expect(r.read(0, 1)).toEqual({ err: StoreError.None, data: null })
        expect(r.write(0, 1, 1, block(B, 0, 1, 1, 0))).toBe(StoreError.None)
        const r2 = remount(r)
        expect(r2.store.lastMountReport().blank).toBe(false)
        expect(r2.store.lastMountReport().usedSectors).toBe(1)
        expect(r2.read(0, 1).data!.equals(block(B, 0, 1, 1, 0))).toBe(true)
    })

    it("acknowledges a write only after its entry is on flash: done fires after both programs", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        const programsBefore = r.chip.programs
        let acked = false
        let programsAtAck = -1
        r.store.write(0, 5, 1, block(B, 0, 5, 1, 0), () => {
            acked = true
            programsAtAck = r.chip.programs
        })
        r.runUntil(() => acked)
        // sector header, data slot, entry
        expect(programsAtAck - programsBefore).toBe(3)
        expect(r.chip.isBusy()).toBe(false)
    })

    it("keeps the newest version by seq, then by order written, wrap-safely", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        r.write(1, 7, 0xfffffffe, block(B, 1, 7, 0, 1))
        r.write(1, 7, 3, block(B, 1, 7, 3, 2)) // after the wrap: newer
        r.write(1, 7, 0xffffffff, block(B, 1, 7, 0, 3)) // before the wrap: older than 3
        expect(r.read(1, 7).data!.equals(block(B, 1, 7, 3, 2))).toBe(true)
        r.write(1, 7, 3, block(B, 1, 7, 3, 4)) // same seq, written later: newer
        expect(r.read(1, 7).data!.equals(block(B, 1, 7, 3, 4))).toBe(true)
        const r2 = remount(r)
        expect(r2.read(1, 7).data!.equals(block(B, 1, 7, 3, 4))).toBe(true)
        expect(r2.store.maxSeqSeen()).toBe(3)
    })

    it("stores blocks shorter than the block size and gives back exactly their bytes", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        const d = Buffer.from([1, 2, 3, 0xff, 0])
        expect(r.write(0, 2, 1, d)).toBe(StoreError.None)
        expect(remount(r).read(0, 2).data).toEqual(d)
    })

    it("refuses bad arguments, calls of the other role and calls before mount, without writing", () => {
        const r = Rig.blank(65536, PRIMARY)
        expect(r.write(0, 1, 1, block(B, 0, 1, 1, 0))).toBe(StoreError.NotMounted)
        r.mount()
        const before = r.chip.programs
        expect(r.write(256, 1, 1, block(B, 0, 1, 1, 0))).toBe(StoreError.BadArgument)
        expect(r.write(0, 0x1000000, 1, block(B, 0, 1, 1, 0))).toBe(StoreError.BadArgument)
        expect(r.write(0, 1, -1, block(B, 0, 1, 1, 0))).toBe(StoreError.BadArgument)
        expect(r.write(0, 1, 1, Buffer.alloc(0))).toBe(StoreError.BadArgument)
        expect(r.write(0, 1, 1, Buffer.alloc(B + 1))).toBe(StoreError.BadArgument)
        expect(r.write(0, 1.5, 1, block(B, 0, 1, 1, 0))).toBe(StoreError.BadArgument)
        expect(r.commit(3)).toBe(StoreError.WrongRole)
        expect(r.call((d) => r.store.discardAbove(3, d))).toBe(StoreError.WrongRole)
        expect(r.call((d) => r.store.setMeta(32, 1, d))).toBe(StoreError.BadArgument)
        expect(r.call((d) => r.store.setMeta(0, 2 ** 32, d))).toBe(StoreError.BadArgument)
        expect(r.chip.programs).toBe(before)
        expect(r.store.stats.refused).toBe(10)
        const rr = Rig.blank(65536, REMOTE)
        rr.mount()
        expect(rr.confirm(3)).toBe(StoreError.WrongRole)
    })

    it("reports bad options as a Config error instead of throwing", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        for (const opts of [
            { role: StoreRole.Primary, blockSize: 300 },
            { role: StoreRole.Primary, blockSize: 512 },
            { role: StoreRole.Primary, sectorCount: 3 },
            { role: StoreRole.Primary, firstSector: 10, sectorCount: 10 },
            { role: 7 as StoreRole },
        ]) {
            const r = new Rig(chip, opts)
            expect(r.mount().err).toBe(StoreError.Config)
            expect(r.write(0, 0, 1, Buffer.alloc(16))).toBe(StoreError.Config)
        }
    })

    it("calls done from the run loop, never from inside the call, and in call order", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        const order: string[] = []
        let inside = true
        r.store.write(0, 1, 1, block(B, 0, 1, 1, 0), (e) => order.push("w" + e + (inside ? "!" : "")))
        r.store.read(0, 1, (e, d) => order.push("r" + e + (d ? "d" : "-") + (inside ? "!" : "")))
        r.store.write(999, 1, 1, block(B, 0, 1, 1, 0), (e) => order.push("bad" + e + (inside ? "!" : "")))
        inside = false
        r.drain()
        expect(order).toEqual(["bad2", "w0", "r0d"])
    })

    it("refuses calls beyond the queue depth with QueueFull", () => {
        const r = Rig.blank(65536, { role: StoreRole.Primary, queueDepth: 2 })
        r.mount()
        const errs: number[] = []
        for (let i = 0; i < 4; i++) r.store.write(0, i, 1, block(B, 0, i, 1, i), (e) => errs.push(e))
        r.drain()
        expect(errs.sort()).toEqual([0, 0, StoreError.QueueFull, StoreError.QueueFull])
        expect(r.store.stats.queueFull).toBe(2)
    })

    it("copies the data at the call: the caller may reuse its buffer at once", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        const buf = block(B, 0, 1, 1, 0)
        let done = false
        r.store.write(0, 1, 1, buf, () => (done = true))
        buf.fill(0x55)
        r.runUntil(() => done)
        expect(r.read(0, 1).data!.equals(block(B, 0, 1, 1, 0))).toBe(true)
    })
})

describe("block store: primary pinning", () => {
    it("keeps the newest version of each lba per unconfirmed seq, listed per seq and member", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        r.write(0, 1, 1, block(B, 0, 1, 1, 0))
        r.write(0, 1, 1, block(B, 0, 1, 1, 1))
        r.write(0, 2, 1, block(B, 0, 2, 1, 2))
        r.write(1, 2, 2, block(B, 1, 2, 2, 3))
        r.write(0, 1, 2, block(B, 0, 1, 2, 4))
        r.write(0, 1, 3, block(B, 0, 1, 3, 5))
        const st = r.store
        expect(st.pinnedSeqs()).toEqual([1, 2, 3])
        expect(st.pinnedSeqs(1)).toEqual([2])
        const p1 = st
            .pinned(0, 1)
            .map((e) => [e.member, e.lba, e.seq])
            .sort()
        expect(p1).toEqual([
            [0, 1, 1],
            [0, 2, 1],
        ])
        expect(st.pinned(-1, 2).length).toBe(2)
        expect(r.readPinned(0, 1, 1).data!.equals(block(B, 0, 1, 1, 1))).toBe(true)
        expect(r.read(0, 1).data!.equals(block(B, 0, 1, 3, 5))).toBe(true)
        expect(r.confirm(2)).toBe(StoreError.None)
        expect(st.confirmedSeq()).toBe(2)
        expect(st.pinnedSeqs()).toEqual([3])
        expect(st.pinned(0, 1)).toEqual([])
        expect(r.readPinned(0, 1, 1).err).toBe(StoreError.NotFound)
        // the newest version stays, confirmed or not
        expect(r.read(0, 2).data!.equals(block(B, 0, 2, 1, 2))).toBe(true)
        expect(r.read(1, 2).data!.equals(block(B, 1, 2, 2, 3))).toBe(true)
        // an older confirm changes nothing; a write at or below the confirmed seq (a board that
        // suspended replication confirmed its capture seq itself) is kept, newest only, unpinned
        expect(r.confirm(1)).toBe(StoreError.None)
        expect(st.confirmedSeq()).toBe(2)
        expect(r.write(0, 9, 2, block(B, 0, 9, 2, 6))).toBe(StoreError.None)
        expect(r.write(0, 9, 2, block(B, 0, 9, 2, 7))).toBe(StoreError.None)
        expect(st.pinned(0, 2)).toEqual([])
        expect(r.read(0, 9).data!.equals(block(B, 0, 9, 2, 7))).toBe(true)
        const r2 = remount(r)
        expect(r2.store.confirmedSeq()).toBe(2)
        expect(r2.store.pinnedSeqs()).toEqual([3])
        expect(r2.read(0, 9).data!.equals(block(B, 0, 9, 2, 7))).toBe(true)
        expect(r2.store.maxSeqSeen()).toBe(3)
    })

    it("never collects a pinned version: fills up with pinned data, fails with Full, and recovers after confirm", () => {
        const r = Rig.blank(32768, PRIMARY) // 8 sectors, 2 kept in reserve
        r.mount()
        let seq = 1
        let n = 0
        let err: StoreError = StoreError.None
        const written: { lba: number; seq: number; v: number }[] = []
        while (n < 500) {
            if (n % 10 === 9) seq++
            err = r.write(0, n % 40, seq, block(B, 0, n % 40, seq, n))
            if (err !== StoreError.None) break
            written.push({ lba: n % 40, seq, v: n })
            n++
        }
        expect(err).toBe(StoreError.Full)
        expect(r.store.stats.full).toBe(1)
        // everything acknowledged is still there, pinned per seq
        const newest = new Map<string, number>()
        for (const w of written) newest.set(`${w.lba}:${w.seq}`, w.v)
        for (const [k, v] of newest) {
            const [lba, s] = k.split(":").map(Number)
            expect(r.readPinned(0, lba, s).data!.equals(block(B, 0, lba, s, v))).toBe(true)
        }
        // control records still get through: the remote confirms, space comes back
        expect(r.confirm(seq - 1)).toBe(StoreError.None)
        expect(r.write(0, 3, seq + 1, block(B, 0, 3, seq + 1, 999))).toBe(StoreError.None)
        for (let i = 0; i < 200; i++) expect(r.write(0, i % 40, seq + 1, block(B, 0, i % 40, seq + 1, 1000 + i))).toBe(StoreError.None)
        const r2 = remount(r)
        expect(r2.read(0, 3).data!.equals(block(B, 0, 3, seq + 1, 1163))).toBe(true)
    })
})

describe("block store: remote staging and apply", () => {
    it("shows only applied seqs; one commit makes a whole seq visible; staged versions survive a reboot", () => {
        const r = Rig.blank(65536, REMOTE)
        r.mount()
        r.write(0, 1, 1, block(B, 0, 1, 1, 0))
        r.write(1, 1, 1, block(B, 1, 1, 1, 1))
        expect(r.read(0, 1).data).toBe(null)
        expect(r.commit(1)).toBe(StoreError.None)
        expect(r.store.appliedSeq()).toBe(1)
        expect(r.read(0, 1).data!.equals(block(B, 0, 1, 1, 0))).toBe(true)
        r.write(0, 1, 2, block(B, 0, 1, 2, 2))
        r.write(0, 1, 3, block(B, 0, 1, 3, 3))
        expect(r.read(0, 1).data!.equals(block(B, 0, 1, 1, 0))).toBe(true)
        const r2 = remount(r)
        expect(r2.store.appliedSeq()).toBe(1)
        expect(r2.store.pinnedSeqs()).toEqual([2, 3])
        expect(r2.read(0, 1).data!.equals(block(B, 0, 1, 1, 0))).toBe(true)
        expect(r2.commit(2)).toBe(StoreError.None)
        expect(r2.read(0, 1).data!.equals(block(B, 0, 1, 2, 2))).toBe(true)
        expect(r2.read(1, 1).data!.equals(block(B, 1, 1, 1, 1))).toBe(true)
        expect(r2.commit(2)).toBe(StoreError.None)
        expect(r2.commit(1)).toBe(StoreError.SeqTooOld)
        expect(r2.write(0, 5, 2, block(B, 0, 5, 2, 9))).toBe(StoreError.SeqTooOld)
    })

    it("drops staged versions above a seq for a resync, durably, and keeps what is staged after it", () => {
        const r = Rig.blank(65536, REMOTE)
        r.mount()
        r.write(0, 1, 1, block(B, 0, 1, 1, 0))
        r.commit(1)
        r.write(0, 1, 2, block(B, 0, 1, 2, 1))
        r.write(0, 2, 3, block(B, 0, 2, 3, 2))
        expect(r.call((d) => r.store.discardAbove(0, d))).toBe(StoreError.SeqTooOld)
        expect(r.call((d) => r.store.discardAbove(1, d))).toBe(StoreError.None)
        expect(r.store.pinnedSeqs()).toEqual([])
        expect(r.store.stats.discards).toBe(1)
        // the same seqs staged again after the resync
        r.write(0, 1, 2, block(B, 0, 1, 2, 3))
        let r2 = remount(r)
        expect(r2.store.lastMountReport().voided).toBe(2)
        expect(r2.store.pinnedSeqs()).toEqual([2])
        expect(r2.readPinned(0, 1, 2).data!.equals(block(B, 0, 1, 2, 3))).toBe(true)
        expect(r2.readPinned(0, 2, 3).err).toBe(StoreError.NotFound)
        expect(r2.commit(3)).toBe(StoreError.None)
        expect(r2.read(0, 2).data).toBe(null)
        expect(r2.read(0, 1).data!.equals(block(B, 0, 1, 2, 3))).toBe(true)
        // a discard with nothing above it writes nothing
        const before = r2.chip.programs
        expect(r2.call((d) => r2.store.discardAbove(5, d))).toBe(StoreError.None)
        expect(r2.chip.programs).toBe(before)
        r2 = remount(r2)
        expect(r2.read(0, 1).data!.equals(block(B, 0, 1, 2, 3))).toBe(true)
    })

    it("holds every member's blocks in one store", () => {
        const r = Rig.blank(65536, REMOTE)
        r.mount()
        for (let m = 0; m < 8; m++) r.write(m, 4, 1, block(B, m, 4, 1, m))
        r.commit(1)
        for (let m = 0; m < 8; m++) expect(r.read(m, 4).data!.equals(block(B, m, 4, 1, m))).toBe(true)
        // members 128 and up: keys at and above 2^31
        r.write(200, 0xffffff, 2, block(B, 200, 0xffffff, 2, 9))
        r.commit(2)
        expect(
            remount(r)
                .read(200, 0xffffff)
                .data!.equals(block(B, 200, 0xffffff, 2, 9))
        ).toBe(true)
    })
})

describe("block store: metadata", () => {
    it("keeps named u32 values across reboots, the latest valid one winning", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        expect(r.store.meta(MetaKey.Generation)).toBe(-1)
        expect(r.call((d) => r.store.setMeta(MetaKey.Generation, 1, d))).toBe(StoreError.None)
        expect(r.call((d) => r.store.setMeta(MetaKey.Generation, 2, d))).toBe(StoreError.None)
        expect(r.call((d) => r.store.setMeta(MetaKey.ShuttleEpoch, 0xffffffff, d))).toBe(StoreError.None)
        const programs = r.chip.programs
        expect(r.call((d) => r.store.setMeta(MetaKey.ShuttleEpoch, 0xffffffff, d))).toBe(StoreError.None)
        expect(r.chip.programs).toBe(programs)
        const r2 = remount(r)
        expect(r2.store.meta(MetaKey.Generation)).toBe(2)
        expect(r2.store.meta(MetaKey.ShuttleEpoch)).toBe(0xffffffff)
        expect(r2.store.meta(MetaKey.HighestSeq)).toBe(-1)
        expect(r2.store.meta(99)).toBe(-1)
    })

    it("carries meta, confirm and data through garbage collection of their sectors", () => {
        const r = Rig.blank(32768, PRIMARY)
        r.mount()
        r.call((d) => r.store.setMeta(5, 55, d))
        r.write(0, 100, 1, block(B, 0, 100, 1, 0))
        r.confirm(1)
        for (let i = 0; i < 400; i++) {
            expect(r.write(0, i % 10, 2 + (i >> 4), block(B, 0, i % 10, 2, i))).toBe(StoreError.None)
            if (i % 16 === 15) expect(r.confirm(2 + (i >> 4))).toBe(StoreError.None)
        }
        for (let i = 0; i < 100; i++) r.write(0, i % 10, 40, block(B, 0, i % 10, 40, i))
        expect(r.store.stats.gcRuns).toBeGreaterThan(10)
        const r2 = remount(r)
        expect(r2.store.meta(5)).toBe(55)
        expect(r2.store.confirmedSeq()).toBe(2 + (399 >> 4))
        expect(r2.read(0, 100).data!.equals(block(B, 0, 100, 1, 0))).toBe(true)
    })
})

describe("block store: detection and recovery", () => {
    it("detects a corrupted record on read and at mount, and never returns its data", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        r.write(0, 1, 1, block(B, 0, 1, 1, 0))
        r.write(0, 2, 1, block(B, 0, 2, 1, 1))
        // flip two bits of lba 1's data (slot 0 of the first sector used: its last 256 bytes),
        // more than a read mends
        const sector = r.store.pinned(0, 1).find((e) => e.lba === 1)!.addr
        r.chip.poke(sector + 10, r.chip.peek(sector + 10) ^ 4)
        r.chip.poke(sector + 77, r.chip.peek(sector + 77) ^ 0x80)
        expect(r.read(0, 1)).toEqual({ err: StoreError.Corrupt, data: null })
        expect(r.store.stats.corruptOnRead).toBe(1)
        const r2 = remount(r)
        expect(r2.store.lastMountReport().corruptedOld).toBe(1)
        expect(r2.store.lastMountReport().badCrc).toBe(1)
        expect(r2.read(0, 1).data).toBe(null)
        expect(r2.read(0, 2).data!.equals(block(B, 0, 2, 1, 1))).toBe(true)
    })

    it("garbage collection copies a damaged live version as damaged: it is neither dropped nor laundered", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        // a pinned version of lba 1 in the first sector, then enough overwrites of another lba
        // that the first sector is the best victim
        r.write(0, 1, 1, block(B, 0, 1, 1, 0))
        for (let i = 0; i < 20; i++) r.write(0, 2, 1, block(B, 0, 2, 1, i + 1))
        const v = r.store.pinned(0, 1).find((e) => e.lba === 1)!
        r.chip.poke(v.addr + 10, r.chip.peek(v.addr + 10) ^ 4)
        r.chip.poke(v.addr + 11, r.chip.peek(v.addr + 11) ^ 1)
        const before = r.store.stats.gcRuns
        expect(r.call((d) => r.store.collect(d))).toBe(StoreError.None)
        expect(r.store.stats.gcRuns).toBe(before + 1)
        expect(r.store.stats.corruptCopied).toBe(1)
        // the version moved and is still there, pinned, and still reads as damaged
        const moved = r.store.pinned(0, 1).find((e) => e.lba === 1)!
        expect(moved.addr).not.toBe(v.addr)
        expect(r.readPinned(0, 1, 1)).toEqual({ err: StoreError.Corrupt, data: null })
        expect(r.read(0, 1)).toEqual({ err: StoreError.Corrupt, data: null })
        expect(r.read(0, 2).data!.equals(block(B, 0, 2, 1, 20))).toBe(true)
    })

    it("counts a write torn by a power cut as torn, not as corruption, and goes on appending", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        r.write(0, 1, 1, block(B, 0, 1, 1, 0))
        // the next write's entry is its second program: cut during it
        r.chip.cutAt(r.chip.operations() + 2, new Prng(3), 4) // RandomBits
        r.store.write(0, 2, 1, block(B, 0, 2, 1, 1), () => {})
        r.runUntil(() => !r.chip.isPowered())
        const r2 = new Rig(r.chip, PRIMARY)
        const m = r2.mount().report
        expect(m.torn + m.tornData).toBeGreaterThan(0)
        expect(m.corruptedOld).toBe(0)
        expect(r2.write(0, 3, 1, block(B, 0, 3, 1, 2))).toBe(StoreError.None)
        const r3 = remount(r2)
        expect(r3.read(0, 1).data!.equals(block(B, 0, 1, 1, 0))).toBe(true)
        expect(r3.read(0, 3).data!.equals(block(B, 0, 3, 1, 2))).toBe(true)
    })

    it("refuses a flash of another block size untouched; format erases it", () => {
        const r = Rig.blank(65536, { role: StoreRole.Primary, blockSize: 128 })
        r.mount()
        r.write(0, 1, 1, block(128, 0, 1, 1, 0))
        const digest = r.chip.digest()
        const r2 = new Rig(r.chip, PRIMARY)
        const m = r2.mount()
        expect(m.err).toBe(StoreError.IncompatibleFormat)
        expect(m.report.incompatible).toBe(1)
        expect(r2.write(0, 1, 1, block(B, 0, 1, 1, 0))).toBe(StoreError.NotMounted)
        expect(r.chip.digest()).toBe(digest)
        expect(r2.call((d) => r2.store.format(d))).toBe(StoreError.None)
        expect(r2.store.isMounted()).toBe(true)
        expect(r2.write(0, 1, 1, block(B, 0, 1, 1, 0))).toBe(StoreError.None)
        expect(
            remount(r2)
                .read(0, 1)
                .data!.equals(block(B, 0, 1, 1, 0))
        ).toBe(true)
    })

    it("uses only its own range of sectors", () => {
        const r = Rig.blank(65536, { role: StoreRole.Primary, firstSector: 4, sectorCount: 8 })
        r.mount()
        for (let i = 0; i < 300; i++) r.write(0, i % 20, 1 + (i >> 5), block(B, 0, i % 20, 1, i))
        r.confirm(1 + (299 >> 5))
        for (let i = 0; i < 300; i++) r.write(0, i % 20, 20, block(B, 0, i % 20, 20, i))
        const counts = r.chip.sectorEraseCounts
        expect(counts.slice(0, 4).concat(counts.slice(12))).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
        expect(counts.slice(4, 12).every((c) => c > 0)).toBe(true)
        for (let a = 0; a < 4 * 4096; a++) expect(r.chip.peek(a)).toBe(0xff)
    })

    it("recovers from a flash that times out: the call fails with Flash, the next one works", () => {
        const r = Rig.blank(65536, PRIMARY)
        // only the flash loses power here, the processor lives on: drive the chip directly
        r.flash = new SpiNorFlash(r.chip, r.k, { capacity: 65536 })
        r.store = new BlockStore(r.flash, r.k, PRIMARY)
        r.mount()
        r.write(0, 1, 1, block(B, 0, 1, 1, 0))
        // the chip goes dead during the data program and comes back later
        r.chip.onOperation = () => {
            r.chip.onOperation = null
            r.k.setTimer(0.1, () => r.chip.powerCut(new Prng(1), 1))
            r.k.setTimer(1000, () => r.chip.powerOn())
        }
        const chipBus = r.chip
        let err = -1
        r.store.write(0, 2, 1, block(B, 0, 2, 1, 1), (e) => (err = e))
        r.runUntil(() => err >= 0)
        expect(err).toBe(StoreError.Flash)
        expect(r.store.stats.flashErrors).toBe(1)
        r.runUntil(() => chipBus.isPowered())
        expect(r.write(0, 3, 1, block(B, 0, 3, 1, 2))).toBe(StoreError.None)
        expect(r.read(0, 1).data!.equals(block(B, 0, 1, 1, 0))).toBe(true)
        expect(
            remount(r)
                .read(0, 3)
                .data!.equals(block(B, 0, 3, 1, 2))
        ).toBe(true)
    })
})

describe("block store: a store object is a plain firmware object", () => {
    it("serves as the pipeline's store on a primary and as the remote's store", () => {
        const r = Rig.blank(65536, PRIMARY)
        const primaryPort: PipelineStore = r.store
        const remotePort: RemoteStore = Rig.blank(65536, REMOTE).store
        r.mount()
        r.write(2, 9, 4, block(B, 2, 9, 4, 0))
        expect(primaryPort.pinnedSeqs(2)).toEqual([4])
        expect(primaryPort.pinnedSeqs(1)).toEqual([])
        const pins = primaryPort.pinned(2, 4)
        expect(pins.map((p) => [p.member, p.lba, p.seq])).toEqual([[2, 9, 4]])
        let got: Buffer | null = null
        primaryPort.readPinned(pins[0], (_err, data) => (got = data))
        r.runUntil(() => got !== null)
        expect(got!.equals(block(B, 2, 9, 4, 0))).toBe(true)
        primaryPort.confirm(4)
        r.drain()
        expect(primaryPort.pinnedSeqs(2)).toEqual([])
        expect(remotePort.appliedSeq()).toBe(0)
    })

    it("uses fixed RAM: index and queue sized at construction", () => {
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 1 << 20 })
        const r = new Rig(chip, PRIMARY)
        const st: BlockStore = r.store
        expect(st.capacityRecords()).toBe(256 * 15)
        // about 19.5 bytes of index per record, 24 per sector, the meta tables and the queue
        expect(st.ramBytes()).toBe(256 * 15 * 16 + 5761 * 2 + 256 * 8 + 256 * 24 + 32 * 24 + 16 * (256 + 48))
    })

    it("PrimaryBlockStore (the board's store, without the remote's part) reads and writes the same store as a primary", () => {
        const r = Rig.blank(65536, PRIMARY)
        r.mount()
        r.write(0, 3, 5, block(B, 0, 3, 5, 1))
        r.write(0, 4, 6, block(B, 0, 4, 6, 2))
        expect(r.call((d) => r.store.setMeta(MetaKey.Generation, 7, d))).toBe(StoreError.None)
        expect(r.call((d) => r.store.confirm(5, d))).toBe(StoreError.None)
        // (the first store's work between calls ends first: the two share the driver)
        r.runUntil(() => false)
        // the same chip mounted by a PrimaryBlockStore: same versions, pins, meta and horizon
        const p = new PrimaryBlockStore(r.flash, r.k, PRIMARY)
        let mounted = -1
        p.mount((err) => (mounted = err))
        r.runUntil(() => mounted >= 0)
        expect(mounted).toBe(StoreError.None)
        expect(p.meta(MetaKey.Generation)).toBe(7)
        expect(p.confirmedSeq()).toBe(5)
        expect(p.pinnedSeqs(0)).toEqual([6])
        let got: Buffer | null = null
        p.read(0, 3, (_e, data) => (got = data))
        r.runUntil(() => got !== null)
        expect(got!.equals(block(B, 0, 3, 5, 1))).toBe(true)
        let err = -1
        p.write(0, 3, 7, block(B, 0, 3, 7, 3), (e) => (err = e))
        r.runUntil(() => err >= 0)
        expect(err).toBe(StoreError.None)
        expect(
            remount(r)
                .read(0, 3)
                .data!.equals(block(B, 0, 3, 7, 3))
        ).toBe(true)
    })

    it("PrimaryBlockStore refuses the remote role: every call fails with Config", () => {
        const r = Rig.blank(65536, REMOTE)
        r.init()
        const p = new PrimaryBlockStore(r.flash, r.k, REMOTE)
        let mounted = -1
        p.mount((err) => (mounted = err))
        r.runUntil(() => mounted >= 0)
        expect(mounted).toBe(StoreError.Config)
        let err = -1
        p.write(0, 1, 1, block(B, 0, 1, 1, 0), (e) => (err = e))
        r.runUntil(() => err >= 0)
        expect(err).toBe(StoreError.Config)
        expect(r.chip.programs).toBe(0)
    })
})
