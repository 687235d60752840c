import { getU32 } from "../codec/bytes"
import { PrimaryChannel } from "../link/primary"
import { encodeRestore, Msg, RESTORE_BEGIN, RESTORED_HEADER } from "../protocol/messages"
import { seqAfter } from "../seq"
import { PrimaryBlockStore } from "../store/blockStore"
import { MetaKey, StoreError, storeErrorName } from "../store/types"
import { RefuseReason } from "../link/frame"
import type { PrimaryFirmware } from "./primaryFirmware"

/** RESTOREs in flight at once (the remote answers up to RESTORE_WINDOW). */
const WINDOW = 4

/**
 * A board's restore of its image from the remote (docs/OPERATIONS.md, "Restore a primary"):
 * a board that came back with a blank flash asks the remote, over its link channel, for the
 * remote's applied image of its member, block by block (RESTORE, RESTORED: docs/FORMAT.md),
 * and writes each block to its store as a version of the applied seq. Then the store confirms
 * that seq (the blocks are the remote's already: nothing is sent again) and keeps the newest
 * seq the remote heard of (the board's seqs start after it), and the board replicates again,
 * from the image it got back, in a new session. The store's Restore flag
 * stays set until then, so a power cut restores again from the beginning; if the remote's
 * applied seq moves meanwhile (it restarted), the restore starts again too.
 */
export class Restore {
    /** The remote's applied seq the image is of, and the newest seq it has heard of. */
    applied!: number
    top!: number
    /** Blocks written, and found damaged on the remote (left blank). */
    blocks!: number
    damaged!: number
    /** 0: RESTORE_BEGIN to send, 1: sent, 2: the remote holds its image: lbas asked from `next`
     * on, `answered` of them answered; 3 to 5: the end's records (step). */
    private phase!: number
    private next!: number
    private answered!: number
    /** Counts the restore's starts: a store write of an earlier one is not counted. */
    private round = 0
    private store: PrimaryBlockStore

    constructor(
        private fw: PrimaryFirmware,
        private ch: PrimaryChannel
    ) {
        this.store = fw.store
        const self = this
        ch.onSessionUp(() => self.begin())
        ch.onMessage((msg, len) => self.onMessage(msg, len))
        ch.onWritable(() => self.pump())
    }

    /** A session is up: the restore starts (again) from its beginning. */
    private begin(): void {
        this.round++
        this.phase = 0
        this.pump()
    }

    private pump(): void {
        const ch = this.ch
        if (this.phase === 0) {
            if (!ch.send(encodeRestore(RESTORE_BEGIN))) return
            this.phase = 1
        }
        if (this.phase === 2)
            while (this.next - this.answered < WINDOW) {
                if (this.next >= this.fw.lbaCount) return
                if (!ch.send(encodeRestore(this.next))) return
                this.next++
            }
    }

    /** A new session, for a store that could not take a block or a record: from the beginning. */
    private again(): void {
        this.ch.reconnect(this.fw.generation)
    }

    private onMessage(msg: Buffer, len: number): void {
        if (msg[0] !== Msg.Restored) return
        if (len < RESTORED_HEADER) return
        const lba = getU32(msg, 1)
        const applied = getU32(msg, 5)
        if (lba === RESTORE_BEGIN) {
            this.applied = applied
            this.top = getU32(msg, 9)
            this.phase = 2
            this.next = 0
            this.answered = 0
            this.blocks = 0
            this.damaged = 0
            // a restore that ended but for its flag: the image is in
            if (applied !== 0) if (!seqAfter(applied, this.store.confirmedSeq())) return this.step(0)
            this.pump()
            return
        }
        if (this.phase !== 2) return
        // the remote's image moved on (it restarted and applied more): from the beginning
        if (applied !== this.applied) return this.begin()
        const state = msg[13]
        if (state === 1)
            if (applied !== 0) {
                const self = this
                const round = this.round
                this.store.write(this.fw.member, lba, applied, msg.slice(RESTORED_HEADER, len), (err) => {
                    if (round !== self.round) return
                    if (err !== StoreError.None) return self.again()
                    self.blocks++
                    self.took()
                })
                return
            }
        if (state === 2) this.damaged++
        this.took()
    }

    private took(): void {
        this.answered++
        if (this.answered < this.fw.lbaCount) return this.pump()
        this.step(0)
    }

    /** Every lba is in: the store keeps the newest seq heard, confirms the applied seq, and
     * the flag goes, one record after the other; then the board replicates. */
    private step(err: number): void {
        if (err !== StoreError.None) return this.again()
        const self = this
        const next = (e: number) => self.step(e)
        const st = this.store
        if (this.phase < 3) this.phase = 3
        const p = this.phase++
        if (p === 3) return st.setMeta(MetaKey.HighestSeq, this.top, next)
        if (p === 4) return st.confirm(this.applied, next)
        if (p === 5) return st.setMeta(MetaKey.Restore, 0, next)
        const fw = this.fw
        fw.restoring = null
        fw.print(
            "restore: " +
                this.blocks +
                " blocks back as of seq " +
                this.applied +
                ", " +
                this.damaged +
                " damaged on the remote (left blank); replicating again"
        )
        // a new session for the pipeline: the remote asks it for its copy
        this.again()
        fw.run(this.ch)
        if (fw.onRestored) fw.onRestored(this.applied, this.blocks)
    }
}

/**
 * A board's restore before it replicates (PrimaryFirmware.restorer): only on a store that holds
 * no block, or one whose restore a power cut interrupted, flagged in the store first. A store
 * that holds blocks replicates as it is. The board image has it only when its configuration
 * says board.restore (bin/gen-board-config.mjs).
 */
export function restoreFirst(fw: PrimaryFirmware, blocks: number, done: (ok: boolean) => void): void {
    const st = fw.store
    if (blocks > 0)
        if (st.meta(MetaKey.Restore) !== 1) {
            // restored already (or never blank): a restore would overwrite what it holds
            fw.print("restore: skipped: the store holds " + blocks + " blocks (a restore takes a blank flash)")
            fw.run(fw.newChannel())
            done(true)
            return
        }
    st.setMeta(MetaKey.Restore, 1, (err) => {
        if (err !== StoreError.None) {
            fw.print("store: cannot record the restore: " + storeErrorName(err))
            done(false)
            return
        }
        const ch = fw.newChannel()
        // refused as stale: the generation after the remote's newest of this member
        ch.onRefused((reason, highest) => {
            if (reason !== RefuseReason.StaleGeneration) return fw.print("link channel: the remote refused this board (reason " + reason + ")")
            st.setMeta(MetaKey.Generation, highest + 1, (e) => {
                if (e !== StoreError.None) return fw.print("store: cannot record the generation: " + storeErrorName(e))
                fw.generation = highest + 1
                ch.reconnect(highest + 1)
            })
        })
        fw.print("restore: taking member " + fw.member + "'s image back from the remote")
        fw.restoring = new Restore(fw, ch)
        done(true)
    })
}
