/**
 * The seam between a server's topics and the outside world. A server delivers every publish to
 * its own subscribers at once and hands it to its broker, which carries it to the other
 * instances (processes, machines) that have subscribers of the topic; what comes back from the
 * broker is delivered to local subscribers only. The in-process broker carries nothing (one
 * instance); the Redis broker (`gatewire/redis`) carries messages over Redis pub/sub.
 *
 * A broker never blocks a publish: it queues within bounds and counts what it could not carry
 * (`stats().notDelivered`), so local delivery goes on whatever the broker's state.
 *
 * Every implementation runs the shared conformance suite in test/broker/broker-conformance.ts.
 */
export interface Broker {
  /** This instance's id, unique across every instance sharing the broker (random by default). */
  readonly instanceId: string
  /** Where the broker is in its life: see BrokerState. */
  readonly state: BrokerState

  /**
   * Connects and starts delivering other instances' messages to `sink`. Resolves when ready;
   * rejects with an error naming what could not be reached, unless the broker was configured to
   * start anyway and retry in the background (then it resolves in state 'reconnecting').
   * Called once, by the server that owns the broker.
   */
  start(sink: BrokerSink): Promise<void>

  /**
   * This instance has its first local subscriber to `topic`: receive the topic's messages from
   * now on. Idempotent per topic. Subscribes issued together are batched (pipelined), never one
   * round trip each. While disconnected the interest is kept and re-established on reconnect.
   */
  subscribe(topic: string): void
  /** The last local subscriber of `topic` left: stop receiving it. Idempotent per topic. */
  unsubscribe(topic: string): void

  /**
   * Carries a message to the other instances' subscribers of `topic`. The publishing instance
   * has already delivered it locally and must not receive it back. Messages of one instance to
   * one topic arrive at every other instance in publish order. Never throws for a broker
   * outage: what cannot be carried is counted in stats().notDelivered (and reported to the sink).
   * `payload` is never changed after the call (the server hands over a view of its built frame),
   * so a broker may keep a reference to it (queue it, pipeline it) without copying.
   */
  publish(topic: string, payload: Uint8Array, binary: boolean): void

  /**
   * Presence: `member` (unique per instance, e.g. a connection id) is in `topic`, with a small
   * JSON-serialisable `data` the application chose (a nickname). Members of an instance that
   * stops without leaving expire within PRESENCE_EXPIRY_MS.
   */
  join(topic: string, member: string, data: unknown): void
  /** `member` left `topic`. */
  leave(topic: string, member: string): void
  /** Everyone in `topic` on every instance, in one round trip (never a gather over instances). */
  presence(topic: string): Promise<Presence>

  /**
   * Resolves once every subscribe, unsubscribe, join and leave issued so far has taken effect
   * at the backend (for Redis: the server acknowledged them), so that a message another instance
   * publishes from then on reaches this one, and presence() anywhere shows the joins. Tests and
   * the conformance suite need it to know when interest is established; servers don't wait on it.
   * Optional in the type so that brokers written before it still compile; the conformance suite
   * requires it.
   */
  synced?(): Promise<void>

  /** Counters since start (cheap to read). */
  stats(): BrokerStats

  /** Leaves every topic and presence entry of this instance and disconnects. Idempotent. */
  close(): Promise<void>
}

/** What a broker delivers to its server. */
export interface BrokerSink {
  /** A message another instance published, to be delivered to this instance's subscribers. */
  message(message: BrokerMessage): void
  /** The broker's state changed; `error` says why when it is a failure. For logs, metrics, health. */
  stateChange?(state: BrokerState, error?: Error): void
  /** Messages could not be carried to other instances (an outage); `count` of them, on `topic`. */
  notDelivered?(topic: string, count: number, error: Error): void
}

/**
 * - 'connecting': start() was called and has not finished;
 * - 'ready': carrying messages;
 * - 'reconnecting': lost (or never reached) its backend, retrying; local delivery goes on, and
 *   what is published meanwhile is counted as not delivered across instances;
 * - 'closed': close() was called.
 */
export type BrokerState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'closed'

/**
 * One published message as it arrives from another instance. The format leaves room for
 * message history: `position` is the message's place in its topic's log where the broker keeps
 * one (undefined when it does not), so that a reconnecting client can ask for what it missed.
 */
export interface BrokerMessage {
  readonly topic: string
  /** Binary (true) or text (false: `payload` must be valid UTF-8). */
  readonly binary: boolean
  readonly payload: Buffer
  /**
   * True when the broker has itself checked that a text payload is valid UTF-8 (it read it from
   * outside the process, as the Redis broker does); otherwise the server checks it once per
   * message before any subscriber gets it, and drops it with an 'error' when it is not.
   */
  readonly utf8Checked?: boolean
  /** The publishing instance's id. */
  readonly origin: string
  /** The publisher's sequence number for this topic (1, 2, 3 ...): order and gap detection. */
  readonly sequence: number
  /** The message's position in the topic's history, where the broker keeps one. */
  readonly position?: string
}

export interface PresenceMember {
  /** The member's id (unique within its instance). */
  readonly id: string
  /** The instance the member is connected to. */
  readonly instance: string
  /** What the application attached when the member joined. */
  readonly data: unknown
}

export interface Presence {
  readonly topic: string
  readonly count: number
  readonly members: readonly PresenceMember[]
}

export interface BrokerStats {
  /** Messages handed to publish(). */
  published: number
  /** Messages received from other instances and given to the sink. */
  received: number
  /** Messages that could not be carried to other instances (outage, queue full). */
  notDelivered: number
  /** Times the broker reconnected after losing its backend. */
  reconnects: number
  /** Topics this instance is subscribed to through the broker. */
  topics: number
}

/** Members of an instance that vanished without leaving are gone from presence within this. */
export const PRESENCE_EXPIRY_MS = 30_000
