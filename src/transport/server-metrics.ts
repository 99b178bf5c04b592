import { ConnectionMetrics, countIn, type ConnectionMetricsSnapshot } from './connection-metrics'

/**
 * A server's counters: handshakes by the HTTP status they were answered with (101 accepted,
 * 4xx/5xx refused), and the connection counters of connections no hook assigned elsewhere (the
 * framework counts each gateway's connections on its own `ConnectionMetrics`).
 */
export class ServerMetrics {
  readonly handshakes = new Map<number, number>()
  readonly connections = new ConnectionMetrics()

  /** @internal */
  countHandshake(status: number): void {
    countIn(this.handshakes, status)
  }

  snapshot(): ServerMetricsSnapshot {
    const handshakes: Record<string, number> = {}
    for (const status of [...this.handshakes.keys()].sort((a, b) => a - b)) handshakes[String(status)] = this.handshakes.get(status)!
    return { handshakes, connections: this.connections.snapshot() }
  }
}

export interface ServerMetricsSnapshot {
  /** Upgrade requests by the HTTP status of the answer (`'101'`: accepted). */
  readonly handshakes: Readonly<Record<string, number>>
  readonly connections: ConnectionMetricsSnapshot
}
