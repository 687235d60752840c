// The body of a sweep worker thread (see sweep.ts).
import { parentPort, workerData } from "node:worker_threads"
import { SimOptions } from "./sim"
import { runSeed } from "./sweep"

const base = workerData as SimOptions
const port = parentPort!
port.on("message", (seed: number | null) => {
    if (seed === null) {
        port.close()
        return
    }
    port.postMessage(runSeed(base, seed))
})
port.postMessage("ready")
