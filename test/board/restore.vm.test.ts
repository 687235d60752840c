import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { crc32c } from "../../firmware/codec/crc32c"
import { blocksOf, exportImage, groupOfOne, Image, killAll, linkKeys, primaryKeyOptions, Proc, removeTemps, startRemote, tempDir } from "../host/harness"
import { BOARD_DRAINED, boardEntry, boardKeyHex, devs, DevsResult, TempDir } from "./devs"

// A board's restore in the DeviceScript VM (docs/OPERATIONS.md, "Restore a primary"): a member
// wrote its blocks through a host primary, which the remote applied; then a new board with a
// blank flash and the restore built in (board.restore; here the test's entry gives the firmware
// what bin/gen-board-config.mjs gives it for that key) boots, is refused as an older generation
// of its member, takes the next one, takes the member's image back from the `seqmirror remote`
// over its TCP link, and replicates again: its own new writes land in the remote's image over
// the restored blocks. Under the board's SPI bus sits the VM's minimal NOR chip
// (host-sim/vm/sparseNor.ts), as in replicate.vm.test.ts, which says why.

const BLOCK = 256
/** The lost board's writes, to lbas 0..OLD_LBAS-1 (some twice), and the new board's after
 * its restore, to lbas 0..NEW_WRITES-1. */
const OLD_WRITES = 16
const OLD_LBAS = 12
const NEW_WRITES = 4

/** The content of the new board's write i. */
function newBlock(i: number): Buffer {
    const b = Buffer.alloc(BLOCK)
    for (let j = 0; j < BLOCK; j++) b[j] = (i * 31 + j * 3 + 1) & 0xff
    return b
}

describe("a board restores its image from a seqmirror remote in the DeviceScript VM, then replicates", () => {
    const dir = new TempDir("restore")
    let run: DevsResult
    let remote: Proc
    let data = ""
    /** The remote's image before the new board, and after it. */
    let before: Image
    let after: Image

    beforeAll(async () => {
        const host = tempDir()
        const config = groupOfOne(host, (c) => {
            c.store.auxRingBytes = 1024
            c.link.remoteHost = "127.0.0.1"
        })
        data = join(host, "remote")
        const started = await startRemote(data, config)
        remote = started.proc
        // the member's blocks, written by a board that is then lost with its flash: a few, and
        // some of them twice (the VM's chip keeps every page written in the VM's heap, beside
        // the board's RAM), over two boots of that board (generations 1 and 2)
        const lost = (from: number, to: number) => {
            const p = new Proc([
                "primary",
                "--connect",
                "127.0.0.1:" + started.port,
                "--data",
                join(host, "lost.flash"),
                "--config",
                config,
                "--json",
                ...primaryKeyOptions(config, []),
            ])
            for (let i = from; i < to; i++) p.child.stdin!.write(((i * 5) % OLD_LBAS) + " old block " + i + "\n")
            p.child.stdin!.end()
            return p.endsWith(0)
        }
        await lost(0, OLD_WRITES - 2)
        await lost(OLD_WRITES - 2, OLD_WRITES)
        before = await exportImage(data)

        // the new board: the same member, its key from the board's settings as firmware/main.ts
        // reads it, the restore asked for
        const c = JSON.parse(readFileSync(config, "utf8"))
        c.board.restore = true
        c.link.remotePort = started.port
        const src =
            boardEntry(dir, c, boardKeyHex(linkKeys(config), "primary-a"), {
                imports: `import { restoreFirst } from ${JSON.stringify(dir.importOf("firmware/boot/restore"))}
import { crc32c } from ${JSON.stringify(dir.importOf("firmware/codec/crc32c"))}`,
                before: "let restored = -1",
                // what boardExtras is for a configuration with board.restore
                extras: `(f) => {
    f.restorer = restoreFirst
    f.onRestored = (applied, blocks) => {
        restored = applied
    }
}`,
            }) +
            `
// the VM runs at the host's pace: on a loaded machine the boot and the restore take longer
let t = ds.millis() + 60000
while (restored < 0 && ds.millis() < t) await ds.sleep(10)
console.log("restored as of " + restored)
// every lba as the board's store holds it now: the CRC-32C of its block, -1 for none
// (the VM's closures cannot refer to loop variables: the callbacks set these)
let line = ""
function readLba(lba: number): void {
    line = ""
    fw.store.read(0, lba, (e, d) => {
        let c = -1
        if (d) c = crc32c(d)
        line = lba + " " + e + " " + c
    })
}
function write(i: number, b: Buffer): void {
    line = ""
    fw.board.write(i, b, (e, seq) => {
        line = "write " + i + " " + e
    })
}
console.log("=== image")
for (let lba = 0; lba < fw.lbaCount; lba++) {
    readLba(lba)
    while (line === "") await ds.sleep(1)
    console.log(line)
}
console.log("=== writes")
for (let i = 0; i < ${NEW_WRITES} && restored >= 0; i++) {
    const b = Buffer.alloc(${BLOCK})
    for (let j = 0; j < ${BLOCK}; j++) b[j] = (i * 31 + j * 3 + 1) & 0xff
    write(i, b)
    const until = ds.millis() + 30000
    while (line === "" && ds.millis() < until) await ds.sleep(5)
    console.log(line)
}
t = ds.millis() + 30000
while (!(${BOARD_DRAINED}) && ds.millis() < t) await ds.sleep(10)
console.log("confirmed " + fw.store.confirmedSeq() + " pinned " + fw.store.pinnedSeqs(0).length)
console.log("=== end")
`
        run = await devs(["run", dir.write("restore.ts", src), "--test", "-T", "90000"])
        if (!run.stdout.includes("test OK")) console.log(run.stdout.slice(-3000), run.stderr.slice(-2000))
        after = await exportImage(data)
    }, 180_000)
    afterAll(() => {
        killAll()
        removeTemps()
        dir.remove()
    })

    it("runs to the end", () => {
        expect(run.stdout).toContain("test OK")
        expect(run.lines).toContain("=== end")
    })

    it("is refused as an older generation of its member, takes the next, and restores", () => {
        const lines = run.lines
        expect(lines).toContain("seqmirror: store: 16 sectors, 0 blocks held, 16 free sectors")
        expect(lines).toContain("seqmirror: restore: taking member 0's image back from the remote")
        const held = blocksOf(before)
        expect(held.size).toBe(OLD_LBAS)
        expect(lines).toContain(
            "seqmirror: restore: " + held.size + " blocks back as of seq " + before.appliedSeq + ", 0 damaged on the remote (left blank); replicating again"
        )
        expect(lines).toContain("restored as of " + before.appliedSeq)
        // the lost board's generation was 2: the new one's first, 1, was refused as older
        expect(lines).toContain("seqmirror: replicating: member 0, generation 3, " + before.lbaCount + " blocks of " + BLOCK + " bytes")
    })

    it("holds every block of the remote's image, and nothing where the image holds nothing", () => {
        const lines = run.lines
        const from = lines.indexOf("=== image")
        const to = lines.indexOf("=== writes")
        expect(from).toBeGreaterThan(0)
        const held = blocksOf(before)
        // (the firmware's own lines may come between)
        const got = lines.slice(from + 1, to).filter((l) => /^\d+ -?\d+ -?\d+$/.test(l))
        expect(got.length).toBe(before.lbaCount)
        for (const line of got) {
            const [lba, err, crc] = line.split(" ").map(Number)
            expect(err, line).toBe(0)
            const b = held.get(lba)
            expect(crc, "lba " + lba).toBe(b ? crc32c(Buffer.from(b.base64, "base64")) : -1)
        }
    })

    it("replicates its new writes over the restored image", async () => {
        const lines = run.lines
        for (let i = 0; i < NEW_WRITES; i++) expect(lines).toContain("write " + i + " 0")
        const m = /^confirmed (\d+) pinned (\d+)$/.exec(lines.find((l) => l.startsWith("confirmed ")) ?? "")
        expect(m).not.toBeNull()
        expect(Number(m![2])).toBe(0)
        expect(Number(m![1])).toBe(after.appliedSeq)
        expect(after.appliedSeq).toBeGreaterThan(before.appliedSeq)
        // the new writes over the restored blocks; every other lba as it was
        const was = blocksOf(before)
        const now = blocksOf(after)
        for (let lba = 0; lba < after.lbaCount; lba++) {
            const b = now.get(lba)
            if (lba < NEW_WRITES) expect(Buffer.from(b!.base64, "base64").equals(newBlock(lba)), "lba " + lba).toBe(true)
            else expect(b?.base64, "lba " + lba).toBe(was.get(lba)?.base64)
        }
        expect(await remote.kill("SIGTERM")).toEqual({ code: 0, signal: null })
    })
})
