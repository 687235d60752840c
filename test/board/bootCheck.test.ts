import { afterAll, describe, expect, it } from "vitest"
import { execFileSync, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { checkBoot } from "../../firmware/boot/bootCheck"
import { deviceScriptCapabilities, RuntimeCapabilities } from "../../firmware/boot/capabilities"
import { defaultConfig, validateConfig } from "../../firmware/config"
import { ROOT, TempDir } from "./devs"
import { boardFixedRam, boardRamLine } from "../../host-sim/bench/fixedRam"

const DS = deviceScriptCapabilities()
/** A runtime with everything (the host simulator's models). */
const FULL: RuntimeCapabilities = { ...DS, name: "full", i2cTarget: true, i2cGeneralCall: true, uart: true, tcpServer: true, consoleInput: true }

function groupOfOne(): any {
    const c: any = defaultConfig()
    c.group.members = [c.group.members[0]]
    return c
}

/** The defaults: a group of three. */
const GROUP_OF_THREE = JSON.stringify(defaultConfig())

describe("boot check: configuration against the runtime", () => {
    it("lets a primary in a group of one start on DeviceScript, with its link over TCP", () => {
        const r = checkBoot(JSON.stringify(groupOfOne()), "devicescript.json", DS)
        expect(r.problems).toEqual([])
        expect(r.ok()).toBe(true)
        expect(r.memberIndex).toBe(0)
        expect(r.notes).toContain("group of one: no shuttle; the I2C pins are not used")
        expect(r.notes).toContain("link: TCP to 192.168.4.1:7400 (no UART driver on DeviceScript 2.16.4); 115200 bit/s taken as its nominal rate")
        expect(r.notes).toContain("console: output only (DeviceScript 2.16.4 gives programs no serial input)")
    })

    it("refuses a member of a larger group in one line naming the missing I2C capabilities", () => {
        const r = checkBoot(GROUP_OF_THREE, "devicescript.json", DS)
        expect(r.ok()).toBe(false)
        expect(r.problems).toEqual([
            "this runtime has no I2C target mode and no I2C general call: a member of a group of 3 must receive the shuttle" +
                " as an I2C target and the release as a general call; on DeviceScript 2.16.4 a board runs only a group of one" +
                ' (group.members holding just "primary-a")',
        ])
        // the same configuration is fine where the bus can be a target
        const full = checkBoot(GROUP_OF_THREE, "devicescript.json", FULL)
        expect(full.problems).toEqual([])
        expect(full.notes).toContain("group bus: I2C at 400000 bit/s, address 16")
        expect(full.notes).toContain("link: UART at 115200 baud")
    })

    it("names only the capability that is missing", () => {
        const r = checkBoot(GROUP_OF_THREE, "cfg.json", { ...FULL, i2cGeneralCall: false })
        expect(r.problems.length).toBe(1)
        expect(r.problems[0]).toMatch(/^this runtime has no I2C general call: a member of a group of 3/)
    })

    it("refuses a remote on a runtime whose sockets cannot listen", () => {
        const c: any = defaultConfig()
        c.board.role = "remote"
        const r = checkBoot(JSON.stringify(c), "devicescript.json", DS)
        expect(r.problems).toEqual([
            "this runtime has no UART driver and its sockets are client-only: a remote must accept a link from each of its" +
                " 3 primaries, so the remote cannot run on DeviceScript 2.16.4",
        ])
        expect(r.memberIndex).toBe(-1)
        expect(checkBoot(JSON.stringify(c), "devicescript.json", FULL).problems).toEqual([])
    })

    it("refuses a primary with no way to reach the remote, and a runtime without SPI", () => {
        const r = checkBoot(JSON.stringify(groupOfOne()), "x.json", { ...DS, tcpClient: false, spiMaster: false })
        expect(r.problems).toEqual([
            "this runtime has no UART driver and no sockets: a primary needs a link to the remote",
            "this runtime has no SPI master: the store needs an SPI NOR flash",
        ])
    })

    it("reports every problem of a broken configuration as `FILE: problem`, the lines of `config check`", () => {
        const broken: any[] = []
        let c: any = groupOfOne()
        c.board.spiHz = 5
        c.board.pins.cs = c.board.pins.sck
        broken.push(c)
        c = groupOfOne()
        c.group.members = []
        c.link.remotePort = 70000
        broken.push(c)
        c = groupOfOne()
        c.board.member = "nobody"
        c.board.restore = "yes"
        c.store.flashBytes = 1000
        delete c.store.blockSize
        expect(validateConfig(c)).toContain("board.restore: must be true or false")
        broken.push(c)
        for (const cfg of broken) {
            const r = checkBoot(JSON.stringify(cfg), "board.json", DS)
            const expected = validateConfig(cfg).map((e) => "board.json: " + e)
            expect(expected.length).toBeGreaterThanOrEqual(2)
            expect(r.problems).toEqual(expected)
            expect(r.config).toBeNull()
            expect(r.ok()).toBe(false)
        }
    })

    it("reports text that is not JSON, and never throws on odd input", () => {
        const r = checkBoot('{ "board": ', "devicescript.json", DS)
        expect(r.problems.length).toBe(1)
        expect(r.problems[0]).toMatch(/^devicescript\.json: not valid JSON: /)
        for (const t of ["", "null", "3", "[]", '"x"', "{}", '{"board":{"role":"primary","member":7}}', "\u0000\uffff"]) {
            const x = checkBoot(t, "f", DS)
            expect(x.ok()).toBe(false)
            expect(x.problems.length).toBeGreaterThan(0)
        }
    })
})

describe("board configuration module (bin/gen-board-config.mjs)", () => {
    const dir = new TempDir("gen")
    afterAll(() => dir.remove())

    it("the committed firmware/boot/boardConfig.ts matches devicescript.json", () => {
        const r = spawnSync(process.execPath, ["bin/gen-board-config.mjs", "--check"], { cwd: ROOT, encoding: "utf8" })
        expect(r.stderr).toBe("")
        expect(r.status).toBe(0)
    })

    it("refuses a configuration the board cannot run, with the boot check's lines, and builds nothing", () => {
        const cfg = dir.write("three.json", GROUP_OF_THREE)
        const out = dir.write("refused.ts", "")
        const r = spawnSync(process.execPath, ["bin/gen-board-config.mjs", cfg, out], { cwd: ROOT, encoding: "utf8" })
        expect(r.status).toBe(1)
        expect(r.stderr.split("\n")[0]).toMatch(/^this runtime has no I2C target mode and no I2C general call: a member of a group of 3/)
        expect(r.stderr).toMatch(/three\.json cannot run on a board: the board image is not built/)
        expect(readFileSync(out, "utf8")).toBe("")
        const remote: any = groupOfOne()
        remote.board.role = "remote"
        const r2 = spawnSync(process.execPath, ["bin/gen-board-config.mjs", dir.write("remote.json", JSON.stringify(remote)), out], {
            cwd: ROOT,
            encoding: "utf8",
        })
        expect(r2.status).toBe(1)
        expect(r2.stderr).toMatch(/^remote\.json: board\.role: the board image runs a primary/)
    })

    it("refuses a configuration whose RAM does not leave the board's margin of its heap, saying what to change", () => {
        const big = groupOfOne()
        big.store.flashBytes = 262144
        const cfg = dir.write("big.json", JSON.stringify(big))
        const out = dir.write("big.ts", "")
        const r = spawnSync(process.execPath, ["bin/gen-board-config.mjs", cfg, out], { cwd: ROOT, encoding: "utf8" })
        expect(r.status).toBe(1)
        expect(r.stderr.split("\n")[0]).toMatch(
            /^big\.json: store: the firmware would hold about \d+ KB of RAM from its start \(the store 2\d KB, the aux ring \d+ KB\), more than a board's 60 KB heap less an 8 KB margin: lower store\.flashBytes/
        )
        // seqmirror config check says the same
        const c = spawnSync(process.execPath, ["bin/seqmirror.mjs", "config", "check", cfg], { cwd: ROOT, encoding: "utf8" })
        expect(c.status).toBe(1)
        expect(c.stdout).toBe(cfg + r.stderr.split("\n")[0].slice("big.json".length) + "\n")
    })

    it("puts the restore in the image only when the configuration says board.restore", () => {
        const c = groupOfOne()
        c.store.flashBytes = 65536
        c.store.auxRingBytes = 2048
        const plain = dir.write("plain.ts", "")
        execFileSync(process.execPath, ["bin/gen-board-config.mjs", dir.write("plain.json", JSON.stringify(c)), plain], { cwd: ROOT })
        expect(readFileSync(plain, "utf8")).not.toContain("restoreFirst")
        c.board.restore = true
        const withRestore = dir.write("withRestore.ts", "")
        execFileSync(process.execPath, ["bin/gen-board-config.mjs", dir.write("restore.json", JSON.stringify(c)), withRestore], { cwd: ROOT })
        const text = readFileSync(withRestore, "utf8")
        expect(text).toContain('import { restoreFirst } from "./restore"')
        expect(text).toContain("    fw.restorer = restoreFirst\n")
    })

    it("embeds the file's text exactly, the member index and the boot notes, and --check notices a stale module", async () => {
        const small = groupOfOne()
        small.store.flashBytes = 65536
        small.store.auxRingBytes = 2048
        const text = JSON.stringify(small, null, 2) + "\n"
        const cfg = dir.write("my.json", text)
        const out = dir.write("boardConfig.ts", "")
        execFileSync(process.execPath, ["bin/gen-board-config.mjs", cfg, out], { cwd: ROOT })
        const mod = await import(join(ROOT, out))
        expect(mod.BOARD_CONFIG_JSON).toBe(text)
        expect(mod.BOARD_CONFIG_SOURCE).toBe("my.json")
        expect(mod.BOARD_MEMBER_INDEX).toBe(0)
        // the boot check's notes, then the firmware's RAM against the board's heap
        expect(mod.BOARD_NOTES).toEqual([...checkBoot(text, "my.json", DS).notes, boardRamLine(boardFixedRam(small))])
        expect(mod.BOARD_NOTES[4]).toMatch(/^RAM held: about \d+ KB of the 60 KB heap \(store 8 KB, /)
        expect(spawnSync(process.execPath, ["bin/gen-board-config.mjs", "--check", cfg, out], { cwd: ROOT }).status).toBe(0)
        dir.write("my.json", text.replace("8000000", "4000000"))
        const stale = spawnSync(process.execPath, ["bin/gen-board-config.mjs", "--check", cfg, out], { cwd: ROOT, encoding: "utf8" })
        expect(stale.status).toBe(1)
        expect(stale.stderr).toMatch(/is not up to date/)
    })
})
