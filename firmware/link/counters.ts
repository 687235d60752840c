/**
 * What one end of the link channel counts (the console and the simulator show them).
 * @devsWhenUsed
 */
export class ChannelCounters {
    /** Frames handed to the link, of every type. */
    framesSent = 0
    dataFramesSent = 0
    /** DATA frames sent again. */
    retransmissions = 0
    probesSent = 0
    hellosSent = 0
    resetsSent = 0
    /** Valid frames received (CRC good, well formed, of the current session or a handshake). */
    framesReceived = 0
    droppedCrc = 0
    /** Bad COBS, too short, bad lengths, unknown type or flags. */
    droppedMalformed = 0
    /** Longer than the largest frame this end accepts. */
    droppedOversize = 0
    /** A type this end does not take (a HELLO at the primary, a WELCOME at the remote). */
    droppedUnexpected = 0
    /** Another session, generation or handshake attempt. */
    droppedStale = 0
    /** DATA frames received before. */
    droppedDuplicate = 0
    /** DATA frames beyond the advertised window. */
    droppedOutOfWindow = 0
    /** Ack blocks that acknowledged frames never sent (ignored). */
    badAcks = 0
    payloadBytesSent = 0
    /** Messages the other end has acknowledged. */
    messagesAcked = 0
    messagesDelivered = 0
    payloadBytesDelivered = 0
    /** Messages dropped unacknowledged because a new session began. */
    messagesDiscarded = 0
    /** Retransmission timer expiries. */
    timeouts = 0
    /** Frames found lost because a frame sent after them was acknowledged. */
    lossesDetected = 0
    sessionsStarted = 0
    sessionsResumed = 0
    refusals = 0
    handshakeTimeouts = 0
    /** Times the link was declared dead (no frame for deadMs, or a RESET from the remote). */
    linkDeaths = 0
    resetsReceived = 0
    /** Sessions the remote ended itself to have the primary send again (RemoteChannel.renew). */
    sessionsRenewed = 0
    /** Sealed link (docs/FORMAT-link.md §11): frames that did not authenticate (forged, altered,
     * not sealed, under keys this end does not hold). */
    droppedAuth = 0
    /** Sealed frames whose counter was opened before or is behind the replay window. */
    droppedReplay = 0
    /** HELLOs the remote refused because they did not authenticate: no key, another member's
     * key or identity. */
    handshakesRefused = 0
}
