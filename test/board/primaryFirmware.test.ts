import { describe, expect, it } from "vitest"
import { boardChannelConfig, PrimaryFirmware } from "../../firmware/boot/primaryFirmware"
import { defaultConfig, SeqmirrorConfig } from "../../firmware/config"
import { getU32 } from "../../firmware/codec/bytes"
import { checkChannelConfig, defaultChannelConfig } from "../../firmware/link/config"
import { RemoteChannel } from "../../firmware/link/remote"
import { decodeManifest, decodeSeqDone, encodeApplied, Msg, PORTION_HEADER } from "../../firmware/protocol/messages"
import { BlockStore } from "../../firmware/store/blockStore"
import { StoreError, StoreRole } from "../../firmware/store/types"
import { SpiNorFlash } from "../../hal/spiNor"
import { SimKernel } from "../../host-sim/kernel"
import { SpiNorChip } from "../../host-sim/models/spiNorChip"
import { UartWire } from "../../host-sim/models/uart"
import { Prng } from "../../host-sim/prng"

// The board's replication firmware (what runBoard starts on a DeviceScript board) on the
// simulator's models: the chip behind the JEDEC driver, a UART wire as the link, and the
// remote's end of the link channel, which applies each complete seq.

function groupOfOne(flashBytes: number): SeqmirrorConfig {
    const c = defaultConfig()
    c.group.members = [c.group.members[0]]
    c.store.flashBytes = flashBytes
    return c
}

describe("the board's link channel configuration", () => {
    it("passes the channel's check: the board image carries no check of its own", () => {
        expect(checkChannelConfig(boardChannelConfig())).toBeNull()
        const bad = boardChannelConfig()
        bad.txWindow = 0
        expect(checkChannelConfig(bad)).toMatch(/txWindow/)
    })
})

class Rig {
    readonly k = new SimKernel()
    readonly chip: SpiNorChip
    readonly wire: UartWire
    readonly lines: string[] = []
    readonly applied: number[] = []
    readonly portions: { seq: number; lba: number; data: Buffer }[] = []
    private seqDone: number[] = []
    private manifests: { seq: number; portions: number }[] = []
    private prng = new Prng(5)

    constructor(
        readonly cfg: SeqmirrorConfig,
        chip?: SpiNorChip
    ) {
        this.chip = chip ?? new SpiNorChip(this.k, { capacity: cfg.store.flashBytes })
        this.chip.powerOn(this.k)
        this.wire = new UartWire(this.k, this.prng.fork(1), { baud: cfg.link.baud, txFifoBytes: 256, propagationMs: 0.05 })
        const rcfg = defaultChannelConfig()
        rcfg.keepaliveMs = 0
        const ch = new RemoteChannel(
            this.wire.b,
            this.k,
            () => this.prng.float(),
            rcfg,
            0,
            0,
            (_g, done) => done()
        )
        ch.onMessage((msg, len) => {
            const m = Buffer.from(msg.subarray(0, len))
            if (m[0] === Msg.Portion) this.portions.push({ seq: getU32(m, 1), lba: getU32(m, 5), data: m.subarray(PORTION_HEADER) })
            else if (m[0] === Msg.SeqDone) this.seqDone.push(decodeSeqDone(m, len)!.seq)
            else if (m[0] === Msg.Manifest) {
                const man = decodeManifest(m, len)!
                this.manifests.push({ seq: man.seq, portions: man.totalPortions() })
            }
            for (const man of this.manifests) {
                if (this.applied.includes(man.seq)) continue
                const got = this.portions.filter((p) => p.seq === man.seq).length
                if (!this.seqDone.includes(man.seq) || got !== man.portions) break
                this.applied.push(man.seq)
                ch.send(encodeApplied(man.seq))
            }
        })
    }

    /** Boots the firmware on the chip; returns it once start has called back. */
    boot(): { fw: PrimaryFirmware; ok: boolean } {
        // the whole chip, as the board probes it: the store takes its first store.flashBytes
        const flash = new SpiNorFlash(this.chip.boardBus(), this.k, { capacity: this.chip.capacity() })
        let inited = -1
        flash.init((e) => (inited = e))
        this.run(() => inited >= 0)
        expect(inited).toBe(0)
        const fw = new PrimaryFirmware(
            this.cfg,
            0,
            this.k,
            this.wire.a,
            () => this.prng.float(),
            (l) => this.lines.push(l),
            flash
        )
        let ok: boolean | null = null
        fw.start((r) => (ok = r))
        this.run(() => ok !== null)
        return { fw, ok: ok === true }
    }

    run(until: () => boolean, maxMs = 60000): void {
        const end = this.k.millis() + maxMs
        while (!until() && this.k.millis() < end) this.k.run(this.k.millis() + 5, 10000)
    }
}

function blockOf(i: number, size: number): Buffer {
    const b = Buffer.alloc(size)
    for (let j = 0; j < size; j++) b[j] = (i * 11 + j) & 0xff
    b[0] = i
    return b
}

describe("the board's replication firmware (PrimaryFirmware) on the simulator's models", () => {
    it("starts and says what it holds", () => {
        const r = new Rig(groupOfOne(1048576))
        const { ok } = r.boot()
        expect(ok).toBe(true)
        expect(r.lines).toEqual(["store: 256 sectors, 0 blocks held, 256 free sectors", "replicating: member 0, generation 1, 960 blocks of 256 bytes"])
    })

    it("takes only the first store.flashBytes of a larger chip", () => {
        const k = new SimKernel()
        const r = new Rig(groupOfOne(1048576), new SpiNorChip(k, { capacity: 2097152 }))
        const { ok } = r.boot()
        expect(ok).toBe(true)
        expect(r.lines[0]).toBe("store: 256 sectors, 0 blocks held, 256 free sectors")
    })

    it("replicates the application's writes, the remote applies them, the board unpins them; a reboot raises the generation", () => {
        const cfg = groupOfOne(65536)
        cfg.store.auxRingBytes = 2048
        const r = new Rig(cfg)
        const { fw, ok } = r.boot()
        expect(ok).toBe(true)
        r.run(() => r.lines.includes("link channel: session up"))
        const board = fw.board!
        let acked = 0
        for (let i = 0; i < 40; i++) {
            board.write(i % 10, blockOf(i, 256), (err) => {
                if (err === 0) acked++
            })
            r.run(() => false, 30)
        }
        r.run(() => acked === 40 && board.closedWaiting() === 0 && fw.store.pinnedSeqs(0).length === 0)
        expect(acked).toBe(40)
        expect(fw.store.confirmedSeq()).toBe(r.applied[r.applied.length - 1])
        const image = new Map<number, Buffer>()
        for (const p of r.portions) image.set(p.lba, p.data)
        for (let lba = 0; lba < 10; lba++) expect(image.get(lba)!.equals(blockOf(30 + lba, 256))).toBe(true)
        expect(fw.statusLine()).toMatch(/^status: seq \d+, 40 writes acknowledged, \d+ portions sent \(\d+ from flash\), link up, \d+ free sectors$/)

        // the same chip again: the generation goes up, nothing is left to send
        const again = new Rig(cfg, r.chip)
        const second = again.boot()
        expect(second.ok).toBe(true)
        expect(second.fw.generation).toBe(2)
        expect(again.lines[1]).toBe("replicating: member 0, generation 2, 60 blocks of 256 bytes")
    })

    it("leaves a store of another block size untouched and says so in one line", () => {
        const cfg = groupOfOne(65536)
        const k = new SimKernel()
        const chip = new SpiNorChip(k, { capacity: 65536 })
        chip.powerOn(k)
        // a store of 128-byte blocks, with one record
        const flash = new SpiNorFlash(chip.boardBus(), k, { capacity: 65536 })
        const other = new BlockStore(flash, k, { role: StoreRole.Primary, blockSize: 128 })
        let step = -1
        flash.init(() => other.mount(() => other.write(0, 1, 1, Buffer.alloc(128, 7), (e) => (step = e))))
        while (step < 0 && k.step(Infinity)) continue
        expect(step).toBe(StoreError.None)
        const r = new Rig(cfg, chip)
        const { ok } = r.boot()
        expect(ok).toBe(false)
        expect(r.lines).toEqual([
            "store: the flash holds a store of another format or block size; it is left untouched (erase the chip, or set store.blockSize back)",
        ])
    })
})
