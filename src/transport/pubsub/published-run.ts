import type { Connection } from '../connection'
import type { ConnectionMetrics } from '../connection-metrics'
import { lastFrameArenaOf, lastFrameOffset, type Sender } from '../sender'
import { CompressedPublish } from './compressed-publish'
import { publishedPayloadLength } from './published-frame'

type AnyConnection = Connection<object>

/** Published runs up to this many bytes in several pieces are gathered into one buffer, once, for every subscriber. */
const GATHER_LIMIT = 16 * 1024

/**
 * What one topic publishes during one event-loop iteration, written to its subscribers once, at
 * the end of the iteration: each subscriber gets the whole run in one write, and the run's
 * subscribers are walked once per batch rather than once per publish (as uWebSockets.js's
 * topics do). On a 1,000-subscriber room at 16 publishes per batch, walking the room and
 * queueing on every subscriber per publish was most of a delivery's user-space cost.
 *
 * The subscribers found at the first publish are "lazy": nothing is queued on them; their
 * Sender points here (`Sender.run`) and counts the run in its bufferedAmount. Everything that
 * could make a lazy subscriber's output differ from "the whole run, after what it had queued
 * before" moves it to the per-publish path first, its share of the run so far queued as it
 * would have been (`leave`):
 * - any other output on its Sender (a send, a ping, a close, another topic's frame, a flush):
 *   Sender's own methods call leave(), so direct sends stay in order with published frames;
 * - being the `except` of a publish (it gets the frames before, not that one, and later ones);
 * - unsubscribing or closing (it keeps what was published before, nothing after).
 * Subscribers that cannot be lazy (compression negotiated, a beginBinary() stream or a
 * compressing message in the way, a queue near maxBufferedAmount, another topic's run) take the
 * per-publish path (Connection.publishFrame) from the start, exactly as before runs existed.
 *
 * Backpressure per message: a lazy subscriber joins with its headroom (maxBufferedAmount minus
 * what it has unsent); the run keeps the smallest. While the run's bytes stay within it, every
 * lazy subscriber would have accepted every frame, so nothing is checked per subscriber; the
 * first publish that would pass it moves every lazy subscriber to the per-publish path, where
 * each frame meets each subscriber's own slowConsumer policy.
 */
export class PublishedRun {
  /** Lazy subscribers, at the index their Sender keeps (Sender.runIndex); those that left stay, their Sender no longer pointing here. */
  private readonly lazy: AnyConnection[] = []
  /** How many entries of `lazy` are still lazy. */
  private lazyCount = 0
  /** Subscribers on the per-publish path for the rest of this run. */
  private slow: AnyConnection[] | null = null
  /** The smallest headroom (bytes) of the lazy subscribers. */
  private budget = Infinity
  /** The counters of the lazy subscribers that count (one set per server or gateway), and how many of them do. */
  private metrics: ConnectionMetrics | null = null
  private metered = 0
  /** Bytes of frames in the run. */
  bytes = 0
  /** Pieces of the run before the open one. */
  private pieces: Buffer[] | null = null
  /** The open piece: consecutive frames of the shared-frame arena `openArena` (or one frame, arena null), from `openFrame` on. */
  private openFrame: Buffer | null = null
  private openArena: Buffer | null = null
  private openStart = 0
  private openEnd = 0

  constructor(readonly topic: string) {}

  /** A subscriber at the run's start: lazy when it can be, else on the per-publish path. */
  add(connection: AnyConnection): void {
    const index = this.lazy.length
    const metrics = connection.metrics
    // Lazy subscribers' counters are added to per publish, for all of them at once: one set.
    const headroom = metrics !== null && this.metrics !== null && metrics !== this.metrics ? -1 : connection['joinRun'](this, index)
    if (headroom < 0) {
      ;(this.slow ??= []).push(connection)
      return
    }
    this.lazy.push(connection)
    this.lazyCount++
    if (headroom < this.budget) this.budget = headroom
    if (metrics !== null) {
      this.metrics = metrics
      this.metered++
    }
  }

  /** A subscriber that subscribed after the run started: frames published from now on reach it. */
  subscribed(connection: AnyConnection): void {
    ;(this.slow ??= []).push(connection)
  }

  /** A subscriber that unsubscribed or closed: it keeps what was published before, nothing after. */
  unsubscribed(connection: AnyConnection): void {
    const sender = connection['sender']
    if (sender !== null && sender.run === this) {
      this.detach(sender, true)
      return
    }
    const slow = this.slow
    if (slow === null) return
    const at = slow.indexOf(connection)
    if (at !== -1) slow.splice(at, 1)
  }

  /**
   * Adds a published frame (plain, unmasked: see publishedFrame) for every subscriber but
   * `except`; returns how many subscribers it was queued for or will be written to.
   */
  publish(frame: Buffer, except: AnyConnection | undefined): number {
    if (except !== undefined) {
      const sender = except['sender']
      if (sender !== null && sender.run === this) this.leave(sender)
    }
    // A lazy subscriber accepts a frame while what it has unsent is within maxBufferedAmount.
    if (this.lazyCount !== 0 && this.bytes > this.budget) this.demote()
    let delivered = this.lazyCount
    if (delivered !== 0) {
      this.append(frame)
      const metrics = this.metrics
      if (metrics !== null) {
        const length = publishedPayloadLength(frame)
        if ((frame[0] & 0x0f) === 0x1) {
          metrics.textMessagesSent += this.metered
          metrics.textBytesSent += this.metered * length
        } else {
          metrics.binaryMessagesSent += this.metered
          metrics.binaryBytesSent += this.metered * length
        }
      }
    }
    const slow = this.slow
    if (slow !== null && slow.length !== 0) {
      // permessage-deflate: compressed once per compressor setting, not once per subscriber.
      const frames = new CompressedPublish(frame)
      for (let i = 0; i < slow.length; i++) {
        const connection = slow[i]
        if (connection !== except && connection['publishFrame'](frames.frameFor(connection.compression))) delivered++
      }
    }
    return delivered
  }

  /**
   * Sender: a lazy subscriber has other output: its share of the run so far is queued, and it
   * takes the per-publish path for the rest of the run.
   */
  leave(sender: Sender): void {
    const connection = this.detach(sender, true)
    ;(this.slow ??= []).push(connection)
  }

  /** Sender: the socket is gone; nothing is queued. */
  forget(sender: Sender): void {
    this.detach(sender, false)
  }

  /** End of the iteration: every subscriber still lazy gets the run in one write. */
  flush(): void {
    if (this.lazyCount === 0) return
    let view: Buffer | null = null
    let pieces: Buffer[] | null = null
    if (this.bytes === 0) {
      // Lazy subscribers, but nothing published for them (every publish left them out).
    } else if (this.pieces === null) {
      view = this.openPiece()
    } else {
      pieces = this.piecesSoFar()
      if (this.bytes <= GATHER_LIMIT) view = Buffer.concat(pieces, this.bytes)
    }
    const lazy = this.lazy
    for (let i = 0; i < lazy.length; i++) {
      const sender = lazy[i]['sender']
      if (sender === null || sender.run !== this) continue
      sender.run = null
      if (this.bytes !== 0) sender.writeRun(view, pieces, this.bytes)
    }
    this.lazyCount = 0
  }

  private detach(sender: Sender, queue: boolean): AnyConnection {
    const connection = this.lazy[sender.runIndex]
    sender.run = null
    this.lazyCount--
    if (connection.metrics !== null) this.metered--
    if (queue && this.bytes !== 0) sender.queueRun(this.piecesSoFar(), this.bytes)
    return connection
  }

  /** Every lazy subscriber takes the per-publish path (the run would pass one's headroom). */
  private demote(): void {
    const lazy = this.lazy
    for (let i = 0; i < lazy.length; i++) {
      const sender = lazy[i]['sender']
      if (sender !== null && sender.run === this) this.leave(sender)
    }
  }

  private append(frame: Buffer): void {
    const arena = lastFrameArenaOf(frame)
    const start = arena === null ? 0 : lastFrameOffset()
    this.bytes += frame.length
    if (arena !== null && arena === this.openArena && start === this.openEnd) {
      // Published right after the previous frame in the shared-frame arena: the piece grows.
      this.openEnd += frame.length
      return
    }
    if (this.openFrame !== null) (this.pieces ??= []).push(this.openPiece())
    this.openFrame = frame
    this.openArena = arena
    this.openStart = start
    this.openEnd = start + frame.length
  }

  /** The open piece as a Buffer: the frame itself when it is one frame (a large frame is never copied or re-viewed). */
  private openPiece(): Buffer {
    const frame = this.openFrame!
    const length = this.openEnd - this.openStart
    return length === frame.length ? frame : this.openArena!.subarray(this.openStart, this.openEnd)
  }

  private piecesSoFar(): Buffer[] {
    const open = this.openPiece()
    return this.pieces === null ? [open] : [...this.pieces, open]
  }
}
