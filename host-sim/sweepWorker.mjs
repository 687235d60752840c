// A sweep worker thread: loads the TypeScript simulator through tsx, then runs the seeds the
// main thread sends, one at a time, until it sends null.
import { register } from "tsx/esm/api"

register()
await import("./sweepWorker.ts")
