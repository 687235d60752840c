// The full resync against the link's physical limit (Node only): how long a group takes to
// bring a new remote with a blank flash to a consistent image, against the time the links need
// to carry the image's bytes at their bit rate.
import { defaultSimOptions, Simulation } from "../sim"
import { Prng } from "../prng"
import { NOR_ERASE_TYP_MS, NOR_PROGRAM_FIRST_BYTE_TYP_MS, NOR_PROGRAM_TYP_MS } from "../../hal/spiNor"
import { Resync } from "../../firmware/pipeline/primary"

export interface ResyncRow {
    boards: number
    baud: number
    /** Blocks the members copied (the lbas each held), summed. */
    blocks: number
    imageBytes: number
    /** From the new remote's power-on to the first member's RESYNC: its mount of the blank
     * flash and the links' reconnection. */
    startMs: number
    /** The slowest member's copy: reading and writing every block it holds on its own flash. */
    copyMs: number
    /** The flash's datasheet time for what that member's store did during the copy: its sector
     * erases (45 ms typical) and programs (0.03 ms for the first byte, 0.7 ms for a page). */
    copyFlashMs: number
    /** From the first RESYNC to the resync's commit. */
    resyncMs: number
    /** The busiest member's copy at its link's byte rate (baud / 10): the link's limit. */
    linkMs: number
    /** linkMs / resyncMs: the share of the link's capacity the resync used. */
    efficiency: number
    /** resyncMs over the slower physical limit, the link's or the copy's flash time. */
    overLimit: number
    /** The run's verdict at the end (checker after every apply, caught up). */
    consistent: boolean
}

/** A group that wrote for `fillMs` (the simulator's workload, so each member holds part of its
 * lbas), then stopped, and whose remote caught up (20 s). */
function filledGroup(boards: number, baud: number, fillMs: number, seed: number): Simulation {
    const o = defaultSimOptions()
    o.boards = boards
    o.baud = baud
    o.seed = seed
    o.durationMs = fillMs
    const sim = new Simulation(o)
    sim.start()
    sim.kernel.run(fillMs, Number.MAX_SAFE_INTEGER)
    for (const a of sim.apps) a.stop()
    sim.kernel.run(fillMs + 20000, Number.MAX_SAFE_INTEGER)
    return sim
}

/**
 * A group writes for `fillMs` (the simulator's workload, so each member holds part of its
 * lbas), the apps stop and the remote catches up; then the remote is replaced by a new board
 * with a blank flash, and the run measures until the resync is applied.
 */
export function measureResync(boards: number, baud: number, fillMs = 30000, seed = 1): ResyncRow {
    const sim = filledGroup(boards, baud, fillMs, seed)
    const k = sim.kernel
    const offMs = 100
    const upAt = k.millis() + offMs
    const startedBefore = sim.group.primaries.map((p) => (p.board ? p.board.resyncsStarted : 0))
    sim.replaceRemote(new Prng(seed), offMs, null)
    // the resync starts at the first RESYNC: the remote's request, or a member's own copy when
    // the member saw the new remote first
    const memberStarted = () => sim.group.primaries.some((p, i) => p.board !== null && p.board.resyncsStarted > startedBefore[i])
    let startAt = -1
    let copiedAt = -1
    let flashAtStart: number[] = []
    let copyFlashMs = 0
    const flashMs = (i: number) => {
        const st = sim.group.primaries[i].store
        if (!st) return 0
        const s = st.stats
        // norProgramTypMs, summed over the programs: first-byte time each, then per byte
        const perByte = (NOR_PROGRAM_TYP_MS - NOR_PROGRAM_FIRST_BYTE_TYP_MS) / 255
        return s.erases * NOR_ERASE_TYP_MS + s.programs * NOR_PROGRAM_FIRST_BYTE_TYP_MS + (s.flashBytesProgrammed - s.programs) * perByte
    }
    let appliedAt = -1
    const deadline = upAt + 600000
    while (k.millis() < deadline && appliedAt < 0) {
        k.run(k.millis() + 1, Number.MAX_SAFE_INTEGER)
        const rb = sim.group.remote.board
        if (!rb) continue
        if (startAt < 0 && (rb.isResyncing() || memberStarted())) {
            startAt = k.millis()
            flashAtStart = sim.group.primaries.map((_p, i) => flashMs(i))
        }
        if (copiedAt < 0 && startAt >= 0 && sim.group.primaries.every((p) => p.board && p.board.resyncsStarted > 0 && p.board.resync !== Resync.Copying)) {
            copiedAt = k.millis()
            for (let i = 0; i < boards; i++) copyFlashMs = Math.max(copyFlashMs, flashMs(i) - flashAtStart[i])
        }
        if (rb.resyncsApplied > 0) appliedAt = k.millis()
    }
    let blocks = 0
    let busiest = 0
    const blockSize = sim.group.opts.blockSize
    for (const p of sim.group.primaries) {
        const n = p.board ? p.board.resyncCopied : 0
        blocks += n
        busiest = Math.max(busiest, n)
    }
    // a portion carries its block; the link's byte rate is baud / 10 (8N1)
    const linkMs = (busiest * blockSize * 10 * 1000) / baud
    const resyncMs = appliedAt < 0 ? Infinity : appliedAt - startAt
    const r = sim.finish()
    return {
        boards,
        baud,
        blocks,
        imageBytes: blocks * blockSize,
        startMs: Math.round(startAt - upAt),
        copyMs: Math.round(copiedAt - startAt),
        copyFlashMs: Math.round(copyFlashMs),
        resyncMs: Math.round(resyncMs),
        linkMs: Math.round(linkMs),
        efficiency: Math.round((linkMs / resyncMs) * 1000) / 1000,
        overLimit: Math.round((resyncMs / Math.max(linkMs, copyFlashMs)) * 1000) / 1000,
        consistent: r.consistent,
    }
}

export interface RestoreRow {
    boards: number
    baud: number
    /** Blocks the restored board took back, and their bytes. */
    blocks: number
    imageBytes: number
    /** From the new board's first RESTORE to its image's end (every lba answered and written,
     * the flag cleared). */
    restoreMs: number
    /** The blocks at the link's byte rate (baud / 10): the link's limit. */
    linkMs: number
    /** linkMs / restoreMs: the share of the link's capacity the restore used. */
    efficiency: number
    /** The run's verdict at the end (the restored image compared with the remote's, block for
     * block; checker after every apply, caught up). */
    consistent: boolean
}

/**
 * A group writes for `fillMs`, the apps stop and the remote catches up; then member 0 is lost
 * with its flash, and a new board with a blank flash takes its image back from the remote
 * (docs/FORMAT.md, "Restore"): the run measures the restore against the link's limit.
 */
export function measureRestore(boards: number, baud: number, fillMs = 30000, seed = 1): RestoreRow {
    const sim = filledGroup(boards, baud, fillMs, seed)
    const k = sim.kernel
    const p = sim.group.primaries[0]
    if (!sim.replacePrimary(0, new Prng(seed), 100)) throw new Error("bench: the primary could not be replaced")
    let startAt = -1
    let endAt = -1
    let blocks = 0
    const deadline = k.millis() + 600000
    while (k.millis() < deadline && endAt < 0) {
        k.run(k.millis() + 1, Number.MAX_SAFE_INTEGER)
        const r = p.fw ? p.fw.restoring : null
        if (r) {
            if (startAt < 0) startAt = k.millis()
            if (r.blocks !== undefined) blocks = r.blocks
        }
        if (sim.restoresDone > 0) endAt = k.millis()
    }
    const blockSize = sim.group.opts.blockSize
    const linkMs = (blocks * blockSize * 10 * 1000) / baud
    const restoreMs = endAt < 0 ? Infinity : endAt - startAt
    const r = sim.finish()
    return {
        boards,
        baud,
        blocks,
        imageBytes: blocks * blockSize,
        restoreMs: Math.round(restoreMs),
        linkMs: Math.round(linkMs),
        efficiency: Math.round((linkMs / restoreMs) * 1000) / 1000,
        consistent: r.consistent,
    }
}
