import { Manifest } from "./messages"
/**
 * What the replication pipeline needs from the parts below it: the block store on the board's
 * flash and the reliable link channel to the remote. Each is implemented in its own folder
 * (firmware/store, firmware/link); the pipeline sees only these contracts.
 */

/** A version of a block kept on flash until the remote confirms its seq. */
export interface PinnedPortion {
    member: number
    lba: number
    seq: number
}

export interface PipelineStore {
    /** Stores a block durably; done(0) once it is on flash, done(code) on failure. `crc`: the
     * block's CRC-32C from the capture (docs/FORMAT-flash.md, DATA). */
    write(member: number, lba: number, seq: number, data: Buffer, done: (err: number) => void, crc?: number): void
    /** Seqs after the confirmed seq that still have pinned versions of `member`, oldest first. */
    pinnedSeqs(member: number): number[]
    /** The newest version of each lba of `member` written with `seq`. */
    pinned(member: number, seq: number): PinnedPortion[]
    /** The block CRC-32C of the version the last successful read returned (checked against its
     * record: the CRC its write was captured with). */
    readCrc: number
    /** Reads a pinned version's data. */
    readPinned(p: PinnedPortion, done: (err: number, data: Buffer | null) => void): void
    /** The remote has applied every seq up to `seq` (or the board suspended and tracks them):
     * those versions need not stay pinned; done once the confirmation is durable. */
    confirm(seq: number, done?: (err: number) => void): void
    /** The highest seq the remote confirmed, as the store holds it (0 before the first: then
     * hasConfirmed says none, since once the u32 seqs have wrapped 0 is a seq too). */
    confirmedSeq(): number
    /** The store holds a confirmed seq (confirmedSeq is one). */
    hasConfirmed(): boolean
    /** The newest version of an lba: done(0, null) when it was never written. */
    read(member: number, lba: number, done: (err: number, data: Buffer | null) => void): void
    /** The seq of the newest version of an lba on flash now (writes under way not counted),
     * -1 when there is none. */
    newestSeq(member: number, lba: number): number
    /** Live versions on flash: the newest of each block plus the pinned history. */
    liveVersions(): number
}

/** Reliable, ordered delivery of messages between one primary and the remote. */
export interface PipelineChannel {
    /** Queues a message (the channel copies it); false when the channel is full for now. */
    send(msg: Buffer): boolean
    isUp(): boolean
    /** Room opened up after `send` returned false. */
    onWritable(handler: () => void): void
    /** A message from the other end, exactly once and in order within a session. */
    onMessage(handler: (msg: Buffer, len: number) => void): void
    /** A session came up. `resumed` is false for a new session, in which the other end knows
     * nothing of earlier messages; `resume` carries the other end's state (for the primary:
     * the remote's applied seq, u32). */
    onSessionUp(handler: (resumed: boolean, resume: Buffer) => void): void
    /** The receiving end takes n more messages (negative: no limit); at 0 delivery stops and
     * the other end's window closes (flow control). */
    setReceiveCredit(n: number): void
    /** The remote's end only: ends the session, so that the member starts a new one and sends
     * every seq the remote has not applied again, from its flash. */
    renew?(): void
}

/** Keeps a primary's final manifests across power cuts until the remote applies their seqs. */
export interface ManifestKeeperPort {
    /** Makes the final manifest durable (in the background; a failure is counted, the manifest
     * then lives in RAM only). */
    keep(m: Manifest): void
    /** After a boot: gives every kept manifest (oldest first), then calls done. */
    load(each: (m: Manifest) => void, done: () => void): void
}

/** Keeps across power cuts that a board admitted again owes the remote a copy of its whole
 * image (a flag in the store's metadata). */
export interface CopyOwedPort {
    owed(): boolean
    set(owed: boolean): void
}
