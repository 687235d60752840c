import * as ds from "@devicescript/core"
import { Shell, ShellCommand, ShellError } from "../../firmware/console/shell"
import { validateConfig, defaultConfig } from "../../firmware/config"
import { AuxRing } from "../../firmware/pipeline/auxRing"
import { PrimaryBoard } from "../../firmware/pipeline/primary"
import { RemoteBoard } from "../../firmware/remote/remoteBoard"
import { SoloCycle } from "../../firmware/pipeline/soloCycle"
import { History, App, WorkloadOptions, encodeBlock, decodeBlock } from "../workload"
import { checkRemote } from "../checker"
import { BoardClock } from "../boardClock"
import { PoweredLink } from "../powered"

class Out {
    h: ((l: string) => void) | null = null
    writeLine(t: string) { console.log("> " + t) }
    onLine(h: (l: string) => void) { this.h = h }
}
const o = new Out()
const sh = new Shell(o, 80)
sh.add(new ShellCommand("x", "x <n>", "test", (a) => { if (a.length !== 1) throw new ShellError("x takes one"); return ["ok " + a[0]] }))
sh.execute("help")
sh.execute("x")
sh.execute("x 5")
sh.execute("bogus")
sh.execute("zz\u0001")
console.log("cfg errors " + validateConfig(defaultConfig()).length + " " + validateConfig({ board: 3 }).length)
const c: any = defaultConfig()
c.group.members = 5
console.log(validateConfig(c).join("|"))
const r = new AuxRing(4096, 256)
console.log("slots " + r.slots)
const b = Buffer.alloc(256)
encodeBlock(b, 1, 7, 9)
const id = decodeBlock(b)
console.log("block " + (id ? id.board + ":" + id.lba + ":" + id.counter : "null"))
console.log("log " + Math.floor(Math.log(10) * 1000))
