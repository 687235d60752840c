// The body of a sweep worker thread (see sweep.ts).
import { parentPort, workerData } from "node:worker_threads"
import { runSeed, SweepWorkerData } from "./sweep"

const { base, durationRange } = workerData as SweepWorkerData
const port = parentPort!
port.on("message", (seed: number | null) => {
    if (seed === null) {
        port.close()
        return
    }
    port.postMessage(runSeed(base, seed, durationRange))
})
port.postMessage("ready")
