// The RAM a primary board reserves at boot for a configuration (Node only): the firmware's objects
// are built as a board builds them, over the simulator's hardware models, and their memory is
// counted by walking what they hold.
import { LinkSeal } from "../../firmware/link/seal"
import { NodeCipher } from "../nodeCipher"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { boardChannelConfig, PrimaryFirmware } from "../../firmware/boot/primaryFirmware"
import { ChannelConfig, defaultChannelConfig } from "../../firmware/link/config"
import { historyRoom, PrimaryBoard } from "../../firmware/pipeline/primary"
import { joinGroup } from "../../firmware/boot/groupMember"
import { ShuttleAgent } from "../../firmware/shuttle/agent"
import { BlockStore } from "../../firmware/store/blockStore"
import { StoreRole } from "../../firmware/store/types"
import { DEFAULT_HISTORY_SEQS, DEFAULT_WRITES_WAITING, defaultConfig, SeqmirrorConfig, validateConfig } from "../../firmware/config"
import { SpiNorFlash } from "../../hal/spiNor"
import { GroupOptions } from "../group"
import { SimKernel } from "../kernel"
import { I2cBus, I2cEndpoint } from "../models/i2cBus"
import { SpiNorChip } from "../models/spiNorChip"
import { UartEnd, UartWire } from "../models/uart"
import { Prng } from "../prng"
import { PROJECT_ROOT } from "./devs"

/** Bytes counted per array element: one DeviceScript value, 8 bytes or more (an estimate;
 * object headers and fields are not counted). */
export const ARRAY_SLOT_BYTES = 8

export interface RamPart {
    part: string
    bufferBytes: number
    arraySlots: number
    /** bufferBytes + arraySlots × ARRAY_SLOT_BYTES. */
    bytes: number
}

export interface FixedRam {
    /** Where the configuration came from. */
    config: string
    auxRingBytes: number
    blockSize: number
    flashBytes: number
    linkMaxPayload: number
    txWindow: number
    rxWindow: number
    /** Distinct lbas the app may write: not in the configuration file; the simulator's default. */
    lbaCount: number
    parts: RamPart[]
    /** What the parts hold once the firmware has started. */
    totalBytes: number
    /** What the firmware holds beyond that with its history and the app's waiting writes at
     * their bounds (historyBytes): the most it ever holds is totalBytes + boundBytes. */
    boundBytes: number
    /** The history bound and the writes bound it was counted with. */
    maxHistorySeqs: number
    maxWritesWaiting: number
    /** Members of the group (a final manifest has an entry for each). */
    members: number
}

/**
 * What a primary holds, beyond its state at start, for each seq, manifest and waiting write, as
 * measured in the DeviceScript VM (test/board/historyRam.vm.test.ts builds many of each the way
 * the firmware does and probes the heap):
 * - SEQ_RECORD_BYTES: one seq record, six list entries allocated at start (historyRoom of
 *   them: seq, portions, state, first write, and what the remote's HELD named of it), which the
 *   count at start already holds;
 * - MANIFEST_BYTES: a final manifest of a group of one, kept and waiting to be sent (its
 *   encoded Buffer and an entry in each list); MANIFEST_ENTRY_BYTES more per other member;
 * - WAITING_WRITE_BYTES: an app write not yet answered, beyond its block's data (the
 *   PendingWrite, the app's callback, the block Buffer's header, a list entry).
 */
export const SEQ_RECORD_BYTES = 6 * 8
export const MANIFEST_BYTES = 48
export const MANIFEST_ENTRY_BYTES = 9
export const WAITING_WRITE_BYTES = 180

/** The bounds of a configuration (a key left out: its default). */
function boundsOf(cfg: SeqmirrorConfig): { history: number; writes: number } {
    return {
        history: cfg.group.maxHistorySeqs ? cfg.group.maxHistorySeqs : DEFAULT_HISTORY_SEQS,
        writes: cfg.group.maxWritesWaiting ? cfg.group.maxWritesWaiting : DEFAULT_WRITES_WAITING,
    }
}

/**
 * What a primary holds beyond its start with its history and the app's writes at their bounds:
 * the kept manifests (historyRoom of them, each also waiting to be sent) and the manifests still
 * to send that are kept no more (at most the bound more), and the waiting writes with their
 * blocks. The seq records are allocated at start.
 */
export function historyBytes(maxHistorySeqs: number, members: number, maxWritesWaiting: number, blockSize: number): number {
    const manifest = MANIFEST_BYTES + MANIFEST_ENTRY_BYTES * (members - 1)
    return (historyRoom(maxHistorySeqs, members) + maxHistorySeqs) * manifest + maxWritesWaiting * (blockSize + WAITING_WRITE_BYTES)
}

/** The board configuration in the project's devicescript.json, or the defaults when it is
 * missing or invalid. */
export function projectConfig(): { cfg: SeqmirrorConfig; source: string } {
    try {
        const cfg = JSON.parse(readFileSync(join(PROJECT_ROOT, "devicescript.json"), "utf8"))
        if (validateConfig(cfg).length === 0) return { cfg, source: "devicescript.json" }
    } catch (_e) {
        // fall through to the defaults
    }
    return { cfg: defaultConfig(), source: "defaults (devicescript.json missing or invalid)" }
}

/** Counts Buffers and array elements reachable from `root`, not entering `seen` objects or the
 * hardware models (which are not board RAM). */
function footprint(part: string, root: object, seen: Set<object>): RamPart {
    let bufferBytes = 0
    let arraySlots = 0
    const stack: unknown[] = [root]
    while (stack.length > 0) {
        const v = stack.pop()
        if (v === null || typeof v !== "object" || seen.has(v)) continue
        seen.add(v)
        if (Buffer.isBuffer(v)) {
            bufferBytes += v.length
            continue
        }
        if (
            v instanceof SimKernel ||
            v instanceof SpiNorChip ||
            v instanceof UartWire ||
            v instanceof UartEnd ||
            v instanceof I2cBus ||
            v instanceof I2cEndpoint ||
            v instanceof Prng
        )
            continue
        if (Array.isArray(v)) {
            arraySlots += v.length
            for (const x of v) stack.push(x)
            continue
        }
        for (const x of Object.values(v)) stack.push(x)
    }
    return { part, bufferBytes, arraySlots, bytes: bufferBytes + arraySlots * ARRAY_SLOT_BYTES }
}

/** The JEDEC driver over a powered chip model of `capacity` bytes, initialised. */
function flashReady(k: SimKernel, capacity: number): SpiNorFlash {
    const chip = new SpiNorChip(k, { capacity })
    chip.powerOn(k)
    const flash = new SpiNorFlash(chip, k, { capacity })
    let ready = false
    flash.init((err) => {
        if (err !== 0) throw new Error("RAM count: flash init error " + err)
        ready = true
    })
    while (!ready && k.step(Infinity)) continue
    return flash
}

export function measureFixedRam(): FixedRam {
    const { cfg, source } = projectConfig()
    const g = new GroupOptions()
    const k = new SimKernel()
    const flash = flashReady(k, cfg.store.flashBytes)
    const store = new BlockStore(flash, k, { role: StoreRole.Primary, blockSize: cfg.store.blockSize, queueDepth: g.storeQueueDepth })
    const wire = new UartWire(k, new Prng(1), { baud: cfg.link.baud, txFifoBytes: g.txFifoBytes, propagationMs: 0.05 })
    const cc = defaultChannelConfig()
    cc.maxPayload = g.maxPayload
    cc.rxWindow = 4
    const lines: string[] = []
    // the simulator's primary: the board's boot with the simulator's lbas, store queue and channel
    const fw = new PrimaryFirmware(
        cfg,
        0,
        k,
        wire.a,
        () => 0.5,
        (l) => lines.push(l),
        flash,
        store
    )
    fw.lbaCount = g.lbaCount
    fw.maxLbasPerSeq = g.lbaCount
    fw.channelConfig = cc
    // sealed, as every link is (docs/FORMAT-link.md §11)
    fw.sealer = new LinkSeal(new NodeCipher(), Buffer.alloc(32, 1), 0)
    const members = cfg.group.members.map((m) => m.address)
    let agent: ShuttleAgent | null = null
    // a group of one has no shuttle
    if (members.length > 1) {
        const bus = new I2cBus(k, { bitRate: cfg.group.busBitRate })
        const settings = { group: cfg.group.id, members, address: members[0], idlePauseMaxMs: cfg.group.minCycleMs }
        joinGroup(
            fw,
            () => bus.attach(members[0]),
            settings,
            (a) => (agent = a)
        )
    }
    let started: boolean | null = null
    fw.start((ok) => (started = ok))
    while (started === null && k.step(Infinity)) continue
    if (!started || fw.board === null || fw.channel === null) throw new Error("fixed RAM: the firmware did not start: " + lines.join("; "))
    // parts that others hold come first, so each part counts what it alone holds
    return counted(source, cfg, cc, g.lbaCount, fw.board, fw.channel, flash, store, agent)
}

/**
 * Counts what a primary's parts hold. Parts that others hold come first, so each part counts
 * what it alone holds; the agent (a group member's) last.
 */
function counted(
    source: string,
    cfg: SeqmirrorConfig,
    cc: ChannelConfig,
    lbaCount: number,
    board: PrimaryBoard,
    channel: object,
    flash: object,
    store: object,
    agent: object | null
): FixedRam {
    const seen = new Set<object>()
    const parts = [
        footprint("aux ring", board.ring, seen),
        footprint("link channel", channel, seen),
        footprint("flash driver", flash, seen),
        footprint("block store", store, seen),
        footprint("pipeline (rest)", board, seen),
    ]
    if (agent !== null) parts.push(footprint("shuttle agent", agent, seen))
    const b = boundsOf(cfg)
    return {
        config: source,
        auxRingBytes: cfg.store.auxRingBytes,
        blockSize: cfg.store.blockSize,
        flashBytes: cfg.store.flashBytes,
        linkMaxPayload: cc.maxPayload,
        txWindow: cc.txWindow,
        rxWindow: cc.rxWindow,
        lbaCount,
        parts,
        totalBytes: parts.reduce((n, p) => n + p.bytes, 0),
        boundBytes: historyBytes(b.history, cfg.group.members.length, b.writes, cfg.store.blockSize),
        maxHistorySeqs: b.history,
        maxWritesWaiting: b.writes,
        members: cfg.group.members.length,
    }
}

/**
 * The heap of a DeviceScript board and what the firmware may hold of it, as measured in the VM
 * (test/board/ram.vm.test.ts allocates 1 KB Buffers until the VM runs out, alone and after the
 * firmware's start):
 * - BOARD_HEAP_BYTES: what a program gets, 60 KB in 2.16.4;
 * - BOARD_RUNTIME_BYTES: what the firmware holds beyond the Buffers and array elements that
 *   boardFixedRam counts: its objects' fields, method tables, closures, fibers and timers, and
 *   the board's own drivers (boardFixedRam counts the firmware over the simulator's models).
 *   The VM measures about 22.5 to 25.5 KB more than the count (22.5 just after the start, 25.5
 *   with the history and the app's writes at their bounds; it did not grow with the
 *   configuration for any tried: store 64 to 192 KB, aux ring 1 to 8 KB, sealed link). It was
 *   2.5 KB more while the socket link kept a transmit ring and a send buffer of its own;
 * - BOARD_HEAP_MARGIN_BYTES: left free for what the firmware allocates as it runs (frames and
 *   messages in flight, the mount's sector buffer).
 * A configuration whose count exceeds the budget, heap less runtime less margin, is refused by
 * the build and by `seqmirror config check`.
 */
export const BOARD_HEAP_BYTES = 60 * 1024
export const BOARD_RUNTIME_BYTES = 24 * 1024
export const BOARD_HEAP_MARGIN_BYTES = 8 * 1024
export const BOARD_RAM_BUDGET_BYTES = BOARD_HEAP_BYTES - BOARD_RUNTIME_BYTES - BOARD_HEAP_MARGIN_BYTES

/**
 * The RAM a board's firmware holds once it has started with `cfg`: the PrimaryFirmware the board
 * builds (store mounted on a blank chip, generation recorded, channel, pipeline and cycle), over
 * the simulator's chip and a UART end as its link, counted by walking what it holds (Buffers at
 * their length, array elements at ARRAY_SLOT_BYTES). Parts: store, aux ring, link channel (with
 * its sealing layer: a board's link is sealed, docs/FORMAT-link.md §11), the rest of the
 * pipeline.
 */
export function boardFixedRam(cfg: SeqmirrorConfig): FixedRam {
    // counted replicating (a restore's own RAM, its object and 4 blocks in flight, is less)
    cfg = { ...cfg, board: { ...cfg.board, restore: false } }
    const k = new SimKernel()
    const flash = flashReady(k, cfg.store.flashBytes)
    const wire = new UartWire(k, new Prng(1), { baud: cfg.link.baud, txFifoBytes: 256, propagationMs: 0.05 })
    const member = Math.max(
        0,
        cfg.group.members.findIndex((m) => m.name === cfg.board.member)
    )
    const lines: string[] = []
    const fw = new PrimaryFirmware(
        cfg,
        member,
        k,
        wire.a,
        () => 0.5,
        (l) => lines.push(l),
        flash
    )
    fw.sealer = new LinkSeal(new NodeCipher(), Buffer.alloc(32, 1), member)
    let started: boolean | null = null
    fw.start((ok) => (started = ok))
    while (started === null && k.step(Infinity)) continue
    if (!started || fw.board === null || fw.channel === null) throw new Error("board RAM: the firmware did not start: " + lines.join("; "))
    return counted(cfg.board.member, cfg, boardChannelConfig(), fw.lbaCount, fw.board, fw.channel, flash, fw.store, null)
}

const kbOf = (bytes: number) => Math.round(bytes / 1024)
const partKb = (r: FixedRam, name: string) => kbOf(r.parts.find((p) => p.part === name)?.bytes ?? 0)

/** The line a board prints at start about its RAM (the build embeds it with the boot notes): what
 * it holds from its start, and at most, with its history and the app's waiting writes at their
 * bounds. */
export function boardRamLine(r: FixedRam): string {
    return (
        "RAM held: about " +
        kbOf(r.totalBytes + BOARD_RUNTIME_BYTES) +
        " KB of the " +
        kbOf(BOARD_HEAP_BYTES) +
        " KB heap (store " +
        partKb(r, "block store") +
        " KB, aux ring " +
        partKb(r, "aux ring") +
        " KB, link channel " +
        partKb(r, "link channel") +
        " KB, pipeline " +
        partKb(r, "pipeline (rest)") +
        " KB, objects and runtime " +
        kbOf(BOARD_RUNTIME_BYTES) +
        " KB), at most " +
        kbOf(r.totalBytes + r.boundBytes + BOARD_RUNTIME_BYTES) +
        " KB (" +
        r.maxHistorySeqs +
        " seqs of history, " +
        r.maxWritesWaiting +
        (r.maxWritesWaiting === 1 ? " write" : " writes") +
        " waiting)"
    )
}

/** Null when the most the firmware holds (from its start, with its history and the app's waiting
 * writes at their bounds) leaves the board's margin of its heap, else one line saying what to
 * change. */
export function boardRamProblem(r: FixedRam): string | null {
    if (r.totalBytes + r.boundBytes <= BOARD_RAM_BUDGET_BYTES) return null
    if (r.totalBytes > BOARD_RAM_BUDGET_BYTES)
        return (
            "store: the firmware would hold about " +
            kbOf(r.totalBytes + BOARD_RUNTIME_BYTES) +
            " KB of RAM from its start (the store " +
            partKb(r, "block store") +
            " KB, the aux ring " +
            partKb(r, "aux ring") +
            " KB), more than a board's " +
            kbOf(BOARD_HEAP_BYTES) +
            " KB heap less an " +
            kbOf(BOARD_HEAP_MARGIN_BYTES) +
            " KB margin: lower store.flashBytes " +
            "(about 5 KB of RAM per 64 KB of store with 256-byte blocks) or store.auxRingBytes"
        )
    // what 4 more seqs of history bound cost: their records (allocated at start) and manifests
    const perSeq =
        (historyRoom(8, r.members) - historyRoom(4, r.members)) * SEQ_RECORD_BYTES + historyBytes(8, r.members, 0, 0) - historyBytes(4, r.members, 0, 0)
    return (
        "group: with its history at its bound (" +
        r.maxHistorySeqs +
        " seqs) and " +
        r.maxWritesWaiting +
        (r.maxWritesWaiting === 1 ? " app write" : " app writes") +
        " waiting, the firmware would hold about " +
        kbOf(r.totalBytes + r.boundBytes + BOARD_RUNTIME_BYTES) +
        " KB of RAM, more than a board's " +
        kbOf(BOARD_HEAP_BYTES) +
        " KB heap less an " +
        kbOf(BOARD_HEAP_MARGIN_BYTES) +
        " KB margin: lower group.maxHistorySeqs (about " +
        Math.round(perSeq / 4) +
        " bytes each) or group.maxWritesWaiting (about " +
        (r.blockSize + WAITING_WRITE_BYTES) +
        " bytes each)"
    )
}
