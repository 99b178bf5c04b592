/**
 * An opening handshake refused with an HTTP answer. `status` is the status code sent to the
 * client (400, 401, 403, 404, 426, 429, 431, 503 ...); `headers` are added to the response.
 * On the client side, a handshake the server refused or answered wrongly (status is the
 * server's status, or 0 when the response itself was invalid), with the response's headers
 * (`Retry-After`, `WWW-Authenticate` ...; names lower-case, repeated values joined with ", ")
 * and the start of its body (at most 4 KiB, decoded as UTF-8).
 */
export class HandshakeError extends Error {
  override readonly name = 'HandshakeError'
  readonly headers: Readonly<Record<string, string>>
  constructor(
    readonly status: number,
    message?: string,
    headers: Record<string, string> = {},
    /** Client side: the start of the refusal's body (empty on the server side). */
    readonly body = '',
  ) {
    super(message ?? `WebSocket handshake failed with HTTP ${status}`)
    this.headers = headers
  }
}
