import { seqAfter } from "../seq"
import { getU32 } from "../codec/bytes"
import { encodeMembership, Manifest, Msg } from "../protocol/messages"
import { CopyOwedPort, ManifestKeeperPort } from "../protocol/ports"
import { PrimaryBoard, Resync, SeqFlag, SuspendReason } from "./primary"
import { ackWaiting, confirmStore } from "./primaryAck"
import { announceResync, keepManifest } from "./primaryResync"
import { SeqTotals } from "../protocol/seqTotals"
import { MAX_WINDOW } from "../shuttle/frames"

/**
 * A primary that is a member of a group of two or more: the pipeline of PrimaryBoard, driven by
 * its shuttle agent (firmware/shuttle/agent.ts, the board is its ShuttleHost), with what only a
 * group needs. A board that replicates alone (the DeviceScript board image) never builds one,
 * so none of this is in its image.
 *
 * - While suspended, the board acknowledges a write stamped with a tracked seq only once the
 *   shuttle has taken its totals since the seq was confirmed locally (`visited`): from then on
 *   every open seq up to it carries TRACKED, so no member's later write can land in a seq the
 *   remote applies before it (docs/FORMAT.md, "Suspend, track and resync").
 * - Evictions and admissions are told to the remote. An evicted board stays suspended and
 *   acknowledges its app's writes once durable; admitted again, it copies its whole image.
 * - A resync's copy covers seqs whose final manifests the group lost, and the remote needs
 *   nothing of this board from seqs it never held.
 * @devsWhenUsed
 */
export class GroupPrimaryBoard extends PrimaryBoard {
    /** Keeps final manifests on flash until the remote applies their seqs. */
    keeper: ManifestKeeperPort | null = null
    /** Keeps the owed copy of the whole image across restarts (null: in RAM only). */
    copyOwed: CopyOwedPort | null = null
    /** Every open seq up to this one carries TRACKED in the shuttle (when `marked`: not before
     * a visit took a confirmed seq; 0 is a seq too once the u32 seqs have wrapped). */
    private markedThrough = 0
    private marked = false
    /** The group evicted this board (it acknowledges alone until admitted again). */
    private out = false
    /** Since when the final manifest of the oldest seq the remote has not applied can no longer
     * reach this board (-1: it can, or it is here). */
    private lostSince = -1

    /** The board held no seq (ShuttleOptions.fresh): the first seq it adopts takes the place
     * of its capture seq, a placeholder no write was stamped with, wherever that seq lies from
     * it. */
    reseat(seq: number): void {
        this.seqOf[this.seqs - 1] = seq
        this.stateOf[this.seqs - 1] = 0
        // it holds nothing before seq: its image is confirmed as of the seq before (a confirmed
        // 0 is none, and past 2^31 the group's seqs lie before 0), and what it took the remote
        // to have applied, and a copy it announced (a new remote's resync), were as of the
        // placeholder: its seqs come after them
        const base = (seq - 1) >>> 0
        confirmStore(this, base, false)
        if (!seqAfter(seq, this.remoteApplied)) this.remoteApplied = (base - 0x40000000) >>> 0
        if (this.resync !== Resync.Off) {
            this.resyncBase = base
            this.resyncTo = base
            announceResync(this)
        }
    }

    /** After a boot the final manifests kept on flash come back, to be sent again. */
    protected override recovered(): void {
        // admitted again before a restart, and the copy not yet applied: it is made again
        if (this.copyOwed && this.copyOwed.owed()) this.copyAll = true
        const self = this
        if (this.keeper)
            this.keeper.load(
                (m) => keepManifest(self, m),
                () => self.pump()
            )
    }

    /** The final group totals of a seq: kept on flash too, and forwarded to the remote. */
    override manifestFinal(m: Manifest): void {
        keepManifest(this, m)
        if (this.keeper) this.keeper.keep(m)
        this.pump()
    }

    /** After a boot the group may still be capturing the newest recovered seq: it is reopened
     * (any other seq before the capture seq breaks invariant 1). */
    protected override adoptEarlier(seq: number): SeqTotals {
        const c = this.seqs - 1
        if (this.adopted || c < 1 || this.seqOf[c - 1] !== seq || this.portionsOf[c] > 0) throw new Error("capture seq would decrease")
        this.seqs--
        this.stateOf[c - 1] &= ~SeqFlag.Closed
        const pins = this.store.pinned(this.opts.member, seq)
        for (let i = 0; i < pins.length; i++) this.lbasInSeq.set(pins[i].lba, 1)
        return this.adopt(seq)
    }

    /** The shuttle visited and took this board's totals of every open seq. */
    visited(): void {
        this.marked = this.store.hasConfirmed()
        this.markedThrough = this.store.confirmedSeq()
        // the remote applied the copy of the whole image: it is owed no more
        if (!this.copyAll && this.copyOwed && this.copyOwed.owed()) this.copyOwed.set(false)
        ackWaiting(this)
        this.watch()
        this.watchLost()
    }

    /**
     * The final manifest of the oldest seq the remote has not applied comes in the shuttle's
     * window or a release, which carry the newest MAX_WINDOW seqs: once the capture seq is
     * further on, a manifest this board lacks was lost to it (a regenerated shuttle could not
     * carry it). If the remote has not applied past that seq in the suspend time, no member
     * had it to send, and the remote would wait for it for good: the board suspends, and the
     * resync brings the remote past the lost seqs (docs/FORMAT.md, "Suspend, track and resync").
     */
    private watchLost(): void {
        const now = this.clock.millis()
        const applied = this.remoteAppliedSeq()
        let lacking = false
        if (!this.suspended)
            if (this.resync === Resync.Off)
                for (let i = 0; i < this.seqs; i++) {
                    const seq = this.seqOf[i]
                    if (!(this.stateOf[i] & SeqFlag.Closed) || !seqAfter(seq, applied)) continue
                    if (seqAfter(this.captureSeq(), (seq + MAX_WINDOW + 1) >>> 0)) {
                        lacking = true
                        for (let k = 0; k < this.manifestsKept.length; k++) if (getU32(this.manifestsKept[k], 1) === seq) lacking = false
                    }
                    break
                }
        if (!lacking) {
            this.lostSince = -1
            return
        }
        if (this.lostSince < 0) this.lostSince = now
        const t = this.opts.suspendAfterMs ? this.opts.suspendAfterMs : 1000
        if (now - this.lostSince >= t) this.suspend(SuspendReason.Manifests)
    }

    override trackedKnown(seq: number): boolean {
        // out of the group, no other member's write can depend on this board's
        if (this.out) return true
        return this.marked && !seqAfter(seq, this.markedThrough)
    }

    /**
     * The group evicted `member` (at `seq`, 0 when restored at boot): the remote is told (now and
     * at every new session), so that it stops waiting for that member's portions of seqs
     * finalized with its totals.
     */
    memberEvicted(member: number, seq: number): void {
        this.tellMembership(Msg.Evicted, member, seq)
    }

    /** The group admitted `member` again at `seq`: the remote is told (now and at every new
     * session), so that it waits for that member's portions again. */
    memberAdmitted(member: number, seq: number): void {
        this.tellMembership(Msg.Admitted, member, seq)
    }

    /** The newest membership news of each member, kept to be told again at every session. */
    private tellMembership(type: number, member: number, seq: number): void {
        const kept: Buffer[] = []
        for (let i = 0; i < this.membership.length; i++) {
            const e = this.membership[i]
            if (e[1] !== member) kept.push(e)
            else if (e[0] === type) return
        }
        const m = encodeMembership(type, member, seq)
        kept.push(m)
        this.membership = kept
        this.pendingCtrl.push(m)
        this.pump()
    }

    /**
     * This board was evicted: it is out of the group. It suspends (the remote, told why, holds
     * nothing for it) and acknowledges its app's writes once durable, as a board alone would;
     * they reach the remote when the group admits it again.
     */
    leaveGroup(): void {
        this.out = true
        if (!this.suspended) return this.suspend(SuspendReason.Evicted)
        this.suspendReason = SuspendReason.Evicted
        announceResync(this)
        ackWaiting(this)
    }

    /**
     * The group admitted this board (member id `member`) again at `seq`: it tells the remote
     * first (on its own link, before anything else of this session), then copies its whole
     * image, which the remote applies with the group's next resync; until that commit the
     * remote's image of it is the one from before the eviction. The copy is owed across
     * restarts until the remote applied it.
     */
    joinGroup(member: number, seq: number): void {
        this.out = false
        this.marked = false
        this.copyAll = true
        if (this.copyOwed) this.copyOwed.set(true)
        this.memberAdmitted(member, seq)
        if (!this.suspended) return this.suspend(SuspendReason.Admitted)
        this.suspendReason = SuspendReason.Admitted
        announceResync(this)
    }

    /**
     * The chain of final manifests this board holds (each names the seq before it), followed
     * down from the newest: where it breaks after the copy's base, the manifest of that seq is
     * lost to this board (it was away while it went round, or the group lost it when a
     * regenerated shuttle could not carry every open seq; the other members may have dropped
     * it too), so the remote could never walk from this board's seqs to the resync's target.
     * The copy then extends to that seq and scans again (only blocks whose newest version is
     * in the seqs added are copied: the copies made so far are newer). True when it did. A
     * break at or before the remote's applied seq is none: the remote's walk ends there, and
     * this board drops the manifests the remote has applied (a board restored from the remote
     * extended its copy by one seq each time one was applied, and the group, its apps idle,
     * moved on a seq every lap for good).
     */
    override extendCopy(): boolean {
        const kept = this.manifestsKept
        let m: Buffer | null = null
        for (let k = 0; k < kept.length; k++) if (!m || seqAfter(getU32(kept[k], 1), getU32(m, 1))) m = kept[k]
        for (let n = 0; m && n <= kept.length; n++) {
            const prev = getU32(m, 5)
            if (!seqAfter(prev, this.resyncBase)) return false
            if (!seqAfter(prev, this.remoteApplied)) return false
            let found: Buffer | null = null
            for (let k = 0; k < kept.length; k++) if (getU32(kept[k], 1) === prev) found = kept[k]
            if (!found) {
                this.resyncBase = prev
                this.resyncLba = 0
                if (seqAfter(prev, this.resyncTo)) this.resyncTo = prev
                return true
            }
            m = found
        }
        return false
    }

    /** The first seq after `base` in which this board holds data, or its capture seq: the
     * remote needs nothing of this board from the seqs between (it was off while the group
     * used them, or wrote nothing), nor their manifests, which the group may have lost. */
    override heldFrom(base: number): number {
        const c = this.seqs - 1
        for (let i = 0; i <= c; i++) if (seqAfter(this.seqOf[i], base) && (this.portionsOf[i] > 0 || i === c)) return this.seqOf[i]
        const cur = this.seqOf[c]
        return seqAfter(cur, base) ? cur : (base + 1) >>> 0
    }
}
