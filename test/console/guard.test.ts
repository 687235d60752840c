import { describe, expect, it } from "vitest"
import { connect } from "node:net"
import { changing, Shell, ShellCommand } from "../../firmware/console/shell"
import { BoardConsole, SimConsole } from "../../host-sim/console/hub"
import { ConsoleServer, isLoopback } from "../../host-sim/console/tcp"

// Commands that change a board's state are marked (ShellCommand.changes); a shell with a guard
// asks it before running one. The host remote's guard refuses them on a console client that is
// not on this machine (unless --console-admin): a client's place comes with each line it types.

function shellOf(con: SimConsole, local: () => boolean): { shell: Shell; ran: string[] } {
    const shell = new Shell(con, 160)
    const ran: string[] = []
    shell.add(new ShellCommand("look", "look", "reads", () => (ran.push("look"), ["looked"])))
    shell.add(changing(new ShellCommand("evict", "evict <address>", "changes", (a) => (ran.push("evict " + a[0]), ["evicted"]))))
    shell.add(
        changing(new ShellCommand("damage", "damage [accept]", "reads, or changes", (a) => (ran.push("damage " + a.join(" ")), ["ok"])), (a) => a.length > 0)
    )
    shell.guard = (cmd) => (local() ? null : cmd.name + " changes the remote's state: refused on a console that is not on this machine")
    return { shell, ran }
}

describe("the console's guard of commands that change state", () => {
    it("runs reading commands from anywhere, and changing ones only where the guard lets them", () => {
        const con = new SimConsole()
        const { shell, ran } = shellOf(con, () => con.lineLocal)
        const out: string[] = []
        const far = con.connect({ write: (t) => out.push(t.trim()) }, false, false)
        const near = con.connect({ write: () => {} }, false, true)
        far.feed(Buffer.from("look\nevict 0x11\ndamage\ndamage accept\n"))
        expect(ran).toEqual(["look", "damage "])
        expect(out).toContain("error: evict changes the remote's state: refused on a console that is not on this machine")
        expect(out).toContain("error: damage changes the remote's state: refused on a console that is not on this machine")
        expect(shell.errors).toBe(2)
        near.feed(Buffer.from("evict 0x11\ndamage accept\n"))
        expect(ran).toEqual(["look", "damage ", "evict 0x11", "damage accept"])
        // stdin and the simulator's own lines are this machine's
        con.input("evict 0x12")
        expect(ran[ran.length - 1]).toBe("evict 0x12")
    })

    it("knows this machine's addresses", () => {
        for (const a of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) expect(isLoopback(a), a).toBe(true)
        for (const a of ["10.0.0.5", "192.168.1.20", "::ffff:10.0.0.5", "fe80::1", "", undefined]) expect(isLoopback(a), String(a)).toBe(false)
    })

    it("a TCP client on this machine is local: its changing commands run", async () => {
        const con = new SimConsole()
        const { shell, ran } = shellOf(con, () => con.lineLocal)
        const server = new ConsoleServer({ boards: [new BoardConsole("remote", con, shell)] }, "host", "127.0.0.1")
        await server.listen(0, false)
        const port = (server as unknown as { hub: { boards: BoardConsole[] } }).hub.boards[0].port
        const sock = connect(port, "127.0.0.1")
        let got = ""
        await new Promise<void>((resolve) => {
            sock.on("data", (d) => {
                got += d.toString("latin1")
                if (got.includes("evicted")) resolve()
            })
            sock.on("connect", () => sock.write("evict 0x11\r\n"))
        })
        expect(ran).toEqual(["evict 0x11"])
        sock.destroy()
        await server.close("bye")
    })
})
