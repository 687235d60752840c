/**
 * The options, result codes and states of a primary board's replication pipeline
 * (PrimaryBoard, firmware/pipeline/primary.ts, which exports them all again).
 */

/** Result codes of `PrimaryBoard.write` (0 = acknowledged). */
export const enum WriteError {
    None = 0,
    BadLba = 1,
    BadLength = 2,
    /** The store could not make the write durable (flash error or store full). */
    Store = 3,
    /** The board lost power before the write was durable (simulator only reports it). */
    PowerLost = 4,
    /** The board already holds its bound of writes not yet answered (`maxWritesWaiting`):
     * nothing was written; the app writes again once one of its writes is answered. */
    Busy = 5,
}

/** Writes not yet answered a board holds when its options give no bound. */
export const WRITES_WAITING = 64

/** Seq records and kept manifests a board holds when its options give no bound. */
export const HISTORY_SEQS = 256

/**
 * Seq records (and kept manifests) a board holds past a history bound of `n` while
 * acknowledgements hold, in a group of `members`, before it suspends (see `pastHold` in
 * firmware/pipeline/primaryAck.ts): a quarter of the bound, and at least two per member. A
 * resync holds the capture seq open at the bound, yet each member, this one included, may
 * still need the group to move on twice before the resync's commit frees the history: when it
 * resumes and when its copy needs its seq final. With less, members suspended in turn by those
 * moves throw their copies away, and each one's resume and final push the next past its room:
 * a group whose bound is small against its size would never finish a resync.
 */
export function historySlack(n: number, members: number): number {
    return Math.max((n + 3) >> 2, 2 * members)
}

/** Seq records (and kept manifests, and manifests to send) a board has room for with a history
 * bound of `n` in a group of `members`: the slack past the bound (historySlack), one for the
 * seq an adopt adds before the board suspends, and one to spare. */
export function historyRoom(n: number, members: number): number {
    return n + historySlack(n, members) + 2
}

/** A seq record's state: flags, and from Inflight up the writes of the seq handed to the store
 * and not finished. */
export const enum SeqFlag {
    /** Some write stamped with the seq never became durable (SEQ_DONE_SHORT's bit: the SEQ_DONE
     * of the seq carries it as it is). */
    Short = 1,
    /** Sent from the flash log rather than from the aux ring. */
    Spilled = 2,
    Closed = 4,
    /** Its portions are being handed to the link. */
    Sending = 8,
    /** Every portion and its SEQ_DONE went to the link. */
    Sent = 16,
    Inflight = 32,
}

/** Why a member suspended replication (shown on the consoles, sent to the remote). */
export const enum SuspendReason {
    None = 0,
    /** Replication history reached its bound (store share, seq records or kept manifests). */
    History = 1,
    /** A write waited longer than the suspend time: the group cannot release (a member is
     * absent or off, the congestion policy held it, the cycle stalled). */
    Stalled = 2,
    /** The link to the remote was down longer than the suspend time. */
    Link = 3,
    /** The operator accepted the loss of a damaged block (acceptDamage): the board resyncs
     * its current data without it. */
    Damage = 4,
    /** The group evicted this board: it is out of the group, and acknowledges its app's writes
     * once durable (REASON_EVICTED). */
    Evicted = 5,
    /** The group admitted this board again: it copies its whole image (REASON_ADMITTED). */
    Admitted = 6,
    /** The operator repairs what a verify found different: the board resyncs those blocks. */
    Repair = 7,
    /** The final manifests of seqs the remote needs were lost to the group (a regenerated
     * shuttle could not carry them): only a resync brings the remote past them. */
    Manifests = 8,
}

/** Reads of a durable version that fails its CRC before it counts as damaged. */
export const READ_TRIES = 3

/** What a member does when its replication history reaches its bound. */
export const enum Congestion {
    /** Suspend at once, track, and resync when the cause clears (DRBD's pull-ahead). */
    PullAhead = 0,
    /** Hold acknowledgements until the history shrinks; suspend if one waits the suspend time. */
    Block = 1,
}

export const enum AckMode {
    /** Acknowledge a write only once its seq is released by the whole group. */
    Consistent = 0,
    /** Acknowledge once durable on local flash: per-board consistency only. */
    None = 1,
}

export interface PrimaryOptions {
    /** This board's member id (its index in the group, 0..7). */
    member: number
    blockSize: number
    /** Number of lbas the app may write (0..lbaCount-1). */
    lbaCount: number
    auxRingBytes: number
    /** Distinct lbas one seq may hold; writes to more wait for the next seq. */
    maxLbasPerSeq: number
    mode: AckMode
    minCycleMs: number
    maxClosedSeqs: number
    /** Bounded-RPO pacing: while the oldest write the remote has not applied is older than
     * this, acknowledgements wait (0 or absent: off). */
    rpoTargetMs?: number
    /** Longest a paced acknowledgement waits before it goes anyway (0 or absent: as long as the
     * lag stays above the target, so the target holds for acknowledged writes). */
    rpoMaxHoldMs?: number
    /** A write that waits this long for its acknowledgement, or a link down this long, makes
     * the member suspend replication (0 or absent: never for those causes). */
    suspendAfterMs?: number
    /** A verify pass this often, ms (0 or absent: only when asked). */
    verifyEveryMs?: number
    /** Live versions the store may hold (newest blocks plus replication history) before the
     * history bound is reached (0 or absent: no bound). */
    historyLimit?: number
    /** Seq records and kept manifests in RAM before the history bound is reached (0 or
     * absent: HISTORY_SEQS). The board allocates room for more when it starts (historyRoom). */
    maxHistorySeqs?: number
    /** Members of the board's group (0 or absent: a group of one). */
    groupMembers?: number
    /** App writes the board holds before they are answered (waiting for a seq, their release
     * or pacing); more are refused with WriteError.Busy (0 or absent: WRITES_WAITING). */
    maxWritesWaiting?: number
    congestion?: Congestion
}

/** Live versions a primary's store may hold before its replication history is at its bound:
 * one per block, plus `sharePercent` of the rest of the store's records. */
export function historyLimit(capacityRecords: number, lbaCount: number, sharePercent: number): number {
    return lbaCount + Math.floor(((capacityRecords - lbaCount) * sharePercent) / 100)
}

export const enum Resync {
    Off = 0,
    /** Copying the blocks the remote lacks into new seqs. */
    Copying = 1,
    /** The copy is made and announced; waiting for the remote to apply it. */
    Done = 2,
}
