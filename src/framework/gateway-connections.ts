import type { Connection } from '../transport'
import { Room, roomOfTopic, roomTopic, serialize, type Outgoing, type RoomHost, type RoomSendOptions } from './rooms/room'
import type { Class } from './store'

export type { Outgoing } from './rooms/room'

/**
 * Same as `Connection<TData>`, kept for readability in non-decorated code. In handler
 * parameters write `Connection<TData>` itself: an alias is recorded as `Object` in
 * `design:paramtypes`, and the parameter would fall back to its default position.
 *
 * @example
 * const members: TypedConnection<{ user: User }>[] = [...connections]
 */
export type TypedConnection<TData extends object = Record<string, unknown>> = Connection<TData>

/**
 * The open connections of one gateway, its rooms, and sends to all of them. A gateway gets its
 * own by declaring a constructor parameter of this type; any provider can inject a gateway's
 * with `@Inject(connectionsOf(ChatGateway))`.
 *
 * Local and everywhere: iterating, `size`, `filter`, `broadcast` and `closeAll` see the
 * connections of this instance (process); `room(name).send()`, `sendToAll()` and
 * `room(name).presence()` reach every instance sharing the app's broker.
 *
 * @example
 * @Gateway('/chat')
 * class ChatGateway {
 *   constructor(private readonly connections: GatewayConnections<{ room: string }>) {}
 *   @OnText() say(text: string, conn: Connection<{ room: string }>) {
 *     this.connections.broadcast(text, (c) => c !== conn && c.data.room === conn.data.room)
 *   }
 * }
 */
export class GatewayConnections<TData extends object = Record<string, unknown>> implements Iterable<TypedConnection<TData>> {
  private readonly rooms = new Map<string, Room>()

  /**
   * @internal `open` is the live map the app maintains (connection → its session); this object
   * only reads it. `host` gives the app's server, whose topics are the gateway's rooms.
   */
  constructor(
    /** The gateway these connections belong to. */
    readonly gateway: Class,
    private readonly open: ReadonlyMap<Connection, unknown>,
    private readonly host?: RoomHost,
  ) {}

  /**
   * The room `name` of this gateway (created on first use, shared by every instance through the
   * app's broker). Rooms of different gateways never mix, whatever their names.
   *
   * @example
   * this.connections.room('lobby').join(conn, { nick: 'ada' })
   * this.connections.room('lobby').sendEvent('said', { nick: 'ada', text: 'hi' }, { except: conn })
   */
  room<TPresence = unknown>(name: string): Room<TPresence> {
    let room = this.rooms.get(name)
    if (room === undefined) {
      const host = this.roomHost()
      room = new Room(name, host, roomTopic(host.prefix, name))
      // Handles are cheap; keep only a bounded number (names may come from clients).
      if (this.rooms.size >= MAX_CACHED_ROOMS) this.rooms.delete(this.rooms.keys().next().value as string)
      this.rooms.set(name, room)
    }
    return room as Room<TPresence>
  }

  /** The rooms of this gateway that `conn` is in. */
  roomsOf(conn: Connection<object>): string[] {
    const prefix = this.roomHost().prefix
    const rooms: string[] = []
    for (const topic of conn.topics) {
      const room = roomOfTopic(prefix, topic)
      if (room !== undefined) rooms.push(room)
    }
    return rooms
  }

  /**
   * Sends `message` to every connection of this gateway on every instance (but
   * `options.except`): a string as text, bytes as binary, anything else as JSON (serialised
   * once; the frame is built once). Returns how many connections of this instance it was
   * queued for. `broadcast()` is the local, filtered variant.
   */
  sendToAll(message: Outgoing, options?: RoomSendOptions): number {
    const host = this.roomHost()
    return host.server().publish(host.prefix, serialize(message), options)
  }

  /** Sends `{"event": event, "data": data}` to every connection of this gateway on every instance. */
  sendEventToAll(event: string, data: unknown, options?: RoomSendOptions): number {
    return this.sendToAll(JSON.stringify({ event, data }), options)
  }

  private roomHost(): RoomHost {
    if (this.host === undefined) throw new TypeError('rooms need a bootstrapped app: this GatewayConnections has no server')
    return this.host
  }

  /** How many connections are open. */
  get size(): number {
    return this.open.size
  }

  [Symbol.iterator](): Iterator<TypedConnection<TData>> {
    return (this.open as ReadonlyMap<TypedConnection<TData>, unknown>).keys()
  }

  /** The open connections that pass `predicate`, as an array. */
  filter(predicate: (conn: TypedConnection<TData>) => boolean): TypedConnection<TData>[] {
    const result: TypedConnection<TData>[] = []
    for (const conn of this) if (predicate(conn)) result.push(conn)
    return result
  }

  /**
   * Sends `message` to every open connection (that passes `filter`): a string as text, a Buffer
   * as binary, anything else as JSON text (serialised once). Returns how many were sent to.
   */
  broadcast(message: Outgoing, filter?: (conn: TypedConnection<TData>) => boolean): number {
    let count = 0
    if (typeof message === 'string') {
      for (const conn of this) if (filter === undefined || filter(conn)) count += sendTo(conn, message, false)
    } else if (message instanceof Uint8Array) {
      for (const conn of this) if (filter === undefined || filter(conn)) count += sendTo(conn, message, true)
    } else {
      return this.broadcast(JSON.stringify(message), filter)
    }
    return count
  }

  /** Sends `{"event": event, "data": data}` to every open connection (that passes `filter`). */
  broadcastEvent(event: string, data: unknown, filter?: (conn: TypedConnection<TData>) => boolean): number {
    return this.broadcast(JSON.stringify({ event, data }), filter)
  }

  /** Starts the closing handshake on every open connection (that passes `filter`). */
  closeAll(code?: number, reason?: string, filter?: (conn: TypedConnection<TData>) => boolean): void {
    for (const conn of [...this]) if (filter === undefined || filter(conn)) conn.close(code, reason)
  }
}

/** Room handles kept per gateway; more are created again on use. */
const MAX_CACHED_ROOMS = 1024

function sendTo(conn: Connection<object>, message: string | Uint8Array, binary: boolean): number {
  if (conn.readyState !== 1) return 0
  if (binary) conn.sendBinary(message as Uint8Array)
  else conn.sendText(message as string)
  return 1
}

/** Token for `@Inject()`: the open connections of `gateway`. */
export class ConnectionsToken {
  constructor(readonly gateway: Class) {}
  toString(): string {
    return `connectionsOf(${this.gateway.name})`
  }
}

/**
 * The injection token of a gateway's open connections, for providers that broadcast.
 *
 * @example
 * @Injectable()
 * class Announcer {
 *   constructor(@Inject(connectionsOf(ChatGateway)) private readonly chat: GatewayConnections) {}
 *   announce(text: string) { this.chat.broadcastEvent('announce', text) }
 * }
 */
export function connectionsOf(gateway: Class): ConnectionsToken {
  return new ConnectionsToken(gateway)
}
