import type { IncomingMessage, ServerResponse } from 'node:http'
import type { BrokerState } from '../broker/broker'

/**
 * What `app.health()` reports to load balancers and orchestrators.
 *
 * - `live`: the app has not stopped (true while idle, serving and shutting down);
 * - `ready`: it takes new connections: listening or attached, and no graceful shutdown has
 *   begun. It turns false the moment `close()` is called, before the first 1001 is sent;
 * - `broker`: the broker's state, when the server has one. A broker that is reconnecting does
 *   not make the app unready: local delivery goes on, and an outage shared by every instance
 *   would otherwise take them all out of the load balancer at once.
 */
export interface HealthStatus {
  readonly live: boolean
  readonly ready: boolean
  readonly state: 'idle' | 'running' | 'closing' | 'closed'
  /** Open connections, over every gateway. */
  readonly connections: number
  readonly broker?: { readonly state: BrokerState }
}

/** The paths `healthHandler` answers. */
export interface HealthPaths {
  /** Liveness: 200 while `live`, else 503. Default `/healthz`. */
  live?: string
  /** Readiness: 200 while `ready`, else 503. Default `/readyz`. */
  ready?: string
}

/**
 * An HTTP request handler for liveness and readiness probes: answers GET/HEAD of `/healthz` and
 * `/readyz` with 200 or 503 and the `health()` status as JSON, and returns true; returns false
 * (and answers nothing) for any other request, so it goes first in a server's handler.
 *
 * @example
 * const probes = healthHandler(app)
 * createServer((req, res) => { if (!probes(req, res)) files(req, res) })
 */
export function healthHandler(
  app: { health(): HealthStatus },
  paths: HealthPaths = {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const live = paths.live ?? '/healthz'
  const ready = paths.ready ?? '/readyz'
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    if (path !== live && path !== ready) return false
    const status = app.health()
    const ok = path === live ? status.live : status.ready
    const body = JSON.stringify(status)
    res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) })
    res.end(req.method === 'HEAD' ? undefined : body)
    return true
  }
}
