import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { bootstrap, healthHandler, type Application, type Broker, type Logger } from '../src'
import { prometheusMetrics } from '../src/prometheus'
import { AppModule, appOptions } from './app-module'
import { ChatGateway } from './chat-gateway'
import { StaticFiles } from './static-files'

export interface ExampleAppOptions {
  /** Port to listen on; 0 picks a free one. Default 8001. */
  port?: number
  /** Interface to listen on. Default: every interface, as `net.Server#listen` does. */
  host?: string
  /** Where gatewire logs handler errors. Default `console`; `false` silences it. */
  logger?: Logger | false
  /**
   * A Redis (`redis://…` or `rediss://…`) to share rooms and presence with every other instance
   * started with the same one. Default: none, one instance (the in-process broker).
   */
  redisUrl?: string
}

/** The running example app. */
export interface ExampleApp {
  /** The page to open, e.g. `http://localhost:8001/`. */
  readonly url: string
  readonly port: number
  /** The gatewire application serving the WebSocket gateways. */
  readonly app: Application
  readonly http: HttpServer
  /**
   * Graceful stop: every WebSocket is closed with 1001 (Going Away), then the HTTP server; a
   * connection still without a complete request after a second is cut.
   */
  close(): Promise<void>
}

/** How long close() lets HTTP requests in progress finish before it cuts their connections. */
const CLOSE_GRACE_MS = 1000

// Pages may only talk to this server; shared images are shown from blob: URLs.
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
}

/**
 * Starts the example chat: one HTTP server serves the page (`public/`), a small JSON API
 * (`GET /api/rooms`) and, through `app.attach()`, the WebSocket gateways on the same port.
 *
 * @example
 * const chat = await startExampleApp({ port: 0 })
 * console.log(chat.url)
 * await chat.close()
 */
export async function startExampleApp(options: ExampleAppOptions = {}): Promise<ExampleApp> {
  const broker = options.redisUrl === undefined ? undefined : await redisBroker(options.redisUrl, options.logger)
  const app = bootstrap(AppModule, { ...appOptions, logger: options.logger, broker })
  // An app that never served stops without its broker (close() has no connections to end
  // then); the broker must still let go of Redis.
  const abandon = (err: unknown): Promise<never> => app.close().then(() => app.server.broker.close()).then(() => Promise.reject(err))
  // A Redis that cannot be reached fails here, naming its URL, before the port is taken.
  await app.ready().catch(abandon)
  const files = new StaticFiles(join(__dirname, 'public'))
  const chat = app.get(ChatGateway)
  // Liveness and readiness probes: /healthz and /readyz (503 from the moment a shutdown starts).
  const probes = healthHandler(app)
  // Prometheus scrapes /metrics: gatewire's counters, read at scrape time.
  const registry = new Registry()
  prometheusMetrics(app, { registry })
  // The contract of every gateway, for client developers (AsyncAPI Studio, @asyncapi/cli).
  let asyncapi: string | undefined

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n')
      return
    }
    if (probes(req, res)) return
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname
    if (pathname === '/asyncapi.json') {
      asyncapi ??= JSON.stringify(app.asyncapi({ title: 'gatewire example chat', version: '1.0.0' }), null, 2)
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' }).end(asyncapi)
      return
    }
    if (pathname === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' }).end(text),
        () => res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('metrics failed\n'),
      )
      return
    }
    if (pathname === '/api/rooms') {
      chat.roomList().then(
        (rooms) => res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(rooms)),
        (err: Error) => res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${err.message}\n`),
      )
      return
    }
    if (files.serve(req, res)) return
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n')
  })
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(options.port ?? 8001, options.host, () => {
      http.off('error', reject)
      resolve()
    })
  }).catch(abandon)
  // Attached once listening, so a failed listen (port in use) leaves nothing running.
  app.attach(http)
  const port = (http.address() as AddressInfo).port
  const shownHost = options.host === undefined || options.host === '0.0.0.0' || options.host === '::' ? 'localhost' : options.host

  let closing: Promise<void> | undefined
  return {
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}/`,
    port,
    app,
    http,
    close() {
      return (closing ??= app.close().then(
        () =>
          new Promise<void>((resolve, reject) => {
            // A connection that has not finished a request holds http.close() open, and once
            // closed the server no longer times requests out: a browser's speculative
            // connection that never sends one would keep close() pending for good. Such
            // connections get a short grace, then are cut.
            const stragglers = setTimeout(() => http.closeAllConnections(), CLOSE_GRACE_MS)
            stragglers.unref()
            http.close((err) => {
              clearTimeout(stragglers)
              if (err) reject(err)
              else resolve()
            })
            // Idle keep-alive connections of page loads would hold close() open.
            http.closeIdleConnections()
          }),
      ))
    },
  }
}

/** The Redis broker, loaded only when asked for: without REDIS_URL the example never loads ioredis. */
async function redisBroker(url: string, logger: Logger | false | undefined): Promise<Broker> {
  const redis = await import('../src/redis')
  return redis.redisBroker({ url, logger: logger === false ? false : undefined })
}
