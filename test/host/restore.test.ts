import { afterAll, describe, expect, it } from "vitest"
import { join } from "node:path"
import { blocksOf, eventsOf, exportImageCli, groupOfOne, killAll, removeTemps, startPrimary, startRemote, tempDir, writesOf } from "./harness"

// A primary lost with its flash, and `seqmirror primary --restore` on a blank file in its place:
// it takes the member's image back from `seqmirror remote`, then replicates again
// (docs/OPERATIONS.md, "Restore a primary").

afterAll(() => {
    killAll()
    removeTemps()
})

describe("seqmirror primary --restore", () => {
    it("a blank primary takes its image back from the remote, then its new writes replicate over it", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const data = join(dir, "remote")
        const { proc: remote, port } = await startRemote(data, config, 0)

        const first = startPrimary(port, join(dir, "lost.flash"), config, ["--rate", "30", "--duration", "3s", "--seed", "3"])
        await first.endsWith(0)
        const before = exportImageCli(data)
        const held = blocksOf(before)
        expect(held.size).toBeGreaterThan(20)

        // the lost board's flash is gone: a new one, blank, restores first
        const second = startPrimary(port, join(dir, "new.flash"), config, ["--restore", "--rate", "20", "--duration", "2s", "--seed", "4"])
        await second.endsWith(0)
        const events = eventsOf(second)
        const logs = events.filter((e) => e.event === "log").map((e) => String(e.line))
        expect(logs).toContain("restore: taking member 0's image back from the remote")
        expect(logs).toContain(
            "restore: " + held.size + " blocks back as of seq " + before.appliedSeq + ", 0 damaged on the remote (left blank); replicating again"
        )
        const start = events.find((e) => e.event === "start")!
        expect(start.confirmedSeq).toBe(before.appliedSeq)
        expect(start.captureSeq as number).toBeGreaterThan(before.appliedSeq)
        const writes = [...writesOf(events).values()]
        expect(writes.length).toBeGreaterThan(10)
        expect(writes.every((w) => w.confirmed)).toBe(true)

        // the remote's image: the new board's writes over the restored ones
        const after = blocksOf(exportImageCli(data))
        const last = new Map<number, string>()
        for (const w of writes) last.set(w.lba, w.digest)
        for (const [lba, b] of held) expect(after.get(lba)!.digest).toBe(last.get(lba) ?? b.digest)

        // started again on its flash, it is not restored over
        const third = startPrimary(port, join(dir, "new.flash"), config, ["--restore", "--rate", "5", "--duration", "1s"])
        await third.endsWith(0)
        expect(eventsOf(third).some((e) => e.event === "log" && /^restore: skipped: the store holds \d+ blocks/.test(String(e.line)))).toBe(true)
        expect(await remote.kill("SIGTERM")).toEqual({ code: 0, signal: null })
    }, 90_000)
})
