import type { DeflateJob } from './deflate-job'
import type { WriteCallback } from './sender'

/** One piece of a connection's output waiting its turn: a message being compressed, or a write to run. */
export interface QueuedOutput {
  job: DeflateJob | null
  run: (() => void) | null
  /** Bytes it holds (counted against maxBufferedAmount). */
  bytes: number
  /** Told the error when the output is dropped (the connection closed first). */
  callback: WriteCallback | undefined
}

/**
 * A connection's output from the first message still compressing off the main thread on: what
 * is sent after it (messages, published frames, pings, pongs, the close frame) waits here, in
 * order, so nothing overtakes it. Exists only while something waits.
 */
export class OutputQueue {
  private entries: QueuedOutput[] = []
  private head = 0
  /** Bytes held by the entries (part of the connection's bufferedAmount). */
  bytes = 0
  /** The job the connection waits for (DeflateJob.wait called), or null. */
  waitingOn: DeflateJob | null = null

  push(job: DeflateJob | null, run: (() => void) | null, bytes: number, callback: WriteCallback | undefined): void {
    this.entries.push({ job, run, bytes, callback })
    this.bytes += bytes
  }

  first(): QueuedOutput | undefined {
    return this.entries[this.head]
  }

  shift(): void {
    const entry = this.entries[this.head]
    this.entries[this.head++] = undefined as unknown as QueuedOutput
    this.bytes -= entry.bytes
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head)
      this.head = 0
    }
  }

  /** Empties the queue and returns what was in it. */
  drop(): QueuedOutput[] {
    const rest = this.entries.slice(this.head)
    this.entries = []
    this.head = 0
    this.bytes = 0
    return rest
  }
}
