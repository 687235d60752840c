import { execFile } from "node:child_process"

// vitest's worker waits at most 60 s for the test runner to answer each of its messages, and it
// can take the answer only between two turns of its event loop: a test that holds the loop
// longer (a long synchronous run, a command run with spawnSync) fails the whole run with
// 'Timeout calling "onTaskUpdate"' on a slow or busy machine, every assertion passed or not.
// Long tests therefore run commands without holding the loop, and give it a turn between
// the parts of their work.

/** One turn of the worker's event loop (its messages are answered meanwhile). */
export function nextTurn(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve))
}

/** What a command printed, and its exit code (null: killed by a signal). */
export interface Ran {
    status: number | null
    stdout: string
    stderr: string
}

/** Runs a command to its end without holding the event loop (as spawnSync would). */
export function runCommand(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
    return new Promise((resolve) => {
        execFile(file, args, { cwd: opts.cwd, env: opts.env, encoding: "utf8", maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
            let status: number | null = 0
            if (err) status = typeof err.code === "number" ? err.code : null
            resolve({ status, stdout, stderr })
        })
    })
}
