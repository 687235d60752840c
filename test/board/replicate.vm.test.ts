import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { defaultConfig } from "../../firmware/config"
import { blocksOf, exportImage, Image, killAll, linkKeys, Proc, removeTemps, startRemote, tempDir } from "../host/harness"
import { BOARD_DRAINED, boardEntry, boardKeyHex, devs, DevsResult, TempDir } from "./devs"

// The board's whole replication path in the DeviceScript VM, entered as firmware/main.ts enters
// it: a group-of-one configuration (validated here, as the build validates the board's own) is
// checked against the runtime, the board probes the SPI NOR flash through the board's SPI bus
// and the JEDEC driver, mounts the block store, and runs the pipeline, its SoloCycle and the
// link channel over the board's TCP link, to a `seqmirror remote` process on this machine (the
// remote users run: its firmware on Node, its flash in a file): the remote stages every
// portion, applies each complete seq and answers APPLIED, which unpins it on the board; its
// exported image then holds what the board had acknowledged.
//
// The VM has no SPI: under the bus sits a minimal NOR chip (host-sim/vm/sparseNor.ts: an SpiPort
// answering the JEDEC commands at once, no timing) rather than the simulator's chip model,
// because the board image, the test's code and the chip must fit the VM's 64 KB image
// limit together (the simulator's model alone is 4 KB). If this test stops loading with
// "verification error 1051", the board image has grown into that margin: see
// `npm run build`, which prints what is left.

const WRITES = 16
const LBAS = 8
const BLOCK = 256

/** The content of write i: its number, its lba, then a pattern. */
function blockOf(i: number): Buffer {
    const b = Buffer.alloc(BLOCK)
    for (let j = 0; j < BLOCK; j++) b[j] = (i * 7 + j) & 0xff
    b[0] = i
    b[1] = i % LBAS
    return b
}

describe("board replication in the DeviceScript VM, to a seqmirror remote over TCP", () => {
    const dir = new TempDir("replicate")
    let run: DevsResult
    let remote: Proc
    let data = ""
    /** The remote's image once the board is done, and its counters. */
    let image: Image
    let stats: Record<string, number>

    beforeAll(async () => {
        const c: any = defaultConfig()
        c.group.members = [c.group.members[0]]
        c.link.remoteHost = "127.0.0.1"
        c.store = { blockSize: BLOCK, auxRingBytes: 1024, flashBytes: 65536 }
        // the app below writes without waiting for answers: the board holds every one of its writes
        c.group.maxWritesWaiting = WRITES
        // the VM runs at the host's pace, and a loaded host (the whole suite on two cores) can
        // stall it for seconds: a write waiting the default 5 s would suspend the board and
        // replicate its seqs through a resync, one apply for all of them. This test is about
        // the path of each seq, so the board suspends only after the run's own time; and at its
        // history bound (6 seqs), which a remote slowed down the same way lets it reach, it holds
        // its acknowledgements (the policy block) rather than suspend at once (pull-ahead)
        c.group.suspendAfterMs = 60000
        c.group.congestion = "block"
        // the remote's group: the board's configuration (it listens where --listen says)
        const host = tempDir()
        data = join(host, "remote")
        const remoteConfig = join(host, "config.json")
        writeFileSync(remoteConfig, JSON.stringify(c))
        // the remote holds every member's key (seqmirror keygen's), the board its own
        const started = await startRemote(data, remoteConfig)
        remote = started.proc
        c.link.remotePort = started.port
        // the board carries no checking code: the build (here, boardEntry) runs the boot check
        const src =
            boardEntry(dir, c, boardKeyHex(linkKeys(remoteConfig), "primary-a"), {
                before: "let up = false\nlet acked = 0\nlet failed = 0",
                ready: `(f) => {
    up = true
}`,
            }) +
            `
console.log("started " + (fw !== null))
// the VM runs at the host's pace: on a loaded machine the boot (mount, link) takes longer
let t = ds.millis() + 30000
while (!up && ds.millis() < t) await ds.sleep(10)
for (let i = 0; i < ${WRITES} && up; i++) {
    const b = Buffer.alloc(${BLOCK})
    for (let j = 0; j < ${BLOCK}; j++) b[j] = (i * 7 + j) & 0xff
    b[0] = i
    b[1] = i % ${LBAS}
    // an app as the board asks for one: a write refused as busy (the board holds its bound of
    // writes not yet answered, group.maxWritesWaiting) goes again once an earlier one is answered
    let err = 5
    while (err === 5 && up) {
        let answered = false
        fw.board.write(i % ${LBAS}, b, (e, seq) => {
            err = e
            answered = true
        })
        const until = ds.millis() + 30000
        while (!answered && ds.millis() < until) await ds.sleep(5)
        if (!answered) err = -1
    }
    if (err === 0) acked++
    else failed++
}
t = ds.millis() + 30000
while (!(acked + failed === ${WRITES} && ${BOARD_DRAINED}) && ds.millis() < t) await ds.sleep(10)
console.log("acked " + acked + " failed " + failed + " pinned " + fw.store.pinnedSeqs(0).length + " confirmed " + fw.store.confirmedSeq())
console.log("suspensions " + fw.board.suspensions)
console.log(fw.statusLine())
console.log("=== end")
`
        run = await devs(["run", dir.write("replicate.ts", src), "--test", "-T", "60000"])
        if (!run.stdout.includes("test OK")) console.log(run.stdout.slice(-3000), run.stderr.slice(-2000))
        image = await exportImage(data)

        remote.child.stdin!.write("stats --json\n")
        stats = JSON.parse((await remote.line(/^\{"appliedSeq".*$/))[0])
    })
    afterAll(() => {
        killAll()
        removeTemps()
        dir.remove()
    })

    it("runs to the end", () => {
        expect(run.stdout).toContain("test OK")
        expect(run.lines).toContain("=== end")
    })

    it("boots: configuration, flash, store, link, then replication", () => {
        const lines = run.lines
        expect(lines).toContain('seqmirror: board: primary "primary-a", member 0 of group 1 (1 member), mode consistent')
        expect(lines).toContain("seqmirror: flash: JEDEC ID ef4014, 1048576 bytes; the store uses the first 65536")
        expect(lines).toContain("seqmirror: board ready")
        expect(lines).toContain("seqmirror: store: 16 sectors, 0 blocks held, 16 free sectors")
        expect(lines).toContain("seqmirror: replicating: member 0, generation 1, 60 blocks of 256 bytes")
        expect(lines.some((l) => l.startsWith("seqmirror: link up: tcp://127.0.0.1:"))).toBe(true)
        expect(lines).toContain("seqmirror: link channel: session up")
        expect(lines).toContain("started true")
        // every frame sealed with the member's key: the remote takes nothing else
        expect(lines).toContain("seqmirror: link: every frame sealed with this member's key (AES-256-CCM)")
        expect(remote.lines.some((l) => l.startsWith("seqmirror remote: link: sealed (AES-256-CCM)"))).toBe(true)
    })

    it("every write is acknowledged, replicated and applied; the board unpins what the remote applied", () => {
        const done = run.lines.find((l) => l.startsWith("acked "))
        expect(done).toBeDefined()
        // the board never suspended (it would confirm its seqs itself, and resync them)
        expect(run.lines).toContain("suspensions 0")
        const m = /^acked (\d+) failed (\d+) pinned (\d+) confirmed (\d+)$/.exec(done!)!
        expect(Number(m[1])).toBe(WRITES)
        expect(Number(m[2])).toBe(0)
        expect(Number(m[3])).toBe(0)
        // the board's confirmed seq is the remote's applied seq, each seq applied in turn
        expect(Number(m[4])).toBe(image.appliedSeq)
        expect(image.appliedSeq).toBeGreaterThan(0)
        expect(stats.appliedSeq).toBe(image.appliedSeq)
        // no resync: the board never suspended, each seq was applied on its own
        expect(stats.resyncsStarted).toBe(0)
        expect(stats.seqsApplied).toBe(image.appliedSeq)
        expect(stats.manifestsRejected).toBe(0)
        expect(stats.messagesRejected).toBe(0)
        // nothing was damaged: no member was asked to send again
        expect(stats.portionsBadCrc).toBe(0)
        expect(stats.stagedDamaged).toBe(0)
        expect(stats.resends).toBe(0)
        expect(stats.droppedAuth).toBe(0)
        expect(stats.droppedReplay).toBe(0)
        expect(stats.handshakesRefused).toBe(0)
        // the remote's image: each lba holds its last write, applied at or before the seq
        const blocks = blocksOf(image)
        expect([...blocks.keys()].sort((x, y) => x - y)).toEqual([...Array(LBAS).keys()])
        for (const [lba, b] of blocks) {
            expect(Buffer.from(b.base64, "base64").equals(blockOf(WRITES - LBAS + lba)), "lba " + lba).toBe(true)
            expect(b.seq).toBeLessThanOrEqual(image.appliedSeq)
        }
        // write folding: no more portions than writes, at least one per lba
        expect(stats.portionsReceived).toBeGreaterThanOrEqual(LBAS)
        expect(stats.portionsReceived).toBeLessThanOrEqual(WRITES)
    })

    it("the remote stops cleanly, and its flash holds the same image", async () => {
        expect(await remote.kill("SIGTERM")).toEqual({ code: 0, signal: null })
        expect(await exportImage(data)).toEqual(image)
    })

    it("reports its status in one line", () => {
        const status = run.lines.find((l) => l.startsWith("status: "))
        expect(status).toMatch(
            new RegExp("^status: seq \\d+, " + WRITES + " writes acknowledged, \\d+ portions sent \\(\\d+ from flash\\), link up, \\d+ free sectors$")
        )
    })
})
