import { Manifest } from "../protocol/messages"
import { SeqTotals } from "../protocol/seqTotals"

/** A board's part in keeping S during a resync (ShuttleHost.holdsSeq): bits. */
export const enum Hold {
    None = 0,
    /** Its history is at its bound: S should stay until the resync's commit. */
    Held = 1,
    /** Its copy is under way (it ends within the capture seq, unless the seq fills). */
    Copying = 2,
}

/** Why a board cannot go on without the next seq (ShuttleHost.needsClose). */
export const enum Need {
    None = 0,
    /** Writes wait for a seq: the capture seq can take no more lbas. */
    Room = 1,
    /** It resumes after a suspension: it needs a seq after its tracked ones. */
    Resume = 2,
    /** Its copy is announced as of the capture seq, which must be final for the commit. */
    Final = 3,
}

/**
 * What the shuttle agent needs from its board (the replication pipeline's cycle side;
 * firmware/pipeline/primary.ts `PrimaryBoard` implements it).
 *
 * Contract
 * - `captureSeq()`: the seq the board stamps on new writes now. It never decreases while the
 *   board runs. After a restart it is a seq the board had adopted, or one the group has
 *   already passed (never one above every seq the group used).
 * - `hasDataToSend()`: writes were captured with the capture seq (or wait to be stamped).
 * - `mayClose()`: the minimum cycle time has passed and the bound on closed seqs waiting for
 *   transmission is not reached.
 * - `adopt(seq)`: start stamping `seq` (never below the capture seq). When `seq` is newer this
 *   closes the capture seq and returns its final totals; adopting the capture seq again
 *   closes nothing and returns zeros.
 * - `release(seq)`: every member has adopted `seq`; writes stamped with it or earlier may be
 *   acknowledged (mode "consistent"). Called with rising seqs only.
 * - `manifestFinal(m)`: the final group totals of seq m.seq (one entry per member with data,
 *   keyed by member id = index in the configured member list), to forward to the remote.
 *   Called once per seq in seq order; after a restart a manifest may come again (identical).
 * - `closedSeqs()`: totals of the closed seqs the remote has not confirmed (used to report
 *   them again into a regenerated shuttle after a restart).
 * - `isTracked(seq)`: the board suspended replication and tracks `seq`: its totals of it are
 *   TRACKED, so the remote never applies the seq alone.
 * - `visited()`: the shuttle has just taken the board's totals of every open seq.
 * - `holdsSeq()`: Hold bits: Held while its history is at its bound in a resync (no other member
 *   moves S on then, except as `needsClose` allows), Copying while its copy is under way.
 * - `needsClose()`: why the board cannot go on without the next seq (Need), which lets it move
 *   S on past other members' holds: always for Room; for Resume unless a copy is under way at
 *   a hold (it ends within its seq); for Final once no copy is under way at all (the remote
 *   commits once every copy is announced, at the first final seq after them all).
 */
export interface ShuttleHost {
    captureSeq(): number
    hasDataToSend(): boolean
    mayClose(): boolean
    adopt(seq: number): SeqTotals
    release(seq: number): void
    manifestFinal(m: Manifest): void
    closedSeqs(): SeqTotals[]
    isTracked(seq: number): boolean
    visited(): void
    holdsSeq(): number
    needsClose(): Need
    /** A fresh board's first seq (ShuttleOptions.fresh) takes the place of its placeholder
     * capture seq; then `adopt(seq)` follows. */
    reseat?(seq: number): void
}

/**
 * What a member keeps across restarts (the board stores it, e.g. as store metadata). After a
 * restart the board passes back a state whose epoch is at least the last one saved and whose
 * seq is at least the highest seq adopted.
 */
export class ShuttleState {
    constructor(
        /** Newest shuttle epoch seen (16-bit). */
        public epoch: number,
        /** Address of the member that generated that epoch's shuttle. */
        public origin: number,
        /** Highest seq this member adopted. */
        public seq: number,
        /** Bit per member id: members evicted from the group, for good. */
        public evicted: number,
        /** The newest seq this board knows is final for sure: the remote confirmed it as
         * applied, or its final manifest is kept on the board's flash (the board reads it at
         * boot; the agent does not save it). */
        public confirmed: number
    ) {}
}

export interface ShuttleOptions {
    /** Group id carried in every frame; frames of another group are dropped. */
    group: number
    /** The group's member addresses in configuration order: a member's id is its index. 2..8
     * members; this board's address (the bus endpoint's) must be one of them. */
    members: number[]
    /** Pause at the lap's first member before passing on a shuttle that found nothing to do
     * during a whole lap, so an idle group does not keep the bus busy (default 20 ms). */
    idlePauseMs?: number
    /** Bound of the idle pause while the group is quiet: after a lap in which no member did
     * anything or had data to send, the pause doubles, from `idlePauseMs` up to this (default
     * 100 ms). Keep it at most the group's minimum cycle time (`minCycleMs`): the first seq
     * after a quiet spell then closes within one cycle time and two laps of its first write. */
    idlePauseMaxMs?: number
    /** Time without a visit after which the shuttle is taken as lost. Default: 3 × the
     * estimated lap time at the bus rate for the group's size, plus the idle pause. Members
     * wait one more estimated lap per rank, so the lowest live member regenerates first. Every
     * member but the lap's first waits the idle pause's growth (`idlePauseMaxMs` -
     * `idlePauseMs`) more: the lap's first member may pause that much longer between two of
     * their visits (its own pause comes before it passes the shuttle on, so not in its wait). */
    lapTimeoutMs?: number
    /** Hand-overs tried again after a NACK before the next member is marked absent (default 1). */
    handoverRetries?: number
    /** Allowance per hop for a board's own latency, in the lap time estimate (default 1 ms). */
    hopSlackMs?: number
    /** State kept across restarts, or null for a board that never ran in this group. */
    restored?: ShuttleState | null
    /** The board holds no seq at all (a blank flash, or restored from a remote that had heard of
     * none; with `restored` null): its capture seq is a placeholder. The member takes the first
     * shuttle's S whatever it is, never raises S to the placeholder, and makes a shuttle only
     * after every member that holds seqs would have (a group of fresh boards is a new group). */
    fresh?: boolean
    /** Saves the state; called when the epoch, the adopted seq or the evicted set changes. */
    persist?: (state: ShuttleState) => void
}

export class ShuttleCounters {
    /** Shuttle visits processed (frames received and regenerated). */
    visits = 0
    /** Laps completed, counted by the member that starts each lap. */
    laps = 0
    /** Times this member moved S to S+1. */
    increments = 0
    /** Times this member raised S to its own capture seq (after a regeneration). */
    raises = 0
    regenerations = 0
    releasesSent = 0
    releasesHeard = 0
    /** Releases ignored: for a seq this member has not adopted. */
    releasesIgnored = 0
    manifestsDelivered = 0
    /** Final manifests this member never saw (it was absent while they went round). */
    manifestsMissed = 0
    handovers = 0
    handoverNacks = 0
    /** Members this member found absent (not acknowledging a hand-over). */
    absentMarked = 0
    /** Frames with a bad CRC, length or field. */
    badFrames = 0
    /** Frames of another group, or listing addresses not configured. */
    foreignFrames = 0
    /** Shuttles of an older epoch. */
    staleDropped = 0
    /** A second shuttle of the current epoch while this member held one. */
    duplicateDropped = 0
    /** Shuttles whose S is more than one away from this member's seq (never so when all is
     * well: S stays within one of every member's seq), dropped unless they keep coming. */
    implausibleDropped = 0
    /** Shuttles that list a member this member knows is evicted, or that lack this member. */
    membershipDropped = 0
    noticesSent = 0
    /** S could not move because the shuttle's window of open seqs was full. */
    windowFull = 0
    /** Idle pauses taken. */
    idlePauses = 0
    /** Of those, pauses longer than `idlePauseMs`: the group was quiet for more than a lap. */
    longPauses = 0
}
