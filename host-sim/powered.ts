import { GroupBus } from "../hal/groupBus"
import { Link } from "../hal/link"

/**
 * The link and the bus as one firmware instance sees them. When its board loses power the
 * instance is dead: it receives nothing more, and what it would still send goes nowhere. The
 * model underneath (the wire, the bus) lives on and is handed to the next boot's instance.
 */
export class PoweredLink implements Link {
    private alive = true

    constructor(private inner: Link) {}

    write(data: Buffer): number {
        return this.alive ? this.inner.write(data) : data.length
    }

    txFree(): number {
        return this.inner.txFree()
    }

    onTxReady(handler: () => void): void {
        const self = this
        this.inner.onTxReady(() => {
            if (self.alive) handler()
        })
    }

    onReceive(handler: (data: Buffer) => void): void {
        const self = this
        this.inner.onReceive((data) => {
            if (self.alive) handler(data)
        })
    }

    bitRate(): number {
        return this.inner.bitRate()
    }

    powerOff(): void {
        this.alive = false
    }
}

export class PoweredBus implements GroupBus {
    private alive = true

    constructor(private inner: GroupBus) {}

    address(): number {
        return this.inner.address()
    }

    write(addr: number, data: Buffer, done: (ack: boolean) => void): void {
        if (!this.alive) return
        const self = this
        this.inner.write(addr, data, (ack) => {
            if (self.alive) done(ack)
        })
    }

    generalCall(data: Buffer, done: (ack: boolean) => void): void {
        if (!this.alive) return
        const self = this
        this.inner.generalCall(data, (ack) => {
            if (self.alive) done(ack)
        })
    }

    onReceive(handler: (data: Buffer, generalCall: boolean) => void): void {
        const self = this
        this.inner.onReceive((data, gc) => {
            if (self.alive) handler(data, gc)
        })
    }

    bitRate(): number {
        return this.inner.bitRate()
    }

    powerOff(): void {
        this.alive = false
    }
}
