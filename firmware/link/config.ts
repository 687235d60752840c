import { cobsMaxEncoded } from "../codec/cobs"
import { CRC_BYTES, DATA_HEADER_BYTES, HANDSHAKE_BYTES, MAX_WINDOW } from "./frame"

/** Settings of one end of the link channel. Defaults: defaultChannelConfig(). */
export interface ChannelConfig {
    /** Most bytes of messages one DATA frame carries, 2-byte length prefixes included. Both
     * ends must use the same value (the handshake checks it). */
    maxPayload: number
    /** Frames this end keeps for sending (its send buffer is txWindow frames). 1..32. */
    txWindow: number
    /** Frames this end can hold received out of order or not yet delivered (the receive
     * window it advertises). 1..32. */
    rxWindow: number
    initialRtoMs: number
    minRtoMs: number
    maxRtoMs: number
    /** Send a keepalive probe after this long without receiving a frame; 0: never probe (the
     * remote answers the primary's probes and need not send its own). */
    keepaliveMs: number
    /** The link counts as dead after this long without a valid frame of the session. */
    deadMs: number
    /** How long a HELLO waits for its answer before the attempt counts as failed. */
    handshakeTimeoutMs: number
    /** Reconnect backoff: first ceiling and cap (see ReconnectBackoff). */
    backoffBaseMs: number
    backoffCapMs: number
    /** Longest resume state a HELLO or WELCOME may carry. */
    maxResumeBytes: number
}

/** Four messages of 272 bytes (a 256-byte portion with a 16-byte header) and their length
 * prefixes fill one frame: 4 * 274 = 1096. */
export const DEFAULT_MAX_PAYLOAD = 1096

export function defaultChannelConfig(): ChannelConfig {
    return {
        maxPayload: DEFAULT_MAX_PAYLOAD,
        txWindow: 8,
        rxWindow: 8,
        initialRtoMs: 1000,
        minRtoMs: 50,
        maxRtoMs: 4000,
        keepaliveMs: 500,
        deadMs: 3000,
        handshakeTimeoutMs: 1000,
        backoffBaseMs: 200,
        backoffCapMs: 10000,
        maxResumeBytes: 64,
    }
}

/** Bytes of RAM one end of the channel allocates for its buffers with this configuration (a
 * number is 8 bytes on the board): the send and receive windows, the wire and decoder
 * buffers, the delivery buffer and the transmission times kept for RTT samples. */
export function channelRamBytes(c: ChannelConfig): number {
    const dataMax = DATA_HEADER_BYTES + c.maxPayload + CRC_BYTES
    const ctrlMax = HANDSHAKE_BYTES + c.maxResumeBytes + CRC_BYTES
    const frameMax = dataMax > ctrlMax ? dataMax : ctrlMax
    return c.txWindow * (dataMax + 32) + c.rxWindow * (c.maxPayload + 16) + cobsMaxEncoded(frameMax) + frameMax + ctrlMax + c.maxPayload + XMIT_RING * 8
}

/** Null when the configuration is usable, else what is wrong with it. */
export function checkChannelConfig(c: ChannelConfig): string | null {
    if (!(c.maxPayload >= 16 && c.maxPayload <= 65535 - DATA_HEADER_BYTES)) return "maxPayload out of range"
    if (!(c.txWindow >= 1 && c.txWindow <= MAX_WINDOW)) return "txWindow must be 1..32"
    if (!(c.rxWindow >= 1 && c.rxWindow <= MAX_WINDOW)) return "rxWindow must be 1..32"
    if (!(c.minRtoMs > 0 && c.minRtoMs <= c.initialRtoMs && c.initialRtoMs <= c.maxRtoMs)) return "need 0 < minRto <= initialRto <= maxRto"
    if (!(c.keepaliveMs >= 0 && c.deadMs > c.keepaliveMs)) return "need 0 <= keepalive < dead"
    if (!(c.handshakeTimeoutMs > 0)) return "handshakeTimeoutMs must be > 0"
    if (!(c.backoffBaseMs > 0 && c.backoffCapMs >= c.backoffBaseMs)) return "need 0 < backoffBase <= backoffCap"
    if (!(c.maxResumeBytes >= 0 && c.maxResumeBytes <= 1024)) return "maxResumeBytes must be 0..1024"
    return null
}

/** Send times kept for RTT samples: more than the transmissions of one round trip. */
export const XMIT_RING = 64
