// The link's data path (frame encode and CRC, decode and CRC check) inside the DeviceScript VM
// against the same code on Node (Node only).
import { FramePath, FRAME_PATH_SCRIPT } from "./framePath"
import { runDevs } from "./devs"
import { NodeCipher } from "../nodeCipher"

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
    /** The same path with every frame sealed and opened (docs/FORMAT-link.md §11): the frame
     * on the wire, the VM's and Node's speeds, and whether the VM keeps up with each line. */
    sealed: {
        frame: { payloadBytes: number; wireBytes: number }
        vm: { encode: PathSpeed; decode: PathSpeed }
        node: { encode: PathSpeed; decode: PathSpeed }
        sameResult: boolean
        links: LinkKeepUp[]
    }
}

function speed(payloadPerFrame: number, wirePerFrame: number, msPerFrame: number): PathSpeed {
    const ms = Math.max(msPerFrame, 1e-9)
    return {
        payloadBytesPerSec: Math.round((payloadPerFrame * 1000) / ms),
        wireBytesPerSec: Math.round((wirePerFrame * 1000) / ms),
        msPerFrame: Math.round(msPerFrame * 10000) / 10000,
    }
}

/** A frame path, sealed or not. */
function pathOf(sealed: boolean): FramePath {
    const s = FRAME_PATH_SCRIPT
    return new FramePath(s.maxPayload, s.blockSize, sealed ? new NodeCipher() : undefined)
}

/** Runs FRAME_PATH_SCRIPT on Node; returns the digest line the VM prints for the same run. */
function nodeScriptDigest(sealed: boolean): string {
    const s = FRAME_PATH_SCRIPT
    const p = pathOf(sealed)
    p.encodeFrame()
    p.decodeFrame()
    for (let r = 0; r < s.reps; r++) {
        for (let i = 0; i < s.encodeFrames; i++) p.encodeFrame()
        for (let i = 0; i < s.decodeFrames; i++) p.decodeFrame()
    }
    return "encoded " + p.framesEncoded + " decoded " + p.framesDecoded + " bad " + p.badFrames + " digest " + p.digest
}

/** Best of `reps` timings on Node of `frames` encodes and as many decodes (ms per frame). */
function nodeTimes(frames: number, reps: number, sealed: boolean): { encodeMs: number; decodeMs: number } {
    const p = pathOf(sealed)
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

/** The figures of one labelled phase of the VM run ("framepath", "framepath sealed"). */
interface VmPhase {
    turns: number
    encode: number
    decode: number
    reps: number
    digest: string
    payloadPerFrame: number
    wirePerFrame: number
}

function phaseOf(lines: string[], label: string): VmPhase {
    const p: VmPhase = { turns: Infinity, encode: Infinity, decode: Infinity, reps: 0, digest: "", payloadPerFrame: 0, wirePerFrame: 0 }
    const esc = label.replace(/ /g, "\\ ")
    const rep = new RegExp("^" + esc + " rep \\d+ turns (\\d+) encode (\\d+) decode (\\d+)$")
    const frame = new RegExp("^" + esc + " frame payload ([\\d.]+) wire ([\\d.]+)$")
    const digest = new RegExp("^" + esc + " (encoded .*)$")
    for (const line of lines) {
        let m = rep.exec(line)
        if (m) {
            p.reps++
            p.turns = Math.min(p.turns, Number(m[1]))
            p.encode = Math.min(p.encode, Number(m[2]))
            p.decode = Math.min(p.decode, Number(m[3]))
            continue
        }
        m = frame.exec(line)
        if (m) {
            p.payloadPerFrame = Number(m[1])
            p.wirePerFrame = Number(m[2])
            continue
        }
        m = digest.exec(line)
        if (m) p.digest = m[1]
    }
    return p
}

function keepUp(bauds: number[], encode: PathSpeed, decode: PathSpeed): LinkKeepUp[] {
    return bauds.map((baud) => {
        const line = baud / 10
        const enc = line / encode.wireBytesPerSec
        const dec = line / decode.wireBytesPerSec
        return {
            baud,
            lineBytesPerSec: line,
            encodeCpuShare: Math.round(enc * 1000) / 1000,
            decodeCpuShare: Math.round(dec * 1000) / 1000,
            keepsUp: enc < 1 && dec < 1,
        }
    })
}

export function measureVmSpeed(bauds: number[], nodeFrames: number): VmSpeed {
    const s = FRAME_PATH_SCRIPT
    const r = runDevs(["run", "host-sim/vm/bench.ts", "--test"])
    r.done()
    if (r.code !== 0 || !/test OK/.test(r.output)) throw new Error("the VM frame-path run failed:\n" + r.output.slice(-3000))
    const plain = phaseOf(r.lines, "framepath")
    const sealed = phaseOf(r.lines, "framepath sealed")
    for (const p of [plain, sealed])
        if (p.reps !== s.reps || p.digest === "") throw new Error("the VM frame-path run printed no figures:\n" + r.output.slice(-3000))
    // a phase's time holds one turn of the run loop per frame: take the turns' own time out
    const turnMs = plain.turns / s.encodeFrames
    const vmMs = (p: VmPhase) => ({
        encode: Math.max(p.encode / s.encodeFrames - turnMs, 0),
        decode: Math.max(p.decode / s.decodeFrames - turnMs, 0),
    })
    const vmPlain = vmMs(plain)
    const vmSealed = vmMs(sealed)
    const node = nodeTimes(nodeFrames, 3, false)
    const nodeSealed = nodeTimes(nodeFrames, 3, true)
    const path = new FramePath(s.maxPayload, s.blockSize)
    const vmEncode = speed(plain.payloadPerFrame, plain.wirePerFrame, vmPlain.encode)
    const vmDecode = speed(plain.payloadPerFrame, plain.wirePerFrame, vmPlain.decode)
    const sealedEncode = speed(sealed.payloadPerFrame, sealed.wirePerFrame, vmSealed.encode)
    const sealedDecode = speed(sealed.payloadPerFrame, sealed.wirePerFrame, vmSealed.decode)
    return {
        frame: { portions: path.portionsPerFrame, payloadBytes: plain.payloadPerFrame, wireBytes: plain.wirePerFrame },
        vm: { encode: vmEncode, decode: vmDecode, turnMs: Math.round(turnMs * 10000) / 10000, repetitions: plain.reps },
        node: {
            encode: speed(plain.payloadPerFrame, plain.wirePerFrame, node.encodeMs),
            decode: speed(plain.payloadPerFrame, plain.wirePerFrame, node.decodeMs),
        },
        vmSlowdown: { encode: Math.round(vmPlain.encode / node.encodeMs), decode: Math.round(vmPlain.decode / node.decodeMs) },
        sameResult: plain.digest === nodeScriptDigest(false),
        links: keepUp(bauds, vmEncode, vmDecode),
        sealed: {
            frame: { payloadBytes: sealed.payloadPerFrame, wireBytes: sealed.wirePerFrame },
            vm: { encode: sealedEncode, decode: sealedDecode },
            node: {
                encode: speed(sealed.payloadPerFrame, sealed.wirePerFrame, nodeSealed.encodeMs),
                decode: speed(sealed.payloadPerFrame, sealed.wirePerFrame, nodeSealed.decodeMs),
            },
            sameResult: sealed.digest === nodeScriptDigest(true),
            links: keepUp(bauds, sealedEncode, sealedDecode),
        },
    }
}
