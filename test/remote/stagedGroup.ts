import { defaultSimOptions, Simulation } from "../../host-sim/sim"

/** A 2-board run at 5 s whose member 1's link is down from 3 s for `downMs`: the remote applies
 * nothing meanwhile, and member 0's portions stay staged on it. */
export function stagedGroup(downMs: number): Simulation {
    const sim = new Simulation({ ...defaultSimOptions(), boards: 2, seed: 3, durationMs: 10000 })
    sim.start()
    sim.kernel.run(3000, Number.MAX_SAFE_INTEGER)
    sim.linkDownFor(1, downMs)
    sim.kernel.run(5000, Number.MAX_SAFE_INTEGER)
    return sim
}
