import { getU32 } from "../codec/bytes"
import { PrimaryChannel } from "../link/primary"
import { encodeRestore, Msg, RESTORE_BEGIN, RESTORED_HEADER } from "../protocol/messages"
import { seqAfter } from "../seq"
import { PrimaryBlockStore } from "../store/blockStore"
import { MetaKey, StoreError } from "../store/types"

/** RESTOREs in flight at once (the remote answers up to RESTORE_WINDOW). */
const WINDOW = 4

/**
 * A board's restore of its image from the remote (docs/OPERATIONS.md, "Restore a primary"):
 * a board that came back with a blank flash asks the remote, over its link channel, for the
 * remote's applied image of its member, block by block (RESTORE, RESTORED: docs/FORMAT.md),
 * and writes each block to its store as a version of the applied seq. Then the store confirms
 * that seq (the blocks are the remote's already: nothing is sent again) and keeps the newest
 * seq the remote heard of (the board's seqs start after it), and `done(blocks, damaged)` is
 * called: the board replicates again, from the image it got back. The store's Restore flag
 * stays set until then, so a power cut restores again from the beginning; if the remote's
 * applied seq moves meanwhile (it restarted), the restore starts again too.
 */
export class Restore {
    /** The remote's applied seq the image is of, and the newest seq it has heard of. */
    applied = 0
    top = 0
    /** Lbas asked for, written, and found damaged on the remote (not restored). */
    next = 0
    written = 0
    damaged = 0
    blocks = 0
    private begun = false
    private asking = false
    private inFlight = 0
    /** Counts the restore's starts: a store write of an earlier one is not counted. */
    private round = 0

    constructor(
        private ch: PrimaryChannel,
        private store: PrimaryBlockStore,
        private member: number,
        private lbaCount: number,
        private done: (blocks: number, damaged: number) => void
    ) {
        const self = this
        ch.onSessionUp(() => self.begin())
        ch.onMessage((msg, len) => self.onMessage(msg, len))
        ch.onWritable(() => self.pump())
    }

    /** A session is up: the restore starts (again) from its beginning. */
    private begin(): void {
        this.round++
        this.begun = false
        this.asking = true
        this.next = 0
        this.written = 0
        this.damaged = 0
        this.blocks = 0
        this.inFlight = 0
        this.pump()
    }

    private pump(): void {
        const ch = this.ch
        if (this.asking) {
            if (!ch.send(encodeRestore(RESTORE_BEGIN))) return
            this.asking = false
        }
        if (!this.begun) return
        while (this.inFlight < WINDOW && this.next < this.lbaCount) {
            if (!ch.send(encodeRestore(this.next))) return
            this.next++
            this.inFlight++
        }
    }

    private onMessage(msg: Buffer, len: number): void {
        if (msg[0] !== Msg.Restored || len < RESTORED_HEADER) return
        const lba = getU32(msg, 1)
        const applied = getU32(msg, 5)
        if (lba === RESTORE_BEGIN) {
            this.applied = applied
            this.top = getU32(msg, 9)
            this.begun = true
            // a restore that ended but for its flag: the image is in
            if (applied !== 0) if (!seqAfter(applied, this.store.confirmedSeq())) return this.finish()
            if (this.lbaCount === 0) return this.finish()
            this.pump()
            return
        }
        if (!this.begun || lba >= this.lbaCount) return
        // the remote's image moved on (it restarted and applied more): from the beginning
        if (applied !== this.applied) {
            this.asking = true
            this.begun = false
            this.pump()
            return
        }
        const state = msg[13]
        if (state === 1)
            if (applied !== 0)
                if (len > RESTORED_HEADER) {
                    const data = msg.slice(RESTORED_HEADER, len)
                    const self = this
                    const round = this.round
                    this.store.write(this.member, lba, applied, data, (err) => {
                        if (round !== self.round) return
                        // a store that cannot take it: the restore starts again in a new session
                        if (err !== StoreError.None) return self.ch.reconnect(self.ch.generation)
                        self.blocks++
                        self.answered()
                    })
                    return
                }
        if (state === 2) this.damaged++
        this.answered()
    }

    private answered(): void {
        this.inFlight--
        this.written++
        if (this.written >= this.lbaCount) return this.finish()
        this.pump()
    }

    /** Every lba is in: the store confirms the applied seq and keeps the newest seq heard,
     * then the flag goes. */
    private finish(): void {
        this.begun = false
        const self = this
        const st = this.store
        st.setMeta(MetaKey.HighestSeq, this.top, (e1) => {
            if (e1 !== StoreError.None) return self.ch.reconnect(self.ch.generation)
            st.confirm(self.applied, (e2) => {
                if (e2 !== StoreError.None) return self.ch.reconnect(self.ch.generation)
                st.setMeta(MetaKey.Restore, 0, (e3) => {
                    if (e3 !== StoreError.None) return self.ch.reconnect(self.ch.generation)
                    self.done(self.blocks, self.damaged)
                })
            })
        })
    }
}
