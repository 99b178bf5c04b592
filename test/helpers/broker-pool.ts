import { redisBroker } from '../../src/redis'
import type { RedisBroker, RedisBrokerOptions } from '../../src/redis'
import { RecordingSink } from './recording-sink'

/** Brokers and sinks a test opened, closed in afterEach. */
export class BrokerPool {
  readonly brokers: RedisBroker[] = []

  async start(options: RedisBrokerOptions): Promise<{ broker: RedisBroker; sink: RecordingSink }> {
    const broker = this.add(options)
    const sink = new RecordingSink()
    await broker.start(sink)
    return { broker, sink }
  }

  add(options: RedisBrokerOptions): RedisBroker {
    const broker = redisBroker({ logger: false, ...options })
    this.brokers.push(broker)
    return broker
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.brokers.splice(0).map((broker) => broker.close()))
  }
}
