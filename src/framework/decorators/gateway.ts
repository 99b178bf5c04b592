import type { ClassTransformOptions } from 'class-transformer'
import type { ValidatorOptions } from 'class-validator'
import type { CompressionOptions } from '../../protocol'
import { setGatewayRecord, type Class } from '../store'

/** How a gateway treats a message it cannot route or validate. */
export type InvalidMessagePolicy = 'reply' | 'close'

/** What sending to a connection with more than `maxBufferedAmount` unsent bytes does. */
export type SlowConsumerPolicy = 'close' | 'drop'

/**
 * Options shared by `@Gateway(path, options)` and `bootstrap(module, options)`: a gateway's own
 * value wins over the app's, which wins over the default.
 */
export interface GatewayDefaults {
  /** Largest message accepted, in bytes; a bigger one closes with 1009. Default 16 MiB. */
  maxMessageSize?: number
  /**
   * Unsent bytes a connection may hold (queued by sends, not yet taken by the kernel). A send past
   * it follows `slowConsumer`. Default: the app's `transport.maxBufferedAmount`, else 16 MiB.
   */
  maxBufferedAmount?: number
  /**
   * A send to a connection past `maxBufferedAmount`: `'close'` (default) closes it with 1008;
   * `'drop'` drops the message and keeps the connection (`@OnDrain` runs once it has caught up).
   */
  slowConsumer?: SlowConsumerPolicy
  /** Ping every N ms and terminate connections that miss the pong; 0 turns it off. Default 30000. */
  heartbeatInterval?: number
  /**
   * Invalid JSON, an unknown event or a failed validation: `'reply'` (default) answers with an
   * error event and keeps the connection; `'close'` closes with 1008.
   */
  invalidMessage?: InvalidMessagePolicy
  /** class-validator options for `@OnMessage` payloads. Default `{ forbidUnknownValues: true }`. */
  validator?: ValidatorOptions
  /** class-transformer options for `@OnMessage` payloads. Default `{}`. */
  transformer?: ClassTransformOptions
  /**
   * Run class-validator's async validators (`validate` instead of `validateSync`). Each validated
   * message then costs a promise. Default false.
   */
  asyncValidation?: boolean
  /**
   * Browser origins allowed to connect (exact `scheme://host[:port]` strings, `'*'` for any, or a
   * predicate). A request whose `Origin` is not allowed is refused with 403; a request with no
   * `Origin` (not a browser) is allowed. Default: any origin.
   */
  origins?: readonly string[] | ((origin: string) => boolean)
  /**
   * permessage-deflate (RFC 7692) for this gateway's connections: `true` for the defaults (no
   * context takeover either way: no zlib memory per idle connection), or CompressionOptions.
   * Accepted only when the client offers it (every browser does). Default off.
   */
  compression?: boolean | CompressionOptions
}

/** Options of one `@Gateway`. */
export interface GatewayOptions extends GatewayDefaults {
  /** Subprotocols this gateway speaks, in the server's order of preference. */
  protocols?: readonly string[]
  /**
   * Which preference wins among `protocols` the client also offers: `'client'` (default; the
   * client's most preferred one, as RFC 6455 suggests) or `'server'` (the first of `protocols`).
   */
  protocolOrder?: 'client' | 'server'
  /**
   * Refuse (HTTP 400) a handshake that ends without an agreed subprotocol, even when the client
   * offered none. Without it, a client that offers none connects with no subprotocol; a client
   * that offers only unsupported ones is still refused with 400 (a browser would fail such a
   * connection anyway). Default false.
   */
  protocolRequired?: boolean
}

/**
 * Declares a WebSocket gateway served at `path`. Paths may hold parameters (`/rooms/:room`) and
 * end in a wildcard (`/files/*`, or `'*'` for every path); a static segment beats a parameter,
 * which beats a wildcard.
 *
 * @example
 * @Gateway('/rooms/:room', { protocols: ['chat.v2', 'chat.v1'] })
 * class RoomGateway {
 *   @OnText() onText(text: string, @Param('room') room: string) { return `${room}: ${text}` }
 * }
 */
export function Gateway(path: string = '/', options: GatewayOptions = {}): ClassDecorator {
  return (target) => {
    setGatewayRecord(target as unknown as Class, Object.freeze({ path, options: Object.freeze({ ...options }) }))
  }
}
