import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createServer, Server, Socket } from "node:net"
import { devs, DevsResult, freePort, TempDir } from "./devs"

// The board's TCP link (SocketLink on the runtime's socket builtins) in the DeviceScript VM,
// whose sockets are real TCP sockets of the host: a test server refuses the first attempt, takes
// a connection, drops it part way, and takes the reconnection. The link holds no bytes of its
// own: while it is down it takes nothing, and it tells the writer when to go on.

/** Written before the drop, then after the reconnection. */
const FIRST = 4000
const SECOND = 2000
const TOTAL = FIRST + SECOND
/** Most bytes the link hands the socket in one send. */
const CHUNK = 256
const DROP_AFTER = 1500

function pattern(i: number): number {
    return (i * 13 + (i >> 8)) & 0xff
}

describe("board TCP link in the DeviceScript VM", () => {
    const dir = new TempDir("link")
    let run: DevsResult
    let port = 0
    const received: Buffer[] = []
    let server: Server | null = null
    const sockets: Socket[] = []

    beforeAll(async () => {
        port = await freePort()
        const imp = (p: string) => JSON.stringify(dir.importOf(p))
        const src = `
import * as ds from "@devicescript/core"
import { RunLoop } from ${imp("hal/devicescript/clock")}
import { SocketLink } from ${imp("hal/devicescript/socketLink")}

async function until(cond: () => boolean, ms: number) {
    const end = ds.millis() + ms
    while (!cond() && ds.millis() < end) await ds.sleep(5)
}
const loop = new RunLoop()
const link = new SocketLink(loop, { remoteHost: "127.0.0.1", remotePort: ${port}, baud: 115200,
    chunkBytes: ${CHUNK}, backoffBaseMs: 100, backoffCapMs: 400, connectTimeoutMs: 2000 })
const data = Buffer.alloc(${TOTAL})
for (let i = 0; i < ${TOTAL}; i++) data[i] = (i * 13 + (i >> 8)) & 0xff
let off = 0
let limit = ${FIRST}
let rx = 0
let txReady = 0
let firstAccepted = -1
function pump() {
    while (off < limit) {
        const n = link.write(data.slice(off, Math.min(limit, off + 300)))
        off += n
        if (n === 0) return
    }
}
link.onReceive((b) => {
    rx += b.length
})
link.onTxReady(() => {
    txReady++
    pump()
})
loop.setTimer(0, () => {
    pump()
    firstAccepted = off
    link.start()
})
// the server drops the first connection part way; write the rest once the link is back
await until(() => off === ${FIRST} && link.drops >= 1 && link.connects >= 2, 8000)
const rxBefore = rx
limit = ${TOTAL}
loop.setTimer(0, pump)
await until(() => off === ${TOTAL} && link.txFree() === ${CHUNK} && rx > rxBefore, 8000)
console.log("first " + firstAccepted + " off " + off + " free " + link.txFree() + " bitRate " + link.bitRate())
console.log("connects " + link.connects + " drops " + link.drops + " failures " + (link.connectFailures > 0) +
    " txReady " + (txReady > 0) + " echo after reconnect " + (rx > rxBefore) + " state " + link.state())
console.log("sent " + link.bytesSent)
link.stop()
console.log("stopped state " + link.state())
await ds.sleep(20)
`
        let conn = 0
        server = createServer((s) => {
            const mine = conn++
            sockets.push(s)
            received.push(Buffer.alloc(0))
            s.on("data", (d) => {
                received[mine] = Buffer.concat([received[mine], d])
                s.write(d)
                if (mine === 0 && received[0].length >= DROP_AFTER) s.destroy()
            })
            s.on("error", () => {})
        })
        run = await devs(["run", dir.write("link.ts", src), "--test", "-T", "15000"], (line) => {
            // refuse the first attempt: listen only once the link has said it cannot connect
            if (line.startsWith("seqmirror: link: cannot connect") && !server!.listening) server!.listen(port, "127.0.0.1")
        })
    })
    afterAll(() => {
        for (const s of sockets) s.destroy()
        server?.close()
        dir.remove()
    })

    it("runs to the end", () => {
        expect(run.stdout).toContain("test OK")
        expect(run.code).toBe(0)
    })

    it("takes nothing while down, reports the refused attempt once, connects after the backoff", () => {
        // nothing taken before the connection; everything once it is up, in sends of CHUNK
        expect(run.lines).toContain(`first 0 off ${TOTAL} free ${CHUNK} bitRate 115200`)
        const refused = run.lines.filter((l) => l.startsWith("seqmirror: link: cannot connect: "))
        expect(refused.length).toBe(1)
        expect(refused[0]).toMatch(/ECONNREFUSED/)
        expect(run.lines.filter((l) => l === `seqmirror: link up: tcp://127.0.0.1:${port}`).length).toBe(2)
    })

    it("reconnects after the remote drops the connection, and the counters say so", () => {
        expect(run.lines.some((l) => l.startsWith("seqmirror: link down: "))).toBe(true)
        expect(run.lines).toContain("connects 2 drops 1 failures true txReady true echo after reconnect true state 2")
        expect(run.lines).toContain("stopped state 0")
    })

    it("bytes arrive in order and unchanged on each connection; what is written after the reconnection arrives", () => {
        expect(received.length).toBe(2)
        const first = received[0]
        const second = received[1]
        expect(first.length).toBeGreaterThanOrEqual(DROP_AFTER)
        for (let i = 0; i < first.length; i++) if (first[i] !== pattern(i)) throw new Error("first connection: byte " + i)
        // the second connection carries a contiguous run that ends with the last byte written
        // (bytes in flight when the first one died are lost with it)
        const start = TOTAL - second.length
        expect(start).toBeGreaterThanOrEqual(first.length)
        expect(second.length).toBeGreaterThanOrEqual(SECOND)
        for (let i = 0; i < second.length; i++) if (second[i] !== pattern(start + i)) throw new Error("second connection: byte " + i)
        const sent = Number(/^sent (\d+)/.exec(run.lines.find((l) => l.startsWith("sent "))!)![1])
        expect(sent).toBeGreaterThanOrEqual(first.length + second.length)
    })
})
