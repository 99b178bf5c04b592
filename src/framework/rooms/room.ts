import type { Presence, PresenceMember } from '../../broker'
import type { Connection, Server } from '../../transport'

/** A message the framework can send: text, binary, or any other value as JSON text. */
export type Outgoing = string | Buffer | Uint8Array | object | number | boolean

/** Where a gateway's rooms live: the app's server, and the prefix that keeps its topics apart. */
export interface RoomHost {
  /** The app's core server (its topics and broker). */
  server(): Server
  /** Topic prefix of the gateway (its path pattern): rooms of two gateways never mix. */
  readonly prefix: string
}

/** Options of a room send. */
export interface RoomSendOptions {
  /** A connection of this instance not to send to (usually the sender). */
  except?: Connection<object>
}

/** Who is in a room on every instance: the members that joined with presence data. */
export interface RoomPresence<TPresence = unknown> {
  readonly room: string
  readonly count: number
  readonly members: ReadonlyArray<RoomMember<TPresence>>
}

export interface RoomMember<TPresence = unknown> {
  /** The member's connection id (`conn.id`, unique within its instance). */
  readonly id: string
  /** The instance (broker instance id) the member is connected to. */
  readonly instance: string
  /** What was given as presence when joining. */
  readonly data: TPresence
}

/** Longest room name, in characters (names often come from clients: a URL segment). */
export const MAX_ROOM_NAME = 512

/**
 * One room of a gateway: a topic of the app's server, shared with every instance through the
 * app's broker. Joining subscribes a connection; sending publishes (the frame is built once
 * for all local members, and the broker carries it to the other instances' members).
 * Members leave by `leave()` or by closing.
 *
 * @example
 * @Gateway('/chat/:room')
 * class ChatGateway {
 *   constructor(private readonly connections: GatewayConnections<{ nick: string }>) {}
 *   @OnConnect() enter(@Conn() conn: Connection<{ nick: string }>, @Param('room') room: string) {
 *     this.connections.room(room).join(conn, { nick: conn.data.nick })
 *   }
 *   @OnText() say(text: string, @Conn() conn: Connection, @Param('room') room: string) {
 *     this.connections.room(room).send(text, { except: conn })
 *   }
 * }
 */
export class Room<TPresence = unknown> {
  /** @internal */
  constructor(
    /** The room's name, as the gateway gave it. */
    readonly name: string,
    private readonly host: RoomHost,
    /** The server topic behind the room. */
    readonly topic: string,
  ) {}

  /**
   * Adds `conn` to the room. With `presence` (small JSON data, at most 1 KiB), it appears in
   * `presence()` on every instance with that data. Returns false when it was already in.
   */
  join(conn: Connection<object>, presence?: TPresence): boolean {
    return conn.subscribe(this.topic, presence === undefined ? undefined : { presence })
  }

  /** Removes `conn` from the room. Returns false when it was not in. */
  leave(conn: Connection<object>): boolean {
    return conn.unsubscribe(this.topic)
  }

  /** Whether `conn` (a connection of this instance) is in the room. */
  has(conn: Connection<object>): boolean {
    return conn.topics.includes(this.topic)
  }

  /** Members of the room on this instance. */
  get localSize(): number {
    return this.host.server().subscriberCount(this.topic)
  }

  /**
   * Sends `message` to every member on every instance (but `options.except`): a string as
   * text, bytes as binary, anything else as JSON text (serialised once). Returns how many
   * members of this instance it was queued for.
   */
  send(message: Outgoing, options?: RoomSendOptions): number {
    return this.host.server().publish(this.topic, serialize(message), options)
  }

  /** Sends `{"event": event, "data": data}` to every member on every instance (but `options.except`). */
  sendEvent(event: string, data: unknown, options?: RoomSendOptions): number {
    return this.send(JSON.stringify({ event, data }), options)
  }

  /** The members with presence data, on every instance (one broker round trip). */
  async presence(): Promise<RoomPresence<TPresence>> {
    const presence: Presence = await this.host.server().presence(this.topic)
    return { room: this.name, count: presence.count, members: presence.members as ReadonlyArray<PresenceMember & { data: TPresence }> }
  }
}

/** The topic of room `name` of the gateway with prefix `prefix`. */
export function roomTopic(prefix: string, name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_ROOM_NAME) {
    throw new RangeError(`a room name must be a string of 1 to ${MAX_ROOM_NAME} characters`)
  }
  return `${prefix}#${name}`
}

/** The room name of a topic of the gateway with prefix `prefix`, or undefined if it is not one. */
export function roomOfTopic(prefix: string, topic: string): string | undefined {
  return topic.length > prefix.length + 1 && topic.startsWith(prefix) && topic[prefix.length] === '#' ? topic.slice(prefix.length + 1) : undefined
}

/** A string as text, bytes as binary, anything else as JSON text. */
export function serialize(message: Outgoing): string | Uint8Array {
  if (typeof message === 'string' || message instanceof Uint8Array) return message
  const json = JSON.stringify(message)
  if (json === undefined) throw new TypeError(`cannot send ${typeof message} as JSON`)
  return json
}
