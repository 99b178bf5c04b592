import { EventEmitter } from 'node:events'

/** A stand-in for the transport's Connection: records what the framework sends and closes. */
export class FakeConnection extends EventEmitter {
  readyState: 0 | 1 | 2 | 3 = 1
  readonly sent: (string | Buffer)[] = []
  closedWith: { code?: number; reason?: string } | undefined
  data: Record<string, unknown> = {}
  /** When false, send* report backpressure and `drain()` waits for `release()`. */
  writable = true
  private waiting: (() => void)[] = []
  pings = 0
  terminated = false
  /** What the transport reports as unsent; tests set it. */
  bufferedAmount = 0
  /** The framework's session, as on the transport's Connection. */
  owner: unknown = undefined
  /** As Connection#alive: false after a heartbeat ping until a pong arrives. */
  alive = true

  constructor(
    readonly request: unknown = undefined,
    readonly protocol: string | undefined = undefined,
    readonly headers: Record<string, string> = {},
  ) {
    super()
  }

  private readonly sentWaiters: { count: number; resolve: () => void }[] = []

  sendText(text: string): boolean {
    this.record(text)
    return this.writable
  }
  sendBinary(data: Buffer | Uint8Array): boolean {
    this.record(Buffer.from(data))
    return this.writable
  }
  private record(message: string | Buffer): void {
    this.sent.push(message)
    for (const waiter of [...this.sentWaiters]) {
      if (this.sent.length >= waiter.count) {
        this.sentWaiters.splice(this.sentWaiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  }
  sendPing(): boolean {
    this.pings++
    return true
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason }
    this.readyState = 2
  }
  terminate(): void {
    this.terminated = true
  }
  drain(): Promise<void> {
    if (this.writable) return Promise.resolve()
    return new Promise((resolve) => this.waiting.push(resolve))
  }
  get waitingForDrain(): number {
    return this.waiting.length
  }
  release(): void {
    this.writable = true
    this.bufferedAmount = 0
    for (const resolve of this.waiting.splice(0)) resolve()
  }
  /** Resolves once `sent` holds `count` messages. */
  async sentCount(count: number): Promise<(string | Buffer)[]> {
    if (this.sent.length < count) await new Promise<void>((resolve) => this.sentWaiters.push({ count, resolve }))
    return this.sent
  }
}
