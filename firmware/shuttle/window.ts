import { MAX_MEMBERS, MAX_WINDOW, ShuttleFrame } from "./frames"

// Edits of a shuttle a member holds: its window of seqs (docs/FORMAT-shuttle.md) and its list of
// members. Totals are laid out 8 per seq of the window, by the member's index in the list.

/** Makes room for k more seqs at the end of the window; false if it cannot. Final seqs
 * still going round are dropped first if needed (members that missed them count it). */
export function growWindow(f: ShuttleFrame, k: number): boolean {
    if (k < 1) return true
    if (f.windowLen + k > MAX_WINDOW) {
        const finalN = f.windowLen - f.finalLag
        const need = f.windowLen + k - MAX_WINDOW
        if (need > finalN) return false
        shiftWindow(f, need)
    }
    for (let n = 0; n < k; n++) {
        const w = f.windowLen
        for (let i = 0; i < MAX_MEMBERS; i++) {
            f.portions[w * 8 + i] = 0
            f.bytes[w * 8 + i] = 0
        }
        f.windowLen++
        f.finalLag++
    }
    return true
}

/** Drops the n oldest seqs of the window. */
export function shiftWindow(f: ShuttleFrame, n: number): void {
    for (let w = 0; w + n < f.windowLen; w++) {
        for (let i = 0; i < MAX_MEMBERS; i++) {
            f.portions[w * 8 + i] = f.portions[(w + n) * 8 + i]
            f.bytes[w * 8 + i] = f.bytes[(w + n) * 8 + i]
        }
    }
    f.windowLen -= n
    if (f.finalLag > f.windowLen) f.finalLag = f.windowLen
}

/** Drops the final seqs from the window once every member has delivered them, not
 * counting the members of `except` (by index: those about to be evicted). An absent member
 * holds them back: it cannot fall far behind, since S cannot pass the seq after its capture
 * seq. */
export function trimDelivered(f: ShuttleFrame, except: number): void {
    const finalN = f.windowLen - f.finalLag
    if (finalN === 0) return
    const need = f.allMask() & ~except
    if ((f.delivered & need) !== need) return
    shiftWindow(f, finalN)
    f.delivered = 0
}

/** Takes the member at index `idx` out of the list, with its totals and its bits. */
export function removeMember(f: ShuttleFrame, idx: number): void {
    const squeeze = (m: number) => (m & ((1 << idx) - 1)) | ((m >> (idx + 1)) << idx)
    for (let i = idx; i + 1 < f.count; i++) {
        f.members[i] = f.members[i + 1]
        for (let w = 0; w < f.windowLen; w++) {
            f.portions[w * 8 + i] = f.portions[w * 8 + i + 1]
            f.bytes[w * 8 + i] = f.bytes[w * 8 + i + 1]
        }
    }
    f.count--
    f.adopted = squeeze(f.adopted)
    f.absent = squeeze(f.absent)
    f.delivered = squeeze(f.delivered)
    f.held = squeeze(f.held)
    f.copying = squeeze(f.copying)
}

/** Puts `addr` into the list at its place with zero totals (the final seqs of the window
 * were made without it, and their manifests list only members with data: they do not
 * change), counted as having delivered them; nobody has adopted S since. */
export function insertMember(f: ShuttleFrame, addr: number): void {
    let idx = 0
    while (idx < f.count && f.members[idx] < addr) idx++
    for (let i = f.count; i >= idx; i--) {
        if (i > idx) f.members[i] = f.members[i - 1]
        for (let w = 0; w < f.windowLen; w++) {
            f.portions[w * 8 + i] = i > idx ? f.portions[w * 8 + i - 1] : 0
            f.bytes[w * 8 + i] = i > idx ? f.bytes[w * 8 + i - 1] : 0
        }
    }
    f.members[idx] = addr
    f.count++
    // a mask's bits from idx up move one place up, and the new member's bit is 0
    const spread = (m: number) => (m & ((1 << idx) - 1)) | ((m >> idx) << (idx + 1))
    f.adopted = 0
    f.absent = spread(f.absent)
    f.delivered = spread(f.delivered) | (1 << idx)
    f.held = spread(f.held)
    f.copying = spread(f.copying)
}

/** The member at index `me` is the lap's first: the first of the list not marked absent. */
export function isLapFirst(f: ShuttleFrame, me: number): boolean {
    for (let i = 0; i < f.count; i++) if ((f.absent & (1 << i)) === 0) return i === me
    return false
}
