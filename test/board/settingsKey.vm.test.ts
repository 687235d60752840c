import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { checkBoot } from "../../firmware/boot/bootCheck"
import { deviceScriptCapabilities } from "../../firmware/boot/capabilities"
import { defaultConfig } from "../../firmware/config"
import { devs, DevsResult, sectionsOf, TempDir } from "./devs"

// The board's link key in the DeviceScript VM: firmware/main.ts reads it from the runtime's
// settings (SEQMIRROR_KEY, which `devs deploy` fills from .env.local), and a board without a
// usable key does not start. The VM's settings service starts empty: the script fills it as a
// deploy would (the value is the JSON text of the line's value).

const HEX = "00112233445566778899aabbccddeeff0f1e2d3c4b5a69788796a5b4c3d2e1f0"

describe("the board's link key, from its settings, in the DeviceScript VM", () => {
    const dir = new TempDir("settingsKey")
    let run: DevsResult
    let sections: Record<string, string[]>

    beforeAll(async () => {
        const c: any = defaultConfig()
        c.group.members = [c.group.members[0]]
        c.link.remoteHost = "127.0.0.1"
        c.store = { blockSize: 256, auxRingBytes: 1024, flashBytes: 65536 }
        const checked = checkBoot(JSON.stringify(c), "devicescript.json", deviceScriptCapabilities())
        expect(checked.problems).toEqual([])
        const imp = (p: string) => JSON.stringify(dir.importOf(p))
        const src = `
import * as ds from "@devicescript/core"
import { KEY_SETTING, readKeySetting } from ${imp("hal/devicescript/settingsKey")}
import { startChecked } from ${imp("firmware/boot/boardStart")}
import { RunLoop } from ${imp("hal/devicescript/clock")}
import { SparseNor } from ${imp("host-sim/vm/sparseNor")}

const settings = new ds.Settings()
async function show(label: string) {
    const k = await readKeySetting(settings, KEY_SETTING, 2000)
    console.log(label + " " + (k === null ? "null" : k.toString("hex")))
}
console.log("=== read")
await show("missing")
await settings.set(KEY_SETTING, Buffer.from(${JSON.stringify(JSON.stringify(HEX))}))
await show("quoted")
await settings.set(KEY_SETTING, Buffer.from(${JSON.stringify(JSON.stringify(HEX.slice(2)))}))
await show("short")
await settings.set(KEY_SETTING, Buffer.from(${JSON.stringify(JSON.stringify("zz" + HEX.slice(2)))}))
await show("not-hex")
await settings.set(KEY_SETTING, Buffer.from("1234"))
await show("number")
console.log("=== start without a key")
const started = await startChecked({ config: JSON.parse(${JSON.stringify(JSON.stringify(c))}), memberIndex: 0, problems: [], notes: [] }, undefined, {
    loop: new RunLoop(),
    spiPort: new SparseNor(0x14),
    key: null,
})
console.log("ok " + started.ok)
`
        run = await devs(["run", dir.write("settingsKey.ts", src), "--test", "-T", "30000"])
        sections = sectionsOf(run.lines)
        if (!run.stdout.includes("test OK")) console.log(run.stdout.slice(-3000), run.stderr.slice(-2000))
    })
    afterAll(() => dir.remove())

    it("runs to the end", () => {
        expect(run.stdout).toContain("test OK")
    })

    it("reads the key deployed as .env.local's SEQMIRROR_KEY, and nothing else", () => {
        expect(sections["read"]).toEqual(["missing null", "quoted " + HEX, "short null", "not-hex null", "number null"])
    })

    it("a board without a usable key does not start, and says why", () => {
        const lines = sections["start without a key"]
        expect(lines).toContain(
            "seqmirror: no link key: the setting SEQMIRROR_KEY is missing or is not 64 hex digits (seqmirror keygen makes one for .env.local; docs/HARDWARE.md)"
        )
        expect(lines).toContain("seqmirror: board not started: 1 problem")
        expect(lines).toContain("ok false")
    })
})
