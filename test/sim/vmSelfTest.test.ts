import { describe, expect, it } from "vitest"
import { SelfTest } from "../../host-sim/selfTest"
import { runCommand } from "../turn"

function runOnNode(): { writes: number; digest: string } {
    const t = new SelfTest(7, 40)
    while (t.step(4)) continue
    expect(t.errors).toBe(0)
    return { writes: t.writesAcked, digest: t.digestHex }
}

describe("the simulator runs the board's code", () => {
    it("the self-test scenario gives the same digest on Node and in the DeviceScript VM", async () => {
        const node = runOnNode()
        expect(node.writes).toBe(40)
        const r = await runCommand("npx", ["devs", "run", "host-sim/vm/selftest.ts", "--test"], { env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" } })
        expect(r.status, r.stdout + r.stderr).toBe(0)
        // eslint-disable-next-line no-control-regex -- the CLI's ANSI colour codes start with ESC
        const out = r.stdout.replace(/\x1b\[[0-9;]*m/g, "")
        expect(out).toContain("test OK")
        const m = /selftest digest (.+)$/m.exec(out)
        expect(m).not.toBeNull()
        expect(m![1].trim()).toBe(node.digest)
        expect(out).toContain("selftest writes 40 errors 0")
    })
    it("the digest depends on the run: another seed gives another digest", () => {
        const a = new SelfTest(7, 40)
        while (a.step(4)) continue
        const b = new SelfTest(8, 40)
        while (b.step(4)) continue
        expect(b.digestHex).not.toBe(a.digestHex)
    })
})
