import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { HandshakeError } from '../protocol'
import type { UpgradeRequest } from '../transport'
import { unsignCookie } from './hosts/unsign-cookie'
import type { Class } from './store'

/**
 * What a guard sees of an upgrade request before the 101 answer: the request and its route.
 * Fields written to `data` become the connection's `conn.data`.
 */
export class GuardContext<TData extends object = Record<string, unknown>> {
  private parsedCookies: Readonly<Record<string, string>> | undefined
  /** @internal A refusal made with `deny()` (from a callback): it wins over the guards' results. */
  denied: HandshakeError | undefined

  constructor(
    /** The transport's upgrade request (`req` is the raw `http.IncomingMessage`). */
    readonly request: UpgradeRequest,
    /** The gateway class the request was routed to. */
    readonly gateway: Class,
    /** Path parameters of the matched route, decoded. */
    readonly params: Readonly<Record<string, string>>,
    /** The negotiated subprotocol (guards run after protocol selection), if any. */
    readonly protocol: string | undefined,
  ) {}

  /** The request path as sent (percent-encoded), without the query; `params` are decoded. */
  get path(): string {
    return this.request.path
  }
  get query(): URLSearchParams {
    return this.request.query
  }
  get headers(): IncomingHttpHeaders {
    return this.request.headers
  }
  get remoteAddress(): string | undefined {
    return this.request.remoteAddress
  }
  get origin(): string | undefined {
    return this.request.origin
  }
  /** Per-connection data: what a guard sets here, handlers read as `conn.data`. */
  get data(): TData {
    return this.request.data as TData
  }
  /** The `Cookie` header, parsed (first value wins, values URI-decoded when they can be). Signed values stay signed: see `signedCookie()`. */
  get cookies(): Readonly<Record<string, string>> {
    return (this.parsedCookies ??= parseCookies(this.request.headers.cookie))
  }

  /**
   * The raw `http.IncomingMessage` of the upgrade (guards always run while it is kept; see
   * `UpgradeRequest.req`), for the host's helpers: session stores, passport, `req.socket`.
   */
  get req(): IncomingMessage {
    const req = this.request.req
    if (req === undefined) throw new Error('the upgrade request has been released: read ctx.req during the handshake')
    return req
  }

  /**
   * A cookie signed by express-session / cookie-parser (`s:value.signature`) or @fastify/cookie
   * (`value.signature`), verified against `secrets` (the newest first): its value, or undefined
   * when it is missing or its signature does not match.
   */
  signedCookie(name: string, secrets: string | readonly string[]): string | undefined {
    const value = unsignCookie(this.cookies[name], secrets)
    return value === false ? undefined : value
  }

  /**
   * Refuses the handshake with `status` (401, 403, 429 ...), an optional message for the body
   * and extra response headers (e.g. `Retry-After`).
   */
  reject(status: number, message?: string, headers?: Record<string, string>): never {
    throw new HandshakeError(status, message, headers)
  }

  /**
   * Like `reject()`, but without throwing: for callbacks (a session store's `get(id, cb)`), where
   * a throw would escape the guard. The handshake is refused with this answer once the guard's
   * promise settles, whatever it resolves to.
   *
   * @example
   * guard(ctx) {
   *   return new Promise<boolean>((resolve) => store.get(sid, (err, session) => {
   *     if (err || !session) ctx.deny(401, 'no session')
   *     else ctx.data.user = session.user
   *     resolve(true)
   *   }))
   * }
   */
  deny(status: number, message?: string, headers?: Record<string, string>): void {
    this.denied ??= new HandshakeError(status, message, headers)
  }
}

/** RFC 6265 §5.2 cookie-string → name/value pairs, leniently. */
export function parseCookies(header: string | undefined): Readonly<Record<string, string>> {
  const cookies: Record<string, string> = Object.create(null)
  if (!header) return cookies
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq < 0) continue
    const name = pair.slice(0, eq).trim()
    if (name === '' || name in cookies) continue
    let value = pair.slice(eq + 1).trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    try {
      cookies[name] = decodeURIComponent(value)
    } catch {
      cookies[name] = value
    }
  }
  return cookies
}
