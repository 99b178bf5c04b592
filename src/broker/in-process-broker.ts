import { randomBytes } from 'node:crypto'
import type { Broker, BrokerMessage, BrokerSink, BrokerState, BrokerStats, Presence, PresenceMember } from './broker'

/** A topic some brokers of a hub are subscribed to, and each publisher's sequence number for it. */
interface HubTopic {
  readonly subscribers: Set<InProcessBroker>
  /** Created by the first publish that reaches another broker: a lone server's topics need none. */
  sequences: Map<InProcessBroker, number> | null
}

/**
 * Connects the in-process brokers of several servers in one process, so that they share topics
 * and presence as separate instances would through Redis: an http and an https server of one
 * app, or tests of multi-instance behaviour without a Redis.
 *
 * @example
 * const hub = new InProcessHub()
 * const plain = createServer({ broker: hub.broker() }).listen(8080)
 * const secure = createServer({ broker: hub.broker(), server: httpsServer })
 * plain.publish('news', 'reaches the subscribers of both servers')
 */
export class InProcessHub {
  private readonly topics = new Map<string, HubTopic>()
  /** topic → (instance id + '\0' + member id) → member. */
  private readonly presenceByTopic = new Map<string, Map<string, PresenceMember>>()

  /** A new broker (one instance) on this hub. */
  broker(options: { instanceId?: string } = {}): InProcessBroker {
    return new InProcessBroker(this, options.instanceId)
  }

  /** @internal */
  subscribe(broker: InProcessBroker, topic: string): void {
    let entry = this.topics.get(topic)
    if (entry === undefined) this.topics.set(topic, (entry = { subscribers: new Set(), sequences: null }))
    entry.subscribers.add(broker)
  }

  /** @internal */
  unsubscribe(broker: InProcessBroker, topic: string): void {
    const entry = this.topics.get(topic)
    if (entry === undefined) return
    entry.subscribers.delete(broker)
    // Empty topics go, and with them their sequence numbers: memory follows live interest.
    if (entry.subscribers.size === 0) this.topics.delete(topic)
  }

  /** @internal Delivers to every other subscribed broker; returns how many it reached. */
  publish(origin: InProcessBroker, topic: string, payload: Uint8Array, binary: boolean): number {
    const entry = this.topics.get(topic)
    if (entry === undefined) return 0
    const subscribers = entry.subscribers
    // The common case, a server alone on its hub: nobody else to deliver to.
    if (subscribers.size === 1 && subscribers.has(origin)) return 0
    const sequences = (entry.sequences ??= new Map())
    const sequence = (sequences.get(origin) ?? 0) + 1
    sequences.set(origin, sequence)
    // No copy: publish() promises the payload never changes (Broker.publish), and every receiver
    // builds its own frame from it.
    const bytes = payload instanceof Buffer ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length)
    const message: BrokerMessage = { topic, binary, payload: bytes, origin: origin.instanceId, sequence }
    let reached = 0
    for (const broker of subscribers) {
      if (broker === origin) continue
      broker.deliver(message)
      reached++
    }
    return reached
  }

  /** @internal */
  join(instance: string, topic: string, member: string, data: unknown): void {
    let members = this.presenceByTopic.get(topic)
    if (members === undefined) this.presenceByTopic.set(topic, (members = new Map()))
    // A copy through JSON, as a networked broker stores it: later changes by the app don't show.
    const stored = data === undefined ? null : (JSON.parse(JSON.stringify(data)) as unknown)
    members.set(`${instance}\0${member}`, Object.freeze({ id: member, instance, data: stored }))
  }

  /** @internal */
  leave(instance: string, topic: string, member: string): void {
    const members = this.presenceByTopic.get(topic)
    if (members === undefined) return
    members.delete(`${instance}\0${member}`)
    if (members.size === 0) this.presenceByTopic.delete(topic)
  }

  /** @internal */
  presence(topic: string): Presence {
    const members = [...(this.presenceByTopic.get(topic)?.values() ?? [])]
    return Object.freeze({ topic, count: members.length, members: Object.freeze(members) })
  }
}

/**
 * The default broker: a server's publishes reach its own subscribers only. Brokers from one
 * InProcessHub (`hub.broker()`) also carry messages and presence between the servers of one
 * process. Delivery between them is synchronous, inside the publisher's `publish()`.
 */
export class InProcessBroker implements Broker {
  readonly instanceId: string
  private stateValue: BrokerState = 'idle'
  private sink: BrokerSink | null = null
  private readonly hub: InProcessHub
  /** On a hub with others (hub.broker()); a broker alone keeps no interest in its private hub. */
  private readonly shared: boolean
  private readonly subscribed = new Set<string>()
  /** topic → members of this instance in it (for close()). */
  private readonly joined = new Map<string, Set<string>>()
  private readonly counters: BrokerStats = { published: 0, received: 0, notDelivered: 0, reconnects: 0, topics: 0 }

  /** A broker of its own (one instance), or of `hub`. */
  constructor(hub?: InProcessHub, instanceId?: string) {
    this.hub = hub ?? new InProcessHub()
    this.shared = hub !== undefined
    this.instanceId = instanceId ?? randomBytes(8).toString('hex')
  }

  get state(): BrokerState {
    return this.stateValue
  }

  start(sink: BrokerSink): Promise<void> {
    if (this.stateValue !== 'idle') return Promise.reject(new Error(`broker already started (state '${this.stateValue}')`))
    this.sink = sink
    this.setState('ready')
    return Promise.resolve()
  }

  subscribe(topic: string): void {
    if (this.stateValue === 'closed' || this.subscribed.has(topic)) return
    this.subscribed.add(topic)
    this.counters.topics = this.subscribed.size
    if (this.shared) this.hub.subscribe(this, topic)
  }

  unsubscribe(topic: string): void {
    if (!this.subscribed.delete(topic)) return
    this.counters.topics = this.subscribed.size
    if (this.shared) this.hub.unsubscribe(this, topic)
  }

  publish(topic: string, payload: Uint8Array, binary: boolean): void {
    if (this.stateValue === 'closed') {
      this.counters.notDelivered++
      return
    }
    this.counters.published++
    if (this.shared) this.hub.publish(this, topic, payload, binary)
  }

  join(topic: string, member: string, data: unknown): void {
    if (this.stateValue === 'closed') return
    this.hub.join(this.instanceId, topic, member, data)
    let members = this.joined.get(topic)
    if (members === undefined) this.joined.set(topic, (members = new Set()))
    members.add(member)
  }

  leave(topic: string, member: string): void {
    const members = this.joined.get(topic)
    if (members === undefined || !members.delete(member)) return
    if (members.size === 0) this.joined.delete(topic)
    this.hub.leave(this.instanceId, topic, member)
  }

  presence(topic: string): Promise<Presence> {
    return Promise.resolve(this.hub.presence(topic))
  }

  /** Resolves at once: the hub applies every call when it is made. */
  synced(): Promise<void> {
    return Promise.resolve()
  }

  stats(): BrokerStats {
    return { ...this.counters }
  }

  close(): Promise<void> {
    if (this.stateValue === 'closed') return Promise.resolve()
    if (this.shared) for (const topic of this.subscribed) this.hub.unsubscribe(this, topic)
    this.subscribed.clear()
    this.counters.topics = 0
    for (const [topic, members] of this.joined) for (const member of members) this.hub.leave(this.instanceId, topic, member)
    this.joined.clear()
    this.setState('closed')
    this.sink = null
    return Promise.resolve()
  }

  /** @internal A message of another broker of the hub. */
  deliver(message: BrokerMessage): void {
    const sink = this.sink
    if (sink === null) return
    this.counters.received++
    try {
      sink.message(message)
    } catch (error) {
      // One instance's failure must not reach the publisher (another server) through the hub.
      console.error('gatewire: a broker sink threw', error)
    }
  }

  private setState(state: BrokerState): void {
    this.stateValue = state
    this.sink?.stateChange?.(state)
  }
}
