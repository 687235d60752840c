import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { BOARD_HEAP_BYTES, BOARD_HEAP_MARGIN_BYTES, BOARD_RUNTIME_BYTES, boardFixedRam } from "../../host-sim/bench/fixedRam"
import { devs, DevsResult, heapProbe, heapProbes, ROOT, TempDir } from "./devs"

// The RAM of the shipped configuration, measured in the DeviceScript VM rather than counted: a
// program allocates 1 KB Buffers, printing a line after each, until the VM runs out of memory
// (which it cannot survive: the run ends with OutOfMemory). Run once with nothing else, it gives
// the heap a program has; run after the board's firmware has started with the shipped
// devicescript.json (store mounted, generation recorded, channel, pipeline and cycle built, the
// link trying to connect), what the firmware leaves. The difference is what the firmware holds.
//
// Under the flash sits a NOR chip that keeps only the pages programmed since their erase, in a
// dictionary (host-sim/vm/sparseNor.ts), so that the chip costs the heap next to nothing.

const SHIPPED = readFileSync(join(ROOT, "devicescript.json"), "utf8")

/** Allocates 1 KB at a time, for ever, saying how many so far. */
const PROBE = heapProbe(1024)

describe("RAM of the shipped configuration, measured in the DeviceScript VM", () => {
    const dir = new TempDir("ram")
    let empty: DevsResult
    let board: DevsResult

    beforeAll(async () => {
        empty = await devs(["run", dir.write("empty.ts", PROBE), "--test", "-T", "20000"])
        const imp = (p: string) => JSON.stringify(dir.importOf(p))
        const cfg = JSON.parse(SHIPPED)
        // nobody listens there: the link keeps trying, as a board whose remote is away
        cfg.link.remoteHost = "127.0.0.1"
        cfg.link.remotePort = 9
        const src = `
import * as ds from "@devicescript/core"
import { runStarted, startChecked } from ${imp("firmware/boot/boardStart")}
import { BOARD_MEMBER_INDEX, BOARD_NOTES } from ${imp("firmware/boot/boardConfig")}
import { RunLoop } from ${imp("hal/devicescript/clock")}
import { SparseNor } from ${imp("host-sim/vm/sparseNor")}
import { DsLinkCipher } from ${imp("hal/devicescript/linkCipher")}
import { LinkSeal } from ${imp("firmware/link/seal")}

const loop = new RunLoop()
let up = false
const fw = runStarted(
    await startChecked(
        { config: JSON.parse(${JSON.stringify(JSON.stringify(cfg))}), memberIndex: BOARD_MEMBER_INDEX, problems: [], notes: BOARD_NOTES },
        undefined,
        { loop: loop, spiPort: new SparseNor(0x18) }
    ),
    (f) => {
        up = true
    },
    // sealed, as the board entry runs it (firmware/main.ts): the sealing layer's RAM counts
    new LinkSeal(new DsLinkCipher(), Buffer.alloc(32), BOARD_MEMBER_INDEX)
)
// the boot takes 2 to 4 s in the VM, longer on a loaded machine
const t = ds.millis() + 20000
while (!up && ds.millis() < t) await ds.sleep(10)
await ds.sleep(200)
console.log("firmware up " + up)
${PROBE}
`
        board = await devs(["run", dir.write("board.ts", src), "--test", "-T", "40000"])
    })
    afterAll(() => dir.remove())

    it("the probe ends by running out of memory, both times", () => {
        expect(empty.stdout).toContain("OutOfMemory")
        expect(board.stdout).toContain("OutOfMemory")
        expect(board.lines).toContain("firmware up true")
        expect(board.lines.some((l) => l.startsWith("seqmirror: replicating: member 0"))).toBe(true)
    })

    it("the firmware of the shipped configuration leaves the board's margin of the VM's heap", () => {
        const heapKb = heapProbes(empty)
        const freeKb = heapProbes(board)
        const heldKb = heapKb - freeKb
        const counted = boardFixedRam(JSON.parse(SHIPPED)).totalBytes
        console.log(
            `VM heap ${heapKb} KB; after the firmware's start ${freeKb} KB free: it holds ${heldKb} KB ` +
                `(the build's count ${(counted / 1024).toFixed(1)} KB plus ${BOARD_RUNTIME_BYTES / 1024} KB of objects and runtime)`
        )
        // the heap the build's budget assumes is there, and the shipped configuration leaves the margin
        expect(heapKb * 1024).toBeGreaterThanOrEqual(BOARD_HEAP_BYTES)
        expect(freeKb * 1024).toBeGreaterThanOrEqual(BOARD_HEAP_MARGIN_BYTES)
        // the build's figure (count plus runtime) is within 2 KB of what the VM measures: the
        // budget it checks configurations against is neither optimistic nor loose
        expect(Math.abs(counted + BOARD_RUNTIME_BYTES - heldKb * 1024)).toBeLessThanOrEqual(2048)
    })
})
