import { afterAll, describe, expect, it } from "vitest"
import { randomBytes } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { blocksOf, eventsOf, exportImageCli, groupOfOne, killAll, linkKeys, removeTemps, startPrimary, startRemote, tempDir, writesOf } from "./harness"

// The sealed link between real processes (docs/FORMAT-link.md §11): a `seqmirror primary` that
// does not hold its member's key gets nothing from `seqmirror remote` and changes nothing in its
// image; the same primary with the key replicates.

afterAll(() => {
    killAll()
    removeTemps()
})

describe("seqmirror remote takes only primaries that hold their member's key", () => {
    it("refuses a primary with a wrong key: none of its writes reach the image; with the right key it replicates", async () => {
        const dir = tempDir()
        const config = groupOfOne(dir)
        const keys = linkKeys(config)
        const data = join(dir, "remote")
        const { proc: remote, port } = await startRemote(data, config, 0, ["--key-file", join(keys, "remote.keys")])
        expect(remote.lines).toContain(
            "seqmirror remote: link: sealed (AES-256-CCM), every member's key from " + join(keys, "remote.keys") + "; only those members are taken"
        )

        // primary-a's name, another key; its writes (another --seed) differ from the right one's
        const wrongKey = join(dir, "wrong.key")
        writeFileSync(wrongKey, "primary-a " + randomBytes(32).toString("hex") + "\n", { mode: 0o600 })
        const wrong = startPrimary(port, join(dir, "wrong.flash"), config, [
            "--key-file",
            wrongKey,
            "--rate",
            "20",
            "--duration",
            "3s",
            "--drain",
            "2s",
            "--seed",
            "7",
        ])
        await wrong.endsWith(1)
        const wrongEvents = eventsOf(wrong)
        const wrongWrites = [...writesOf(wrongEvents).values()]
        // its writes were acknowledged on its own flash, but the remote confirmed none
        expect(wrongWrites.length).toBeGreaterThan(20)
        expect(wrongWrites.every((w) => !w.confirmed)).toBe(true)
        expect(wrongEvents.some((e) => e.event === "log" && /HELLOs and no answer: does the remote hold primary-a's key/.test(String(e.line)))).toBe(true)
        await remote.line(/a HELLO of member 0 from 127\.0\.0\.1:\d+ does not authenticate \(not this member's key, or a replay\): refused, connection closed/)
        expect(remote.lines.some((l) => /member 0: connected from/.test(l))).toBe(false)
        // nothing of it in the remote's image, and the console counts the refusals
        expect(exportImageCli(data).appliedSeq).toBe(0)
        expect(blocksOf(exportImageCli(data)).size).toBe(0)
        remote.child.stdin!.write("stats --json\n")
        const stats = JSON.parse((await remote.line(/^\{"appliedSeq".*$/))[0])
        expect(stats.handshakesRefused).toBeGreaterThanOrEqual(3)
        expect(stats.portionsReceived).toBe(0)
        expect(stats.droppedAuth).toBe(0)

        // the right key: it replicates, and only its writes are in the image
        const right = startPrimary(port, join(dir, "right.flash"), config, ["--rate", "20", "--duration", "3s"])
        await right.endsWith(0)
        const rightEvents = eventsOf(right)
        expect(rightEvents.some((e) => e.event === "log" && String(e.line).startsWith("link: sealed (AES-256-CCM) with primary-a's key from "))).toBe(true)
        const end = rightEvents.find((e) => e.event === "end")!
        expect(end.drained).toBe(true)
        const rightWrites = [...writesOf(rightEvents).values()]
        expect(rightWrites.every((w) => w.confirmed)).toBe(true)
        const image = exportImageCli(data)
        expect(image.appliedSeq).toBe(end.appliedSeq)
        const digests = new Set([...blocksOf(image).values()].map((b) => b.digest))
        expect(digests.size).toBeGreaterThan(0)
        for (const w of wrongWrites) expect(digests.has(w.digest)).toBe(false)
        const last = new Map<number, string>()
        for (const w of rightWrites) last.set(w.lba, w.digest)
        for (const [lba, b] of blocksOf(image)) expect(b.digest).toBe(last.get(lba))
        expect(await remote.kill("SIGTERM")).toEqual({ code: 0, signal: null })
    }, 60_000)
})
