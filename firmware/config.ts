/**
 * The seqmirror configuration (the file devicescript.json), its defaults and its validation.
 * The same checks run on a board at boot and on the host (`seqmirror config check`).
 * docs/CONFIG.md describes every field.
 */

export interface PinConfig {
    sck: number
    mosi: number
    miso: number
    cs: number
    sda: number
    scl: number
}

export interface MemberConfig {
    /** Name shown on consoles and in reports. */
    name: string
    /** 7-bit I2C address of the member on the group bus (0x08..0x77). */
    address: number
}

export interface GroupConfig {
    id: number
    /** "consistent": acknowledge a write only when its seq is released (the default);
     * "none": acknowledge once durable (per-board consistency only). */
    mode: string
    busBitRate: number
    minCycleMs: number
    /** Closed seqs that may wait for transmission before the board stops closing more. */
    maxClosedSeqs: number
    /** Target for the RPO lag in ms; 0 turns bounded-RPO pacing off. */
    rpoTargetMs: number
    /** A verify pass against the remote's image this often, ms (0: only on the console's
     * `verify`; docs/FORMAT.md, "Verify and repair"). */
    verifyEveryMs: number
    /** A write waiting this long for its acknowledgement, or the link down this long, suspends
     * replication (docs/CONFIG.md, "Suspension"). */
    suspendAfterMs: number
    /** Percent of the store's records beyond one per block that replication history (pinned
     * versions, kept manifests) may hold. */
    historyShare: number
    /** At the history bound: "pull-ahead" (suspend, track, resync later) or "block" (hold
     * acknowledgements; suspend if one waits suspendAfterMs). */
    congestion: string
    /** Seq records and final manifests a primary keeps in RAM before its replication history
     * is at its bound (docs/DESIGN.md, "Fixed memory"). */
    maxHistorySeqs: number
    /** App writes a primary holds before they are answered; more are refused (busy). */
    maxWritesWaiting: number
    members: MemberConfig[]
}

export interface LinkConfig {
    baud: number
    /** Where the remote listens, for boards whose link is a TCP socket (Wi-Fi). */
    remoteHost: string
    remotePort: number
}

export interface StoreConfig {
    blockSize: number
    auxRingBytes: number
    /** Bytes of SPI flash the store uses, from address 0. */
    flashBytes: number
}

export interface BoardConfig {
    /** "primary" or "remote". */
    role: string
    /** For a primary: the name of its entry in group.members. */
    member: string
    pins: PinConfig
    spiHz: number
    /** A primary put in place of a lost one: it takes its image back from the remote before it
     * replicates, on a blank flash (absent: false). */
    restore?: boolean
}

export interface SeqmirrorConfig {
    board: BoardConfig
    group: GroupConfig
    link: LinkConfig
    store: StoreConfig
}

/** group.maxHistorySeqs and group.maxWritesWaiting when a file leaves them out: what the
 * shipped board's heap holds (docs/HARDWARE.md, "RAM"). */
export const DEFAULT_HISTORY_SEQS = 6
export const DEFAULT_WRITES_WAITING = 1

export function defaultConfig(): SeqmirrorConfig {
    return {
        board: {
            role: "primary",
            member: "primary-a",
            pins: { sck: 18, mosi: 23, miso: 19, cs: 5, sda: 21, scl: 22 },
            spiHz: 8000000,
        },
        group: {
            id: 1,
            mode: "consistent",
            busBitRate: 400000,
            minCycleMs: 100,
            maxClosedSeqs: 8,
            rpoTargetMs: 0,
            verifyEveryMs: 0,
            suspendAfterMs: 5000,
            historyShare: 50,
            congestion: "pull-ahead",
            maxHistorySeqs: DEFAULT_HISTORY_SEQS,
            maxWritesWaiting: DEFAULT_WRITES_WAITING,
            members: [
                { name: "primary-a", address: 0x10 },
                { name: "primary-b", address: 0x11 },
                { name: "primary-c", address: 0x12 },
            ],
        },
        link: { baud: 115200, remoteHost: "192.168.4.1", remotePort: 7400 },
        store: { blockSize: 256, auxRingBytes: 16384, flashBytes: 1048576 },
    }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of any shape, checked field by field
function isInt(v: any): boolean {
    return typeof v === "number" && Math.floor(v) === v
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of any shape, checked field by field
function checkInt(errors: string[], where: string, v: any, min: number, max: number): void {
    if (!isInt(v)) errors.push(where + ": must be a whole number")
    else if (v < min || v > max) errors.push(where + ": " + v + " is out of range " + min + ".." + max)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of any shape, checked field by field
function checkString(errors: string[], where: string, v: any): void {
    if (typeof v !== "string" || v.length === 0) errors.push(where + ": must be a non-empty string")
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of any shape, checked field by field
function checkSection(errors: string[], obj: any, name: string): boolean {
    if (obj === null || obj === undefined || typeof obj !== "object") {
        errors.push(name + ": missing section")
        return false
    }
    return true
}

/**
 * Checks a parsed configuration and returns one line per problem (an empty list when it is
 * good). Never throws, whatever the input.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of any shape, checked field by field
export function validateConfig(cfg: any): string[] {
    const errors: string[] = []
    if (cfg === null || cfg === undefined || typeof cfg !== "object") {
        errors.push("configuration: must be an object")
        return errors
    }
    const board = cfg.board
    if (checkSection(errors, board, "board")) {
        if (board.role !== "primary" && board.role !== "remote") errors.push('board.role: must be "primary" or "remote"')
        if (board.role === "primary") checkString(errors, "board.member", board.member)
        checkInt(errors, "board.spiHz", board.spiHz, 100000, 80000000)
        if (board.restore !== undefined && board.restore !== true && board.restore !== false) errors.push("board.restore: must be true or false")
        const pins = board.pins
        if (checkSection(errors, pins, "board.pins")) {
            const names = ["sck", "mosi", "miso", "cs", "sda", "scl"]
            const used: number[] = []
            for (let i = 0; i < names.length; i++) {
                const v = pins[names[i]]
                checkInt(errors, "board.pins." + names[i], v, 0, 48)
                if (isInt(v)) {
                    if (used.indexOf(v) >= 0) errors.push("board.pins." + names[i] + ": pin " + v + " is used twice")
                    used.push(v)
                }
            }
        }
    }
    const group = cfg.group
    if (checkSection(errors, group, "group")) {
        checkInt(errors, "group.id", group.id, 0, 255)
        if (group.mode !== "consistent" && group.mode !== "none") errors.push('group.mode: must be "consistent" or "none"')
        if (group.busBitRate !== 100000 && group.busBitRate !== 400000 && group.busBitRate !== 1000000)
            errors.push("group.busBitRate: must be 100000, 400000 or 1000000")
        checkInt(errors, "group.minCycleMs", group.minCycleMs, 1, 3600000)
        checkInt(errors, "group.maxClosedSeqs", group.maxClosedSeqs, 1, 64)
        checkInt(errors, "group.rpoTargetMs", group.rpoTargetMs, 0, 3600000)
        // absent: 0 (a configuration from before the option)
        if (group.verifyEveryMs === undefined) group.verifyEveryMs = 0
        checkInt(errors, "group.verifyEveryMs", group.verifyEveryMs, 0, 604800000)
        checkInt(errors, "group.suspendAfterMs", group.suspendAfterMs, 500, 3600000)
        checkInt(errors, "group.historyShare", group.historyShare, 10, 90)
        if (group.congestion !== "pull-ahead" && group.congestion !== "block") errors.push('group.congestion: must be "pull-ahead" or "block"')
        // absent: the defaults (a configuration from before the options)
        if (group.maxHistorySeqs === undefined) group.maxHistorySeqs = DEFAULT_HISTORY_SEQS
        checkInt(errors, "group.maxHistorySeqs", group.maxHistorySeqs, 4, 4096)
        if (group.maxWritesWaiting === undefined) group.maxWritesWaiting = DEFAULT_WRITES_WAITING
        checkInt(errors, "group.maxWritesWaiting", group.maxWritesWaiting, 1, 1024)
        const members = group.members
        if (!Array.isArray(members)) errors.push("group.members: must be a list")
        else {
            if (members.length < 1 || members.length > 8) errors.push("group.members: a group has 1 to 8 members, not " + members.length)
            const names: string[] = []
            const addrs: number[] = []
            for (let i = 0; i < members.length; i++) {
                const m = members[i]
                const where = "group.members[" + i + "]"
                if (!checkSection(errors, m, where)) continue
                checkString(errors, where + ".name", m.name)
                checkInt(errors, where + ".address", m.address, 0x08, 0x77)
                if (names.indexOf(m.name) >= 0) errors.push(where + '.name: "' + m.name + '" is used twice')
                if (addrs.indexOf(m.address) >= 0) errors.push(where + ".address: " + m.address + " is used twice")
                names.push(m.name)
                addrs.push(m.address)
            }
            if (board && board.role === "primary" && typeof board.member === "string" && names.indexOf(board.member) < 0)
                errors.push('board.member: "' + board.member + '" is not in group.members')
        }
    }
    const link = cfg.link
    if (checkSection(errors, link, "link")) {
        checkInt(errors, "link.baud", link.baud, 1200, 4000000)
        checkString(errors, "link.remoteHost", link.remoteHost)
        checkInt(errors, "link.remotePort", link.remotePort, 1, 65535)
    }
    const store = cfg.store
    if (checkSection(errors, store, "store")) {
        if (store.blockSize !== 64 && store.blockSize !== 128 && store.blockSize !== 256)
            errors.push("store.blockSize: must be 64, 128 or 256 (one NOR page at most)")
        checkInt(errors, "store.auxRingBytes", store.auxRingBytes, 1024, 1048576)
        checkInt(errors, "store.flashBytes", store.flashBytes, 65536, 16777216)
        if (isInt(store.flashBytes) && store.flashBytes % 4096 !== 0) errors.push("store.flashBytes: must be a multiple of the 4096-byte sector")
    }
    return errors
}
