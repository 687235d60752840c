import * as ds from "@devicescript/core"

/** The setting that holds a board's link key: 64 hex digits, in the project's .env.local
 * (`SEQMIRROR_KEY="..."`, as `seqmirror keygen` writes it), deployed with the program like the
 * Wi-Fi password, never in devicescript.json. */
export const KEY_SETTING = "SEQMIRROR_KEY"

/**
 * Reads a 32-byte key from the runtime's settings, through `s` (a program's one client of the
 * settings service: a second one never binds to it): null when the setting is missing, is not
 * 64 hex digits in quotes, or no answer comes within `timeoutMs`. It asks the service directly
 * (its answer wakes this fiber), without @devicescript/settings, whose emitters and JSON
 * reading cost the board image twice as much.
 */
export async function readKeySetting(s: ds.Settings, name: string, timeoutMs: number): Promise<Buffer | null> {
    ;(s as unknown as { _reportHandlers: unknown })._reportHandlers = { get: ds.Fiber.self() }
    await s.get(name)
    const answer = await ds.suspend<ds.Packet>(timeoutMs)
    if (!answer) return null
    // the answer: the name, a zero byte, then the value as JSON text: "64 hex digits"
    const p = answer.payload
    const at = p.indexOf(0)
    if (p.length !== at + 67) return null
    const key = Buffer.from(p.slice(at + 2, at + 66).toString(), "hex")
    if (key.length !== 32) return null
    return key
}
