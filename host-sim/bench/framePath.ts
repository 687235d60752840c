import { putU16, putU32, getU32 } from "../../firmware/codec/bytes"
import { CobsDecoder, cobsEncodeInto, cobsMaxEncoded } from "../../firmware/codec/cobs"
import { crc32cUpdate } from "../../firmware/codec/crc32c"
import { CRC_BYTES, DATA_HEADER_BYTES, FrameType, MESSAGE_PREFIX_BYTES, OFF_SEQ } from "../../firmware/link/frame"
import { encodePortionHeader, PORTION_HEADER } from "../../firmware/protocol/messages"
import { encodeBlock } from "../workload"

/**
 * The sequence host-sim/vm/bench.ts runs in the VM and host-sim/bench/vmSpeed.ts repeats on
 * Node: after one warm-up frame (encoded and decoded), `reps` times: encode `encodeFrames`
 * frames, then decode the last one `decodeFrames` times. Equal digests show the same work.
 * The decoder is much slower than the encoder in the VM, hence fewer decoded frames.
 */
export const FRAME_PATH_SCRIPT = { maxPayload: 1096, blockSize: 256, reps: 3, encodeFrames: 100, decodeFrames: 15 }

/** Distinct portion blocks the frames cycle through (made once: filling a block is not part of
 * the data path). */
const BLOCKS = 4

/**
 * The link's per-byte data path for one DATA frame, with the functions the channel uses
 * (firmware/link/channel.ts): the sender copies portions into the frame slot (u16 length and
 * message each), computes the CRC-32C of the raw frame and COBS-encodes it into the wire buffer;
 * the receiver COBS-decodes the wire bytes and checks the CRC. Frame headers other than the seq
 * stay zero: their cost is a few stores per frame.
 *
 * Portable: it runs on Node and in the DeviceScript VM. Each call handles one frame, about
 * 2,300 loop iterations for a full 1096-byte payload, inside the VM's loop budget, so a VM run
 * loop yields between calls as the channel's one-frame-per-turn loop does.
 */
export class FramePath {
    readonly portionsPerFrame: number
    /** Raw frame length (header, messages, CRC). */
    readonly frameLen: number
    private frame: Buffer
    private wire: Buffer
    private wireLen = 0
    private blocks: Buffer[] = []
    private portion: Buffer
    private crcBytes = Buffer.alloc(4)
    private decoder: CobsDecoder
    private seq = 0
    framesEncoded = 0
    framesDecoded = 0
    badFrames = 0
    /** Message bytes (portion header and data) put into frames. */
    payloadBytes = 0
    /** Bytes put on the wire (COBS encoding and delimiter). */
    wireBytes = 0
    /** CRC-32C over the CRCs of every decoded frame: equal on Node and in the VM for the same run. */
    digest = 0

    constructor(
        readonly maxPayload: number,
        readonly blockSize: number
    ) {
        const msg = PORTION_HEADER + blockSize
        this.portionsPerFrame = Math.floor(maxPayload / (MESSAGE_PREFIX_BYTES + msg))
        if (this.portionsPerFrame < 1) throw new Error("frame path: a portion does not fit the payload")
        this.frameLen = DATA_HEADER_BYTES + this.portionsPerFrame * (MESSAGE_PREFIX_BYTES + msg) + CRC_BYTES
        this.frame = Buffer.alloc(this.frameLen)
        this.wire = Buffer.alloc(cobsMaxEncoded(this.frameLen))
        this.portion = Buffer.alloc(msg)
        for (let i = 0; i < BLOCKS; i++) {
            const b = Buffer.alloc(blockSize)
            encodeBlock(b, 0, i, i + 1)
            this.blocks.push(b)
        }
        const self = this
        this.decoder = new CobsDecoder(this.frameLen, (buf, len) => self.checkFrame(buf, len))
    }

    /** Builds, seals and encodes the next frame; returns its wire length. */
    encodeFrame(): number {
        const f = this.frame
        f[0] = FrameType.Data
        putU32(f, OFF_SEQ, this.seq)
        let at = DATA_HEADER_BYTES
        for (let i = 0; i < this.portionsPerFrame; i++) {
            const lba = (this.seq * this.portionsPerFrame + i) & 0xff
            encodePortionHeader(this.portion, this.seq, lba, 0)
            this.portion.set(this.blocks[lba % BLOCKS], PORTION_HEADER)
            putU16(f, at, this.portion.length)
            f.set(this.portion, at + MESSAGE_PREFIX_BYTES)
            at += MESSAGE_PREFIX_BYTES + this.portion.length
            this.payloadBytes += this.portion.length
        }
        putU32(f, at, crc32cUpdate(0, f, 0, at))
        this.wireLen = cobsEncodeInto(f, at + CRC_BYTES, this.wire)
        this.wireBytes += this.wireLen
        this.framesEncoded++
        this.seq++
        return this.wireLen
    }

    /** Feeds the last encoded frame's wire bytes to the receiver's decoder and CRC check. */
    decodeFrame(): void {
        this.decoder.push(this.wire, 0, this.wireLen)
    }

    private checkFrame(buf: Buffer, len: number): void {
        const n = len - CRC_BYTES
        const crc = getU32(buf, n)
        if (n < DATA_HEADER_BYTES || crc32cUpdate(0, buf, 0, n) !== crc) {
            this.badFrames++
            return
        }
        this.framesDecoded++
        putU32(this.crcBytes, 0, crc)
        this.digest = crc32cUpdate(this.digest, this.crcBytes, 0, 4)
    }
}
