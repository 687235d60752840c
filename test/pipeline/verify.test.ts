import { describe, expect, it } from "vitest"
import { crc32cUpdate } from "../../firmware/codec/crc32c"
import { SuspendReason } from "../../firmware/pipeline/primary"
import { repairBoard, verifyBoard } from "../../firmware/pipeline/verify"
import { putU32 } from "../../firmware/codec/bytes"
import { defaultSimOptions, SimOptions, Simulation } from "../../host-sim/sim"

// Online verify compares a member's image with the remote's applied image over the link while
// the group replicates: it skips data in flight, so it never reports a false mismatch, and it
// finds a block the remote holds wrong, which `repair` resyncs (docs/FORMAT.md, "Verify and
// repair").

function options(o: Partial<SimOptions>): SimOptions {
    return { ...defaultSimOptions(), ...o }
}

/** Runs until every primary's verify pass is over (or `untilMs`). */
function runVerify(sim: Simulation, untilMs: number): void {
    let t = sim.kernel.millis()
    const busy = () => sim.group.primaries.some((p) => p.up && p.board && p.board.verifier!.running)
    while (busy() && t < untilMs) sim.kernel.run((t += 100), Number.MAX_SAFE_INTEGER)
}

/**
 * Changes the remote's applied copy of (member, lba) to other data that still checks (its CRC
 * recomputed): a block the remote holds wrong without knowing it. Returns false when the remote
 * holds no applied version of it.
 */
function plant(sim: Simulation, member: number, lba: number): boolean {
    const chip = sim.group.remote.chip
    const applied = sim.group.appliedSeq()
    const B = sim.group.opts.blockSize
    let planted = 0
    for (let base = 0; base < chip.capacity(); base += 4096) {
        if (chip.peek(base) !== 0x53 || chip.peek(base + 1) !== 0x51) continue
        for (let e = base + 16; e + 16 <= base + 4096 && chip.peek(e) !== 0xff; e += 16) {
            if (chip.peek(e) !== 0x3c || chip.peek(e + 1) !== member) continue
            if ((chip.peek(e + 3) | (chip.peek(e + 4) << 8) | (chip.peek(e + 5) << 16)) !== lba) continue
            const seq = chip.peek(e + 8) | (chip.peek(e + 9) << 8) | (chip.peek(e + 10) << 16) | (chip.peek(e + 11) << 24)
            if (seq > applied) continue
            // every applied version of it (older ones and collection copies too)
            const data = base + 4096 - (chip.peek(e + 2) + 1) * B
            const len = chip.peek(e + 6) | ((chip.peek(e + 7) & 1) << 8)
            const bytes = Buffer.alloc(len)
            for (let i = 0; i < len; i++) {
                bytes[i] = (i * 31 + 7) & 0xff
                chip.poke(data + i, bytes[i])
            }
            const entry = Buffer.alloc(12)
            for (let i = 0; i < 12; i++) entry[i] = chip.peek(e + i)
            const crc = Buffer.alloc(4)
            putU32(crc, 0, crc32cUpdate(crc32cUpdate(0, bytes, 0, len), entry, 0, 12))
            for (let i = 0; i < 4; i++) chip.poke(e + 12 + i, crc[i])
            planted++
        }
    }
    return planted > 0
}

describe("online verify", () => {
    it("reports nothing on groups that replicate, with faults on the link and restarts", () => {
        let passesWithFaults = 0
        for (let seed = 1; seed <= 4; seed++) {
            const sim = new Simulation(options({ boards: 2, seed, durationMs: 30000, rate: 40, faults: seed > 2 ? ["link", "reboot"] : [] }))
            sim.start()
            let passes = 0
            for (let at = 5000; at < 28000; at += 7000) {
                sim.kernel.run(at, Number.MAX_SAFE_INTEGER)
                for (const p of sim.group.primaries) if (p.up && p.board) verifyBoard(p.board)
                runVerify(sim, at + 6000)
                for (const p of sim.group.primaries) {
                    if (!p.up || !p.board) continue
                    const v = p.board.verifier!
                    expect({ seed, at, mismatched: v.mismatched }).toEqual({ seed, at, mismatched: 0 })
                    passes += v.passes
                    if (v.passes > 0) expect(v.checked + v.skipped).toBe(sim.group.opts.lbaCount)
                }
            }
            // without faults every window's pass completes; a reboot or a link outage in a
            // window ends its pass (a run may have one in every window)
            if (seed <= 2) expect(passes).toBeGreaterThan(0)
            else passesWithFaults += passes
            const result = sim.finish()
            expect(result.violations).toEqual([])
        }
        expect(passesWithFaults).toBeGreaterThan(0)
    })

    it("finds a block the remote holds wrong, and repair mends just that, consistently", () => {
        const sim = new Simulation(options({ boards: 2, seed: 7, durationMs: 30000, rate: 10 }))
        sim.start()
        sim.kernel.run(12000, Number.MAX_SAFE_INTEGER)
        const board = sim.group.primaries[0].board!
        // the lba written longest ago (the remote has applied it; the app is not about to
        // write it again)
        let lba = -1
        let oldest = sim.group.appliedSeq()
        for (let l = 0; l < sim.group.opts.lbaCount; l++) {
            const s = sim.group.primaries[0].store!.newestSeq(0, l)
            if (s > 0 && s < oldest) {
                oldest = s
                lba = l
            }
        }
        expect(lba).toBeGreaterThanOrEqual(0)
        expect(plant(sim, 0, lba)).toBe(true)
        expect(verifyBoard(board)).toBe(true)
        runVerify(sim, 20000)
        const v = board.verifier!
        expect(v.passes).toBe(1)
        expect(v.mismatched).toBe(1)
        expect(v.differs(lba)).toBe(true)
        expect(v.checked).toBeGreaterThan(50)
        // the other member's image is the remote's
        const other = sim.group.primaries[1].board!
        verifyBoard(other)
        runVerify(sim, 26000)
        expect(other.verifier!.mismatched).toBe(0)
        expect(repairBoard(board)).toBe(true)
        expect(board.suspended).toBe(true)
        expect(board.suspendReason).toBe(SuspendReason.Repair)
        // the resync copies the block; a second pass finds nothing
        let t = sim.kernel.millis()
        while ((board.suspended || board.resync !== 0) && t < 29000) sim.kernel.run((t += 250), Number.MAX_SAFE_INTEGER)
        expect(board.suspended).toBe(false)
        verifyBoard(board)
        runVerify(sim, 29500)
        expect(v.passes).toBe(2)
        expect(v.mismatched).toBe(0)
        // the run's judgement reports what verify found, and nothing else is wrong
        const result = sim.finish()
        expect(result.violations).toEqual(["primary 0: verify found 1 block(s) different from the remote's image"])
    })
})
