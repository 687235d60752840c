import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { defaultConfig } from "../../firmware/config"
import { devs, DevsResult, TempDir, sectionsOf } from "./devs"

// The board's SPI bus, its fiber, the run loop and the JEDEC flash driver, together in the
// DeviceScript VM. The VM has no SPI, so the bytes go to the simulator's chip model through
// ModelSpiPort; everything above the port is the code that runs on a board.

function config(flashBytes: number): string {
    const c: any = defaultConfig()
    c.group.members = [c.group.members[0]]
    c.store.flashBytes = flashBytes
    return JSON.stringify(c)
}

describe("board flash path in the DeviceScript VM (chip model under the SPI port)", () => {
    const dir = new TempDir("flash")
    let run: DevsResult
    const sections: Record<string, string[]> = {}

    beforeAll(async () => {
        const imp = (p: string) => JSON.stringify(dir.importOf(p))
        const src = `
import * as ds from "@devicescript/core"
import { startBoard } from ${imp("firmware/boot/boardStart")}
import { RunLoop } from ${imp("hal/devicescript/clock")}
import { ModelSpiPort } from ${imp("hal/devicescript/modelPort")}
import { SpiNorChip } from ${imp("host-sim/models/spiNorChip")}

async function until(cond: () => boolean, ms: number) {
    const end = ds.millis() + ms
    while (!cond() && ds.millis() < end) await ds.sleep(2)
}

console.log("=== ready")
const loop = new RunLoop()
const chip = new SpiNorChip(loop, { capacity: 2097152, jedecId: [0xef, 0x40, 0x15] })
const r = await startBoard(${JSON.stringify(config(1048576))}, { loop: loop, spiPort: new ModelSpiPort(chip) })
const d = r.drivers
console.log("ok " + r.ok + " member " + d.memberIndex + " capacity " + d.flash.geometry().capacity + " chip " + d.chipBytes +
    " link " + (d.link !== null) + " groupBus " + d.groupBus)

console.log("=== roundtrip")
const f = d.flash
const PAGES = 8
const page = Buffer.alloc(256)
let step = "erase"
let programmed = 0
let mismatches = -1
const t0 = ds.millis()
function programNext() {
    if (programmed === PAGES) {
        step = "read"
        f.read(4096, PAGES * 256, (err, data) => {
            mismatches = err === 0 ? 0 : 100000
            for (let i = 0; i < data.length; i++) if (data[i] !== ((i * 7 + (i >> 8)) & 0xff)) mismatches++
            step = "done"
        })
        return
    }
    for (let i = 0; i < 256; i++) page[i] = ((programmed * 256 + i) * 7 + programmed) & 0xff
    f.program(4096 + programmed * 256, page, (err) => {
        if (err !== 0) step = "program error " + err
        else {
            programmed++
            programNext()
        }
    })
}
f.eraseSector(4096, (err) => {
    if (err !== 0) step = "erase error " + err
    else programNext()
})
await until(() => step === "done" || step.indexOf("error") >= 0, 3000)
console.log("step " + step + " mismatches " + mismatches + " failed " + d.spi.failedTransfers)
console.log("timing " + (ds.millis() - t0) + " ms for 1 erase, " + PAGES + " programs, 1 read; transfers " + d.spi.transfers + " polls " + f.polls)
let threw = "no"
d.spi.transfer(Buffer.from([0x05]), 1, (rx) => {})
try {
    d.spi.transfer(Buffer.from([0x05]), 1, (rx) => {})
} catch (e) {
    threw = (e as Error).message
}
console.log("overlap " + threw)
await ds.sleep(5)

console.log("=== small")
const loop2 = new RunLoop()
const chip2 = new SpiNorChip(loop2, { capacity: 1048576, jedecId: [0xef, 0x40, 0x14] })
console.log("ok " + (await startBoard(${JSON.stringify(config(2097152))}, { loop: loop2, spiPort: new ModelSpiPort(chip2) })).ok)

console.log("=== dead")
const dead = new ModelSpiPort(chip2)
dead.dead = true
console.log("ok " + (await startBoard(${JSON.stringify(config(1048576))}, { spiPort: dead })).ok)

console.log("=== loop")
const l = new RunLoop()
const order: number[] = []
l.setTimer(3, () => order.push(4))
l.setTimer(0, () => order.push(1))
l.setTimer(1, () => order.push(3))
l.setTimer(0, () => order.push(2))
const cleared = l.setTimer(0, () => order.push(99))
l.clearTimer(cleared)
let chain = 0
function link() {
    chain++
    if (chain < 1500) l.setTimer(0, link)
}
l.setTimer(0, link)
await until(() => chain >= 1500 && order.length >= 4, 3000)
console.log("order " + order.join(",") + " cleared " + cleared.cancelled + " chain " + chain + " budgetYields " + (l.budgetYields > 0))
l.setTimer(0, () => {
    throw new Error("invariant broken")
})
let after = false
l.setTimer(1, () => {
    after = true
})
await ds.sleep(10)
console.log("halted " + l.halted() + " after " + after + " pending " + l.pending())
console.log("=== end")
`
        run = await devs(["run", dir.write("flash.ts", src), "--test", "-T", "15000"])
        Object.assign(sections, sectionsOf(run.lines))
    })
    afterAll(() => dir.remove())

    it("runs to the end", () => {
        expect(run.stdout).toContain("test OK")
        expect(Object.keys(sections)).toEqual(["ready", "roundtrip", "small", "dead", "loop", "end"])
    })

    it("starts a board when the flash answers, probed whole (the store takes its first store.flashBytes)", () => {
        expect(sections["ready"]).toContain("seqmirror: flash: JEDEC ID ef4015, 2097152 bytes; the store uses the first 1048576")
        expect(sections["ready"]).toContain("seqmirror: board ready")
        expect(sections["ready"]).toContain("ok true member 0 capacity 2097152 chip 2097152 link true groupBus null")
    })

    it("erases, programs and reads back through the SPI fiber and the run loop", () => {
        const lines = sections["roundtrip"]
        expect(lines).toContain("step done mismatches 0 failed 0")
        expect(lines).toContain("overlap spi: transfer while another is in flight")
        const timing = lines.find((l) => l.startsWith("timing "))
        expect(timing).toBeDefined()
        // one erase is 45 ms typical on the chip model; the whole sequence must not take seconds
        const ms = Number(/^timing (\d+)/.exec(timing!)![1])
        expect(ms).toBeGreaterThanOrEqual(45)
        expect(ms).toBeLessThan(1500)
    })

    it("refuses a store larger than the chip, naming both sizes", () => {
        expect(sections["small"]).toContain("seqmirror: store.flashBytes: 2097152 is more than the flash chip holds (1048576 bytes, JEDEC ID ef4014)")
        expect(sections["small"].slice(-2)).toEqual(["seqmirror: board not started: 1 problem", "ok false"])
    })

    it("says when no chip answers on the chip select", () => {
        expect(sections["dead"]).toContain(
            "seqmirror: no SPI NOR flash answers on chip select GPIO 5 (JEDEC ID ffffff): check its wiring and power (docs/HARDWARE.md)"
        )
        expect(sections["dead"].slice(-2)).toEqual(["seqmirror: board not started: 1 problem", "ok false"])
    })

    it("run loop: order by due time then by setting, clearing, the loop budget, and halting on an exception", () => {
        const lines = sections["loop"]
        expect(lines[0]).toBe("order 1,2,3,4 cleared true chain 1500 budgetYields true")
        expect(lines).toContain("seqmirror: halted: invariant broken")
        expect(lines[lines.length - 1]).toBe("halted invariant broken after false pending 0")
    })
})
