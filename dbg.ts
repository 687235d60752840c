import { defaultSimOptions, Simulation } from "./host-sim/sim"
import { RemoteBoard } from "./firmware/remote/remoteBoard"
const RB: any = RemoteBoard.prototype
const o0 = RB.onResync
let sim: any
RB.onResync = function (ms: any, msg: Buffer) {
  const g = (o: number) => msg.readUInt32LE(o)
  if (sim) console.log(sim.kernel.millis().toFixed(0), "RESYNC from", ms.member, "base", g(1), "from", g(5), "to", g(9), "flags", msg[13].toString(16), "resyncing", this.resyncing, "applied", this.appliedSeq())
  return o0.call(this, ms, msg)
}
const oc = RB.commit
RB.commit = function (m: any) { if (sim) console.log(sim.kernel.millis().toFixed(0), "commit", m.seq, "resyncing", this.resyncing, "done", this.members.map((x: any) => x.resyncDone ? 1 : 0).join("")); return oc.call(this, m) }
sim = new Simulation({ ...defaultSimOptions(), boards: 4, seed: 160, durationMs: 60000, faults: ["rot","remotefail","ram","bus"] } as any)
sim.onFault = (t: string, d: string) => { if (!d.includes("write enables") && !d.includes("aux ring") && !d.includes("bit flip")) console.log(sim.kernel.millis().toFixed(0), "FAULT", t, d) }
const r = sim.run()
console.log(r.violations.length)
