import { SeqmirrorConfig, validateConfig } from "../config"
import { RuntimeCapabilities } from "./capabilities"

/**
 * The boot-time check of a board: its configuration text, read at build time from
 * devicescript.json, against what the runtime can do. Portable: the board runs it at start,
 * and the tests run it on Node and in the VM.
 *
 * Lines are plain text without a prefix (the board prints them after "seqmirror: ").
 * Configuration errors are `SOURCE: ERROR`, the same lines as `seqmirror config check SOURCE`.
 * @devsWhenUsed
 */
export class BootCheck {
    /** The parsed configuration, when it is valid JSON that passes validateConfig. */
    config: SeqmirrorConfig | null = null
    /** One line per problem; a board with any problem must not start. */
    problems: string[] = []
    /** What the board is going to do, one line each. */
    notes: string[] = []
    /** For a primary: the index of board.member in group.members; else -1. */
    memberIndex = -1

    ok(): boolean {
        return this.problems.length === 0 && this.config !== null
    }
}

/** Parses and validates `configText`, then checks the runtime can do what it asks. */
export function checkBoot(configText: string, source: string, caps: RuntimeCapabilities): BootCheck {
    const r = new BootCheck()
    const parsed = parse(r, configText, source)
    if (r.problems.length > 0) return r
    const errors = validateConfig(parsed)
    for (let i = 0; i < errors.length; i++) r.problems.push(source + ": " + errors[i])
    if (errors.length > 0) return r
    const cfg = parsed as SeqmirrorConfig
    if (cfg.board.role === "primary") checkPrimary(r, cfg, caps)
    else checkRemote(r, cfg, caps)
    return checkCommon(r, caps)
}

/**
 * checkBoot for a configuration the build has validated: the board image's own, which
 * `npm run build` (bin/gen-board-config.mjs) refuses to embed unless validateConfig passes, so
 * the board carries no validation code of its own.
 */
export function checkBuilt(configText: string, source: string, caps: RuntimeCapabilities): BootCheck {
    const r = new BootCheck()
    const parsed = parse(r, configText, source)
    if (r.problems.length > 0) return r
    checkPrimary(r, parsed as SeqmirrorConfig, caps)
    return checkCommon(r, caps)
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON of any shape, checked field by field
function parse(r: BootCheck, configText: string, source: string): any {
    try {
        return JSON.parse(configText)
    } catch (e) {
        r.problems.push(source + ": not valid JSON: " + messageOf(e))
        return null
    }
}

function checkCommon(r: BootCheck, caps: RuntimeCapabilities): BootCheck {
    if (!caps.spiMaster) r.problems.push("this runtime has no SPI master: the store needs an SPI NOR flash")
    if (!caps.consoleInput) r.notes.push("console: output only (" + caps.name + " gives programs no serial input)")
    return r
}

function checkPrimary(r: BootCheck, cfg: SeqmirrorConfig, caps: RuntimeCapabilities): void {
    r.config = cfg
    const members = cfg.group.members
    for (let i = 0; i < members.length; i++) if (members[i].name === cfg.board.member) r.memberIndex = i
    const n = members.length
    r.notes.push(
        'board: primary "' +
            cfg.board.member +
            '", member ' +
            r.memberIndex +
            " of group " +
            cfg.group.id +
            " (" +
            n +
            (n === 1 ? " member" : " members") +
            "), mode " +
            cfg.group.mode
    )
    if (n > 1) {
        const missing: string[] = []
        if (!caps.i2cTarget) missing.push("I2C target mode")
        if (!caps.i2cGeneralCall) missing.push("I2C general call")
        if (missing.length > 0) {
            r.problems.push(
                "this runtime has no " +
                    missing.join(" and no ") +
                    ": a member of a group of " +
                    n +
                    " must receive the shuttle as an I2C target and the release as a general call;" +
                    " on " +
                    caps.name +
                    ' a board runs only a group of one (group.members holding just "' +
                    cfg.board.member +
                    '")'
            )
        } else if (!caps.i2cMaster) r.problems.push("this runtime has no I2C master: a member of a group of " + n + " must pass the shuttle")
        else r.notes.push("group bus: I2C at " + cfg.group.busBitRate + " bit/s, address " + cfg.group.members[r.memberIndex].address)
    } else r.notes.push("group of one: no shuttle; the I2C pins are not used")
    const where = cfg.link.remoteHost + ":" + cfg.link.remotePort
    if (caps.uart) r.notes.push("link: UART at " + cfg.link.baud + " baud")
    else if (caps.tcpClient)
        r.notes.push("link: TCP to " + where + " (no UART driver on " + caps.name + "); " + cfg.link.baud + " bit/s taken as its nominal rate")
    else r.problems.push("this runtime has no UART driver and no sockets: a primary needs a link to the remote")
}

function checkRemote(r: BootCheck, cfg: SeqmirrorConfig, caps: RuntimeCapabilities): void {
    r.config = cfg
    const n = cfg.group.members.length
    r.notes.push("board: remote of group " + cfg.group.id + " (" + n + (n === 1 ? " primary)" : " primaries)"))
    if (caps.uart) return
    if (!caps.tcpServer) {
        r.problems.push(
            "this runtime has no UART driver and its sockets are client-only: a remote must accept a link from " +
                (n === 1 ? "its primary" : "each of its " + n + " primaries") +
                ", so the remote cannot run on " +
                caps.name
        )
    }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- what was thrown can be anything
function messageOf(e: any): string {
    if (e !== null && e !== undefined && typeof e.message === "string") return e.message
    return "unknown error"
}
