import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { historyRoom } from "../../firmware/pipeline/primary"
import { MANIFEST_BYTES, SEQ_RECORD_BYTES, WAITING_WRITE_BYTES } from "../../host-sim/bench/fixedRam"
import { devs, DevsResult, heapProbe, heapProbes, TempDir } from "./devs"

// What a primary holds per seq record, per final manifest and per app write not yet answered,
// measured in the DeviceScript VM: each run builds a PrimaryBoard as the board's firmware does
// (over a store and a link that take nothing), makes many of one kind of record the way the
// firmware makes them (a larger history bound: its seq records are allocated at start; final
// manifests given to it; app writes it holds, its cycle not started), then allocates 128-byte
// Buffers until the VM runs out of memory. A run that holds a known 16 KB Buffer instead says
// what one probe step costs. The build's costs (host-sim/bench/fixedRam.ts) must be within a
// quarter of what the VM measures.

const MANY = 200
const WRITES = 40
const BLOCK = 256

function entry(imp: (p: string) => string, what: string): string {
    return `
import * as ds from "@devicescript/core"
import { AckMode, PrimaryBoard } from ${imp("firmware/pipeline/primary")}
import { Manifest, ManifestEntry } from ${imp("firmware/protocol/messages")}
import { RunLoop } from ${imp("hal/devicescript/clock")}

const loop = new RunLoop()
const store: any = {
    readCrc: 0,
    write: () => {},
    pinnedSeqs: () => [] as number[],
    pinned: () => [] as any[],
    readPinned: () => {},
    confirm: () => {},
    confirmedSeq: () => 0,
    read: () => {},
    newestSeq: () => -1,
    liveVersions: () => 0,
}
const link: any = { send: () => false, isUp: () => false, onWritable: () => {}, onMessage: () => {}, onSessionUp: () => {}, setReceiveCredit: () => {} }
const what: string = ${JSON.stringify(what)}
const history = what === "records" || what === "manifests" ? ${MANY} : 4
const b = new PrimaryBoard({ member: 0, blockSize: ${BLOCK}, lbaCount: 64, auxRingBytes: 1024, maxLbasPerSeq: 16, mode: AckMode.Consistent, minCycleMs: 100, maxClosedSeqs: 8, maxHistorySeqs: history, maxWritesWaiting: 1000 }, loop, store, link)
b.recover(0, 0, 0)
const keep: Buffer[] = []
if (what === "known") keep.push(Buffer.alloc(16384))
let answered = 0
for (let i = 0; what === "manifests" && i < ${MANY}; i++) {
    b.manifestFinal(new Manifest(i + 1, i, [new ManifestEntry(0, 3, 3 * ${BLOCK})]))
    if (i % 50 === 0) await ds.sleep(1)
}
for (let i = 0; what === "writes" && i < ${WRITES}; i++) {
    b.write(i % 64, Buffer.alloc(${BLOCK}), (err, seq) => {
        answered++
    })
    await ds.sleep(1)
}
await ds.sleep(10)
console.log("held " + b.manifestsKept.length + " " + b.manifests.length + " " + b.writesWaiting() + " " + answered)
${heapProbe(128)}`
}

describe("what a seq record, a final manifest and a waiting write cost, measured in the DeviceScript VM", () => {
    const dir = new TempDir("historyram")
    const runs: Record<string, DevsResult> = {}

    beforeAll(async () => {
        const imp = (p: string) => JSON.stringify(dir.importOf(p))
        const kinds = ["base", "known", "records", "manifests", "writes"]
        for (const k of kinds) runs[k] = await devs(["run", dir.write(k + ".ts", entry(imp, k)), "--test", "-T", "20000"])
    }, 120000)
    afterAll(() => dir.remove())

    it("each run built what it says, then ran out of memory probing", () => {
        for (const k of Object.keys(runs)) expect(runs[k].stdout, k + ": " + runs[k].stdout.slice(-1500)).toContain("OutOfMemory")
        expect(runs.manifests.lines).toContain("held " + MANY + " " + MANY + " 0 0")
        expect(runs.writes.lines).toContain("held 0 0 " + WRITES + " 0")
    })

    it("the build's costs are within a quarter of the VM's", () => {
        const base = heapProbes(runs.base)
        const step = 16384 / (base - heapProbes(runs.known))
        const record = ((base - heapProbes(runs.records)) * step) / (historyRoom(MANY, 1) - historyRoom(4, 1))
        const manifest = ((heapProbes(runs.records) - heapProbes(runs.manifests)) * step) / MANY
        const write = ((base - heapProbes(runs.writes)) * step) / WRITES - BLOCK
        console.log(
            `VM: a probe step ${step.toFixed(0)} bytes; a seq record ${record.toFixed(1)} bytes (build ${SEQ_RECORD_BYTES}), a final manifest ` +
                `${manifest.toFixed(1)} (build ${MANIFEST_BYTES}), a waiting write ${write.toFixed(0)} beyond its block (build ${WAITING_WRITE_BYTES})`
        )
        expect(Math.abs(record - SEQ_RECORD_BYTES)).toBeLessThanOrEqual(SEQ_RECORD_BYTES / 4)
        expect(Math.abs(manifest - MANIFEST_BYTES)).toBeLessThanOrEqual(MANIFEST_BYTES / 4)
        expect(Math.abs(write - WAITING_WRITE_BYTES)).toBeLessThanOrEqual(WAITING_WRITE_BYTES / 4)
    })
})
