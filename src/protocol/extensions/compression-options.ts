import type { DeflatePolicy } from './negotiate-deflate'

/**
 * permessage-deflate (RFC 7692) settings, for `compression: { ... }` on a server, a client or a
 * gateway. The four RFC parameters choose the memory mode: with no context takeover (the
 * default, both ways) zlib state is shared by all connections and an idle connection holds none;
 * with context takeover a connection keeps its own zlib state, sized by its window bits, for
 * its whole life (and compresses repetitive traffic much better).
 */
export interface CompressionOptions {
  /** Messages with fewer payload bytes than this are sent uncompressed. Default 128. */
  threshold?: number
  /**
   * Messages with at least this many payload bytes (for text: UTF-8 bytes) are compressed off
   * the main thread, on libuv's thread pool, instead of inside the send call. Default 16384:
   * measured here at level 1, a synchronous deflate of chat JSON costs the event loop 23 µs at
   * 8 KiB and 60 µs at 16 KiB, the asynchronous one 25–30 µs of main-thread time at either
   * size (the hand-off and zlib's set-up), and 72 µs at 64 KiB against 325 µs synchronously.
   * `Infinity` keeps every compression synchronous.
   */
  asyncThreshold?: number
  /**
   * Process-wide bound on asynchronous zlib jobs in flight (every server and client of the
   * process shares one queue; a job starts while fewer than its own connection's bound run).
   * Default 2: half of libuv's default thread pool, which file system calls and DNS lookups
   * need too. Queued jobs wait; what they hold counts against their connection's
   * maxBufferedAmount.
   */
  maxAsyncJobs?: number
  /** zlib compression level, 0 (store) to 9. Default 1. */
  level?: number
  /** zlib memLevel, 1–9: the compressor's hash table is 2^(memLevel + 9) bytes. Default 8. */
  memLevel?: number
  /**
   * The server resets its compressor after each message (server_no_context_takeover). A server
   * asks for it even when the client does not; a client offers it. Default true.
   */
  serverNoContextTakeover?: boolean
  /** The client resets its compressor after each message (client_no_context_takeover). Default true. */
  clientNoContextTakeover?: boolean
  /**
   * Largest LZ77 window of the server's compressor, 8–15 (server_max_window_bits; 8 is used as
   * 9, whose back-references still fit a 256-byte window). Default 15.
   */
  serverMaxWindowBits?: number
  /**
   * Largest LZ77 window of the client's compressor, 8–15 (client_max_window_bits; a server can
   * only ask for it when the client offers the parameter). Default 15.
   */
  clientMaxWindowBits?: number
  /** Client only: fail the connection (1010) when the server does not accept the extension. Default false. */
  required?: boolean
}

export interface ResolvedCompressionOptions extends DeflatePolicy {
  threshold: number
  asyncThreshold: number
  maxAsyncJobs: number
  level: number
  memLevel: number
  required: boolean
}

const resolved = new WeakMap<CompressionOptions, ResolvedCompressionOptions>()
let defaults: ResolvedCompressionOptions | undefined

/**
 * `compression` as given (true, false, undefined or options) to checked settings; undefined
 * when compression is off. Throws RangeError on an invalid value. Results are cached per
 * options object (a gateway's options are resolved once, not per handshake).
 */
export function resolveCompressionOptions(value: boolean | CompressionOptions | undefined): ResolvedCompressionOptions | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return (defaults ??= resolve({}))
  if (typeof value !== 'object' || value === null) throw new RangeError('compression must be true, false or an options object')
  let found = resolved.get(value)
  if (found === undefined) {
    found = resolve(value)
    resolved.set(value, found)
  }
  return found
}

function resolve(options: CompressionOptions): ResolvedCompressionOptions {
  const result: ResolvedCompressionOptions = Object.freeze({
    threshold: options.threshold ?? 128,
    asyncThreshold: options.asyncThreshold ?? 16 * 1024,
    maxAsyncJobs: options.maxAsyncJobs ?? 2,
    level: options.level ?? 1,
    memLevel: options.memLevel ?? 8,
    serverNoContextTakeover: options.serverNoContextTakeover ?? true,
    clientNoContextTakeover: options.clientNoContextTakeover ?? true,
    serverMaxWindowBits: options.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: options.clientMaxWindowBits ?? 15,
    required: options.required ?? false,
  })
  const integer = (name: keyof ResolvedCompressionOptions, min: number, max: number): void => {
    const v = result[name] as number
    if (!(Number.isInteger(v) && v >= min && v <= max)) throw new RangeError(`compression.${name} must be an integer from ${min} to ${max}`)
  }
  integer('threshold', 0, Number.MAX_SAFE_INTEGER)
  if (result.asyncThreshold !== Infinity) integer('asyncThreshold', 0, Number.MAX_SAFE_INTEGER)
  integer('maxAsyncJobs', 1, 1024)
  integer('level', 0, 9)
  integer('memLevel', 1, 9)
  integer('serverMaxWindowBits', 8, 15)
  integer('clientMaxWindowBits', 8, 15)
  for (const name of ['serverNoContextTakeover', 'clientNoContextTakeover', 'required'] as const) {
    if (typeof result[name] !== 'boolean') throw new RangeError(`compression.${name} must be a boolean`)
  }
  return result
}
