// `seqmirror primary`: a primary's firmware on a host (the board's PrimaryFirmware: its store
// in a file, its link over TCP), with a workload that writes at a rate or one write per line
// of stdin (Node only). README.md "Try it on one machine".
import { createInterface } from "node:readline"
import { checkBoot } from "../../firmware/boot/bootCheck"
import { PrimaryFirmware } from "../../firmware/boot/primaryFirmware"
import { restoreFirst } from "../../firmware/boot/restore"
import { PrimaryBoard, WriteError } from "../../firmware/pipeline/primary"
import { attachVerifier, Verifier } from "../../firmware/pipeline/verify"
import { attachPacing } from "../../firmware/pipeline/rpoPacing"
import { SeqmirrorConfig } from "../../firmware/config"
import { seqAtOrBefore } from "../../firmware/seq"
import { Prng } from "../prng"
import { FileFlash, FlashFileError } from "./fileFlash"
import { digestOf, fail, haltOnThrow, hostCapabilities, loadConfig } from "./hostConfig"
import { NodeClock } from "./nodeClock"
import { TcpClientLink } from "./tcpLink"
import { primaryKey, readKeyFile } from "./keys"
import { LinkSeal } from "../../firmware/link/seal"
import { NodeCipher } from "../nodeCipher"

export interface PrimaryHostOptions {
    connectHost: string
    connectPort: number
    dataFile: string
    configPath: string
    /** Index or name in group.members; null: the configuration's board.member. */
    member: string | null
    /** Writes per second, or null: one write per line of stdin. */
    rate: number | null
    /** How long the rate workload writes (ms); null: until SIGINT or SIGTERM. */
    durationMs: number | null
    seed: number
    json: boolean
    /** After the workload, how long to wait for the remote to confirm what was acknowledged. */
    drainMs: number
    /** This member's link key (docs/FORMAT-link.md §11), or null with `insecure`: the link in
     * the clear. */
    keyFile: string | null
    insecure?: boolean
    /** Take the member's image back from the remote first (a blank --data in place of a lost
     * board: docs/OPERATIONS.md, "Restore a primary"). */
    restore?: boolean
}

/** How often the confirmations are looked at (and, without --json, a status line printed). */
const CONFIRM_POLL_MS = 50
const STATUS_EVERY_MS = 5000

class Write {
    seq = -1
    acked = false
    failed = false
    confirmed = false
    constructor(
        public n: number,
        public lba: number,
        public digest: string
    ) {}
}

/** The configuration as this primary runs it: member chosen, role primary, the remote where
 * --connect says. */
function primaryConfig(config: SeqmirrorConfig, o: PrimaryHostOptions): SeqmirrorConfig {
    const c = JSON.parse(JSON.stringify(config)) as SeqmirrorConfig
    const names = c.group.members.map((m) => m.name)
    let name = c.board.member
    if (o.member !== null) {
        if (/^\d+$/.test(o.member)) {
            const i = Number(o.member)
            if (i >= names.length) fail(`--member ${o.member}: the group has ${names.length} member(s), 0..${names.length - 1}`)
            name = names[i]
        } else if (names.includes(o.member)) name = o.member
        else fail(`--member ${o.member}: not in group.members (${names.join(", ")})`)
    } else if (c.board.role !== "primary" || !names.includes(name)) fail(`${o.configPath}: board.member names no member of the group: give --member N|NAME`)
    c.board.role = "primary"
    c.board.member = name
    c.link.remoteHost = o.connectHost
    c.link.remotePort = o.connectPort
    return c
}

/**
 * The content of write n: a line saying whose write it is (member, generation, n, lba), then
 * bytes drawn from a generator seeded with them, so that every write of every boot differs.
 */
export function workloadBlock(blockSize: number, member: number, generation: number, n: number, lba: number, seed: number): Buffer {
    const b = Buffer.alloc(blockSize)
    const rng = new Prng((seed * 0x9e3779b1) ^ (generation * 0x85ebca6b) ^ n)
    for (let i = 0; i < blockSize; i++) b[i] = rng.next() & 0xff
    const text = Buffer.from("seqmirror m" + member + " g" + generation + " w" + n + " lba " + lba + "\n", "latin1")
    text.copy(b, 0, 0, Math.min(text.length, blockSize))
    return b
}

/** Runs the primary: resolves with the exit code; option and file problems throw OptionError. */
export async function runPrimary(o: PrimaryHostOptions): Promise<number> {
    const loaded = loadConfig(o.configPath)
    const config = primaryConfig(loaded.config, o)
    const check = checkBoot(JSON.stringify(config), loaded.path, hostCapabilities())
    if (!check.ok()) fail(check.problems[0])
    let key: Buffer | null = null
    if (o.keyFile !== null) key = primaryKey(readKeyFile(o.keyFile), config.board.member)
    else if (!o.insecure) fail(`the link needs ${config.board.member}'s key: --key-file FILE, or --insecure`)

    const emit = (event: Record<string, unknown>) => process.stdout.write(JSON.stringify(event) + "\n")
    const say = (line: string) => (o.json ? emit({ event: "log", line }) : process.stdout.write("seqmirror: " + line + "\n"))
    for (const note of check.notes) say(note)

    let flash: FileFlash
    try {
        flash = FileFlash.open(o.dataFile, config.store.flashBytes)
    } catch (e) {
        if (e instanceof FlashFileError) fail(`--data ${o.dataFile}: ${e.message}`)
        throw e
    }
    const clock = new NodeClock()
    const link = new TcpClientLink(clock, { host: o.connectHost, port: o.connectPort, nominalBitRate: config.link.baud, log: say })
    const fw = new PrimaryFirmware(config, check.memberIndex, clock, link, Math.random, say, flash)
    if (key) fw.sealer = new LinkSeal(new NodeCipher(), key, check.memberIndex)
    say(key ? "link: sealed (AES-256-CCM) with " + config.board.member + "'s key from " + o.keyFile : "link: NOT sealed (--insecure)")
    // a primary on a host verifies when asked on its console (and every group.verifyEveryMs)
    fw.makeBoard = (opts, clk, store, ch) => {
        const board = new PrimaryBoard(opts, clk, store, ch)
        attachVerifier(board, new Verifier(opts.member, opts.lbaCount, store, board.lost))
        attachPacing(board)
        return board
    }
    fw.restore = o.restore === true
    fw.restorer = restoreFirst
    let restored: (() => void) | null = null
    fw.onRestored = () => {
        if (restored) restored()
    }
    const started = await new Promise<boolean>((resolve) => fw.start(resolve))
    if (!started) {
        clock.stop()
        await flash.close()
        fail(`--data ${o.dataFile}: the store cannot be used (see the line above)`)
    }
    haltOnThrow()
    link.start()
    // a restore (asked, or cut short by an earlier stop) ends before the first write
    if (fw.restoring) await new Promise<void>((resolve) => (restored = resolve))
    const board = fw.board!
    const member = check.memberIndex
    const blockSize = config.store.blockSize
    if (o.json)
        emit({
            event: "start",
            member,
            name: config.board.member,
            generation: fw.generation,
            lbaCount: fw.lbaCount,
            blockSize,
            captureSeq: board.captureSeq(),
            confirmedSeq: fw.store.confirmedSeq(),
        })

    const writes: Write[] = []
    let unconfirmed: Write[] = []
    let acked = 0
    let failed = 0
    let confirmed = 0
    let workloadDone = false
    let finishing = false

    // an lba with a write outstanding gets no other until that one is answered: two writes to
    // one block in flight at once may land in either order, as on any block device
    const busy = new Set<number>()
    let onAnswered: (() => void) | null = null
    // writes the board refused as busy (it holds group.maxWritesWaiting): each goes again once
    // another write is answered
    const again: (() => void)[] = []
    const issue = (lba: number, block: Buffer, line: number): void => {
        const w = new Write(writes.length + 1, lba, digestOf(block))
        writes.push(w)
        busy.add(lba)
        if (o.json) emit({ event: "write", n: w.n, lba, digest: w.digest })
        const go = () =>
            board.write(lba, block, (err, seq) => {
                if (err === WriteError.Busy) {
                    again.push(go)
                    return
                }
                busy.delete(lba)
                const next = again.shift()
                if (next) next()
                if (err !== 0) {
                    w.failed = true
                    failed++
                    if (o.json) emit({ event: "fail", n: w.n, lba, err })
                    else say("write " + w.n + " (lba " + lba + ") failed: error " + err)
                } else {
                    w.acked = true
                    w.seq = seq
                    acked++
                    unconfirmed.push(w)
                    if (o.json) emit({ event: "ack", n: w.n, lba, seq, digest: w.digest })
                    else if (line > 0) say("line " + line + ": lba " + lba + " acknowledged, seq " + seq)
                }
                if (onAnswered) onAnswered()
            })
        go()
    }

    // confirmations: every acknowledged write whose seq the remote has applied
    const poll = () => {
        const applied = board.remoteAppliedSeq()
        if (unconfirmed.length > 0) {
            const still: Write[] = []
            let newest = -1
            for (const w of unconfirmed) {
                if (seqAtOrBefore(w.seq, applied)) {
                    w.confirmed = true
                    confirmed++
                    newest = Math.max(newest, w.n)
                    if (o.json) emit({ event: "confirmed", n: w.n, lba: w.lba, seq: w.seq, digest: w.digest })
                } else still.push(w)
            }
            unconfirmed = still
            if (!o.json && o.rate === null && newest > 0) say("confirmed by the remote: writes up to " + newest + " (applied seq " + applied + ")")
        }
        if (workloadDone && unconfirmed.length === 0 && acked + failed === writes.length) finish("drained")
        else clock.setTimer(CONFIRM_POLL_MS, poll)
    }
    clock.setTimer(CONFIRM_POLL_MS, poll)
    // a remote that never answers this primary's HELLOs while the connection is up holds
    // another key for this member (or none): say so once
    let hinted = false
    const hint = () => {
        const ch = fw.channel
        if (!hinted && key && ch && !ch.isUp() && ch.counters.handshakeTimeouts >= 3 && ch.counters.sessionsStarted + ch.counters.sessionsResumed === 0) {
            hinted = true
            say(
                "link channel: " +
                    ch.counters.hellosSent +
                    " HELLOs and no answer: does the remote hold " +
                    config.board.member +
                    "'s key from " +
                    o.keyFile +
                    "?"
            )
        }
        if (!hinted) clock.setTimer(1000, hint)
    }
    clock.setTimer(1000, hint)
    if (!o.json) {
        const status = () => {
            say(fw.statusLine() + ", " + confirmed + " confirmed")
            clock.setTimer(STATUS_EVERY_MS, status)
        }
        clock.setTimer(STATUS_EVERY_MS, status)
    }

    let resolveExit: (code: number) => void = () => {}
    const exited = new Promise<number>((r) => (resolveExit = r))
    let drainTimer: ReturnType<NodeClock["setTimer"]> | null = null
    const endWorkload = (why: string) => {
        if (workloadDone) return
        workloadDone = true
        say("workload " + why + ": " + writes.length + " writes; waiting for the remote to confirm them (at most " + o.drainMs / 1000 + " s)")
        drainTimer = clock.setTimer(o.drainMs, () => finish("drain timeout"))
    }
    const finish = (why: string) => {
        if (finishing) return
        finishing = true
        if (drainTimer) clock.clearTimer(drainTimer)
        const drained = unconfirmed.length === 0 && acked + failed === writes.length
        void (async () => {
            link.stop()
            fw.channel?.stop()
            fw.cycle?.stop()
            clock.stop()
            await flash.close()
            const summary = {
                event: "end",
                reason: why,
                written: writes.length,
                acked,
                failed,
                confirmed,
                generation: fw.generation,
                captureSeq: board.captureSeq(),
                appliedSeq: board.remoteAppliedSeq(),
                suspensions: board.suspensions,
                drained,
            }
            if (o.json) emit(summary)
            else
                say(
                    writes.length +
                        " writes, " +
                        acked +
                        " acknowledged, " +
                        confirmed +
                        " confirmed by the remote (applied seq " +
                        summary.appliedSeq +
                        "), " +
                        failed +
                        " failed" +
                        (drained ? "" : "; not everything acknowledged was confirmed (" + why + ")")
                )
            process.stdin.destroy()
            resolveExit(drained || why === "signal" ? 0 : 1)
        })()
    }
    process.on("SIGINT", () => finish("signal"))
    process.on("SIGTERM", () => finish("signal"))

    const complain = (line: number, why: string) => {
        if (o.json) emit({ event: "error", line, error: why })
        else process.stderr.write(`seqmirror: line ${line}: ${why}; not written\n`)
    }
    if (o.rate !== null) {
        const rate = o.rate
        const rng = new Prng(o.seed ^ Math.imul(member + 1, 0x27d4eb2f))
        const t0 = clock.millis()
        let n = 0
        // the drawn lba, or the next one without a write in flight (-1: every one has one; the
        // write is left out)
        const freeLba = (drawn: number): number => {
            for (let i = 0; i < fw.lbaCount; i++) {
                const lba = (drawn + i) % fw.lbaCount
                if (!busy.has(lba)) return lba
            }
            return -1
        }
        const tick = () => {
            if (workloadDone) return
            const now = clock.millis()
            if (o.durationMs !== null && now - t0 >= o.durationMs) return endWorkload("done")
            // catch up when the event loop was late, one write per period
            while (t0 + (n * 1000) / rate <= now) {
                const lba = freeLba(rng.int(fw.lbaCount))
                if (lba >= 0) issue(lba, workloadBlock(blockSize, member, fw.generation, writes.length + 1, lba, o.seed), 0)
                n++
            }
            clock.setTimer(Math.max(0, t0 + (n * 1000) / rate - clock.millis()), tick)
        }
        tick()
    } else {
        // lines are written in their order; one whose lba has a write in flight waits for it
        let lineNo = 0
        let ended = false
        const queue: { lba: number; block: Buffer; line: number }[] = []
        const pump = () => {
            while (queue.length > 0 && !busy.has(queue[0].lba) && !workloadDone) {
                const q = queue.shift()!
                issue(q.lba, q.block, q.line)
            }
            if (ended && queue.length === 0) endWorkload("ended (end of input)")
        }
        onAnswered = pump
        const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
        rl.on("line", (raw) => {
            lineNo++
            const line = raw.trim()
            if (line === "" || line.startsWith("#")) return
            const m = /^(\d+)\s+(.*)$/.exec(line) ?? /^(\d+)()$/.exec(line)
            if (!m) return complain(lineNo, `"${line.slice(0, 40)}" is not "LBA TEXT"`)
            const lba = Number(m[1])
            if (lba >= fw.lbaCount) return complain(lineNo, `lba ${lba} is out of range 0..${fw.lbaCount - 1}`)
            const text = Buffer.from(m[2], "utf8")
            if (text.length > blockSize) return complain(lineNo, `the text is ${text.length} bytes, longer than a ${blockSize}-byte block`)
            const block = Buffer.alloc(blockSize)
            text.copy(block)
            queue.push({ lba, block, line: lineNo })
            pump()
        })
        rl.on("close", () => {
            ended = true
            pump()
        })
    }
    return exited
}
