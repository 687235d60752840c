import { afterAll, describe, expect, it } from "vitest"
import { join } from "node:path"
import {
    blocksOf,
    eventsOf,
    expectMirrors,
    exportImage,
    groupOfOne,
    killAll,
    removeTemps,
    startPrimary,
    startRemote,
    tempDir,
    WriteRecord,
    writesOf,
} from "./harness"

afterAll(() => {
    killAll()
    removeTemps()
})

// A primary killed with SIGKILL while it writes, and started again on the same flash file: it
// recovers what its flash holds (a new generation), reconnects and resumes; what the remote
// had confirmed stays, and in the end the remote holds every block as the primary's flash has it.
describe("a primary killed with SIGKILL mid-run", () => {
    it("recovers on restart and replicates the rest; nothing confirmed is lost", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const data = join(dir, "remote")
        const flash = join(dir, "primary.flash")
        const { proc: remote, port } = await startRemote(data, config)
        const first = startPrimary(port, flash, config, ["--rate", "20", "--duration", "60s"])
        await first.until("20 writes confirmed", () => eventsOf(first).filter((e) => e.event === "confirmed").length >= 20)
        expect(await first.kill("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" })
        const e1 = eventsOf(first)
        const w1 = [...writesOf(e1).values()]
        const confirmed1 = w1.filter((w) => w.confirmed)
        const acked1 = w1.filter((w) => w.seq !== null)
        const maxAcked1 = Math.max(...acked1.map((w) => w.seq!))

        // what the remote applied before the kill is still there, whatever the primary does next
        const mid = await exportImage(data)
        expect(mid.appliedSeq).toBeGreaterThanOrEqual(Math.max(...confirmed1.map((w) => w.seq!)))
        expectHolds(blocksOf(mid), confirmed1, w1)

        const second = startPrimary(port, flash, config, ["--rate", "20", "--duration", "3s"])
        await second.endsWith(0)
        const e2 = eventsOf(second)
        const start1 = e1.find((e) => e.event === "start")!
        const start2 = e2.find((e) => e.event === "start")!
        expect(start2.generation).toBe((start1.generation as number) + 1)
        // it never stamps a seq it used before the kill
        expect(start2.captureSeq as number).toBeGreaterThan(maxAcked1)
        const w2 = [...writesOf(e2).values()]
        expect(w2.length).toBeGreaterThanOrEqual(55)
        expect(e2.find((e) => e.event === "end")).toMatchObject({ reason: "drained", acked: w2.length, confirmed: w2.length, failed: 0, drained: true })
        // the remote took the restarted primary's connection
        expect(remote.lines.filter((l) => /^info: member 0: connected from /.test(l)).length).toBe(2)

        const final = await exportImage(data)
        expect(final.appliedSeq).toBeGreaterThanOrEqual(Math.max(...w2.map((w) => w.seq!)))
        const blocks = blocksOf(final)
        const last2 = new Map(w2.map((w) => [w.lba, w]))
        const byLba1 = new Map<number, WriteRecord[]>()
        for (const w of w1) byLba1.set(w.lba, [...(byLba1.get(w.lba) ?? []), w])
        for (const [lba, b] of blocks) {
            const w = last2.get(lba)
            if (w) {
                // written after the restart: its last write
                expect(b.digest, `lba ${lba}`).toBe(w.digest)
                expect(b.seq).toBeGreaterThanOrEqual(w.seq!)
                continue
            }
            // written only before the kill: its last acknowledged write, or a later one the
            // flash kept although the kill came before its acknowledgement
            const before = byLba1.get(lba)
            expect(before, `lba ${lba} was written`).toBeDefined()
            let from = 0
            for (let i = 0; i < before!.length; i++) if (before![i].seq !== null) from = i
            const allowed = before!.slice(from).map((x) => x.digest)
            expect(allowed, `lba ${lba}`).toContain(b.digest)
        }
        // every lba acknowledged before the kill, or written after, holds data
        for (const w of [...acked1, ...w2]) expect(blocks.has(w.lba), `lba ${w.lba}`).toBe(true)
        // and the remote holds what the primary's flash holds, block for block
        await expectMirrors(final, flash)
        expect(await remote.kill("SIGTERM")).toEqual({ code: 0, signal: null })
    })
})

/** Each confirmed write is in the image, or a later write of its lba that is also applied. */
function expectHolds(blocks: Map<number, { digest: string; seq: number }>, confirmed: WriteRecord[], all: WriteRecord[]): void {
    for (const w of confirmed) {
        const b = blocks.get(w.lba)
        expect(b, `lba ${w.lba}`).toBeDefined()
        expect(b!.seq, `lba ${w.lba}`).toBeGreaterThanOrEqual(w.seq!)
        const holder = all.find((x) => x.digest === b!.digest)
        expect(holder, `lba ${w.lba} holds a write of this primary`).toBeDefined()
        expect(holder!.lba).toBe(w.lba)
        expect(holder!.n).toBeGreaterThanOrEqual(w.n)
    }
}
