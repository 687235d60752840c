#!/usr/bin/env node
// Type-checks the DeviceScript side of the tree (tsconfig.devicescript.json): the board entry
// and start, the board drivers (hal/devicescript/) and the VM self-test (host-sim/vm/), with
// the DeviceScript runtime's types instead of Node's, and through their imports the portable
// firmware and hardware layer a second time. Node's tsconfig.json cannot hold these files:
// @devicescript/core declares its own globals (Buffer, Promise, console), which clash with
// Node's.
//
// It is tsc with one difference: the runtime's packages ship TypeScript sources, not only
// declarations, and those do not pass strict mode; they are the runtime's, not ours, so only the
// project's files are checked. Exit 1 on any finding, or when a TypeScript file of the project
// is in neither configuration (checked by no one).
//
//   node bin/typecheck-devicescript.mjs [--list]     --list: print the files checked
import ts from "typescript"
import { readdirSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..")
const CONFIG = join(ROOT, "tsconfig.devicescript.json")

const host = {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic(d) {
        process.stderr.write(ts.formatDiagnostic(d, formatHost))
        process.exit(2)
    },
}
const formatHost = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => "\n",
}

const parsed = ts.getParsedCommandLineOfConfigFile(CONFIG, {}, host)
if (parsed === undefined) process.exit(2)
const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options, projectReferences: parsed.projectReferences })

const ours = program.getSourceFiles().filter((f) => !f.isDeclarationFile && !f.fileName.includes("/node_modules/"))
const diagnostics = [...parsed.errors, ...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]
for (const f of ours) diagnostics.push(...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f))

// every TypeScript file of the project is checked by one of the two configurations
const node = ts.getParsedCommandLineOfConfigFile(join(ROOT, "tsconfig.json"), {}, host)
if (node === undefined) process.exit(2)
const checked = new Set([...node.fileNames, ...ours.map((f) => f.fileName)].map((f) => relative(ROOT, f)))
const unchecked = []
for (const dir of ["firmware", "hal", "host-sim", "test"])
    for (const f of readdirSync(join(ROOT, dir), { recursive: true })) {
        const rel = dir + "/" + String(f).split("\\").join("/")
        if (rel.endsWith(".ts") && !rel.includes("/.tmp-") && !checked.has(rel)) unchecked.push(rel)
    }
if (unchecked.length > 0) {
    process.stderr.write("checked by neither tsconfig.json nor tsconfig.devicescript.json:\n  " + unchecked.join("\n  ") + "\n")
    process.exit(1)
}

if (process.argv.includes("--list")) for (const f of ours) process.stdout.write(relative(ROOT, f.fileName) + "\n")
if (diagnostics.length > 0) {
    process.stderr.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, formatHost))
    process.stderr.write(`\n${diagnostics.length} finding(s) in the DeviceScript-side files (tsconfig.devicescript.json)\n`)
    process.exit(1)
}
process.stdout.write(`DeviceScript side type-checked: ${ours.length} files, no findings\n`)
