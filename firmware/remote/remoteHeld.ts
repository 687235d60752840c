import { putU32 } from "../codec/bytes"
import { crc32cUpdate } from "../codec/crc32c"
import { HELD_ENTRY, HELD_HEADER, HELD_MAX, heldShare, Msg, SEQ_DONE_HELD, SeqDone } from "../protocol/messages"
import { seqAfter } from "../seq"
import { StoreError } from "../store/types"
import type { RemoteBoard, RemoteStore } from "./remoteBoard"
import { Arrivals, HeldSeq, MemberState, resend, STAGING_RETRY_MS } from "./remoteStaging"

/*
 * What the remote holds staged whole of each member's unapplied seqs (RemoteBoard,
 * firmware/remote/remoteBoard.ts): per seq the count of the member's versions and their digest
 * (heldShare, firmware/protocol/messages.ts), named in HELD at the start of every new session,
 * so that a member sends again only the seqs the remote lacks (docs/FORMAT.md, HELD). Kept as
 * each seq's staging completes, and read back from the flash after a boot. Each function takes
 * the remote.
 */

const SHARE = Buffer.alloc(8)

/** A seq of this session is staged whole (its SEQ_DONE in, every portion staged): the remote
 * holds it, with the digest of what came. */
export function noteHeld(r: RemoteBoard, ms: MemberState, a: Arrivals): void {
    const d = a.done
    if (!d || a.staging > 0 || a.received !== d.sent) return
    ms.setHeld(a.seq, a.received, a.digest, r.maxSeqs)
}

/** A portion of this session is staged: its share of the seq's digest. */
export function addShare(a: Arrivals, lba: number, crc: number): void {
    a.digest = (a.digest + heldShare(SHARE, lba, crc)) >>> 0
}

/**
 * A SEQ_DONE with HELD: the member sent none of the seq's portions, the remote's HELD named
 * them. True when the remote still holds just those (the same count and digest), which then
 * count as this session's; otherwise the member sends every unapplied seq again (a new
 * session, without HELD records of this member), and false.
 */
export function takeHeld(r: RemoteBoard, ms: MemberState, a: Arrivals, d: SeqDone): boolean {
    if (!(d.flags & SEQ_DONE_HELD)) return true
    const h = ms.heldFor(d.seq)
    if (h && a.received === 0 && a.staging === 0 && h.count === d.sent && h.digest === d.digest && inStore(r, ms, h)) {
        a.received = d.sent
        a.bytes = d.bytes
        a.digest = d.digest
        r.seqsFoundHeld++
        return true
    }
    r.heldMismatches++
    resend(r, ms)
    return false
}

/** The store still lists as many staged versions of the member's seq as `h` counts: a
 * discard, a drop or an apply since took them (whichever did it), the seq is held no more. */
function inStore(r: RemoteBoard, ms: MemberState, h: HeldSeq): boolean {
    return !r.store.pinned || r.store.pinned(ms.member, h.seq).length === h.count
}

/** Sends the member HELD for every unapplied seq the remote holds of it, oldest first, in one
 * message at least (the member waits for one at a new session); again once the channel has
 * room, when it had none. */
export function sendHeld(r: RemoteBoard, ms: MemberState): void {
    ms.heldPending = false
    const applied = r.appliedSeq()
    const list: HeldSeq[] = []
    for (let i = 0; i < ms.held.length; i++) {
        const h = ms.held[i]
        if (!seqAfter(h.seq, applied) || !inStore(r, ms, h)) continue
        let j = list.length
        list.push(h)
        for (; j > 0 && seqAfter(list[j - 1].seq, h.seq); j--) list[j] = list[j - 1]
        list[j] = h
    }
    for (let k = 0; k === 0 || k < list.length; k += HELD_MAX) {
        let n = list.length - k
        if (n > HELD_MAX) n = HELD_MAX
        const b = Buffer.alloc(HELD_HEADER + HELD_ENTRY * n)
        b[0] = Msg.Held
        b[1] = n
        for (let j = 0; j < n; j++) {
            const h = list[k + j]
            const o = HELD_HEADER + HELD_ENTRY * j
            putU32(b, o, h.seq)
            putU32(b, o + 4, h.count)
            putU32(b, o + 8, h.digest)
        }
        if (!ms.channel.send(b)) {
            ms.heldPending = true
            return
        }
    }
}

/** Forgets the held seqs at or before `upTo` of `ms` (every member's when null): applied, or
 * dropped for a resync's copy (inStore checks what any discard left, too). */
export function forgetHeld(r: RemoteBoard, ms: MemberState | null, upTo: number): void {
    for (let i = 0; i < r.members.length; i++) {
        const m = r.members[i]
        if (ms && m !== ms) continue
        const keep: HeldSeq[] = []
        for (let j = 0; j < m.held.length; j++) if (seqAfter(m.held[j].seq, upTo)) keep.push(m.held[j])
        m.held = keep
    }
}

/**
 * After a boot: reads back every staged version, and holds each member's seqs whose versions
 * all read back whole (their count and digest), as staging them would have; then sends HELD
 * to each member whose session is up (a new session's waits for it, and the member sends no
 * seq before it). A seq some session sent meanwhile is left as it made it.
 */
export function rebuildHeld(r: RemoteBoard): void {
    if (!r.store.pinnedSeqs || !r.store.pinned || !r.store.readPinned) return
    const st = r.store as Required<RemoteStore>
    const seqs = st.pinnedSeqs()
    if (seqs.length === 0) return
    // the members' new sessions wait for it
    r.heldReady = false
    const n = r.members.length
    const count: number[] = []
    const digest: number[] = []
    const bad: boolean[] = []
    for (let i = 0; i < n; i++) {
        count.push(0)
        digest.push(0)
        bad.push(false)
    }
    let si = 0
    let list: { member: number; lba: number; seq: number }[] = []
    let li = 0
    const next = (): void => {
        while (li >= list.length) {
            if (list.length > 0) {
                const seq = list[0].seq
                for (let m = 0; m < n; m++) {
                    const ms = r.members[m]
                    if (count[m] > 0 && !bad[m] && r.unapplied(seq))
                        if (!ms.heldFor(seq) && !ms.arrivalsFor(seq, false)) ms.setHeld(seq, count[m], digest[m], r.maxSeqs)
                    count[m] = 0
                    digest[m] = 0
                    bad[m] = false
                }
            }
            if (si >= seqs.length) {
                r.heldReady = true
                for (let m = 0; m < n; m++) if (r.members[m].channel.isUp()) sendHeld(r, r.members[m])
                return
            }
            list = st.pinned(-1, seqs[si])
            si++
            li = 0
        }
        const v = list[li]
        st.readPinned(v, (err: number, data: Buffer | null) => {
            // the store is busy: the same version again shortly
            if (err === StoreError.QueueFull && r.clock) {
                r.clock.setTimer(STAGING_RETRY_MS, next)
                return
            }
            li++
            if (v.member < n) {
                if (err === 0 && data) {
                    // staged, whatever this boot knew of it (a cut may have come between its
                    // write and the staging's end): the simulator's checker learns of it here
                    if (r.onStaged) r.onStaged(v.member, v.lba, v.seq, data)
                    count[v.member]++
                    digest[v.member] = (digest[v.member] + heldShare(SHARE, v.lba, crc32cUpdate(0, data, 0, data.length))) >>> 0
                } else bad[v.member] = true
            }
            if (r.clock) r.clock.setTimer(0, next)
            else next()
        })
    }
    next()
}
