import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { NOT_RUNNING, reasonText } from "../../firmware/console/commands"
import { ConsoleRig } from "./harness"

const ERROR_WITH_HINT = /^error: .*(; try help|; usage: .+)$/

describe("board commands on a primary's console", () => {
    const rig = new ConsoleRig()
    rig.advance(3000)

    it("status names the board and shows its seqs, ring, link and shuttle", () => {
        const lines = rig.type(0, "status")
        expect(lines[0]).toMatch(/^primary 0 addr 0x10, clock 3(\.0)? s$/)
        expect(lines[1]).toMatch(/^seq capture \d+ released \d+$/)
        expect(lines[2]).toMatch(/^ring \d+\/\d+ \(\d+%\), closed seqs waiting \d+, writes waiting \d+$/)
        expect(lines[3]).toMatch(/^link up, \d+ unacknowledged$/)
        expect(lines[4]).toMatch(/^shuttle epoch \d+, 3 members$/)
    })

    it("stats --json prints one JSON line whose counters match the board", () => {
        const lines = rig.type(1, "stats --json")
        expect(lines).toHaveLength(1)
        const s = JSON.parse(lines[0])
        const board = rig.sim.group.primaries[1].board!
        expect(s.member).toBe(1)
        expect(s.captureSeq).toBe(board.captureSeq())
        expect(s.writesAcked).toBe(board.writesAcked)
        expect(s.ringSlots).toBe(board.ring.slots)
        expect(s.shuttleMembers).toBe(3)
        expect(s.linkUp).toBe(1)
        // replication runs: not suspended, and a flag prints as a JSON boolean
        expect(s.suspended).toBe(false)
        expect(s.suspendReason).toBe(0)
        expect(s.suspensions).toBe(0)
        expect(s.ackedDuringSuspension).toBe(0)
        expect(rig.type(1, "status").some((l) => l.startsWith("replication suspended"))).toBe(false)
        // plain stats lists the same counters
        const plain = rig.type(1, "stats").join(", ")
        for (const k of Object.keys(s)) expect(plain).toContain(k + " ")
    })

    it("seq, ring, link, shuttle and group answer in their own words", () => {
        expect(rig.type(0, "seq")[0]).toMatch(/^capture \d+, released \d+, confirmed by the remote \d+$/)
        expect(rig.type(0, "ring")[0]).toMatch(/^ring \d+\/\d+ portions/)
        expect(rig.type(0, "link")[0]).toMatch(/^up, session \d+, frames sent \d+/)
        expect(rig.type(0, "shuttle")[0]).toMatch(/^epoch \d+, S \d+, released \d+$/)
        expect(rig.type(2, "group")).toEqual(["group of 3: 0x10 0x11 0x12(this)"])
    })

    it("read prints the block's size and digest once the store answered", () => {
        expect(rig.type(0, "read 0")).toEqual([])
        const line = rig.until(0, /^lba 0: /)
        expect(line).toMatch(/^lba 0: (256 B, crc32c [0-9a-f]{8}, begins 534d5731 00000000 00000000 [0-9a-f]{8}|never written)$/)
    })

    it("an unknown command, a bad argument or a bad count gets one error line with a hint", () => {
        for (const bad of [
            "bogus",
            "read",
            "read 99999",
            "read x",
            "status now",
            "stats --xml",
            "log loud",
            "evict",
            "evict 0x10",
            "evict zz",
            "admit",
            "admit 0x11",
            "admit zz",
            "fault",
            "fault link",
            "fault link soon",
            "fault flood",
        ]) {
            const lines = rig.type(0, bad)
            expect(lines, bad).toHaveLength(1)
            expect(lines[0], bad).toMatch(ERROR_WITH_HINT)
        }
        expect(rig.type(0, "bogus")).toEqual(['error: unknown command "bogus"; try help'])
        expect(rig.type(0, "evict 0x10")[0]).toBe("error: cannot evict 0x10: a member cannot evict itself; usage: evict <address>")
    })

    it("help lists every command with its usage", () => {
        const help = rig.type(0, "help").join("\n")
        for (const c of [
            "help",
            "log",
            "status",
            "stats",
            "seq",
            "ring",
            "link",
            "shuttle",
            "group",
            "read <lba>",
            "evict <address>",
            "admit <address>",
            "fault link <time>",
        ])
            expect(help).toContain(c)
        expect(rig.type(0, "help read")).toEqual(["read <lba>  —  read one block of this board's store"])
    })

    it("log sets the level of the board's own lines", () => {
        expect(rig.type(0, "log debug")).toEqual(["log level debug"])
        expect(rig.type(0, "log info")).toEqual(["log level info"])
    })

    it("evict takes a current member out of a group of three, and the group says so", () => {
        expect(rig.type(0, "evict 0x12")).toEqual(["evicting 0x12: takes effect at this board's next shuttle visit"])
        rig.advance(2000)
        expect(rig.type(0, "group")[0]).toBe("group of 2: 0x10(this) 0x11")
        // a group keeps two members
        expect(rig.type(0, "evict 0x11")[0]).toMatch(/^error: cannot evict 0x11: a group keeps at least 2 members/)
        // the evicted board says why it suspended, and admitted again it is back in the group
        expect(rig.type(2, "status").join("\n")).toContain("this board was evicted from the group")
        expect(rig.type(1, "admit 0x11")[0]).toMatch(/^error: cannot admit 0x11: not evicted/)
        expect(rig.type(1, "admit 0x12")).toEqual([
            "admitting 0x12: takes effect at this board's next shuttle visit; the group then resyncs with its whole image",
        ])
        rig.advance(2000)
        expect(rig.type(0, "group")[0]).toBe("group of 3: 0x10(this) 0x11 0x12")
        expect(rig.type(2, "group")[0]).toBe("group of 3: 0x10 0x11 0x12(this)")
    })
})

describe("the remote's console", () => {
    const rig = new ConsoleRig({ boards: 2 })
    rig.advance(3000)
    const remote = 2

    it("status, seq, link, group and verdict describe the mirror", () => {
        const st = rig.type(remote, "status")
        expect(st[0]).toMatch(/^remote, clock 3(\.0)? s$/)
        expect(st[1]).toMatch(/^applied seq \d+, staged portions \d+, /)
        expect(st[2]).toBe("links up 2/2")
        expect(st[3]).toMatch(/^sim: consistent so far: \d+ applies checked, no violation$/)
        expect(rig.type(remote, "seq")[0]).toMatch(/^applied seq \d+, seqs applied since boot \d+$/)
        expect(rig.type(remote, "link")).toHaveLength(2)
        expect(rig.type(remote, "group")[0]).toMatch(/^mirrors 2 member\(s\): 0\.\.1, applied seq \d+$/)
        expect(rig.type(remote, "verdict")[0]).toMatch(/^consistent so far/)
        const s = JSON.parse(rig.type(remote, "stats --json")[0])
        expect(s.appliedSeq).toBe(rig.sim.group.appliedSeq())
        expect(s.linksUp).toBe(2)
        expect(s.suspendedMember).toBe(-1)
        expect(s.suspendReason).toBe(0)
        expect(st.some((l) => l.startsWith("holding its image"))).toBe(false)
    })

    it("a remote that has applied nothing yet says so: its store's 0 is no seq", () => {
        const fresh = new ConsoleRig({ boards: 2 })
        fresh.advance(50)
        expect(rig.sim.group.remote.store!.hasApplied()).toBe(true)
        expect(fresh.sim.group.remote.store!.hasApplied()).toBe(false)
        expect(fresh.type(remote, "status")[1]).toMatch(/^applied no seq yet, staged portions \d+, /)
        expect(fresh.type(remote, "seq")[0]).toBe("applied no seq yet, seqs applied since boot 0")
        expect(fresh.type(remote, "group")[0]).toBe("mirrors 2 member(s): 0..1, applied no seq yet")
    })

    it("read <member> <lba> reads an applied block; ring and shuttle are not remote commands", () => {
        rig.type(remote, "read 1 0")
        expect(rig.until(remote, /^member 1 lba 0: /)).not.toBeNull()
        expect(rig.type(remote, "read 2 0")[0]).toMatch(/^error: member 2 is out of range 0\.\.1/)
        expect(rig.type(remote, "ring")).toEqual(['error: unknown command "ring"; try help'])
        expect(rig.type(remote, "fault shuttle")[0]).toMatch(/^error: the remote is not on the group bus/)
    })
})

describe("a suspended group on the consoles", () => {
    // primary 2 is off for 12 s: the others' writes wait for a release that cannot come, so
    // they suspend after the suspend time (5 s) and acknowledge locally; the remote holds its
    // image until primary 2 is back and the group's delta resync commits
    const rig = new ConsoleRig({ boards: 3, powerOff: [{ target: 2, atMs: 3000, forMs: 12000 }] })
    const remote = 3
    rig.advance(10000)
    const STALLED = "a write waited 5 s or more: the group cannot release"

    it("a suspended primary's status says since which seq, why, and what it acknowledged alone", () => {
        const b = rig.sim.group.primaries[0].board!
        expect(b.suspended).toBe(true)
        const line = rig.type(0, "status").find((l) => l.startsWith("replication suspended"))
        expect(line).toBe(`replication suspended since seq ${b.suspendedSeq} (${STALLED}), ${b.ackedDuringSuspension} writes acknowledged while suspended`)
        expect(b.ackedDuringSuspension).toBeGreaterThan(0)
        const s = JSON.parse(rig.type(0, "stats --json")[0])
        expect(s.suspended).toBe(true)
        expect(s.suspendReason).toBe(2)
        expect(s.suspendedSeq).toBe(b.suspendedSeq)
        expect(s.suspensions).toBe(1)
        expect(s.ackedDuringSuspension).toBe(b.ackedDuringSuspension)
        expect(rig.type(0, "stats").join(", ")).toContain("suspended true, suspendReason 2, suspendedSeq " + b.suspendedSeq)
    })

    it("the remote says it holds its image, for which member and why", () => {
        const st = rig.type(remote, "status")
        const s = JSON.parse(rig.type(remote, "stats --json")[0])
        expect(s.suspendedMember === 0 || s.suspendedMember === 1).toBe(true)
        expect(s.suspendReason).toBe(2)
        expect(s.resyncsApplied).toBe(0)
        expect(st[1]).toMatch(new RegExp("^applied seq " + s.appliedSeq + ", staged portions \\d+, "))
        expect(st[2]).toBe(`holding its image at seq ${s.appliedSeq}: member ${s.suspendedMember} suspended replication (${STALLED})`)
        expect(st[3]).toBe("links up 2/3")
    })

    it("once the member is back, the delta resync commits and every console says replication runs again", () => {
        const applied = JSON.parse(rig.type(remote, "stats --json")[0]).appliedSeq
        rig.advance(20000)
        const r = JSON.parse(rig.type(remote, "stats --json")[0])
        expect(r.resyncsApplied).toBe(1)
        expect(r.suspendedMember).toBe(-1)
        expect(r.suspendReason).toBe(0)
        expect(r.appliedSeq).toBeGreaterThan(applied)
        expect(rig.type(remote, "status").some((l) => l.startsWith("holding its image"))).toBe(false)
        for (const m of [0, 1]) {
            const s = JSON.parse(rig.type(m, "stats --json")[0])
            expect(s.suspended, "primary " + m).toBe(false)
            expect(s.suspendReason).toBe(0)
            expect(s.suspensions).toBe(1)
            expect(rig.type(m, "status").some((l) => l.startsWith("replication suspended"))).toBe(false)
        }
        expect(rig.sim.finish().consistent).toBe(true)
    })

    it("the reasons read the same everywhere, with the suspend time when known", () => {
        expect(reasonText(1, 5000)).toBe("replication history at its bound")
        expect(reasonText(2, 5000)).toBe(STALLED)
        expect(reasonText(3, 5000)).toBe("link down 5 s or more")
        expect(reasonText(3, 1500)).toBe("link down 1.5 s or more")
        expect(reasonText(3, 0)).toBe("link down")
    })
})

describe("simulator fault commands", () => {
    it("fault link cuts the board's link for the time given, and status says so until it is back", () => {
        const rig = new ConsoleRig()
        rig.advance(2000)
        expect(rig.type(1, "fault link 3s")).toEqual(["info: sim: link cut", "link of primary 1 cut for 3000 ms"])
        expect(rig.sim.group.wires[1].isUp()).toBe(false)
        expect(rig.type(1, "status")).toContain("sim: link cut by fault, 3000 ms left")
        rig.advance(1000)
        expect(rig.type(1, "status")).toContain("sim: link cut by fault, 2000 ms left")
        rig.advance(2100)
        expect(rig.sim.group.wires[1].isUp()).toBe(true)
        expect(rig.type(1, "status").some((l) => l.startsWith("sim: link"))).toBe(false)
        expect(rig.sim.faultsInjected.linkOutage).toBe(1)
        expect(rig.faults.events.map((e) => e.kind)).toEqual(["link down", "link up"])
    })

    it("fault power cuts the board, which answers from its next boot on", () => {
        const rig = new ConsoleRig()
        rig.advance(2000)
        const boots = rig.sim.group.primaries[0].boots
        expect(rig.type(0, "fault power 500ms")).toEqual(["info: sim: power cut, off for 500 ms", "power cut; primary 0 boots again in 500 ms"])
        expect(rig.type(0, "status")).toEqual([NOT_RUNNING, "sim: powered off, boots in 500 ms"])
        expect(rig.type(0, "fault power")[0]).toBe(
            "error: the board is already powered off; usage: fault link <time> | fault power [time] | fault shuttle | fault replace [time]"
        )
        expect(rig.until(0, /^info: boot \d+: primary 0 up, capture seq \d+$/)).not.toBeNull()
        expect(rig.sim.group.primaries[0].boots).toBe(boots + 1)
        rig.advance(500)
        expect(rig.type(0, "status")[0]).toMatch(/^primary 0 addr 0x10/)
        expect(rig.sim.faultsInjected.power).toBe(1)
    })

    it("fault shuttle loses the next hand-over; a member regenerates the shuttle with a new epoch", () => {
        const rig = new ConsoleRig()
        rig.advance(2000)
        const epoch = rig.sim.agents[0]!.epochOf()
        expect(rig.type(0, "fault shuttle")[0]).toMatch(/^the next shuttle hand-over on the bus will be lost/)
        expect(rig.type(0, "status")).toContain("sim: shuttle drop armed")
        rig.advance(3000)
        expect(rig.faults.events.some((e) => e.kind === "shuttle drop")).toBe(true)
        expect(rig.sim.agents[0]!.epochOf()).toBeGreaterThan(epoch)
        expect(rig.type(0, "status")).not.toContain("sim: shuttle drop armed")
        expect(rig.type(0, "shuttle")[2]).toMatch(/regenerations [1-9]/)
        const r = rig.sim.finish()
        expect(r.consistent).toBe(true)
    })

    it("fault replace puts a blank remote in; the consoles show the full resync until it is applied", () => {
        const rig = new ConsoleRig({ boards: 2 })
        rig.advance(3000)
        const remote = 2
        expect(rig.type(remote, "fault replace 200ms")).toEqual([
            "info: sim: replaced by a new board with a blank flash, off for 200 ms",
            "the remote is replaced by a new board with a blank flash, up in 200 ms; the group resyncs it in full",
        ])
        expect(rig.until(0, /^info: sim: /, 10)).toBeNull()
        // a member copies its blocks, then waits for the remote to apply the copy
        const member = new Set<string>()
        const mirror = new Set<string>()
        // a sealed link's members reconnect once their links are found dead (3 s): the new remote
        // holds no keys of their sessions to reset them with
        for (let t = 0; t < 8000; t += 5) {
            rig.advance(5)
            const line = rig.type(0, "status").find((l) => l.startsWith("full resync: "))
            if (line) member.add(line.replace(/\d+/g, "N"))
            mirror.add(rig.type(remote, "status")[1].replace(/\d+/g, "N"))
        }
        expect([...member].sort()).toEqual([
            "full resync: N blocks copied, waiting for the remote to apply them",
            "full resync: copying block N of N, N copied",
        ])
        // the new remote has applied no seq until the resync's commit
        expect(mirror).toContain("applied no seq yet, staged portions N, full resync: waiting for members' copies")
        expect(mirror).not.toContain("applied seq N, staged portions N, full resync: waiting for members' copies")
        expect(mirror).toContain("applied seq N, staged portions N, waiting for portions")
        rig.advance(15000)
        const s = JSON.parse(rig.type(remote, "stats --json")[0])
        expect(s.resyncsApplied).toBe(1)
        expect(s.appliedSeq).toBeGreaterThan(0)
        expect(JSON.parse(rig.type(0, "stats --json")[0]).resyncsStarted).toBe(1)
        expect(rig.type(0, "status").some((l) => l.startsWith("full resync"))).toBe(false)
        expect(rig.sim.faultsInjected.remoteReplaced).toBe(1)
        expect(rig.sim.finish().consistent).toBe(true)
    })

    it("fault replace on a primary puts a blank board in; it restores its image from the remote, then replicates", () => {
        const rig = new ConsoleRig({ boards: 2 })
        rig.advance(4000)
        expect(rig.type(1, "fault replace 300ms")).toEqual([
            "info: sim: replaced by a new board with a blank flash, off for 300 ms",
            "primary 1 replaced by a board with a blank flash; it boots in 300 ms and restores its image from the remote",
        ])
        // one board at a time
        expect(rig.type(0, "fault replace")[0]).toMatch(
            /^error: another board is restoring or off for a while, or the remote was replaced and has not caught up: a board is replaced while the others are up/
        )
        const seen = new Set<string>()
        const mirror = new Set<string>()
        for (let t = 0; t < 15000 && rig.sim.restoresDone === 0; t += 10) {
            rig.advance(10)
            for (const l of rig.type(1, "status")) seen.add(l.replace(/\d+/g, "N"))
            for (const l of rig.type(2, "status")) mirror.add(l.replace(/\d+/g, "N"))
        }
        expect(mirror).toContain("member N restores its image from this one, as of seq N")
        expect(rig.sim.restoresDone).toBe(1)
        expect(seen).toContain("board not running (booting or powered off)")
        expect(seen).toContain("sim: restoring its image from the remote, N blocks written")
        rig.advance(5000)
        expect(rig.type(1, "status")[0]).toMatch(/^primary 1 addr 0x11, clock/)
        expect(rig.sim.faultsInjected.primaryReplaced).toBe(1)
        const r = rig.sim.finish()
        expect(r.violations).toEqual([])
        expect(r.restores).toBe(1)
    })

    it("a group of one has no shuttle to lose", () => {
        const rig = new ConsoleRig({ boards: 1 })
        rig.advance(1000)
        expect(rig.type(0, "fault shuttle")[0]).toMatch(/^error: a group of one has no shuttle/)
        expect(rig.type(0, "shuttle")).toEqual(["no shuttle: a group of one closes its seqs by itself"])
        expect(rig.type(0, "evict 0x11")[0]).toMatch(/^error: this board runs alone/)
    })

    it("once the run is over, faults are refused", () => {
        const rig = new ConsoleRig({ boards: 2 })
        rig.advance(1000)
        rig.sim.finish()
        expect(rig.type(0, "fault link 1s")[0]).toMatch(/^error: the run is over/)
    })
})

describe("console input is untrusted", () => {
    const rig = new ConsoleRig({ boards: 2 })
    rig.advance(1000)

    it("garbage bytes, over-long lines and telnet negotiation never break the console", () => {
        fc.assert(
            fc.property(
                fc.array(
                    fc.oneof(
                        fc.uint8Array({ maxLength: 400 }),
                        fc.string({ maxLength: 300 }).map((s) => Buffer.from(s + "\n", "utf8")),
                        fc.constantFrom(
                            Buffer.from([0xff, 0xfb, 0x01]),
                            Buffer.from([0xff, 0xfa, 0x18, 0x00, 0x41, 0xff, 0xf0]),
                            Buffer.from("x".repeat(5000) + "\r\n")
                        )
                    ),
                    { maxLength: 8 }
                ),
                (chunks) => {
                    const lines: string[] = []
                    const conn = rig.hub.boards[0].console.connect({ write: (t) => lines.push(t) }, false)
                    for (const c of chunks) conn.feed(Buffer.from(c))
                    // whatever came before (a telnet subnegotiation takes up to 64 bytes), a
                    // fresh line still gets its answer
                    lines.length = 0
                    conn.feed(Buffer.from("\n".repeat(65) + "seq\r\n"))
                    conn.close()
                    const text = lines.join("")
                    expect(text).toMatch(/capture \d+, released \d+/)
                    // every error is one line with a hint
                    for (const l of text.split("\r\n")) if (l.startsWith("error:")) expect(l).toMatch(ERROR_WITH_HINT)
                }
            ),
            { numRuns: 200 }
        )
    })

    it("an over-long line gets one error line and the next line works", () => {
        const out = rig.type(0, "x".repeat(5000))
        // the console's line reader cuts it; typed directly the shell still refuses it
        expect(out).toHaveLength(1)
        expect(out[0]).toMatch(/^error: line too long \(5000 characters, at most 160\); try help$/)
        expect(rig.type(0, "seq")[0]).toMatch(/^capture/)
        expect(rig.type(0, "status\u0000")).toEqual(["error: the line holds a control or non-ASCII character; try help"])
    })
})
