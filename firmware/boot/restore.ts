import { getU32 } from "../codec/bytes"
import { PrimaryChannel } from "../link/primary"
import { encodeRestore, Msg, Restored, RESTORED_HEADER, RestoreOp } from "../protocol/messages"
import { seqAfter } from "../seq"
import { PrimaryBlockStore } from "../store/blockStore"
import { MetaKey, StoreError, storeErrorName } from "../store/types"
import { RefuseReason } from "../link/frame"
import type { PrimaryFirmware } from "./primaryFirmware"

/** Answers of a pass the board takes at once (its store's writes in flight). */
const WINDOW = 4
/** Pause before a pass after one that brought nothing, or while a promoted remote waits for
 * the other members' boards. */
const POLL_MS = 250

/**
 * A board's restore of its image from the remote (docs/OPERATIONS.md, "Restore a primary" and
 * "Fail back"): a board that came back with a blank flash asks the remote, over its link
 * channel, for the remote's applied image of its member (RESTORE, RESTORED: docs/FORMAT.md),
 * and writes each block to its store as a version of the seq the pass began at. A promoted
 * remote's image goes on changing: the board makes passes over what changed since the one
 * before, until a pass finds the image as it began and the remote no longer promoted. Then the
 * store confirms the image's seq (the blocks are the remote's already: nothing is sent again)
 * and keeps the newest seq the remote heard of (the board's seqs start after it), and the
 * board replicates again, from the image it got back, in a new session. The store's Restore
 * flag stays set until then, so a power cut restores again from the beginning, as does a new
 * session.
 */
export class Restore {
    /** The seq the image is of (the last pass's), and the newest seq the remote heard of. */
    applied!: number
    top!: number
    /** Blocks written, and found damaged on the remote (left blank). */
    blocks!: number
    damaged!: number
    /** 0: BEGIN to send, 1: sent, 2: a pass to ask for, 3: asked, 4: its END in, waiting for
     * the writes in flight; 5 to 8: the end's records (step). */
    private phase!: number
    /** The pass: every lba (base < 0) or those newer than base; answers owed credit back. */
    private base!: number
    private owed!: number
    private writing!: number
    /** Answers of the pass so far. */
    private got!: number
    /** The END's state byte. */
    private end!: number
    /** Counts the restore's starts: a store write of an earlier one is not counted. */
    private round = 0
    private store: PrimaryBlockStore

    constructor(
        private fw: PrimaryFirmware,
        private ch: PrimaryChannel
    ) {
        this.store = fw.store
        const self = this
        ch.restoring = true
        // a session is up: the restore starts (again) from its beginning
        ch.onSessionUp(() => {
            const me = self
            me.round = me.round + 1
            me.phase = 0
            me.writing = 0
            me.blocks = 0
            me.damaged = 0
            me.pump()
        })
        // RESTORED: the pass begun, one of its blocks (or one damaged on the remote), its end
        ch.onMessage((msg, len) => {
            const me = self
            if (msg[0] !== Msg.Restored) return
            if (len < RESTORED_HEADER) return
            const applied = getU32(msg, 5)
            const state = msg[13] & Restored.Mask
            me.top = getU32(msg, 9)
            if (state === Restored.Begun) {
                if (me.phase !== 1) return
                me.applied = applied
                // a restore that ended but for its flag: the image is in (a blank store has
                // confirmed no seq: its 0 is none, and no seq of the group's once they wrap; a
                // remote that applied none, a new one, has nothing to give a board that has)
                const c = me.store.confirmedSeq()
                if (c !== 0) if ((msg[13] & Restored.Promoted) === 0) if (!seqAfter(applied, c)) return me.step(0)
                me.base = -1
                me.phase = 2
                return me.pump()
            }
            if (me.phase !== 3) return
            if (state === Restored.End) {
                me.end = msg[13]
                me.applied = applied
                me.phase = 4
                return me.ended()
            }
            if (state === Restored.Block)
                if (len > RESTORED_HEADER) {
                    const round = me.round
                    me.writing = me.writing + 1
                    me.store.write(me.fw.member, getU32(msg, 1), applied, msg.slice(RESTORED_HEADER, len), (err) => {
                        if (round !== self.round) return
                        if (err !== StoreError.None) return self.again()
                        self.writing = self.writing - 1
                        self.blocks = self.blocks + 1
                        self.took()
                    })
                    return
                }
            me.damaged = me.damaged + 1
            me.took()
        })
        ch.onWritable(() => self.pump())
    }

    private pump(): void {
        const ch = this.ch
        if (this.phase === 0) {
            if (!ch.send(encodeRestore(RestoreOp.Begin, 0, 0))) return
            this.phase = 1
        }
        if (this.phase === 2) {
            // every lba, or those newer than base
            let op = RestoreOp.PassSince
            let base = this.base
            if (base < 0) {
                op = RestoreOp.Pass
                base = 0
            }
            if (!ch.send(encodeRestore(op, base, WINDOW))) return
            this.phase = 3
            this.owed = 0
            this.got = 0
        }
        if (this.phase === 3)
            if (this.owed > 0) {
                if (!ch.send(encodeRestore(RestoreOp.More, 0, this.owed))) return
                this.owed = 0
            }
    }

    /** A new session, for a store that could not take a block or a record: from the beginning. */
    private again(): void {
        this.ch.reconnect(this.fw.generation)
    }

    /** An answer is in: the remote may send one more; an END waits for the writes. */
    private took(): void {
        if (this.phase === 4) return this.ended()
        this.got = this.got + 1
        this.owed = this.owed + 1
        this.pump()
    }

    /** The pass is over: once its blocks are written, the restore ends when the pass found
     * the image as it began and the remote no longer promoted; else another pass follows (after
     * a pause while the remote waits for the other boards). */
    private ended(): void {
        if (this.writing > 0) return
        const end = this.end
        // frozen and not promoted (step takes the phase to 5)
        if ((end & (Restored.Frozen | Restored.Promoted)) === Restored.Frozen) return this.step(0)
        this.base = this.applied
        this.phase = 2
        // a pass that brought blocks while the image changes: the next at once (else after a
        // pause: nothing changed, or the remote waits for the other boards)
        if ((end & Restored.Frozen) === 0) if (this.got > 0) return this.pump()
        const self = this
        const round = this.round
        this.fw.clock.setTimer(POLL_MS, () => {
            if (round === self.round) self.pump()
        })
    }

    /** Every lba is in: the store keeps the newest seq heard, confirms the image's seq, and
     * the flag goes, one record after the other; then the board replicates. */
    private step(err: number): void {
        if (err !== StoreError.None) return this.again()
        const self = this
        const next = (e: number) => self.step(e)
        const st = this.store
        if (this.phase < 5) this.phase = 5
        const p = this.phase++
        // a remote that has heard of no seq says 0, and has applied none (0): the board keeps
        // none (its seqs are the group's, from its first shuttle); a 0 heard by a remote that
        // applied a seq is seq 0, the one after 4294967295
        if (p === 5) if (this.top !== 0 || this.applied !== 0) return st.setMeta(MetaKey.HighestSeq, this.top, next)
        // one that has applied nothing (a new one) says 0: its image is empty. The blocks an
        // earlier pass wrote (from a remote replaced during the restore) are the image then, as
        // of their seq, or else the empty image as of the newest seq heard: confirmed, so that
        // the board's copy for the new remote holds all it has and its seqs come after it (a
        // confirmed 0 is none, and past 2^31 the group's seqs lie before 0); with neither, the
        // board confirms none, as a blank board (and takes its first seq from the group)
        if (p === 6) {
            let image = this.applied
            if (image === 0) image = st.maxSeqSeen()
            if (image === 0) image = this.top
            if (image !== 0) return st.confirm(image, next)
        }
        if (p < 7) return next(StoreError.None)
        if (p === 7) return st.setMeta(MetaKey.Restore, 0, next)
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
        this.ch.restoring = false
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
