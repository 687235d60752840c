// The RAM a primary board reserves at boot for a configuration (Node only): the firmware's objects
// are built as a board builds them, over the simulator's hardware models, and their memory is
// counted by walking what they hold.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { defaultChannelConfig } from "../../firmware/link/channel"
import { PrimaryChannel } from "../../firmware/link/primary"
import { AckMode } from "../../firmware/pipeline/primary"
import { GroupPrimaryBoard } from "../../firmware/pipeline/groupPrimary"
import { ShuttleAgent } from "../../firmware/shuttle/agent"
import { BlockStore } from "../../firmware/store/blockStore"
import { StoreRole } from "../../firmware/store/types"
import { defaultConfig, SeqmirrorConfig, validateConfig } from "../../firmware/config"
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
    totalBytes: number
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
        if (v instanceof SimKernel || v instanceof SpiNorChip || v instanceof UartWire || v instanceof UartEnd || v instanceof I2cBus || v instanceof I2cEndpoint || v instanceof Prng)
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

export function measureFixedRam(): FixedRam {
    const { cfg, source } = projectConfig()
    const g = new GroupOptions()
    const k = new SimKernel()
    const chip = new SpiNorChip(k, { capacity: cfg.store.flashBytes })
    chip.powerOn(k)
    const flash = new SpiNorFlash(chip, k, { capacity: cfg.store.flashBytes })
    let ready = false
    flash.init((err) => {
        if (err !== 0) throw new Error("fixed RAM: flash init error " + err)
        ready = true
    })
    while (!ready && k.step(Infinity)) {}
    const store = new BlockStore(flash, k, { role: StoreRole.Primary, blockSize: cfg.store.blockSize, queueDepth: g.storeQueueDepth })
    let mounted = false
    store.mount((err) => {
        if (err !== 0) throw new Error("fixed RAM: mount error " + err)
        mounted = true
    })
    while (!mounted && k.step(Infinity)) {}
    const wire = new UartWire(k, new Prng(1), { baud: cfg.link.baud, txFifoBytes: g.txFifoBytes, propagationMs: 0.05 })
    const cc = defaultChannelConfig()
    cc.maxPayload = g.maxPayload
    cc.rxWindow = 4
    const channel = new PrimaryChannel(wire.a, k, () => 0.5, cc, 1, 0)
    const board = new GroupPrimaryBoard(
        {
            member: 0,
            blockSize: cfg.store.blockSize,
            lbaCount: g.lbaCount,
            auxRingBytes: cfg.store.auxRingBytes,
            maxLbasPerSeq: g.lbaCount,
            mode: cfg.group.mode === "none" ? AckMode.None : AckMode.Consistent,
            minCycleMs: cfg.group.minCycleMs,
            maxClosedSeqs: cfg.group.maxClosedSeqs,
        },
        k,
        store,
        channel
    )
    const bus = new I2cBus(k, { bitRate: cfg.group.busBitRate })
    const members = cfg.group.members.map((m) => m.address)
    // a group of one has no shuttle
    const agent = members.length > 1 ? new ShuttleAgent(bus.attach(members[0]), k, board, { group: cfg.group.id, members }) : null
    // parts that others hold come first, so each part counts what it alone holds
    const seen = new Set<object>()
    const parts = [
        footprint("aux ring", board.ring, seen),
        footprint("link channel", channel, seen),
        footprint("flash driver", flash, seen),
        footprint("block store", store, seen),
        footprint("pipeline (rest)", board, seen),
    ]
    if (agent !== null) parts.push(footprint("shuttle agent", agent, seen))
    return {
        config: source,
        auxRingBytes: cfg.store.auxRingBytes,
        blockSize: cfg.store.blockSize,
        flashBytes: cfg.store.flashBytes,
        linkMaxPayload: cc.maxPayload,
        txWindow: cc.txWindow,
        rxWindow: cc.rxWindow,
        lbaCount: g.lbaCount,
        parts,
        totalBytes: parts.reduce((n, p) => n + p.bytes, 0),
    }
}
