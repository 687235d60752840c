import { describe, expect, it } from "vitest"
import { getU32, putU32 } from "../../firmware/codec/bytes"
import { Msg, RESYNC_DONE } from "../../firmware/protocol/messages"
import { DEFAULT_HISTORY_SEQS, DEFAULT_WRITES_WAITING } from "../../firmware/config"
import { HoldReason } from "../../firmware/remote/remoteBoard"
import { AckMode, PrimaryBoard, Resync } from "../../firmware/pipeline/primary"
import { PipelineChannel } from "../../firmware/protocol/ports"
import { MemStore } from "../protocol/memStore"
import { SoloCycle } from "../../firmware/pipeline/soloCycle"
import { seqDiff } from "../../firmware/seq"
import { SimKernel } from "../../host-sim/kernel"
import { SpiNorChip } from "../../host-sim/models/spiNorChip"
import { Prng } from "../../host-sim/prng"
import { defaultSimOptions, Simulation } from "../../host-sim/sim"
import { FaultLog } from "../../host-sim/faultLog"
import { renderDashboard } from "../../host-sim/live/dashboard"
import { TimelineSampler } from "../../host-sim/timeline"

interface Watch {
    /** Applied seqs the remote showed after the replacement, before the resync was applied. */
    heldAt: Set<number>
    /** The remote's applied seq right after the resync's apply. */
    resyncAppliedAt: number
}

/** Steps the run in 5 ms slices, watching the remote's applied seq during the resync. */
function watchResync(sim: Simulation, from: number, to: number, w: Watch): void {
    const k = sim.kernel
    for (let t = from; t < to; t += 5) {
        k.run(t, Number.MAX_SAFE_INTEGER)
        const rb = sim.group.remote.board
        if (!rb) continue
        if (rb.resyncsApplied === 0) w.heldAt.add(sim.group.appliedSeq())
        else if (w.resyncAppliedAt < 0) w.resyncAppliedAt = sim.group.appliedSeq()
    }
}

function group(boards: number, seed: number, durationMs: number): Simulation {
    const o = defaultSimOptions()
    o.boards = boards
    o.seed = seed
    o.durationMs = durationMs
    return new Simulation(o)
}

describe("full resync", () => {
    it("a new remote with a blank flash shows nothing until every member's whole image has arrived, then all of it at once", () => {
        const sim = group(3, 7, 14000)
        sim.start()
        sim.kernel.run(4000, Number.MAX_SAFE_INTEGER)
        const before = sim.group.appliedSeq()
        expect(before).toBeGreaterThan(10)
        sim.replaceRemote(new Prng(1), 200, null)
        const w: Watch = { heldAt: new Set(), resyncAppliedAt: -1 }
        watchResync(sim, 4000, 14000, w)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        // the new board stayed at seq 0 (nothing visible) for the whole resync...
        expect([...w.heldAt]).toEqual([0])
        // ...then applied one seq past the old board's, with every member's blocks
        expect(w.resyncAppliedAt).toBeGreaterThan(before)
        const rb = sim.group.remote.board!
        expect(rb.resyncsStarted).toBe(1)
        expect(rb.resyncsApplied).toBe(1)
        for (const p of sim.group.primaries) {
            expect(p.board!.resyncsStarted).toBe(1)
            // the blocks whose newest version the old remote had confirmed: every lba written
            // only before the replacement
            expect(p.board!.resyncCopied).toBeGreaterThan(20)
            expect(p.board!.resync).toBe(Resync.Off)
        }
        expect(sim.checksAfterApply).toBeGreaterThan(20)
    })

    it("a remote restored from an older image keeps showing that image until the resync replaces it in one commit", () => {
        const sim = group(2, 11, 16000)
        sim.start()
        sim.kernel.run(3000, Number.MAX_SAFE_INTEGER)
        const backup = new SpiNorChip(new SimKernel(), { capacity: sim.group.remote.chip.capacity() })
        backup.copyMemory(sim.group.remote.chip)
        const old = sim.group.appliedSeq()
        expect(old).toBeGreaterThan(5)
        sim.kernel.run(7000, Number.MAX_SAFE_INTEGER)
        sim.replaceRemote(new Prng(2), 150, backup)
        const w: Watch = { heldAt: new Set(), resyncAppliedAt: -1 }
        watchResync(sim, 7000, 16000, w)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        // 0 only while the restored board was off; then the backup's seq until the resync
        w.heldAt.delete(0)
        expect([...w.heldAt]).toEqual([old])
        expect(w.resyncAppliedAt).toBeGreaterThan(old)
        expect(sim.group.remote.board!.resyncsApplied).toBe(1)
    })

    it("members cut off during the resync copy their images again, and the remote waits for them", () => {
        const sim = group(3, 5, 14000)
        sim.start()
        sim.kernel.run(3000, Number.MAX_SAFE_INTEGER)
        sim.replaceRemote(new Prng(3), 100, null)
        const cut = (member: number, at: number) =>
            sim.kernel.setTimer(at - sim.kernel.millis(), () => {
                sim.apps[member].powerLost()
                sim.group.powerCycle(sim.group.primaries[member], new Prng(at), 80)
            })
        cut(1, 3400)
        cut(2, 3900)
        cut(1, 5000)
        const w: Watch = { heldAt: new Set(), resyncAppliedAt: -1 }
        watchResync(sim, 3000, 14000, w)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
        expect([...w.heldAt]).toEqual([0])
        const rb = sim.group.remote.board!
        expect(rb.resyncsApplied).toBe(1)
        // the members that restarted began a new copy after their boot
        expect(sim.group.primaries[1].board!.resyncsStarted).toBe(1)
        expect(sim.group.primaries[1].boots).toBe(3)
    })

    it("a member that is gone for good holds the resync until the group evicts it", () => {
        const sim = group(3, 4, 12000)
        sim.opts.drainMs = 10000
        const k = sim.kernel
        const dead = sim.group.primaries[2]
        sim.start()
        k.setTimer(2500, () => {
            sim.apps[2].stop()
            sim.apps[2].powerLost()
            sim.group.powerCycle(dead, new Prng(1), 1e9)
        })
        k.setTimer(3000, () => sim.replaceRemote(new Prng(2), 100, null))
        k.run(7000, Number.MAX_SAFE_INTEGER)
        const rb = sim.group.remote.board!
        // the others' copies are in, the dead member's never comes
        expect(rb.isResyncing()).toBe(true)
        expect(rb.lastHold).toBe(HoldReason.Resync)
        expect(sim.group.appliedSeq()).toBe(0)
        expect(sim.agents[0]!.evict(dead.address)).toBeNull()
        k.run(12000, Number.MAX_SAFE_INTEGER)
        expect(rb.resyncsApplied).toBe(1)
        expect(sim.group.appliedSeq()).toBeGreaterThan(0)
        const r = sim.finish()
        // the evicted member's writes are lost to the remote, as an eviction says, and out of
        // the group's promise from the eviction on (so writes of the others that came after
        // them may show without them): the checker finds nothing else missing
        expect(r.violations).toEqual([])
        // the two live members' blocks are all there
        const image = sim.readImage((b, lba, done) => sim.group.readRemote(b, lba, done))
        for (const m of [0, 1]) {
            const p = sim.group.primaries[m]
            let held = 0
            let shown = 0
            for (let lba = 0; lba < sim.group.opts.lbaCount; lba++) {
                if (p.store!.newestSeq(m, lba) >= 0) held++
                if (image[m][lba]) shown++
            }
            expect(held).toBeGreaterThan(50)
            expect(shown).toBe(held)
        }
    })

    it("the live dashboard says so on the remote's row while the resync lasts", () => {
        const sim = group(2, 3, 10000)
        const faults = new FaultLog(sim)
        const sampler = new TimelineSampler(sim, faults, 100)
        sim.start()
        sim.kernel.run(3000, Number.MAX_SAFE_INTEGER)
        sim.replaceRemote(new Prng(4), 100, null)
        const rows = new Set<string>()
        for (let t = 3000; t < 9000; t += 20) {
            sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
            const snapshot = sampler.snapshot()
            const lines = renderDashboard({
                snapshot,
                goodput: [0, 0],
                seed: 3,
                mode: "consistent",
                faults: [],
                durationMs: 10000,
                speed: Infinity,
                wallMs: 0,
                behindMs: 0,
                ports: [-1, -1, -1],
                writesAcked: 0,
                faultsInjected: sim.faultsInjected,
                lastFault: faults.events.length > 0 ? faults.events[faults.events.length - 1] : null,
                phase: "running",
            })
            const row = lines.find((l) => l.startsWith("remote"))!
            expect(row.includes("full resync")).toBe(snapshot.remote.resyncing)
            rows.add(snapshot.remote.resyncing ? "resync" : "normal")
            if (t === 3000) expect(lines.join("\n")).toContain("remote: replaced by a new board with a blank flash, off for 100 ms")
        }
        expect([...rows].sort()).toEqual(["normal", "resync"])
        expect(sim.finish().consistent).toBe(true)
    })

    it("a replaced remote in one-board runs with every fault: consistent and caught up", () => {
        for (const seed of [1, 2, 3, 4]) {
            const o = defaultSimOptions()
            o.seed = seed
            o.durationMs = 15000
            o.faults = ["power", "link", "reboot", "slow", "replace"]
            const r = new Simulation(o).run()
            expect(r.violations, r.replay).toEqual([])
            expect(r.consistent, r.replay).toBe(true)
            // caught up: the new board holds every acknowledged write, those from before it came
            // too, which only the resync brings
            expect(r.caughtUp, r.replay).toBe(true)
            expect(r.faultsInjected.remoteReplaced, r.replay).toBe(1)
        }
    })

    it("a board with the shipped history bound finishes the copy for a replaced remote: its capture seq stays open at the bound", () => {
        // sending the whole image takes more cycles than the bound (the remote confirms no seq
        // until the resync's commit); closing a seq per cycle would suspend the board, which
        // throws the copy away, again and again; so would a group's members moving on
        for (const [boards, seed] of [
            [1, 1],
            [1, 2],
            [1, 3],
            [3, 1],
            [4, 2],
        ]) {
            const o = defaultSimOptions()
            o.boards = boards
            o.seed = seed
            o.durationMs = 60000
            o.faults = ["replace"]
            const sim = new Simulation(o, { maxHistorySeqs: DEFAULT_HISTORY_SEQS, maxWritesWaiting: DEFAULT_WRITES_WAITING })
            const r = sim.run()
            expect(r.violations, r.replay).toEqual([])
            expect(r.consistent, r.replay).toBe(true)
            expect(r.caughtUp, r.replay).toBe(true)
            expect(r.faultsInjected.remoteReplaced, r.replay).toBeGreaterThan(0)
            expect(r.resyncs, r.replay).toBeGreaterThanOrEqual(r.faultsInjected.remoteReplaced)
        }
    })

    it("groups whose history bound is small against their size finish their resyncs: a member held at its bound has room for every member's resume and final", () => {
        // with a quarter of the bound as the only room past it, the members suspended in turns
        // (each one's resume and final moved the group and pushed the held ones past their
        // room, and each threw a finished copy away): these runs applied nothing at all
        const runs: [number, number, number, number, string[]][] = [
            // boards, seed, bound, ms, faults
            [3, 2, 8, 20000, ["reboot"]],
            [3, 3, 8, 20000, ["reboot"]],
            [2, 1, 4, 60000, ["power", "link", "bus", "reboot", "slow", "replace", "death", "rot", "remotefail", "ram", "attack", "replace-primary"]],
        ]
        for (const [boards, seed, history, ms, faults] of runs) {
            const o = defaultSimOptions()
            o.boards = boards
            o.seed = seed
            o.durationMs = ms
            o.faults = faults
            o.history = history
            const r = new Simulation(o).run()
            expect(r.violations, r.replay).toEqual([])
            expect(r.consistent, r.replay).toBe(true)
            expect(r.caughtUp, r.replay).toBe(true)
            expect(r.appliedSeq, r.replay).toBeGreaterThan(0)
        }
    })

    it("after the commit, members at their bound hold their writes while the remote applies what the resync kept open, and replicate normally again", () => {
        // the resync's hold leaves each member's history at its bound when the commit comes: a
        // member that suspended at once needed the next resync, and the next, every ten seconds
        // or so for as long as its app wrote
        const o = { ...defaultSimOptions(), boards: 3, seed: 2, durationMs: 40000, history: 8 }
        const sim = new Simulation(o)
        sim.start()
        sim.kernel.setTimer(5000, () => sim.replaceRemote(new Prng(3), 100, null))
        let committedAt = -1
        let suspendedAtCommit = 0
        let appliedAtCommit = 0
        const suspensions = () => sim.group.primaries.reduce((n, p) => n + (p.board ? p.board.suspensions : 0), 0)
        for (let t = 5100; t <= o.durationMs; t += 100) {
            sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
            if (committedAt < 0 && sim.group.remote.board && sim.group.remote.board.resyncsApplied > 0) {
                committedAt = t
                suspendedAtCommit = suspensions()
                appliedAtCommit = sim.group.appliedSeq()
            }
        }
        expect(committedAt).toBeGreaterThan(0)
        expect(committedAt).toBeLessThan(20000)
        // no member suspended again after the commit, and the remote applied seq after seq, as
        // the group closed them (one resync applied about a dozen seqs every ten seconds)
        expect(suspensions()).toBe(suspendedAtCommit)
        expect(sim.group.remote.board!.resyncsApplied).toBe(1)
        const captured = sim.group.primaries[0].board!.captureSeq()
        expect(sim.group.appliedSeq() - appliedAtCommit).toBeGreaterThan(100)
        expect(captured - sim.group.appliedSeq()).toBeLessThan(8)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    })

    it("a member's session renewed a moment does not make the members holding their writes for the resync suspend", () => {
        // the remote renews a member's session (a portion that failed its CRC): that link is
        // down for a moment and the remote tells the others that its resync waits; a member
        // that had held its writes longer than the suspend time suspended then, and threw its
        // finished copy away (a 4-board catch-up under every fault class never committed)
        const o = { ...defaultSimOptions(), boards: 3, seed: 1, durationMs: 60000, history: 8, baud: 38400 }
        const sim = new Simulation(o)
        sim.start()
        // a new remote with a blank flash: a full resync, long on a slow link, where the members
        // at their bound hold their writes
        sim.kernel.setTimer(5000, () => sim.replaceRemote(new Prng(3), 100, null))
        let held = -1
        let at = 0
        for (let t = 5100; t <= o.durationMs && held < 0; t += 100) {
            sim.kernel.run(t, Number.MAX_SAFE_INTEGER)
            at = t
            held = sim.group.primaries.findIndex((p) => {
                const b = p.board
                return b !== null && b.resync === Resync.Done && b.resyncAsked && b.paced.length > 0 && t - b.paced[0].issuedAt > 5500
            })
        }
        expect(held).toBeGreaterThanOrEqual(0)
        const suspensions = () => sim.group.primaries.map((p) => p.board!.suspensions)
        const before = suspensions()
        const remote = sim.group.remote.board!
        remote.members[(held + 1) % 3].channel.renew!()
        sim.kernel.run(at + 2000, Number.MAX_SAFE_INTEGER)
        // the others heard that the resync waits, and none suspended for it
        expect(sim.group.primaries[held].board!.resyncWaitAt).toBeGreaterThan(at)
        expect(suspensions()).toEqual(before)
        // and the resync under way commits with the copies made before the renewal: no member
        // suspended (which would throw its copy away) before the commit
        let t = at + 2000
        while (sim.group.remote.board!.resyncsApplied === 0 && t < at + 30000) sim.kernel.run((t += 100), Number.MAX_SAFE_INTEGER)
        expect(sim.group.remote.board!.resyncsApplied).toBe(1)
        expect(suspensions()).toEqual(before)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    })

    it("a group of one at the shipped history bound under every fault class: consistent and caught up", () => {
        for (let seed = 1; seed <= 40; seed++) {
            const o = defaultSimOptions()
            o.seed = seed
            o.durationMs = 60000
            o.faults = ["power", "link", "bus", "reboot", "slow", "replace", "death", "rot", "remotefail", "ram", "attack", "replace-primary"]
            o.history = DEFAULT_HISTORY_SEQS
            const r = new Simulation(o).run()
            expect(r.violations, r.replay).toEqual([])
            expect(r.consistent, r.replay).toBe(true)
        }
    })
})

/** A link that is up, takes every message and lets the test bring a session up. */
class TestChannel implements PipelineChannel {
    sent: Buffer[] = []
    sessionUp: (resumed: boolean, resume: Buffer) => void = () => {}
    send(msg: Buffer): boolean {
        this.sent.push(Buffer.from(msg))
        return true
    }
    isUp(): boolean {
        return true
    }
    /** What the board hears from the remote: the test calls it as the channel would. */
    deliver: (msg: Buffer, len: number) => void = () => {}
    onWritable(): void {}
    onMessage(h: (msg: Buffer, len: number) => void): void {
        this.deliver = h
    }
    onSessionUp(h: (resumed: boolean, resume: Buffer) => void): void {
        this.sessionUp = h
    }
    setReceiveCredit(): void {}
}

function block(v: number): Buffer {
    return Buffer.alloc(16, v)
}

describe("a member's copy of its image", () => {
    function boardWithHistory(): { k: SimKernel; store: MemStore; ch: TestChannel; board: PrimaryBoard } {
        const k = new SimKernel()
        // lbas 0..3 written long ago; the remote confirmed seq 5
        const store = new MemStore(k, { confirmedAt: 5 })
        for (let lba = 0; lba < 4; lba++) store.put(lba, 3, block(0x10 + lba))
        const ch = new TestChannel()
        const board = new PrimaryBoard(
            { member: 0, blockSize: 16, lbaCount: 6, auxRingBytes: 1024, maxLbasPerSeq: 6, mode: AckMode.Consistent, minCycleMs: 10, maxClosedSeqs: 8 },
            k,
            store,
            ch
        )
        board.recover(5, 5, 5)
        new SoloCycle(board, k).start()
        return { k, store, ch, board }
    }

    function session(ch: TestChannel, remoteApplied: number): void {
        const resume = Buffer.alloc(4)
        putU32(resume, 0, remoteApplied)
        ch.sessionUp(false, resume)
    }

    function resyncMessages(ch: TestChannel): Array<{ base: number; from: number; to: number; done: boolean }> {
        return ch.sent
            .filter((m) => m[0] === Msg.Resync)
            .map((m) => ({ base: getU32(m, 1), from: getU32(m, 5), to: getU32(m, 9), done: (m[13] & RESYNC_DONE) !== 0 }))
    }

    it("starts when the remote's applied seq is before the board's confirmed one, and copies every block it holds", () => {
        const { k, store, ch, board } = boardWithHistory()
        session(ch, 0)
        k.run(500, Number.MAX_SAFE_INTEGER)
        const msgs = resyncMessages(ch)
        // `to` is never before `from`
        expect(msgs[0]).toEqual({ base: 5, from: 6, to: 6, done: false })
        const done = msgs[msgs.length - 1]
        expect(done.done).toBe(true)
        expect(seqDiff(done.from, 5)).toBeGreaterThan(0)
        expect(seqDiff(done.to, done.from)).toBeGreaterThanOrEqual(0)
        // every block written has a copy in from..to, with its data; lbas 4 and 5 were never written
        for (let lba = 0; lba < 4; lba++) {
            const v = store.newest(lba)!
            expect(seqDiff(v.seq, done.from)).toBeGreaterThanOrEqual(0)
            expect(seqDiff(done.to, v.seq)).toBeGreaterThanOrEqual(0)
            expect(v.data).toEqual(block(0x10 + lba))
        }
        expect(store.newest(4)).toBeNull()
        expect(board.resyncCopied).toBe(4)
        // the copies are sent like writes: a portion of each
        const portions = ch.sent.filter((m) => m[0] === Msg.Portion).map((m) => getU32(m, 5))
        expect(portions.sort()).toEqual([0, 1, 2, 3])
        // the remote applies a seq at or after the copy's last: the board is done with it
        const applied = Buffer.from([Msg.Applied, 0, 0, 0, 0])
        putU32(applied, 1, done.to)
        ch.deliver(applied, 5)
        expect(board.resync).toBe(Resync.Off)
    })

    it("copies only the blocks the remote lacks: newest version after its applied seq and at or before the confirmed one", () => {
        const k = new SimKernel()
        const store = new MemStore(k, { confirmedAt: 5 })
        store.put(0, 2, block(0xa0)) // the remote, at seq 3, has it
        store.put(1, 4, block(0xa1)) // confirmed by a remote that is gone: copied
        store.put(2, 4, block(0xa2))
        store.put(2, 7, block(0xb2)) // after the confirmed seq: held and sent as it is
        const ch = new TestChannel()
        const board = new PrimaryBoard(
            { member: 0, blockSize: 16, lbaCount: 6, auxRingBytes: 1024, maxLbasPerSeq: 6, mode: AckMode.Consistent, minCycleMs: 10, maxClosedSeqs: 8 },
            k,
            store,
            ch
        )
        board.recover(7, 5, 7)
        new SoloCycle(board, k).start()
        session(ch, 3)
        k.run(500, Number.MAX_SAFE_INTEGER)
        expect(board.resyncCopied).toBe(1)
        const copies = store.versions.filter((v) => seqDiff(v.seq, 7) > 0)
        expect(copies.map((v) => [v.lba, v.data[0]])).toEqual([[1, 0xa1]])
        const done = resyncMessages(ch).pop()!
        expect(done).toEqual({ base: 5, from: 6, to: copies[0].seq, done: true })
        // seq 7 goes to the remote again, with lba 2
        expect(ch.sent.some((m) => m[0] === Msg.Portion && getU32(m, 1) === 7 && getU32(m, 5) === 2)).toBe(true)
        // before it applies, the remote is replaced by a blank one: lba 0, which the old one had,
        // is copied too
        session(ch, 0)
        k.run(1000, Number.MAX_SAFE_INTEGER)
        expect(board.resyncsStarted).toBe(2)
        expect(store.versions.filter((v) => v.lba === 0 && seqDiff(v.seq, 7) > 0).map((v) => v.data[0])).toEqual([0xa0])
        expect(resyncMessages(ch).pop()!.done).toBe(true)
    })

    it("does not start when the remote has the board's history", () => {
        const { k, ch, board } = boardWithHistory()
        session(ch, 5)
        k.run(500, Number.MAX_SAFE_INTEGER)
        expect(resyncMessages(ch)).toEqual([])
        expect(board.resyncsStarted).toBe(0)
    })

    it("an app write to the block being read is never overwritten by the older copy", () => {
        const { k, store, ch, board } = boardWithHistory()
        session(ch, 0)
        // the copy of lba 0 is being read: the app writes lba 0 now, so its write reaches the
        // store after the read; a copy of the old data written after it would undo it
        let acked = -1
        board.write(0, block(0xee), (err) => (acked = err))
        k.run(500, Number.MAX_SAFE_INTEGER)
        expect(acked).toBe(0)
        expect(store.newest(0)!.data).toEqual(block(0xee))
        // lba 0 needs no copy any more: the app's write, after the confirmed seq, goes instead
        expect(board.resyncCopied).toBe(3)
        const done = resyncMessages(ch).pop()!
        expect(done.done).toBe(true)
        expect(seqDiff(done.to, store.newest(0)!.seq)).toBeGreaterThanOrEqual(0)
    })

    it("a resync request from the remote starts it too, and a second request only announces it again", () => {
        const { k, ch, board } = boardWithHistory()
        session(ch, 5)
        const request = Buffer.from([Msg.ResyncRequest])
        ch.deliver(request, 1)
        k.run(500, Number.MAX_SAFE_INTEGER)
        ch.deliver(request, 1)
        k.run(600, Number.MAX_SAFE_INTEGER)
        expect(board.resyncsStarted).toBe(1)
        const msgs = resyncMessages(ch)
        expect(msgs.length).toBe(3)
        expect(msgs[1].done && msgs[2].done).toBe(true)
        expect(msgs[2]).toEqual(msgs[1])
    })
})
