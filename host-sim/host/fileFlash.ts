// A Flash kept in a file, for firmware that runs on a host: the remote's store and a host
// primary's (Node only).
import { closeSync, constants, fdatasync, fstatSync, fsyncSync, openSync, readSync, renameSync, statSync, write, writeSync } from "node:fs"
import { dirname } from "node:path"
import { Flash, FlashError, FlashGeometry } from "../../hal/flash"
import { NOR_PAGE_SIZE, NOR_SECTOR_SIZE } from "../../hal/spiNor"

/** Reads of a file being written, at most, before copyOf gives up. */
const COPY_TRIES = 100

/** Why a flash file cannot be used: one line for the user. */
export class FlashFileError extends Error {}

/**
 * The `Flash` contract (hal/flash.ts) over a file of exactly `capacity` bytes, with the
 * geometry of the simulator's chip model (W25Q128JV: 256-byte pages, 4 KB sectors):
 *
 * - NOR semantics: a program can only clear bits (each byte becomes old & new), an erase sets
 *   its sector to 0xFF; a program that would cross a page is refused (CrossesPage) and changes
 *   nothing; a call while another is in flight is refused (Busy).
 * - Durable before done: a program or erase writes the bytes it changed to the file and
 *   fdatasyncs it before its callback fires, so whatever the store built on a completed
 *   operation (a staged portion, a commit, a generation) survives the process being killed
 *   at any moment, or the machine losing power. Operations reach the file in call order, one
 *   at a time. A process killed during an operation leaves its bytes written or not: the
 *   store's checksums handle both, as they handle a chip's interrupted program.
 * - Callbacks come from the event loop, never from inside the call. Reads are served from a
 *   copy of the file kept in memory (the file is only written, once it is open).
 * - An I/O error of the file system comes back as FlashError.Timeout ("the operation may or
 *   may not have happened"), and `lastError` says what it was.
 *
 * `FileFlash.open(path, capacity)` creates a missing file as an erased chip (all 0xFF, made
 * under a temporary name and renamed, so a half-made file never carries the name); an
 * existing one must be a regular file of exactly `capacity` bytes. `FileFlash.copyOf` makes
 * a flash in memory only, from a file's contents (mounting a copy never writes the file).
 */
export class FileFlash implements Flash {
    private busy = false
    private closing = false
    private idleWaiters: Array<() => void> = []
    programs = 0
    erases = 0
    syncs = 0
    lastError = ""

    private constructor(
        private mem: Buffer,
        private fd: number | null,
        readonly path: string
    ) {}

    static open(path: string, capacity: number): FileFlash {
        checkCapacity(capacity)
        let st
        try {
            st = statSync(path)
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new FlashFileError(`cannot use ${path}: ${(e as Error).message}`)
            createErased(path, capacity)
            st = statSync(path)
        }
        if (!st.isFile()) throw new FlashFileError(`${path} is not a regular file`)
        if (st.size !== capacity)
            throw new FlashFileError(
                `${path} holds ${st.size} bytes, but this flash is ${capacity} bytes: it was made for another configuration (store.flashBytes or the group's members)`
            )
        let fd: number
        try {
            fd = openSync(path, constants.O_RDWR)
        } catch (e) {
            throw new FlashFileError(`cannot open ${path} for writing: ${(e as Error).message}`)
        }
        const mem = Buffer.alloc(capacity)
        try {
            readAll(fd, mem)
        } catch (e) {
            closeSync(fd)
            throw new FlashFileError(`cannot read ${path}: ${(e as Error).message}`)
        }
        return new FileFlash(mem, fd, path)
    }

    /** A flash in memory holding a copy of the file at `path` (which must be `capacity`
     * bytes, when given); programs and erases change the copy only. The copy is a state the
     * file was in, even while a running remote writes it. */
    static copyOf(path: string, capacity?: number): FileFlash {
        let fd: number
        try {
            fd = openSync(path, constants.O_RDONLY)
        } catch (e) {
            throw new FlashFileError(`cannot read ${path}: ${(e as Error).message}`)
        }
        try {
            const st = fstatSync(fd)
            if (!st.isFile()) throw new FlashFileError(`${path} is not a regular file`)
            const size = capacity ?? st.size
            checkCapacity(size)
            if (st.size !== size) throw new FlashFileError(`${path} holds ${st.size} bytes, not the ${size} of this flash`)
            // a running remote may write while the file is read, and a copy read across a write
            // can hold a later write without an earlier one (no state the flash was ever in):
            // read until two reads in a row are equal, so no write fell inside the first
            let mem = Buffer.alloc(size)
            readAll(fd, mem)
            for (let tries = 0; tries < COPY_TRIES; tries++) {
                const again = Buffer.alloc(size)
                readAll(fd, again)
                if (again.equals(mem)) return new FileFlash(mem, null, path)
                mem = again
            }
            throw new FlashFileError(`${path} kept changing while it was read (${COPY_TRIES} tries): try again`)
        } finally {
            closeSync(fd)
        }
    }

    suspendsErase(): boolean {
        return false
    }

    geometry(): FlashGeometry {
        return { pageSize: NOR_PAGE_SIZE, sectorSize: NOR_SECTOR_SIZE, capacity: this.mem.length }
    }

    read(addr: number, len: number, done: (err: FlashError, data: Buffer) => void): void {
        const err = this.begin(addr, len)
        if (err !== FlashError.None) {
            setImmediate(() => done(err, Buffer.alloc(0)))
            return
        }
        const data = Buffer.from(this.mem.subarray(addr, addr + len))
        setImmediate(() => this.end(() => done(FlashError.None, data)))
    }

    program(addr: number, data: Buffer, done: (err: FlashError) => void): void {
        let err = this.begin(addr, data.length)
        if (err === FlashError.None && Math.floor(addr / NOR_PAGE_SIZE) !== Math.floor((addr + data.length - 1) / NOR_PAGE_SIZE)) {
            this.busy = false
            err = FlashError.CrossesPage
        }
        if (err !== FlashError.None) {
            setImmediate(() => done(err))
            return
        }
        for (let i = 0; i < data.length; i++) this.mem[addr + i] &= data[i]
        this.programs++
        this.persist(addr, data.length, done)
    }

    eraseSector(addr: number, done: (err: FlashError) => void): void {
        const err = this.begin(addr, 1)
        if (err !== FlashError.None) {
            setImmediate(() => done(err))
            return
        }
        const base = addr - (addr % NOR_SECTOR_SIZE)
        this.mem.fill(0xff, base, base + NOR_SECTOR_SIZE)
        this.erases++
        this.persist(base, NOR_SECTOR_SIZE, done)
    }

    /** The contents, as the last completed operations left them (a copy). */
    contents(): Buffer {
        return Buffer.from(this.mem)
    }

    /**
     * Stops taking operations (they fail with NoDevice from now on), waits for the one in
     * flight to be durable and its callback to have run, and closes the file.
     */
    close(): Promise<void> {
        this.closing = true
        return new Promise((resolve) => {
            const finish = () => {
                if (this.fd !== null) {
                    closeSync(this.fd)
                    this.fd = null
                }
                resolve()
            }
            if (this.busy) this.idleWaiters.push(finish)
            else finish()
        })
    }

    /** Checks a call and marks the flash busy; an error when it cannot start. */
    private begin(addr: number, len: number): FlashError {
        if (this.closing) return FlashError.NoDevice
        if (this.busy) return FlashError.Busy
        if (!(addr >= 0 && len >= 0 && addr + len <= this.mem.length) || Math.floor(addr) !== addr) return FlashError.OutOfRange
        this.busy = true
        return FlashError.None
    }

    /** Ends the operation in flight, then runs its callback. */
    private end(callback: () => void): void {
        this.busy = false
        callback()
        if (!this.busy && this.idleWaiters.length > 0) for (const w of this.idleWaiters.splice(0)) w()
    }

    /** Writes mem[addr, addr+len) to the file and makes it durable, then calls done. */
    private persist(addr: number, len: number, done: (err: FlashError) => void): void {
        const fd = this.fd
        if (fd === null) {
            setImmediate(() => this.end(() => done(FlashError.None)))
            return
        }
        const bytes = Buffer.from(this.mem.subarray(addr, addr + len))
        const failed = (e: Error) => {
            this.lastError = e.message
            this.end(() => done(FlashError.Timeout))
        }
        write(fd, bytes, 0, len, addr, (e, n) => {
            if (e) return failed(e)
            if (n !== len) return failed(new Error(`short write: ${n} of ${len} bytes`))
            fdatasync(fd, (e2) => {
                if (e2) return failed(e2)
                this.syncs++
                this.end(() => done(FlashError.None))
            })
        })
    }
}

function checkCapacity(capacity: number): void {
    if (!(capacity > 0) || capacity % NOR_SECTOR_SIZE !== 0)
        throw new FlashFileError(`a flash must be a whole number of ${NOR_SECTOR_SIZE}-byte sectors, not ${capacity} bytes`)
}

function readAll(fd: number, into: Buffer): void {
    let at = 0
    while (at < into.length) {
        const n = readSync(fd, into, at, into.length - at, at)
        if (n <= 0) throw new Error(`the file ends at ${at} bytes`)
        at += n
    }
}

/** Makes an erased flash file durably: written under a temporary name, synced, renamed, and
 * the directory synced. */
function createErased(path: string, capacity: number): void {
    const tmp = path + ".new"
    let fd: number
    try {
        fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644)
    } catch (e) {
        throw new FlashFileError(`cannot create ${path}: ${(e as Error).message}`)
    }
    try {
        const chunk = Buffer.alloc(Math.min(capacity, 1 << 20), 0xff)
        for (let at = 0; at < capacity; at += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, capacity - at), at)
        fsyncSync(fd)
    } catch (e) {
        closeSync(fd)
        throw new FlashFileError(`cannot create ${path}: ${(e as Error).message}`)
    }
    closeSync(fd)
    try {
        renameSync(tmp, path)
    } catch (e) {
        throw new FlashFileError(`cannot create ${path}: ${(e as Error).message}`)
    }
    syncDir(dirname(path))
}

/** Makes a directory's entries durable (a file created or renamed in it). */
export function syncDir(dir: string): void {
    let fd: number | null = null
    try {
        fd = openSync(dir, constants.O_RDONLY)
        fsyncSync(fd)
    } catch {
        // not every file system lets a directory be synced; the data itself is synced
    } finally {
        if (fd !== null) closeSync(fd)
    }
}
