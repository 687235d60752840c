// The link keys of the host commands: key files (`--key-file`) and `seqmirror keygen`
// (Node only). docs/FORMAT-link.md §11 has what the keys do; docs/HARDWARE.md how to deploy them.
import { randomBytes } from "node:crypto"
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs"
import { join } from "node:path"
import { SeqmirrorConfig } from "../../firmware/config"
import { OptionError } from "../simEvents"
import { fail } from "./hostConfig"

/** Bytes of a member's link key (AES-256 and HMAC-SHA256). */
export const LINK_KEY_BYTES = 32

/** A key file's keys by member name, in file order. */
export interface KeyFile {
    path: string
    keys: { name: string; key: Buffer }[]
}

/**
 * Reads a key file: one line per member, `NAME HEX` (the member's name in group.members, then
 * its key as 64 hex digits); blank lines and lines starting with # are skipped. Fails (one
 * line, exit code 2) when the file can be read or written by anyone but its owner (its mode
 * must be 600 or 400), is not a regular file, or holds a line that is not a key: a bad length,
 * a key of zeros, a name or a key twice.
 */
export function readKeyFile(path: string): KeyFile {
    let text: string
    let fd = -1
    try {
        fd = openSync(path, constants.O_RDONLY)
        const st = fstatSync(fd)
        if (!st.isFile()) fail(`--key-file ${path} is not a file`)
        const mode = st.mode & 0o777
        if ((mode & 0o077) !== 0)
            fail(`--key-file ${path} can be read or written by others (mode ${mode.toString(8).padStart(3, "0")}): it holds secrets; chmod 600 ${path}`)
        text = readFileSync(fd, "utf8")
    } catch (e) {
        if (e instanceof OptionError) throw e
        fail(`--key-file ${path}: ${(e as Error).message}`)
    } finally {
        if (fd >= 0) closeSync(fd)
    }
    const keys: { name: string; key: Buffer }[] = []
    const lines = text.split(/\r?\n/)
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i].trim()
        if (line === "" || line.startsWith("#")) continue
        const m = /^(\S+)\s+([0-9a-fA-F]+)$/.exec(line)
        const where = `--key-file ${path}, line ${i + 1}`
        if (!m) fail(`${where}: not "NAME HEX" (a member's name and its key as ${2 * LINK_KEY_BYTES} hex digits)`)
        if (m[2].length !== 2 * LINK_KEY_BYTES) fail(`${where}: the key of ${m[1]} has ${m[2].length} hex digits, not ${2 * LINK_KEY_BYTES}`)
        const key = Buffer.from(m[2], "hex")
        if (key.every((b) => b === 0)) fail(`${where}: the key of ${m[1]} is all zeros`)
        if (keys.some((k) => k.name === m[1])) fail(`${where}: ${m[1]} has a key already`)
        const same = keys.find((k) => k.key.equals(key))
        if (same) fail(`${where}: ${m[1]} has the key of ${same.name}: each member needs a key of its own (seqmirror keygen)`)
        keys.push({ name: m[1], key })
    }
    if (keys.length === 0) fail(`--key-file ${path} holds no key`)
    return { path, keys }
}

/** The remote's keys, by member id: every member of the group must have one, and the file may
 * hold no other name (a remote accepts only the members it is configured for). */
export function remoteKeys(file: KeyFile, config: SeqmirrorConfig): Buffer[] {
    const names = config.group.members.map((m) => m.name)
    for (const k of file.keys) if (!names.includes(k.name)) fail(`--key-file ${file.path}: ${k.name} is not a member of the group (${names.join(", ")})`)
    return names.map((name) => {
        const k = file.keys.find((x) => x.name === name)
        if (!k) fail(`--key-file ${file.path}: no key for member ${name}: the remote needs every member's key`)
        return k.key
    })
}

/** A primary's key: the file holds its member's key and no other (a primary holds only its
 * own: seqmirror keygen writes NAME.key for each). */
export function primaryKey(file: KeyFile, member: string): Buffer {
    const own = file.keys.find((k) => k.name === member)
    if (!own) fail(`--key-file ${file.path}: no key for ${member}`)
    if (file.keys.length > 1)
        fail(`--key-file ${file.path} holds other members' keys too: a primary holds only its own (the ${member}.key that seqmirror keygen writes)`)
    return own.key
}

/** Writes `text` to a new file (never over an existing one) that only its owner can read. */
function writeSecret(path: string, text: string): void {
    let fd: number
    try {
        fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") fail(`${path} exists: keygen never writes over keys (use another --out directory)`)
        fail(`cannot write ${path}: ${(e as Error).message}`)
    }
    try {
        writeSync(fd, text)
    } finally {
        closeSync(fd)
    }
}

/**
 * `seqmirror keygen`: a new key for every member of the configuration's group, from the
 * system's cryptographic generator, written to DIR (made, mode 700, if missing): remote.keys
 * (every member's: the remote's --key-file), NAME.key (one member's: `seqmirror primary
 * --key-file`) and NAME.env.local (the line a board's .env.local needs). Every file mode 600,
 * none written over. Returns the lines to print.
 */
export function keygen(config: SeqmirrorConfig, outDir: string): string[] {
    try {
        mkdirSync(outDir, { recursive: true, mode: 0o700 })
    } catch (e) {
        fail(`--out ${outDir}: ${(e as Error).message}`)
    }
    if (!statSync(outDir).isDirectory()) fail(`--out ${outDir} is not a directory`)
    const members = config.group.members.map((m) => ({ name: m.name, key: randomBytes(LINK_KEY_BYTES) }))
    for (const m of members) if (!/^\S+$/.test(m.name)) fail(`member "${m.name}": a name with spaces cannot go into a key file`)
    const head = "# seqmirror link keys of group " + config.group.id + " (docs/FORMAT-link.md §11): NAME then 64 hex digits. Secret: keep mode 600.\n"
    const remote = join(outDir, "remote.keys")
    writeSecret(remote, head + members.map((m) => m.name + " " + m.key.toString("hex") + "\n").join(""))
    const out = [`${remote}: every member's key, for seqmirror remote --key-file`]
    for (const m of members) {
        const one = join(outDir, m.name + ".key")
        writeSecret(one, head + m.name + " " + m.key.toString("hex") + "\n")
        const env = join(outDir, m.name + ".env.local")
        writeSecret(
            env,
            "# the link key of " +
                m.name +
                ": copy this line into the board project's .env.local (never into devicescript.json)\n" +
                'SEQMIRROR_KEY="' +
                m.key.toString("hex") +
                '"\n'
        )
        out.push(`${one}: ${m.name}'s key, for seqmirror primary --key-file; ${env}: the same for a board's .env.local`)
    }
    return out
}
