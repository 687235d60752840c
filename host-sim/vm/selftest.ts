// The VM self-test entry: `npx devs run host-sim/vm/selftest.ts --test`. Prints the digest of
// the remote image after the fixed workload; test/sim/vmSelfTest.test.ts compares it with Node.
import * as ds from "@devicescript/core"
import { SelfTest } from "../selfTest"

const t = new SelfTest(7, 40)
while (t.step(4)) {
    await ds.sleep(0)
}
console.log("selftest writes " + t.writesAcked + " errors " + t.errors)
console.log("selftest digest " + t.digestHex)
