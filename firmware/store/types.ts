/** What a block store call can fail with (0 = success). */
export const enum StoreError {
    None = 0,
    /** A call before `mount` finished, or after it failed. */
    NotMounted = 1,
    /** Bad argument: member not 0..255, lba not 0..2^24-1, data empty or longer than a block,
     * meta key not 0..31, value not a u32. Nothing was written. */
    BadArgument = 2,
    /** The call does not belong to this store's role (commit on a primary, confirm on the
     * remote, ...). */
    WrongRole = 3,
    /** The seq is at or below the horizon (the confirmed seq on a primary, the applied seq on
     * the remote): writing it would change what is already confirmed or applied. */
    SeqTooOld = 4,
    /** No space: every sector holds live or pinned data (or the reserve is all that is left).
     * On a primary, space comes back when the remote confirms seqs (`confirm`); on the remote,
     * when it applies them (`commit`) or drops staged ones (`discardAbove`). */
    Full = 5,
    /** The flash failed (timeout, no device); stats.lastFlashError has its FlashError. The
     * write may or may not be on flash (a mount will tell), as with a power cut. */
    Flash = 6,
    /** The record on flash does not match its CRC (bit rot, or a bug): the data is not returned. */
    Corrupt = 7,
    /** More calls waiting than the queue holds (`queueDepth`). */
    QueueFull = 8,
    /** The pinned or staged version asked for is no longer held (confirmed, discarded). */
    NotFound = 9,
    /** The flash holds a seqmirror store of another format version or block size: it is not
     * touched; `format` erases it. */
    IncompatibleFormat = 10,
    /** The options do not describe a usable store (see `BlockStore` constructor). */
    Config = 11,
}

export function storeErrorName(e: StoreError): string {
    // what it says of each StoreError, by its value (a table, not a switch: the board image
    // holds its strings, which cost it no bytecode)
    const names = [
        "ok",
        "not mounted",
        "bad argument",
        "wrong role",
        "seq at or below horizon",
        "store full",
        "flash error",
        "corrupt record",
        "queue full",
        "not found",
        "incompatible format",
        "bad configuration",
    ]
    const name = names[e]
    if (name !== undefined) return name
    return "error " + e
}

export const enum StoreRole {
    /** Local storage device: versions above the confirmed seq stay pinned; `read` gives the
     * newest version. */
    Primary = 0,
    /** Remote storage device: versions above the applied seq are staged; `read` gives the
     * newest version at or below the applied seq. */
    Remote = 1,
}

/** Well-known keys of the persistent metadata values (any key 0..31 may be used). */
export const enum MetaKey {
    Generation = 0,
    ShuttleEpoch = 1,
    HighestSeq = 2,
    /** The shuttle's evicted-members mask. */
    ShuttleEvicted = 3,
    /** 1 while a board admitted again owes the remote a copy of its whole image. */
    FullCopy = 4,
    /** 1 while a board restores its image from the remote (a power cut: it starts again). */
    Restore = 5,
}

export interface StoreOptions {
    role: StoreRole
    /** Bytes per block: a power of two from 16 to the flash page size (default 256). */
    blockSize?: number
    /** First sector of the flash the store uses (default 0). */
    firstSector?: number
    /** Sectors the store uses (default: the rest of the flash; at least reserveSectors + 2). */
    sectorCount?: number
    /** Calls that may wait behind the running one (default 16). */
    queueDepth?: number
    /** Free sectors that data writes may not take: garbage collection and control records
     * (commit, confirm, meta, discard) use them, so both can always proceed (default 2). */
    reserveSectors?: number
    /** Free sectors beyond the reserve that the store makes ready between calls (garbage
     * collection, one relocation at a time, and erases that reads and programs suspend), so
     * that a write seldom waits for either; and an eighth of its sectors more, where it takes
     * only victims seven eighths garbage (default 2). */
    spareSectors?: number
    /** Static wear levelling moves the coldest sector's data when the spread of erase counts
     * exceeds this (default 16). */
    wearSpread?: number
    /** CPU work per run-loop step, in bytes checked (default 512): long scans yield between
     * steps so the DeviceScript VM never runs too long. */
    stepBytes?: number
}

/** A pinned (primary) or staged (remote) version: `addr` is where its data was when listed. */
export interface PinnedEntry {
    member: number
    lba: number
    seq: number
    addr: number
}

/**
 * Counters of everything the store did and detected; the console prints them.
 * @devsWhenUsed
 */
export class StoreStats {
    writes = 0
    userBytes = 0
    reads = 0
    commits = 0
    discards = 0
    /** Bytes programmed on flash, headers, entries and relocations included. */
    flashBytesProgrammed = 0
    programs = 0
    /** Erase operations: of a sector, or (blockErases, the remote's) of a 64 KB block whose
     * other sectors held nothing, with the sector collection erased. */
    erases = 0
    blockErases = 0
    gcRuns = 0
    /** Of gcRuns, runs picked by static wear levelling. */
    gcStaticRuns = 0
    gcRelocated = 0
    /** Erases that ran behind the calls (suspended for their reads and programs). */
    erasesBehind = 0
    /** Records whose CRC failed at mount (torn and corrupted together). */
    badCrc = 0
    /** Of badCrc: the last entry written before a power cut, torn. */
    torn = 0
    /** Data slots programmed (fully or in part) whose entry never was: a cut between the two. */
    tornData = 0
    /** Of badCrc: older records that no longer match their CRC. */
    corruptedOld = 0
    /** Sectors with a header that is neither valid nor erased (torn erase, torn header,
     * foreign data): erased before reuse. */
    dirtySectors = 0
    /** Sectors whose erased area held stray bytes: closed for appends, erased by GC. */
    strayAreas = 0
    /** Records with one flipped bit (at rest or in a read), mended where they were read. */
    mended = 0
    /** Reads that found a record not matching its CRC. */
    corruptOnRead = 0
    /** Live records garbage collection found damaged and copied as they are, still failing
     * their CRC (a read of the version still says Corrupt). */
    corruptCopied = 0
    /** Calls refused for bad arguments, wrong role or an old seq. */
    refused = 0
    /** Writes refused with Full. */
    full = 0
    queueFull = 0
    /** Remote: staged versions forgotten because their member copies those blocks again. */
    stagedDropped = 0
    flashErrors = 0
    lastFlashError = 0
}

/**
 * What `mount` found.
 * @devsWhenUsed
 */
export class MountReport {
    sectors = 0
    /** Erased sectors by their header (each free once read whole, after the mount:
     * docs/FORMAT-flash.md, "Free sectors"). */
    freeSectors = 0
    /** Sectors holding records. */
    usedSectors = 0
    dirtySectors = 0
    /** Nothing but erased sectors: a blank chip (it formats itself on first use). */
    blank = false
    /** Valid entries of every type. */
    records = 0
    /** Data records that are the newest, visible, pinned or staged versions. */
    liveRecords = 0
    /** Staged versions dropped by a discard record. */
    voided = 0
    badCrc = 0
    torn = 0
    tornData = 0
    corruptedOld = 0
    /** Sectors whose erase count was unknown (never stamped); estimated. */
    unknownEraseCounts = 0
    /** Sector headers of another format version or block size (mount refuses the flash). */
    incompatible = 0
    /** The confirmed (primary) or applied (remote) seq, or 0 when none was recorded. */
    horizon = 0
    durationMs = 0
}
