import { crc32cUpdate } from "../firmware/codec/crc32c"
import { defaultChannelConfig } from "../firmware/link/config"
import { RemoteChannel } from "../firmware/link/remote"
import { PrimaryBoard } from "../firmware/pipeline/primary"
import { PrimaryFirmware } from "../firmware/boot/primaryFirmware"
import { SeqmirrorConfig } from "../firmware/config"
import { PrimaryBlockStore } from "../firmware/store/blockStore"
import { StoreRole } from "../firmware/store/types"
import { SpiNorFlash } from "../hal/spiNor"
import { SimKernel } from "./kernel"
import { SpiNorChip } from "./models/spiNorChip"
import { Prng } from "./prng"
import { bytePipe } from "./vm/bytePipe"
import { encodeBlock } from "./workload"

const BLOCK = 128
const LBAS = 16
const FLASH = 16384

/** The self-test primary's configuration: one member, a 16 KB store of 128-byte blocks; the
 * history's room is allocated at start, sized for the VM's heap. As text, as the board's own
 * comes (firmware/main.ts): in the VM, strings cost no bytecode, an object literal does. */
const SELF_TEST_CONFIG =
    '{"board":{"role":"primary","member":"self-test","pins":{"sck":0,"mosi":0,"miso":0,"cs":0,"sda":0,"scl":0},"spiHz":0},' +
    '"group":{"id":1,"mode":"consistent","busBitRate":400000,"minCycleMs":200,"maxClosedSeqs":8,"rpoTargetMs":0,' +
    '"verifyEveryMs":0,"suspendAfterMs":5000,"historyShare":50,"congestion":"pull-ahead","maxHistorySeqs":32,' +
    '"maxWritesWaiting":2,"members":[{"name":"self-test","address":16}]},' +
    '"link":{"baud":115200,"remoteHost":"","remotePort":0},' +
    '"store":{"blockSize":' +
    BLOCK +
    ',"auxRingBytes":1024,"flashBytes":' +
    FLASH +
    "}}"

/**
 * The self-test scenario: a primary board (pipeline, block store, JEDEC driver over the
 * SPI-command flash model) replicates a fixed seeded workload over a clean byte pipe (an 8N1
 * line, host-sim/vm/bytePipe.ts) and the link channel to the remote's end of the channel; the result is a digest of every replication
 * message the remote end received, in order. The primary is the board's own boot
 * (firmware/boot/primaryFirmware.ts), with a smaller store, fewer lbas and smaller frames.
 * It runs, unchanged, on Node and inside the DeviceScript VM; equal digests show that the
 * simulator runs the code the board runs. It runs without the simulator's group harness and
 * without the remote's apply, to stay inside the VM's 64 KB limit on bytecode (the remote
 * board's part is checked by the simulator and the unit tests).
 *
 * `step(n)` runs up to n events and returns false when the digest is ready; the VM's run
 * loop suspends between steps (its loop budget), Node just loops.
 * @devsWhenUsed
 */
export class SelfTest {
    readonly kernel = new SimKernel()
    private rng: Prng
    private primary: PrimaryBoard | null = null
    messages = 0
    private phase = 0
    private booted = 0
    private crc = 0
    private counter = 0
    private outstanding = 0
    digestHex = ""
    writesAcked = 0
    /** Boot or write errors seen (0 in a good run). */
    errors = 0

    constructor(
        readonly seed: number,
        readonly writes: number
    ) {
        this.rng = new Prng(seed)
    }

    private boot(): void {
        const self = this
        const k = this.kernel
        const wire = bytePipe(k, 115200, 256, 0.05)
        const pchip = new SpiNorChip(k, { capacity: FLASH })
        const pflash = new SpiNorFlash(pchip, k, { capacity: FLASH })
        const pstore = new PrimaryBlockStore(pflash, k, { role: StoreRole.Primary, blockSize: BLOCK, queueDepth: 4 })
        const pcfg = defaultChannelConfig()
        pcfg.maxPayload = 200
        pcfg.txWindow = 4
        pcfg.rxWindow = 2
        const rcfg = defaultChannelConfig()
        rcfg.maxPayload = 200
        rcfg.txWindow = 2
        rcfg.rxWindow = 4
        const prng = this.rng.fork(2)
        const rrng = this.rng.fork(3)
        const fw = new PrimaryFirmware(
            JSON.parse(SELF_TEST_CONFIG) as SeqmirrorConfig,
            0,
            k,
            wire[0],
            () => prng.float(),
            () => {},
            pflash,
            pstore
        )
        fw.lbaCount = LBAS
        fw.maxLbasPerSeq = LBAS
        fw.channelConfig = pcfg
        pflash.init((e1) => {
            if (e1 !== 0) self.errors++
            fw.start((ok) => {
                if (!ok) self.errors++
                self.primary = fw.board
                self.booted++
            })
        })
        const ch = new RemoteChannel(wire[1], k, () => rrng.float(), rcfg, 0, 0, null)
        ch.onMessage((msg, len) => {
            self.messages++
            self.crc = crc32cUpdate(self.crc, msg, 0, len)
        })
        self.booted++
    }

    /** One write of the workload every 20 to 120 ms, at most two outstanding. */
    private writeNext(): void {
        const self = this
        if (this.counter >= this.writes) return
        const b = this.primary
        if (b && b.isAdopted() && this.outstanding < 2) {
            this.counter++
            this.outstanding++
            const data = Buffer.alloc(BLOCK)
            const lba = this.rng.int(LBAS)
            encodeBlock(data, 0, lba, this.counter)
            b.write(lba, data, (err, _seq) => {
                self.outstanding--
                if (err === 0) self.writesAcked++
                else self.errors++
            })
        }
        this.kernel.setTimer(20 + this.rng.int(100), () => self.writeNext())
    }

    /** Runs up to `events` events; false once the digest is ready. */
    step(events: number): boolean {
        if (this.phase === 0) {
            this.boot()
            this.writeNext()
            this.phase = 1
        }
        if (this.phase === 1) {
            this.kernel.run(this.kernel.millis() + 50, events)
            const b = this.primary
            const done = this.counter >= this.writes && this.outstanding === 0
            if (done && b && b.writesWaiting() === 0 && b.closedWaiting() === 0 && this.kernel.millis() > 5000) this.phase = 2
            else if (this.kernel.millis() > 600000) {
                this.errors++
                this.phase = 2
            }
            return true
        }
        if (this.phase === 2) {
            this.digestHex = this.crc + " messages " + this.messages
            this.phase = 3
        }
        return false
    }
}
