import { Clock } from "../hal/clock"
import { Link } from "../hal/link"
import { SpiNorFlash } from "../hal/spiNor"
import { ChannelConfig, checkChannelConfig, defaultChannelConfig } from "../firmware/link/config"
import { PrimaryChannel } from "../firmware/link/primary"
import { RemoteChannel, RemoteSealer } from "../firmware/link/remote"
import { FrameSealer, LinkSeal } from "../firmware/link/seal"
import { AckMode, Congestion, PrimaryBoard } from "../firmware/pipeline/primary"
import { SoloCycle } from "../firmware/pipeline/soloCycle"
import { RemoteBoard } from "../firmware/remote/remoteBoard"
import { BlockStore } from "../firmware/store/blockStore"
import { RemoteFirmware } from "../firmware/boot/remoteFirmware"
import { StoreRole } from "../firmware/store/types"
import { MemberConfig, SeqmirrorConfig } from "../firmware/config"
import { PrimaryFirmware } from "../firmware/boot/primaryFirmware"
import { restoreFirst } from "../firmware/boot/restore"
import { BoardClock } from "./boardClock"
import { SimKernel } from "./kernel"
import { FastNorFlash, PartialMode, SpiNorChip } from "./models/spiNorChip"
import { UartWire } from "./models/uart"
import { PoweredLink } from "./powered"
import { Prng } from "./prng"

/** The simulated group's id on its bus. */
export const GROUP_ID = 1

/**
 * A simulated group: primary boards with their flash chips, one link each to the remote, the
 * I2C bus between them (for groups of two or more), and the remote board with its flash. The
 * firmware on each board is the same code that runs on a real board; only the hardware is
 * modelled. Portable: the VM self-test runs it inside the DeviceScript VM.
 */
export class GroupOptions {
    boards = 1
    seed = 1
    mode = AckMode.Consistent
    baud = 115200
    busBitRate = 400000
    blockSize = 256
    lbaCount = 256
    auxRingBytes = 16384
    flashBytes = 262144
    minCycleMs = 100
    maxClosedSeqs = 8
    /** Bounded-RPO pacing target of every primary, ms (0: off). */
    rpoTargetMs = 0
    /** Each primary verifies its image against the remote's this often (0: never). */
    verifyEveryMs = 0
    /** A write waiting this long, or a link down this long, suspends replication (0: never). */
    suspendAfterMs = 5000
    /** Percent of the store's records, beyond one per block, replication history may use. */
    historyShare = 50
    /** Seq records and kept manifests a primary holds in RAM before it suspends. */
    maxHistorySeqs = 256
    /** App writes a primary holds before they are answered; more are refused (busy). */
    maxWritesWaiting = 64
    congestion = Congestion.PullAhead
    /** Frame payload of the link channel (both ends). */
    maxPayload = 1096
    txFifoBytes = 1024
    storeQueueDepth = 16
    /** Bus faults: chance that a transfer is NACKed, and that a byte is glitched. */
    busNackChance = 0
    busGlitchChancePerByte = 0
    /** Each board drives its chip with the JEDEC driver over the command-level model (one event
     * per SPI command and status poll) instead of the chip's fast face (one event per flash
     * operation, the same times and bytes): slower, for comparing the two. */
    commandLevelFlash = false
    /** The remote's flash, bytes (0: every member's flashBytes together). */
    remoteFlashBytes = 0
}

export class SimPrimary {
    clock: BoardClock | null = null
    board: PrimaryBoard | null = null
    store: BlockStore | null = null
    channel: PrimaryChannel | null = null
    solo: SoloCycle | null = null
    link: PoweredLink | null = null
    /** Set by the group's cycle when it is not a SoloCycle (the shuttle): stops the board's
     * part of it at a power cut. */
    cycleOff: (() => void) | null = null
    up = false
    boots = 0
    powerCuts = 0
    /** Called when the board is up after a boot. */
    onUp: (() => void) | null = null
    /** The board was replaced by one with a blank flash, which restores its image from the
     * remote at its boots until the restore has ended. */
    restoring = false
    /** Lost for good, until a new board takes its place (boots do nothing meanwhile). */
    heldOff = false
    /** Counts the boots scheduled at power cuts: one of an earlier count is called off. */
    bootSerial = 0
    /** When the board went off at its last power cut, and when it is to boot again (virtual
     * ms). */
    offSince = 0
    offUntil = 0
    /** The newest seq its board had when it went off (0: none), and the remote's applied seq
     * then. */
    seqAtOff = 0
    appliedAtOff = 0
    /** The firmware of the board's boot (restoring or replicating). */
    fw: PrimaryFirmware | null = null
    constructor(
        public member: number,
        public address: number,
        public chip: SpiNorChip,
        public wire: UartWire
    ) {}
}

export class SimRemote {
    clock: BoardClock | null = null
    store: BlockStore | null = null
    board: RemoteBoard | null = null
    channels: RemoteChannel[] = []
    links: PoweredLink[] = []
    up = false
    boots = 0
    powerCuts = 0
    onUp: (() => void) | null = null
    constructor(public chip: SpiNorChip) {}
}

export class SimGroup {
    readonly primaries: SimPrimary[] = []
    readonly remote: SimRemote
    readonly wires: UartWire[] = []
    /** Makes a primary of a group of two or more a group member (its shuttle on the I2C bus
     * model): set by host-sim/shuttleGroup.ts. */
    joinMember: ((p: SimPrimary, fw: PrimaryFirmware) => void) | null = null
    /** Called at a primary's power cut, for the cycle's hardware (the bus model). */
    cyclePowerCut: ((p: SimPrimary) => void) | null = null
    readonly rng: Prng
    /** Called after every apply on the remote with the seq and the portions it made visible. */
    onApplied: ((seq: number, portions: number) => void) | null = null
    onStaged: ((member: number, lba: number, seq: number, data: Buffer) => void) | null = null
    /** Called when the remote begins a member's restore (it discarded what was staged above
     * `applied`). */
    onRestoreBegun: ((member: number, applied: number) => void) | null = null
    /** Called when a primary's restore has ended, with the applied seq its image is of. */
    onRestored: ((p: SimPrimary, applied: number) => void) | null = null
    /** Problems the boards reported while booting (flash errors and the like). */
    bootErrors: string[] = []
    /** Called at every power cut, with the primary (null: the remote) and its time off. */
    onPowerCut: ((p: SimPrimary | null, offMs: number, replaced: boolean) => void) | null = null
    /** The sealed link (docs/FORMAT-link.md §11): a new sealing layer for each boot of a
     * member's primary, and of the remote's link of the member; null: the links are not sealed.
     * Set by the simulator (its key set and cipher are Node's). */
    primarySealOf: ((member: number) => LinkSeal) | null = null
    remoteSealOf: ((member: number) => FrameSealer & RemoteSealer) | null = null
    /** Where a board's firmware reaches its end of member `member`'s wire (default: the wire's
     * end itself); the simulator's adversary listens and talks there. */
    linkOf: ((member: number, remote: boolean, end: Link) => Link) | null = null

    constructor(
        public kernel: SimKernel,
        public opts: GroupOptions
    ) {
        this.rng = new Prng(opts.seed)
        for (let b = 0; b < opts.boards; b++) {
            const wire = new UartWire(kernel, this.rng.fork(100 + b), {
                baud: opts.baud,
                txFifoBytes: opts.txFifoBytes,
                propagationMs: 0.05,
            })
            this.wires.push(wire)
            const chip = new SpiNorChip(kernel, { capacity: opts.flashBytes, slabs: Buffer.allocUnsafe })
            this.primaries.push(new SimPrimary(b, 0x10 + b, chip, wire))
        }
        // the remote holds every member's blocks
        this.remote = new SimRemote(new SpiNorChip(kernel, { capacity: this.remoteFlashBytes(), slabs: Buffer.allocUnsafe }))
    }

    remoteFlashBytes(): number {
        return this.opts.remoteFlashBytes > 0 ? this.opts.remoteFlashBytes : this.opts.flashBytes * this.opts.boards
    }

    start(): void {
        this.bootRemote()
        for (let b = 0; b < this.primaries.length; b++) this.bootPrimary(this.primaries[b])
    }

    channelConfig(remote: boolean): ChannelConfig {
        const c = defaultChannelConfig()
        c.maxPayload = this.opts.maxPayload
        if (remote) {
            c.keepaliveMs = 0
            c.txWindow = 4
        } else c.rxWindow = 4
        const err = checkChannelConfig(c)
        if (err !== null) throw new Error("link config: " + err)
        return c
    }

    members(): number[] {
        const out: number[] = []
        for (let i = 0; i < this.primaries.length; i++) out.push(this.primaries[i].address)
        return out
    }

    /** A board's flash for this boot: the chip's fast face, or the driver over its bus. */
    private flashOf(chip: SpiNorChip, clock: Clock, capacity: number): SpiNorFlash | FastNorFlash {
        return this.opts.commandLevelFlash ? new SpiNorFlash(chip.boardBus(), clock, { capacity }) : chip.boardFlash(clock, { capacity })
    }

    /** The configuration a primary of this group boots with, as a board's devicescript.json
     * would give it. */
    primaryConfig(): SeqmirrorConfig {
        const o = this.opts
        const members: MemberConfig[] = []
        for (let i = 0; i < this.primaries.length; i++) members.push({ name: "primary-" + i, address: this.primaries[i].address })
        return {
            board: { role: "primary", member: "primary-0", pins: { sck: 0, mosi: 0, miso: 0, cs: 0, sda: 0, scl: 0 }, spiHz: 0 },
            group: {
                id: GROUP_ID,
                mode: o.mode === AckMode.None ? "none" : "consistent",
                busBitRate: o.busBitRate,
                minCycleMs: o.minCycleMs,
                maxClosedSeqs: o.maxClosedSeqs,
                rpoTargetMs: o.rpoTargetMs,
                verifyEveryMs: o.verifyEveryMs,
                suspendAfterMs: o.suspendAfterMs,
                historyShare: o.historyShare,
                congestion: o.congestion === Congestion.Block ? "block" : "pull-ahead",
                maxHistorySeqs: o.maxHistorySeqs,
                maxWritesWaiting: o.maxWritesWaiting,
                members: members,
            },
            link: { baud: o.baud, remoteHost: "", remotePort: 0 },
            store: { blockSize: o.blockSize, auxRingBytes: o.auxRingBytes, flashBytes: o.flashBytes },
        }
    }

    /** Boots a primary: its firmware (firmware/boot/primaryFirmware.ts, and for a group of two
     * or more firmware/boot/groupMember.ts through `joinMember`) on the board's models, with
     * the simulator's block store (its test faces) and the scenario's lbas and channel. */
    bootPrimary(p: SimPrimary): void {
        // lost until a new board comes (a disaster): a boot scheduled before stays off
        if (p.heldOff) return
        const self = this
        const o = this.opts
        const clock = new BoardClock(this.kernel)
        p.clock = clock
        p.boots++
        p.chip.powerOn(this.kernel)
        const flash = this.flashOf(p.chip, clock, o.flashBytes)
        flash.init((err) => {
            if (err !== 0) {
                self.bootErrors.push("primary " + p.member + ": flash init error " + err)
                return
            }
            const store = new BlockStore(flash, clock, { role: StoreRole.Primary, blockSize: o.blockSize, queueDepth: o.storeQueueDepth })
            p.store = store
            const link = new PoweredLink(self.linkOf ? self.linkOf(p.member, false, p.wire.a) : p.wire.a)
            p.link = link
            // the board's random numbers, from the first draw on
            let rng: Prng | null = null
            const random = () => {
                if (rng === null) rng = self.rng.fork(200 + p.member * 16 + p.boots)
                return rng.float()
            }
            let lastLine = ""
            const fw = new PrimaryFirmware(self.primaryConfig(), p.member, clock, link, random, (line) => (lastLine = line), flash, store)
            fw.lbaCount = o.lbaCount
            fw.maxLbasPerSeq = o.lbaCount
            fw.channelConfig = self.channelConfig(false)
            if (self.primarySealOf) fw.sealer = self.primarySealOf(p.member)
            // every simulated board can restore; one put in place of a lost one does
            fw.restorer = restoreFirst
            if (p.restoring) fw.restore = true
            // the board replicates: its parts are the simulator's, and a restore that ended
            // (`applied`: the seq its image is of) is told first
            const replicating = (applied: number) => {
                p.channel = fw.channel
                p.board = fw.board
                p.solo = fw.cycle
                if (p.restoring) {
                    p.restoring = false
                    if (self.onRestored) self.onRestored(p, applied)
                }
                if (p.onUp) p.onUp()
            }
            fw.onRestored = replicating
            if (self.joinMember) self.joinMember(p, fw)
            p.fw = fw
            fw.start((ok) => {
                if (!ok) {
                    self.bootErrors.push("primary " + p.member + ": " + lastLine)
                    return
                }
                p.channel = fw.channel
                p.up = true
                // a board restoring replicates (and is up for its app) once its image is back; one
                // whose restore had ended, all but for this boot to hear of it, replicates now
                if (fw.board) replicating(fw.store.confirmedSeq())
            })
        })
    }

    bootRemote(): void {
        const self = this
        const r = this.remote
        const clock = new BoardClock(this.kernel)
        r.clock = clock
        r.boots++
        r.chip.powerOn(this.kernel)
        const flash = this.flashOf(r.chip, clock, this.remoteFlashBytes())
        flash.init((err) => {
            if (err !== 0) {
                self.bootErrors.push("remote: flash init error " + err)
                return
            }
            const opts = {
                members: self.primaries.length,
                blockSize: self.opts.blockSize,
                queueDepth: self.opts.storeQueueDepth,
                channel: self.channelConfig(true),
            }
            r.channels = []
            r.links = []
            const fw = new RemoteFirmware(
                opts,
                clock,
                flash,
                (b) => {
                    const end = self.wires[b].b
                    const link = new PoweredLink(self.linkOf ? self.linkOf(b, true, end) : end)
                    r.links.push(link)
                    return link
                },
                (b) => {
                    const rng = self.rng.fork(300 + b * 16 + r.boots)
                    return () => rng.float()
                },
                self.remoteSealOf
            )
            r.store = fw.store
            fw.start((err2) => {
                if (err2 !== 0) {
                    self.bootErrors.push("remote: mount error " + err2)
                    return
                }
                self.remoteUp(r, fw.channels, fw.board as RemoteBoard)
            })
        })
    }

    private remoteUp(r: SimRemote, channels: RemoteChannel[], board: RemoteBoard): void {
        const self = this
        r.channels = channels
        r.board = board
        board.onApplied = (seq, m) => {
            if (self.onApplied) self.onApplied(seq, m.totalPortions())
        }
        board.onStaged = (m, lba, seq, data) => {
            if (self.onStaged) self.onStaged(m, lba, seq, data)
        }
        board.onRestoreBegun = (m, applied) => {
            if (self.onRestoreBegun) self.onRestoreBegun(m, applied)
        }
        r.up = true
        if (r.onUp) r.onUp()
    }

    /** Cuts a primary's power now (during whatever flash operation is in progress) and boots
     * it again after `offMs`. */
    /** Cuts a primary's power for offMs (mode Everything: a reset, the chip finishes its operation). */
    powerCycle(p: SimPrimary, prng: Prng, offMs: number, mode: PartialMode = PartialMode.Any, replace = false): void {
        if (!p.up) return
        p.up = false
        p.powerCuts++
        if (p.board) p.seqAtOff = p.board.captureSeq()
        p.appliedAtOff = this.appliedSeq()
        p.chip.powerCut(prng, mode)
        // a new board in its place: its chip comes erased, and it restores from the remote
        if (replace) {
            p.chip.copyMemory(new SpiNorChip(this.kernel, { capacity: p.chip.capacity() }))
            p.restoring = true
        }
        if (p.clock) p.clock.powerOff()
        if (p.link) p.link.powerOff()
        if (p.cycleOff) p.cycleOff()
        if (this.cyclePowerCut) this.cyclePowerCut(p)
        p.board = null
        p.fw = null
        if (this.onPowerCut) this.onPowerCut(p, offMs, replace)
        const self = this
        const serial = ++p.bootSerial
        p.offSince = this.kernel.millis()
        p.offUntil = p.offSince + offMs
        this.kernel.setTimer(offMs, () => {
            if (serial === p.bootSerial) self.bootPrimary(p)
        })
    }

    /** A board that is off loses its flash: the new board in its place comes blank, and
     * restores from the remote at its boot. */
    loseFlash(p: SimPrimary, prng: Prng): void {
        // a boot under way stops where it is, and one scheduled never comes
        p.bootSerial++
        if (!p.up) {
            if (p.clock) p.clock.powerOff()
            p.chip.powerCut(prng)
        }
        p.chip.copyMemory(new SpiNorChip(this.kernel, { capacity: p.chip.capacity() }))
        p.restoring = true
        p.heldOff = true
    }

    /** Cuts the remote's power for offMs; with `replace`, a new board with a blank flash
     * comes up in its place (the group must resync it in full). */
    powerCycleRemote(prng: Prng, offMs: number, replace = false): void {
        const r = this.remote
        if (!r.up) return
        r.up = false
        r.powerCuts++
        r.chip.powerCut(prng)
        // a new chip comes erased
        if (replace) r.chip.copyMemory(new SpiNorChip(this.kernel, { capacity: r.chip.capacity() }))
        if (r.clock) r.clock.powerOff()
        for (let i = 0; i < r.links.length; i++) r.links[i].powerOff()
        r.board = null
        if (this.onPowerCut) this.onPowerCut(null, offMs, replace)
        const self = this
        this.kernel.setTimer(offMs, () => self.bootRemote())
    }

    /** Reads one visible block of the remote (all members' blocks share its store). */
    readRemote(member: number, lba: number, done: (data: Buffer | null) => void): void {
        const st = this.remote.store
        if (!st || !this.remote.up) {
            done(null)
            return
        }
        st.read(member, lba, (err, data) => done(err === 0 ? data : null))
    }

    appliedSeq(): number {
        return this.remote.store && this.remote.up ? this.remote.store.appliedSeq() : 0
    }
}
