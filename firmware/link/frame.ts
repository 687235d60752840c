/**
 * Link frame layout (docs/FORMAT-link.md has it byte by byte). A frame on the wire is
 * COBS(raw frame) followed by 0x00; the raw frame is an 18-byte header, a type-specific body and
 * a CRC-32C of everything before it. All integers are little-endian.
 *
 *   0  u8   type
 *   1  u8   flags
 *   2  u32  session          the session the frame belongs to (HELLO: the one to resume, or 0)
 *   6  u32  ack              next frame seq the sender of this frame expects (cumulative ack)
 *  10  u32  sack             bit i: frame ack+1+i has been received
 *  14  u16  window           frames after `ack` the receiver has room for
 *  16  ...  body
 *  n-4 u32  CRC-32C of bytes [0, n-4)
 */
export const enum FrameType {
    Hello = 1,
    Welcome = 2,
    Refuse = 3,
    Data = 4,
    Ack = 5,
    Reset = 6,
}

/** Flag: the receiver should answer with an ACK at once (keepalive and window probes). */
export const FLAG_ACK_NOW = 0x01
export const KNOWN_FLAGS = FLAG_ACK_NOW

export const OFF_TYPE = 0
export const OFF_FLAGS = 1
export const OFF_SESSION = 2
export const OFF_ACK = 6
export const OFF_SACK = 10
export const OFF_WINDOW = 14
export const OFF_ECHO = 16
export const HEADER_BYTES = 18
export const CRC_BYTES = 4

/** DATA body: seq u32, xmit u16 (counts the sender's DATA transmissions, retransmissions
 * included, so that an echo names the very transmission that arrived), then messages, each
 * u16 length + bytes. */
export const OFF_SEQ = 18
export const OFF_XMIT = 22
export const DATA_HEADER_BYTES = 24
export const MESSAGE_PREFIX_BYTES = 2

/** HELLO / WELCOME / REFUSE body. WELCOME and HELLO end with the resume state (any length up to
 * the configured maximum); REFUSE has none. */
export const OFF_VERSION = 18
export const OFF_REASON = 19
export const OFF_MEMBER = 20
export const OFF_GENERATION = 22
export const OFF_NONCE = 26
export const OFF_MAX_PAYLOAD = 30
export const HANDSHAKE_BYTES = 32

export const PROTOCOL_VERSION = 1

/** Why the remote refused a HELLO. */
export const enum RefuseReason {
    /** The generation is lower than the highest the remote has accepted for the member. */
    StaleGeneration = 1,
    /** The protocol version is not this one. */
    Version = 2,
    /** The two ends are configured with different maximum frame payloads. */
    MaxPayload = 3,
    /** The link serves another member. */
    WrongMember = 4,
    /** The remote was promoted (it holds the writable role): it takes no replication, only a
     * board that restores from it (HELLO_RESTORE); REFUSE's generation field is the seq of
     * the promoted image. */
    Fenced = 5,
}

/** A HELLO's byte OFF_REASON: the board comes to restore its image from the remote (0: to
 * replicate). */
export const HELLO_RESTORE = 1

/** Longest SACK range: the window may not exceed 1 + 32 frames. */
export const SACK_BITS = 32
export const MAX_WINDOW = 32
