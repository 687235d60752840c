import { Clock } from "../../hal/clock"
import { Flash } from "../../hal/flash"
import { Link } from "../../hal/link"
import { DEFAULT_HISTORY_SEQS, DEFAULT_WRITES_WAITING, SeqmirrorConfig } from "../config"
import { ChannelConfig, defaultChannelConfig } from "../link/config"
import { PrimaryChannel } from "../link/primary"
import { LinkSeal } from "../link/seal"
import { AckMode, Congestion, historyLimit, PrimaryBoard, PrimaryOptions } from "../pipeline/primary"
import { SoloCycle } from "../pipeline/soloCycle"
import { PrimaryBlockStore } from "../store/blockStore"
import { MetaKey, StoreError, storeErrorName, StoreRole } from "../store/types"
import { RefuseReason } from "../link/frame"
import type { Restore } from "./restore"

/** Calls the store may queue behind the running one. */
const STORE_QUEUE = 8

/**
 * The link channel of a board: the shared defaults (maxPayload must match the remote's), with
 * smaller windows to save RAM (each frame slot holds maxPayload bytes): 4 frames in flight are
 * about 4.4 KB, more than a TCP link needs at the link's nominal rate, and 1 frame to receive,
 * since what comes back from the remote is small (applied seqs, verify answers: a frame holds
 * many).
 */
export function boardChannelConfig(): ChannelConfig {
    const c = defaultChannelConfig()
    c.txWindow = 4
    c.rxWindow = 1
    return c
}

/**
 * The replication firmware of a primary that is a group of one: the block store on `flash`,
 * the link channel on `link`, the pipeline (PrimaryBoard) and its SoloCycle. The board entry
 * (firmware/main.ts, through firmware/boot/boardStart.ts) builds it from the validated
 * configuration and its drivers; the tests build it over the simulator's models. Everything
 * it calls back runs from `clock`.
 *
 * `start(done)` mounts the store (a blank chip is an empty store), raises the generation kept
 * in the store's metadata, builds the channel and the pipeline, recovers what the flash holds
 * and starts the cycle; done(true) when replication runs (the caller then starts its link
 * driver), done(false) after one line saying why not. `board` then takes the application's
 * writes: `board.write(lba, data, done)` with lba in 0..lbaCount-1 and one block of data.
 * @devsWhenUsed
 */
export class PrimaryFirmware {
    readonly store: PrimaryBlockStore
    channel: PrimaryChannel | null = null
    board: PrimaryBoard | null = null
    /** The sealing layer of the link (docs/FORMAT-link.md §11), set before start; left unset:
     * the link is not sealed. */
    sealer!: LinkSeal | null
    cycle: SoloCycle | null = null
    generation = 0
    /** Blocks the application may write (lbas 0..lbaCount-1): a quarter of the store's slots. */
    lbaCount: number
    /** The lbas one seq may hold: what the aux ring holds, at least 16. */
    maxLbasPerSeq: number
    /** The link channel's settings: boardChannelConfig(). */
    channelConfig: ChannelConfig
    /** Before `start`, a boot may set other values of the three above (the simulator's
     * scenarios do), and give what the board leaves at its defaults: the board itself (a group
     * member's, by firmware/boot/groupMember.ts, or one with the online verifier) and its
     * cycle, which recovers the board first (default: the board recovers, then a SoloCycle). */
    makeBoard!: ((o: PrimaryOptions, clock: Clock, store: PrimaryBlockStore, ch: PrimaryChannel) => PrimaryBoard) | null
    startCycle!: ((board: PrimaryBoard) => void) | null
    /** Set before start: this board takes its image back from the remote before it replicates
     * (a board that replaces a lost one, on a blank flash: docs/OPERATIONS.md). A restore cut
     * by a power loss goes on at the next start without it. */
    restore!: boolean
    /** The restore under way (null: none). */
    restoring!: Restore | null
    /** The restore's start (firmware/boot/restore.ts: restoreFirst), set before start when the
     * board may restore: a board image has it only when its configuration says board.restore. */
    restorer!: ((fw: PrimaryFirmware, blocks: number, done: (ok: boolean) => void) => void) | null
    /** Internal (firmware/boot/restore.ts): the console's lines. */
    print: (line: string) => void
    /** Told when a restore has ended and the board replicates (the simulator's checker
     * compares the image). */
    onRestored!: ((applied: number, blocks: number) => void) | null

    constructor(
        readonly config: SeqmirrorConfig,
        readonly member: number,
        readonly clock: Clock,
        private link: Link,
        private random: () => number,
        print: (line: string) => void,
        flash: Flash,
        /** The store, when the boot makes its own (the simulator's, with its test faces). */
        store?: PrimaryBlockStore
    ) {
        this.print = print
        if (store) this.store = store
        else {
            // the store takes the first store.flashBytes of the chip
            this.store = new PrimaryBlockStore(flash, clock, {
                role: StoreRole.Primary,
                blockSize: config.store.blockSize,
                queueDepth: STORE_QUEUE,
                sectorCount: Math.floor(config.store.flashBytes / flash.geometry().sectorSize),
            })
        }
        // a quarter of the store's slots: the rest holds pinned versions while the link is
        // down, and gives garbage collection its room
        this.lbaCount = Math.floor(this.store.capacityRecords() / 4)
        // writes to more lbas than the aux ring holds wait for the next seq
        this.maxLbasPerSeq = Math.max(16, Math.min(this.lbaCount, Math.floor(config.store.auxRingBytes / (10 + config.store.blockSize))))
        this.channelConfig = boardChannelConfig()
    }

    start(done: (ok: boolean) => void): void {
        const self = this
        this.store.mount((err, report) => {
            if (err !== StoreError.None) {
                self.print(
                    err === StoreError.IncompatibleFormat
                        ? "store: the flash holds a store of another format or block size; it is left untouched (erase the chip, or set store.blockSize back)"
                        : "store: mount failed: " + storeErrorName(err)
                )
                done(false)
                return
            }
            self.print("store: " + report.sectors + " sectors, " + report.liveRecords + " blocks held, " + report.freeSectors + " free sectors")
            // the generation before this boot (-1: none yet), plus one
            self.generation = Math.max(self.store.meta(MetaKey.Generation), 0) + 1
            self.store.setMeta(MetaKey.Generation, self.generation, (err2) => {
                if (err2 !== StoreError.None) {
                    self.print("store: cannot record the generation: " + storeErrorName(err2))
                    done(false)
                    return
                }
                if (!self.restore)
                    if (!self.config.board.restore)
                        if (self.store.meta(MetaKey.Restore) !== 1) {
                            self.run(self.newChannel())
                            done(true)
                            return
                        }
                if (self.restorer) return self.restorer(self, report.liveRecords, done)
                // a restore under way on this flash, and an image without one
                self.print("restore: this flash is being restored, and this image cannot restore (board.restore)")
                done(false)
            })
        })
    }

    /** Internal (firmware/boot/restore.ts): the board's link channel, with its lines on the
     * console. */
    newChannel(): PrimaryChannel {
        const ch = new PrimaryChannel(this.link, this.clock, this.random, this.channelConfig, this.generation, this.member, this.sealer)
        const self = this
        // up and down only: while the link is out, HELLOs and their timeouts come and go
        let wasUp = false
        ch.onStateChange((state) => {
            const up = state === "up"
            if (up !== wasUp) {
                let what = "session down (" + state + ")"
                if (up) what = "session up"
                self.print("link channel: " + what)
            }
            wasUp = up
        })
        ch.onRefused((reason, highest) => {
            if (reason === RefuseReason.Fenced)
                return self.print(
                    "link channel: fenced: the remote was promoted as of seq " +
                        highest +
                        " and holds the writable role; this board sends no more (docs/OPERATIONS.md, Fail back)"
                )
            self.print("link channel: the remote refused this board (reason " + reason + ", generation " + highest + " known): it sends no more")
            if (reason === RefuseReason.StaleGeneration)
                self.print("link channel: the remote holds this member's image from a later board: restore this board from it (docs/OPERATIONS.md)")
        })
        this.channel = ch
        return ch
    }

    /** Internal (firmware/boot/restore.ts): builds the pipeline on `ch` and starts it. */
    run(ch: PrimaryChannel): void {
        const cfg = this.config
        const g = cfg.group
        let mode = AckMode.Consistent
        if (g.mode === "none") mode = AckMode.None
        let congestion = Congestion.PullAhead
        if (g.congestion === "block") congestion = Congestion.Block
        // the board's file is not validated on the board: a key left out is its default
        let history = g.maxHistorySeqs
        if (!history) history = DEFAULT_HISTORY_SEQS
        let waiting = g.maxWritesWaiting
        if (!waiting) waiting = DEFAULT_WRITES_WAITING
        const o: PrimaryOptions = {
            member: this.member,
            blockSize: cfg.store.blockSize,
            lbaCount: this.lbaCount,
            auxRingBytes: cfg.store.auxRingBytes,
            maxLbasPerSeq: this.maxLbasPerSeq,
            mode: mode,
            minCycleMs: g.minCycleMs,
            maxClosedSeqs: g.maxClosedSeqs,
            rpoTargetMs: g.rpoTargetMs,
            verifyEveryMs: g.verifyEveryMs,
            suspendAfterMs: g.suspendAfterMs,
            historyLimit: historyLimit(this.store.capacityRecords(), this.lbaCount, g.historyShare),
            maxHistorySeqs: history,
            groupMembers: g.members.length,
            maxWritesWaiting: waiting,
            congestion: congestion,
        }
        let board: PrimaryBoard
        if (this.makeBoard) board = this.makeBoard(o, this.clock, this.store, ch)
        else board = new PrimaryBoard(o, this.clock, this.store, ch)
        this.board = board
        // a group member's cycle recovers its board with the seqs its shuttle state kept
        if (this.startCycle) this.startCycle(board)
        else {
            // after a restore, the newest seq the remote had heard of
            board.recover(this.store.maxSeqSeen(), this.store.confirmedSeq(), this.store.meta(MetaKey.HighestSeq))
            const cycle = new SoloCycle(board, this.clock)
            cycle.start()
            this.cycle = cycle
        }
        this.print(
            "replicating: member " + this.member + ", generation " + this.generation + ", " + this.lbaCount + " blocks of " + cfg.store.blockSize + " bytes"
        )
    }

    /** One line: the cycle, the writes, what went to the remote, the link and the store. */
    statusLine(): string {
        const b = this.board
        const ch = this.channel
        if (this.restoring) return "status: restoring from the remote"
        if (b === null) return "status: not replicating"
        if (ch === null) return "status: not replicating"
        return (
            "status: seq " +
            b.captureSeq() +
            ", " +
            b.writesAcked +
            " writes acknowledged, " +
            b.portionsSent +
            " portions sent (" +
            b.portionsFromFlash +
            " from flash), link " +
            ch.state() +
            ", " +
            this.store.freeSectors() +
            " free sectors"
        )
    }
}
