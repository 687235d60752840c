import { Clock } from "../../hal/clock"
import { seqAfter, seqAtOrBefore } from "../seq"
import { StoreError } from "../store/types"
import { decodeManifest, encodeManifest, Manifest } from "../protocol/messages"
import { ManifestKeeperPort, PinnedPortion, PipelineStore } from "../protocol/ports"

/**
 * The store member id under which a primary keeps each final manifest until the remote confirms
 * its seq: one version per seq, written with that seq, so it stays pinned exactly as long as the
 * seq's data does; a manifest longer than a block is cut into pieces at lbas 0, 1, ...
 */
export const MANIFEST_MEMBER = 255

/** What the keeper needs of the store beyond the pipeline's port. */
export interface KeeperStore extends PipelineStore {
    /** The newest seq the remote confirmed (0 before the first). */
    confirmedSeq(): number
}

/**
 * Keeps a group member's final manifests on its flash. Once the shuttle has moved on, a final
 * manifest exists only in the members' RAM and on their links until the remote applies its
 * seq; if every member that holds it loses power first, the remote could never apply that seq.
 * With the manifests on flash, a rebooted member sends them again, and its shuttle agent knows
 * which seqs are final for sure (newestFinal).
 */
export class ManifestKeeper implements ManifestKeeperPort {
    private queue: Manifest[] = []
    private buf: Buffer | null = null
    private piece = 0
    kept = 0
    recovered = 0
    /** Manifests that could not be written or read back. */
    errors = 0

    constructor(
        private store: KeeperStore,
        private clock: Clock,
        private blockSize: number
    ) {}

    /**
     * The newest seq known final for sure: the remote confirmed every seq up to it, or their
     * manifests are kept, with no gap (a power cut may take the newest manifests before they
     * reach the flash; a seq after a gap is then taken as open again).
     */
    newestFinal(): number {
        let n = this.store.confirmedSeq()
        const seqs = this.store.pinnedSeqs(MANIFEST_MEMBER)
        for (let i = 0; i < seqs.length; i++) {
            if (seqs[i] === (n + 1) >>> 0) n = seqs[i]
            else if (seqAfter(seqs[i], n)) break
        }
        return n
    }

    keep(m: Manifest): void {
        // a manifest may come again (after a restart, or when a regenerated shuttle finalizes a
        // seq again): once on flash is enough
        for (let i = 0; i < this.queue.length; i++) if (this.queue[i].seq === m.seq) return
        const seqs = this.store.pinnedSeqs(MANIFEST_MEMBER)
        for (let i = 0; i < seqs.length; i++) if (seqs[i] === m.seq) return
        this.queue.push(m)
        this.next()
    }

    private next(): void {
        if (this.buf) return
        // (a seq confirmed: 0 is one too once the u32 seqs have wrapped)
        if (this.store.hasConfirmed()) {
            const c = this.store.confirmedSeq()
            while (this.queue.length > 0 && seqAtOrBefore(this.queue[0].seq, c)) this.queue.shift()
        }
        if (this.queue.length === 0) return
        this.buf = encodeManifest(this.queue[0])
        this.piece = 0
        this.writePiece()
    }

    private writePiece(): void {
        const buf = this.buf
        if (!buf) return
        const from = this.piece * this.blockSize
        const n = buf.length - from < this.blockSize ? buf.length - from : this.blockSize
        const data = Buffer.alloc(n)
        data.set(buf.slice(from, from + n), 0)
        const self = this
        this.store.write(MANIFEST_MEMBER, this.piece, this.queue[0].seq, data, (err) => self.written(err, from + n))
    }

    private written(err: number, end: number): void {
        const self = this
        if (err === StoreError.QueueFull) {
            // the app's writes fill the store's queue: try again shortly
            this.clock.setTimer(1, () => self.writePiece())
            return
        }
        if (err === 0 && this.buf && end < this.buf.length) {
            this.piece++
            this.writePiece()
            return
        }
        if (err === 0) this.kept++
        else this.errors++
        this.buf = null
        this.queue.shift()
        this.next()
    }

    load(each: (m: Manifest) => void, done: () => void): void {
        this.loadSeq(this.store.pinnedSeqs(MANIFEST_MEMBER), 0, each, done)
    }

    private loadSeq(seqs: number[], i: number, each: (m: Manifest) => void, done: () => void): void {
        if (i >= seqs.length) {
            done()
            return
        }
        const pins = this.store.pinned(MANIFEST_MEMBER, seqs[i])
        this.loadPiece(seqs, i, pins, 0, Buffer.alloc(pins.length * this.blockSize), 0, each, done)
    }

    private loadPiece(
        seqs: number[],
        i: number,
        pins: PinnedPortion[],
        k: number,
        buf: Buffer,
        len: number,
        each: (m: Manifest) => void,
        done: () => void
    ): void {
        if (k >= pins.length) {
            const m = decodeManifest(buf, len)
            if (m && m.seq === seqs[i]) {
                this.recovered++
                each(m)
            } else this.errors++
            this.loadSeq(seqs, i + 1, each, done)
            return
        }
        // pieces in lba order (pinned() lists them in any order)
        let p: PinnedPortion | null = null
        for (let j = 0; j < pins.length; j++) if (pins[j].lba === k) p = pins[j]
        const self = this
        if (!p) {
            this.errors++
            this.loadSeq(seqs, i + 1, each, done)
            return
        }
        this.store.readPinned(p, (err, data) => {
            if (err !== 0 || !data) {
                self.errors++
                self.loadSeq(seqs, i + 1, each, done)
                return
            }
            buf.set(data, len)
            self.loadPiece(seqs, i, pins, k + 1, buf, len + data.length, each, done)
        })
    }
}
