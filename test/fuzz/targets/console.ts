import fc from "fast-check"
import { Console } from "../../../hal/console"
import { addPrimaryCommands, addRemoteCommands, PrimaryParts, RemoteParts } from "../../../firmware/console/commands"
import { LineReader } from "../../../firmware/console/lineReader"
import { Shell } from "../../../firmware/console/shell"
import { CONSOLE_MAX_LINE } from "../../../host-sim/console/hub"
import { defaultSimOptions, Simulation } from "../../../host-sim/sim"
import { check, Target } from "../target"

const ERROR_WITH_HINT = /^error: .*(; try help|; usage: .+)$/

/** A running group whose boards' parts the shells read. Built once: the shells only read them
 * (a block read answers at once from a fixed block, an eviction is forgotten after each input),
 * so every input sees the same boards. */
let rig: { primary: PrimaryParts; remote: RemoteParts; forget: () => void } | null = null

function boards(): NonNullable<typeof rig> {
    if (rig) return rig
    const sim = new Simulation({ ...defaultSimOptions(), boards: 3, durationMs: 600000 })
    sim.start()
    sim.kernel.run(3000, Number.MAX_SAFE_INTEGER)
    const p = sim.group.primaries[1]
    const r = sim.group.remote
    const block = Buffer.alloc(sim.group.opts.blockSize, 0x5a)
    const syncRead = (store: any) => {
        const s = Object.create(store)
        s.read = (_m: number, _lba: number, done: (err: number, data: Buffer | null) => void) => done(0, _lba % 2 ? block : null)
        return s
    }
    const agent = sim.agents[1]!
    rig = {
        primary: { member: 1, address: p.address, clock: p.clock!, board: p.board!, store: syncRead(p.store!), channel: p.channel!, agent },
        remote: { clock: r.clock!, board: r.board!, store: syncRead(r.store!), channels: r.channels, suspendAfterMs: sim.group.opts.suspendAfterMs },
        forget: () => ((agent as any).pendingEvict.length = 0),
    }
    return rig
}

const WORDS = [
    "help",
    "log",
    "status",
    "stats",
    "seq",
    "ring",
    "link",
    "shuttle",
    "group",
    "read",
    "evict",
    "--json",
    "debug",
    "error",
    "warn",
    "info",
    "bogus",
]
const ARGS = [
    "0",
    "1",
    "7",
    "255",
    "256",
    "0x10",
    "0x12",
    "0x7f",
    "0X7F",
    "0x",
    "0xg",
    "16777215",
    "16777216",
    "4294967295",
    "99999999999",
    "-1",
    "1.5",
    "",
    "x",
    "\u00ff",
    "0x0000000011",
]

const lineArb = fc.oneof(
    fc
        .tuple(fc.constantFrom(...WORDS), fc.array(fc.constantFrom(...ARGS, ...WORDS), { maxLength: 3 }), fc.constantFrom(" ", "  ", "\t"))
        .map(([w, a, sep]) => [w, ...a].join(sep)),
    fc.string({ maxLength: 40 }),
    fc.string({ minLength: 150, maxLength: 200 })
)
const chunkArb = fc.oneof(
    lineArb.map((l) => Buffer.from(l, "latin1")),
    fc
        .constantFrom([0xff, 0xfb, 0x01], [0xff, 0xfa, 0x18, 0x01, 0xff, 0xf0], [0xff, 0xff], [0xff, 0xf4], [0x08], [0x7f], [0x03], [0x1b, 0x5b, 0x41])
        .map((a) => Buffer.from(a))
)

function runShell(input: Buffer, kind: "primary" | "remote"): void {
    const b = boards()
    const lines: string[] = []
    let handler: ((line: string) => void) | null = null
    const con: Console = { writeLine: (t) => lines.push(t), onLine: (h) => (handler = h) }
    const shell = new Shell(con, CONSOLE_MAX_LINE)
    if (kind === "primary") addPrimaryCommands(shell, con, () => b.primary)
    else addRemoteCommands(shell, con, () => b.remote)
    let inLines = 0
    const reader = new LineReader(CONSOLE_MAX_LINE, (line) => {
        check(line.length <= CONSOLE_MAX_LINE + 1, `the line reader passed on ${line.length} characters, more than ${CONSOLE_MAX_LINE + 1}`)
        inLines++
        const before = lines.length
        handler!(line)
        const out = lines.slice(before)
        check(out.length <= 40, `${kind}: one line printed ${out.length} lines`)
        let bad = false
        for (let i = 0; i < line.length; i++) {
            const c = line.charCodeAt(i)
            if ((c < 32 && c !== 9) || c > 126) bad = true
        }
        if (bad || line.length > CONSOLE_MAX_LINE)
            check(out.length === 1 && ERROR_WITH_HINT.test(out[0]), `${kind}: a line with a control character or too long got ${JSON.stringify(out)}`)
        for (const l of out) {
            check(!l.includes("internal error"), `${kind}: a command threw: ${l}`)
            if (l.startsWith("error:")) check(ERROR_WITH_HINT.test(l), `${kind}: an error line without a hint: ${l}`)
        }
    })
    try {
        reader.feed(input)
        reader.feed(Buffer.from("\n"))
    } finally {
        b.forget()
    }
    check(reader.lines === inLines, "the line reader counted other lines than it passed on")
}

const consoleTarget: Target = {
    name: "console",
    about: "serial console bytes through the line reader into the shell with a primary's and the remote's commands",
    valid: fc
        .array(fc.tuple(chunkArb, fc.constantFrom("\n", "\r", "\r\n", "")), { maxLength: 6 })
        .map((parts) => Buffer.concat(parts.flatMap(([c, end]) => [c, Buffer.from(end, "latin1")]))),
    maxLen: 1200,
    timeLimitMs: 200,
    run(input: Buffer): void {
        runShell(input, "primary")
        runShell(input, "remote")
    },
}

export const consoleTargets = [consoleTarget]
