import { Socket } from 'node:net'
// Straight from the defining modules, not '../protocol': its re-exports are getters, and a
// load through one on every message costs a generic property lookup.
import { MAX_HEADER_SIZE, writeFrameHeader } from '../protocol/frame-builder'
import { applyMask, MaskKeyPool } from '../protocol/mask'
import { directWrite, directWriteAvailable, type DirectWriter } from './direct-write'
import type { PublishedRun } from './pubsub/published-run'

export type WriteCallback = (error?: Error) => void

/** Payloads up to this size are copied next to their header in the shared slab. */
const COPY_THRESHOLD = 4096
/** Strings up to this many UTF-16 units are encoded straight into the slab. */
const STRING_COPY_THRESHOLD = 1365
const SLAB_SIZE = 128 * 1024
/**
 * Received texts up to this many bytes are remembered (see rememberText). Sending a large
 * string again costs a UTF-8 length pass, an allocation and an encoding pass (64 KiB ASCII
 * echo: ~60% of the server's instructions per message); queuing the received bytes costs none.
 */
const REMEMBER_LIMIT = 1024 * 1024
/** Queued bytes up to this size are gathered into one buffer at flush time rather than written with writev. */
const GATHER_LIMIT = 16 * 1024
/** Payloads up to this size are copied byte by byte rather than by a native call. */
const SMALL_COPY = 32
/** Published frames up to this size are built in the shared-frame arena (see sharedFrameBuffer). */
const ARENA_FRAME_MAX = 8 * 1024
const ARENA_SIZE = 128 * 1024

/**
 * One slab shared by every sender in the process, like Node's own Buffer pool: frames are
 * written into it back to back, and each sender hands contiguous regions of it to its socket.
 * Regions handed out are never written again; a full slab is replaced, not reused, so idle
 * connections hold no output memory of their own.
 */
let slab = Buffer.allocUnsafe(SLAB_SIZE)
let slabUsed = 0

/**
 * Where published frames are built, back to back, like the slab: consecutive publishes are
 * adjacent, so a subscriber that receives several of them in a row queues one region of the
 * arena (no copy, no allocation per frame) and writes it in one piece. Regions handed out are
 * never written again (frames are immutable); a full arena is replaced, not reused.
 */
let arena = Buffer.allocUnsafe(ARENA_SIZE)
let arenaUsed = 0
/**
 * The frame handed out last and where it is in its arena: a publish queues that one frame for
 * every subscriber, and shared() finds its place here instead of asking each time for the
 * Buffer's `buffer` and `byteOffset` (accessor calls, per subscriber).
 */
let lastFrame: Buffer | null = null
let lastFrameArena: Buffer = arena
let lastFrameStart = 0

/** The view of the arena written last by flushPublishedRun (arena regions never change, so it can be written again). */
let lastRunView: Buffer = arena.subarray(0, 0)
let lastRunArena: Buffer = arena
let lastRunStart = 0
let lastRunEnd = 0

/**
 * The arena `frame` sits in when it is the frame sharedFrameBuffer handed out last (it starts at
 * lastFrameOffset()), else null: a publish finds its frame's place without the Buffer's
 * `buffer` and `byteOffset` accessors.
 */
export function lastFrameArenaOf(frame: Buffer): Buffer | null {
  return frame === lastFrame ? lastFrameArena : null
}

export function lastFrameOffset(): number {
  return lastFrameStart
}

/** Room for one published frame of `size` bytes, never to be written again once built. */
export function sharedFrameBuffer(size: number): Buffer {
  if (size > ARENA_FRAME_MAX) {
    lastFrame = null
    return Buffer.allocUnsafe(size)
  }
  if (arenaUsed + size > ARENA_SIZE) {
    arena = Buffer.allocUnsafe(ARENA_SIZE)
    arenaUsed = 0
  }
  const frame = arena.subarray(arenaUsed, arenaUsed + size)
  lastFrame = frame
  lastFrameArena = arena
  lastFrameStart = arenaUsed
  arenaUsed += size
  return frame
}

/**
 * The text message received last (by any connection) and where its UTF-8 bytes are. Echoing
 * or forwarding a string just received is common (echo, chat relays, broadcast): sending that
 * same string copies these bytes (up to COPY_THRESHOLD), or queues them by reference (larger),
 * instead of encoding it again. Messages up to REMEMBER_LIMIT are kept, so this pins at most
 * one socket read or one reassembled message of at most 1 MiB, process-wide.
 */
let recentText: string | null = null
const EMPTY = Buffer.alloc(0)
let recentSource: Buffer = EMPTY
let recentStart = 0
let recentEnd = 0
/** The bytes of recentText when it came in pieces (rememberTextPieces), else null. */
let recentPieces: readonly Buffer[] | null = null
/** recentSource is a read buffer that is reused after the read (see forgetTransientText): copy, never queue it. */
let recentTransient = false

/**
 * Notes a received text message and its bytes, `source[start, end)`, which must not change —
 * or, `transient`, which stay valid only until the read that brought them has been handled
 * (the connection then calls forgetTransientText).
 */
export function rememberText(text: string, source: Buffer, start: number, end: number, transient = false): void {
  if (end - start > REMEMBER_LIMIT) return
  recentText = text
  recentSource = source
  recentStart = start
  recentEnd = end
  recentPieces = null
  recentTransient = transient
}

/** The read that brought a transiently remembered text is over: its bytes are about to be overwritten. */
export function forgetTransientText(): void {
  if (!recentTransient) return
  recentTransient = false
  recentText = null
  recentSource = EMPTY
}

/** rememberText for a text whose bytes are `pieces` (in order, `length` in all), which must not change. */
export function rememberTextPieces(text: string, pieces: readonly Buffer[], length: number): void {
  if (length > REMEMBER_LIMIT) return
  recentText = text
  recentPieces = pieces
  recentStart = 0
  recentEnd = length
  recentTransient = false
}

/**
 * Frames a connection's outgoing messages and writes them to its socket in batches: what is
 * sent while the connection processes one socket read (echoes, replies, pongs), or within one
 * tick, leaves in a single write. Small frames are gathered in the shared slab; large payloads
 * are queued as they are (never copied when unmasked) and go out with writev.
 */
export class Sender implements DirectWriter {
  /** Bytes framed but not yet handed to the socket. */
  private queuedBytes = 0
  /** Regions and payloads queued for the next write (null when nothing is). */
  private segments: Buffer[] | null = null
  private callbacks: WriteCallback[] | null = null
  /** The region of the shared slab this sender is filling: [segmentSlab, segmentStart, segmentEnd). */
  private segmentSlab: Buffer | null = null
  private segmentStart = 0
  private segmentEnd = 0
  private corked = 0
  /**
   * A flush is queued: NEXT_TICK for sends (see flushLater), END_OF_ITERATION for published
   * frames only (see shared()), NONE otherwise. One field for both keeps a Sender's size.
   */
  private flushScheduled: FlushSchedule = NONE

  /**
   * Whether a write the socket completed at once means its bytes were copied (to the kernel, or
   * into TLS): true for net.Socket (and TLS) sockets. A generic Duplex may keep the Buffer it
   * was given (a PassThrough hands it to its reader), so its slab regions are never reused.
   */
  private readonly copiesOnWrite: boolean
  /** Whether writes without a callback may skip the socket's Writable (see direct-write.ts): plain TCP only. */
  private readonly direct: boolean
  /** DirectWriter: bytes of direct writes libuv still holds. */
  directQueued = 0
  /**
   * The socket's WritableState when it has one (every Node stream does, and keeps that one
   * object): its `length` is what `writableLength` returns, read here per published frame (the
   * backpressure check) without the getter. callgrind, 100 subscribers, 16 B: 472/473 → 452/457
   * instructions per delivery.
   */
  private readonly writableState: { length: number } | null
  /**
   * The published run this sender's connection is a lazy subscriber of (see PublishedRun): its
   * frames are not queued here but written at the run's flush; any other output queues them
   * first (leaveRun). `runIndex` is where the run keeps the connection.
   */
  run: PublishedRun | null = null
  runIndex = 0

  constructor(
    private readonly socket: Socket,
    /** Clients mask every frame (RFC 6455 §5.3); servers pass null. */
    private readonly maskKeys: MaskKeyPool | null,
  ) {
    this.copiesOnWrite = socket instanceof Socket
    this.direct = directWriteAvailable && this.copiesOnWrite && (socket as { encrypted?: boolean }).encrypted !== true
    const state = (socket as { _writableState?: { length?: unknown } })._writableState
    this.writableState = typeof state === 'object' && state !== null && typeof state.length === 'number' ? (state as { length: number }) : null
  }

  /** Bytes accepted but not yet written to the kernel. */
  get bufferedAmount(): number {
    const state = this.writableState
    const run = this.run
    return this.queuedBytes + (state !== null ? state.length : this.socket.writableLength) + this.directQueued + (run !== null ? run.bytes : 0)
  }

  /** Holds writes until `uncork()`; used around the processing of one socket read. */
  cork(): void {
    this.corked++
  }

  uncork(): void {
    if (--this.corked === 0 && this.queuedBytes !== 0) this.flush()
  }

  /** Queues a frame with a binary payload. The payload is not modified. */
  frame(opcode: number, payload: Uint8Array, fin: boolean, callback?: WriteCallback, rsv = 0): void {
    if (this.run !== null) this.run.leave(this)
    const length = payload.length
    if (length <= COPY_THRESHOLD) {
      this.copyFrame(opcode, payload, 0, length, fin, rsv)
    } else {
      const maskKey = this.maskKeys === null ? null : this.maskKeys.next()
      const at = this.claim(MAX_HEADER_SIZE)
      this.commit(writeFrameHeader(slab, at, opcode, fin, length, maskKey, rsv))
      let body = payload instanceof Buffer ? payload : Buffer.from(payload.buffer, payload.byteOffset, length)
      if (maskKey !== null) {
        body = Buffer.from(body)
        applyMask(body, maskKey, 0, 0, length)
      }
      this.closeSegment()
      ;(this.segments ??= []).push(body)
      this.queuedBytes += length
    }
    this.done(callback)
  }

  /**
   * Queues a complete frame built once for many connections (a publish): header and payload
   * are already there, so nothing is built or encoded per connection, and the Buffer itself is
   * queued (the same object for every subscriber), never written to. Only unmasked (server)
   * frames can be shared.
   */
  shared(frame: Buffer): void {
    if (this.run !== null) this.run.leave(this)
    const length = frame.length
    if (frame === lastFrame) {
      if (this.segmentSlab === lastFrameArena && this.segmentEnd === lastFrameStart) {
        // The frame published right after the last one this sender queued: the region grows.
        this.segmentEnd += length
      } else {
        this.closeSegment()
        this.segmentSlab = lastFrameArena
        this.segmentStart = lastFrameStart
        this.segmentEnd = lastFrameStart + length
      }
    } else {
      this.closeSegment()
      ;(this.segments ??= []).push(frame)
    }
    this.queuedBytes += length
    this.flushAtEndOfIteration()
  }

  /**
   * A lazy subscriber's share of a published run, queued (PublishedRun.leave): in place, before
   * whatever output made it leave.
   */
  queueRun(pieces: readonly Buffer[], bytes: number): void {
    this.closeSegment()
    const segments = (this.segments ??= [])
    for (let i = 0; i < pieces.length; i++) segments.push(pieces[i])
    this.queuedBytes += bytes
    this.flushAtEndOfIteration()
  }

  /**
   * The end of a published run (PublishedRun.flush): `view` is the whole run in one Buffer
   * (shared by every subscriber) or null, `pieces` its pieces (null when `view` is the one piece).
   * With nothing else queued, as in a fan-out, the view goes straight to the socket.
   */
  writeRun(view: Buffer | null, pieces: Buffer[] | null, bytes: number): void {
    if (view !== null && this.queuedBytes === 0 && this.callbacks === null && this.corked === 0) {
      const socket = this.socket
      if (socket.destroyed) return
      if (!this.direct || !directWrite(socket, view, this)) socket.write(view)
      return
    }
    this.closeSegment()
    const segments = (this.segments ??= [])
    if (pieces === null) segments.push(view!)
    else for (let i = 0; i < pieces.length; i++) segments.push(pieces[i])
    this.queuedBytes += bytes
    if (this.corked === 0) this.flush()
  }

  private flushAtEndOfIteration(): void {
    if (this.corked === 0 && this.flushScheduled === NONE) {
      // Published frames wait for the end of this event-loop iteration rather than this tick:
      // what every publisher publishes while the loop handles one batch of socket reads (a room
      // whose members talk at once) then leaves in one write per subscriber, not one per read.
      this.flushScheduled = END_OF_ITERATION
      publishedPending.push(this)
      if (!publishedFlushScheduled) {
        publishedFlushScheduled = true
        setImmediate(flushPublished)
      }
    }
  }

  /**
   * Queues a text frame, encoding the string straight into the slab when it is small. Returns
   * the payload's length in bytes (for the metrics: it is known here at no cost).
   */
  text(text: string, fin: boolean, callback?: WriteCallback): number {
    if (this.run !== null) this.run.leave(this)
    if (text === recentText) {
      const length = recentEnd - recentStart
      if (recentPieces !== null) {
        this.pieces(0x1, recentPieces, length, fin)
        this.done(callback)
        return length
      }
      if (length > COPY_THRESHOLD) {
        // The received bytes never change (FrameHandler.onText), so they go out as they are;
        // a transient read buffer's are copied (it is the next read's), still without encoding.
        const bytes = recentSource.subarray(recentStart, recentEnd)
        this.frame(0x1, recentTransient ? Buffer.from(bytes) : bytes, fin, callback)
        return length
      }
      // As many UTF-16 units as UTF-8 bytes means all ASCII: the string's own one-byte
      // characters are then the payload, copied natively without a view of the source.
      const ascii = text.length === length
      this.copyFrame(0x1, recentSource, recentStart, recentEnd, fin, 0, ascii ? text : undefined)
      this.done(callback)
      return length
    }
    if (text.length > STRING_COPY_THRESHOLD) {
      const payload = Buffer.from(text, 'utf8')
      this.frame(0x1, payload, fin, callback)
      return payload.length
    }
    const maskKey = this.maskKeys === null ? null : this.maskKeys.next()
    if (text.length >= 126) {
      // 126 to 1365 UTF-16 units encode to 126..4095 bytes: a 16-bit length header for sure,
      // so the string can be encoded first and the header written after, in one pass.
      const headerSize = maskKey === null ? 4 : 8
      const at = this.claim(MAX_HEADER_SIZE + text.length * 3)
      const payloadAt = at + headerSize
      const length = slab.utf8Write(text, payloadAt, text.length * 3)
      writeFrameHeader(slab, at, 0x1, fin, length, maskKey, 0)
      if (maskKey !== null) applyMask(slab, maskKey, 0, payloadAt, payloadAt + length)
      this.commit(payloadAt + length)
      this.done(callback)
      return length
    }
    const length = text.length < 64 && isAscii(text) ? text.length : Buffer.byteLength(text, 'utf8')
    const at = this.claim(MAX_HEADER_SIZE + length)
    const payloadAt = writeFrameHeader(slab, at, 0x1, fin, length, maskKey, 0)
    if (length !== 0) slab.utf8Write(text, payloadAt, length)
    if (maskKey !== null) applyMask(slab, maskKey, 0, payloadAt, payloadAt + length)
    this.commit(payloadAt + length)
    this.done(callback)
    return length
  }

  /**
   * Queues a frame whose payload is `pieces` (`length` bytes in all): queued as they are,
   * like a large payload in frame(), so a text that arrived in pieces goes back without being
   * joined. Clients mask a joined copy.
   */
  private pieces(opcode: number, pieces: readonly Buffer[], length: number, fin: boolean): void {
    if (length <= COPY_THRESHOLD || this.maskKeys !== null) {
      const payload = Buffer.concat(pieces, length)
      if (length <= COPY_THRESHOLD) this.copyFrame(opcode, payload, 0, length, fin)
      else this.frame(opcode, payload, fin)
      return
    }
    const at = this.claim(MAX_HEADER_SIZE)
    this.commit(writeFrameHeader(slab, at, opcode, fin, length, null, 0))
    this.closeSegment()
    const segments = (this.segments ??= [])
    for (let i = 0; i < pieces.length; i++) segments.push(pieces[i])
    this.queuedBytes += length
  }

  /**
   * Frames source[start, end) with its header in the slab (the payload copied, masked for
   * clients). `asciiText`, when given, is the same bytes as an ASCII string (a cheaper copy).
   */
  private copyFrame(opcode: number, source: Uint8Array, start: number, end: number, fin: boolean, rsv = 0, asciiText?: string): void {
    const length = end - start
    const maskKey = this.maskKeys === null ? null : this.maskKeys.next()
    const at = this.claim(MAX_HEADER_SIZE + length)
    const payloadAt = writeFrameHeader(slab, at, opcode, fin, length, maskKey, rsv)
    if (length <= SMALL_COPY) {
      // A few bytes: a loop costs less than a call into native code.
      for (let i = 0; i < length; i++) slab[payloadAt + i] = source[start + i]
    } else if (asciiText !== undefined) {
      slab.latin1Write(asciiText, payloadAt, length)
    } else if (start === 0 && end === source.length) {
      slab.set(source, payloadAt)
    } else {
      slab.set(source.subarray(start, end), payloadAt)
    }
    if (maskKey !== null) applyMask(slab, maskKey, 0, payloadAt, payloadAt + length)
    this.commit(payloadAt + length)
  }

  /** Writes everything queued to the socket in one write (or one writev). */
  flush(): void {
    // Everything sent so far, published runs included (flush() promises, the close).
    if (this.run !== null) this.run.leave(this)
    if (this.segments === null && this.callbacks === null && this.segmentSlab !== null && this.segmentSlab !== slab && this.direct) {
      // Only a run of published frames (one region of the shared-frame arena, nothing else
      // queued, no callback): the fan-out case, once per subscriber per batch. Written without
      // the segment list, and nothing of the slab to reuse afterwards.
      this.flushPublishedRun(this.segmentSlab)
      return
    }
    // The region this sender filled last; if it is still the slab's tail and the socket takes
    // everything at once, the region can be filled again (see below).
    const tailSlab = this.segmentSlab
    const tailStart = this.segmentStart
    const tailEnd = this.segmentEnd
    let segments = NO_SEGMENTS
    let single: Buffer | null = null
    if (this.segments === null) {
      // The usual batch, one region of the slab: written without a segment list, which would
      // be an array (and its backing store, ~150 B) allocated per write.
      if (tailSlab === null || tailEnd === tailStart) {
        // Nothing to write; callbacks still hear about it (through an empty write, in order).
        if (this.callbacks === null) return
      } else {
        single = tailSlab.subarray(tailStart, tailEnd)
        this.segmentSlab = null
        this.segmentStart = this.segmentEnd = 0
      }
    } else {
      this.closeSegment()
      segments = this.segments
      if (segments.length === 1) single = segments[0]
    }
    const callbacks = this.callbacks
    const total = this.queuedBytes
    this.segments = null
    this.callbacks = null
    this.queuedBytes = 0
    const socket = this.socket
    if (socket.destroyed) {
      if (callbacks !== null) failAll(callbacks, new Error('socket is closed'))
      return
    }
    const onWritten = callbacks === null ? undefined : (error?: Error | null) => runAll(callbacks, error ?? undefined)
    if (single !== null) {
      if (onWritten !== undefined || !this.direct || !directWrite(socket, single, this)) socket.write(single, onWritten)
    } else if (total <= GATHER_LIMIT) {
      // Many small segments (published frames queued by reference, between this sender's own
      // slab regions): one contiguous write costs the kernel far less than a writev of each.
      if (slabUsed + total > SLAB_SIZE) {
        slab = Buffer.allocUnsafe(SLAB_SIZE)
        slabUsed = 0
      }
      const at = slabUsed
      let end = at
      const target = slab
      for (let i = 0; i < segments.length; i++) {
        const segment = segments[i]
        const length = segment.length
        // A few bytes (a small published frame): a loop costs less than a call into native code.
        if (length <= SMALL_COPY) for (let j = 0; j < length; j++) target[end + j] = segment[j]
        else target.set(segment, end)
        end += length
      }
      slabUsed = end
      const gathered = slab.subarray(at, end)
      if (onWritten !== undefined || !this.direct || !directWrite(socket, gathered, this)) socket.write(gathered, onWritten)
      if (this.copiesOnWrite && socket.writableLength === 0 && this.directQueued === 0 && slabUsed === end) {
        slabUsed = tailSlab === slab && tailEnd === at ? tailStart : at
      }
      return
    } else {
      socket.cork()
      const last = segments.length - 1
      for (let i = 0; i < last; i++) socket.write(segments[i])
      socket.write(segments[last], onWritten)
      socket.uncork()
    }
    // Nothing left in the socket's queue means every write so far completed (its callback ran),
    // so the kernel has the bytes: the slab region can be reused at once. Under steady traffic
    // the slab is then refilled from its start, staying in cache instead of a fresh 128 KiB
    // buffer (and its page faults) every hundred frames.
    if (tailSlab === slab && tailEnd === slabUsed && this.copiesOnWrite && socket.writableLength === 0 && this.directQueued === 0) slabUsed = tailStart
  }

  private flushPublishedRun(arenaOfRun: Buffer): void {
    const start = this.segmentStart
    const end = this.segmentEnd
    // Subscribers of one room usually hold the very same run (the same publishes): they share
    // one view of it instead of a new Buffer object each.
    let region = lastRunView
    if (arenaOfRun !== lastRunArena || start !== lastRunStart || end !== lastRunEnd) {
      region = lastRunView = arenaOfRun.subarray(start, end)
      lastRunArena = arenaOfRun
      lastRunStart = start
      lastRunEnd = end
    }
    this.segmentSlab = null
    this.segmentStart = this.segmentEnd = 0
    this.queuedBytes = 0
    const socket = this.socket
    if (socket.destroyed || region.length === 0) return
    if (!directWrite(socket, region, this)) socket.write(region)
  }

  /** Drops what is queued (the socket is gone); callbacks receive `error`. */
  discard(error: Error): void {
    if (this.run !== null) this.run.forget(this)
    this.segments = null
    this.segmentSlab = null
    this.queuedBytes = 0
    const callbacks = this.callbacks
    this.callbacks = null
    if (callbacks !== null) failAll(callbacks, error)
  }

  /** Makes room for `bytes` in the slab and returns where this frame starts. */
  private claim(bytes: number): number {
    // Callers keep frames far below the slab size (COPY_THRESHOLD, STRING_COPY_THRESHOLD).
    if (slabUsed + bytes > SLAB_SIZE) {
      this.closeSegment()
      slab = Buffer.allocUnsafe(SLAB_SIZE)
      slabUsed = 0
    }
    if (this.segmentSlab !== slab || this.segmentEnd !== slabUsed) {
      // Another sender wrote in between: start a new region.
      this.closeSegment()
      this.segmentSlab = slab
      this.segmentStart = slabUsed
      this.segmentEnd = slabUsed
    }
    return slabUsed
  }

  private commit(end: number): void {
    this.queuedBytes += end - slabUsed
    slabUsed = end
    this.segmentEnd = end
  }

  private closeSegment(): void {
    if (this.segmentSlab !== null && this.segmentEnd > this.segmentStart) {
      ;(this.segments ??= []).push(this.segmentSlab.subarray(this.segmentStart, this.segmentEnd))
    }
    this.segmentSlab = null
    this.segmentStart = this.segmentEnd = 0
  }

  private done(callback: WriteCallback | undefined): void {
    if (callback !== undefined) (this.callbacks ??= []).push(callback)
    if (this.corked === 0 && this.flushScheduled !== NEXT_TICK) {
      // Outside a read: gather what this tick sends, then write once (published frames queued
      // before go with it, in order: they are in the same queue).
      this.flushScheduled = NEXT_TICK
      process.nextTick(flushLater, this)
    }
  }
}

/** flush()'s segment list when only the open slab region is queued. */
const NO_SEGMENTS: Buffer[] = []

/** The deferred flush of a sender: one shared function rather than a closure per connection. */
function flushLater(sender: Sender): void {
  sender['flushScheduled'] = NONE
  if (sender['corked'] === 0) sender.flush()
}

const NONE = 0
const NEXT_TICK = 1
const END_OF_ITERATION = 2
type FlushSchedule = typeof NONE | typeof NEXT_TICK | typeof END_OF_ITERATION

/** Senders with published frames to write at the end of this event-loop iteration. */
let publishedPending: Sender[] = []
let publishedFlushScheduled = false

/** One setImmediate for every sender with published frames, not one per sender. */
function flushPublished(): void {
  publishedFlushScheduled = false
  const senders = publishedPending
  publishedPending = []
  for (const sender of senders) {
    // NEXT_TICK meanwhile: a send came after the publish and its tick flush took (or takes) both.
    if (sender['flushScheduled'] !== END_OF_ITERATION) continue
    sender['flushScheduled'] = NONE
    if (sender['corked'] === 0) sender.flush()
  }
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false
  return true
}

function runAll(callbacks: WriteCallback[], error: Error | undefined): void {
  for (const callback of callbacks) callback(error)
}

function failAll(callbacks: WriteCallback[], error: Error): void {
  process.nextTick(runAll, callbacks, error)
}
