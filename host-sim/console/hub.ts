// The serial consoles of a simulated group: every board (each primary and the remote) gets a
// Console with the shell and the board commands that run on a real board, plus the
// simulator's fault commands. Transports (TCP, a pseudo-terminal) connect to a board's
// SimConsole as a UART adapter would (Node only).
import { Console } from "../../hal/console"
import { addPrimaryCommands, addRemoteCommands, PrimaryParts, RemoteParts } from "../../firmware/console/commands"
import { LineReader } from "../../firmware/console/lineReader"
import { appliedText } from "../../firmware/console/remoteCommands"
import { LogLevel, Shell, ShellCommand, ShellError } from "../../firmware/console/shell"
import { FrameType } from "../../firmware/shuttle/frames"
import { FaultLog } from "../faultLog"
import { SimPrimary } from "../group"
import { Prng } from "../prng"
import { Simulation } from "../sim"

/** Longest console line; longer ones get one error line. */
export const CONSOLE_MAX_LINE = 160

/** Where a console's output goes: one connected client. */
export interface ConsoleSink {
    write(text: string): void
}

/**
 * A board's console port. Output goes to every connected client (as on a UART with a
 * monitor attached, everyone sees the board's lines); each client has its own line assembly,
 * so two clients typing at once do not mix their lines.
 */
export class SimConsole implements Console {
    private handler: ((line: string) => void) | null = null
    private sinks: ConsoleSink[] = []
    linesOut = 0
    linesIn = 0
    /** Whether the line being run came from a client on this machine (stdin, a pseudo-terminal,
     * a TCP client on a loopback address): the shell's guard asks. */
    lineLocal = true

    writeLine(text: string): void {
        this.linesOut++
        for (const s of this.sinks.slice()) s.write(text + "\r\n")
    }

    onLine(handler: (line: string) => void): void {
        this.handler = handler
    }

    /** A client connects. `echo`: send typed characters back (a raw terminal through a
     * pseudo-terminal shows nothing otherwise; nc and telnet echo locally); `local`: the client
     * is on this machine. */
    connect(sink: ConsoleSink, echo: boolean, local = true): ConsoleConnection {
        this.sinks.push(sink)
        return new ConsoleConnection(this, sink, echo, local)
    }

    /** Runs one line as if a client had typed it (`local`: a client on this machine). */
    input(line: string, local = true): void {
        this.linesIn++
        this.lineLocal = local
        if (this.handler) this.handler(line)
        this.lineLocal = true
    }

    detach(sink: ConsoleSink): void {
        this.sinks = this.sinks.filter((s) => s !== sink)
    }

    clients(): number {
        return this.sinks.length
    }
}

export class ConsoleConnection {
    private reader: LineReader

    constructor(
        private console: SimConsole,
        private sink: ConsoleSink,
        private echo: boolean,
        local = true
    ) {
        this.reader = new LineReader(CONSOLE_MAX_LINE, (line) => console.input(line, local))
    }

    /** Bytes from the client. */
    feed(data: Buffer): void {
        if (this.echo) this.sink.write(echoOf(data))
        this.reader.feed(data)
    }

    close(): void {
        this.console.detach(this.sink)
    }
}

/** What a terminal should show for typed bytes: printable characters, a new line for CR or
 * LF, erase for backspace. */
function echoOf(data: Buffer): string {
    let s = ""
    for (const c of data) {
        if (c === 13 || c === 10) s += "\r\n"
        else if (c === 8 || c === 127) s += "\b \b"
        else if (c >= 32 && c < 127) s += String.fromCharCode(c)
    }
    return s
}

/** One board's console in the hub. */
export class BoardConsole {
    /** TCP port, once listening (-1: none). */
    port = -1
    /** Pseudo-terminal path, when one was opened. */
    pty = ""
    constructor(
        /** "primary 0", ..., "remote" */
        readonly name: string,
        readonly console: SimConsole,
        readonly shell: Shell
    ) {}
}

/** Parses a fault duration: 500, 500ms, 2s, 1.5s; at most 10 minutes. */
export function parseFaultTime(s: string): number {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s)
    if (!m) throw new ShellError(`bad time "${s}" (use e.g. 500ms, 2s or 1m)`)
    const ms = parseFloat(m[1]) * (m[2] === "s" ? 1000 : m[2] === "m" ? 60000 : 1)
    if (!(ms >= 1) || ms > 600000) throw new ShellError(`time ${s} is out of range 1ms..600s`)
    return ms
}

const DEFAULT_POWER_OFF_MS = 200

export class ConsoleHub {
    readonly boards: BoardConsole[] = []
    /** Per primary: virtual time until which a console fault holds its link down. */
    private linkCutUntil: number[] = []
    /** Per primary, then the remote: virtual time of the next boot while powered off. */
    private bootAt: number[] = []
    private shuttleDropsArmed = 0
    private faultSeed = 0

    constructor(
        private sim: Simulation,
        private faults: FaultLog
    ) {
        const g = sim.group
        for (const p of g.primaries) {
            this.linkCutUntil.push(0)
            this.bootAt.push(0)
            this.boards.push(this.primaryConsole(p))
        }
        this.bootAt.push(0)
        this.boards.push(this.remoteConsole())
        const prevCut = g.onPowerCut
        g.onPowerCut = (p, offMs, replaced) => {
            if (prevCut) prevCut(p, offMs, replaced)
            this.bootAt[p ? p.member : g.primaries.length] = sim.kernel.millis() + offMs
        }
        faults.listen((e) => {
            for (const b of this.boards) if (e.target === b.name || (e.target === "bus" && b.name !== "remote")) b.shell.log(LogLevel.Info, "sim: " + e.detail)
        })
    }

    /** The console of "primary N" or "remote". */
    byName(name: string): BoardConsole | null {
        return this.boards.find((b) => b.name === name) ?? null
    }

    /** Tells every client that the run is over. */
    announce(line: string): void {
        for (const b of this.boards) b.console.writeLine(line)
    }

    private primaryConsole(p: SimPrimary): BoardConsole {
        const sim = this.sim
        const con = new SimConsole()
        const shell = new Shell(con, CONSOLE_MAX_LINE)
        const name = "primary " + p.member
        const parts = (): PrimaryParts | null => {
            if (!p.up || !p.board || !p.store || !p.channel || !p.clock) return null
            return {
                member: p.member,
                address: p.address,
                clock: p.clock,
                board: p.board,
                store: p.store,
                channel: p.channel,
                agent: sim.agents[p.member] ?? null,
            }
        }
        addPrimaryCommands(shell, con, parts, () => this.primarySimStatus(p))
        shell.add(
            new ShellCommand(
                "fault",
                "fault link <time> | fault power [time] | fault shuttle | fault replace [time]",
                "simulator: cut this board's link, power-cycle it, lose the shuttle, replace it by a blank board that restores from the remote",
                (args) => this.primaryFault(p, args)
            )
        )
        const prevUp = p.onUp
        p.onUp = () => {
            if (prevUp) prevUp()
            const b = p.board
            if (p.channel) p.channel.onStateChange((st) => shell.log(LogLevel.Info, "link " + st))
            shell.log(LogLevel.Info, "boot " + p.boots + ": " + name + " up, capture seq " + (b ? b.captureSeq() : 0))
        }
        return new BoardConsole(name, con, shell)
    }

    private remoteConsole(): BoardConsole {
        const sim = this.sim
        const r = sim.group.remote
        const con = new SimConsole()
        const shell = new Shell(con, CONSOLE_MAX_LINE)
        const parts = (): RemoteParts | null => {
            if (!r.up || !r.board || !r.store || !r.clock) return null
            return { clock: r.clock, board: r.board, store: r.store, channels: r.channels, suspendAfterMs: sim.group.opts.suspendAfterMs }
        }
        addRemoteCommands(shell, con, parts, () => this.remoteSimStatus())
        shell.add(
            new ShellCommand(
                "fault",
                "fault link <time> | fault power [time] | fault replace [time]",
                "simulator: cut every member's link, power-cycle the remote, replace it by a blank board",
                (args) => this.remoteFault(args)
            )
        )
        shell.add(
            new ShellCommand("verdict", "verdict", "simulator: the consistency checker's verdict so far", (args) => {
                if (args.length > 0) throw new ShellError("verdict takes no argument")
                return [this.verdictLine()]
            })
        )
        const prevUp = r.onUp
        r.onUp = () => {
            if (prevUp) prevUp()
            shell.log(LogLevel.Info, "boot " + r.boots + ": remote up, " + (r.store ? appliedText(r.store) : "applied no seq yet"))
            const board = r.board
            if (board) {
                const prevApplied = board.onApplied
                board.onApplied = (seq, m) => {
                    if (prevApplied) prevApplied(seq, m)
                    shell.log(LogLevel.Debug, "applied seq " + seq + ": " + m.totalPortions() + " portions")
                }
            }
        }
        return new BoardConsole("remote", con, shell)
    }

    /** The checker's verdict so far, in one line. */
    verdictLine(): string {
        const sim = this.sim
        const n = sim.violations.length
        if (n === 0) return "consistent so far: " + sim.checksAfterApply + " applies checked, no violation"
        return "NOT CONSISTENT: " + n + " violation(s); first: " + sim.violations[0]
    }

    private ensureRunning(): void {
        if (this.sim.stopped()) throw new ShellError("the run is over: no more faults while the remote catches up")
    }

    private primaryFault(p: SimPrimary, args: string[]): string[] {
        const sim = this.sim
        const what = args[0]
        if (what === "link") {
            if (args.length !== 2) throw new ShellError("fault link takes a time, e.g. fault link 3s")
            const ms = parseFaultTime(args[1])
            this.ensureRunning()
            this.cutLink(p.member, ms)
            return ["link of " + "primary " + p.member + " cut for " + ms + " ms"]
        }
        if (what === "power") {
            if (args.length > 2) throw new ShellError("fault power takes at most a time off")
            const ms = args.length === 2 ? parseFaultTime(args[1]) : DEFAULT_POWER_OFF_MS
            this.ensureRunning()
            if (!p.up) throw new ShellError("the board is already powered off")
            sim.group.powerCycle(p, new Prng((sim.opts.seed ^ 0xc0de) + this.faultSeed++), ms)
            sim.apps[p.member].powerLost()
            sim.faultsInjected.power++
            return ["power cut; primary " + p.member + " boots again in " + ms + " ms"]
        }
        if (what === "shuttle") {
            if (args.length !== 1) throw new ShellError("fault shuttle takes no argument")
            const bus = sim.shuttleBus
            if (!bus) throw new ShellError("a group of one has no shuttle")
            this.ensureRunning()
            this.shuttleDropsArmed++
            bus.dropNext((_from, to, d) => {
                const hit = to !== 0 && d.length > 0 && d[0] === FrameType.Shuttle
                if (hit) {
                    this.shuttleDropsArmed--
                    this.faults.add("shuttle drop", "bus", "a shuttle hand-over was lost")
                }
                return hit
            })
            sim.faultsInjected.shuttleLost++
            return ["the next shuttle hand-over on the bus will be lost; a member regenerates the shuttle after its lap timeout"]
        }
        if (what === "replace") {
            if (args.length > 2) throw new ShellError("fault replace takes at most a time off")
            const ms = args.length === 2 ? parseFaultTime(args[1]) : DEFAULT_POWER_OFF_MS
            this.ensureRunning()
            if (!p.up) throw new ShellError("the board is powered off")
            if (!sim.group.remote.up) throw new ShellError("the remote is down: a board restores from it")
            if (!sim.replacePrimary(p.member, new Prng((sim.opts.seed ^ 0x5e9a) + this.faultSeed++), ms))
                throw new ShellError(
                    "another board is restoring or off for a while, or the remote was replaced and has not caught up: a board is replaced while the others are up and the remote holds the group's image"
                )
            return ["primary " + p.member + " replaced by a board with a blank flash; it boots in " + ms + " ms and restores its image from the remote"]
        }
        throw new ShellError(
            what === undefined ? "fault needs a kind: link, power, shuttle or replace" : `unknown fault "${what}" (link, power, shuttle or replace)`
        )
    }

    private remoteFault(args: string[]): string[] {
        const sim = this.sim
        const what = args[0]
        if (what === "link") {
            if (args.length !== 2) throw new ShellError("fault link takes a time, e.g. fault link 3s")
            const ms = parseFaultTime(args[1])
            this.ensureRunning()
            for (let b = 0; b < sim.group.wires.length; b++) this.cutLink(b, ms)
            return ["every member's link cut for " + ms + " ms"]
        }
        if (what === "power" || what === "replace") {
            // both take the remote off for a time; replace brings a new board with a blank flash
            if (args.length > 2) throw new ShellError("fault " + what + " takes at most a time off")
            const ms = args.length === 2 ? parseFaultTime(args[1]) : DEFAULT_POWER_OFF_MS
            this.ensureRunning()
            if (!sim.group.remote.up) throw new ShellError("the remote is already powered off")
            const prng = new Prng((sim.opts.seed ^ 0xc0de) + this.faultSeed++)
            if (what === "replace") {
                sim.replaceRemote(prng, ms, null)
                return ["the remote is replaced by a new board with a blank flash, up in " + ms + " ms; the group resyncs it in full"]
            }
            sim.group.powerCycleRemote(prng, ms)
            sim.faultsInjected.remotePower++
            return ["power cut; the remote boots again in " + ms + " ms"]
        }
        if (what === "shuttle") throw new ShellError("the remote is not on the group bus: give fault shuttle on a primary's console")
        throw new ShellError(what === undefined ? "fault needs a kind: link, power or replace" : `unknown fault "${what}" (link, power or replace)`)
    }

    private cutLink(b: number, ms: number): void {
        const sim = this.sim
        const wire = sim.group.wires[b]
        const until = sim.kernel.millis() + ms
        if (until > this.linkCutUntil[b]) this.linkCutUntil[b] = until
        wire.setUp(false)
        sim.faultsInjected.linkOutage++
        sim.kernel.setTimer(ms, () => {
            if (sim.kernel.millis() >= this.linkCutUntil[b]) wire.setUp(true)
        })
    }

    private primarySimStatus(p: SimPrimary): string[] {
        const sim = this.sim
        const now = sim.kernel.millis()
        const out: string[] = []
        if (!p.up) out.push("sim: powered off, boots in " + Math.max(0, Math.round(this.bootAt[p.member] - now)) + " ms")
        const r = p.fw ? p.fw.restoring : null
        if (r) out.push("sim: restoring its image from the remote, " + (r.blocks ?? 0) + " blocks written")
        if (this.linkCutUntil[p.member] > now) out.push("sim: link cut by fault, " + Math.round(this.linkCutUntil[p.member] - now) + " ms left")
        else if (!sim.group.wires[p.member].isUp()) out.push("sim: link down (outage)")
        if (this.shuttleDropsArmed > 0) out.push("sim: shuttle drop armed")
        return out
    }

    private remoteSimStatus(): string[] {
        const sim = this.sim
        const r = sim.group.remote
        const out: string[] = []
        if (!r.up) out.push("sim: powered off, boots in " + Math.max(0, Math.round(this.bootAt[this.bootAt.length - 1] - sim.kernel.millis())) + " ms")
        out.push("sim: " + this.verdictLine())
        return out
    }
}
