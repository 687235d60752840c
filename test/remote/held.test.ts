import { describe, expect, it } from "vitest"
import { Prng } from "../../host-sim/prng"
import { Simulation } from "../../host-sim/sim"
import { stagedGroup } from "./stagedGroup"
import { getU32 } from "../../firmware/codec/bytes"
import { encodeResync, HELD_HEADER, Msg, RESYNC_DONE } from "../../firmware/protocol/messages"
import { takeResync } from "../../firmware/remote/remoteResync"
import { seqAfter, seqNext } from "../../firmware/seq"

// A new session sends every seq the remote has not applied again, but those the remote names
// in HELD: it holds their versions staged already, and the member, after comparing them with
// its own (count and digest), sends only their SEQ_DONE (docs/FORMAT.md, HELD). Under power
// cuts faster than a backlog goes over the link, that is what lets the remote apply at all.

/** Runs until `done` holds (at most 10 s of virtual time more). */
function until(sim: Simulation, done: () => boolean): void {
    const end = sim.kernel.millis() + 10000
    let t = sim.kernel.millis()
    while (!done() && t < end) sim.kernel.run((t += 10), Number.MAX_SAFE_INTEGER)
    expect(done()).toBe(true)
}

/** Runs until member 0's board is up again with its session, then `ms` more. */
function runUntilUp(sim: Simulation, ms: number): void {
    const p = sim.group.primaries[0]
    let t = sim.kernel.millis()
    while (!(p.up && p.board && p.channel && p.channel.isUp()) && t < 20000) sim.kernel.run((t += 10), Number.MAX_SAFE_INTEGER)
    sim.kernel.run(t + ms, Number.MAX_SAFE_INTEGER)
}

describe("a new session and the seqs the remote holds", () => {
    it("after a member's power cut, the seqs the remote holds staged are not sent again", () => {
        const sim = stagedGroup(6000)
        const rb = sim.group.remote.board!
        const staged = rb.members[0].held.length
        expect(staged).toBeGreaterThan(5)
        const already = rb.stagedAlready
        sim.powerOffBoard(0, 300, new Prng(1), "power")
        runUntilUp(sim, 1500)
        const b = sim.group.primaries[0].board!
        // every seq named held was found the same: for each, only its SEQ_DONE came (a seq on
        // its way when the power went may be staged by then too)
        expect(b.seqsHeld).toBeGreaterThanOrEqual(staged)
        expect(b.seqsHeld).toBeLessThanOrEqual(staged + 2)
        expect(b.heldDiffered).toBe(0)
        expect(rb.seqsFoundHeld).toBe(b.seqsHeld)
        expect(rb.heldMismatches).toBe(0)
        // and no version the remote held came again (without HELD, every one of them does)
        expect(rb.stagedAlready - already).toBe(0)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    })

    it("after the remote's power cut, it reads back what it holds staged and names it, and nothing held comes again", () => {
        const sim = stagedGroup(6000)
        const staged = sim.group.remote.board!.members[0].held.length
        expect(staged).toBeGreaterThan(5)
        sim.powerOffBoard("remote", 300, new Prng(1), "remotePower")
        // member 0 finds its session gone, and a new one comes up with the rebooted remote
        until(sim, () => sim.group.primaries[0].board!.seqsHeld >= staged)
        sim.kernel.run(sim.kernel.millis() + 500, Number.MAX_SAFE_INTEGER)
        const rb = sim.group.remote.board!
        const b = sim.group.primaries[0].board!
        // the new remote found every seq member 0 had staged, and member 0 sent none of them
        expect(rb.seqsFoundHeld).toBe(b.seqsHeld)
        expect(b.heldDiffered).toBe(0)
        expect(rb.stagedAlready).toBe(0)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    })

    it("a seq whose versions differ from what the remote names goes whole; a SEQ_DONE for a seq the remote no longer holds so renews the session", () => {
        const sim = stagedGroup(6000)
        const rb = sim.group.remote.board!
        const ms = rb.members[0]
        expect(ms.held.length).toBeGreaterThan(5)
        // the remote names one seq with another digest (as if it held another version)
        ms.held[2].digest = (ms.held[2].digest + 1) >>> 0
        const other = ms.held[2].seq
        sim.powerOffBoard(0, 300, new Prng(1), "power")
        until(sim, () => (sim.group.primaries[0].board?.seqsHeld ?? 0) > 0)
        sim.kernel.run(sim.kernel.millis() + 1000, Number.MAX_SAFE_INTEGER)
        const b = sim.group.primaries[0].board!
        expect(b.heldDiffered).toBe(1)
        expect(rb.heldMismatches).toBe(0)
        // that seq came whole, and the remote holds it as it came
        expect(ms.heldFor(other)).not.toBeNull()
        // now the remote forgets the oldest seq it names right after naming it: the member's
        // SEQ_DONE finds it gone
        const send = ms.channel.send.bind(ms.channel)
        ms.channel.send = (msg: Buffer) => {
            const ok = send(msg)
            if (msg[0] === Msg.Held && msg[1] > 0) ms.held = ms.held.filter((h) => h.seq !== getU32(msg, HELD_HEADER))
            return ok
        }
        const resends = rb.resends
        sim.powerOffBoard(0, 300, new Prng(2), "power")
        until(sim, () => rb.heldMismatches > 0)
        expect(rb.heldMismatches).toBe(1)
        expect(rb.resends).toBe(resends + 1)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    })
})

describe("a member's resync announced again", () => {
    it("with its copy done, drops what the member staged up to its base, as when the copy began (a boot of the remote brings those back)", () => {
        const sim = stagedGroup(6000)
        const rb = sim.group.remote.board!
        const st = sim.group.remote.store!
        const seqs = st.pinnedSeqs()
        expect(seqs.length).toBeGreaterThan(5)
        const base = seqs[3]
        const of = (m: number) => seqs.filter((s) => !seqAfter(s, base)).reduce((n, s) => n + st.pinned(m, s).length, 0)
        const before1 = of(1)
        expect(of(0)).toBeGreaterThan(0)
        // member 0 says its copy is made, on top of its confirmed seq `base`
        takeResync(rb, rb.members[0], encodeResync(base, seqNext(base), seqs[seqs.length - 1], RESYNC_DONE))
        expect(rb.resyncing).toBe(true)
        expect(rb.members[0].resyncDone).toBe(true)
        // (the store drops them in its turn, in RAM: a moment)
        sim.kernel.run(sim.kernel.millis() + 1, Number.MAX_SAFE_INTEGER)
        // its versions up to its base are no longer staged, member 1's are
        expect(of(0)).toBe(0)
        expect(of(1)).toBe(before1)
        expect(rb.members[0].held.filter((h) => !seqAfter(h.seq, base)).length).toBe(0)
    })
})

describe("a version the remote staged but never reported before its power cut", () => {
    it("is found by the read-back after its boot, and the simulator's checker learns of it there", () => {
        const sim = stagedGroup(12000)
        const remote = sim.group.remote
        const st = remote.store!
        const member = sim.group.primaries[0].store!
        // the remote's power is cut right after the staging write that completes a seq of member
        // 0 is durable, before the staging ends: the version is on flash, and nothing says so
        let cut: { lba: number; seq: number } | null = null
        const write = st.write.bind(st)
        st.write = (m, lba, seq, data, done, crc) =>
            write(
                m,
                lba,
                seq,
                data,
                (err) => {
                    if (!cut && err === 0 && m === 0 && st.pinned(0, seq).length === member.pinned(0, seq).length) {
                        cut = { lba, seq }
                        sim.powerOffBoard("remote", 300, new Prng(1), "remotePower")
                        return
                    }
                    done(err)
                },
                crc
            )
        until(sim, () => cut !== null)
        const v = cut!
        const known = () => (sim as unknown as { staged: number[][] }).staged.some((e) => e[0] === 0 && e[1] === v.lba && e[2] === v.seq)
        const reported = known()
        // the new remote reads it back, holds its seq, and member 0 does not send it again
        until(sim, () => remote.board !== null && remote.board.seqsFoundHeld > 0 && remote.board.heldReady)
        sim.kernel.run(sim.kernel.millis() + 500, Number.MAX_SAFE_INTEGER)
        expect(remote.board!.appliedSeq()).toBeLessThan(v.seq)
        expect(reported).toBe(false)
        expect(known()).toBe(true)
        const r = sim.finish()
        expect(r.violations).toEqual([])
        expect(r.consistent).toBe(true)
    })
})
