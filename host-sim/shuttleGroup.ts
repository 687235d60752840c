import { ShuttleAgent } from "../firmware/shuttle/agent"
import { ShuttleState } from "../firmware/shuttle/host"
import { MetaKey } from "../firmware/store/types"
import { SimGroup, SimPrimary } from "./group"
import { I2cBus } from "./models/i2cBus"
import { PoweredBus } from "./powered"

const GROUP_ID = 1

function noop(_e: number): void {}

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
    group.startCycle = (p, board, clock, store) => {
        const ep = bus.attach(p.address, {})
        bus.setPowered(p.address, true)
        const pb = new PoweredBus(ep)
        const epochWord = store.meta(MetaKey.ShuttleEpoch)
        const seq = store.meta(MetaKey.HighestSeq)
        const evicted = store.meta(MetaKey.ShuttleEvicted)
        // the newest seq known final for sure: confirmed by the remote, or its manifest on flash
        const finalHeld = p.keeper ? p.keeper.newestFinal() : store.confirmedSeq()
        const restored =
            epochWord < 0 ? null : new ShuttleState(epochWord & 0xffff, (epochWord >>> 16) & 0xff, seq < 0 ? 0 : seq, evicted < 0 ? 0 : evicted, finalHeld)
        const agent = new ShuttleAgent(pb, clock, board, {
            group: GROUP_ID,
            members: members,
            // a quiet group's shuttle slows down to at most one hand-over round per cycle time
            idlePauseMaxMs: o.minCycleMs,
            restored: restored,
            persist: (s) => {
                store.setMeta(MetaKey.ShuttleEpoch, ((s.origin & 0xff) << 16) | (s.epoch & 0xffff), noop)
                store.setMeta(MetaKey.HighestSeq, s.seq >>> 0, noop)
                store.setMeta(MetaKey.ShuttleEvicted, s.evicted >>> 0, noop)
            },
        })
        // the remote learns of every eviction from every member, again after each boot
        agent.onEvicted = (addr, self, seq) => {
            if (self) board.leaveGroup()
            else board.memberEvicted(members.indexOf(addr), seq)
        }
        agent.onAdmitted = (addr, self, seq) => {
            if (self) board.joinGroup(members.indexOf(addr), seq)
            else board.memberAdmitted(members.indexOf(addr), seq)
        }
        if (restored)
            for (let id = 0; id < members.length; id++)
                if ((restored.evicted & (1 << id)) !== 0) {
                    if (members[id] === p.address) board.leaveGroup()
                    else board.memberEvicted(id, 0)
                }
        p.cycleOff = () => pb.powerOff()
        if (onAgent) onAgent(p, agent)
        agent.start()
    }
    return bus
}
