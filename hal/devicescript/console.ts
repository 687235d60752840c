import { Console } from "../console"

/**
 * The board's console: output only.
 *
 * Output: `console.log`, which the runtime sends to the DeviceScript log (the USB serial
 * connection to `devs devtools` or the VS Code extension) without blocking.
 *
 * Input: the runtime gives a program no way to read lines from the serial port. Its builtins
 * have no serial or stdin read (the `Serial` service client talks to a separate Jacdac serial
 * module, not to the board's own port, and the runtime has no UART driver), so `onLine` drops
 * the handler: nothing would call it. `hasInput()` says so, and the boot prints it once. A
 * line console on a board would need a Jacdac service of our own on the board and a host tool
 * that sends it lines; there is none.
 * @devsWhenUsed
 */
export class BoardConsole implements Console {
    /** Lines written. */
    lines = 0

    writeLine(text: string): void {
        this.lines++
        console.log(text)
    }

    onLine(_handler: (line: string) => void): void {}

    /** False: no line ever arrives on this runtime. */
    hasInput(): boolean {
        return false
    }
}
