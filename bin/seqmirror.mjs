#!/usr/bin/env node
// The seqmirror command: runs the TypeScript host tools through tsx, no build step needed.
import { register } from "tsx/esm/api"

register()
await import("../host-sim/cli.ts")
