// The body of a sweep worker process (see sweep.ts): runs the seeds its parent sends, one at a
// time, until it sends "stop".
import { runSeed, SweepWorkerData } from "./sweep"

const { base, durationRange } = JSON.parse(process.argv[2]) as SweepWorkerData
process.on("message", (seed: number | "stop") => {
    if (seed === "stop") {
        process.disconnect()
        return
    }
    process.send!(runSeed(base, seed, durationRange))
})
process.send!("ready")
