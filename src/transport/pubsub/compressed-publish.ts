// From the defining modules, as everywhere in transport (see connection.ts).
import type { PerMessageDeflate } from '../../protocol/extensions/per-message-deflate'
import { writeFrameHeader } from '../../protocol/frame-builder'
import { publishedPayload } from './published-frame'

/** RFC 7692 §6: RSV1 marks a compressed message. */
const RSV1 = 0x40

/**
 * The frames one publish writes, per subscriber's permessage-deflate state: the plain frame for
 * subscribers without compression (and messages under their threshold), and a compressed frame
 * built once per compressor setting for every subscriber whose compressor keeps no context
 * (server_no_context_takeover, the default), so the same compressed bytes go to all of them.
 * A subscriber whose compressor keeps its context gets the plain frame (RFC 7692 §6 lets any
 * message go uncompressed): compressing for it here could interleave with a streamed message
 * (beginBinary) its compressor is in the middle of.
 */
export class CompressedPublish {
  private payloadValue: Buffer | null = null
  /** The compressed frame of the first setting met; more settings (rare) in `others`. */
  private key: string | null = null
  private compressed: Buffer | null = null
  private others: Map<string, Buffer> | null = null

  constructor(private readonly plain: Buffer) {}

  /** The frame to write to a subscriber with this compression (null: none negotiated). */
  frameFor(compression: PerMessageDeflate | null): Buffer {
    if (compression === null) return this.plain
    const payload = (this.payloadValue ??= publishedPayload(this.plain))
    if (payload.length < compression.threshold) return this.plain
    if (!compression.ownNoContextTakeover) return this.plain
    const key = compression.deflateKey
    if (key === this.key) return this.compressed!
    const other = this.others?.get(key)
    if (other !== undefined) return other
    const frame = compressedFrame(this.plain[0], compression.compress(payload))
    if (this.key === null) {
      this.key = key
      this.compressed = frame
    } else {
      ;(this.others ??= new Map()).set(key, frame)
    }
    return frame
  }
}

/** A FIN frame, unmasked, RSV1 set, with the first byte's opcode of `plainFirstByte`. */
function compressedFrame(plainFirstByte: number, payload: Buffer): Buffer {
  const length = payload.length
  const frame = Buffer.allocUnsafe((length < 126 ? 2 : length <= 0xffff ? 4 : 10) + length)
  frame.set(payload, writeFrameHeader(frame, 0, plainFirstByte & 0x0f, true, length, null, RSV1))
  return frame
}
