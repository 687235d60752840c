// The link's data path (frame encode and CRC, decode and CRC check) inside the DeviceScript VM
// against the same code on Node (Node only).
import { FramePath, FRAME_PATH_SCRIPT } from "./framePath"
import { runDevs } from "./devs"

export interface PathSpeed {
    /** Message bytes (portion header and data) through the path per second. */
    payloadBytesPerSec: number
    /** Wire bytes (COBS-encoded frames with delimiters) produced or consumed per second. */
    wireBytesPerSec: number
    msPerFrame: number
}

export interface LinkKeepUp {
    baud: number
    /** Bytes the line carries per second (baud/10). */
    lineBytesPerSec: number
    /** Share of the VM's time the sender's and the receiver's path take at full line rate
     * (above 1: the VM cannot keep the line busy, or falls behind receiving). */
    encodeCpuShare: number
    decodeCpuShare: number
    keepsUp: boolean
}

export interface VmSpeed {
    frame: { portions: number; payloadBytes: number; wireBytes: number }
    vm: { encode: PathSpeed; decode: PathSpeed; turnMs: number; repetitions: number }
    node: { encode: PathSpeed; decode: PathSpeed }
    /** How many times slower the VM is than Node. */
    vmSlowdown: { encode: number; decode: number }
    /** The VM computed the same frames as Node (digest of every decoded frame's CRC). */
    sameResult: boolean
    links: LinkKeepUp[]
}

function speed(payloadPerFrame: number, wirePerFrame: number, msPerFrame: number): PathSpeed {
    const ms = Math.max(msPerFrame, 1e-9)
    return {
        payloadBytesPerSec: Math.round((payloadPerFrame * 1000) / ms),
        wireBytesPerSec: Math.round((wirePerFrame * 1000) / ms),
        msPerFrame: Math.round(msPerFrame * 10000) / 10000,
    }
}

/** Runs FRAME_PATH_SCRIPT on Node; returns the digest line the VM prints for the same run. */
function nodeScriptDigest(): string {
    const s = FRAME_PATH_SCRIPT
    const p = new FramePath(s.maxPayload, s.blockSize)
    p.encodeFrame()
    p.decodeFrame()
    for (let r = 0; r < s.reps; r++) {
        for (let i = 0; i < s.encodeFrames; i++) p.encodeFrame()
        for (let i = 0; i < s.decodeFrames; i++) p.decodeFrame()
    }
    return "encoded " + p.framesEncoded + " decoded " + p.framesDecoded + " bad " + p.badFrames + " digest " + p.digest
}

/** Best of `reps` timings on Node of `frames` encodes and as many decodes (ms per frame). */
function nodeTimes(frames: number, reps: number): { encodeMs: number; decodeMs: number } {
    const s = FRAME_PATH_SCRIPT
    const p = new FramePath(s.maxPayload, s.blockSize)
    let encodeMs = Infinity
    let decodeMs = Infinity
    for (let r = 0; r < reps; r++) {
        const t0 = performance.now()
        for (let i = 0; i < frames; i++) p.encodeFrame()
        const t1 = performance.now()
        for (let i = 0; i < frames; i++) p.decodeFrame()
        const t2 = performance.now()
        encodeMs = Math.min(encodeMs, (t1 - t0) / frames)
        decodeMs = Math.min(decodeMs, (t2 - t1) / frames)
    }
    if (p.badFrames !== 0) throw new Error("frame path: " + p.badFrames + " bad frames on Node")
    return { encodeMs, decodeMs }
}

export function measureVmSpeed(bauds: number[], nodeFrames: number): VmSpeed {
    const s = FRAME_PATH_SCRIPT
    const r = runDevs(["run", "host-sim/vm/bench.ts", "--test"])
    r.done()
    if (r.code !== 0 || !/test OK/.test(r.output)) throw new Error("the VM frame-path run failed:\n" + r.output.slice(-3000))
    let turns = Infinity
    let encode = Infinity
    let decode = Infinity
    let reps = 0
    let digestLine = ""
    let payloadPerFrame = 0
    let wirePerFrame = 0
    for (const line of r.lines) {
        let m = /^framepath rep \d+ turns (\d+) encode (\d+) decode (\d+)$/.exec(line)
        if (m) {
            reps++
            turns = Math.min(turns, Number(m[1]))
            encode = Math.min(encode, Number(m[2]))
            decode = Math.min(decode, Number(m[3]))
            continue
        }
        m = /^framepath frame payload ([\d.]+) wire ([\d.]+)$/.exec(line)
        if (m) {
            payloadPerFrame = Number(m[1])
            wirePerFrame = Number(m[2])
            continue
        }
        m = /^framepath (encoded .*)$/.exec(line)
        if (m) digestLine = m[1]
    }
    if (reps !== s.reps || digestLine === "") throw new Error("the VM frame-path run printed no figures:\n" + r.output.slice(-3000))
    // a phase's time holds one turn of the run loop per frame: take the turns' own time out
    const turnMs = turns / s.encodeFrames
    const vmEncodeMs = Math.max(encode / s.encodeFrames - turnMs, 0)
    const vmDecodeMs = Math.max(decode / s.decodeFrames - turnMs, 0)
    const node = nodeTimes(nodeFrames, 3)
    const path = new FramePath(s.maxPayload, s.blockSize)
    const vmEncode = speed(payloadPerFrame, wirePerFrame, vmEncodeMs)
    const vmDecode = speed(payloadPerFrame, wirePerFrame, vmDecodeMs)
    const links: LinkKeepUp[] = bauds.map((baud) => {
        const line = baud / 10
        const enc = line / vmEncode.wireBytesPerSec
        const dec = line / vmDecode.wireBytesPerSec
        return {
            baud,
            lineBytesPerSec: line,
            encodeCpuShare: Math.round(enc * 1000) / 1000,
            decodeCpuShare: Math.round(dec * 1000) / 1000,
            keepsUp: enc < 1 && dec < 1,
        }
    })
    return {
        frame: { portions: path.portionsPerFrame, payloadBytes: payloadPerFrame, wireBytes: wirePerFrame },
        vm: { encode: vmEncode, decode: vmDecode, turnMs: Math.round(turnMs * 10000) / 10000, repetitions: reps },
        node: { encode: speed(payloadPerFrame, wirePerFrame, node.encodeMs), decode: speed(payloadPerFrame, wirePerFrame, node.decodeMs) },
        vmSlowdown: { encode: Math.round(vmEncodeMs / node.encodeMs), decode: Math.round(vmDecodeMs / node.decodeMs) },
        sameResult: digestLine === nodeScriptDigest(),
        links,
    }
}
