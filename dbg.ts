import { defaultSimOptions, Simulation } from "./host-sim/sim"
const o = { ...defaultSimOptions(), boards: 4, seed: 160, durationMs: 60000, faults: ["rot","remotefail","ram","bus"] }
const sim = new Simulation(o as any)
sim.onFault = (t, d) => console.log((sim as any).kernel.millis().toFixed(1), t, d)
const r = (sim as any).run ? (sim as any).run() : null
console.log(r?.violations?.length, r?.violations?.slice(0,8))
const rs: any = (sim as any).group.remote.store
console.log("remote stats", JSON.stringify(rs.stats), JSON.stringify(rs.lastMountReport()))
