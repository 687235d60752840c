import { crc32c } from "../../firmware/codec/crc32c"
import { PinnedPortion, PipelineStore } from "../../firmware/protocol/ports"
import { seqAfter, seqDiff } from "../../firmware/seq"
import { SimKernel } from "../../host-sim/kernel"

/** One version of a block as the store holds it. */
export interface MemVersion {
    member: number
    lba: number
    seq: number
    /** Order of arrival: of two versions of an lba with one seq, the later one is newer. */
    n: number
    data: Buffer
}

export interface MemStoreTiming {
    /** Virtual ms a write takes to become durable (a page program is about 0.7 ms). */
    writeMs: number
    /** Virtual ms a read takes. */
    readMs: number
}

/**
 * The pipeline's store (`PipelineStore`) as a list of versions in RAM, for tests of the
 * pipeline without the flash store. It keeps what the real store promises: every version
 * written after the confirmed seq stays pinned and readable, the newest version of each lba
 * is what `read` returns, and operations complete one at a time, in the order they were asked,
 * each after its time on the virtual clock (0 ms: on the next turn).
 */
export class MemStore implements PipelineStore {
    readCrc = 0
    versions: MemVersion[] = []
    /** Every write asked for, as [lba, seq], in order. */
    writes: Array<[number, number]> = []
    /** Confirmations asked for, in order. */
    confirms: number[] = []
    private queue: Array<() => void> = []
    private busy = false
    private n = 0
    private confirmed: number
    /** A seq was confirmed (before the test, or by a confirm that completed). */
    private anyConfirmed: boolean
    private timing: MemStoreTiming

    /** `confirmedAt`: the seq the remote confirmed before the test starts. */
    constructor(
        private k: SimKernel,
        opts: { confirmedAt?: number; timing?: Partial<MemStoreTiming> } = {}
    ) {
        this.confirmed = opts.confirmedAt ?? 0
        this.anyConfirmed = opts.confirmedAt !== undefined
        this.timing = { writeMs: 0.7, readMs: 0.3, ...opts.timing }
    }

    /** Puts a version on the store at once, as if written before the test. */
    put(lba: number, seq: number, data: Buffer, member = 0): void {
        this.versions.push({ member, lba, seq, n: this.n++, data: Buffer.from(data) })
    }

    /** The newest version of an lba, or null when it was never written. */
    newest(lba: number, member = 0): MemVersion | null {
        let best: MemVersion | null = null
        for (const v of this.versions) {
            if (v.member !== member || v.lba !== lba) continue
            if (!best || seqDiff(v.seq, best.seq) > 0 || (v.seq === best.seq && v.n > best.n)) best = v
        }
        return best
    }

    write(member: number, lba: number, seq: number, data: Buffer, done: (err: number) => void): void {
        this.writes.push([lba, seq])
        const copy = Buffer.from(data)
        this.op(this.timing.writeMs, () => {
            this.put(lba, seq, copy, member)
            done(0)
        })
    }

    read(member: number, lba: number, done: (err: number, data: Buffer | null) => void): void {
        this.op(this.timing.readMs, () => {
            const v = this.newest(lba, member)
            done(0, v ? Buffer.from(v.data) : null)
        })
    }

    pinnedSeqs(member: number): number[] {
        const out: number[] = []
        for (const v of this.versions) if (v.member === member && seqAfter(v.seq, this.confirmed) && !out.includes(v.seq)) out.push(v.seq)
        return out.sort((a, b) => seqDiff(a, b))
    }

    pinned(member: number, seq: number): PinnedPortion[] {
        const out: PinnedPortion[] = []
        for (const v of this.versions) if (v.member === member && v.seq === seq && !out.some((p) => p.lba === v.lba)) out.push({ member, lba: v.lba, seq })
        return out
    }

    readPinned(p: PinnedPortion, done: (err: number, data: Buffer | null) => void): void {
        this.op(this.timing.readMs, () => {
            let found: MemVersion | null = null
            for (const v of this.versions) if (v.member === p.member && v.lba === p.lba && v.seq === p.seq) found = v
            if (!found) return done(1, null)
            this.readCrc = crc32c(found.data)
            done(0, Buffer.from(found.data))
        })
    }

    confirm(seq: number, done?: (err: number) => void): void {
        this.confirms.push(seq)
        this.op(this.timing.writeMs, () => {
            if (!this.anyConfirmed || seqAfter(seq, this.confirmed)) this.confirmed = seq
            this.anyConfirmed = true
            if (done) done(0)
        })
    }

    confirmedSeq(): number {
        return this.confirmed
    }

    hasConfirmed(): boolean {
        return this.anyConfirmed
    }

    newestSeq(member: number, lba: number): number {
        const v = this.newest(lba, member)
        return v ? v.seq : -1
    }

    liveVersions(): number {
        const live = new Set<string>()
        for (const v of this.versions) if (seqAfter(v.seq, this.confirmed)) live.add(`${v.member}:${v.lba}:${v.seq}`)
        for (const v of this.versions) live.add(`${v.member}:${v.lba}:newest`)
        return live.size
    }

    private op(ms: number, f: () => void): void {
        this.queue.push(() =>
            this.k.setTimer(ms, () => {
                f()
                this.busy = false
                this.next()
            })
        )
        this.next()
    }

    private next(): void {
        if (this.busy || this.queue.length === 0) return
        this.busy = true
        this.queue.shift()!()
    }
}
