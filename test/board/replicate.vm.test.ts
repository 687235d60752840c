import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createServer, Server, Socket } from "node:net"
import { Clock, Timer } from "../../hal/clock"
import { Link } from "../../hal/link"
import { defaultConfig, validateConfig } from "../../firmware/config"
import { defaultChannelConfig } from "../../firmware/link/channel"
import { RemoteChannel } from "../../firmware/link/remote"
import { decodeManifest, decodeSeqDone, encodeApplied, Msg } from "../../firmware/pipeline/messages"
import { getU32 } from "../../firmware/codec/bytes"
import { devs, DevsResult, freePort, TempDir } from "./devs"

// The board's whole replication path in the DeviceScript VM, entered as firmware/main.ts enters
// it: a group-of-one configuration (validated here, as the build validates the board's own) is
// checked against the runtime, the board probes the SPI NOR flash through the board's SPI bus
// and the JEDEC driver, mounts the block store, and runs the pipeline, its SoloCycle and the
// link channel over the board's TCP link. The remote's end of the channel runs here, on Node, on
// a real socket: it checks every portion, and answers each complete seq with APPLIED, which
// unpins it on the board.
//
// The VM has no SPI: under the bus sits a minimal NOR chip (an SpiPort answering the JEDEC
// commands at once, no timing), written in the entry below rather than the simulator's chip
// model, because the board image, the test's code and the chip must fit the VM's 64 KB image
// limit together (the simulator's model alone is 4 KB). If this test stops loading with
// "verification error 1051", the board image has grown into that margin: see
// `npm run build`, which prints what is left.

const WRITES = 16
const LBAS = 8
const BLOCK = 256

/** The content of write i: its number, its lba, then a pattern. */
function blockOf(i: number): Buffer {
    const b = Buffer.alloc(BLOCK)
    for (let j = 0; j < BLOCK; j++) b[j] = (i * 7 + j) & 0xff
    b[0] = i
    b[1] = i % LBAS
    return b
}

/** Real time for the remote's channel on Node. */
class NodeClock implements Clock {
    millis(): number {
        return performance.now()
    }
    setTimer(delayMs: number, fire: () => void): Timer {
        const t = { cancelled: false, handle: null as unknown as ReturnType<typeof setTimeout> }
        t.handle = setTimeout(() => {
            if (t.cancelled) return
            t.cancelled = true
            fire()
        }, Math.max(0, delayMs))
        return t
    }
    clearTimer(timer: Timer): void {
        if (timer.cancelled) return
        timer.cancelled = true
        clearTimeout((timer as unknown as { handle: ReturnType<typeof setTimeout> }).handle)
    }
}

/** The remote's Link: whatever socket the board is connected on. */
class ServerLink implements Link {
    sock: Socket | null = null
    private rx: ((data: Buffer) => void) | null = null
    attach(s: Socket): void {
        this.sock = s
        s.on("data", (d: Buffer) => {
            if (this.sock === s && this.rx) this.rx(Buffer.from(d))
        })
    }
    write(data: Buffer): number {
        if (this.sock) this.sock.write(Buffer.from(data))
        return data.length
    }
    txFree(): number {
        return 1 << 20
    }
    onTxReady(_handler: () => void): void {}
    onReceive(handler: (data: Buffer) => void): void {
        this.rx = handler
    }
    bitRate(): number {
        return 115200
    }
}

describe("board replication in the DeviceScript VM, to a remote channel on Node", () => {
    const dir = new TempDir("replicate")
    let run: DevsResult
    let server: Server | null = null
    const sockets: Socket[] = []
    /** Remote side: portions by seq, seq-done and manifests seen, seqs applied. */
    const portions: { seq: number; lba: number; data: Buffer }[] = []
    const seqDone: number[] = []
    const manifests: { seq: number; portions: number }[] = []
    const applied: number[] = []
    let channel: RemoteChannel | null = null

    beforeAll(async () => {
        const port = await freePort()
        const clock = new NodeClock()
        const link = new ServerLink()
        const cfg = defaultChannelConfig()
        cfg.keepaliveMs = 0
        const ch = new RemoteChannel(link, clock, () => Math.random(), cfg, 0, 0, (_g, done) => done())
        channel = ch
        ch.onMessage((msg, len) => {
            const m = Buffer.from(msg.subarray(0, len))
            if (m[0] === Msg.Portion) portions.push({ seq: getU32(m, 1), lba: getU32(m, 5), data: m.subarray(9) })
            else if (m[0] === Msg.SeqDone) seqDone.push(decodeSeqDone(m, len)!.seq)
            else if (m[0] === Msg.Manifest) {
                const man = decodeManifest(m, len)!
                manifests.push({ seq: man.seq, portions: man.totalPortions() })
            }
            // apply, in order, every seq whose manifest, SEQ_DONE and portions are all in
            for (const man of manifests) {
                if (applied.includes(man.seq)) continue
                const got = portions.filter((p) => p.seq === man.seq).length
                if (!seqDone.includes(man.seq) || got !== man.portions) break
                applied.push(man.seq)
                ch.send(encodeApplied(man.seq))
            }
        })
        server = createServer((s) => {
            sockets.push(s)
            s.on("error", () => {})
            link.attach(s)
        })
        await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", () => resolve()))

        const c: any = defaultConfig()
        c.group.members = [c.group.members[0]]
        c.link.remoteHost = "127.0.0.1"
        c.link.remotePort = port
        c.store = { blockSize: BLOCK, auxRingBytes: 1024, flashBytes: 65536 }
        // the board carries no validation: the build (here, the test) does it
        expect(validateConfig(c)).toEqual([])
        const imp = (p: string) => JSON.stringify(dir.importOf(p))
        const src = `
import * as ds from "@devicescript/core"
import { runStarted, startChecked } from ${imp("hal/devicescript/board")}
import { checkBuilt } from ${imp("firmware/boot/bootCheck")}
import { deviceScriptCapabilities } from ${imp("firmware/boot/capabilities")}
import { RunLoop } from ${imp("hal/devicescript/clock")}
import { SpiPort } from ${imp("hal/devicescript/spiBus")}

/** A 1 MB NOR chip (JEDEC ID ef4014) that is never busy: WREN sets WEL, a page program or a
 * sector erase runs when chip select rises and clears WEL. Only the store's first 64 KB hold
 * data, one Buffer per page programmed since its erase (inverted: a new zeroed page is
 * erased), to spare the VM's heap. */
class InstantNor implements SpiPort {
    private cmd = Buffer.alloc(264)
    private n = 0
    private wel = false
    private pages: Buffer[] = []
    open(): string[] {
        for (let i = 0; i < 256; i++) this.pages.push(null)
        return []
    }
    async select() {
        this.n = 0
    }
    async write(tx: Buffer) {
        this.cmd.blitAt(this.n, tx, 0, tx.length)
        this.n += tx.length
    }
    async exchange(out: Buffer): Promise<Buffer> {
        const rx = Buffer.alloc(out.length)
        const c = this.cmd[0]
        const a = (this.cmd[1] << 16) | (this.cmd[2] << 8) | this.cmd[3]
        if (c === 0x9f) {
            rx[0] = 0xef
            rx[1] = 0x40
            rx[2] = 0x14
        } else if (c === 0x05) rx[0] = this.wel ? 2 : 0
        else if (c === 0x03)
            for (let i = 0; i < rx.length; i++) {
                const p = this.pages[(a + i) >> 8]
                rx[i] = p ? p[(a + i) & 255] ^ 0xff : 0xff
            }
        return rx
    }
    async deselect() {
        const c = this.cmd[0]
        const a = (this.cmd[1] << 16) | (this.cmd[2] << 8) | this.cmd[3]
        if (c === 0x06) this.wel = true
        else if ((c === 0x02 || c === 0x20) && this.wel) {
            this.wel = false
            if (c === 0x20) for (let i = 0; i < 16; i++) this.pages[((a >> 12) << 4) + i] = null
            else {
                let p = this.pages[a >> 8]
                if (!p) {
                    p = Buffer.alloc(256)
                    this.pages[a >> 8] = p
                }
                // programming only clears bits (sets bits of the inverted cells), wrapping in the page
                for (let i = 4; i < this.n; i++) p[(a + i - 4) & 255] = p[(a + i - 4) & 255] | (this.cmd[i] ^ 0xff)
            }
        }
    }
}

const loop = new RunLoop()
let up = false
let acked = 0
let failed = 0
const caps = deviceScriptCapabilities()
const checked = checkBuilt(${JSON.stringify(JSON.stringify(c))}, "devicescript.json", caps)
const fw = runStarted(await startChecked(checked, caps, { loop: loop, spiPort: new InstantNor() }), (f) => {
    up = true
})
console.log("started " + (fw !== null))
let t = ds.millis() + 5000
while (!up && ds.millis() < t) await ds.sleep(10)
for (let i = 0; i < ${WRITES} && up; i++) {
    const b = Buffer.alloc(${BLOCK})
    for (let j = 0; j < ${BLOCK}; j++) b[j] = (i * 7 + j) & 0xff
    b[0] = i
    b[1] = i % ${LBAS}
    fw.board.write(i % ${LBAS}, b, (err, seq) => {
        if (err === 0) acked++
        else failed++
    })
    await ds.sleep(15)
}
t = ds.millis() + 15000
while (!(acked + failed === ${WRITES} && fw.board.closedWaiting() === 0 && fw.store.pinnedSeqs(0).length === 0) && ds.millis() < t) await ds.sleep(10)
console.log("acked " + acked + " failed " + failed + " pinned " + fw.store.pinnedSeqs(0).length + " confirmed " + fw.store.confirmedSeq())
console.log(fw.statusLine())
console.log("=== end")
`
        run = await devs(["run", dir.write("replicate.ts", src), "--test", "-T", "30000"])
        if (!run.stdout.includes("test OK")) console.log(run.stdout.slice(-3000), run.stderr.slice(-2000))
    })
    afterAll(() => {
        channel?.stop()
        for (const s of sockets) s.destroy()
        server?.close()
        dir.remove()
    })

    it("runs to the end", () => {
        expect(run.stdout).toContain("test OK")
        expect(run.lines).toContain("=== end")
    })

    it("boots: configuration, flash, store, link, then replication", () => {
        const lines = run.lines
        expect(lines).toContain('seqmirror: board: primary "primary-a", member 0 of group 1 (1 member), mode consistent')
        expect(lines).toContain("seqmirror: flash: JEDEC ID ef4014, 1048576 bytes; the store uses the first 65536")
        expect(lines).toContain("seqmirror: board ready")
        expect(lines).toContain("seqmirror: store: 16 sectors, 0 blocks held, 16 free sectors")
        expect(lines).toContain("seqmirror: replicating: member 0, generation 1, 60 blocks of 256 bytes")
        expect(lines.some((l) => l.startsWith("seqmirror: link up: tcp://127.0.0.1:"))).toBe(true)
        expect(lines).toContain("seqmirror: link channel: session up")
        expect(lines).toContain("started true")
    })

    it("every write is acknowledged, replicated and applied; the board unpins what the remote applied", () => {
        const done = run.lines.find((l) => l.startsWith("acked "))
        expect(done).toBeDefined()
        const m = /^acked (\d+) failed (\d+) pinned (\d+) confirmed (\d+)$/.exec(done!)!
        expect(Number(m[1])).toBe(WRITES)
        expect(Number(m[2])).toBe(0)
        expect(Number(m[3])).toBe(0)
        expect(Number(m[4])).toBe(applied[applied.length - 1])
        // seqs arrive whole and in order, each announced by SEQ_DONE and a manifest
        expect(manifests.map((x) => x.seq)).toEqual(applied)
        expect(seqDone).toEqual(applied)
        for (let k = 1; k < applied.length; k++) expect(applied[k]).toBe(applied[k - 1] + 1)
        // the remote's image, applying seq by seq: each lba holds its last write
        const image = new Map<number, Buffer>()
        for (const p of portions) image.set(p.lba, p.data)
        expect(image.size).toBe(LBAS)
        for (let lba = 0; lba < LBAS; lba++) expect(image.get(lba)!.equals(blockOf(WRITES - LBAS + lba))).toBe(true)
        // write folding: no more portions than writes, and every portion a write's content
        expect(portions.length).toBeLessThanOrEqual(WRITES)
        for (const p of portions) expect(p.data.equals(blockOf(p.data[0]))).toBe(true)
    })

    it("reports its status in one line", () => {
        const status = run.lines.find((l) => l.startsWith("status: "))
        expect(status).toMatch(new RegExp("^status: seq \\d+, " + WRITES + " writes acknowledged, \\d+ portions sent \\(\\d+ from flash\\), link up, \\d+ free sectors$"))
    })
})
