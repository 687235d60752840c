import { Clock } from "../../hal/clock"
import { Flash } from "../../hal/flash"
import { Link } from "../../hal/link"
import { SeqmirrorConfig } from "../config"
import { ChannelConfig, defaultChannelConfig } from "../link/config"
import { RemoteChannel, RemoteSealer } from "../link/remote"
import { FrameSealer } from "../link/seal"
import { PipelineChannel } from "../protocol/ports"
import { RemoteBoard } from "../remote/remoteBoard"
import { promotedAtBoot } from "../remote/remotePromote"
import { BlockStore } from "../store/blockStore"
import { StoreError, StoreRole } from "../store/types"

/** Meta key of the remote's highest accepted generation of member 0 (member m: this + m). */
export const META_REMOTE_GENERATION = 8

/** Calls the remote's store may queue behind the running one. */
export const REMOTE_STORE_QUEUE = 16

export interface RemoteOptions {
    /** Members of the group: one link channel each, member ids 0..members-1. */
    members: number
    blockSize: number
    /** Calls the store may queue behind the running one. */
    queueDepth: number
    /** The link channel of every member (checked by whoever built it from outside input). */
    channel: ChannelConfig
}

/**
 * The remote's end of a link channel: the shared defaults with `maxPayload` (it must be the
 * primaries'), no keepalive probes of its own (the primaries probe), and 4 frames to send, since
 * what goes back to a primary is small (applied seqs, resync requests).
 */
export function remoteChannelConfig(maxPayload: number): ChannelConfig {
    const c = defaultChannelConfig()
    c.maxPayload = maxPayload
    c.keepaliveMs = 0
    c.txWindow = 4
    return c
}

/** The remote's options for a configuration: every member of group.members, the store's
 * block size, and the link channel's defaults (maxPayload as a board's). */
export function remoteOptionsOf(config: SeqmirrorConfig): RemoteOptions {
    return {
        members: config.group.members.length,
        blockSize: config.store.blockSize,
        queueDepth: REMOTE_STORE_QUEUE,
        channel: remoteChannelConfig(defaultChannelConfig().maxPayload),
    }
}

/** Bytes of flash the remote's store takes for a configuration: it holds every member's
 * blocks, so store.flashBytes per member. */
export function remoteFlashBytes(config: SeqmirrorConfig): number {
    return config.store.flashBytes * config.group.members.length
}

/**
 * The remote's firmware: the block store in role Remote on the whole of `flash` (every member's
 * blocks), one RemoteChannel per member on that member's link, and the RemoteBoard that stages
 * and applies. The highest generation accepted of each member is kept in the store's metadata
 * (META_REMOTE_GENERATION + member), durable before the channel welcomes it. The simulator's
 * remote and the host's (`seqmirror remote`) run it; everything it calls back runs from `clock`.
 *
 * `start(done)` mounts the store, then builds the channels in member order, asking
 * `linkOf(member)`, `randomOf(member)` and, when given, `sealOf(member)` (the sealing layer of
 * the member's link, docs/FORMAT-link.md §11) for each, and the board; done(None) when the
 * remote runs (`board`, `channels` set), done(err) when the store did not mount.
 * @devsWhenUsed
 */
export class RemoteFirmware {
    readonly store: BlockStore
    channels: RemoteChannel[] = []
    board: RemoteBoard | null = null

    constructor(
        readonly opts: RemoteOptions,
        private clock: Clock,
        flash: Flash,
        private linkOf: (member: number) => Link,
        private randomOf: (member: number) => () => number,
        private sealOf?: ((member: number) => FrameSealer & RemoteSealer) | null
    ) {
        this.store = new BlockStore(flash, clock, { role: StoreRole.Remote, blockSize: opts.blockSize, queueDepth: opts.queueDepth })
    }

    start(done: (err: StoreError) => void): void {
        const self = this
        this.store.mount((err) => {
            if (err !== StoreError.None) {
                done(err)
                return
            }
            self.run()
            done(StoreError.None)
        })
    }

    private run(): void {
        const chans: PipelineChannel[] = []
        this.channels = []
        for (let m = 0; m < this.opts.members; m++) {
            const ch = this.channel(m)
            this.channels.push(ch)
            chans.push(ch)
        }
        const board = new RemoteBoard(this.store, chans, this.clock)
        this.board = board
        for (let m = 0; m < this.channels.length; m++) this.channels[m].setResumeState(() => board.resumeState())
        // a promoted remote fences its primaries through their links
        const channels = this.channels
        board.onFence = (fenced, seq) => {
            for (let m = 0; m < channels.length; m++) channels[m].fence(fenced, seq)
        }
        promotedAtBoot(board)
    }

    private channel(member: number): RemoteChannel {
        const store = this.store
        const link = this.linkOf(member)
        const random = this.randomOf(member)
        const key = META_REMOTE_GENERATION + member
        const highest = store.meta(key) < 0 ? 0 : store.meta(key)
        const clock = this.clock
        return new RemoteChannel(
            link,
            this.clock,
            random,
            this.opts.channel,
            member,
            highest,
            (g, done) => {
                // the store's queue full of staging writes for now: again shortly (the session
                // waits for it); a flash that fails leaves the generation in RAM and the link up
                // (docs/FORMAT-link.md, "Generations")
                const put = () =>
                    store.setMeta(key, g, (e) => {
                        if (e === StoreError.QueueFull) clock.setTimer(5, put)
                        else done()
                    })
                put()
            },
            this.sealOf ? this.sealOf(member) : null
        )
    }

    /** Stops every channel (a shutdown): no more frames in or out. */
    stop(): void {
        for (let m = 0; m < this.channels.length; m++) this.channels[m].stop()
    }
}
