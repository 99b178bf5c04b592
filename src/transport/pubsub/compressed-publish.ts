// From the defining modules, as everywhere in transport (see connection.ts).
import type { PerMessageDeflate } from '../../protocol/extensions/per-message-deflate'
import { compressedFrame, DeflateJob } from '../deflate-job'
import { publishedPayload } from './published-frame'

/**
 * The frames one publish writes, per subscriber's permessage-deflate state: the plain frame for
 * subscribers without compression (and messages under their threshold), and a compressed frame
 * built once per compressor setting for every subscriber whose compressor keeps no context
 * (server_no_context_takeover, the default), so the same compressed bytes go to all of them.
 * A message at or above the setting's asyncThreshold is compressed once off the main thread: its
 * DeflateJob is queued to each of those subscribers, in publish order with what they are sent
 * around it. A subscriber whose compressor keeps its context gets the plain frame (RFC 7692 §6
 * lets any message go uncompressed): compressing for it here could interleave with a streamed
 * message (beginBinary) its compressor is in the middle of.
 */
export class CompressedPublish {
  private payloadValue: Buffer | null = null
  /** The compressed frame (or job) of the first setting met; more settings (rare) in `others`. */
  private key: string | null = null
  private compressed: Buffer | DeflateJob | null = null
  private others: Map<string, Buffer | DeflateJob> | null = null

  constructor(private readonly plain: Buffer) {}

  /** The frame to write to a subscriber with this compression (null: none negotiated), or the job making it. */
  frameFor(compression: PerMessageDeflate | null): Buffer | DeflateJob {
    if (compression === null) return this.plain
    const payload = (this.payloadValue ??= publishedPayload(this.plain))
    if (payload.length < compression.threshold) return this.plain
    if (!compression.ownNoContextTakeover) return this.plain
    const key = compression.deflateKey
    if (key === this.key) return this.compressed!
    const other = this.others?.get(key)
    if (other !== undefined) return other
    let frame: Buffer | DeflateJob
    if (payload.length >= compression.asyncThreshold) {
      const job = new DeflateJob(compression, payload, this.plain[0] & 0x0f, true)
      job.submit()
      frame = job
    } else {
      frame = compressedFrame(this.plain[0] & 0x0f, compression.compress(payload))
    }
    if (this.key === null) {
      this.key = key
      this.compressed = frame
    } else {
      ;(this.others ??= new Map()).set(key, frame)
    }
    return frame
  }
}
