import * as zlib from 'node:zlib'

/** The native handle behind a zlib stream object, as node:zlib drives it itself (lib/zlib.js). */
interface NativeZlibHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void
  reset(): void
  close(): void
  onerror: (message: string, errno: number, code?: string) => void
}

/** Thrown by RawZlib.process when the output would pass its limit. */
export class OutputLimitError extends RangeError {}

/** Output space handed to zlib per call; what it fills is copied out. */
const SCRATCH_SIZE = 64 * 1024
let scratch: Buffer | null = null

const { Z_SYNC_FLUSH } = zlib.constants

/**
 * A raw DEFLATE compressor or decompressor driven synchronously, in bounded steps: the same
 * native calls node:zlib's own `*Sync` functions make, without the stream machinery and without
 * closing the handle after one use, so a compression context can be kept across messages (RFC
 * 7692 context takeover) and output can stop as soon as it passes a limit (decompression bombs).
 *
 * Node's public API offers neither: `inflateRawSync` closes its handle after each call, and the
 * streaming classes are asynchronous (work on the thread pool, results in callbacks).
 */
export class RawZlib {
  private readonly stream: zlib.DeflateRaw | zlib.InflateRaw
  private readonly handle: NativeZlibHandle
  /** [avail_out, avail_in] after each writeSync, written by the native side. */
  private readonly state: Uint32Array
  private error: string | null = null
  private closed = false
  /** Input left unconsumed by the last call (a DEFLATE block with BFINAL set ended the stream). */
  ended = false

  constructor(mode: 'deflate' | 'inflate', options: zlib.ZlibOptions) {
    this.stream = mode === 'deflate' ? zlib.createDeflateRaw(options) : zlib.createInflateRaw(options)
    const internals = this.stream as unknown as { _handle: NativeZlibHandle; _writeState: Uint32Array }
    this.handle = internals._handle
    this.state = internals._writeState
    if (this.handle === null || typeof this.handle.writeSync !== 'function' || !(this.state instanceof Uint32Array)) {
      throw new Error('gatewire: this Node version does not expose the zlib handle permessage-deflate drives')
    }
    // The stream's own handler destroys it; here a failure is reported by process() instead.
    this.handle.onerror = (message: string) => {
      this.error = message
    }
  }

  /**
   * Runs input[start, end) through zlib with Z_SYNC_FLUSH and returns all the output it makes
   * (a fresh buffer, empty when none). Throws OutputLimitError as soon as the output passes
   * `limit` bytes, having produced at most limit + 1 of them, and Error on corrupt input.
   */
  process(input: Buffer, start: number, end: number, limit = Infinity): Buffer {
    if (this.closed) throw new Error('zlib handle used after close')
    const out = (scratch ??= Buffer.allocUnsafe(SCRATCH_SIZE))
    let pieces: Buffer[] | null = null
    let produced = 0
    let inOff = start
    let inLen = end - start
    for (;;) {
      const room = Math.min(SCRATCH_SIZE, limit - produced + 1)
      this.handle.writeSync(Z_SYNC_FLUSH, input, inOff, inLen, out, 0, room)
      if (this.error !== null) {
        const message = this.error
        this.error = null
        throw new Error(message)
      }
      const availOut = this.state[0]
      const availIn = this.state[1]
      const have = room - availOut
      inOff += inLen - availIn
      inLen = availIn
      if (have > 0) {
        produced += have
        if (produced > limit) throw new OutputLimitError(`output over ${limit} bytes`)
        const piece = Buffer.allocUnsafe(have)
        out.copy(piece, 0, 0, have)
        ;(pieces ??= []).push(piece)
      }
      // A full output space may hide more output; otherwise zlib took all it will take.
      if (availOut !== 0) break
    }
    if (inLen !== 0) this.ended = true
    if (pieces === null) return EMPTY
    return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, produced)
  }

  /**
   * Runs input through zlib with Z_SYNC_FLUSH on libuv's thread pool (the stream's own
   * asynchronous path, on the same native handle, so the compression context is the one
   * process() keeps) and calls back with all the output. The caller runs one call at a time
   * and no process() meanwhile. For compression only: the output is not limited.
   */
  processAsync(input: Buffer, callback: (error: Error | null, output: Buffer) => void): void {
    if (this.closed) {
      callback(new Error('zlib handle used after close'), EMPTY)
      return
    }
    const stream = this.stream
    const pieces: Buffer[] = []
    let produced = 0
    // Node pushes the output before it calls the flush back (ws's compressor relies on the same order).
    const onData = (chunk: Buffer): void => {
      pieces.push(chunk)
      produced += chunk.length
    }
    stream.on('data', onData)
    stream.write(input)
    stream.flush(Z_SYNC_FLUSH, () => {
      stream.off('data', onData)
      const message = this.error
      this.error = null
      if (message !== null) callback(new Error(message), EMPTY)
      else callback(null, pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, produced))
    })
  }

  /** Forgets the compression context (deflateReset / inflateReset): the next input starts afresh. */
  reset(): void {
    this.error = null
    this.ended = false
    if (!this.closed) this.handle.reset()
  }

  /** Frees zlib's memory now rather than when the object is collected. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.handle.close()
  }
}

const EMPTY = Buffer.alloc(0)
