// `seqmirror remote export`: the applied image a remote's data directory holds, per member and
// lba, read by the firmware's own store from a copy of the flash file (Node only).
import { existsSync, statSync } from "node:fs"
import { join } from "node:path"
import { hex32 } from "../../firmware/codec/bytes"
import { crc32c } from "../../firmware/codec/crc32c"
import { BlockStore } from "../../firmware/store/blockStore"
import { StoreError, storeErrorName, StoreRole } from "../../firmware/store/types"
import { FileFlash, FlashFileError } from "./fileFlash"
import { digestOf, fail, readGroupFile, REMOTE_FLASH_FILE, REMOTE_GROUP_FILE } from "./hostConfig"
import { NodeClock } from "./nodeClock"

export const IMAGE_FORMAT = "seqmirror-remote-image"

export interface ExportedBlock {
    lba: number
    /** The seq of the write the block holds (the seq it was applied with). */
    seq: number
    /** First 16 hex digits of the block's SHA-256 (as `seqmirror primary --json` prints). */
    digest: string
    /** CRC-32C, as the consoles' `read` prints it. */
    crc32c: string
    base64: string
}

export interface ExportedImage {
    format: string
    version: number
    /** Every write of every member up to this seq is in the image, and none after it. */
    appliedSeq: number
    group: number
    blockSize: number
    /** Lbas per member that were read (0..lbaCount-1). */
    lbaCount: number
    members: { member: number; name: string; blocks: ExportedBlock[] }[]
}

/**
 * Reads DIR's applied image: mounts a copy of DIR/flash.bin in memory with the remote's block
 * store (the file is never written, so this works beside a running remote: the copy is what a
 * remote killed at that moment would mount), drops the staged versions above the applied seq
 * from the copy, and reads every member's lbas 0..lbaCount-1; blocks never written are left
 * out.
 */
export async function readRemoteImage(dir: string): Promise<ExportedImage> {
    let st
    try {
        st = statSync(dir)
    } catch (e) {
        fail(`--data ${dir}: ${(e as Error).message}`)
    }
    if (!st.isDirectory()) fail(`--data ${dir} is not a directory`)
    const group = readGroupFile(dir)
    const flashPath = join(dir, REMOTE_FLASH_FILE)
    if (group === null || !existsSync(flashPath))
        fail(`--data ${dir} holds no remote (no ${REMOTE_GROUP_FILE} and ${REMOTE_FLASH_FILE}): start one with seqmirror remote --data ${dir}`)
    let flash: FileFlash
    try {
        flash = FileFlash.copyOf(flashPath, group.flashBytes * group.members.length)
    } catch (e) {
        if (e instanceof FlashFileError) fail(`--data ${dir}: ${e.message}`)
        throw e
    }
    const clock = new NodeClock()
    const store = new BlockStore(flash, clock, { role: StoreRole.Remote, blockSize: group.blockSize })
    const call = (f: (done: (err: StoreError) => void) => void) => new Promise<StoreError>((resolve) => f(resolve))
    try {
        const mounted = await call((done) => store.mount((err) => done(err)))
        if (mounted !== StoreError.None) fail(`--data ${dir}: ${flashPath} does not mount: ${storeErrorName(mounted)}`)
        const applied = store.appliedSeq()
        // what is staged above the applied seq is not part of the image; without it, the newest
        // version of each block is the applied one, and its seq is the block's
        const dropped = await call((done) => store.discardAbove(applied, done))
        if (dropped !== StoreError.None) fail(`--data ${dir}: cannot set the staged versions aside: ${storeErrorName(dropped)}`)
        const image: ExportedImage = {
            format: IMAGE_FORMAT,
            version: 1,
            appliedSeq: applied,
            group: group.group,
            blockSize: group.blockSize,
            lbaCount: group.lbaCount,
            members: [],
        }
        for (let m = 0; m < group.members.length; m++) {
            const blocks: ExportedBlock[] = []
            for (let lba = 0; lba < group.lbaCount; lba++) {
                const r = await new Promise<{ err: StoreError; data: Buffer | null }>((resolve) => store.read(m, lba, (err, data) => resolve({ err, data })))
                if (r.err !== StoreError.None) fail(`--data ${dir}: member ${m} lba ${lba}: ${storeErrorName(r.err)}`)
                if (!r.data) continue
                const data = Buffer.from(r.data)
                blocks.push({ lba, seq: store.newestSeq(m, lba), digest: digestOf(data), crc32c: hex32(crc32c(data)), base64: data.toString("base64") })
            }
            image.members.push({ member: m, name: group.members[m].name, blocks })
        }
        return image
    } finally {
        clock.stop()
    }
}

/** The image as text: a line for the image, one per member, one per block with its first
 * bytes (as text when they are printable). */
export function formatImage(dir: string, image: ExportedImage): string[] {
    const lines = [
        "remote image in " +
            dir +
            ": applied seq " +
            image.appliedSeq +
            "; group " +
            image.group +
            ", " +
            image.members.length +
            (image.members.length === 1 ? " member" : " members") +
            ", " +
            image.blockSize +
            "-byte blocks, lbas 0.." +
            (image.lbaCount - 1),
    ]
    for (const m of image.members) {
        lines.push("member " + m.member + " (" + m.name + "): " + m.blocks.length + " block(s) written")
        for (const b of m.blocks) lines.push("  lba " + b.lba + "  seq " + b.seq + "  crc32c " + b.crc32c + "  " + preview(Buffer.from(b.base64, "base64")))
    }
    return lines
}

/** The first bytes: the text they begin with (up to a zero, a line end or a byte that is not
 * printable), when there is some, else in hex. */
function preview(data: Buffer): string {
    let end = 0
    while (end < data.length && end < 48 && data[end] >= 32 && data[end] <= 126) end++
    if (end >= 4) return JSON.stringify(data.subarray(0, end).toString("latin1")) + (end < data.length && data[end] !== 0 ? " ..." : "")
    return data.subarray(0, 16).toString("hex") + " ..."
}
