import { CloseCode } from '../constants'
import type { MessageInflater } from '../frame-parser'
import { ProtocolError } from '../protocol-error'
import type { ResolvedCompressionOptions } from './compression-options'
import type { DeflateParams } from './negotiate-deflate'
import { OutputLimitError, RawZlib } from './raw-zlib'
import * as zlib from 'node:zlib'

/** RFC 7692 §7.2.1: the end of a sync flush, removed from each message sent and put back on receipt. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff])
/** Idle zlib objects kept for reuse, per kind. */
const POOL_SIZE = 8

// Without context takeover a message's compression needs no state before or after it: one zlib
// object per setting serves every connection of the process (uWS's shared compressor). They are
// only used for work done within one call, so connections never interleave on one.
const sharedDeflaters = new Map<string, RawZlib>()
let sharedInflater: RawZlib | null = null
/** Reset inflaters for messages that span several reads; reset deflaters for streamed messages, per setting. */
const idleInflaters: RawZlib[] = []
const idleDeflaters = new Map<string, RawZlib[]>()

/**
 * The message inflated last, when its compressed bytes can be sent again as they are: a whole
 * message compressed without context (self-contained), not ending the DEFLATE stream. Echoing
 * or relaying a text just received is common (chat relays); sending that same string then
 * costs no compression at all. Like the transport's recent text, this pins one socket read.
 */
let recentOutput: Buffer | null = null
let recentPayload: Buffer | null = null
let recentWindowBits = 15
let recentText: string | null = null

/**
 * The text compressed last without context, per compressor setting: a broadcast loop that sends
 * one string to many connections (sendText on each) compresses it once. Texts up to 64 KiB.
 */
let lastText: string | null = null
let lastKey: string | null = null
let lastPayload: Buffer | null = null
const LAST_TEXT_LIMIT = 64 * 1024

/** The parser delivered `text` decoded from `source`: if those are the bytes inflated last, remember the string. */
export function rememberInflatedText(text: string, source: Buffer): void {
  if (source === recentOutput) recentText = text
}

/** zlib cannot make a raw stream with an 8-bit window; a 9-bit one never reaches back more than 250 bytes. */
const zlibBits = (bits: number): number => (bits < 9 ? 9 : bits)

/**
 * What every connection with the same agreement, options and role shares: immutable, so an idle
 * connection's own state is two references (see PerMessageDeflate).
 */
class DeflateSetting {
  /** Our compressor resets after each message. */
  readonly ownNoContextTakeover: boolean
  readonly peerNoContextTakeover: boolean
  /** The agreed window of our compressor (8–15, as negotiated) and zlib's for it (9–15). */
  readonly ownMaxWindowBits: number
  readonly ownWindowBits: number
  /** zlib's window for our decompressor (9–15). */
  readonly peerWindowBits: number
  readonly peerMaxWindowBits: number
  /** Compressors with the same key make the same output (see deflateKey). */
  readonly key: string

  constructor(
    readonly params: DeflateParams,
    readonly options: ResolvedCompressionOptions,
    readonly role: 'server' | 'client',
    readonly header: string,
  ) {
    const server = role === 'server'
    this.ownNoContextTakeover = server ? params.serverNoContextTakeover : params.clientNoContextTakeover
    this.peerNoContextTakeover = server ? params.clientNoContextTakeover : params.serverNoContextTakeover
    this.ownMaxWindowBits = server ? params.serverMaxWindowBits : params.clientMaxWindowBits
    this.peerMaxWindowBits = server ? params.clientMaxWindowBits : params.serverMaxWindowBits
    this.ownWindowBits = zlibBits(this.ownMaxWindowBits)
    this.peerWindowBits = zlibBits(this.peerMaxWindowBits)
    this.key = internKey(`${this.ownWindowBits}/${options.level}/${options.memLevel}`)
    Object.freeze(this)
  }
}

/** Settings per options object, by role, params and header: bounded, since headers come from peers. */
const settings = new WeakMap<ResolvedCompressionOptions, Map<string, DeflateSetting>>()
const SETTINGS_PER_OPTIONS = 256

function settingFor(params: DeflateParams, options: ResolvedCompressionOptions, role: 'server' | 'client', header: string): DeflateSetting {
  let byKey = settings.get(options)
  if (byKey === undefined) settings.set(options, (byKey = new Map()))
  const key = `${role}|${+params.serverNoContextTakeover}${+params.clientNoContextTakeover}|${params.serverMaxWindowBits}|${params.clientMaxWindowBits}|${header}`
  let found = byKey.get(key)
  if (found === undefined) {
    found = new DeflateSetting(params, options, role, header)
    if (byKey.size < SETTINGS_PER_OPTIONS) byKey.set(key, found)
  }
  return found
}

/** The zlib objects one connection holds, created the first time it needs one of its own. */
class ConnectionZlib {
  /** Ours (the sending side): compressor and its context; the peer's: our decompressor. */
  deflater: RawZlib | null = null
  inflater: RawZlib | null = null
  /** The compressor of a message being streamed out with compressFragment(). */
  streamDeflater: RawZlib | null = null
  /** A compressAsync() on the own compressor is running; release() waits for it. */
  busy = false
  released = false
}

/**
 * One connection's permessage-deflate state (RFC 7692 §6, §7.2): compresses messages it sends,
 * inflates those it receives (as the frame parser's MessageInflater).
 *
 * What was agreed is shared by every connection that agreed the same (DeflateSetting), and zlib
 * objects are created on first use. Without context takeover they are shared by the process,
 * or, while a message is in flight across reads (or streamed out), borrowed from a small pool and
 * given back at its end, so an idle connection holds none (its ConnectionZlib is dropped then
 * too). With context takeover the connection keeps its own (that is what takeover means) until
 * it closes.
 */
export class PerMessageDeflate implements MessageInflater {
  private readonly setting: DeflateSetting
  private zlib: ConnectionZlib | null = null

  constructor(
    /** What was agreed. */
    params: DeflateParams,
    options: ResolvedCompressionOptions,
    role: 'server' | 'client',
    /** The agreed Sec-WebSocket-Extensions value (as a browser's `WebSocket.extensions` shows it). */
    header: string,
  ) {
    this.setting = settingFor(params, options, role, header)
  }

  /** What was agreed. */
  get params(): DeflateParams {
    return this.setting.params
  }

  get options(): ResolvedCompressionOptions {
    return this.setting.options
  }

  /** The agreed Sec-WebSocket-Extensions value (as a browser's `WebSocket.extensions` shows it). */
  get header(): string {
    return this.setting.header
  }

  /** Smallest payload worth compressing. */
  get threshold(): number {
    return this.setting.options.threshold
  }

  /** Smallest payload compressed off the main thread (compressAsync). */
  get asyncThreshold(): number {
    return this.setting.options.asyncThreshold
  }

  /** True when our compressor resets after each message (what a compress-once broadcast needs). */
  get ownNoContextTakeover(): boolean {
    return this.setting.ownNoContextTakeover
  }

  /** A key for compressors with the same output: messages compressed by one may be sent on the other. */
  get deflateKey(): string {
    return this.setting.key
  }

  /**
   * Compresses a whole message: the payload of one frame with RSV1 set (§7.2.1, the trailing
   * 0x00 0x00 0xff 0xff removed).
   */
  compress(data: Buffer): Buffer {
    if (!this.setting.ownNoContextTakeover) {
      const own = (this.zlib ??= new ConnectionZlib())
      return stripTail((own.deflater ??= this.newDeflater()).process(data, 0, data.length))
    }
    const key = this.setting.key
    let shared = sharedDeflaters.get(key)
    if (shared === undefined) sharedDeflaters.set(key, (shared = this.newDeflater()))
    try {
      return stripTail(shared.process(data, 0, data.length))
    } finally {
      shared.reset()
    }
  }

  /**
   * Compresses a whole message on libuv's thread pool and calls back with the payload of its
   * frame (as compress() returns it). Without context takeover a one-shot zlib stream does it,
   * so jobs of many connections run side by side; with it, the connection's own compressor, and
   * the caller must run one job at a time and no other compression of this connection until
   * it calls back (its context is then that of every message before, in order).
   */
  compressAsync(data: Buffer, callback: (error: Error | null, payload: Buffer) => void): void {
    const setting = this.setting
    if (setting.ownNoContextTakeover) {
      const { level, memLevel } = setting.options
      zlib.deflateRaw(data, { windowBits: setting.ownWindowBits, level, memLevel, finishFlush: zlib.constants.Z_SYNC_FLUSH }, (error, out) =>
        callback(error, error === null ? stripTail(out) : out),
      )
      return
    }
    const own = (this.zlib ??= new ConnectionZlib())
    const deflater = (own.deflater ??= this.newDeflater())
    own.busy = true
    deflater.processAsync(data, (error, out) => {
      own.busy = false
      if (own.released) this.release()
      callback(error, error === null ? stripTail(out) : out)
    })
  }

  /**
   * A text message's compressed payload: the received compressed bytes when relaying the text
   * inflated last (compressedCopy), the payload compressed last when the same text goes out
   * again with the same setting, else compressed now.
   */
  compressText(text: string): Buffer {
    const copy = this.compressedCopy(text)
    if (copy !== null) return copy
    if (!this.setting.ownNoContextTakeover || text.length > LAST_TEXT_LIMIT) return this.compress(Buffer.from(text, 'utf8'))
    const key = this.setting.key
    if (text === lastText && key === lastKey) return lastPayload!
    const payload = this.compress(Buffer.from(text, 'utf8'))
    lastText = text
    lastKey = key
    lastPayload = payload
    return payload
  }

  /**
   * The compressed bytes of `text` when it is the text inflated last and they are valid on this
   * connection: our compressor keeps no context (so the receiver expects none) and their window
   * is within the one agreed for us (RFC 7692 §7.1.2). Null otherwise.
   */
  compressedCopy(text: string): Buffer | null {
    if (text !== recentText || !this.setting.ownNoContextTakeover) return null
    return recentWindowBits <= this.setting.ownMaxWindowBits ? recentPayload : null
  }

  /**
   * Compresses one fragment of a message sent in several frames: the first (with RSV1 set on
   * its frame) to the last (`fin`). Other messages must not be compressed until it ends.
   */
  compressFragment(data: Buffer, fin: boolean): Buffer {
    const own = (this.zlib ??= new ConnectionZlib())
    let deflater: RawZlib
    if (!this.setting.ownNoContextTakeover) deflater = own.deflater ??= this.newDeflater()
    else deflater = own.streamDeflater ??= idleDeflaters.get(this.setting.key)?.pop() ?? this.newDeflater()
    const out = deflater.process(data, 0, data.length)
    if (!fin) return out
    this.endStream()
    return stripTail(out)
  }

  /** Ends a streamed message early (aborted, or the connection closed). */
  endStream(): void {
    const own = this.zlib
    if (own === null || own.streamDeflater === null) return
    const deflater = own.streamDeflater
    own.streamDeflater = null
    giveBack(deflater, idleDeflaters.get(this.setting.key) ?? setList(idleDeflaters, this.setting.key))
    this.dropIdle()
  }

  inflate(data: Buffer, start: number, end: number, first: boolean, last: boolean, limit: number, transient = false): Buffer | ProtocolError {
    const setting = this.setting
    const takeover = !setting.peerNoContextTakeover
    let z: RawZlib
    let own: ConnectionZlib | null = null
    if (takeover) {
      own = this.zlib ??= new ConnectionZlib()
      z = own.inflater ??= new RawZlib('inflate', { windowBits: setting.peerWindowBits })
    } else if (first && last) {
      z = sharedInflater ??= new RawZlib('inflate', { windowBits: 15 })
    } else {
      own = this.zlib ??= new ConnectionZlib()
      z = own.inflater ??= idleInflaters.pop() ?? new RawZlib('inflate', { windowBits: 15 })
    }
    let out: Buffer
    try {
      out = z.process(data, start, end, limit)
      if (last) {
        const rest = z.process(TAIL, 0, TAIL.length, limit - out.length)
        if (rest.length !== 0) out = out.length === 0 ? rest : Buffer.concat([out, rest], out.length + rest.length)
      }
    } catch (error) {
      this.dropInflater(z, takeover)
      if (error instanceof OutputLimitError) {
        return new ProtocolError(CloseCode.MessageTooBig, 'message over the size limit once inflated')
      }
      return new ProtocolError(CloseCode.InvalidPayload, `invalid compressed data: ${(error as Error).message}`)
    }
    if (last) {
      if (first && !takeover && !z.ended) {
        recentOutput = out
        // Kept to be sent again: a transient read buffer is reused once this returns.
        recentPayload = transient ? Buffer.from(data.subarray(start, end)) : data.subarray(start, end)
        recentWindowBits = setting.peerMaxWindowBits
        recentText = null
      }
      if (!takeover) {
        z.reset()
        if (z !== sharedInflater) {
          own!.inflater = null
          giveBack(z, idleInflaters)
          this.dropIdle()
        }
      } else if (z.ended) {
        // A block with BFINAL set ended the DEFLATE stream (§7.2.3.4): start a new one.
        z.reset()
      }
    }
    return out
  }

  /** The message being inflated will not be completed (the parser stopped). */
  abort(): void {
    const own = this.zlib
    if (own === null || own.inflater === null || !this.setting.peerNoContextTakeover) return
    const z = own.inflater
    own.inflater = null
    z.reset()
    giveBack(z, idleInflaters)
    this.dropIdle()
  }

  /** Frees what the connection holds (it closed). */
  release(): void {
    this.abort()
    this.endStream()
    const own = this.zlib
    if (own === null) return
    own.released = true
    // Its handle is working on the thread pool: closed when that job calls back.
    if (own.busy) return
    own.deflater?.close()
    own.deflater = null
    own.inflater?.close()
    own.inflater = null
    this.zlib = null
  }

  /** Without context takeover, a connection holding no borrowed zlib object keeps no ConnectionZlib either. */
  private dropIdle(): void {
    const own = this.zlib
    if (own !== null && own.deflater === null && own.inflater === null && own.streamDeflater === null && !own.busy) this.zlib = null
  }

  private dropInflater(z: RawZlib, takeover: boolean): void {
    if (z === sharedInflater) {
      z.reset()
      return
    }
    // A failed stream is not worth reusing.
    z.close()
    const own = this.zlib
    if (own !== null && (z === own.inflater || takeover)) own.inflater = null
    this.dropIdle()
  }

  private newDeflater(): RawZlib {
    const { level, memLevel } = this.setting.options
    return new RawZlib('deflate', { windowBits: this.setting.ownWindowBits, level, memLevel })
  }
}

const keys = new Map<string, string>()
function internKey(key: string): string {
  let found = keys.get(key)
  if (found === undefined) keys.set(key, (found = key))
  return found
}

function stripTail(out: Buffer): Buffer {
  const n = out.length
  if (n >= 4 && out[n - 4] === 0x00 && out[n - 3] === 0x00 && out[n - 2] === 0xff && out[n - 1] === 0xff) return out.subarray(0, n - 4)
  return out
}

function giveBack(z: RawZlib, pool: RawZlib[]): void {
  z.reset()
  if (pool.length < POOL_SIZE) pool.push(z)
  else z.close()
}

function setList(map: Map<string, RawZlib[]>, key: string): RawZlib[] {
  const list: RawZlib[] = []
  map.set(key, list)
  return list
}
