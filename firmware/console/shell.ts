import { Console } from "../../hal/console"

/**
 * The serial console's command shell: one line in, one or more lines out. Commands are
 * registered by the parts of the board (and, in the simulator, by the fault injector), so the
 * shell knows nothing of them beyond their name, usage and handler.
 *
 * Input is untrusted: a line is cut at `maxLine` characters, control and non-ASCII bytes are
 * refused with one error line, and an unknown command or a bad argument gets one error line
 * with a hint. A handler that throws is reported as an error line; the shell keeps working.
 */
export class ShellCommand {
    /** Whether the command with these arguments changes the board's state (the group, what it
     * holds, what it replicates), rather than reading it: the shell's guard then decides. */
    changes: ((args: string[]) => boolean) | null = null
    constructor(
        public name: string,
        public usage: string,
        public summary: string,
        /** Returns the lines to print; throw ShellError for a bad argument. */
        public run: (args: string[]) => string[]
    ) {}
}

/** `cmd`, marked as changing the board's state (with `when`: for those arguments only). */
export function changing(cmd: ShellCommand, when?: (args: string[]) => boolean): ShellCommand {
    cmd.changes = when !== undefined ? when : () => true
    return cmd
}

export class ShellError extends Error {
    constructor(message: string) {
        super(message)
    }
}

export const enum LogLevel {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

const LEVEL_NAMES = ["error", "warn", "info", "debug"]

export class Shell {
    private commands: ShellCommand[] = []
    level = LogLevel.Info
    linesIn = 0
    errors = 0
    /** Asked before a command that changes state runs (ShellCommand.changes): null lets it
     * run, a reason refuses it (one error line). None: every command runs. */
    guard: ((cmd: ShellCommand, args: string[]) => string | null) | null = null

    constructor(
        private out: Console,
        private maxLine: number
    ) {
        const self = this
        this.add(new ShellCommand("help", "help [command]", "list the commands, or show one's usage", (args) => self.help(args)))
        this.add(
            new ShellCommand("log", "log <error|warn|info|debug>", "set how much the board reports", (args) => {
                if (args.length !== 1) throw new ShellError("log takes one level")
                const i = LEVEL_NAMES.indexOf(args[0])
                if (i < 0) throw new ShellError('unknown level "' + args[0] + '"')
                self.level = i
                return ["log level " + LEVEL_NAMES[i]]
            })
        )
        out.onLine((line) => self.onLine(line))
    }

    add(cmd: ShellCommand): void {
        for (let i = 0; i < this.commands.length; i++)
            if (this.commands[i].name === cmd.name) {
                this.commands[i] = cmd
                return
            }
        this.commands.push(cmd)
    }

    /** Prints a log line if the current level lets it through. */
    log(level: LogLevel, text: string): void {
        if (level <= this.level) this.out.writeLine(LEVEL_NAMES[level] + ": " + text)
    }

    /** Runs one input line and returns the lines it printed (also written to the console). */
    execute(line: string): string[] {
        const lines = this.run(line)
        for (let i = 0; i < lines.length; i++) this.out.writeLine(lines[i])
        return lines
    }

    private onLine(line: string): void {
        this.execute(line)
    }

    private run(raw: string): string[] {
        this.linesIn++
        if (raw.length > this.maxLine) {
            this.errors++
            return ["error: line too long (" + raw.length + " characters, at most " + this.maxLine + "); try help"]
        }
        for (let i = 0; i < raw.length; i++) {
            const c = raw.charCodeAt(i)
            if ((c < 32 && c !== 9) || c > 126) {
                this.errors++
                return ["error: the line holds a control or non-ASCII character; try help"]
            }
        }
        const words = splitWords(raw)
        if (words.length === 0) return []
        const name = words[0]
        const cmd = this.find(name)
        if (!cmd) {
            this.errors++
            return ['error: unknown command "' + name + '"; try help']
        }
        const args = words.slice(1)
        if (this.guard && cmd.changes && cmd.changes(args)) {
            const why = this.guard(cmd, args)
            if (why !== null) {
                this.errors++
                return ["error: " + why]
            }
        }
        try {
            return cmd.run(args)
        } catch (e) {
            this.errors++
            const msg = e instanceof ShellError ? e.message : "internal error: " + (e as Error).message
            return ["error: " + msg + "; usage: " + cmd.usage]
        }
    }

    private find(name: string): ShellCommand | null {
        for (let i = 0; i < this.commands.length; i++) if (this.commands[i].name === name) return this.commands[i]
        return null
    }

    private help(args: string[]): string[] {
        if (args.length > 0) {
            const cmd = this.find(args[0])
            if (!cmd) throw new ShellError('no command "' + args[0] + '"')
            return [cmd.usage + "  —  " + cmd.summary]
        }
        const out: string[] = ["commands:"]
        for (let i = 0; i < this.commands.length; i++) {
            const c = this.commands[i]
            out.push("  " + pad(c.usage, 28) + c.summary)
        }
        return out
    }
}

function pad(s: string, n: number): string {
    let r = s
    while (r.length < n) r += " "
    return r
}

/** Splits on spaces and tabs. */
export function splitWords(line: string): string[] {
    const out: string[] = []
    let cur = ""
    for (let i = 0; i < line.length; i++) {
        const ch = line[i]
        if (ch === " " || ch === "\t") {
            if (cur.length > 0) out.push(cur)
            cur = ""
        } else cur += ch
    }
    if (cur.length > 0) out.push(cur)
    return out
}

/** Parses a whole non-negative number (decimal or 0x hex); throws ShellError otherwise. */
export function parseNumberArg(what: string, s: string, max: number): number {
    let v = 0
    let digits = 0
    if (s.length > 2 && s[0] === "0" && (s[1] === "x" || s[1] === "X")) {
        for (let i = 2; i < s.length; i++) {
            const d = "0123456789abcdef".indexOf(s[i].toLowerCase())
            if (d < 0) throw new ShellError(what + ' must be a number, not "' + s + '"')
            v = v * 16 + d
            digits++
        }
    } else
        for (let i = 0; i < s.length; i++) {
            const d = "0123456789".indexOf(s[i])
            if (d < 0) throw new ShellError(what + ' must be a number, not "' + s + '"')
            v = v * 10 + d
            digits++
        }
    if (digits === 0 || digits > 10 || v > max) throw new ShellError(what + " " + s + " is out of range 0.." + max)
    return v
}
