#!/usr/bin/env node
// `npm run build`: the board image from a configuration (default devicescript.json), in the
// project of the current folder (its firmware/ and .devicescript/): the configuration's module
// (bin/gen-board-config.mjs), the DeviceScript compiler on firmware/main.ts, then what the image
// uses of the VM's 64 KB (bin/image-size.mjs, which says so when fewer than the 4 KB the
// repository's VM tests need are left). An image the VM would refuse (the compiler's
// verification error 1051) is measured again without the verification and explained: how far
// over it is, by module, and what the configuration turns on that takes room of its own.
//
//   node bin/build-board.mjs [CONFIG]
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

const config = process.argv[2] ?? "devicescript.json"
const cli = createRequire(import.meta.url).resolve("@devicescript/cli/built/devicescript-cli.cjs")
const here = (f) => fileURLToPath(new URL(f, import.meta.url))
const node = (args, capture) => spawnSync(process.execPath, args, capture ? { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } } : { stdio: "inherit" })

const gen = node([here("gen-board-config.mjs"), config], false)
if (gen.status !== 0) process.exit(gen.status ?? 1)

const build = node([cli, "build", "firmware/main.ts"], true)
process.stdout.write(build.stdout)
process.stderr.write(build.stderr)
if (build.status === 0) {
    const size = node([here("image-size.mjs"), "--want", "4096"], false)
    process.exit(size.status ?? 1)
}
if (!/verification (error|failure):? -?1051/.test(build.stdout + build.stderr)) process.exit(build.status ?? 1)

// over the VM's limit: the same build unverified, measured
node([cli, "build", "firmware/main.ts", "--no-verify", "--quiet"], true)
node([here("image-size.mjs")], false)
const c = JSON.parse(readFileSync(config, "utf8"))
const on = []
if (c.board && c.board.restore === true) on.push("board.restore (the restore from the remote)")
if (c.group && c.group.verifyEveryMs > 0) on.push("group.verifyEveryMs (online verify)")
if (c.group && c.group.rpoTargetMs > 0) on.push("group.rpoTargetMs (bounded-RPO pacing)")
process.stderr.write(
    `build-board: the board image of ${config} does not fit the DeviceScript VM's 64 KB: ` +
        (on.length > 0
            ? `it turns on ${on.join(", ")}, each compiled in only when asked for: turn one off (docs/HARDWARE.md, "Image size", says what each takes)\n`
            : `make room in the firmware (docs/HARDWARE.md, "Image size")\n`)
)
process.exit(1)
