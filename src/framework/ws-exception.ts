import { isValidCloseCode } from '../protocol'

/**
 * Thrown (or rejected) from a handler to end the message's handling on purpose.
 *
 * - With a close code, the connection is closed with that code and reason.
 * - Without one, the client receives an error event,
 *   `{"event":"error","data":{"event":<event or null>,"message":<reason>,"errors":[]}}`,
 *   and the connection stays open.
 *
 * @example
 * @OnMessage('join')
 * join(@Payload() room: JoinRoom) {
 *   if (this.rooms.isFull(room.name)) throw new WsException('room is full')   // error reply
 *   if (room.banned) throw new WsException(4003, 'banned')                     // close 4003
 * }
 */
export class WsException extends Error {
  override readonly name = 'WsException'
  /** Close code to close with; `undefined` replies with an error event instead. */
  readonly closeCode: number | undefined
  readonly reason: string
  /** Extra details for the error reply's `errors` array (ignored when closing). */
  readonly errors: readonly unknown[]

  constructor(reason?: string, errors?: readonly unknown[])
  constructor(closeCode?: number, reason?: string)
  constructor(codeOrReason?: number | string, reasonOrErrors?: string | readonly unknown[]) {
    const closeCode = typeof codeOrReason === 'number' ? codeOrReason : undefined
    const reason =
      typeof codeOrReason === 'string' ? codeOrReason : typeof reasonOrErrors === 'string' ? reasonOrErrors : ''
    super(reason || (closeCode === undefined ? 'error' : `closing with ${closeCode}`))
    if (closeCode !== undefined && !(Number.isInteger(closeCode) && isValidCloseCode(closeCode))) {
      throw new RangeError(`WsException: ${closeCode} is not a close code that may be sent (1000–1003, 1007–1014, 3000–4999)`)
    }
    // RFC 6455 §5.5: a close frame payload is at most 125 bytes, 2 of them the code.
    if (closeCode !== undefined && Buffer.byteLength(reason) > 123) {
      throw new RangeError('WsException: a close reason must be at most 123 bytes of UTF-8')
    }
    this.closeCode = closeCode
    this.reason = reason
    this.errors = Array.isArray(reasonOrErrors) ? reasonOrErrors : []
  }
}
