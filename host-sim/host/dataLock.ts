// The lock of a remote's data directory: one process at a time holds DIR (Node only).
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fail } from "./hostConfig"

export const LOCK_FILE = "remote.pid"

/** The pid of a live process that holds `dir`, or 0 (none, or one that died: SIGKILL leaves
 * its lock behind). */
export function lockHolder(dir: string): number {
    let pid: number
    try {
        pid = Number(readFileSync(join(dir, LOCK_FILE), "utf8").trim())
    } catch {
        return 0
    }
    if (!(pid > 0) || pid === process.pid) return 0
    try {
        process.kill(pid, 0)
        return pid
    } catch (e) {
        // EPERM: alive, another user's
        return (e as NodeJS.ErrnoException).code === "EPERM" ? pid : 0
    }
}

/** Takes `dir` for this process, or fails with one line when a live process holds it. */
export function lockDataDir(dir: string, what: string): void {
    const pid = lockHolder(dir)
    if (pid > 0) fail(`--data ${dir} is in use by seqmirror remote (pid ${pid}): ${what}`)
    writeFileSync(join(dir, LOCK_FILE), process.pid + "\n")
}

/** Gives `dir` back (a clean stop). */
export function unlockDataDir(dir: string): void {
    if (lockHolder(dir) === 0) rmSync(join(dir, LOCK_FILE), { force: true })
}
