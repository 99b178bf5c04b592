import { randomBytes } from 'node:crypto'
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'
import { Cluster, Redis } from 'ioredis'
import type { ClusterOptions, RedisOptions } from 'ioredis'
import type { Broker, BrokerSink, BrokerState, BrokerStats, Presence } from '../broker/broker'
import { PRESENCE_EXPIRY_MS } from '../broker/broker'
import { Utf8Validator } from '../protocol/utf8-validator'
import { decodeEnvelope, encodeEnvelope } from './envelope'
import { DeferredFlush } from './deferred-flush'
import { PRESENCE_SCRIPTS } from './presence-scripts'
import { redisEndpoint } from './redis-endpoint'
import { RedisPresence } from './redis-presence'
import { TopicSequences } from './topic-sequences'
import type { PresenceCommands } from './redis-presence'
import type { RedisEndpoint, RedisNode } from './redis-endpoint'

/** Where the broker reports outages and dropped input; `console` by default, `false` for silence. */
export interface RedisBrokerLogger {
  warn(message: string, ...details: unknown[]): void
  error?(message: string, ...details: unknown[]): void
}

/** Options of redisBroker(): one of `url` or `cluster`, the rest have safe defaults. */
export interface RedisBrokerOptions {
  /** `redis://[user:password@]host[:port][/db]`, or `rediss://…` for TLS. */
  url?: string
  /**
   * The nodes (URLs or `{ host, port }`) of a Redis Cluster (Redis 7+): messages then travel by
   * sharded pub/sub (SSUBSCRIBE/SPUBLISH), each topic on the shard that owns its slot.
   */
  cluster?: readonly (string | RedisNode)[]
  /** ACL user, when not in the URL. */
  username?: string
  /** Password, when not in the URL. Never logged. */
  password?: string
  /** TLS options (ca, cert, key, servername…) for `rediss://`. */
  tls?: TlsConnectionOptions
  /** Prefix of every channel and key the broker uses. Default `gatewire:`. No `{` or `}`. */
  keyPrefix?: string
  /** This instance's id (printable, up to 64 bytes). Default: 16 random hex digits. */
  instanceId?: string
  /**
   * When Redis cannot be reached at start: false (default) → start() rejects naming the URL
   * after `startTimeoutMs`; true → start() resolves in state 'reconnecting' and the broker keeps
   * retrying in the background (publishes meanwhile are counted as not delivered).
   */
  startAnyway?: boolean
  /** How long start() tries to reach Redis. Default 3000 ms. */
  startTimeoutMs?: number
  /** Publishes sent to Redis and not yet acknowledged, at most. Past it they are not delivered. Default 10,000. */
  maxQueued?: number
  /** Bytes of those publishes, at most. Default 16 MiB. */
  maxQueuedBytes?: number
  /** Reconnect delay: exponential from `min` to `max` ms, with jitter. Default { min: 50, max: 2000 }. */
  reconnectDelayMs?: { min: number; max: number }
  /** Members of a vanished instance expire after this. Default PRESENCE_EXPIRY_MS (30 s). */
  presenceExpiryMs?: number
  /** Largest presence data (as JSON) per member. Default 4096 bytes. */
  maxPresenceDataBytes?: number
  /**
   * How long presence() and synced() wait for Redis before rejecting (a stuck Redis answers
   * nothing and would otherwise hold them forever). Default 5000 ms.
   */
  replyTimeoutMs?: number
  /** Default: console. */
  logger?: RedisBrokerLogger | false
}

/** BrokerStats, and what only this broker counts. */
export interface RedisBrokerStats extends BrokerStats {
  /** Envelopes from Redis that could not be decoded (or had invalid UTF-8 text), dropped. */
  malformed: number
  /** Publishes sent to Redis and not yet acknowledged. */
  inFlight: number
}

type Client = Redis | Cluster

// Large (un)subscribe batches are split so that one command stays a reasonable size.
const INTEREST_CHUNK = 1000
const CLOSE_TIMEOUT_MS = 2000
const SILENT: RedisBrokerLogger = { warn() {} }
const CONSOLE: RedisBrokerLogger = {
  warn: (message, ...details) => console.warn(message, ...details),
  error: (message, ...details) => console.error(message, ...details),
}

/**
 * Creates a broker that carries a server's publishes and presence across instances through Redis
 * pub/sub: interest-based (an instance subscribes to a topic's channel only while it has local
 * subscribers), in order per publisher and topic, never queueing without bound.
 *
 * @example
 * import { redisBroker } from 'gatewire/redis'
 * const app = await bootstrap(AppModule, { broker: redisBroker({ url: process.env.REDIS_URL }) })
 */
export function redisBroker(options: RedisBrokerOptions): RedisBroker {
  return new RedisBroker(options)
}

/** The Redis implementation of Broker (see redisBroker()). */
export class RedisBroker implements Broker {
  readonly instanceId: string
  private readonly endpoint: RedisEndpoint
  private readonly prefix: string
  private readonly originBytes: Buffer
  private readonly startAnyway: boolean
  private readonly startTimeoutMs: number
  private readonly maxQueued: number
  private readonly maxQueuedBytes: number
  private readonly reconnectMin: number
  private readonly reconnectMax: number
  private readonly logger: RedisBrokerLogger
  private readonly replyTimeoutMs: number

  private stateValue: BrokerState = 'idle'
  private sink: BrokerSink | null = null
  /** Commands: publish and presence. */
  private commands: Client | null = null
  /** Subscriber-mode connection(s). */
  private subscriber: Client | null = null
  private commandsReady = false
  private subscriberReady = false
  private everReady = false
  private lastError: Error | undefined

  private readonly counters = { published: 0, received: 0, notDelivered: 0, reconnects: 0, malformed: 0 }
  private inFlight = 0
  private inFlightBytes = 0
  private readonly sequences = new TopicSequences()
  /** Not delivered since the backend was lost (for the log line on reconnect). */
  private outageDropped = 0
  private outageSince = 0
  private saturated = false
  private notConnected: { state: BrokerState; error: Error } | null = null
  private queueFull: Error | null = null

  /** Topics the server wants (first local subscriber came, last one has not left). */
  private readonly wanted = new Set<string>()
  /** Topics (un)subscribed at Redis, as far as sent commands go. */
  private readonly subscribed = new Set<string>()
  /** Topics whose interest changed since the last flush: only the net effect is sent. */
  private readonly interestChanged = new Set<string>()
  private interestInFlight: Promise<void> | null = null
  private readonly interestFlush = new DeferredFlush(() => this.flushInterest())

  private readonly utf8 = new Utf8Validator()
  private readonly presenceState: RedisPresence

  constructor(options: RedisBrokerOptions) {
    this.endpoint = redisEndpoint(options)
    this.prefix = options.keyPrefix ?? 'gatewire:'
    if (/[{}]/.test(this.prefix)) throw new TypeError(`gatewire/redis: keyPrefix '${this.prefix}' must not contain { or } (they pick Redis Cluster slots)`)
    this.instanceId = options.instanceId ?? randomBytes(8).toString('hex')
    this.originBytes = Buffer.from(this.instanceId, 'utf8')
    if (this.originBytes.length === 0 || this.originBytes.length > 64 || /[\0-\x1f]/.test(this.instanceId)) {
      throw new TypeError('gatewire/redis: instanceId must be 1 to 64 bytes of printable text')
    }
    this.startAnyway = options.startAnyway ?? false
    this.startTimeoutMs = positive(options.startTimeoutMs, 3000, 'startTimeoutMs')
    this.maxQueued = positive(options.maxQueued, 10_000, 'maxQueued')
    this.maxQueuedBytes = positive(options.maxQueuedBytes, 16 * 1024 * 1024, 'maxQueuedBytes')
    this.reconnectMin = positive(options.reconnectDelayMs?.min, 50, 'reconnectDelayMs.min')
    this.reconnectMax = positive(options.reconnectDelayMs?.max, 2000, 'reconnectDelayMs.max')
    this.logger = options.logger === false ? SILENT : (options.logger ?? CONSOLE)
    this.replyTimeoutMs = positive(options.replyTimeoutMs, 5000, 'replyTimeoutMs')
    this.presenceState = new RedisPresence({
      prefix: this.prefix,
      instanceId: this.instanceId,
      expiryMs: positive(options.presenceExpiryMs, PRESENCE_EXPIRY_MS, 'presenceExpiryMs'),
      maxDataBytes: positive(options.maxPresenceDataBytes, 4096, 'maxPresenceDataBytes'),
      client: () => (this.commandsReady ? (this.commands as unknown as PresenceCommands) : null),
      onWriteError: (topic, error) => this.logger.warn(`gatewire/redis: a presence write for '${topic}' failed (${error.message}); retrying`),
    })
  }

  get state(): BrokerState {
    return this.stateValue
  }

  /** Where the broker connects, without the password (for logs and errors). */
  get description(): string {
    return this.endpoint.description
  }

  start(sink: BrokerSink): Promise<void> {
    if (this.stateValue !== 'idle') return Promise.reject(new Error(`gatewire/redis: broker already started (state '${this.stateValue}')`))
    this.sink = sink
    this.setState('connecting')
    this.commands = this.createClient(false)
    this.subscriber = this.createClient(true)
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => settle(this.lastError ?? new Error('no answer')), this.startTimeoutMs)
      const settle = (failure?: Error): void => {
        clearTimeout(timer)
        this.commands?.off('error', onError)
        this.subscriber?.off('error', onError)
        this.onReady = null
        if (this.stateValue === 'closed') return reject(new Error(`gatewire/redis: closed while connecting to ${this.description}`))
        if (failure === undefined) return resolve()
        if (this.startAnyway) {
          this.logger.warn(`gatewire/redis: cannot reach ${this.description} (${failure.message}); starting anyway and retrying`)
          this.setState('reconnecting', failure)
          this.noteOutage()
          return resolve()
        }
        const error = new Error(`gatewire/redis: cannot reach ${this.description} within ${this.startTimeoutMs} ms: ${failure.message}`)
        this.teardown()
        this.setState('closed', error)
        reject(error)
      }
      const onError = (error: Error): void => {
        // Without startAnyway the attempt goes on until the timeout (Redis may be starting too).
        if (this.startAnyway) settle(error)
      }
      this.onReady = () => settle()
      this.commands?.on('error', onError)
      this.subscriber?.on('error', onError)
      this.commands?.connect().catch(() => {})
      this.subscriber?.connect().catch(() => {})
    })
  }

  subscribe(topic: string): void {
    if (this.stateValue === 'closed' || this.wanted.has(topic)) return
    this.wanted.add(topic)
    this.interestChanged.add(topic)
    this.scheduleInterest()
  }

  unsubscribe(topic: string): void {
    if (!this.wanted.delete(topic)) return
    this.interestChanged.add(topic)
    this.scheduleInterest()
  }

  publish(topic: string, payload: Uint8Array, binary: boolean): void {
    this.counters.published++
    const client = this.commands
    // The command connection alone decides: a publish needs no subscriber connection.
    if (client === null || !this.commandsReady || this.stateValue === 'closed') {
      // One Error per state, not one per dropped publish (capturing a stack costs microseconds).
      if (this.notConnected?.state !== this.stateValue) {
        this.notConnected = { state: this.stateValue, error: new Error(`gatewire/redis: ${this.description} is not connected (state '${this.stateValue}')`) }
      }
      this.dropped(topic, 1, this.notConnected.error)
      return
    }
    const size = payload.length + 11 + this.originBytes.length
    if (this.inFlight >= this.maxQueued || this.inFlightBytes + size > this.maxQueuedBytes) {
      if (!this.saturated) {
        this.saturated = true
        this.logger.warn(
          `gatewire/redis: ${this.inFlight} publishes (${this.inFlightBytes} bytes) wait for ${this.description}, which is slow or stuck; ` +
            'publishes past the bound are not delivered to other instances',
        )
      }
      this.queueFull ??= new Error(`gatewire/redis: too many publishes in flight to ${this.description} (maxQueued ${this.maxQueued}, maxQueuedBytes ${this.maxQueuedBytes})`)
      this.dropped(topic, 1, this.queueFull)
      return
    }
    const sequence = this.sequences.next(topic)
    const envelope = encodeEnvelope(this.originBytes, sequence, binary, payload)
    const channel = this.prefix + topic
    this.inFlight++
    this.inFlightBytes += envelope.length
    const sent = client instanceof Cluster ? client.spublish(channel, envelope) : client.publish(channel, envelope)
    sent.then(
      () => this.settlePublish(envelope.length),
      (error: Error) => {
        this.settlePublish(envelope.length)
        this.dropped(topic, 1, error)
      },
    )
  }

  join(topic: string, member: string, data: unknown): void {
    if (this.stateValue === 'closed') return
    this.presenceState.join(topic, member, data)
  }

  leave(topic: string, member: string): void {
    this.presenceState.leave(topic, member)
  }

  async presence(topic: string): Promise<Presence> {
    const client = this.commands
    if (client === null || !this.commandsReady) {
      throw new Error(`gatewire/redis: presence of '${topic}' unavailable: ${this.description} is not connected (state '${this.stateValue}')`)
    }
    const members = await this.answerWithin(this.presenceState.read(client as unknown as PresenceCommands, topic), `presence of '${topic}'`)
    return Object.freeze({ topic, count: members.length, members: Object.freeze(members) })
  }

  /**
   * Resolves once every subscribe, unsubscribe, join and leave so far has been acknowledged by
   * Redis. Rejects when Redis is not connected (nothing can be acknowledged then).
   */
  synced(): Promise<void> {
    return this.answerWithin(this.settle(), 'acknowledging subscriptions and presence')
  }

  private async settle(): Promise<void> {
    // Each round awaits the batches in flight; changes made meanwhile need at most one more.
    for (let round = 0; round < 100; round++) {
      if (this.stateValue !== 'ready') throw new Error(`gatewire/redis: not synced: ${this.description} is not connected (state '${this.stateValue}')`)
      const pending = this.interestChanged.size > 0 || this.interestInFlight !== null || this.interestFlush.pending || this.presenceState.pending
      if (!pending) return
      await Promise.all([this.interestInFlight, this.presenceState.writing, new Promise((resolve) => setImmediate(resolve))])
    }
    throw new Error('gatewire/redis: subscriptions and presence keep changing; not synced after 100 rounds')
  }

  /** `promise`, or a rejection naming `what` and the URL after replyTimeoutMs. */
  private answerWithin<T>(promise: Promise<T>, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`gatewire/redis: ${what}: no answer from ${this.description} within ${this.replyTimeoutMs} ms`)),
        this.replyTimeoutMs,
      )
      promise.then(
        (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        (error: unknown) => {
          clearTimeout(timer)
          reject(error)
        },
      )
    })
  }

  stats(): RedisBrokerStats {
    return { ...this.counters, topics: this.wanted.size, inFlight: this.inFlight }
  }

  close(): Promise<void> {
    if (this.stateValue === 'closed') return Promise.resolve()
    this.closing ??= this.shutdown()
    return this.closing
  }

  private closing: Promise<void> | null = null

  private async shutdown(): Promise<void> {
    const commands = this.commands
    this.wanted.clear()
    this.interestChanged.clear()
    // Our members leave at once rather than expiring later; bounded, so a stuck Redis cannot hold close().
    await withTimeout(this.presenceState.removeAll(this.commandsReady ? (commands as unknown as PresenceCommands) : null), CLOSE_TIMEOUT_MS)
    // Closing the subscriber connection ends its subscriptions at Redis.
    await withTimeout(Promise.allSettled([this.quit(this.subscriber), this.quit(commands)]), CLOSE_TIMEOUT_MS)
    this.teardown()
    this.setState('closed')
    // A start() still trying: it rejects now rather than at its timeout.
    const starting = this.onReady
    this.onReady = null
    starting?.()
    this.sink = null
  }

  // --- connections ---

  /** Called when both connections are ready (start() waits on it). */
  private onReady: (() => void) | null = null

  private createClient(subscriber: boolean): Client {
    const endpoint = this.endpoint
    const retryStrategy = (attempt: number): number => {
      // Exponential with "equal jitter": instances that lost Redis together do not return in lockstep.
      const ceiling = Math.min(this.reconnectMax, this.reconnectMin * 2 ** Math.min(attempt - 1, 20))
      return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
    }
    const common: RedisOptions = {
      username: endpoint.username,
      password: endpoint.password,
      tls: endpoint.tls,
      lazyConnect: true,
      connectionName: `gatewire:${this.instanceId}:${subscriber ? 'sub' : 'cmd'}`,
      connectTimeout: Math.min(this.startTimeoutMs, 10_000),
      // Nothing waits in ioredis while Redis is away: a publish fails at once and is counted.
      maxRetriesPerRequest: 0,
      // A command whose reply was lost may have run: resending could deliver a message twice.
      autoResendUnfulfilledCommands: false,
      // This broker re-subscribes itself, every topic in one batch, from its own record.
      autoResubscribe: false,
    }
    let client: Client
    if (endpoint.kind === 'standalone') {
      client = new Redis({
        ...common,
        host: endpoint.host,
        port: endpoint.port,
        db: endpoint.db,
        retryStrategy,
        enableOfflineQueue: false,
        // Publishes and presence writes of one tick leave in one write.
        enableAutoPipelining: !subscriber,
      })
    } else {
      const options: ClusterOptions = {
        lazyConnect: true,
        redisOptions: { ...common, autoResubscribe: true },
        clusterRetryStrategy: retryStrategy,
        enableOfflineQueue: false,
        enableAutoPipelining: !subscriber,
        shardedSubscribers: subscriber,
      }
      client = new Cluster(endpoint.nodes.map((node) => ({ host: node.host, port: node.port })), options)
    }
    if (!subscriber) {
      client.defineCommand('gwPresenceJoin', PRESENCE_SCRIPTS.join)
      client.defineCommand('gwPresenceRemove', PRESENCE_SCRIPTS.remove)
      client.defineCommand('gwPresenceRead', PRESENCE_SCRIPTS.read)
    } else {
      client.on(endpoint.kind === 'standalone' ? 'messageBuffer' : 'smessageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel, message))
    }
    client.on('error', (error: Error) => {
      this.lastError = error
    })
    client.on('ready', () => this.connectionUp(subscriber))
    client.on('close', () => this.connectionDown(subscriber))
    client.on('end', () => this.connectionDown(subscriber))
    return client
  }

  private connectionUp(subscriber: boolean): void {
    if (this.stateValue === 'closed') return
    if (subscriber) {
      this.subscriberReady = true
      if (this.endpoint.kind === 'standalone') {
        // A new connection has no subscriptions: everything wanted goes again, in one batch.
        this.subscribed.clear()
        for (const topic of this.wanted) this.interestChanged.add(topic)
      }
      this.scheduleInterest()
    } else {
      this.commandsReady = true
      this.presenceState.connected()
    }
    if (!this.commandsReady || !this.subscriberReady) return
    if (this.everReady) {
      this.counters.reconnects++
      this.logger.warn(
        `gatewire/redis: reconnected to ${this.description} after ${Date.now() - this.outageSince} ms; ` +
          `${this.outageDropped} messages published meanwhile were not delivered to other instances`,
      )
    }
    this.everReady = true
    this.outageDropped = 0
    this.setState('ready')
    const onReady = this.onReady
    this.onReady = null
    onReady?.()
  }

  private connectionDown(subscriber: boolean): void {
    if (subscriber) this.subscriberReady = false
    else this.commandsReady = false
    // close() quits the connections itself: that is no outage.
    if (this.stateValue !== 'ready' || this.closing !== null) return
    this.noteOutage()
    this.setState('reconnecting', this.lastError)
    this.logger.warn(
      `gatewire/redis: lost ${this.description}${this.lastError ? ` (${this.lastError.message})` : ''}; reconnecting. ` +
        'Publishes meanwhile are delivered locally only and counted as not delivered to other instances',
    )
  }

  private noteOutage(): void {
    this.outageSince = Date.now()
    this.outageDropped = 0
  }

  private quit(client: Client | null): Promise<unknown> {
    if (client === null) return Promise.resolve()
    if (client.status !== 'ready') {
      client.disconnect()
      return Promise.resolve()
    }
    return client.quit().catch(() => client.disconnect())
  }

  private teardown(): void {
    this.presenceState.stop()
    for (const client of [this.commands, this.subscriber]) {
      if (client === null) continue
      client.removeAllListeners('ready')
      client.removeAllListeners('close')
      client.removeAllListeners('end')
      client.disconnect()
    }
    this.commandsReady = false
    this.subscriberReady = false
  }

  private setState(state: BrokerState, error?: Error): void {
    if (this.stateValue === state) return
    this.stateValue = state
    try {
      this.sink?.stateChange?.(state, error)
    } catch (failure) {
      this.logger.error?.('gatewire/redis: the broker sink threw on stateChange', failure)
    }
  }

  // --- publish bookkeeping ---

  private settlePublish(bytes: number): void {
    this.inFlight--
    this.inFlightBytes -= bytes
    if (this.saturated && this.inFlight < this.maxQueued / 2) this.saturated = false
  }

  private dropped(topic: string, count: number, error: Error): void {
    this.counters.notDelivered += count
    this.outageDropped += count
    try {
      this.sink?.notDelivered?.(topic, count, error)
    } catch (failure) {
      this.logger.error?.('gatewire/redis: the broker sink threw on notDelivered', failure)
    }
  }

  // --- receiving ---

  private receive(channel: Buffer, message: Buffer): void {
    const sink = this.sink
    if (sink === null) return
    const name = channel.toString('utf8')
    if (!name.startsWith(this.prefix)) return
    const topic = name.slice(this.prefix.length)
    // Unsubscribed meanwhile (the UNSUBSCRIBE may still be on its way): not ours any more.
    if (!this.wanted.has(topic)) return
    const envelope = decodeEnvelope(message)
    if (typeof envelope === 'string') return this.malformed(topic, envelope)
    // Redis echoes a publish to every subscriber, this instance too: it delivered locally already.
    if (envelope.origin === this.instanceId) return
    if (!envelope.binary) {
      this.utf8.reset()
      if (!this.utf8.push(envelope.payload) || !this.utf8.end()) return this.malformed(topic, 'text payload is not valid UTF-8')
    }
    this.counters.received++
    try {
      sink.message({
        topic,
        binary: envelope.binary,
        payload: envelope.payload,
        origin: envelope.origin,
        sequence: envelope.sequence,
        position: envelope.position,
        utf8Checked: !envelope.binary,
      })
    } catch (error) {
      this.logger.error?.('gatewire/redis: the broker sink threw on a message', error)
    }
  }

  private malformed(topic: string, why: string): void {
    this.counters.malformed++
    // The first of each power of ten: a flood of bad input cannot flood the log.
    const n = this.counters.malformed
    if (Math.log10(n) % 1 === 0) this.logger.warn(`gatewire/redis: dropped a malformed message on '${topic}' (${why}); ${n} so far`)
  }

  // --- interest (SUBSCRIBE / SSUBSCRIBE) ---

  private scheduleInterest(): void {
    // One macrotask later: every (un)subscribe of this tick goes in one batch, net effect only.
    this.interestFlush.schedule()
  }

  private flushInterest(): void {
    const client = this.subscriber
    // One batch at a time: a slow Redis sees a bounded number of commands, not one per change.
    if (client === null || !this.subscriberReady || this.interestInFlight !== null || this.interestChanged.size === 0) return
    const add: string[] = []
    const remove: string[] = []
    for (const topic of this.interestChanged) {
      const want = this.wanted.has(topic)
      if (want && !this.subscribed.has(topic)) add.push(topic)
      else if (!want && this.subscribed.has(topic)) remove.push(topic)
    }
    this.interestChanged.clear()
    for (const topic of add) this.subscribed.add(topic)
    for (const topic of remove) this.subscribed.delete(topic)
    const sent: Promise<unknown>[] = []
    const send = (topics: string[], subscribe: boolean): void => {
      const revert = (): void => {
        for (const topic of topics) {
          if (subscribe) this.subscribed.delete(topic)
          else this.subscribed.add(topic)
          this.interestChanged.add(topic)
        }
      }
      sent.push(this.interestCommand(client, topics, subscribe).catch(revert))
    }
    if (this.endpoint.kind === 'standalone') {
      for (let i = 0; i < add.length; i += INTEREST_CHUNK) send(add.slice(i, i + INTEREST_CHUNK), true)
      for (let i = 0; i < remove.length; i += INTEREST_CHUNK) send(remove.slice(i, i + INTEREST_CHUNK), false)
    } else {
      // Channels of one SSUBSCRIBE must share a slot; each topic has its own, so one command
      // each, all written at once (pipelined, not one round trip each).
      for (const topic of add) send([topic], true)
      for (const topic of remove) send([topic], false)
    }
    if (sent.length === 0) return
    this.interestInFlight = Promise.all(sent).then(() => {
      this.interestInFlight = null
      if (this.interestChanged.size > 0) this.scheduleInterest()
    })
  }

  private interestCommand(client: Client, topics: string[], subscribe: boolean): Promise<unknown> {
    const channels = topics.map((topic) => this.prefix + topic)
    if (client instanceof Cluster) return subscribe ? client.ssubscribe(...channels) : client.sunsubscribe(...channels)
    return subscribe ? client.subscribe(...channels) : client.unsubscribe(...channels)
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`gatewire/redis: ${name} must be a positive number (got ${value})`)
  return value
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms)
    void promise.then((value) => {
      clearTimeout(timer)
      resolve(value)
    })
  })
}
