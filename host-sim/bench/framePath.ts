import { putU16, putU32, getU32 } from "../../firmware/codec/bytes"
import { CobsDecoder, cobsEncodeInto, cobsLead, cobsMaxEncoded } from "../../firmware/codec/cobs"
import { crc32cUpdate } from "../../firmware/codec/crc32c"
import { CRC_BYTES, DATA_HEADER_BYTES, FrameType, MESSAGE_PREFIX_BYTES, OFF_SEQ } from "../../firmware/link/frame"
import { LinkCipher, SEAL_TAG_BYTES, SEALED_SESSION, SESSION_PREFIX } from "../../firmware/link/seal"
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
 * With a cipher, each frame is sealed as the sealed link seals a frame of its session
 * (firmware/link/seal.ts, docs/FORMAT-link.md §11): the raw frame, its CRC left out, becomes
 * `80 counter AES-256-CCM(key, counter, frame)` before its CRC and COBS; the receiver checks
 * the CRC and opens it.
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

    /** Where in the wire buffer a frame is sealed and then COBS-encoded in place (with a
     * cipher; -1 without). */
    private lead = -1
    private key: Buffer
    private iv: Buffer

    constructor(
        readonly maxPayload: number,
        readonly blockSize: number,
        private cipher?: LinkCipher
    ) {
        const msg = PORTION_HEADER + blockSize
        this.portionsPerFrame = Math.floor(maxPayload / (MESSAGE_PREFIX_BYTES + msg))
        if (this.portionsPerFrame < 1) throw new Error("frame path: a portion does not fit the payload")
        this.frameLen = DATA_HEADER_BYTES + this.portionsPerFrame * (MESSAGE_PREFIX_BYTES + msg) + CRC_BYTES
        this.frame = Buffer.alloc(this.frameLen)
        let wireMax = this.frameLen
        this.key = Buffer.alloc(32)
        for (let i = 0; i < 32; i++) this.key[i] = (i * 7 + 1) & 0xff
        this.iv = Buffer.alloc(13)
        if (cipher) {
            wireMax += SESSION_PREFIX + SEAL_TAG_BYTES
            this.lead = cobsLead(wireMax)
        }
        this.wire = Buffer.alloc(cobsMaxEncoded(wireMax))
        this.portion = Buffer.alloc(msg)
        for (let i = 0; i < BLOCKS; i++) {
            const b = Buffer.alloc(blockSize)
            encodeBlock(b, 0, i, i + 1)
            this.blocks.push(b)
        }
        const self = this
        this.decoder = new CobsDecoder(wireMax, (buf, len) => self.checkFrame(buf, len))
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
        let out = f
        let from = 0
        if (this.cipher && this.lead >= 0) {
            // the channel's sealing layer: kind, counter, ciphertext and tag (LinkSeal.wrap),
            // into the wire buffer `lead` bytes in
            out = this.wire
            from = this.lead
            out[from] = SEALED_SESSION
            putU32(out, from + 1, this.seq)
            putU32(this.iv, 0, this.seq)
            const ct = this.cipher.seal(this.key, this.iv, f.slice(0, at))
            out.set(ct, from + SESSION_PREFIX)
            at = SESSION_PREFIX + ct.length
        }
        putU32(out, from + at, crc32cUpdate(0, out, from, from + at))
        this.wireLen = cobsEncodeInto(out, from, at + CRC_BYTES, this.wire)
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
        if (this.cipher) {
            // the sealing layer opens it (LinkSeal.openSession)
            putU32(this.iv, 0, getU32(buf, 1))
            const plain = this.cipher.open(this.key, this.iv, buf.slice(SESSION_PREFIX, n))
            if (!plain || plain[0] !== FrameType.Data) {
                this.badFrames++
                return
            }
        }
        this.framesDecoded++
        putU32(this.crcBytes, 0, crc)
        this.digest = crc32cUpdate(this.digest, this.crcBytes, 0, 4)
    }
}
