#!/usr/bin/env node
// Prints how much of the DeviceScript VM's image limit the last `devs build` used, and which
// modules use it. The VM refuses an image whose function bytecode ends at or beyond 64 KB
// (verification error 1051): each function costs its bytecode plus a 16-byte descriptor, after
// a 112-byte header. Strings and other data come after the functions and do not count.
//
//   node bin/image-size.mjs [DBG_JSON] [--top N] [--min-left BYTES] [--want BYTES]
//                                       default .devicescript/bin/bytecode-dbg.json; exits 1 when
//                                       fewer than --min-left are left (default 1: over the
//                                       limit); says so, without failing, when fewer than --want
import { readFileSync } from "node:fs"

const LIMIT = 0x10000
const args = process.argv.slice(2)
let top = 12
const at = args.indexOf("--top")
if (at >= 0) {
    top = Number(args[at + 1])
    args.splice(at, 2)
}
let minLeft = 1
const ml = args.indexOf("--min-left")
if (ml >= 0) {
    minLeft = Number(args[ml + 1])
    args.splice(ml, 2)
}
let want = 0
const w = args.indexOf("--want")
if (w >= 0) {
    want = Number(args[w + 1])
    args.splice(w, 2)
}
const file = args[0] ?? ".devicescript/bin/bytecode-dbg.json"

let dbg
try {
    dbg = JSON.parse(readFileSync(file, "utf8"))
} catch (e) {
    process.stderr.write(`image-size: cannot read ${file}: ${e.message}\n`)
    process.exit(2)
}

// a function's location is an offset into the sources laid end to end
const starts = []
let acc = 0
for (const s of dbg.sources) {
    starts.push(acc)
    acc += s.length
}
function sourceOf(pos) {
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
        const mid = (lo + hi + 1) >> 1
        if (starts[mid] <= pos) lo = mid
        else hi = mid - 1
    }
    return dbg.sources[lo].path
}

const byModule = new Map()
let end = 0
for (const f of dbg.functions) {
    // `size` includes the function's 16-byte descriptor
    end = Math.max(end, f.startpc + f.size - 16)
    // the compiler's "prototype" function fills the method tables of every class (about 10
    // bytes per method); it is placed in the entry file
    const m =
        f.name === "prototype"
            ? "(method tables of all classes)"
            : sourceOf(f.location[0]).replace(/^node_modules\/(@devicescript\/[^/]+)\/.*$/, "$1 (runtime library)")
    byModule.set(m, (byModule.get(m) ?? 0) + f.size)
}
const data = Object.values(dbg.sizes).reduce((a, b) => a + b, 0)
const kb = (n) => (n / 1024).toFixed(1) + " KB"
console.log(
    `board image: function bytecode ends at ${end} bytes of the VM's ${LIMIT} (${kb(end)} of 64 KB), ` +
        (end < LIMIT ? `${LIMIT - end} bytes left` : `${end - LIMIT} bytes over`) +
        `; ${dbg.functions.length} functions; strings and other data ${kb(data)} more`
)
const rows = [...byModule.entries()].sort((a, b) => b[1] - a[1])
for (const [m, n] of rows.slice(0, top)) console.log(`  ${String(n).padStart(6)}  ${m}`)
if (rows.length > top) {
    const rest = rows.slice(top).reduce((a, r) => a + r[1], 0)
    console.log(`  ${String(rest).padStart(6)}  ${rows.length - top} more modules`)
}
if (LIMIT - end < minLeft) {
    process.stderr.write(
        end >= LIMIT
            ? `image-size: the image is ${end - LIMIT} bytes over the VM's limit: it would not load\n`
            : `image-size: ${LIMIT - end} bytes left, fewer than the ${minLeft} required: the VM test entries (the board's code plus a chip and a harness) would not load; make room (docs/HARDWARE.md, "Image size")\n`
    )
    process.exit(1)
}
if (LIMIT - end < want)
    process.stderr.write(
        `image-size: ${LIMIT - end} bytes left: the image loads, but with the shipped devicescript.json the repository's VM tests need ${want} (the board's code plus a chip and a harness; test/board/imageSize.test.ts checks it); what a configuration turns on (board.restore, group.verifyEveryMs, group.rpoTargetMs) takes room of its own (docs/HARDWARE.md, "Image size")\n`
    )
