import { Clock } from "../../hal/clock"
import { GroupBus } from "../../hal/groupBus"
import { GroupPrimaryBoard } from "../pipeline/groupPrimary"
import { ManifestKeeper } from "../pipeline/manifestKeeper"
import { ShuttleAgent } from "../shuttle/agent"
import { ShuttleState } from "../shuttle/host"
import { PrimaryBlockStore } from "../store/blockStore"
import { MetaKey } from "../store/types"
import { PrimaryFirmware } from "./primaryFirmware"

function noop(_e: number): void {}

/** A group member's place in its group. */
export interface MemberSettings {
    /** Group id carried in every shuttle frame. */
    group: number
    /** The members' bus addresses in configuration order (a member's id is its index). */
    members: number[]
    /** This board's bus address: one of `members`. */
    address: number
    /** Bound of the shuttle's idle pause: the group's minimum cycle time. */
    idlePauseMaxMs: number
}

/**
 * Makes a primary's firmware a member of a group of two or more (docs/DESIGN.md, "The
 * group"): its board is a GroupPrimaryBoard that keeps its final manifests on flash (a
 * ManifestKeeper) and whether it owes the remote a whole copy in the store's metadata, and
 * its cycle is a ShuttleAgent on `bus`, whose state (epoch, origin, highest seq adopted,
 * evicted members) is kept in the store's metadata too, so a rebooted board rejoins where it
 * was. Call before `fw.start`. `bus` is called for the board's bus endpoint once the board is
 * ready to take the shuttle (until then it stays off the bus); `onAgent` is told of each boot's
 * agent before it starts.
 */
export function joinGroup(
    fw: PrimaryFirmware,
    bus: () => GroupBus,
    settings: MemberSettings,
    onAgent?: (agent: ShuttleAgent, keeper: ManifestKeeper) => void
): void {
    let keeper: ManifestKeeper | null = null
    fw.makeBoard = (o, clock, store, ch) => {
        const board = new GroupPrimaryBoard(o, clock, store, ch)
        keeper = new ManifestKeeper(store, clock, o.blockSize)
        board.keeper = keeper
        board.copyOwed = {
            owed: () => store.meta(MetaKey.FullCopy) === 1,
            set: (owed) => store.setMeta(MetaKey.FullCopy, owed ? 1 : 0, noop),
        }
        return board
    }
    fw.startCycle = (board) => {
        const store = fw.store
        // the highest seq the board adopted before, as its shuttle state kept it
        board.recover(store.maxSeqSeen(), store.confirmedSeq(), store.meta(MetaKey.HighestSeq))
        const kept = keeper as ManifestKeeper
        const agent = startShuttle(board as GroupPrimaryBoard, store, kept, fw.clock, bus(), settings)
        if (onAgent) onAgent(agent, kept)
        agent.start()
    }
}

/** The shuttle agent of a group member's board, with its state restored from the store. */
function startShuttle(
    board: GroupPrimaryBoard,
    store: PrimaryBlockStore,
    keeper: ManifestKeeper,
    clock: Clock,
    bus: GroupBus,
    s: MemberSettings
): ShuttleAgent {
    const members = s.members
    const epochWord = store.meta(MetaKey.ShuttleEpoch)
    const seq = store.meta(MetaKey.HighestSeq)
    const evicted = store.meta(MetaKey.ShuttleEvicted)
    // the newest seq known final for sure: confirmed by the remote, or its manifest on flash
    const restored =
        epochWord < 0 ? null : new ShuttleState(epochWord & 0xffff, (epochWord >>> 16) & 0xff, Math.max(seq, 0), Math.max(evicted, 0), keeper.newestFinal())
    const agent = new ShuttleAgent(bus, clock, board, {
        group: s.group,
        members: members,
        // a quiet group's shuttle slows down to at most one hand-over round per cycle time
        idlePauseMaxMs: s.idlePauseMaxMs,
        restored: restored,
        // a board that holds no seq at all (a restore from a remote that heard of none keeps
        // no HighestSeq either)
        fresh: seq < 0 && store.maxSeqSeen() === 0 && !store.hasConfirmed() && store.pinnedSeqs(board.opts.member).length === 0,
        persist: (st) => {
            store.setMeta(MetaKey.ShuttleEpoch, ((st.origin & 0xff) << 16) | (st.epoch & 0xffff), noop)
            store.setMeta(MetaKey.HighestSeq, st.seq >>> 0, noop)
            store.setMeta(MetaKey.ShuttleEvicted, st.evicted >>> 0, noop)
        },
    })
    // the remote learns of every eviction from every member, again after each boot
    agent.onEvicted = (addr, self, at) => {
        if (self) board.leaveGroup()
        else board.memberEvicted(members.indexOf(addr), at)
    }
    agent.onAdmitted = (addr, self, at) => {
        if (self) board.joinGroup(members.indexOf(addr), at)
        else board.memberAdmitted(members.indexOf(addr), at)
    }
    if (restored)
        for (let id = 0; id < members.length; id++)
            if ((restored.evicted & (1 << id)) !== 0) {
                if (members[id] === s.address) board.leaveGroup()
                else board.memberEvicted(id, 0)
            }
    return agent
}
