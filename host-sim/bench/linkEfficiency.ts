import { cobsMaxEncoded } from "../../firmware/codec/cobs"
import { ChannelConfig, DEFAULT_MAX_PAYLOAD } from "../../firmware/link/config"
import { CRC_BYTES, DATA_HEADER_BYTES } from "../../firmware/link/frame"
import { SEAL_TAG_BYTES, SESSION_PREFIX } from "../../firmware/link/seal"
import { LinkPair, Stream } from "./linkPair"

/**
 * Line efficiency of the link channel: message bytes delivered over what the line could have
 * carried while the primary's transmitter was busy (busy time × baud/10). Portions are 256
 * bytes of data plus a header (`header`); `dataEfficiency` counts only the 256 data bytes.
 * Everything runs in virtual time, so the figures are exact for the seed and repeatable. With
 * `sealed`, every frame is sealed (docs/FORMAT-link.md §11): 13 bytes more each.
 */
export interface LinkEfficiencyRow {
    baud: number
    sealed: boolean
    targetFrameLoss: number
    maxPayload: number
    window: number
    header: number
    messages: number
    /** Every message arrived, exactly once and in order, within the time limit. */
    completed: boolean
    errors: string[]
    efficiency: number
    dataEfficiency: number
    /** Share of the run's time the primary's transmitter was busy. */
    utilization: number
    frameLoss: number
    retransmissions: number
    timeouts: number
}

/** Messages a measurement sends by default: about 70 s of line time at either rate. */
export function defaultMessageCount(baud: number): number {
    return baud >= 900_000 ? 12_000 : 3_000
}

export function measureLinkEfficiency(
    baud: number,
    targetFrameLoss: number,
    header = 16,
    over: Partial<ChannelConfig> = {},
    count = defaultMessageCount(baud),
    sealed = false
): LinkEfficiencyRow {
    const maxPayload = over.maxPayload ?? DEFAULT_MAX_PAYLOAD
    const window = over.txWindow ?? 8
    const key = sealed ? Buffer.alloc(32, 0x5c) : undefined
    const p = new LinkPair({ seed: 12, baud, txFifoBytes: 1024, primary: { ...over }, remote: { maxPayload, rxWindow: window }, key })
    // bit error rate that corrupts the given share of full DATA frames
    const frameBytes = cobsMaxEncoded(DATA_HEADER_BYTES + maxPayload + CRC_BYTES + (sealed ? SESSION_PREFIX + SEAL_TAG_BYTES : 0))
    const ber = targetFrameLoss > 0 ? 1 - Math.pow(1 - targetFrameLoss, 1 / (8 * frameBytes)) : 0
    p.wire.setFaults({ byteLoss: 0, bitError: ber, duplication: 0 })
    const msgLen = 256 + header
    const s = new Stream(count, () => msgLen, p.primary, p.remote)
    const completed = p.runUntil(() => s.done(), 600_000, 200)
    const busy = p.wire.a.counters.busyMs
    const capacity = (busy / 1000) * (baud / 10)
    const rc = p.remote.counters
    const pc = p.primary.counters
    return {
        baud,
        sealed,
        targetFrameLoss,
        maxPayload,
        window,
        header,
        messages: count,
        completed,
        errors: s.errors,
        efficiency: capacity > 0 ? s.payloadBytes / capacity : 0,
        dataEfficiency: capacity > 0 ? (s.received * 256) / capacity : 0,
        utilization: busy / p.k.millis(),
        frameLoss: pc.dataFramesSent > 0 ? (rc.droppedCrc + rc.droppedMalformed + rc.droppedOversize + rc.droppedAuth) / pc.dataFramesSent : 0,
        retransmissions: pc.retransmissions,
        timeouts: pc.timeouts,
    }
}

export function linkEfficiencyTable(rows: LinkEfficiencyRow[]): string {
    const head = "baud    | frame loss (target/measured) | maxPayload | window | msg  | efficiency | portion data | line busy | retx | RTO"
    const lines = rows.map((r) =>
        [
            String(r.baud).padEnd(7),
            ((r.targetFrameLoss * 100).toFixed(0).padStart(3) + "% / " + (r.frameLoss * 100).toFixed(2).padStart(5) + "%").padEnd(28),
            String(r.maxPayload).padStart(10),
            String(r.window).padStart(6),
            String(256 + r.header).padStart(4),
            r.efficiency.toFixed(4).padStart(10),
            r.dataEfficiency.toFixed(4).padStart(12),
            r.utilization.toFixed(4).padStart(9),
            String(r.retransmissions).padStart(4),
            String(r.timeouts).padStart(3),
        ].join(" | ")
    )
    return [head, ...lines].join("\n")
}
