import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'

/** What the server knows about an upgrade request before it answers 101. */
export interface UpgradeRequest {
  /** The request as Node's http module parsed it. */
  readonly req: IncomingMessage
  /** Pathname as sent (still percent-encoded), without the query string. */
  readonly path: string
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
}

export function createUpgradeRequest(req: IncomingMessage, protocols: readonly string[]): UpgradeRequest {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  // Kept percent-encoded: decoding is the router's business, segment by segment.
  const path = q === -1 ? url : url.slice(0, q)
  const origin = req.headers.origin
  return {
    req,
    path,
    query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
    headers: req.headers,
    protocols,
    remoteAddress: req.socket.remoteAddress,
    origin: typeof origin === 'string' ? origin : undefined,
    data: {},
  }
}
