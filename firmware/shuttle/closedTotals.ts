import { TRACKED } from "../protocol/messages"
import { seqAfter, seqNext } from "../seq"
import { ShuttleHost } from "./host"

/** Closures a member remembers the totals of. */
const HISTORY = 8

/**
 * A member's totals (portions, bytes) of the seqs it closed, which it writes into the shuttle
 * as its running totals: the last HISTORY closures it made, and before the first of them
 * (after a restart) what its board says of its closed seqs.
 */
export class ClosedTotals {
    /** What the last `find` found. */
    portions = 0
    bytes = 0

    private seqs: number[] = []
    private seqPortions: number[] = []
    private seqBytes: number[] = []

    /** `floor`: the capture seq at start; every closure at or after it is remembered. */
    constructor(
        private host: ShuttleHost,
        private floor: number
    ) {}

    remember(seq: number, portions: number, bytes: number): void {
        if (this.seqs.length === HISTORY) {
            this.floor = seqNext(this.seqs[0])
            this.seqs.shift()
            this.seqPortions.shift()
            this.seqBytes.shift()
        }
        this.seqs.push(seq)
        this.seqPortions.push(portions)
        this.seqBytes.push(bytes)
    }

    /** Sets portions/bytes to this member's totals of a seq before its capture seq. */
    find(seq: number): void {
        if (this.host.isTracked(seq)) {
            this.portions = TRACKED
            this.bytes = 0
            return
        }
        for (let i = this.seqs.length - 1; i >= 0; i--) {
            if (this.seqs[i] === seq) {
                this.portions = this.seqPortions[i]
                this.bytes = this.seqBytes[i]
                return
            }
        }
        this.portions = 0
        this.bytes = 0
        // every closure at or after the floor is remembered: a seq there that is not is one
        // this member skipped; before the floor (after a restart) the board still has its data
        if (!seqAfter(this.floor, seq)) return
        const closed = this.host.closedSeqs()
        for (let i = 0; i < closed.length; i++) {
            if (closed[i].seq === seq) {
                this.portions = closed[i].portions
                this.bytes = closed[i].bytes
                return
            }
        }
    }
}
