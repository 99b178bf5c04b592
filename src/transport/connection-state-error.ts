/** A send or stream call on a connection that is not (or no longer) open. */
export class ConnectionStateError extends Error {
  override readonly name = 'ConnectionStateError'
  constructor(
    readonly readyState: number,
    message: string,
  ) {
    super(message)
  }
}
