import { applyMask } from './mask'

/** Largest frame header: 2 + 8 (64-bit length) + 4 (masking key). */
export const MAX_HEADER_SIZE = 14

export interface FrameHeaderFields {
  opcode: number
  fin: boolean
  payloadLength: number
  /** Masking key (clients MUST mask, RFC 6455 §5.3), or null for an unmasked frame. */
  maskKey: Uint8Array | null
  /** RSV1–3 bits as they sit in the first byte (0x40, 0x20, 0x10); only with an extension. */
  rsv?: number
}

/** Size in bytes of a frame header for this payload length. */
export function frameHeaderSize(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength <= 0xffff ? 4 : 10
  return masked ? base + 4 : base
}

/**
 * Writes a frame header (RFC 6455 §5.2) into `target` at `offset`; returns the offset after it.
 * The payload is written separately, so an unmasked payload is never copied.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  opcode: number,
  fin: boolean,
  payloadLength: number,
  maskKey: Uint8Array | null,
  rsv = 0,
): number {
  target[offset++] = (fin ? 0x80 : 0) | rsv | opcode
  const maskBit = maskKey === null ? 0 : 0x80
  if (payloadLength < 126) {
    target[offset++] = maskBit | payloadLength
  } else if (payloadLength <= 0xffff) {
    target[offset++] = maskBit | 126
    target[offset++] = payloadLength >>> 8
    target[offset++] = payloadLength & 0xff
  } else {
    target[offset++] = maskBit | 127
    // 64-bit length; payloads are far below 2^53, so the high word fits a double division.
    const high = Math.floor(payloadLength / 0x100000000)
    const low = payloadLength >>> 0
    target[offset++] = high >>> 24
    target[offset++] = (high >>> 16) & 0xff
    target[offset++] = (high >>> 8) & 0xff
    target[offset++] = high & 0xff
    target[offset++] = low >>> 24
    target[offset++] = (low >>> 16) & 0xff
    target[offset++] = (low >>> 8) & 0xff
    target[offset++] = low & 0xff
  }
  if (maskKey !== null) {
    target[offset++] = maskKey[0]
    target[offset++] = maskKey[1]
    target[offset++] = maskKey[2]
    target[offset++] = maskKey[3]
  }
  return offset
}

/** A frame header as its own buffer. */
export function encodeFrameHeader(fields: FrameHeaderFields): Buffer {
  const masked = fields.maskKey !== null
  const header = Buffer.allocUnsafe(frameHeaderSize(fields.payloadLength, masked))
  writeFrameHeader(header, 0, fields.opcode, fields.fin, fields.payloadLength, fields.maskKey, fields.rsv ?? 0)
  return header
}

/**
 * A whole frame in one buffer: header + payload (masked in the copy when a key is given;
 * the caller's payload is never modified). For tests, control frames and small messages.
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: { fin?: boolean; maskKey?: Uint8Array | null; rsv?: number } = {},
): Buffer {
  const maskKey = options.maskKey ?? null
  const headerSize = frameHeaderSize(payload.length, maskKey !== null)
  const frame = Buffer.allocUnsafe(headerSize + payload.length)
  writeFrameHeader(frame, 0, opcode, options.fin ?? true, payload.length, maskKey, options.rsv ?? 0)
  frame.set(payload, headerSize)
  if (maskKey !== null) applyMask(frame, maskKey, 0, headerSize, frame.length)
  return frame
}
