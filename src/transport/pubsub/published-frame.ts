// From the defining module, as everywhere in transport (see connection.ts).
import { writeFrameHeader } from '../../protocol/frame-builder'
import { sharedFrameBuffer } from '../sender'

/**
 * Builds the one frame a publish writes to every subscriber: FIN set, unmasked (server frames
 * are never masked, RFC 6455 §5.1, which is what lets every connection send the same bytes),
 * header and payload in one buffer that nothing writes to again (small frames sit back to back
 * in the sender's shared-frame arena, so consecutive ones go out as one region). Strings are encoded as UTF-8
 * here, once, whatever the number of subscribers.
 */
export function publishedFrame(opcode: number, message: string | Uint8Array): Buffer {
  if (typeof message === 'string') {
    const length = Buffer.byteLength(message, 'utf8')
    const frame = sharedFrameBuffer(headerSize(length) + length)
    const at = writeFrameHeader(frame, 0, opcode, true, length, null)
    if (length !== 0) frame.utf8Write(message, at, length)
    return frame
  }
  const length = message.length
  const frame = sharedFrameBuffer(headerSize(length) + length)
  frame.set(message, writeFrameHeader(frame, 0, opcode, true, length, null))
  return frame
}

/** The payload of a frame built by publishedFrame (a view, not a copy). */
export function publishedPayload(frame: Buffer): Buffer {
  const length7 = frame[1] & 0x7f
  return frame.subarray(length7 < 126 ? 2 : length7 === 126 ? 4 : 10)
}

/** The payload length of a frame built by publishedFrame (read from its header). */
export function publishedPayloadLength(frame: Buffer): number {
  const length7 = frame[1] & 0x7f
  return length7 < 126 ? length7 : length7 === 126 ? frame.readUInt16BE(2) : frame.length - 10
}

/** RFC 6455 §5.2: 7-bit, 16-bit or 64-bit payload length, no masking key. */
function headerSize(length: number): number {
  return length < 126 ? 2 : length <= 0xffff ? 4 : 10
}
