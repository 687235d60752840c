// `seqmirror remote promote`: promotes a stopped remote's data directory (Node only). A running
// remote is promoted on its console (`promote`), which also knows what it heard and did not
// apply; this is for a remote whose process is not running.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { META_PROMOTED, META_PROMOTED_SEQ } from "../../firmware/remote/remotePromote"
import { BlockStore } from "../../firmware/store/blockStore"
import { StoreError, storeErrorName, StoreRole } from "../../firmware/store/types"
import { lockDataDir, unlockDataDir } from "./dataLock"
import { FileFlash, FlashFileError } from "./fileFlash"
import { fail, readGroupFile, REMOTE_FLASH_FILE, REMOTE_GROUP_FILE } from "./hostConfig"
import { NodeClock } from "./nodeClock"

export interface OfflinePromotion {
    /** The promoted image's seq, and whether it was promoted before this call. */
    seq: number
    already: boolean
    /** What the store held staged above it (discarded): seqs, and versions in them. */
    seqsLost: number
    writesLost: number
}

/**
 * Promotes the remote whose data directory is `dir`, as its console's `promote` does
 * (firmware/remote/remotePromote.ts): what is staged above the applied seq is discarded, then
 * the promoted image's seq and the promotion are recorded, durably, in that order. The remote
 * started on `dir` afterwards runs promoted, its primaries fenced. The data loss it reports is
 * what the flash held staged; the seqs it had heard of only through manifests and the arrival
 * times were in the stopped process's RAM.
 */
export async function promoteDataDir(dir: string): Promise<OfflinePromotion> {
    const group = readGroupFile(dir)
    const flashPath = join(dir, REMOTE_FLASH_FILE)
    if (group === null || !existsSync(flashPath)) fail(`--data ${dir} holds no remote (no ${REMOTE_GROUP_FILE} and ${REMOTE_FLASH_FILE}): nothing to promote`)
    lockDataDir(dir, "promote it on its console (promote), or stop it first")
    let flash: FileFlash
    try {
        flash = FileFlash.open(flashPath, group.flashBytes * group.members.length)
    } catch (e) {
        unlockDataDir(dir)
        if (e instanceof FlashFileError) fail(`--data ${dir}: ${e.message}`)
        throw e
    }
    const clock = new NodeClock()
    const store = new BlockStore(flash, clock, { role: StoreRole.Remote, blockSize: group.blockSize })
    const call = (f: (done: (err: StoreError) => void) => void) => new Promise<StoreError>((resolve) => f(resolve))
    const close = async () => {
        clock.stop()
        await flash.close()
        unlockDataDir(dir)
    }
    const must = async (err: StoreError, what: string) => {
        if (err === StoreError.None) return
        await close()
        fail(`--data ${dir}: ${what}: ${storeErrorName(err)}`)
    }
    await must(await call((done) => store.mount((err) => done(err))), `${flashPath} does not mount`)
    const applied = store.appliedSeq()
    if (store.meta(META_PROMOTED) === 1 || store.meta(META_PROMOTED) === 2) {
        const seq = store.meta(META_PROMOTED_SEQ) >>> 0
        await close()
        return { seq, already: true, seqsLost: 0, writesLost: 0 }
    }
    const seqs = store.pinnedSeqs()
    let writes = 0
    for (const s of seqs) writes += store.pinned(-1, s).length
    await must(await call((done) => store.discardAbove(applied, done)), "cannot discard what is staged")
    await must(await call((done) => store.setMeta(META_PROMOTED_SEQ, applied, done)), "cannot record the promoted seq")
    await must(await call((done) => store.setMeta(META_PROMOTED, 1, done)), "cannot record the promotion")
    await close()
    return { seq: applied, already: false, seqsLost: seqs.length, writesLost: writes }
}
