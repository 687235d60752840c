import fc from "fast-check"
import { FLAG_ADMIT, FLAG_BUSY, FLAG_DATA, FLAG_RAISED, MAX_MEMBERS, MAX_WINDOW, ShuttleFrame } from "../../firmware/shuttle/frames"

const u32 = fc.integer({ min: 0, max: 0xffffffff })
const address = fc.integer({ min: 0x08, max: 0x77 })

/**
 * SHUTTLE frames whose every field is in range: 2..8 members in ascending address order, masks
 * of those members only, a window of up to `maxWindow` seqs with any u32 totals. Shared by the
 * frame tests and the fuzz campaign.
 */
export function shuttleFrames(maxWindow: number = MAX_WINDOW): fc.Arbitrary<ShuttleFrame> {
    return fc
        .record({
            group: fc.nat(255),
            epoch: fc.nat(0xffff),
            origin: address,
            holder: address,
            seq: u32,
            flags: fc.constantFrom(
                0,
                FLAG_BUSY,
                FLAG_RAISED,
                FLAG_BUSY | FLAG_RAISED,
                FLAG_ADMIT,
                FLAG_BUSY | FLAG_ADMIT,
                FLAG_DATA,
                FLAG_BUSY | FLAG_DATA | FLAG_RAISED
            ),
            members: fc.uniqueArray(address, { minLength: 2, maxLength: MAX_MEMBERS }),
            masks: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)),
            windowLen: fc.integer({ min: 0, max: maxWindow }),
            lag: fc.nat(maxWindow),
            totals: fc.array(fc.tuple(u32, u32), { minLength: maxWindow * MAX_MEMBERS, maxLength: maxWindow * MAX_MEMBERS }),
        })
        .map((r) => {
            const f = new ShuttleFrame()
            f.group = r.group
            f.epoch = r.epoch
            f.origin = r.origin
            f.holder = r.holder
            f.seq = r.seq
            f.flags = r.flags
            const ms = [...r.members].sort((a, b) => a - b)
            f.count = ms.length
            ms.forEach((m, i) => (f.members[i] = m))
            const all = (1 << f.count) - 1
            f.adopted = r.masks[0] & all
            f.absent = r.masks[1] & all
            f.delivered = r.masks[2] & all
            // members that hold S (a resync at the history bound), members that copy
            f.held = r.masks[3] & all
            f.copying = r.masks[4] & all
            f.windowLen = r.windowLen
            f.finalLag = r.lag % (r.windowLen + 1)
            for (let w = 0; w < f.windowLen; w++)
                for (let i = 0; i < f.count; i++) {
                    f.portions[w * 8 + i] = r.totals[w * 8 + i][0]
                    f.bytes[w * 8 + i] = r.totals[w * 8 + i][1]
                }
            return f
        })
}
