import { defaultSimOptions, Simulation } from "./host-sim/sim"
const o = { ...defaultSimOptions(), boards: 1, seed: 184, durationMs: 10000, faults: ["power","link","bus","reboot","slow","replace","death","rot","remotefail","ram"] }
const sim = new Simulation(o as any)
sim.onFault = (t, d) => console.log((sim as any).kernel.millis().toFixed(1), t, d)
const r = (sim as any).run ? (sim as any).run() : null
console.log(r?.violations?.slice(0,2))
