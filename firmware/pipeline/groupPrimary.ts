import { seqAfter } from "../seq"
import { Manifest, Msg } from "./messages"
import { ManifestKeeperPort } from "./ports"
import { PrimaryBoard, SeqTotals } from "./primary"

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
 * - Evictions are told to the remote.
 * - A resync's copy covers seqs whose final manifests the group lost, and the remote needs
 *   nothing of this board from seqs it never held.
 * @devsWhenUsed
 */
export class GroupPrimaryBoard extends PrimaryBoard {
    /** Keeps final manifests on flash until the remote applies their seqs. */
    keeper: ManifestKeeperPort | null = null
    /** Every open seq up to this one carries TRACKED in the shuttle (0: none yet). */
    private markedThrough = 0

    /** After a boot the final manifests kept on flash come back, to be sent again. */
    protected override recovered(): void {
        const self = this
        if (this.keeper)
            this.keeper.load(
                (m) => self.keepManifest(m),
                () => self.pump()
            )
    }

    /** The final group totals of a seq: kept on flash too, and forwarded to the remote. */
    override manifestFinal(m: Manifest): void {
        this.keepManifest(m)
        if (this.keeper) this.keeper.keep(m)
        this.pump()
    }

    /** After a boot the group may still be capturing the newest recovered seq: it is reopened
     * (any other seq before the capture seq breaks invariant 1). */
    protected override adoptEarlier(seq: number): SeqTotals {
        const cur = this.current
        const last = this.seqs.length > 1 ? this.seqs[this.seqs.length - 2] : null
        if (this.adopted || !last || last.seq !== seq || cur.portions > 0)
            throw new Error("capture seq would decrease")
        this.seqs.pop()
        last.closed = false
        this.current = last
        const pins = this.store.pinned(this.opts.member, seq)
        for (let i = 0; i < pins.length; i++) this.lbasInSeq.set(pins[i].lba, 1)
        return this.adopt(seq)
    }

    /** The shuttle visited and took this board's totals of every open seq. */
    visited(): void {
        this.markedThrough = this.store.confirmedSeq()
        this.ackWaiting()
        this.watch()
    }

    protected override trackedKnown(seq: number): boolean {
        return this.markedThrough !== 0 && !seqAfter(seq, this.markedThrough)
    }

    /**
     * The group evicted `member` for good: the remote is told (now and at every new session),
     * so that it stops waiting for that member's portions of seqs finalized with its totals.
     */
    memberEvicted(member: number): void {
        for (let i = 0; i < this.evictions.length; i++) if (this.evictions[i][1] === member) return
        const m = Buffer.alloc(2)
        m[0] = Msg.Evicted
        m[1] = member
        this.evictions.push(m)
        this.pendingCtrl.push(m)
        this.pump()
    }

    /**
     * The chain of final manifests this board holds (each names the seq before it), followed
     * down from the newest: where it breaks after the copy's base, the manifest of that seq is
     * lost to this board (it was away while it went round, or the group lost it when a
     * regenerated shuttle could not carry every open seq; the other members may have dropped
     * it too), so the remote could never walk from this board's seqs to the resync's target.
     * The copy then extends to that seq and scans again (only blocks whose newest version is
     * in the seqs added are copied: the copies made so far are newer). True when it did.
     */
    protected override extendCopy(): boolean {
        const kept = this.manifestsKept
        let m: Manifest | null = null
        for (let k = 0; k < kept.length; k++) if (!m || seqAfter(kept[k].seq, m.seq)) m = kept[k]
        for (let n = 0; m && n <= kept.length; n++) {
            const prev: number = m.prevSeq
            if (!seqAfter(prev, this.resyncBase)) return false
            let found: Manifest | null = null
            for (let k = 0; k < kept.length; k++) if (kept[k].seq === prev) found = kept[k]
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
    protected override heldFrom(base: number): number {
        for (let i = 0; i < this.seqs.length; i++) {
            const st = this.seqs[i]
            if (seqAfter(st.seq, base) && (st.portions > 0 || st === this.current)) return st.seq
        }
        return seqAfter(this.current.seq, base) ? this.current.seq : (base + 1) >>> 0
    }
}
