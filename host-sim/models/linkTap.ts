import { Link } from "../../hal/link"

/**
 * A place on a link where someone listens and talks (the simulator's adversary, the tests):
 * it sees every chunk written through it, may change or swallow every chunk delivered through
 * it, and may deliver chunks of its own. Injected bytes wait until the receiver is between
 * frames (the last byte it got was a frame delimiter), so that they do not cut a frame in
 * transit in two. Portable, but only the simulator's Node side and the tests use it.
 */
export class LinkTap implements Link {
    /** Each chunk written through the tap, as it was taken. */
    onWrite: ((data: Buffer) => void) | null = null
    /** Each chunk arriving for the receiver: what to deliver instead (null: nothing). */
    filter: ((data: Buffer) => Buffer | null) | null = null
    private handler: ((data: Buffer) => void) | null = null
    private betweenFrames = true
    private waiting: Buffer[] = []

    constructor(readonly inner: Link) {}

    write(data: Buffer): number {
        const n = this.inner.write(data)
        if (n > 0 && this.onWrite) this.onWrite(Buffer.from(data.subarray(0, n)))
        return n
    }

    txFree(): number {
        return this.inner.txFree()
    }

    onTxReady(handler: () => void): void {
        this.inner.onTxReady(handler)
    }

    onReceive(handler: (data: Buffer) => void): void {
        this.handler = handler
        this.inner.onReceive((data) => {
            const out = this.filter ? this.filter(data) : data
            if (out && out.length > 0) this.deliver(out)
            this.flush()
        })
    }

    bitRate(): number {
        return this.inner.bitRate()
    }

    /** Delivers `bytes` to the receiver as if they came over the link, once it is between frames. */
    inject(bytes: Buffer): void {
        this.waiting.push(Buffer.from(bytes))
        this.flush()
    }

    private flush(): void {
        while (this.betweenFrames && this.waiting.length > 0) this.deliver(this.waiting.shift()!)
    }

    private deliver(data: Buffer): void {
        this.betweenFrames = data[data.length - 1] === 0
        if (this.handler) this.handler(data)
    }
}
