import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import type { CompressionOptions } from '../protocol/extensions/compression-options'
import type { ConnectionMetrics } from './connection-metrics'
import { StringTable } from './string-table'

/** What the server knows about an upgrade request before it answers 101. */
export interface UpgradeRequest {
  /**
   * The request as Node's http module parsed it. Kept during the handshake (verifyRequest,
   * selectProtocol, guards) and the 'connection' and 'connect' events (`@OnConnect`), then
   * released (undefined): an IncomingMessage would otherwise be most of an idle connection's
   * memory. Everything below stays.
   */
  readonly req: IncomingMessage | undefined
  /** Pathname as sent (still percent-encoded), without the query string. */
  readonly path: string
  /** The query string, parsed on first use. */
  readonly query: URLSearchParams
  readonly headers: IncomingHttpHeaders
  /** Subprotocols the client offered, most preferred first. */
  readonly protocols: readonly string[]
  readonly remoteAddress: string | undefined
  readonly origin: string | undefined
  /** Per-connection data: hooks may set fields; it becomes `connection.data`. */
  data: Record<string, unknown>
  /** Hooks may lower or raise the server's maxMessageSize for this connection. */
  maxMessageSize?: number
  /** Hooks may choose how this connection emits binary messages. */
  binaryMode?: 'stream' | 'buffer'
  /** Hooks may set this connection's maxBufferedAmount (unsent bytes before the slow-consumer policy applies). */
  maxBufferedAmount?: number
  /** Hooks may set this connection's slow-consumer policy. */
  slowConsumer?: 'close' | 'drop'
  /** Hooks may turn permessage-deflate on or off, or tune it, for this connection. */
  compression?: boolean | CompressionOptions
  /** Hooks may count this connection in other counters (the framework: its gateway's); null counts nothing. */
  metrics?: ConnectionMetrics | null
}

class ServerUpgradeRequest implements UpgradeRequest {
  req: IncomingMessage | undefined
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly protocols: readonly string[]
  readonly remoteAddress: string | undefined
  readonly origin: string | undefined
  maxMessageSize?: number
  binaryMode?: 'stream' | 'buffer'
  maxBufferedAmount?: number
  slowConsumer?: 'close' | 'drop'
  compression?: boolean | CompressionOptions
  metrics?: ConnectionMetrics | null
  private readonly rawQuery: string
  private parsedQuery: URLSearchParams | undefined
  private dataValue: Record<string, unknown> | undefined

  constructor(req: IncomingMessage, protocols: readonly string[]) {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    this.req = req
    // Kept percent-encoded: decoding is the router's business, segment by segment.
    this.path = q === -1 ? url : url.slice(0, q)
    this.rawQuery = q === -1 ? '' : url.slice(q + 1)
    this.headers = shareHeaderValues(req.headers)
    this.protocols = protocols
    // Read now: once the socket has closed it no longer knows its peer.
    const remoteAddress = req.socket.remoteAddress
    this.remoteAddress = remoteAddress === undefined ? undefined : handshakeStrings.share(remoteAddress)
    // Node caches the peer as { address, family, port } on the socket (an undocumented field);
    // the address string is kept above, so the object would be ~50 B an idle connection keeps
    // for nothing. Cleared, not deleted (a delete turns the socket into a dictionary object);
    // Node reads the peer again if anything asks while the socket is open.
    const socket = req.socket as { _peername?: unknown }
    if (socket._peername !== undefined) socket._peername = undefined
    const origin = req.headers.origin
    this.origin = typeof origin === 'string' ? origin : undefined
  }

  get query(): URLSearchParams {
    return (this.parsedQuery ??= new URLSearchParams(this.rawQuery))
  }

  /** Created on first use: most connections never carry data. */
  get data(): Record<string, unknown> {
    return (this.dataValue ??= {})
  }

  set data(value: Record<string, unknown>) {
    this.dataValue = value
  }
}

/** Values that repeat from one handshake to the next (see StringTable): 1,024 of up to 256 characters. */
const handshakeStrings = new StringTable(1024, 256)

/**
 * Headers whose values repeat across connections and are no secret (no cookies, no
 * credentials, not the per-connection key): an idle connection keeps its headers, so each
 * shared value is one string fewer per connection.
 */
const SHARED_HEADERS = [
  'host',
  'upgrade',
  'connection',
  'origin',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'user-agent',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'pragma',
] as const

function shareHeaderValues(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  for (const name of SHARED_HEADERS) {
    const value = headers[name]
    if (typeof value === 'string') headers[name] = handshakeStrings.share(value)
  }
  return headers
}

export function createUpgradeRequest(req: IncomingMessage, protocols: readonly string[]): UpgradeRequest {
  return new ServerUpgradeRequest(req, protocols)
}

/** @internal Drops the IncomingMessage once the connection is open (see UpgradeRequest.req). */
export function releaseRequestMessage(request: UpgradeRequest): void {
  if (request instanceof ServerUpgradeRequest) request.req = undefined
}
