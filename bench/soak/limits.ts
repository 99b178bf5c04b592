// Shared by the soak server (bench/soak/server.ts) and the driver (bench/soak.ts).
import type { ServerOptions } from '../../src'

/** The soak server's limits: realistic, and small enough that hostile traffic hits them. */
export const SOAK_SERVER_OPTIONS = {
  maxMessageSize: 1024 * 1024,
  maxBufferedAmount: 2 * 1024 * 1024,
  binaryMode: 'buffer',
  heartbeatInterval: 2000,
  handshakeTimeout: 2000,
  closeTimeout: 1000,
  maxConnections: 10_000,
  maxPendingHandshakes: 1024,
} satisfies ServerOptions

export interface Stats {
  pid: number
  uptimeMs: number
  memory: NodeJS.MemoryUsage
  /** WebSocket connections open now (server.connections). */
  open: number
  /** TCP connections the HTTP server still holds (getConnections: handshaking + upgraded). */
  tcp: number
  /** TCP connections accepted so far. */
  accepted: number
  /** Upgrades completed ('connection' events). */
  upgraded: number
  /** 'close' events of connections, by code. */
  closeCodes: Record<string, number>
  /** 'error' events of connections, by close code (ProtocolError) or error code/name. */
  errors: Record<string, number>
  /** Listener errors the core reported (our ?throw=1 connections). */
  listenerErrors: number
  /** Connections whose 'close' fired more than once (must stay 0). */
  doubleCloses: number
  messagesEchoed: number
  /** process.getActiveResourcesInfo(), counted by type. */
  resources: Record<string, number>
  /** Largest event-loop delay since the previous stats request, ms. */
  loopDelayMaxMs: number
  gcAvailable: boolean
}

