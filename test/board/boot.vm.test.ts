import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { defaultConfig } from "../../firmware/config"
import { boardFixedRam, boardRamLine } from "../../host-sim/bench/fixedRam"
import { devs, DevsResult, ROOT, TempDir, sectionsOf } from "./devs"

// The board's start in the DeviceScript VM, which has no SPI, no I2C and no GPIO pins: the boot
// must get as far as validating the configuration and then say what is missing, line by line.
// The entries call startBoard (validation, runtime checks, drivers); the board image itself,
// whose configuration the build validated, is firmware/main.ts, loaded whole below (the VM
// refuses to load an image over its limit).

function groupOfOne(): any {
    const c: any = defaultConfig()
    c.group.members = [c.group.members[0]]
    return c
}

const SHIPPED = readFileSync(join(ROOT, "devicescript.json"), "utf8")

const CASES: [string, string][] = []
CASES.push(["sample", JSON.stringify(groupOfOne())])
CASES.push(["shipped", SHIPPED])
{
    const c = groupOfOne()
    c.board.spiHz = 5
    c.board.pins.cs = c.board.pins.sck
    CASES.push(["spi", JSON.stringify(c)])
}
{
    const c = groupOfOne()
    c.group.members = []
    c.link.remotePort = 70000
    c.group.mode = "eventual"
    CASES.push(["group", JSON.stringify(c)])
}
CASES.push(["notjson", SHIPPED.slice(0, 40)])
{
    const c = groupOfOne()
    c.board.role = "remote"
    CASES.push(["remote", JSON.stringify(c)])
}

const PIN_LINES = [
    'seqmirror: board.pins.sck: GPIO 18 is not available on this board: pin 18 not exposed; available: ["prototype"]',
    'seqmirror: board.pins.mosi: GPIO 23 is not available on this board: pin 23 not exposed; available: ["prototype"]',
    'seqmirror: board.pins.miso: GPIO 19 is not available on this board: pin 19 not exposed; available: ["prototype"]',
    'seqmirror: board.pins.cs: GPIO 5 is not available on this board: pin 5 not exposed; available: ["prototype"]',
    "seqmirror: the SPI NOR flash was not probed: its bus is not available",
]

describe("board boot in the DeviceScript VM", () => {
    const dir = new TempDir("boot")
    let run: DevsResult
    const sections: Record<string, string[]> = {}

    beforeAll(async () => {
        let src = `import { startBoard } from "${dir.importOf("firmware/boot/boardStart")}"\n`
        src += `import { BOARD_CONFIG_JSON } from "${dir.importOf("firmware/boot/boardConfig")}"\n`
        src += `console.log("=== generated " + (BOARD_CONFIG_JSON === ${JSON.stringify(SHIPPED)}))\n`
        for (const [name, text] of CASES) {
            src += `console.log("=== ${name}")\n`
            src += `console.log("ok " + ((await startBoard(${JSON.stringify(text)})).drivers !== null))\n`
        }
        src += `console.log("=== end")\n`
        run = await devs(["run", dir.write("boot.ts", src), "--test", "-T", "10000"])
        Object.assign(sections, sectionsOf(run.lines))
    })
    afterAll(() => dir.remove())

    it("runs to the end in the VM", () => {
        expect(run.stdout).toContain("test OK")
        expect(run.code).toBe(0)
        expect(Object.keys(sections)).toEqual(["generated true", ...CASES.map((c) => c[0]), "end"])
    })

    it("a group of one validates, then names each missing peripheral in one line and does not start", () => {
        expect(sections["sample"]).toEqual([
            'seqmirror: board: primary "primary-a", member 0 of group 1 (1 member), mode consistent',
            "seqmirror: group of one: no shuttle; the I2C pins are not used",
            "seqmirror: link: TCP to 192.168.4.1:7400 (no UART driver on DeviceScript 2.16.4); 115200 bit/s taken as its nominal rate",
            "seqmirror: console: output only (DeviceScript 2.16.4 gives programs no serial input)",
            ...PIN_LINES,
            "seqmirror: board not started: 5 problems",
            "ok false",
        ])
    })

    it("the shipped configuration is a group of one: it starts as far as the sample", () => {
        expect(sections["shipped"]).toEqual(sections["sample"])
    })

    it("broken configurations: every problem is reported, and nothing is probed", () => {
        expect(sections["spi"]).toEqual([
            "seqmirror: devicescript.json: board.spiHz: 5 is out of range 100000..80000000",
            "seqmirror: devicescript.json: board.pins.cs: pin 18 is used twice",
            "seqmirror: board not started: 2 problems",
            "ok false",
        ])
        expect(sections["group"]).toEqual([
            'seqmirror: devicescript.json: group.mode: must be "consistent" or "none"',
            "seqmirror: devicescript.json: group.members: a group has 1 to 8 members, not 0",
            'seqmirror: devicescript.json: board.member: "primary-a" is not in group.members',
            "seqmirror: devicescript.json: link.remotePort: 70000 is out of range 1..65535",
            "seqmirror: board not started: 4 problems",
            "ok false",
        ])
        expect(sections["notjson"].length).toBe(3)
        expect(sections["notjson"][0]).toMatch(/^seqmirror: devicescript\.json: not valid JSON: /)
        expect(sections["notjson"].slice(1)).toEqual(["seqmirror: board not started: 1 problem", "ok false"])
    })

    it("a remote is refused: its sockets cannot listen", () => {
        expect(sections["remote"]).toContain(
            "seqmirror: this runtime has no UART driver and its sockets are client-only: a remote must accept a link from its primary," +
                " so the remote cannot run on DeviceScript 2.16.4"
        )
        expect(sections["remote"].slice(-2)).toEqual(["seqmirror: board not started: 6 problems", "ok false"])
    })
})

describe("the board entry, firmware/main.ts, in the DeviceScript VM", () => {
    let run: DevsResult

    beforeAll(async () => {
        run = await devs(["run", "firmware/main.ts", "--test", "-T", "10000"])
    })

    it("loads (the whole image is within the VM's limit) and runs to the end", () => {
        expect(run.stdout).not.toMatch(/verification|deploy error/)
        expect(run.stdout).toContain("test OK")
        expect(run.code).toBe(0)
    })

    it("prints the notes the build's check embedded (the shipped configuration: a group of one), then says what it did not find, one line per problem", () => {
        // the VM adds lines of its own (its version, the program's start, the restart)
        const lines = run.lines.filter((l) => l.startsWith("seqmirror: "))
        expect(lines).toEqual([
            'seqmirror: board: primary "primary-a", member 0 of group 1 (1 member), mode consistent',
            "seqmirror: group of one: no shuttle; the I2C pins are not used",
            "seqmirror: link: TCP to 192.168.4.1:7400 (no UART driver on DeviceScript 2.16.4); 115200 bit/s taken as its nominal rate",
            "seqmirror: console: output only (DeviceScript 2.16.4 gives programs no serial input)",
            // the line the build computes for the shipped configuration (host-sim/bench/fixedRam.ts)
            "seqmirror: " + boardRamLine(boardFixedRam(JSON.parse(readFileSync(join(ROOT, "devicescript.json"), "utf8")))),
            // the VM's settings hold no link key (a board's hold the one deployed from .env.local)
            "seqmirror: no link key: the setting SEQMIRROR_KEY is missing or is not 64 hex digits (seqmirror keygen makes one for .env.local; docs/HARDWARE.md)",
            ...PIN_LINES,
            "seqmirror: board not started: 6 problems",
        ])
    })
})
