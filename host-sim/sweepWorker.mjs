// A sweep worker process: loads the TypeScript simulator through tsx, then runs the seeds the
// sweep sends, one at a time, until it sends "stop".
import { register } from "tsx/esm/api"

register()
await import("./sweepWorker.ts")
