import { SimKernel } from "../kernel"
import { Prng } from "../prng"
import { UartWire } from "../models/uart"
import { ChannelConfig, checkChannelConfig, defaultChannelConfig } from "../../firmware/link/config"
import { PrimaryChannel } from "../../firmware/link/primary"
import { RemoteChannel } from "../../firmware/link/remote"
import { getU32, putU32 } from "../../firmware/codec/bytes"
import { LinkSeal } from "../../firmware/link/seal"
import { RemoteSeal } from "../../firmware/link/remoteSeal"
import { NodeCipher, seededBytes } from "../nodeCipher"
import { LinkTap } from "../models/linkTap"

export interface PairOptions {
    seed?: number
    baud?: number
    txFifoBytes?: number
    propagationMs?: number
    primary?: Partial<ChannelConfig>
    remote?: Partial<ChannelConfig>
    generation?: number
    member?: number
    /** The member the remote's link serves (default: `member`). */
    remoteMember?: number
    highestGeneration?: number
    /** How long the remote's owner takes to persist a newer generation (default: at once). */
    persistMs?: number
    /** Seal the link (docs/FORMAT-link.md §11): the primary's key; the remote holds
     * `remoteKey` (default: the same; null: the remote is not sealed). Without it, frames go in
     * the clear. */
    key?: Buffer
    remoteKey?: Buffer | null
    /** Put a LinkTap at each end (pair.primaryTap, pair.remoteTap): tests listen and talk there. */
    tap?: boolean
}

export function config(over: Partial<ChannelConfig> | undefined, remote: boolean): ChannelConfig {
    const c = defaultChannelConfig()
    if (remote) {
        // the remote only answers probes and sends few, small messages back
        c.keepaliveMs = 0
        c.txWindow = 4
    } else {
        c.rxWindow = 4
    }
    Object.assign(c, over || {})
    const err = checkChannelConfig(c)
    if (err !== null) throw new Error("link config: " + err)
    return c
}

/** A primary and a remote channel over a simulated UART, with the remote's generation store. */
export class LinkPair {
    readonly k = new SimKernel()
    readonly prng: Prng
    readonly wire: UartWire
    readonly primary: PrimaryChannel
    remote: RemoteChannel
    persistedGeneration: number
    /** The cipher of both ends (sealed pairs), and each end's sealing layer. */
    readonly cipher: NodeCipher
    readonly primarySeal: LinkSeal | null
    remoteSeal: RemoteSeal | null = null
    readonly primaryTap: LinkTap
    readonly remoteTap: LinkTap

    constructor(readonly o: PairOptions = {}) {
        this.prng = new Prng(o.seed ?? 1)
        this.wire = new UartWire(this.k, this.prng.fork(10), {
            baud: o.baud ?? 115200,
            txFifoBytes: o.txFifoBytes ?? 1024,
            propagationMs: o.propagationMs ?? 0.05,
        })
        const rp = this.prng.fork(11)
        // nonces from a generator of their own: a pair in the clear draws what it always did
        this.cipher = new NodeCipher(seededBytes(new Prng(((o.seed ?? 1) ^ 0x5ea15ea1) >>> 0)))
        const member = o.member ?? 0
        this.primarySeal = o.key ? new LinkSeal(this.cipher, o.key, member) : null
        this.primaryTap = new LinkTap(this.wire.a)
        this.remoteTap = new LinkTap(this.wire.b)
        this.primary = new PrimaryChannel(
            o.tap ? this.primaryTap : this.wire.a,
            this.k,
            () => rp.float(),
            config(o.primary, false),
            o.generation ?? 1,
            member,
            this.primarySeal
        )
        this.persistedGeneration = o.highestGeneration ?? 0
        this.remote = this.makeRemote()
    }

    /** A remote channel as after a boot of the remote board (its session state is gone). */
    makeRemote(): RemoteChannel {
        const rr = this.prng.fork(12)
        const key = this.o.remoteKey !== undefined ? this.o.remoteKey : this.o.key
        const member = this.o.remoteMember ?? this.o.member ?? 0
        this.remoteSeal = key ? new RemoteSeal(this.cipher, key, member) : null
        const r = new RemoteChannel(
            this.o.tap ? this.remoteTap : this.wire.b,
            this.k,
            () => rr.float(),
            config(this.o.remote, true),
            member,
            this.persistedGeneration,
            (g, done) => {
                const ms = this.o.persistMs ?? 0
                if (ms <= 0) {
                    this.persistedGeneration = g
                    done()
                    return
                }
                this.k.setTimer(ms, () => {
                    this.persistedGeneration = g
                    done()
                })
            },
            this.remoteSeal
        )
        this.remote = r
        return r
    }

    run(ms: number): void {
        this.k.run(this.k.millis() + ms, 50_000_000)
    }

    /** Runs until cond() holds or `limitMs` passes; returns whether it held. */
    runUntil(cond: () => boolean, limitMs: number, stepMs = 10): boolean {
        const end = this.k.millis() + limitMs
        while (!cond()) {
            if (this.k.millis() >= end) return false
            this.k.run(Math.min(end, this.k.millis() + stepMs), 50_000_000)
        }
        return true
    }
}

/** Message i: index u32, length u32, then bytes derived from both, so that any mix-up shows. */
export function makeMessage(i: number, len: number): Buffer {
    const n = len < 8 ? 8 : len
    const b = Buffer.alloc(n)
    putU32(b, 0, i)
    putU32(b, 4, n)
    for (let k = 8; k < n; k++) b[k] = (i * 31 + k * 7 + (k >> 8)) & 0xff
    return b
}

export function checkMessage(b: Buffer, len: number): number {
    if (len < 8) return -1
    const i = getU32(b, 0)
    if (getU32(b, 4) !== len) return -1
    for (let k = 8; k < len; k++) if (b[k] !== ((i * 31 + k * 7 + (k >> 8)) & 0xff)) return -1
    return i
}

/**
 * Sends messages 0..count-1 (sizes from `size(i)`) through `ch` whenever it takes them, and
 * checks at `rx` that they arrive exactly once and in order.
 */
export class Stream {
    next = 0
    received = 0
    errors: string[] = []
    payloadBytes = 0

    constructor(
        readonly count: number,
        readonly size: (i: number) => number,
        readonly tx: { send(m: Buffer): boolean; onWritable(h: () => void): void; onSessionUp(h: (r: boolean, s: Buffer) => void): void },
        rx: { onMessage(h: (m: Buffer, len: number) => void): void }
    ) {
        tx.onWritable(() => this.pump())
        tx.onSessionUp(() => this.pump())
        rx.onMessage((m, len) => this.check(m, len))
    }

    pump(): void {
        while (this.next < this.count) {
            if (!this.tx.send(makeMessage(this.next, this.size(this.next)))) return
            this.next++
        }
    }

    check(m: Buffer, len: number): void {
        const i = checkMessage(m, len)
        if (i !== this.received) {
            if (this.errors.length < 5) this.errors.push("expected " + this.received + " got " + i + " (len " + len + ")")
            return
        }
        this.received++
        this.payloadBytes += len
    }

    done(): boolean {
        return this.received === this.count
    }
}
