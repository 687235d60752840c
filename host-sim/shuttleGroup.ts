import { joinGroup } from "../firmware/boot/groupMember"
import { ShuttleAgent } from "../firmware/shuttle/agent"
import { GROUP_ID, SimGroup, SimPrimary } from "./group"
import { I2cBus } from "./models/i2cBus"
import { PoweredBus } from "./powered"
/**
 * Gives a simulated group of two or more primaries its I2C bus and a shuttle agent on every
 * board. The agent's state (epoch, origin, highest seq, evicted members) is kept in the board's
 * store metadata, so a rebooted board rejoins where it was. `onAgent` is told of each boot's
 * agent (the console and the live view read it).
 */
export function attachShuttle(group: SimGroup, onAgent?: (p: SimPrimary, agent: ShuttleAgent) => void): I2cBus {
    const o = group.opts
    const bus = new I2cBus(group.kernel, {
        bitRate: o.busBitRate,
        prng: group.rng.fork(90),
        nackChance: o.busNackChance,
        glitchChancePerByte: o.busGlitchChancePerByte,
    })
    const members = group.members()
    group.cyclePowerCut = (p) => bus.setPowered(p.address, false)
    group.joinMember = (p, fw) => {
        const endpoint = () => {
            const pb = new PoweredBus(bus.attach(p.address, {}))
            bus.setPowered(p.address, true)
            p.cycleOff = () => pb.powerOff()
            return pb
        }
        joinGroup(fw, endpoint, { group: GROUP_ID, members: members, address: p.address, idlePauseMaxMs: o.minCycleMs }, (agent) => {
            if (onAgent) onAgent(p, agent)
        })
    }
    return bus
}
