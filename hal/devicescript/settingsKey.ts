import * as ds from "@devicescript/core"

export async function readKeySetting(name: string, timeoutMs: number): Promise<Buffer | null> {
    const s = new ds.Settings()
    ;(s as any)._reportHandlers = { get: ds.Fiber.self() }
    await s.get(name)
    const pkt = await ds.suspend<ds.Packet>(timeoutMs)
    if (!pkt) return null
    const p = pkt.payload
    const at = p.indexOf(0)
    if (p.length !== at + 67) return null
    const key = Buffer.from(p.slice(at + 2, at + 66).toString(), "hex")
    return key.length === 32 ? key : null
}
