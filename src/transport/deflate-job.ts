// From the defining modules, as everywhere in transport (see connection.ts).
import type { PerMessageDeflate } from '../protocol/extensions/per-message-deflate'
import { writeFrameHeader } from '../protocol/frame-builder'

/** RFC 7692 §6: RSV1 marks a compressed message. */
const RSV1 = 0x40

/** What waits for a job: a connection, whose queued output resumes when the job is done. */
export interface DeflateJobWaiter {
  deflateJobDone(job: DeflateJob): void
}

/** Jobs waiting for a slot, process-wide, in submission order. */
const waiting: DeflateJob[] = []
let running = 0

/**
 * One message compressed off the main thread (PerMessageDeflate.compressAsync), for one
 * connection's send or for every compatible subscriber of one publish. Jobs share a
 * process-wide bound: a job starts while fewer jobs than its connection's `maxAsyncJobs` run,
 * the others wait in order. A job nobody waits for any more (its connections closed) leaves the
 * queue at once; one already running finishes on the thread pool (zlib work cannot be
 * interrupted) and its output is dropped.
 */
export class DeflateJob {
  /** Jobs running on the thread pool now, process-wide. */
  static get running(): number {
    return running
  }

  /** Jobs waiting for a slot, process-wide. */
  static get queued(): number {
    return waiting.length
  }

  /** 0 not submitted, 1 waiting for a slot, 2 running, 3 done. */
  private state: 0 | 1 | 2 | 3 = 0
  private waiters: DeflateJobWaiter[] = []
  private data: Buffer | null
  /** The compressed payload once done (null before, and after a failure). */
  payload: Buffer | null = null
  error: Error | null = null
  private frameValue: Buffer | null = null

  constructor(
    private readonly compression: PerMessageDeflate,
    data: Buffer,
    /** The message's opcode (text or binary). */
    readonly opcode: number,
    /** A publish's job: every subscriber queues the same frame() (unmasked, so server side only). */
    readonly shared: boolean,
  ) {
    this.data = data
  }

  /** Bytes of the message being compressed. */
  get size(): number {
    return this.data === null ? (this.payload?.length ?? 0) : this.data.length
  }

  get done(): boolean {
    return this.state === 3
  }

  /** Queues the job for a slot (a publish starts at once; a send when its turn comes). */
  submit(): void {
    if (this.state !== 0) return
    this.state = 1
    waiting.push(this)
    startWaiting()
  }

  /** Calls `waiter.deflateJobDone(this)` once the job is done, submitting it if nobody has. */
  wait(waiter: DeflateJobWaiter): void {
    this.waiters.push(waiter)
    this.submit()
  }

  /** `waiter` is gone (closed): a queued job nobody else waits for is dropped. */
  leave(waiter: DeflateJobWaiter): void {
    const at = this.waiters.indexOf(waiter)
    if (at !== -1) this.waiters.splice(at, 1)
    if (this.waiters.length === 0 && this.state === 1) {
      waiting.splice(waiting.indexOf(this), 1)
      this.state = 0
      this.data = null
    }
  }

  /** The whole compressed frame, unmasked, RSV1 set: built once for every subscriber of a publish. */
  frame(): Buffer {
    return (this.frameValue ??= compressedFrame(this.opcode, this.payload!))
  }

  private start(): void {
    this.state = 2
    running++
    const data = this.data!
    this.data = null
    this.compression.compressAsync(data, (error, payload) => {
      running--
      this.state = 3
      if (error !== null) this.error = error
      else this.payload = payload
      const waiters = this.waiters
      this.waiters = []
      // Slots first: the next job runs while the waiters write this one.
      startWaiting()
      for (const waiter of waiters) waiter.deflateJobDone(this)
    })
  }

  /** The connection's own bound (maxAsyncJobs). */
  private get limit(): number {
    return this.compression.options.maxAsyncJobs
  }
}

/** A FIN frame, unmasked, RSV1 set, carrying an already compressed payload. */
export function compressedFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length
  const frame = Buffer.allocUnsafe((length < 126 ? 2 : length <= 0xffff ? 4 : 10) + length)
  frame.set(payload, writeFrameHeader(frame, 0, opcode, true, length, null, RSV1))
  return frame
}

function startWaiting(): void {
  while (waiting.length !== 0 && running < waiting[0]['limit']) waiting.shift()!['start']()
}
