import type * as http from 'node:http'
import type * as https from 'node:https'
import type * as tls from 'node:tls'
import type { CompressionOptions } from '../protocol/extensions/compression-options'
import type { Broker } from '../broker/broker'
import type { Connection } from './connection'
import type { TopicRegistry } from './pubsub/topic-registry'
import type { UpgradeRequest } from './upgrade-request'

/** Limits and behaviour shared by server and client connections. */
export interface ConnectionOptions {
  /** Largest message accepted, in bytes; a larger one fails the connection with 1009. Default 16 MiB. */
  maxMessageSize?: number
  /** Size of the fragments `beginBinary()` streams and large messages are cut into. Default 64 KiB. */
  fragmentSize?: number
  /** Milliseconds to wait for the peer's side of the closing handshake before destroying the socket. Default 5000. */
  closeTimeout?: number
  /** How `'binary'` is emitted: a Readable of the message's fragments ('stream', default) or one Buffer ('buffer'). */
  binaryMode?: 'stream' | 'buffer'
  /**
   * Bytes of unsent data a connection may hold. Past it, reading from the peer pauses until
   * the socket drains, and sends follow `slowConsumer`. Default 16 MiB.
   */
  maxBufferedAmount?: number
  /** What sending past `maxBufferedAmount` does: close with 1008 ('close', default) or drop the message ('drop'). */
  slowConsumer?: 'close' | 'drop'
  /** `bufferedAmount` above which send calls return false and 'drain' is awaited. Default 64 KiB. */
  highWaterMark?: number
  /**
   * Milliseconds without any data from the peer (any frame: messages, pings, pongs) after which
   * the connection pings it; if nothing, pong included, arrives within another idleTimeout, it is
   * closed with 1001 'idle timeout'. A peer that only listens stays open as long as it answers
   * pings (browsers and `ws` do); our own sends never count. 0 (default) = off.
   */
  idleTimeout?: number
  /**
   * permessage-deflate (RFC 7692): `true` for the defaults, options to tune it, off (false) by
   * default. A server accepts a client's offer; a client makes one. See CompressionOptions.
   */
  compression?: boolean | CompressionOptions
}

export interface ServerOptions extends ConnectionOptions {
  /** Milliseconds a client has to complete its upgrade request (slowloris bound). Default 5000. */
  handshakeTimeout?: number
  /** Largest request head in bytes; larger is answered 431. Default 16 KiB (own server only). */
  maxHeaderSize?: number
  /** Open connections allowed; further upgrades are answered 503. Default unlimited. */
  maxConnections?: number
  /** Handshakes in progress allowed; further upgrades are answered 503. Default 1024. */
  maxPendingHandshakes?: number
  /** Milliseconds between server pings; a connection that has not answered the previous ping is terminated. 0 = off. Default 30000. */
  heartbeatInterval?: number
  /** Subprotocols the server supports; the client's most preferred supported one is chosen. */
  validProtocols?: readonly string[]
  /** Custom subprotocol choice (sync or async). Must return one of `offered`, or undefined for none. */
  selectProtocol?: (request: UpgradeRequest, offered: readonly string[]) => string | undefined | Promise<string | undefined>
  /** Runs before the 101 answer; throw or reject with a HandshakeError to refuse with its status. May set `request.data`. */
  verifyRequest?: (request: UpgradeRequest) => void | Promise<void>
  /** Headers added to every 101 response. */
  extraHeaders?: Record<string, string>
  /**
   * The request path(s) (percent-encoded, without the query) whose WebSocket upgrades this server
   * handles on an attached HTTP server. Default: every WebSocket upgrade. Other upgrades are left
   * to the HTTP server's other 'upgrade' listeners (answered 404 only when there are none).
   */
  path?: string | readonly string[]
  /** A predicate over the raw request deciding whether a WebSocket upgrade is this server's (with `path`: both must pass). */
  shouldHandle?: (req: http.IncomingMessage) => boolean
  /** Attach to this HTTP(S) server instead of creating one (same as `server.attach()`). */
  server?: http.Server | https.Server
  /**
   * Carries publishes to, and brings them from, the other instances of the app (processes,
   * machines): see Broker. Default: an in-process broker of the server's own (publish reaches
   * this server's subscribers only). Started by listen()/attach(); see `server.ready()`.
   */
  broker?: Broker
  /** Count handshakes, messages, bytes and closes in `server.metrics` (a few increments per message). Default true. */
  metrics?: boolean
}

export interface ClientOptions extends ConnectionOptions {
  /** Subprotocols offered, most preferred first. */
  protocols?: readonly string[]
  /** Headers added to the upgrade request (Origin, Authorization, Cookie ...). */
  extraHeaders?: Record<string, string>
  /** Milliseconds allowed for the whole opening handshake. Default 10000. */
  handshakeTimeout?: number
  /** TLS options for wss:// (ca, rejectUnauthorized, servername ...). */
  tls?: tls.ConnectionOptions
}

export interface ResolvedConnectionOptions {
  maxMessageSize: number
  fragmentSize: number
  closeTimeout: number
  binaryMode: 'stream' | 'buffer'
  maxBufferedAmount: number
  slowConsumer: 'close' | 'drop'
  highWaterMark: number
  idleTimeout: number
  /** @internal The server's topics (server connections only): shared, so a connection pays nothing for it. */
  topics?: TopicRegistry
  /** @internal Called once when a server connection has closed, before 'close' is emitted (the server's bookkeeping); shared like topics. */
  release?: (connection: Connection<object>) => void
}

const MiB = 1024 * 1024

export function resolveConnectionOptions(options: ConnectionOptions): ResolvedConnectionOptions {
  const resolved: ResolvedConnectionOptions = {
    maxMessageSize: options.maxMessageSize ?? 16 * MiB,
    fragmentSize: options.fragmentSize ?? 64 * 1024,
    closeTimeout: options.closeTimeout ?? 5000,
    binaryMode: options.binaryMode ?? 'stream',
    maxBufferedAmount: options.maxBufferedAmount ?? 16 * MiB,
    slowConsumer: options.slowConsumer ?? 'close',
    highWaterMark: options.highWaterMark ?? 64 * 1024,
    idleTimeout: options.idleTimeout ?? 0,
  }
  for (const name of ['maxMessageSize', 'fragmentSize', 'maxBufferedAmount', 'highWaterMark'] as const) {
    if (!(resolved[name] > 0)) throw new RangeError(`${name} must be a positive number`)
  }
  for (const name of ['closeTimeout', 'idleTimeout'] as const) {
    if (!(resolved[name] >= 0)) throw new RangeError(`${name} must be a number ≥ 0`)
  }
  if (resolved.binaryMode !== 'stream' && resolved.binaryMode !== 'buffer') {
    throw new RangeError("binaryMode must be 'stream' or 'buffer'")
  }
  if (resolved.slowConsumer !== 'close' && resolved.slowConsumer !== 'drop') {
    throw new RangeError("slowConsumer must be 'close' or 'drop'")
  }
  return resolved
}
