// The data path's speed inside the DeviceScript VM: `npx devs run host-sim/vm/bench.ts --test`.
// `seqmirror bench` runs it, parses the "framepath" lines and runs the same sequence on Node
// (host-sim/bench/vmSpeed.ts). The VM's clock moves only across a suspension, so each phase is
// timed as a whole, one frame per turn (as the channel sends and receives); the turns alone are
// timed too. Each phase runs REPS times: the fastest repetition is the one least disturbed by
// other work on the machine. Then the same with every frame sealed (the runtime's AES-256-CCM,
// hal/devicescript/linkCipher.ts), lines "framepath sealed ...".
import * as ds from "@devicescript/core"
import { crc32c } from "../../firmware/codec/crc32c"
import { DsLinkCipher } from "../../hal/devicescript/linkCipher"
import { FramePath, FRAME_PATH_SCRIPT } from "../bench/framePath"

const s = FRAME_PATH_SCRIPT

async function measure(label: string, path: FramePath) {
    path.encodeFrame()
    await ds.sleep(0)
    path.decodeFrame()
    await ds.sleep(0)
    for (let r = 0; r < s.reps; r++) {
        const t0 = ds.millis()
        for (let i = 0; i < s.encodeFrames; i++) await ds.sleep(0)
        const t1 = ds.millis()
        for (let i = 0; i < s.encodeFrames; i++) {
            path.encodeFrame()
            await ds.sleep(0)
        }
        const t2 = ds.millis()
        for (let i = 0; i < s.decodeFrames; i++) {
            path.decodeFrame()
            await ds.sleep(0)
        }
        const t3 = ds.millis()
        console.log(label + " rep " + r + " turns " + (t1 - t0) + " encode " + (t2 - t1) + " decode " + (t3 - t2))
    }
    console.log(label + " frame payload " + path.payloadBytes / path.framesEncoded + " wire " + path.wireBytes / path.framesEncoded)
    console.log(label + " encoded " + path.framesEncoded + " decoded " + path.framesDecoded + " bad " + path.badFrames + " digest " + path.digest)
}

const plain = new FramePath(s.maxPayload, s.blockSize)
const sealed = new FramePath(s.maxPayload, s.blockSize, new DsLinkCipher())
await ds.sleep(0)
// the CRC table is built on first use (2,048 steps): in a turn of its own
crc32c(Buffer.alloc(1))
await ds.sleep(0)
await measure("framepath", plain)
await measure("framepath sealed", sealed)
