import type { Socket } from 'node:net'
import { buildRejectResponse } from '../protocol/handshake'
import { HandshakeError } from '../protocol/handshake-error'
import type { ServerMetrics } from './server-metrics'

/**
 * Answers an upgrade with the HTTP error `error` carries (a plain-text body, `Connection: close`)
 * and ends the socket, destroying it after a second if the client does not close its side.
 */
export function rejectUpgrade(socket: Socket, error: HandshakeError, metrics: ServerMetrics | null = null): void {
  if (socket.destroyed) return
  const status = error instanceof HandshakeError ? error.status : 400
  if (metrics !== null) metrics.countHandshake(status)
  const headers = error instanceof HandshakeError ? { ...error.headers } : {}
  socket.end(buildRejectResponse(status, error.message, headers))
  // Do not wait for the client to close its side.
  const timer = setTimeout(() => socket.destroy(), 1000)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}
