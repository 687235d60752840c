/**
 * Console: a board's serial console, lines in and lines out.
 *
 * Contract
 * - `writeLine(text)` prints one line; the platform adds the line ending ("\r\n" on a serial
 *   port). It never blocks: output that cannot be sent is dropped and counted by the platform.
 * - `onLine(handler)`: `handler(line)` is called from the run loop with each received line,
 *   without its line ending. The platform cuts lines longer than its buffer and passes bytes
 *   as they came: the handler must accept any text, including binary garbage.
 */
export interface Console {
    writeLine(text: string): void
    onLine(handler: (line: string) => void): void
}
