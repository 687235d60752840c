// A group that has run for a long time, at its start (Node only): every board's flash and the
// remote's as if seq `first - 1` had been applied, so that a run can cross the wrap of the u32
// seqs (4294967295 to 0) in seconds instead of years (`--first-seq`).
import { BlockStore } from "../firmware/store/blockStore"
import { MetaKey, StoreError, StoreRole } from "../firmware/store/types"
import { SimKernel } from "./kernel"
import { SpiNorChip } from "./models/spiNorChip"

/**
 * Writes into `chip` what a store of `role` holds once seq `applied` was applied and nothing
 * is left to send: on a primary, a CONFIRM of it and the highest seq adopted (META); on the
 * remote, a COMMIT of it. The records are made by the firmware's own store, on a blank copy of
 * the chip in a kernel of its own (no time passes in the run), and the copy's cells loaded
 * into the chip.
 */
export function presetApplied(chip: SpiNorChip, role: StoreRole, blockSize: number, applied: number): void {
    const kernel = new SimKernel()
    const copy = new SpiNorChip(kernel, { capacity: chip.capacity(), slabs: Buffer.allocUnsafe })
    const flash = copy.boardFlash(kernel, { capacity: chip.capacity() })
    let result = -1
    const failed = (what: string) => (err: number) => {
        if (err !== StoreError.None) throw new Error(`--first-seq: the ${what} of seq ${applied} failed (store error ${err})`)
    }
    flash.init((err) => {
        failed("flash probe")(err)
        const store = new BlockStore(flash, kernel, { role, blockSize })
        store.mount((err2) => {
            failed("mount")(err2)
            if (role === StoreRole.Remote) store.commit(applied, (e) => (result = e))
            else {
                store.setMeta(MetaKey.HighestSeq, applied, failed("highest seq"))
                store.confirm(applied, (e) => (result = e))
            }
        })
    })
    while (result < 0) if (!kernel.step(Number.MAX_SAFE_INTEGER)) break
    failed(role === StoreRole.Remote ? "commit" : "confirm")(result < 0 ? StoreError.Flash : result)
    chip.copyMemory(copy)
}
