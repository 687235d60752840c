import { describe, expect, it } from "vitest"
import { SimKernel } from "../../host-sim/kernel"
import { Prng } from "../../host-sim/prng"
import { I2cBus } from "../../host-sim/models/i2cBus"
import { PipelineChannel } from "../../firmware/protocol/ports"
import { MemStore } from "../protocol/memStore"
import { PrimaryBoard } from "../../firmware/pipeline/primary"
import { decodeManifest } from "../../firmware/protocol/messages"
import { seqAfter } from "../../firmware/seq"
import { GroupPrimaryBoard } from "../../firmware/pipeline/groupPrimary"
import { ShuttleAgent } from "../../firmware/shuttle/agent"
import { ShuttleHost } from "../../firmware/shuttle/host"

/** A link to the remote that is always up and takes everything. */
class RecordingChannel implements PipelineChannel {
    sent: Buffer[] = []
    send(msg: Buffer): boolean {
        this.sent.push(Buffer.from(msg))
        return true
    }
    isUp(): boolean {
        return true
    }
    onWritable(_h: () => void): void {}
    onMessage(_h: (msg: Buffer, len: number) => void): void {}
    onSessionUp(_h: (resumed: boolean, resume: Buffer) => void): void {}
    setReceiveCredit(_n: number): void {}
}

describe("the shuttle driving the replication pipeline", () => {
    it("PrimaryBoard is a ShuttleHost: writes are acknowledged at released seqs, and each board forwards exact manifests", () => {
        const k = new SimKernel()
        const bus = new I2cBus(k, { bitRate: 400000 })
        const addrs = [0x21, 0x20, 0x22, 0x23] // configuration order: member id = index
        const boards: PrimaryBoard[] = []
        const channels: RecordingChannel[] = []
        const agents: ShuttleAgent[] = []
        for (let id = 0; id < addrs.length; id++) {
            const ch = new RecordingChannel()
            const b = new GroupPrimaryBoard(
                { member: id, blockSize: 256, lbaCount: 512, auxRingBytes: 16384, maxLbasPerSeq: 512, mode: 0, minCycleMs: 10, maxClosedSeqs: 8 },
                k,
                new MemStore(k),
                ch
            )
            const host: ShuttleHost = b
            const a = new ShuttleAgent(bus.attach(addrs[id]), k, host, { group: 1, members: addrs })
            a.start()
            boards.push(b)
            channels.push(ch)
            agents.push(a)
        }
        const prng = new Prng(5)
        // stamped[member][seq] = distinct lbas (write folding)
        const stamped: Record<number, Record<number, Set<number>>> = {}
        let maxAcked = 0
        let acks = 0
        let bad = 0
        for (let step = 0; step < 2000; step++) {
            const id = prng.int(4)
            const lba = prng.int(512)
            const issuedAfter = maxAcked
            boards[id].write(lba, Buffer.alloc(256, id), (err, seq) => {
                expect(err).toBe(0)
                acks++
                if (seqAfter(seq, boards[id].releasedSeq())) bad++
                if (seqAfter(issuedAfter, seq)) bad++ // invariant 2
                if (seqAfter(seq, maxAcked)) maxAcked = seq
                ;((stamped[id] ??= {})[seq] ??= new Set()).add(lba)
            })
            k.run(k.millis() + prng.int(3), 1e9)
        }
        k.run(k.millis() + 2000, 1e9)
        expect(bad).toBe(0)
        expect(acks).toBe(2000)
        const last = boards[0].captureSeq()
        expect(last).toBeGreaterThan(20)
        for (const ch of channels) {
            const manifests = ch.sent.filter((m) => m[0] === 0x03).map((m) => decodeManifest(m, m.length)!)
            // every closed seq, once, in order, equal to what the members stamped
            expect(manifests.map((m) => m.seq)).toEqual(Array.from({ length: last - 1 }, (_, i) => i + 1))
            for (const m of manifests) {
                for (let id = 0; id < 4; id++) {
                    const e = m.entryFor(id)
                    const want = stamped[id]?.[m.seq]?.size ?? 0
                    expect(e ? e.portions : 0).toBe(want)
                    expect(e ? e.bytes : 0).toBe(want * 256)
                }
            }
        }
    })
})
