import { InputSource } from "./engine"
import { TARGETS } from "./targets/index"
import { RemoteChannel } from "../../firmware/link/remote"
import { PrimaryChannel } from "../../firmware/link/primary"
// count how deep inputs get: sessions up and messages delivered
let up = 0, msgs = 0, inputs = 0
const proto: any = (RemoteChannel.prototype as any)
for (const C of [RemoteChannel, PrimaryChannel]) {
  const p: any = C.prototype
  const su = p.sessionUp
  if (su) p.sessionUp = function (...a: any[]) { up++; return su.apply(this, a) }
}
for (const name of ["link-remote", "link-primary"]) {
  up = 0; inputs = 0
  const t = TARGETS.find((x) => x.name === name)!
  const src = new InputSource(t, 1, [])
  let delivered = 0
  for (let i = 0; i < 3000; i++) { inputs++; t.run(src.input(i)) }
  console.log(name, "sessionUp calls", up, "of", inputs)
}
