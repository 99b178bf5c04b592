/**
 * The bytes one published message travels in between instances. Binary, so a payload is never
 * re-encoded (no base64, no JSON), and versioned, so that a later format (history positions,
 * compressed payloads) can be told apart by the first byte:
 *
 * ```
 * 0      version (1)
 * 1      flags: bit 0 binary payload, bit 1 position present, other bits 0
 * 2      origin length L (1..255)
 * 3      origin: L bytes of UTF-8 (the publishing instance's id)
 * 3+L    sequence: 8 bytes, big-endian unsigned (the publisher's count for this topic)
 * 11+L   if bit 1: position length P (1 byte), then P bytes of UTF-8
 * ...    payload: the rest
 * ```
 *
 * The topic is not repeated inside: it is the pub/sub channel the envelope arrives on.
 */
export const ENVELOPE_VERSION = 1

const FLAG_BINARY = 0x01
const FLAG_POSITION = 0x02
const KNOWN_FLAGS = FLAG_BINARY | FLAG_POSITION
const TWO_32 = 0x1_0000_0000

/** One decoded envelope (payload is a view into the received buffer). */
export interface Envelope {
  readonly origin: string
  readonly sequence: number
  readonly binary: boolean
  readonly position: string | undefined
  readonly payload: Buffer
}

/**
 * Builds an envelope: one allocation, header and payload copied once. `origin` must be the
 * UTF-8 bytes of the instance id (encoded once per broker, not per message).
 */
export function encodeEnvelope(origin: Buffer, sequence: number, binary: boolean, payload: Uint8Array, position?: Buffer): Buffer {
  const positionBytes = position === undefined ? 0 : 1 + position.length
  const header = 3 + origin.length + 8 + positionBytes
  const out = Buffer.allocUnsafe(header + payload.length)
  out[0] = ENVELOPE_VERSION
  out[1] = (binary ? FLAG_BINARY : 0) | (position === undefined ? 0 : FLAG_POSITION)
  out[2] = origin.length
  origin.copy(out, 3)
  let at = 3 + origin.length
  out.writeUInt32BE(Math.floor(sequence / TWO_32), at)
  out.writeUInt32BE(sequence % TWO_32, at + 4)
  at += 8
  if (position !== undefined) {
    out[at++] = position.length
    position.copy(out, at)
    at += position.length
  }
  out.set(payload, at)
  return out
}

/** Decodes an envelope, or returns why it is malformed (never throws on bad bytes). */
export function decodeEnvelope(bytes: Buffer): Envelope | string {
  if (bytes.length < 3) return `envelope too short (${bytes.length} bytes)`
  if (bytes[0] !== ENVELOPE_VERSION) return `unknown envelope version ${bytes[0]}`
  const flags = bytes[1]
  if ((flags & ~KNOWN_FLAGS) !== 0) return `unknown envelope flags 0x${flags.toString(16)}`
  const originLength = bytes[2]
  if (originLength === 0) return 'envelope without origin'
  let at = 3 + originLength
  if (bytes.length < at + 8) return 'envelope truncated in its header'
  const origin = bytes.toString('utf8', 3, at)
  const high = bytes.readUInt32BE(at)
  // 2^53: beyond it a sequence number is no longer exact as a JavaScript number.
  if (high >= 0x20_0000) return 'envelope sequence out of range'
  const sequence = high * TWO_32 + bytes.readUInt32BE(at + 4)
  at += 8
  let position: string | undefined
  if ((flags & FLAG_POSITION) !== 0) {
    if (bytes.length < at + 1) return 'envelope truncated in its position'
    const positionLength = bytes[at++]
    if (bytes.length < at + positionLength) return 'envelope truncated in its position'
    position = bytes.toString('utf8', at, at + positionLength)
    at += positionLength
  }
  return { origin, sequence, binary: (flags & FLAG_BINARY) !== 0, position, payload: bytes.subarray(at) }
}
