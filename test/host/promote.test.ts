import { afterAll, describe, expect, it } from "vitest"
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { digestOf } from "../../host-sim/host/hostConfig"
import {
    BIN,
    blocksOf,
    eventsOf,
    expectMirrors,
    exportImageCli,
    groupOfOne,
    killAll,
    removeTemps,
    ROOT,
    startPrimary,
    startRemote,
    tempDir,
    writesOf,
} from "./harness"

// The primary site lost: `seqmirror remote`'s console promotes the remote (or `seqmirror remote
// promote` a stopped one's directory), the old primary is fenced, a new board restores from
// the promoted image and `failback` hands the role back (docs/OPERATIONS.md, "Promote the
// remote" and "Fail back").

afterAll(() => {
    killAll()
    removeTemps()
})

/** A block as the remote console's `write` makes it: the text, padded with zeros. */
function textBlock(config: string, text: string): string {
    const bs = (JSON.parse(readFileSync(config, "utf8")) as { store: { blockSize: number } }).store.blockSize
    const b = Buffer.alloc(bs)
    b.write(text, "ascii")
    return digestOf(b)
}

describe("promote and fail back with real processes", () => {
    it("the promoted remote fences the old primary, takes writes, and hands the role back to a new board that holds its image", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const data = join(dir, "remote")
        const { proc: remote, port } = await startRemote(data, config, 0)
        const say = (line: string) => remote.child.stdin!.write(line + "\n")

        const first = startPrimary(port, join(dir, "old.flash"), config, ["--rate", "30", "--duration", "3s", "--seed", "3"])
        await first.endsWith(0)
        const before = exportImageCli(data)

        // the primary site is lost: the operator promotes the remote
        say("promote")
        const promoted = await remote.line(/promoted: the image as of seq (\d+) is writable for every member's volume; the primaries are fenced/)
        expect(Number(promoted[1])).toBe(before.appliedSeq)
        await remote.line(/failover data loss: 0 write\(s\) in 0 seq\(s\) the remote heard of and had not applied/)
        say("write 0 5 after the disaster")
        const wrote = await remote.line(/write: member 0 lba 5 applied at seq (\d+)/)
        expect(Number(wrote[1])).toBeGreaterThan(before.appliedSeq)

        // the old primary comes back on its flash: refused, and it says why
        const old = startPrimary(port, join(dir, "old.flash"), config, ["--rate", "5", "--duration", "1s", "--drain", "2s"])
        await old.endsWith(1)
        const oldLogs = eventsOf(old)
            .filter((e) => e.event === "log")
            .map((e) => String(e.line))
        expect(oldLogs).toContain(
            "link channel: fenced: the remote was promoted as of seq " +
                before.appliedSeq +
                " and holds the writable role; this board sends no more (docs/OPERATIONS.md, Fail back)"
        )
        expect(writesOf(eventsOf(old)).size).toBeGreaterThan(0)
        expect([...writesOf(eventsOf(old)).values()].some((w) => w.confirmed)).toBe(false)

        // a new board in its place restores from the promoted image, and waits for the failback
        const fresh = startPrimary(port, join(dir, "new.flash"), config, ["--restore", "--rate", "20", "--duration", "2s", "--seed", "4"])
        await fresh.until("the new board's restore", () => eventsOf(fresh).some((e) => e.event === "log" && String(e.line).startsWith("restore: taking")))
        say("failback")
        const done = await remote.line(/failback: done: every member's board holds the image as of seq (\d+); the primaries hold the writable role again/)
        expect(Number(done[1])).toBe(Number(wrote[1]))
        await fresh.endsWith(0)
        const events = eventsOf(fresh)
        expect(events.find((e) => e.event === "start")!.confirmedSeq).toBe(Number(wrote[1]))
        const writes = [...writesOf(events).values()]
        expect(writes.length).toBeGreaterThan(10)
        expect(writes.every((w) => w.confirmed)).toBe(true)

        // the image: the promoted one, the remote's write, then the new board's writes; the old
        // board's fenced writes are in none of it
        const after = exportImageCli(data)
        const last = new Map<number, string>()
        for (const w of writes) last.set(w.lba, w.digest)
        expect(blocksOf(after).get(5)!.digest).toBe(last.get(5) ?? textBlock(config, "after the disaster"))
        for (const [lba, b] of blocksOf(before)) if (lba !== 5) expect(blocksOf(after).get(lba)!.digest).toBe(last.get(lba) ?? b.digest)
        await expectMirrors(after, join(dir, "new.flash"))
        // the status after the failback (its last line; the new board has ended, and whether the
        // remote has seen its link go yet depends on the machine's pace): no longer promoted
        const from = remote.lines.length
        say("status")
        await remote.line(/^links up [01]\/1$/, 30000, from)
        expect(remote.lines.some((l) => /promoted as of seq/.test(l) && l.startsWith("promoted"))).toBe(false)
        expect(await remote.kill("SIGTERM")).toEqual({ code: 0, signal: null })
    }, 120_000)

    it("seqmirror remote promote promotes a stopped remote's directory, and refuses one in use", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const data = join(dir, "remote")
        const { proc: remote, port } = await startRemote(data, config, 0)
        const first = startPrimary(port, join(dir, "p.flash"), config, ["--rate", "30", "--duration", "2s", "--seed", "5"])
        await first.endsWith(0)
        const promote = () => spawnSync(process.execPath, [BIN, "remote", "promote", "--data", data, "--json"], { cwd: ROOT, encoding: "utf8" })
        // in use by the running remote: refused, one line, exit 2
        const busy = promote()
        expect(busy.status).toBe(2)
        expect(busy.stderr.trim().split("\n")).toHaveLength(1)
        expect(busy.stderr).toMatch(/is in use by seqmirror remote \(pid \d+\)/)
        expect(await remote.kill("SIGTERM")).toEqual({ code: 0, signal: null })
        const before = exportImageCli(data)

        const r = promote()
        expect(r.status, r.stderr).toBe(0)
        expect(JSON.parse(r.stdout)).toEqual({ promotedSeq: before.appliedSeq, already: false, seqsLost: 0, writesLost: 0 })
        expect(JSON.parse(promote().stdout)).toMatchObject({ promotedSeq: before.appliedSeq, already: true })

        // started again, it runs promoted: its primary is fenced
        const again = await startRemote(data, config, 0)
        const old = startPrimary(again.port, join(dir, "p.flash"), config, ["--rate", "5", "--duration", "1s", "--drain", "2s"])
        await old.endsWith(1)
        expect(
            eventsOf(old).some(
                (e) => e.event === "log" && String(e.line).startsWith("link channel: fenced: the remote was promoted as of seq " + before.appliedSeq)
            )
        ).toBe(true)
        again.proc.child.stdin!.write("status\n")
        await again.proc.line(new RegExp("^promoted as of seq " + before.appliedSeq + ": the image is writable \\(0 writes since\\), the primaries are fenced"))
        expect(await again.proc.kill("SIGTERM")).toEqual({ code: 0, signal: null })
    }, 120_000)
})
