import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect, createServer, Socket } from "node:net"
import { Writable } from "node:stream"
import { ConsoleHub } from "../../host-sim/console/hub"
import { ConsolePortError, ConsoleServer } from "../../host-sim/console/tcp"
import { FaultLog } from "../../host-sim/faultLog"
import { LiveRun } from "../../host-sim/live/driver"
import { defaultSimOptions, Simulation, SimResult } from "../../host-sim/sim"
import { TimelineSampler } from "../../host-sim/timeline"

/** A console client: lines in arrival order, awaited by pattern (no sleeps: socket events). */
class Client {
    private lines: string[] = []
    private partial = ""
    private waiters: Array<() => void> = []
    private closed = false

    constructor(readonly socket: Socket) {
        socket.on("data", (d: Buffer) => {
            this.partial += d.toString("latin1")
            const parts = this.partial.split("\r\n")
            this.partial = parts.pop() ?? ""
            this.lines.push(...parts)
            this.wake()
        })
        socket.on("close", () => {
            this.closed = true
            this.wake()
        })
    }

    static open(port: number): Promise<Client> {
        return new Promise((resolve, reject) => {
            const s = connect(port, "127.0.0.1", () => resolve(new Client(s)))
            s.once("error", reject)
        })
    }

    private wake(): void {
        const w = this.waiters
        this.waiters = []
        for (const f of w) f()
    }

    send(text: string | Buffer): void {
        this.socket.write(text)
    }

    /** Waits for the next line matching re; lines before it are consumed. */
    async next(re: RegExp): Promise<string> {
        for (;;) {
            while (this.lines.length > 0) {
                const l = this.lines.shift()!
                if (re.test(l)) return l
            }
            if (this.closed) throw new Error("console closed while waiting for " + re)
            await new Promise<void>((r) => this.waiters.push(r))
        }
    }

    /** Sends a command and collects its lines: up to and including the line matching `last`. */
    async ask(cmd: string, first: RegExp, last: RegExp = first): Promise<string[]> {
        this.send(cmd + "\n")
        const out = [await this.next(first)]
        while (!last.test(out[out.length - 1])) out.push(await this.next(/^(?!info: |debug: )/))
        return out
    }

    /** Resolves when the server ends the connection; returns what it said last. */
    async end(): Promise<string[]> {
        while (!this.closed) await new Promise<void>((r) => this.waiters.push(r))
        const rest = this.lines
        this.lines = []
        return rest
    }
}

const devnull = new Writable({ write: (_c, _e, cb) => cb() })

describe("board consoles over TCP while the simulator runs", () => {
    let sim: Simulation
    let hub: ConsoleHub
    let server: ConsoleServer
    let run: LiveRun
    let finished: Promise<SimResult>

    beforeAll(async () => {
        sim = new Simulation({ ...defaultSimOptions(), boards: 3, durationMs: 3600000 })
        const faults = new FaultLog(sim)
        hub = new ConsoleHub(sim, faults)
        server = new ConsoleServer(hub)
        await server.listen(0, false)
        run = new LiveRun(sim, new TimelineSampler(sim, faults, 100), faults, hub, server, { speed: 10, dashboard: "off", out: devnull })
        finished = run.run()
    })

    afterAll(async () => {
        run.stop()
        await finished
        await server.close("bye")
    })

    it("every board (three primaries and the remote) listens on its own port", () => {
        expect(hub.boards.map((b) => b.name)).toEqual(["primary 0", "primary 1", "primary 2", "remote"])
        const ports = hub.boards.map((b) => b.port)
        for (const p of ports) expect(p).toBeGreaterThan(0)
        expect(new Set(ports).size).toBe(4)
    })

    it("status answers, bogus gets the error line, stats --json parses, a fault shows in status", async () => {
        const c = await Client.open(hub.boards[0].port)
        await c.next(/^seqmirror console: primary 0 \(simulated\); type help$/)
        // the firmware boots in virtual time: ask until it runs
        let st = await c.ask("status", /^(primary 0 addr|board not running)/)
        while (st[0].startsWith("board not running")) st = await c.ask("status", /^(primary 0 addr|board not running)/)
        st = await c.ask("status", /^primary 0 addr 0x10, clock /, /^shuttle /)
        expect(st[1]).toMatch(/^seq capture \d+ released \d+/)
        expect(st[4]).toMatch(/^shuttle epoch \d+, 3 members$/)

        expect(await c.ask("bogus", /^error/)).toEqual(['error: unknown command "bogus"; try help'])

        const js = await c.ask("stats --json", /^\{/)
        const stats = JSON.parse(js[0])
        expect(stats.member).toBe(0)
        expect(stats.captureSeq).toBeGreaterThan(0)
        expect(typeof stats.writesAcked).toBe("number")

        expect(await c.ask("fault link 10m", /^(link of|error)/)).toEqual(["link of primary 0 cut for 600000 ms"])
        expect(sim.group.wires[0].isUp()).toBe(false)
        const after = await c.ask("status", /^primary 0 addr/, /^sim: link cut by fault, \d+ ms left$/)
        expect(after[after.length - 1]).toMatch(/^sim: link cut by fault, (59\d{4}|600000) ms left$/)
        c.socket.destroy()
    })

    it("a power cut from one console takes that board down while the others keep answering", async () => {
        const c1 = await Client.open(hub.boards[1].port)
        const c2 = await Client.open(hub.boards[2].port)
        expect(await c1.ask("fault power 10m", /^(power cut|error)/)).toEqual(["power cut; primary 1 boots again in 600000 ms"])
        expect(sim.group.primaries[1].up).toBe(false)
        expect(await c1.ask("status", /^board not running/, /^sim: powered off/)).toEqual([
            "board not running (booting or powered off)",
            expect.stringMatching(/^sim: powered off, boots in \d+ ms$/),
        ])
        expect((await c2.ask("seq", /^capture/))[0]).toMatch(/^capture \d+, released \d+/)
        c1.socket.destroy()
        c2.socket.destroy()
    })

    it("binary garbage and an over-long line get one error line each, and the console keeps working", async () => {
        const c = await Client.open(hub.boards[3].port)
        await c.next(/^seqmirror console: remote/)
        c.send(Buffer.from([0x00, 0x01, 0xfe, 0x80, 0x41, 0x0a]))
        expect(await c.next(/^error/)).toBe("error: the line holds a control or non-ASCII character; try help")
        c.send("y".repeat(100000) + "\n")
        expect(await c.next(/^error/)).toBe("error: line too long (161 characters, at most 160); try help")
        // telnet negotiation before a command is dropped
        c.send(Buffer.concat([Buffer.from([0xff, 0xfd, 0x03, 0xff, 0xfb, 0x18]), Buffer.from("verdict\r\n")]))
        expect(await c.next(/^(consistent|NOT|error)/)).toMatch(/^consistent so far: \d+ applies checked, no violation$/)
        c.socket.destroy()
    })

    it("two clients of one board both see its lines; each types its own", async () => {
        const a = await Client.open(hub.boards[2].port)
        const b = await Client.open(hub.boards[2].port)
        a.send("gro")
        b.send("seq\n")
        a.send("up\n")
        // the two answers may come in either order; both clients see both
        for (const c of [a, b]) {
            const seen = [await c.next(/^(capture|group of)/), await c.next(/^(capture|group of)/)].sort()
            expect(seen[0]).toMatch(/^capture \d+, released \d+/)
            expect(seen[1]).toMatch(/^group of 3: /)
        }
        a.socket.destroy()
        b.socket.destroy()
    })
})

describe("console ports", () => {
    it("a taken port given on the command line is an error that names it", async () => {
        const blocker = createServer()
        await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()))
        const taken = (blocker.address() as { port: number }).port
        const sim = new Simulation({ ...defaultSimOptions(), boards: 1 })
        const hub = new ConsoleHub(sim, new FaultLog(sim))
        const server = new ConsoleServer(hub)
        await expect(server.listen(taken, false)).rejects.toThrow(ConsolePortError)
        await expect(server.listen(taken, false)).rejects.toThrow(`console port ${taken} is in use`)
        // with fallback it takes the next block
        await server.listen(taken, true)
        expect(hub.boards[0].port).not.toBe(taken)
        expect(hub.boards[1].port).toBe(hub.boards[0].port + 1)
        await server.close("bye")
        await new Promise<void>((r) => blocker.close(() => r()))
    })

    it("the run's end tells connected clients and closes them", async () => {
        const sim = new Simulation({ ...defaultSimOptions(), boards: 2, durationMs: 3600000 })
        const faults = new FaultLog(sim)
        const hub = new ConsoleHub(sim, faults)
        const server = new ConsoleServer(hub)
        await server.listen(0, false)
        const run = new LiveRun(sim, new TimelineSampler(sim, faults, 100), faults, hub, server, { speed: Infinity, dashboard: "off", out: devnull })
        const finished = run.run()
        const c = await Client.open(hub.boards[0].port)
        await c.next(/^seqmirror console/)
        run.stop()
        const r = await finished
        hub.announce("run over: verdict " + (r.consistent ? "consistent" : "NOT CONSISTENT"))
        await server.close("console closed: the simulation ended")
        const tail = await c.end()
        expect(tail).toContain("run over: verdict consistent")
        expect(tail[tail.length - 1]).toBe("console closed: the simulation ended")
    })
})
