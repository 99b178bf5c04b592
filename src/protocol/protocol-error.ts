import { CloseCode } from './constants'

/**
 * A violation of RFC 6455 by the peer. Born with its wire meaning: `closeCode` is the code
 * the connection must be failed with; code that catches it forwards the code as it is.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
  constructor(
    readonly closeCode: number = CloseCode.ProtocolError,
    message: string = 'WebSocket protocol error',
  ) {
    super(message)
  }
}
