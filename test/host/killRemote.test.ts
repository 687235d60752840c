import { afterAll, describe, expect, it } from "vitest"
import { join } from "node:path"
import {
    blocksOf,
    eventsOf,
    expectMirrors,
    expectPrefixImage,
    exportImage,
    groupOfOne,
    killAll,
    removeTemps,
    startPrimary,
    startRemote,
    tempDir,
    writesOf,
} from "./harness"

afterAll(() => {
    killAll()
    removeTemps()
})

// The remote killed with SIGKILL while a primary writes, and started again on the same data:
// what it confirmed before is on its flash, its image is the group's as of one seq, and the
// primary reconnects and goes on until everything it acknowledged is applied.
describe("a remote killed with SIGKILL mid-run", () => {
    it("loses nothing it confirmed, holds a consistent image, and the primary resumes", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const data = join(dir, "remote")
        const first = await startRemote(data, config)
        const flash = join(dir, "primary.flash")
        const primary = startPrimary(first.port, flash, config, ["--rate", "20", "--duration", "6s"])
        const confirmedCount = () => eventsOf(primary).filter((e) => e.event === "confirmed").length
        await primary.until("20 writes confirmed", () => confirmedCount() >= 20)
        expect(await first.proc.kill("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" })
        const down = await primary.line(/"link down: /)
        const downAt = primary.lines.indexOf(down.input)

        // the flash as the kill left it: everything the remote confirmed is applied
        const killed = await exportImage(data)
        const again = await startRemote(data, config, first.port)
        // it mounts its flash at the seq it had applied
        const mounted = await again.proc.line(/^seqmirror remote: store: \d+ sectors, \d+ blocks held, \d+ free sectors; applied seq (\d+)$/)
        expect(Number(mounted[1])).toBe(killed.appliedSeq)
        const up = await primary.line(/"link channel: session up"/, 30000, downAt)
        const upAt = primary.lines.indexOf(up.input, downAt)
        // confirmations reported before the session with the new remote came up are the old
        // remote's, all of them at or before the applied seq of its flash
        const before = primary.lines
            .slice(0, upAt)
            .filter((l) => l.includes('"event":"confirmed"'))
            .map((l) => JSON.parse(l))
        expect(before.length).toBeGreaterThanOrEqual(20)
        for (const c of before) expect(c.seq, `write ${c.n} was confirmed`).toBeLessThanOrEqual(killed.appliedSeq)

        await primary.endsWith(0)
        const events = eventsOf(primary)
        const writes = [...writesOf(events).values()]
        expect(writes.length).toBeGreaterThanOrEqual(90)
        const end = events.find((e) => e.event === "end")!
        expect(end).toMatchObject({ reason: "drained", acked: writes.length, confirmed: writes.length, failed: 0, drained: true })
        // the image of the killed remote: every write up to its applied seq, none after
        expectPrefixImage(killed, writes)
        // and in the end every write, after the new remote applied the rest
        const final = await exportImage(data)
        expect(final.appliedSeq).toBeGreaterThanOrEqual(Math.max(...writes.map((w) => w.seq!)))
        expectPrefixImage(final, writes)
        expect(blocksOf(final).size).toBe(new Set(writes.map((w) => w.lba)).size)
        await expectMirrors(final, flash)
        expect(await again.proc.kill("SIGTERM")).toEqual({ code: 0, signal: null })
    })
})
