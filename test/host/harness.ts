// Real `seqmirror remote` and `seqmirror primary` processes for the host tests: started from
// bin/seqmirror.mjs, awaited on their output lines with timeouts (no sleeps), and the checks
// their outputs must pass (Node only).
import { ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { expect } from "vitest"
import { defaultConfig } from "../../firmware/config"
import { PrimaryBlockStore } from "../../firmware/store/blockStore"
import { StoreError, StoreRole } from "../../firmware/store/types"
import { FileFlash } from "../../host-sim/host/fileFlash"
import { digestOf } from "../../host-sim/host/hostConfig"
import { NodeClock } from "../../host-sim/host/nodeClock"
import { readRemoteImage } from "../../host-sim/host/remoteExport"
import { keygen } from "../../host-sim/host/keys"

export const ROOT = fileURLToPath(new URL("../..", import.meta.url))
export const BIN = join(ROOT, "bin", "seqmirror.mjs")

/** A child process of the CLI; its stdout lines, awaited by pattern. */
export class Proc {
    readonly child: ChildProcess
    readonly lines: string[] = []
    stderr = ""
    private partial = ""
    private waiters: Array<() => void> = []
    readonly exited: Promise<{ code: number | null; signal: string | null }>

    constructor(
        readonly args: string[],
        stdin: "pipe" | "ignore" = "pipe"
    ) {
        this.child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: [stdin, "pipe", "pipe"] })
        this.child.stdout!.on("data", (d: Buffer) => {
            this.partial += d.toString("utf8")
            const parts = this.partial.split("\n")
            this.partial = parts.pop() ?? ""
            this.lines.push(...parts)
            this.wake()
        })
        this.child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString("utf8")))
        this.exited = new Promise((resolve) =>
            this.child.on("exit", (code, signal) => {
                this.wake()
                resolve({ code, signal })
            })
        )
        running.push(this)
    }

    private wake(): void {
        for (const w of this.waiters.splice(0)) w()
    }

    isRunning(): boolean {
        return this.child.exitCode === null && this.child.signalCode === null
    }

    /** Waits until `test` holds for the output so far (checked at every new line), or fails
     * after `timeoutMs` saying what it waited for. */
    async until<T>(what: string, test: () => T | null | undefined | false, timeoutMs = 30000): Promise<T> {
        const deadline = Date.now() + timeoutMs
        for (;;) {
            const v = test()
            if (v) return v
            if (!this.isRunning())
                throw new Error(
                    `${what}: the process ended (${this.child.exitCode ?? this.child.signalCode}); stderr: ${this.stderr.slice(-500)}; last lines: ${this.lines.slice(-5).join(" | ")}`
                )
            const left = deadline - Date.now()
            if (left <= 0) throw new Error(`${what}: not within ${timeoutMs} ms; last lines: ${this.lines.slice(-5).join(" | ")}`)
            await new Promise<void>((resolve) => {
                const t = setTimeout(resolve, left)
                this.waiters.push(() => {
                    clearTimeout(t)
                    resolve()
                })
            })
        }
    }

    /** The first line matching `re` (from line `from` on). */
    async line(re: RegExp, timeoutMs = 30000, from = 0): Promise<RegExpExecArray> {
        return this.until(
            "a line matching " + re,
            () => {
                for (let i = from; i < this.lines.length; i++) {
                    const m = re.exec(this.lines[i])
                    if (m) return m
                }
                return null
            },
            timeoutMs
        )
    }

    /** Waits for the process to end, and expects it to end by itself with `code`. */
    async endsWith(code: number): Promise<void> {
        const r = await this.exited
        expect(r, `${this.args[0]} ended so; stderr: ${this.stderr.slice(-1500)}; last lines: ${this.lines.slice(-4).join(" | ")}`).toEqual({
            code,
            signal: null,
        })
    }

    /** Ends the process by signal and waits for it. */
    async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: string | null }> {
        if (this.isRunning()) this.child.kill(signal)
        return this.exited
    }
}

const running: Proc[] = []
/** Ends every process a test started that still runs (after a failure). */
export function killAll(): void {
    for (const p of running) if (p.isRunning()) p.child.kill("SIGKILL")
}

const temps: string[] = []
export function tempDir(): string {
    const d = mkdtempSync(join(tmpdir(), "seqmirror-host-"))
    temps.push(d)
    return d
}
export function removeTemps(): void {
    for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true })
}

/** A group of one with a small store (64 KB: quick to make and to export), written to
 * DIR/NAME; `edit` changes it first. */
export function groupOfOne(dir: string, edit?: (c: any) => void, name = "config.json"): string {
    const c: any = defaultConfig()
    c.group.members = [c.group.members[0]]
    c.board.member = c.group.members[0].name
    c.store = { blockSize: 256, auxRingBytes: 4096, flashBytes: 65536 }
    if (edit) edit(c)
    const path = join(dir, name)
    writeFileSync(path, JSON.stringify(c, null, 2))
    return path
}

/** The link keys of the group in `config` (seqmirror keygen's files), made next to it on first
 * use: DIR/keys/remote.keys, DIR/keys/NAME.key. */
export function linkKeys(config: string): string {
    const dir = join(dirname(config), "keys")
    if (!existsSync(dir)) keygen(JSON.parse(readFileSync(config, "utf8")), dir)
    return dir
}

/** The options that give a process its key, unless `extra` gives one (or --insecure). */
function keyOptions(extra: string[], file: () => string): string[] {
    return extra.includes("--key-file") || extra.includes("--insecure") ? [] : ["--key-file", file()]
}

/** Starts a remote on 127.0.0.1 (port 0: any free one) and waits until it listens; it holds
 * the group's keys (linkKeys) unless `extra` says otherwise. */
export async function startRemote(dataDir: string, config: string, port = 0, extra: string[] = []): Promise<{ proc: Proc; port: number }> {
    const keys = keyOptions(extra, () => join(linkKeys(config), "remote.keys"))
    const proc = new Proc(["remote", "--data", dataDir, "--config", config, "--listen", "127.0.0.1:" + port, ...keys, ...extra])
    const m = await proc.line(/listening on 127\.0\.0\.1:(\d+)/)
    return { proc, port: Number(m[1]) }
}

/** Starts a primary with its member's key (linkKeys) unless `extra` says otherwise. */
export function startPrimary(port: number, dataFile: string, config: string, extra: string[]): Proc {
    return new Proc(
        ["primary", "--connect", "127.0.0.1:" + port, "--data", dataFile, "--config", config, "--json", ...primaryKeyOptions(config, extra), ...extra],
        "ignore"
    )
}

/** A primary's --key-file option: the key of the member `extra` names (--member NAME), else the
 * configuration's board.member. */
export function primaryKeyOptions(config: string, extra: string[]): string[] {
    return keyOptions(extra, () => {
        const at = extra.indexOf("--member")
        const name = at >= 0 ? extra[at + 1] : (JSON.parse(readFileSync(config, "utf8")) as { board: { member: string } }).board.member
        return join(linkKeys(config), name + ".key")
    })
}

/** What a `seqmirror primary --json` printed, by event. */
export interface PrimaryEvent {
    event: string
    n?: number
    lba?: number
    seq?: number
    digest?: string
    line?: string
    [k: string]: unknown
}

export function eventsOf(p: Proc): PrimaryEvent[] {
    return p.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as PrimaryEvent)
}

export interface WriteRecord {
    n: number
    lba: number
    digest: string
    /** Its seq, once acknowledged. */
    seq: number | null
    confirmed: boolean
}

/** The writes a primary run reported, by n. */
export function writesOf(events: PrimaryEvent[]): Map<number, WriteRecord> {
    const w = new Map<number, WriteRecord>()
    for (const e of events) {
        if (e.event === "write") w.set(e.n!, { n: e.n!, lba: e.lba!, digest: e.digest!, seq: null, confirmed: false })
        else if (e.event === "ack") w.get(e.n!)!.seq = e.seq!
        else if (e.event === "confirmed") w.get(e.n!)!.confirmed = true
    }
    return w
}

export interface ImageBlock {
    lba: number
    seq: number
    digest: string
    crc32c: string
    base64: string
}

export interface Image {
    appliedSeq: number
    blockSize: number
    lbaCount: number
    members: { member: number; name: string; blocks: ImageBlock[] }[]
}

/** `seqmirror remote export --data DIR --json` (it reads a copy: the remote may run). */
export function exportImageCli(dir: string): Image {
    const r = spawnSync(process.execPath, [BIN, "remote", "export", "--data", dir, "--json"], { cwd: ROOT, encoding: "utf8" })
    if (r.status !== 0) throw new Error("export failed: " + r.stderr)
    return JSON.parse(r.stdout) as Image
}

/** What `seqmirror remote export --json` prints, read here (the code the command runs,
 * without starting a process). */
export async function exportImage(dir: string): Promise<Image> {
    return JSON.parse(JSON.stringify(await readRemoteImage(dir))) as Image
}

/** Member 0's blocks by lba. */
export function blocksOf(image: Image): Map<number, ImageBlock> {
    return new Map(image.members[0].blocks.map((b) => [b.lba, b]))
}

/**
 * A group of one's image is consistent at its applied seq A when every lba holds the last
 * write (in issue order) stamped with a seq at or before A, and lbas no such write went to
 * hold nothing. `writes` must hold every write stamped at or before A with its seq, in issue
 * order (the host primary never has two writes to one lba in flight, so issue order is the
 * order they take effect).
 */
export function expectPrefixImage(image: Image, writes: WriteRecord[]): void {
    const A = image.appliedSeq
    const want = new Map<number, WriteRecord>()
    for (const w of writes) if (w.seq !== null && w.seq <= A) want.set(w.lba, w)
    const got = blocksOf(image)
    for (const [lba, w] of want) {
        const b = got.get(lba)
        expect(b, `lba ${lba}: write ${w.n} (seq ${w.seq}) is applied (seq ${A})`).toBeDefined()
        expect(b!.digest, `lba ${lba} holds write ${w.n}`).toBe(w.digest)
        // its seq, or a later one when a resync copied the block again
        expect(b!.seq).toBeGreaterThanOrEqual(w.seq!)
        expect(b!.seq).toBeLessThanOrEqual(A)
    }
    for (const lba of got.keys()) expect(want.has(lba), `lba ${lba} holds a write after seq ${A}`).toBe(true)
}

/** What a primary's flash file holds, block by block (lba → digest), read as the board reads it
 * after a boot: a copy mounted by the firmware's store. */
export async function primaryImage(flashFile: string, blockSize: number, lbaCount: number): Promise<Map<number, string>> {
    const clock = new NodeClock()
    const store = new PrimaryBlockStore(FileFlash.copyOf(flashFile), clock, { role: StoreRole.Primary, blockSize })
    try {
        const err = await new Promise<StoreError>((resolve) => store.mount((e) => resolve(e)))
        if (err !== StoreError.None) throw new Error("the primary's flash does not mount: " + err)
        const out = new Map<number, string>()
        for (let lba = 0; lba < lbaCount; lba++) {
            const data = await new Promise<Buffer | null>((resolve, reject) =>
                store.read(0, lba, (e, d) => (e === StoreError.None ? resolve(d) : reject(new Error("read lba " + lba + ": " + e))))
            )
            if (data) out.set(lba, digestOf(data))
        }
        return out
    } finally {
        clock.stop()
    }
}

/** The remote's image of member 0 is the primary's flash, block for block. */
export async function expectMirrors(image: Image, flashFile: string): Promise<void> {
    const primary = await primaryImage(flashFile, image.blockSize, image.lbaCount)
    const remote = new Map(image.members[0].blocks.map((b) => [b.lba, b.digest]))
    expect(remote).toEqual(primary)
}
