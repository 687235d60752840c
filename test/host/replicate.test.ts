import { afterAll, describe, expect, it } from "vitest"
import { join } from "node:path"
import {
    blocksOf,
    eventsOf,
    expectMirrors,
    expectPrefixImage,
    exportImage,
    exportImageCli,
    groupOfOne,
    killAll,
    primaryKeyOptions,
    Proc,
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

// `seqmirror remote` and `seqmirror primary` as users run them: two processes on one machine,
// replicating over TCP on 127.0.0.1, each with its flash in a file.
describe("a primary replicates to a remote over TCP", () => {
    it("every write the primary reports confirmed is in the remote's exported image", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const data = join(dir, "remote")
        const { proc: remote, port } = await startRemote(data, config, 0, ["--console", "0"])
        const consoleLine = await remote.line(/console on 127\.0\.0\.1:(\d+) .*and on stdin/)
        expect(Number(consoleLine[1])).toBeGreaterThan(0)

        const flash = join(dir, "primary.flash")
        const primary = startPrimary(port, flash, config, ["--rate", "20", "--duration", "4s"])
        await primary.endsWith(0)
        const events = eventsOf(primary)
        const start = events.find((e) => e.event === "start")!
        expect(start).toMatchObject({ member: 0, name: "primary-a", generation: 1, blockSize: 256 })
        const end = events.find((e) => e.event === "end")!
        const writes = [...writesOf(events).values()]
        // 20 writes/s for 4 s, all acknowledged, and all confirmed before the primary ended
        expect(writes.length).toBeGreaterThanOrEqual(75)
        expect(writes.length).toBeLessThanOrEqual(81)
        expect(end).toMatchObject({ reason: "drained", written: writes.length, acked: writes.length, confirmed: writes.length, failed: 0, drained: true })
        for (const w of writes) expect(w.confirmed, `write ${w.n}`).toBe(true)
        // seqs never go back, and the remote applied the last one
        for (let i = 1; i < writes.length; i++) expect(writes[i].seq!).toBeGreaterThanOrEqual(writes[i - 1].seq!)
        expect(end.appliedSeq).toBeGreaterThanOrEqual(writes[writes.length - 1].seq!)

        // the remote's console answers on stdin as on its TCP port
        remote.child.stdin!.write("stats --json\n")
        const stats = JSON.parse((await remote.line(/^\{"appliedSeq".*$/))[0])
        expect(stats.appliedSeq).toBe(end.appliedSeq)
        expect(stats.portionsReceived).toBeGreaterThan(0)

        // exported beside the running remote, and again after a clean stop: the same image,
        // each lba holding its last write
        const image = exportImageCli(data)
        expect(image.appliedSeq).toBe(end.appliedSeq)
        expectPrefixImage(image, writes)
        expect(blocksOf(image).size).toBe(new Set(writes.map((w) => w.lba)).size)
        // block for block what the primary's flash holds
        await expectMirrors(image, flash)
        expect(await remote.kill("SIGTERM")).toEqual({ code: 0, signal: null })
        expect(remote.lines.some((l) => /^seqmirror remote: stopped; applied seq \d+/.test(l))).toBe(true)
        // its blank store had applied no seq when it started: it said so, not seq 0
        expect(remote.lines.some((l) => /^seqmirror remote: store: \d+ sectors, 0 blocks held, \d+ free sectors; applied no seq yet$/.test(l))).toBe(true)
        expect(await exportImage(data)).toEqual(image)
        // the block's bytes are the write's: its first line says whose write it is
        const b = blocksOf(image).get(writes[0].lba)!
        expect(Buffer.from(b.base64, "base64").toString("latin1")).toMatch(/^seqmirror m0 g1 w\d+ lba \d+\n/)
    })

    it("one write per stdin line; a bad line is refused and the rest go on", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const data = join(dir, "remote")
        const { proc: remote, port } = await startRemote(data, config)
        const primary = new Proc([
            "primary",
            "--connect",
            "127.0.0.1:" + port,
            "--data",
            join(dir, "p.flash"),
            "--config",
            config,
            ...primaryKeyOptions(config, []),
        ])
        primary.child.stdin!.end("3 hello\n# a comment\n\n7 second block\nbogus line\n3 hello again\n999 out of range\n")
        await primary.endsWith(0)
        expect(primary.stderr).toContain('seqmirror: line 5: "bogus line" is not "LBA TEXT"; not written')
        expect(primary.stderr).toMatch(/seqmirror: line 7: lba 999 is out of range 0\.\.\d+; not written/)
        expect(primary.lines.some((l) => /^seqmirror: line 6: lba 3 acknowledged, seq \d+$/.test(l))).toBe(true)
        expect(primary.lines.some((l) => /^seqmirror: 3 writes, 3 acknowledged, 3 confirmed by the remote \(applied seq \d+\), 0 failed$/.test(l))).toBe(true)
        await remote.kill("SIGTERM")
        const blocks = blocksOf(await exportImage(data))
        expect([...blocks.keys()].sort()).toEqual([3, 7])
        const text = (lba: number) => Buffer.from(blocks.get(lba)!.base64, "base64").toString("utf8").replace(/\0+$/, "")
        expect(text(3)).toBe("hello again")
        expect(text(7)).toBe("second block")
    })
})
