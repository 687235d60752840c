/**
 * Turns the bytes a serial port (or a TCP console) receives into lines for the console.
 *
 * - A line ends at CR, LF or CR LF (terminals send CR, `nc` sends LF, telnet CR LF).
 * - Backspace (0x08) and DEL (0x7f) remove the last character: raw terminals such as picocom
 *   send them as typed.
 * - Telnet commands (IAC 0xff and what follows it) are dropped, so a telnet client that
 *   negotiates options does not put garbage into the first line. A subnegotiation (IAC SB)
 *   ends at IAC SE or after SUB_MAX bytes, so a stray IAC SB in garbage cannot swallow the
 *   input for good.
 * - A line longer than `maxLine` is not buffered further: the reader keeps `maxLine + 1`
 *   characters and drops the rest up to the line end, so the shell sees an over-long line and
 *   says so, and memory stays bounded.
 * - Every other byte is passed on as the character with that code (the shell refuses control
 *   and non-ASCII characters with one error line).
 *
 * Portable: allocates nothing per byte beyond the line string it builds.
 */
const IAC = 0xff
const SB = 0xfa
const SE = 0xf0
/** Longest telnet subnegotiation taken (terminal type and window size need far fewer). */
const SUB_MAX = 64

const enum TelnetState {
    Data = 0,
    Command = 1,
    Option = 2,
    Sub = 3,
    SubIac = 4,
}

export class LineReader {
    private line = ""
    private cut = false
    private lastCr = false
    private telnet = TelnetState.Data
    private subBytes = 0
    /** Lines passed on. */
    lines = 0
    /** Lines that were longer than maxLine (passed on cut). */
    overlong = 0
    /** Telnet command bytes dropped. */
    telnetBytes = 0

    constructor(
        private maxLine: number,
        private onLine: (line: string) => void
    ) {}

    /** Feeds received bytes; calls onLine for each completed line. */
    feed(data: Buffer): void {
        for (let i = 0; i < data.length; i++) this.byte(data[i])
    }

    /** Characters waiting for their line end. */
    pending(): number {
        return this.line.length
    }

    private byte(c: number): void {
        if (this.telnet !== TelnetState.Data) {
            this.telnetByte(c)
            return
        }
        if (c === IAC) {
            this.telnet = TelnetState.Command
            this.telnetBytes++
            return
        }
        const wasCr = this.lastCr
        this.lastCr = c === 13
        if (c === 10 && wasCr) return
        if (c === 13 || c === 10) {
            const line = this.line
            this.line = ""
            if (this.cut) this.overlong++
            this.cut = false
            this.lines++
            this.onLine(line)
            return
        }
        if (c === 8 || c === 127) {
            if (!this.cut && this.line.length > 0) this.line = this.line.slice(0, this.line.length - 1)
            return
        }
        this.add(c)
    }

    private add(c: number): void {
        if (this.line.length > this.maxLine) {
            this.cut = true
            return
        }
        this.line += String.fromCharCode(c)
    }

    private telnetByte(c: number): void {
        this.telnetBytes++
        if (this.telnet === TelnetState.Command) {
            if (c === IAC) {
                // IAC IAC is a data byte 0xff
                this.telnet = TelnetState.Data
                this.telnetBytes -= 2
                this.lastCr = false
                this.add(IAC)
                return
            }
            if (c >= 251 && c <= 254) this.telnet = TelnetState.Option
            else if (c === SB) {
                this.telnet = TelnetState.Sub
                this.subBytes = 0
            } else this.telnet = TelnetState.Data
        } else if (this.telnet === TelnetState.Option) {
            this.telnet = TelnetState.Data
        } else {
            this.subBytes++
            if (this.subBytes > SUB_MAX) {
                // not a real subnegotiation: this byte is data again
                this.telnet = TelnetState.Data
                this.telnetBytes--
                this.byte(c)
            } else if (this.telnet === TelnetState.Sub) {
                if (c === IAC) this.telnet = TelnetState.SubIac
            } else this.telnet = c === SE ? TelnetState.Data : TelnetState.Sub
        }
    }
}
