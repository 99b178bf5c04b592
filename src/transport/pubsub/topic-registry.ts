import type { Broker, BrokerMessage, BrokerSink, BrokerState, Presence } from '../../broker/broker'
// From the defining modules, as everywhere in transport (see connection.ts).
import { Opcode } from '../../protocol/constants'
import { isValidUtf8 } from '../../protocol/utf8-validator'
import type { Connection } from '../connection'
import { CompressedPublish } from './compressed-publish'
import { connectionId } from './connection-id'
import { publishedFrame, publishedPayload } from './published-frame'
import { PublishedRun } from './published-run'

/** Longest topic name, in UTF-16 units: topics often come from clients (a room in the URL). */
export const MAX_TOPIC_LENGTH = 1024
/** Largest presence data, as JSON in UTF-8 bytes: it is stored per member by the broker. */
export const MAX_PRESENCE_BYTES = 1024

export interface SubscribeOptions {
  /**
   * Makes this connection a member of the topic's presence, with this small JSON-serialisable
   * data (e.g. `{ name }`, at most MAX_PRESENCE_BYTES as JSON). Without it the connection
   * receives the topic's messages but does not appear in `server.presence(topic)`.
   */
  presence?: unknown
}

export interface PublishOptions {
  /** A local connection not to deliver to (usually the sender). */
  except?: Connection<object>
}

type AnyConnection = Connection<object>

/**
 * One server's topics: which of its connections subscribe to what, and the fan-out of a
 * publish to them. The index is topic → Set of connections (a publish walks one Set) and
 * connection → its topic or topics, kept here rather than on the Connection so that a
 * connection that never subscribes costs nothing; empty entries are deleted.
 *
 * Every publish is also handed to the broker, and what the broker brings from other instances
 * is delivered to the local subscribers only.
 */
export class TopicRegistry implements BrokerSink {
  private readonly subscribers = new Map<string, Set<AnyConnection>>()
  /** A connection's one topic as a string (the common case: one room), or a Set of them. */
  private readonly byConnection = new Map<AnyConnection, string | Set<string>>()
  /** topic → its local subscribers that joined its presence. */
  private readonly present = new Map<string, Set<AnyConnection>>()
  /** topic → live collections whose every connection is a subscriber (see subscribeAll). */
  private readonly groups = new Map<string, Set<Iterable<AnyConnection>>>()
  /** topic → what it publishes in this event-loop iteration (see PublishedRun), written at its end. */
  private readonly runs = new Map<string, PublishedRun>()
  private runsScheduled = false
  private starting: Promise<void> | null = null

  constructor(
    readonly broker: Broker,
    /** Where failures go (the server's 'error' event); `starting` for a broker that failed to start. */
    private readonly onError: (error: Error, starting: boolean) => void,
    /** Broker state changes, for the server's 'broker' event. */
    private readonly onState: (state: BrokerState, error?: Error) => void,
  ) {}

  /** Starts the broker once; later calls return the same promise. */
  start(): Promise<void> {
    if (this.starting === null) {
      this.starting = this.broker.start(this)
      // Reported through onError; callers of start() (server.ready()) still see the rejection.
      this.starting.catch((error: unknown) => this.onError(asError(error), true))
    }
    return this.starting
  }

  /** Closes the broker (after the server's connections, so that their leaves go first). */
  close(): Promise<void> {
    return this.broker.close()
  }

  subscribe(connection: AnyConnection, topic: string, options?: SubscribeOptions): boolean {
    checkTopic(topic)
    const presence = options?.presence
    const joining = presence !== undefined && checkPresence(presence)
    if (connection.readyState !== 1) return false
    const mine = this.byConnection.get(connection)
    if (mine === topic || (typeof mine === 'object' && mine.has(topic))) return false
    if (mine === undefined) this.byConnection.set(connection, topic)
    else if (typeof mine === 'string') this.byConnection.set(connection, new Set([mine, topic]))
    else mine.add(topic)
    let set = this.subscribers.get(topic)
    if (set === undefined) {
      this.subscribers.set(topic, (set = new Set()))
      this.interested(topic)
    }
    set.add(connection)
    const run = this.runs.get(topic)
    if (run !== undefined) run.subscribed(connection)
    if (joining) {
      let members = this.present.get(topic)
      if (members === undefined) this.present.set(topic, (members = new Set()))
      members.add(connection)
      this.broker.join(topic, connectionId(connection), presence)
    }
    return true
  }

  unsubscribe(connection: AnyConnection, topic: string): boolean {
    const mine = this.byConnection.get(connection)
    if (mine === topic) this.byConnection.delete(connection)
    else if (typeof mine === 'object' && mine.delete(topic)) {
      if (mine.size === 1) this.byConnection.set(connection, mine.values().next().value as string)
    } else return false
    this.leave(connection, topic)
    return true
  }

  /** The topics `connection` subscribes to (a new array each call). */
  topicsOf(connection: AnyConnection): readonly string[] {
    const mine = this.byConnection.get(connection)
    return mine === undefined ? NO_TOPICS : typeof mine === 'string' ? [mine] : [...mine]
  }

  /** The connection has closed: its subscriptions and presence end. */
  drop(connection: AnyConnection): void {
    const mine = this.byConnection.get(connection)
    if (mine === undefined) return
    this.byConnection.delete(connection)
    if (typeof mine === 'string') this.leave(connection, mine)
    else for (const topic of mine) this.leave(connection, topic)
  }

  subscriberCount(topic: string): number {
    return this.subscribers.get(topic)?.size ?? 0
  }

  topics(): string[] {
    if (this.groups.size === 0) return [...this.subscribers.keys()]
    return [...new Set([...this.subscribers.keys(), ...this.groups.keys()])]
  }

  /**
   * Makes every connection in `connections` (a live collection the caller keeps, such as the
   * open connections of one gateway) a subscriber of `topic` without a subscription each: a
   * publish walks the collection. The returned function ends it. Interest in the topic (the
   * broker's subscription) lasts while a group or a subscriber remains.
   */
  subscribeAll(topic: string, connections: Iterable<AnyConnection>): () => void {
    checkTopic(topic)
    let groups = this.groups.get(topic)
    if (groups === undefined) {
      this.groups.set(topic, (groups = new Set()))
      if (!this.subscribers.has(topic)) this.interested(topic)
    }
    groups.add(connections)
    let ended = false
    return () => {
      if (ended) return
      ended = true
      const current = this.groups.get(topic)
      if (current === undefined || !current.delete(connections) || current.size !== 0) return
      this.groups.delete(topic)
      if (!this.subscribers.has(topic)) this.broker.unsubscribe(topic)
    }
  }

  /**
   * Builds the message's frame once, writes it to every local subscriber but `except`, and
   * hands the payload to the broker. Returns how many local subscribers it was queued for.
   */
  publish(topic: string, message: string | Uint8Array, options?: PublishOptions): number {
    checkTopic(topic)
    let opcode: number
    if (typeof message === 'string') opcode = Opcode.Text
    else if (message instanceof Uint8Array) opcode = Opcode.Binary
    else throw new TypeError('publish expects a string (text) or a Buffer/Uint8Array (binary)')
    const frame = publishedFrame(opcode, message)
    const delivered = this.deliver(topic, frame, options?.except)
    if (this.starting === null) void this.start()
    try {
      this.broker.publish(topic, publishedPayload(frame), opcode === Opcode.Binary)
    } catch (error) {
      // The contract says a broker never throws on publish; one that does must not stop local delivery.
      this.onError(asError(error), false)
    }
    return delivered
  }

  /** Rejects (rather than throws) for a bad topic, as for any other failure of the question. */
  presence(topic: string): Promise<Presence> {
    try {
      checkTopic(topic)
    } catch (error) {
      return Promise.reject(error as Error)
    }
    if (this.starting === null) void this.start()
    return this.broker.presence(topic)
  }

  /** BrokerSink: another instance's message, for the local subscribers only. */
  message(message: BrokerMessage): void {
    // Interest may have ended while the message was on its way.
    if (!this.subscribers.has(message.topic) && !this.groups.has(message.topic)) return
    // Text reaches subscribers only as valid UTF-8: checked once per message (never per
    // subscriber), unless the broker has checked it already.
    if (!message.binary && message.utf8Checked !== true && !isValidUtf8(message.payload)) {
      this.onError(new Error(`broker delivered invalid UTF-8 text on topic ${JSON.stringify(message.topic)}; dropped`), false)
      return
    }
    this.deliver(message.topic, publishedFrame(message.binary ? Opcode.Binary : Opcode.Text, message.payload), undefined)
  }

  /** BrokerSink */
  stateChange(state: BrokerState, error?: Error): void {
    this.onState(state, error)
  }

  /** BrokerSink */
  notDelivered(topic: string, count: number, error: Error): void {
    this.onError(new Error(`${count} message(s) on topic ${JSON.stringify(topic)} not delivered to other instances: ${error.message}`), false)
  }

  private deliver(topic: string, frame: Buffer, except: AnyConnection | undefined): number {
    const set = this.subscribers.get(topic)
    const groups = this.groups.get(topic)
    let delivered = 0
    if (set !== undefined) {
      let run = this.runs.get(topic)
      if (run === undefined) {
        // The topic's first publish in this iteration: its subscribers are walked here, once,
        // and again at the end of the iteration, whatever the number of publishes between.
        run = new PublishedRun(topic)
        this.runs.set(topic, run)
        for (const connection of set) run.add(connection)
        if (!this.runsScheduled) {
          this.runsScheduled = true
          setImmediate(flushRuns, this)
        }
      }
      delivered = run.publish(frame, except)
    }
    if (groups !== undefined) {
      // permessage-deflate: compressed once per compressor setting, not once per subscriber.
      const frames = new CompressedPublish(frame)
      for (const group of groups) {
        for (const connection of group) {
          // A connection both in a group and subscribed gets the message once.
          if (connection !== except && (set === undefined || !set.has(connection)) && connection['publishFrame'](frames.frameFor(connection.compression))) delivered++
        }
      }
    }
    return delivered
  }

  /** A topic's first local interest: the broker subscribes (and starts, if nothing started it). */
  private interested(topic: string): void {
    if (this.starting === null) void this.start()
    this.broker.subscribe(topic)
  }

  /** The end of the iteration: every topic's run is written. */
  private flushRuns(): void {
    this.runsScheduled = false
    for (const [topic, run] of this.runs) {
      // Deleted first: a publish that a write leads to (an 'error' listener) starts a new run.
      this.runs.delete(topic)
      run.flush()
    }
  }

  private leave(connection: AnyConnection, topic: string): void {
    const set = this.subscribers.get(topic)
    if (set === undefined || !set.delete(connection)) return
    const run = this.runs.get(topic)
    if (run !== undefined) run.unsubscribed(connection)
    const members = this.present.get(topic)
    if (members !== undefined && members.delete(connection)) {
      if (members.size === 0) this.present.delete(topic)
      this.broker.leave(topic, connectionId(connection))
    }
    if (set.size === 0) {
      this.subscribers.delete(topic)
      if (!this.groups.has(topic)) this.broker.unsubscribe(topic)
    }
  }
}

function flushRuns(registry: TopicRegistry): void {
  registry['flushRuns']()
}

function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string') throw new TypeError('a topic must be a string')
  if (topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new RangeError(`a topic must be 1 to ${MAX_TOPIC_LENGTH} characters long`)
  }
}

function checkPresence(data: unknown): true {
  let json: string | undefined
  try {
    json = JSON.stringify(data)
  } catch (error) {
    throw new TypeError(`presence data must be JSON-serialisable: ${asError(error).message}`)
  }
  if (json === undefined) throw new TypeError('presence data must be JSON-serialisable')
  if (Buffer.byteLength(json, 'utf8') > MAX_PRESENCE_BYTES) {
    throw new RangeError(`presence data must be at most ${MAX_PRESENCE_BYTES} bytes as JSON`)
  }
  return true
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

const NO_TOPICS: readonly string[] = Object.freeze([])
