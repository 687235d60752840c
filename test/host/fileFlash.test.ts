import { afterAll, describe, expect, it } from "vitest"
import { Worker } from "node:worker_threads"
import { readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { FlashError } from "../../hal/flash"
import { FileFlash, FlashFileError } from "../../host-sim/host/fileFlash"
import { removeTemps, tempDir } from "./harness"

afterAll(() => removeTemps())

function call<T extends unknown[]>(f: (done: (...r: T) => void) => void): { sync: boolean; result: Promise<T> } {
    let returned = false
    let sync = false
    const result = new Promise<T>((resolve) =>
        f((...r: T) => {
            if (!returned) sync = true
            resolve(r)
        })
    )
    returned = true
    return {
        get sync() {
            return sync
        },
        result,
    }
}

// The host's Flash: NOR semantics and the chip's geometry over a file, each program and erase
// on disk before its callback.
describe("FileFlash", () => {
    it("starts erased, programs only clear bits, erases set a sector to FF, and the file follows at each completion", async () => {
        const dir = tempDir()
        const path = join(dir, "flash.bin")
        const f = FileFlash.open(path, 8192)
        expect(f.geometry()).toEqual({ pageSize: 256, sectorSize: 4096, capacity: 8192 })
        expect(statSync(path).size).toBe(8192)
        expect(readFileSync(path).every((b) => b === 0xff)).toBe(true)

        const p = call<[FlashError]>((done) => f.program(300, Buffer.from([0xf0, 0x0f, 0x55]), done))
        // never from inside the call
        expect(p.sync).toBe(false)
        expect(await p.result).toEqual([FlashError.None])
        // durable when done fired: the file holds it
        expect([...readFileSync(path).subarray(300, 303)]).toEqual([0xf0, 0x0f, 0x55])
        // a second program ANDs: it cannot set a bit back to 1
        expect(await call<[FlashError]>((done) => f.program(300, Buffer.from([0xff, 0xf1, 0xaa]), done)).result).toEqual([FlashError.None])
        const [err, data] = await call<[FlashError, Buffer]>((done) => f.read(299, 5, done)).result
        expect(err).toBe(FlashError.None)
        expect([...data]).toEqual([0xff, 0xf0, 0x01, 0x00, 0xff])
        expect([...readFileSync(path).subarray(300, 303)]).toEqual([0xf0, 0x01, 0x00])

        // an erase sets its whole sector, and only it, to FF
        await call<[FlashError]>((done) => f.program(4096 + 7, Buffer.from([0]), done)).result
        expect(await call<[FlashError]>((done) => f.eraseSector(100, done)).result).toEqual([FlashError.None])
        const after = readFileSync(path)
        expect(after.subarray(0, 4096).every((b) => b === 0xff)).toBe(true)
        expect(after[4096 + 7]).toBe(0)
        expect(f.programs).toBe(3)
        expect(f.erases).toBe(1)
        expect(f.syncs).toBe(4)
        await f.close()

        // opened again: the same contents
        const g = FileFlash.open(path, 8192)
        expect(g.contents().equals(after)).toBe(true)
        await g.close()
    })

    it("refuses a program across a page, out of range or while busy, changing nothing", async () => {
        const dir = tempDir()
        const f = FileFlash.open(join(dir, "flash.bin"), 4096)
        expect(await call<[FlashError]>((done) => f.program(250, Buffer.alloc(10), done)).result).toEqual([FlashError.CrossesPage])
        expect(await call<[FlashError]>((done) => f.program(4095, Buffer.alloc(2), done)).result).toEqual([FlashError.OutOfRange])
        const first = call<[FlashError]>((done) => f.program(0, Buffer.alloc(4), done))
        const second = call<[FlashError]>((done) => f.eraseSector(0, done))
        expect(await second.result).toEqual([FlashError.Busy])
        expect(await first.result).toEqual([FlashError.None])
        expect(
            f
                .contents()
                .subarray(4, 256)
                .every((b) => b === 0xff)
        ).toBe(true)
        expect(
            f
                .contents()
                .subarray(0, 4)
                .every((b) => b === 0)
        ).toBe(true)
        // close waits for the operation in flight, then refuses more
        const inFlight = call<[FlashError]>((done) => f.program(8, Buffer.alloc(1), done))
        await f.close()
        expect(await inFlight.result).toEqual([FlashError.None])
        expect(await call<[FlashError]>((done) => f.program(9, Buffer.alloc(1), done)).result).toEqual([FlashError.NoDevice])
    })

    it("refuses a file of another size and a path that is not a file; a copy never writes the file", async () => {
        const dir = tempDir()
        const path = join(dir, "flash.bin")
        writeFileSync(path, Buffer.alloc(4096, 0xff))
        expect(() => FileFlash.open(path, 8192)).toThrow(FlashFileError)
        expect(() => FileFlash.open(path, 8192)).toThrow(/holds 4096 bytes, but this flash is 8192 bytes/)
        expect(() => FileFlash.open(dir, 4096)).toThrow(/is not a regular file/)
        const copy = FileFlash.copyOf(path)
        await call<[FlashError]>((done) => copy.eraseSector(0, done)).result
        await call<[FlashError]>((done) => copy.program(0, Buffer.alloc(16), done)).result
        expect(copy.contents()[0]).toBe(0)
        expect(readFileSync(path).every((b) => b === 0xff)).toBe(true)
    })
})

// A copy taken while another process writes the file: the writer puts a counter at the start,
// then the same counter at the end, so in every state the file is ever in the start's counter
// is at least the end's. A copy read across a write could hold the end's newer counter with
// the start's older one.
describe("FileFlash.copyOf beside a writer", () => {
    it("every copy is a state the file was in", async () => {
        const dir = tempDir()
        const path = join(dir, "flash.bin")
        const size = 16 << 20
        writeFileSync(path, Buffer.alloc(size, 0xff))
        const writer = new Worker(
            `const { openSync, writeSync } = require("node:fs")
            const { workerData, parentPort } = require("node:worker_threads")
            const fd = openSync(workerData.path, "r+")
            const b = Buffer.alloc(4)
            let k = 0
            parentPort.on("message", () => process.exit(0))
            // bursts of writes with pauses between them, as a remote's store writes
            const step = () => {
                for (let i = 0; i < 50; i++) {
                    b.writeUInt32LE(++k)
                    writeSync(fd, b, 0, 4, 0)
                    writeSync(fd, b, 0, 4, workerData.size - 4)
                }
                setTimeout(step, 3)
            }
            step()`,
            { eval: true, workerData: { path, size } }
        )
        let copies = 0
        let changed = 0
        let last = -1
        try {
            for (let i = 0; i < 60; i++) {
                let flash: FileFlash
                try {
                    flash = FileFlash.copyOf(path, size)
                } catch (e) {
                    // a copy may give up, and says so
                    expect((e as Error).message).toMatch(/kept changing while it was read/)
                    continue
                }
                const c = flash.contents()
                const start = c.readUInt32LE(0)
                const end = c.readUInt32LE(size - 4)
                expect(start >= end || start === 0xffffffff).toBe(true)
                if (end !== last) changed++
                last = end
                copies++
            }
        } finally {
            writer.postMessage("stop")
            await new Promise((r) => writer.once("exit", () => r(null)))
        }
        // the writer ran while the copies were taken
        expect(copies).toBeGreaterThan(10)
        expect(changed).toBeGreaterThan(1)
    })
})
