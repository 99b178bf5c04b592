import { IncomingMessage, type IncomingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import type { CompressionOptions } from '../protocol/extensions/compression-options'
import type { ConnectionMetrics } from './connection-metrics'
import { rawHeadersOf, type RequestHead } from '../protocol/request-head'
import { StringTable } from './string-table'
import { pathOfUrl } from './upgrade-claim'

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

/** What the server parsed itself (see UpgradeFront), for building `req` if a hook asks for it. */
export class ParsedHead {
  constructor(
    readonly socket: Socket,
    readonly head: RequestHead,
  ) {}
}

/**
 * What hooks may set per connection (UpgradeRequest's maxMessageSize ... metrics), in one object:
 * the framework gives every connection of a gateway the same frozen one (48 B fewer per idle
 * connection than six fields of its own); a hook that sets a value gets a copy of its own.
 */
export interface ConnectionSettings {
  maxMessageSize?: number
  binaryMode?: 'stream' | 'buffer'
  maxBufferedAmount?: number
  slowConsumer?: 'close' | 'drop'
  compression?: boolean | CompressionOptions
  metrics?: ConnectionMetrics | null
}

class ServerUpgradeRequest implements UpgradeRequest {
  readonly headers: IncomingHttpHeaders
  readonly protocols: readonly string[]
  readonly remoteAddress: string | undefined
  /** Node's IncomingMessage, or the head it is built from on first use; undefined once released. */
  private source: IncomingMessage | ParsedHead | undefined
  /** The request target as sent: path and query (Connection#path). */
  readonly url: string
  /** Set by the first hook that sets one (see ConnectionSettings); frozen while shared. */
  private settings: ConnectionSettings | undefined
  private parsedQuery: URLSearchParams | undefined
  private dataValue: Record<string, unknown> | undefined

  constructor(url: string, headers: IncomingHttpHeaders, socket: Socket, protocols: readonly string[], source: IncomingMessage | ParsedHead) {
    this.source = source
    // A target without a query is the same path on most connections of an endpoint (one that
    // has a query may carry a token: never kept in the table).
    this.url = url.length !== 0 && url.indexOf('?') === -1 ? handshakeStrings.share(url) : url
    this.headers = shareHeaderValues(headers)
    this.protocols = protocols
    // Read now: once the socket has closed it no longer knows its peer.
    const remoteAddress = socket.remoteAddress
    this.remoteAddress = remoteAddress === undefined ? undefined : handshakeStrings.share(remoteAddress)
    // Node caches the peer as { address, family, port } on the socket (an undocumented field);
    // the address string is kept above, so the object would be ~50 B an idle connection keeps
    // for nothing. Cleared, not deleted (a delete turns the socket into a dictionary object);
    // Node reads the peer again if anything asks while the socket is open.
    const peer = socket as { _peername?: unknown }
    if (peer._peername !== undefined) peer._peername = undefined
  }

  /**
   * Read from the url, not kept (8 B per connection): the path is read at the handshake (the
   * router), and Connection#path is the url. Kept percent-encoded: decoding is the router's
   * business, segment by segment.
   */
  get path(): string {
    return pathOfUrl(this.url)
  }

  get maxMessageSize(): number | undefined {
    return this.settings?.maxMessageSize
  }
  set maxMessageSize(value: number | undefined) {
    this.own().maxMessageSize = value
  }
  get binaryMode(): 'stream' | 'buffer' | undefined {
    return this.settings?.binaryMode
  }
  set binaryMode(value: 'stream' | 'buffer' | undefined) {
    this.own().binaryMode = value
  }
  get maxBufferedAmount(): number | undefined {
    return this.settings?.maxBufferedAmount
  }
  set maxBufferedAmount(value: number | undefined) {
    this.own().maxBufferedAmount = value
  }
  get slowConsumer(): 'close' | 'drop' | undefined {
    return this.settings?.slowConsumer
  }
  set slowConsumer(value: 'close' | 'drop' | undefined) {
    this.own().slowConsumer = value
  }
  get compression(): boolean | CompressionOptions | undefined {
    return this.settings?.compression
  }
  set compression(value: boolean | CompressionOptions | undefined) {
    this.own().compression = value
  }
  get metrics(): ConnectionMetrics | null | undefined {
    return this.settings?.metrics
  }
  set metrics(value: ConnectionMetrics | null | undefined) {
    this.own().metrics = value
  }

  /** The settings this request may change: a copy of shared ones (copy on write). */
  private own(): ConnectionSettings {
    const settings = this.settings
    if (settings !== undefined && !Object.isFrozen(settings)) return settings
    return (this.settings = { ...settings })
  }

  /** See useSharedSettings. */
  share(settings: ConnectionSettings): boolean {
    if (this.settings !== undefined) return false
    this.settings = settings
    return true
  }

  /** Read from the headers: a field of its own would be 8 B more per connection. */
  get origin(): string | undefined {
    const origin = this.headers.origin
    return typeof origin === 'string' ? origin : undefined
  }

  get req(): IncomingMessage | undefined {
    const source = this.source
    if (!(source instanceof ParsedHead)) return source
    return (this.source = incomingMessage(source, this.headers))
  }

  get query(): URLSearchParams {
    if (this.parsedQuery !== undefined) return this.parsedQuery
    const q = this.url.indexOf('?')
    return (this.parsedQuery = new URLSearchParams(q === -1 ? '' : this.url.slice(q + 1)))
  }

  /** Created on first use: most connections never carry data. */
  get data(): Record<string, unknown> {
    return (this.dataValue ??= {})
  }

  set data(value: Record<string, unknown>) {
    this.dataValue = value
  }

  /** See releaseRequestMessage. */
  release(): void {
    this.source = undefined
  }
}

/**
 * Gives `request` the per-connection settings in `settings` at once (what a `verify` hook would
 * otherwise set field by field). A frozen object shared by many connections is kept by reference
 * while no hook has set a setting of its own on this request, which spares an idle connection
 * six fields (about 48 B); a later hook that sets one gets a copy. An unfrozen object, or a
 * request the server did not create, is copied field by field.
 *
 * @example
 * const limits = Object.freeze({ maxMessageSize: 64 * 1024, slowConsumer: 'drop' as const })
 * const server = createServer({ verifyRequest: (request) => useSharedSettings(request, limits) })
 */
export function useSharedSettings(request: UpgradeRequest, settings: Readonly<ConnectionSettings>): void {
  if (request instanceof ServerUpgradeRequest && Object.isFrozen(settings) && request.share(settings)) return
  Object.assign(request, settings)
}

/** @internal The IncomingMessage Node's parser would have built for this head. */
export function incomingMessage(head: ParsedHead, headers: IncomingHttpHeaders): IncomingMessage {
  const req = new IncomingMessage(head.socket)
  req.httpVersionMajor = 1
  req.httpVersionMinor = 1
  req.httpVersion = '1.1'
  req.method = 'GET'
  req.url = head.head.url
  req.rawHeaders = rawHeadersOf(head.head)
  req.headers = headers
  ;(req as { upgrade?: boolean }).upgrade = true
  req.complete = true
  req.push(null) // an upgrade has no body: the bytes after the head are the WebSocket's
  return req
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
  return new ServerUpgradeRequest(req.url ?? '/', req.headers, req.socket, protocols, req)
}

/** The UpgradeRequest of a head the server parsed itself (see UpgradeFront). */
export function createParsedUpgradeRequest(head: ParsedHead, headers: IncomingHttpHeaders, protocols: readonly string[]): UpgradeRequest {
  return new ServerUpgradeRequest(head.head.url, headers, head.socket, protocols, head)
}

/** @internal The request target (path and query) of a request the server created. */
export function requestUrl(request: UpgradeRequest): string {
  return request instanceof ServerUpgradeRequest ? request.url : (request.req?.url ?? request.path)
}

/** @internal Drops the IncomingMessage once the connection is open (see UpgradeRequest.req). */
export function releaseRequestMessage(request: UpgradeRequest): void {
  if (request instanceof ServerUpgradeRequest) request.release()
}
