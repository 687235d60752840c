import { seqAfter, seqDiff, seqNext } from "../seq"
import {
    compareEpoch,
    decodeEvicted,
    decodeRelease,
    decodeShuttle,
    FLAG_ADMIT,
    FLAG_BUSY,
    FLAG_DATA,
    FLAG_RAISED,
    FrameError,
    FrameType,
    MAX_MEMBERS,
    ShuttleFrame,
} from "./frames"
import { Hold, Need } from "./host"
import { ShuttleRelay } from "./relay"
import { growWindow, isLapFirst, removeMember, trimDelivered } from "./window"

/**
 * One member's part in the shuttle protocol (docs/DESIGN.md, "The shuttle: one token decides";
 * docs/FORMAT-shuttle.md). Event-driven: frames from the group bus, timers from the clock.
 * What the member knows is in ShuttleMember (firmware/shuttle/member.ts), how it passes the
 * shuttle on and regenerates a lost one in ShuttleRelay (firmware/shuttle/relay.ts); here are
 * the frames it receives and the visit.
 *
 * At each visit the member
 *  1. delivers the final manifests it has not seen to its board (and drops them from the
 *     shuttle once every member has them);
 *  2. applies a pending operator eviction;
 *  3. raises S to its capture seq if it is ahead (only after a regeneration);
 *  4. if it had adopted S before this visit, every member has adopted S, it has data and may
 *     close, and no other member holds S open: moves S to S+1 — with no data anywhere S never
 *     moves;
 *  5. adopts S, which closes its previous seq, writes the totals of every open seq it has
 *     closed into the shuttle (its running totals), and sets or clears its bits of held and
 *     copying;
 *  6. when every member has now adopted S: the manifests up to S-1 are final, S is released,
 *     and this member sends the release as a general call;
 *  7. passes the shuttle to the next member in address order, skipping (and marking absent)
 *     members that do not acknowledge.
 */
export class ShuttleAgent extends ShuttleRelay {
    /** Duration of the last lap, measured by the member that starts laps (ms), or -1. */
    lastLapMs = -1

    private scratch = new ShuttleFrame()
    private lapStartMs = -1
    private implausibleSeq = 0
    private implausibleCount = 0
    /** The last idle pause this member took as the lap's first member, while the group stays
     * quiet (0: the last lap it started was not quiet, or it was not the lap's first member). */
    private quietPauseMs = 0

    // ---- public

    /** Starts taking part: the lowest member creates the first shuttle if none comes. */
    start(): void {
        if (this.running) return
        this.listening = this.selfEvicted
        if (this.selfEvicted) return
        this.running = true
        // a new board makes the first shuttle at once, in rank order; a fresh one waits for one
        this.armLapTimer(this.opts.restored || this.fresh ? -1 : this.hopSlackMs)
    }

    /** Stops for good (power off, eviction): no more timers, frames are ignored. */
    stop(): void {
        this.running = false
        this.listening = false
        this.dropHeld()
        if (this.lapTimer) this.clock.clearTimer(this.lapTimer)
        this.lapTimer = null
    }

    isRunning(): boolean {
        return this.running
    }

    /** The shuttle this member holds or last passed on (for tests and the console). */
    lastShuttle(): ShuttleFrame {
        return this.frame
    }

    // ---- frames in

    protected receive(data: Buffer, gc: boolean): void {
        if (!this.running) {
            // an evicted board listens for the shuttle that admits it again
            if (this.listening && !gc && data.length > 0 && data[0] === FrameType.Shuttle) this.onShuttle(data)
            return
        }
        if (data.length < 1) {
            this.counters.badFrames++
            return
        }
        const t = data[0]
        if (t === FrameType.Shuttle && !gc) this.onShuttle(data)
        else if (t === FrameType.Release && gc) this.onRelease(data)
        else if (t === FrameType.Evicted) this.onEvictedNotice(data)
        else this.counters.badFrames++
    }

    private onShuttle(data: Buffer): void {
        const f = this.scratch
        if (decodeShuttle(data, data.length, f) !== FrameError.None) {
            this.counters.badFrames++
            return
        }
        if (f.group !== this.opts.group) {
            this.counters.foreignFrames++
            return
        }
        // membership: the frame's list must be the ring, or the ring less members evicted since,
        // or (FLAG_ADMIT) plus members admitted again
        let admits = 0
        for (let i = 0; i < f.count; i++) {
            const a = f.members[i]
            const id = this.idOf(a)
            if (id < 0) {
                this.counters.foreignFrames++
                return
            }
            if ((this.evicted & (1 << id)) !== 0 && (f.flags & FLAG_ADMIT) !== 0) admits |= 1 << id
            else if ((this.evicted & (1 << id)) !== 0) {
                this.counters.membershipDropped++
                // whoever sent it does not know: tell it (an evicted board then stops)
                this.sendNotice(f.holder, a)
                return
            }
        }
        if (f.indexOf(this.addr) < 0) {
            this.counters.membershipDropped++
            return
        }
        if (!this.running) {
            // evicted: only the shuttle that admits this board again wakes it, whatever its
            // epoch and seq (the group went on without it)
            if ((admits & (1 << this.idOf(this.addr))) === 0) return
            this.selfEvicted = false
            this.listening = false
            this.running = true
            this.hasEpoch = false
        }
        const cmp = this.hasEpoch ? compareEpoch(f.epoch, f.origin, this.epoch, this.origin) : 1
        if (cmp >= 0 && this.hasEpoch && !this.plausible(f)) return
        if (cmp < 0) {
            this.counters.staleDropped++
            return
        }
        if (this.fresh) this.seatAt(f.seq)
        // within one epoch S never goes back below a seq this member adopted from it: a frame
        // that does is an old copy, as is a second frame while this member holds one
        if (cmp === 0 && (this.holding || seqAfter(this.host.captureSeq(), f.seq))) {
            this.counters.duplicateDropped++
            return
        }
        if (cmp > 0) {
            // a newer shuttle supersedes the one this member may hold
            this.dropHeld()
            this.epoch = f.epoch
            this.origin = f.origin
            this.hasEpoch = true
            this.save()
        }
        if ((f.flags & FLAG_ADMIT) !== 0 && !this.admitFlag) this.flagAdmit(f.seq)
        if (admits !== 0) this.learnAdmitted(admits, f.seq)
        for (let i = 0; i < this.ring.length; i++) {
            const a = this.ring[i]
            if (f.indexOf(a) < 0) this.learnEvicted(a)
        }
        this.frame.copyFrom(f)
        this.visit(false)
    }

    /**
     * S is within one of this member's highest seq whenever all is well (S cannot pass the seq
     * after any member's, and a regenerated shuttle starts at its maker's). A frame far off is
     * corrupt in a way the CRC missed, or forged: dropped, so that one bad frame cannot make a
     * member jump. A shuttle with about the same S coming a third time in a row is taken anyway
     * (the live shuttle comes every lap; a board restored far behind must not lock out).
     */
    private plausible(f: ShuttleFrame): boolean {
        // a fresh member has no seq to judge S by
        if (this.fresh) return true
        const c = this.host.captureSeq()
        const ref = seqAfter(this.highestSeq, c) ? this.highestSeq : c
        const d = seqDiff(f.seq, ref)
        if (d <= 1 && d >= -1) {
            this.implausibleCount = 0
            return true
        }
        // counted by S, not by epoch: after a whole group restarted, members far apart each
        // regenerate in turn, so the shuttles that keep coming have new epochs but about one S
        const e = seqDiff(f.seq, this.implausibleSeq)
        if (this.implausibleCount > 0 && e <= 1 && e >= -1) this.implausibleCount++
        else {
            this.implausibleSeq = f.seq
            this.implausibleCount = 1
        }
        if (this.implausibleCount >= 3) {
            this.implausibleCount = 0
            return true
        }
        this.counters.implausibleDropped++
        return false
    }

    private onRelease(data: Buffer): void {
        const r = this.rel
        if (decodeRelease(data, data.length, r) !== FrameError.None) {
            this.counters.badFrames++
            return
        }
        if (r.group !== this.opts.group) {
            this.counters.foreignFrames++
            return
        }
        // "every member adopted r" stays true once true, whatever the epoch; but it cannot be
        // true of a seq this member has not adopted
        if (!this.adoptedOnce || seqAfter(r.seq, this.host.captureSeq())) {
            this.counters.releasesIgnored++
            return
        }
        this.counters.releasesHeard++
        this.raiseReleased(r.seq)
        // the final manifests it carries, for seqs r.seq-count .. r.seq-1; only for the same
        // member set as this member's (else the shuttle brings them)
        let mask = 0
        for (let i = 0; i < this.ring.length; i++) mask |= 1 << this.idOf(this.ring[i])
        if (r.count === 0 || r.memberMask !== mask) return
        for (let w = 0; w < r.count; w++) {
            const s = (r.seq - r.count + w) >>> 0
            if (!seqAfter(s, this.lastDelivered)) continue
            if (seqDiff(s, this.lastDelivered) > 1) this.counters.manifestsMissed += seqDiff(s, this.lastDelivered) - 1
            for (let id = 0; id < MAX_MEMBERS; id++) {
                this.byIdP[id] = r.portions[w * 8 + id]
                this.byIdB[id] = r.bytes[w * 8 + id]
            }
            this.deliverOne(s)
            this.lastDelivered = s
            if (seqAfter(s, this.lastFinal)) this.lastFinal = s
        }
    }

    private onEvictedNotice(data: Buffer): void {
        const e = this.ev
        if (decodeEvicted(data, data.length, e) !== FrameError.None) {
            this.counters.badFrames++
            return
        }
        if (e.group !== this.opts.group || this.ring.indexOf(e.sender) < 0 || this.idOf(e.target) < 0) {
            this.counters.foreignFrames++
            return
        }
        if (e.target === this.addr) {
            this.evicted |= 1 << this.idOf(this.addr)
            this.selfEvicted = true
            this.save()
            this.stop()
            this.listening = true
            if (this.onEvicted) this.onEvicted(this.addr, true, this.highestSeq)
            return
        }
        if (this.ring.indexOf(e.target) >= 0 && this.ring.length > 2) this.learnEvicted(e.target)
    }

    // ---- the visit

    protected visit(again: boolean): void {
        const f = this.frame
        if (!again) this.counters.visits++
        this.holding = true
        this.holdToken++
        if (this.lapTimer) this.clock.clearTimer(this.lapTimer)
        this.lapTimer = null

        let me = f.indexOf(this.addr)
        // this member was skipped (marked absent) since it last passed the shuttle on: another
        // member was the lap's first meanwhile
        const skipped = (f.absent & (1 << me)) !== 0
        f.absent &= ~(1 << me)
        const wasBusy = (f.flags & FLAG_BUSY) !== 0
        const hadData = (f.flags & FLAG_DATA) !== 0
        const anchor = isLapFirst(f, me)
        if (!again) this.arrive(anchor, skipped)
        let acted = false

        // 1. final manifests
        if (this.takeFinals()) acted = true
        // 2. operator eviction and admission
        if (this.changeMembers()) {
            acted = true
            me = f.indexOf(this.addr)
        }
        const seqOnArrival = f.seq
        const fullOnArrival = f.adopted === f.allMask()
        const c = this.host.captureSeq()
        // 3. raise S to this member's capture seq
        const raised = this.raiseToCapture(me, c)
        if (raised === Raise.Gone) return
        if (raised === Raise.Raised) acted = true
        // 4. the seq update
        if (this.moveOn(me, c)) acted = true
        // 5. adopt S, and the running totals
        if (this.adopt(me, c)) acted = true
        // 6. release and final manifests
        if (this.release(me, seqOnArrival, fullOnArrival)) acted = true

        this.markFrame(acted)
        // 7. pass it on
        this.passOn(me, anchor && !again, !wasBusy && !acted, hadData)
    }

    /** A new visit: the lap's bookkeeping, measured by its first member. */
    private arrive(anchor: boolean, skipped: boolean): void {
        const f = this.frame
        this.visitFirst = anchor
        // the pause grows only over laps this member started one after the other: a member
        // that becomes the lap's first member (or is again, after others were) starts from
        // the base pause, which every member's timeout covers
        if (!anchor || skipped || !this.passedFirst) this.quietPauseMs = 0
        if (anchor) {
            const now = this.clock.millis()
            if (this.lapStartMs >= 0) {
                this.lastLapMs = now - this.lapStartMs
                this.counters.laps++
            }
            this.lapStartMs = now
            f.flags &= ~(FLAG_BUSY | FLAG_DATA)
        }
    }

    /** Step 1: what this member knows is final is final in the shuttle too (a regenerated
     * shuttle may reopen seqs its maker had not seen final); it delivers the final manifests
     * it has not delivered, and drops those every member has delivered. True when it did
     * anything. */
    private takeFinals(): boolean {
        const f = this.frame
        let acted = false
        if (this.restoreKeptFinals()) acted = true
        if (this.deliverFinals()) acted = true
        let evicting = 0
        for (let k = 0; k < this.pendingEvict.length; k++) {
            const i = f.indexOf(this.pendingEvict[k])
            if (i >= 0) evicting |= 1 << i
        }
        trimDelivered(f, evicting)
        return acted
    }

    /** Step 2: the operator's evictions, once every other member has the final manifests of
     * the window (removing a member's totals from a final manifest would change it), and
     * admissions (pending until the admitted member adopts). True when the list changed. */
    private changeMembers(): boolean {
        const f = this.frame
        let changed = false
        if (this.pendingEvict.length > 0 && f.finalLag === f.windowLen) {
            // learnEvicted takes each from the pending list: the loop walks what was pending
            const pending = this.pendingEvict
            for (let k = 0; k < pending.length; k++) {
                const a = pending[k]
                const i = f.indexOf(a)
                if (i >= 0 && f.count > 2) {
                    removeMember(f, i)
                    this.learnEvicted(a)
                    // tell every member at once (the evicted one stops), so that no member
                    // accepts a shuttle the evicted one might still make with its old view
                    this.sendNotice(0, a)
                    changed = true
                }
            }
            this.pendingEvict = []
        }
        if (this.pendingAdmit.length > 0 && this.admitPending(f)) changed = true
        return changed
    }

    /** Step 3: raises S to this member's capture seq `c` when it is ahead (a regenerated
     * shuttle starts at its regenerator's seq; a member may have adopted S+1 from the lost
     * one). When the window has no room, the shuttle leaves this visit (Raise.Gone). */
    private raiseToCapture(me: number, c: number): Raise {
        const f = this.frame
        if (!seqAfter(c, f.seq)) return Raise.No
        // a fresh member's capture seq is a placeholder, not a seq of the group's
        if (this.fresh) return Raise.No
        if (!growWindow(f, seqDiff(c, f.seq))) {
            this.counters.windowFull++
            if ((f.adopted | (1 << me)) === f.allMask() && f.finalLag > 0) {
                // every other member adopted S and this one is past it, so every seq of the
                // window is closed everywhere: make them final now, and the window moves on
                // once the members have delivered them (after a whole group restarted, the
                // window reopens every seq the remote had not confirmed, and may be full)
                this.finalizeWindow(me)
                f.flags |= FLAG_BUSY
                this.handOver(me, me, 0)
                return Raise.Gone
            }
            // a member behind S has not taken it yet: this shuttle cannot go on here, and a
            // shuttle regenerated below this member's seq would stop here again, so this
            // member makes the next one, at its own seq
            this.regenerate()
            return Raise.Gone
        }
        f.seq = c
        f.adopted = 0
        // a restarted member's capture seq is one it never adopted (the seq after the newest
        // on its flash): S-1 was not adopted by every member, so it is not released by this S
        if (!this.adoptedOnce) f.flags |= FLAG_RAISED
        this.counters.raises++
        return Raise.Raised
    }

    /** Step 4: moves S to S+1 when this member had adopted S before this visit (its capture
     * seq `c` is S), every member has adopted S, and it has data and may close; and no other
     * member (not absent) holds S, unless this member cannot go on without the next seq
     * (ShuttleHost.needsClose says when that overrides the holds). */
    private moveOn(me: number, c: number): boolean {
        const f = this.frame
        const hadAdopted = (f.adopted & (1 << me)) !== 0 && c === f.seq && this.adoptedOnce
        const others = ~f.absent & ~(1 << me)
        let free = (f.held & others) === 0
        if (!free) {
            const need = this.host.needsClose()
            if (need === Need.Room) free = true
            else if (need === Need.Resume) free = (f.held & f.copying & others) === 0
            else if (need === Need.Final) free = (f.copying & others) === 0
        }
        if (hadAdopted && free && f.adopted === f.allMask() && this.host.hasDataToSend() && this.host.mayClose()) {
            if (growWindow(f, 1)) {
                f.seq = seqNext(f.seq)
                f.adopted = 0
                f.flags &= ~FLAG_RAISED
                this.counters.increments++
                return true
            } else this.counters.windowFull++
        }
        return false
    }

    /** Step 5: adopts S, which closes the capture seq `c`, and writes this member's totals of
     * every open (not final) seq of the window. True when it adopted a seq. */
    private adopt(me: number, c: number): boolean {
        const f = this.frame
        let adopted = false
        if (!this.adoptedOnce || c !== f.seq) {
            // invariant 1: a capture seq never decreases (a fresh board's placeholder is none)
            if (this.fresh) {
                if (this.host.reseat) this.host.reseat(f.seq)
                this.fresh = false
            } else if (seqAfter(c, f.seq)) throw new Error("shuttle would lower the capture seq")
            const t = this.host.adopt(f.seq)
            if (this.host.captureSeq() !== f.seq) throw new Error("board did not adopt the shuttle's seq")
            if (c !== f.seq) this.closed.remember(c, t.portions, t.bytes)
            this.adoptedOnce = true
            if (seqAfter(f.seq, this.highestSeq)) this.highestSeq = f.seq
            this.save()
            adopted = true
        }
        f.adopted |= 1 << me
        const hold = this.host.holdsSeq()
        f.held &= ~(1 << me)
        f.copying &= ~(1 << me)
        if (hold & Hold.Held) f.held |= 1 << me
        if (hold & Hold.Copying) f.copying |= 1 << me
        this.writeTotals(me)
        this.host.visited()
        return adopted
    }

    /** Step 6: releases S-1 (unless S was raised), and when every member has now adopted S,
     * releases S, makes the window's open seqs final and sends the release, unless the
     * shuttle came with S released already. True when it made seqs final. */
    private release(me: number, seqOnArrival: number, fullOnArrival: boolean): boolean {
        const f = this.frame
        let acted = false
        if ((f.flags & FLAG_RAISED) === 0) this.raiseReleased((f.seq - 1) >>> 0)
        if (f.adopted === f.allMask()) {
            f.flags &= ~FLAG_RAISED
            this.raiseReleased(f.seq)
            if (f.finalLag > 0) {
                this.finalizeWindow(me)
                acted = true
            }
            if (!(fullOnArrival && seqOnArrival === f.seq)) this.sendRelease(f.seq)
        }
        return acted
    }

    /** The flags the shuttle carries on from this visit. */
    private markFrame(acted: boolean): void {
        const f = this.frame
        if (acted) f.flags |= FLAG_BUSY
        // data waiting for the minimum cycle time (or for the link): the lap is not quiet
        if (this.host.hasDataToSend()) f.flags |= FLAG_DATA
        // every member has taken a shuttle that lists the members admitted (S moves only when
        // every member adopted it, and nobody had adopted S when they went in): the flag has done
        if (f.adopted === f.allMask() || seqDiff(f.seq, this.admitSeq) >= 2) this.admitFlag = false
        if (this.admitFlag) f.flags |= FLAG_ADMIT
        else f.flags &= ~FLAG_ADMIT
    }

    /** Step 7: passes the shuttle on, after a pause if this member starts the lap (`first`)
     * and a whole lap found nothing to do (`idle`: no member acted since its last visit, nor
     * did it); the pause doubles with every further lap in which no member had data either
     * (up to idlePauseMaxMs). */
    private passOn(me: number, first: boolean, idle: boolean, hadData: boolean): void {
        const f = this.frame
        if (first) {
            const quiet = idle && !hadData && (f.flags & FLAG_DATA) === 0
            if (!quiet) this.quietPauseMs = 0
            else this.quietPauseMs = this.quietPauseMs > 0 ? this.quietPauseMs * 2 : this.idlePauseMs
            if (this.quietPauseMs > this.idlePauseMaxMs) this.quietPauseMs = this.idlePauseMaxMs
        }
        if (first && idle && this.idlePauseMs > 0) {
            this.counters.idlePauses++
            const ms = this.quietPauseMs > this.idlePauseMs ? this.quietPauseMs : this.idlePauseMs
            if (ms > this.idlePauseMs) this.counters.longPauses++
            this.pause(me, ms)
        } else this.handOver(me, me, 0)
    }

    /** Writes this member's totals of the open seqs of the window into it. */
    private writeTotals(me: number): void {
        const f = this.frame
        for (let w = f.windowLen - f.finalLag; w < f.windowLen; w++) {
            this.closed.find(f.windowSeq(w))
            f.portions[w * 8 + me] = this.closed.portions
            f.bytes[w * 8 + me] = this.closed.bytes
        }
    }

    /** Writes this member's totals of the open seqs of the window and makes them final. */
    private finalizeWindow(me: number): void {
        const f = this.frame
        this.writeTotals(me)
        f.finalLag = 0
        f.delivered = 0
        this.host.visited()
        this.deliverFinals()
    }
}

/** What step 3 of a visit did. */
const enum Raise {
    No = 0,
    Raised = 1,
    /** The shuttle left the visit: handed on, or given up for a regenerated one. */
    Gone = 2,
}
