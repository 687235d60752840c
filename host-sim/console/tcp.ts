// Serves every simulated board's console (and a host remote's) on a TCP port of its own (nc,
// telnet, socat), the way board simulators expose a UART, and optionally on a pseudo-terminal
// through socat (picocom, screen). Listens on 127.0.0.1 unless told otherwise: the consoles can
// inject faults and change what a board does (Node only).
import { ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, lstatSync, unlinkSync } from "node:fs"
import { createServer, Server, Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BoardConsole } from "./hub"

export const DEFAULT_CONSOLE_PORT = 7001

/** Whether a client's address is this machine's (IPv4 or IPv6 loopback, or IPv4 loopback
 * mapped into IPv6). */
export function isLoopback(address: string | undefined): boolean {
    if (!address) return false
    if (address === "::1") return true
    const v4 = address.startsWith("::ffff:") ? address.slice(7) : address
    return /^127\.\d+\.\d+\.\d+$/.test(v4)
}

export class ConsolePortError extends Error {}

/** True when socat can be started. */
export function socatAvailable(): boolean {
    const r = spawnSync("socat", ["-V"], { stdio: "ignore" })
    return !r.error && r.status === 0
}

export class ConsoleServer {
    private servers: Server[] = []
    private sockets = new Set<Socket>()
    private children: ChildProcess[] = []

    /** `hub`: the consoles to serve (the simulator's ConsoleHub, or a host's one board);
     * `kind`: what the greeting calls the board ("simulated", "host"). */
    /** `host`: the address it listens on (default 127.0.0.1: this machine only). */
    constructor(
        private hub: { boards: BoardConsole[] },
        private kind = "simulated",
        private host = "127.0.0.1"
    ) {}

    /**
     * Listens for every board, in the hub's order, on consecutive ports from `base` (0: ports
     * the system picks). `fallback`: when a port of the block is taken, try the next blocks
     * (base + 100, + 200, ...) before giving up; otherwise fail with ConsolePortError.
     */
    async listen(base: number, fallback: boolean): Promise<void> {
        const n = this.hub.boards.length
        for (let attempt = 0; attempt < (fallback ? 10 : 1); attempt++) {
            const start = base === 0 ? 0 : base + attempt * 100
            if (start !== 0 && start + n - 1 > 65535) break
            const taken = await this.tryBlock(start)
            if (taken === null) return
            if (!fallback) throw new ConsolePortError(`console port ${taken} is in use; pick another first port with --console-port BASE (0: any free ports)`)
        }
        if (fallback && base !== 0) {
            await this.tryBlock(0)
            return
        }
        throw new ConsolePortError(`no free block of ${n} console ports from ${base}; use --console-port BASE (0: any free ports)`)
    }

    /** Listens on start, start+1, ...; returns null on success or the port that was taken. */
    private async tryBlock(start: number): Promise<number | null> {
        const opened: Server[] = []
        for (let i = 0; i < this.hub.boards.length; i++) {
            const board = this.hub.boards[i]
            const port = start === 0 ? 0 : start + i
            try {
                const server = await this.listenOne(board, port)
                opened.push(server)
                const addr = server.address()
                board.port = typeof addr === "object" && addr ? addr.port : port
            } catch (e) {
                for (const s of opened) s.close()
                for (const b of this.hub.boards) b.port = -1
                const code = (e as NodeJS.ErrnoException).code
                if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") return port
                throw e
            }
        }
        this.servers.push(...opened)
        return null
    }

    private listenOne(board: BoardConsole, port: number): Promise<Server> {
        return new Promise((resolve, reject) => {
            const server = createServer((socket) => this.accept(board, socket))
            server.once("error", reject)
            server.listen(port, this.host, () => {
                server.removeListener("error", reject)
                server.on("error", () => {})
                resolve(server)
            })
        })
    }

    private accept(board: BoardConsole, socket: Socket): void {
        this.sockets.add(socket)
        socket.setNoDelay(true)
        const sink = {
            write: (text: string) => {
                if (!socket.destroyed && socket.writable) socket.write(Buffer.from(text, "latin1"))
            },
        }
        sink.write("seqmirror console: " + board.name + " (" + this.kind + "); type help\r\n")
        const conn = board.console.connect(sink, false, isLoopback(socket.remoteAddress))
        socket.on("data", (data: Buffer) => conn.feed(data))
        const end = () => {
            conn.close()
            this.sockets.delete(socket)
        }
        socket.on("close", end)
        socket.on("error", () => socket.destroy())
    }

    /**
     * Opens a pseudo-terminal per board through socat, linked at
     * <tmpdir>/seqmirror-<board> (e.g. /tmp/seqmirror-primary0), and resolves once every link
     * is in place. Typed characters are echoed. A stale link of an earlier run is replaced.
     */
    async openPtys(): Promise<string[]> {
        const paths: string[] = []
        for (const board of this.hub.boards) {
            const path = join(tmpdir(), "seqmirror-" + board.name.replace(" ", ""))
            await this.openPty(board, path)
            board.pty = path
            paths.push(path)
        }
        return paths
    }

    private openPty(board: BoardConsole, path: string): Promise<void> {
        try {
            if (lstatSync(path).isSymbolicLink()) unlinkSync(path)
        } catch {
            // no such link
        }
        const child = spawn("socat", [`PTY,link=${path},raw,echo=0`, "STDIO"], { stdio: ["pipe", "pipe", "ignore"] })
        this.children.push(child)
        const sink = {
            write: (text: string) => {
                if (child.stdin && child.stdin.writable) child.stdin.write(Buffer.from(text, "latin1"))
            },
        }
        const conn = board.console.connect(sink, true)
        child.stdout?.on("data", (data: Buffer) => conn.feed(data))
        child.stdin?.on("error", () => {})
        child.on("exit", () => conn.close())
        return new Promise((resolve, reject) => {
            let tries = 0
            const failed = (why: string) => {
                clearInterval(poll)
                reject(new ConsolePortError(`socat could not open a pseudo-terminal at ${path}: ${why}`))
            }
            // socat makes the link a moment after it starts
            const poll = setInterval(() => {
                if (existsSync(path)) {
                    clearInterval(poll)
                    resolve()
                } else if (++tries > 300) failed("no link after 3 s")
            }, 10)
            child.on("error", (e) => failed(e.message))
            child.on("exit", (code) => {
                if (!existsSync(path)) failed("socat exited with code " + code)
            })
        })
    }

    /** Says goodbye to every client and stops listening. */
    async close(farewell: string): Promise<void> {
        for (const s of this.sockets) {
            if (s.destroyed) continue
            // flush the farewell, then drop the connection whether or not the client closes
            s.end(farewell + "\r\n", () => s.destroy())
            setTimeout(() => s.destroy(), 500).unref()
        }
        for (const c of this.children) if (c.exitCode === null) c.kill()
        this.children = []
        await Promise.all(this.servers.map((s) => new Promise<void>((res) => s.close(() => res()))))
        this.sockets.clear()
        this.servers = []
    }
}
