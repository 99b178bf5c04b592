import type { BrokerMessage, BrokerSink, BrokerState } from '../../src/broker/broker'

/**
 * A BrokerSink that records what a broker hands it and lets a test await a condition: checked on
 * every event, failing with `what` (not a bare timeout) when it does not hold in time.
 */
export class RecordingSink implements BrokerSink {
  readonly messages: BrokerMessage[] = []
  readonly states: Array<{ state: BrokerState; error?: Error }> = []
  notDeliveredCount = 0
  private readonly waiters = new Set<() => void>()

  message(message: BrokerMessage): void {
    // A copy: the payload is a view into the received buffer.
    this.messages.push({ ...message, payload: Buffer.from(message.payload) })
    this.check()
  }

  stateChange(state: BrokerState, error?: Error): void {
    this.states.push({ state, error })
    this.check()
  }

  notDelivered(_topic: string, count: number): void {
    this.notDeliveredCount += count
    this.check()
  }

  /** Texts of the messages received on `topic`, in arrival order. */
  texts(topic: string): string[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => m.payload.toString('utf8'))
  }

  /** Resolves when `condition()` holds; rejects with an Error naming `what` after `timeoutMs`. */
  until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (condition()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return
        cleanup()
        resolve()
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`))
      }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
    })
  }

  private check(): void {
    for (const waiter of [...this.waiters]) waiter()
  }
}
