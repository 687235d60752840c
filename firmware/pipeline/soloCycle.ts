import { Clock, Timer } from "../../hal/clock"
import { seqNext } from "../seq"
import { Manifest, ManifestEntry, TRACKED } from "../protocol/messages"
import { PrimaryBoard } from "./primary"
import { SeqTotals } from "../protocol/seqTotals"

/**
 * The cycle of a board that replicates alone (a group of one): it is the whole group, so it
 * closes its capture seq itself, every `minCycleMs`, when it has data and not too many closed
 * seqs wait for transmission; the seq it adopts is released at once and the manifest of the
 * closed seq is its own totals. Seqs are consecutive: seq s follows s-1.
 * @devsWhenUsed
 */
export class SoloCycle {
    private timer: Timer | null = null
    private running = false

    constructor(
        private board: PrimaryBoard,
        private clock: Clock
    ) {}

    start(): void {
        const b = this.board
        // seqs recovered from flash that the remote may not have: manifest them again (the
        // remote ignores manifests of seqs it has applied)
        const recovered = b.closedSeqs()
        for (let i = 0; i < recovered.length; i++) this.manifest(recovered[i])
        const cur = b.captureSeq()
        b.adopt(cur)
        b.release(cur)
        this.running = true
        this.arm()
    }

    stop(): void {
        this.running = false
        if (this.timer) this.clock.clearTimer(this.timer)
        this.timer = null
    }

    private manifest(t: SeqTotals): void {
        // a seq tracked while replication was suspended reaches the remote only by a resync
        let portions = t.portions
        let bytes = t.bytes
        if (this.board.isTracked(t.seq)) {
            portions = TRACKED
            bytes = 0
        }
        const entries = [new ManifestEntry(this.board.opts.member, portions, bytes)]
        this.board.manifestFinal(new Manifest(t.seq, (t.seq - 1) >>> 0, entries))
    }

    private arm(): void {
        const self = this
        this.timer = this.clock.setTimer(this.board.opts.minCycleMs, () => {
            self.timer = null
            if (!self.running) return
            const b = self.board
            b.watch()
            if (b.hasDataToSend())
                if (b.mayClose()) {
                    const next = seqNext(b.captureSeq())
                    const closed = b.adopt(next)
                    b.release(next)
                    self.manifest(closed)
                }
            self.arm()
        })
    }
}
