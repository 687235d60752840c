import { defaultSimOptions, Simulation } from "./host-sim/sim"
const o = { ...defaultSimOptions(), boards: 4, seed: 48, durationMs: 60000, faults: ["power","link","bus","reboot","slow","replace","death","rot","remotefail","ram"] }
const sim = new Simulation(o as any)
sim.onFault = (t, d) => console.log((sim as any).kernel.millis().toFixed(1), t, d)
const r = (sim as any).run ? (sim as any).run() : null
console.log(r?.violations?.length, r?.violations?.slice(0,4), r?.virtualMs)
const g: any = (sim as any).group
const rb: any = g.remote.board
console.log("remote up", g.remote.up, "resyncing", rb.resyncing, "hold", rb.lastHold, "done", rb.members.map((m: any) => m.resyncDone ? 1 : 0).join(""), "flashFailed", rb.flashFailed, "applied", g.appliedSeq())
for (const p of g.primaries) { const b: any = p.board; console.log("p", p.member, "up", p.up, b && JSON.stringify(["susp", b.suspended, b.suspendReason, "resync", b.resync, "asked", b.resyncAsked, "damaged", b.damagedLba, "lba", b.resyncLba, "chan", p.channel?.isUp(), "cur", b.current.seq, "released", b.released, "hasRel", b.hasReleased, "tracked", b.isTracked(b.current.seq), "hfull", b.historyFull(), "since", g.kernel.millis() - b.suspendedAt])) }
for (const p of g.primaries) { const a: any = p.agent; if (a) console.log("agent", p.member, JSON.stringify(a.counters), "lastLap", a.lastLapMs, "members", a.members?.().length, "epoch", a.epochOf?.()) }
for (let m = 0; m < 4; m++) { const a: any = (sim as any).agents[m]; if (a) console.log("agent", m, JSON.stringify(a.counters), "lastLap", a.lastLapMs, "members", a.members().length, "epoch", a.epochOf(), "evicted", a.evictedMask ?? a.evicted) }
