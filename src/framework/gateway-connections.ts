import type { Connection } from '../transport'
import type { Class } from './store'

/** A message the framework can send: text, binary, or any other value as JSON text. */
export type Outgoing = string | Buffer | Uint8Array | object | number | boolean

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
 * The open connections of one gateway, for broadcasts. A gateway gets its own by declaring a
 * constructor parameter of this type; any provider can inject a gateway's with
 * `@Inject(connectionsOf(ChatGateway))`.
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
  /** `open` is the live map the app maintains (connection → its session); this object only reads it. */
  constructor(
    /** The gateway these connections belong to. */
    readonly gateway: Class,
    private readonly open: ReadonlyMap<Connection, unknown>,
  ) {}

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
