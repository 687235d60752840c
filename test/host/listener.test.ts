import { afterAll, describe, expect, it } from "vitest"
import { connect, Socket } from "node:net"
import { getU16, getU32, putU16, putU32 } from "../../firmware/codec/bytes"
import { CobsDecoder, cobsEncode } from "../../firmware/codec/cobs"
import { crc32c } from "../../firmware/codec/crc32c"
import {
    FrameType,
    HANDSHAKE_BYTES,
    HEADER_BYTES,
    OFF_MEMBER,
    OFF_NONCE,
    OFF_REASON,
    OFF_SESSION,
    OFF_VERSION,
    PROTOCOL_VERSION,
    RefuseReason,
} from "../../firmware/link/frame"
import { NodeClock } from "../../host-sim/host/nodeClock"
import { RemoteListener } from "../../host-sim/host/tcpLink"

const clock = new NodeClock()
afterAll(() => clock.stop())

/** A raw frame as a primary would send it: header (type, session), `body` after it, CRC. */
function frame(type: number, session: number, body: Buffer = Buffer.alloc(0)): Buffer {
    const raw = Buffer.alloc(HEADER_BYTES + body.length + 4)
    raw[0] = type
    putU32(raw, OFF_SESSION, session)
    body.copy(raw, HEADER_BYTES)
    putU32(raw, raw.length - 4, crc32c(raw.subarray(0, raw.length - 4)))
    return cobsEncode(raw)
}

function hello(member: number, nonce: number): Buffer {
    const b = Buffer.alloc(HANDSHAKE_BYTES - HEADER_BYTES)
    b[OFF_VERSION - HEADER_BYTES] = PROTOCOL_VERSION
    putU16(b, OFF_MEMBER - HEADER_BYTES, member)
    putU32(b, OFF_NONCE - HEADER_BYTES, nonce)
    return frame(FrameType.Hello, 0, b)
}

/** A client socket and the frames it receives, awaited one by one. */
async function client(port: number): Promise<{ s: Socket; next: () => Promise<Buffer> }> {
    const s = await new Promise<Socket>((resolve) => {
        const c = connect(port, "127.0.0.1", () => resolve(c))
    })
    const got: Buffer[] = []
    let wake: (() => void) | null = null
    const dec = new CobsDecoder(2048, (buf, len) => {
        got.push(Buffer.from(buf.subarray(0, len)))
        if (wake) wake()
    })
    s.on("data", (d: Buffer) => dec.push(d, 0, d.length))
    const next = async () => {
        while (got.length === 0) await new Promise<void>((r) => (wake = r))
        return got.shift()!
    }
    return { s, next }
}

// The remote's listener gives each connection to a member by its first frame.
describe("RemoteListener", () => {
    it("routes by HELLO and by session, resets unknown sessions, refuses members it does not have", async () => {
        const session = 0x5eed1234
        const logs: string[] = []
        const l = new RemoteListener(clock, {
            members: 2,
            nominalBitRate: 115200,
            maxPayload: 1096,
            sessionOf: (m) => (m === 1 ? session : 0),
            log: (x) => logs.push(x),
        })
        const received: Buffer[][] = [[], []]
        l.links.forEach((link, m) => link.onReceive((d) => received[m].push(Buffer.from(d))))
        const { port } = await l.listen("127.0.0.1", 0)

        // a frame of a session no member is in: RESET naming it; nothing reaches a channel
        const a = await client(port)
        a.s.write(frame(FrameType.Data, 0xbad))
        const reset = await a.next()
        expect(reset[0]).toBe(FrameType.Reset)
        expect(getU32(reset, OFF_SESSION)).toBe(0xbad)
        expect(crc32c(reset.subarray(0, reset.length - 4))).toBe(getU32(reset, reset.length - 4))
        // a HELLO of member 5 of a group of 2: REFUSE, wrong member, with its nonce
        a.s.write(hello(5, 77))
        const refuse = await a.next()
        expect(refuse[0]).toBe(FrameType.Refuse)
        expect(refuse[OFF_REASON]).toBe(RefuseReason.WrongMember)
        expect(getU16(refuse, OFF_MEMBER)).toBe(5)
        expect(getU32(refuse, OFF_NONCE)).toBe(77)
        expect(l.resets).toBe(1)
        expect(l.refused).toBe(1)
        // then its HELLO as member 0: the connection is member 0's, from that frame on
        const h = hello(0, 78)
        const after = frame(FrameType.Ack, 0)
        a.s.write(Buffer.concat([h, after]))
        await until(() => received[0].length > 0 && Buffer.concat(received[0]).length >= 1 + h.length + after.length)
        expect(Buffer.concat(received[0]).equals(Buffer.concat([Buffer.alloc(1), h, after]))).toBe(true)
        expect(received[1]).toEqual([])
        expect(l.links[0].socket).not.toBeNull()

        // a connection whose first frame is of member 1's session is member 1's; a new one of
        // member 0 replaces the old
        const b = await client(port)
        b.s.write(frame(FrameType.Ack, session))
        await until(() => received[1].length > 0)
        expect(l.links[1].socket).not.toBeNull()
        const c = await client(port)
        c.s.write(hello(0, 79))
        await until(() => a.s.destroyed || a.s.readableEnded)
        expect(logs.some((x) => /^member 0: connected from 127\.0\.0\.1:\d+ \(replaces its previous connection\)$/.test(x))).toBe(true)
        // what the member's channel writes goes to its connection
        l.links[1].write(cobsEncode(Buffer.from([9, 8, 7])))
        const back = await b.next()
        expect([...back]).toEqual([9, 8, 7])
        for (const x of [b, c]) x.s.destroy()
        await l.close()
    })
})

async function until(test: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000
    while (!test()) {
        if (Date.now() > deadline) throw new Error("not within 5 s")
        await new Promise<void>((r) => setImmediate(r))
    }
}
