import { EventEmitter } from 'node:events'
import * as http from 'node:http'
import type * as https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
// From the defining modules, as everywhere in transport (see connection.ts).
import { CloseCode } from '../protocol/constants'
import { buildAcceptResponse, negotiateProtocol, validateUpgradeRequest } from '../protocol/handshake'
import { HandshakeError } from '../protocol/handshake-error'
import { acceptCompression, shareOffer } from './compression'
import type { Broker, BrokerState, Presence } from '../broker/broker'
import { InProcessBroker } from '../broker/in-process-broker'
import { Connection } from './connection'
import { resolveCompressionOptions } from '../protocol/extensions/compression-options'
import { resolveConnectionOptions, type ResolvedConnectionOptions, type ServerOptions } from './options'
import { TopicRegistry, type PublishOptions } from './pubsub/topic-registry'
import { rejectUpgrade as reject } from './reject-upgrade'
import { ServerMetrics } from './server-metrics'
import { pathOf, pathOfUrl, UpgradeClaim, type UpgradeClaimant } from './upgrade-claim'
import {
  createParsedUpgradeRequest,
  createUpgradeRequest,
  incomingMessage,
  requestUrl,
  ParsedHead,
  type UpgradeRequest,
} from './upgrade-request'
import { UpgradeFront, type FrontClaimant } from './upgrade-front'
import type { RequestHead } from '../protocol/request-head'

type HttpServer = http.Server | https.Server

export interface Server {
  on(event: 'connection', listener: (connection: Connection) => void): this
  on(event: 'listening' | 'close', listener: () => void): this
  on(event: 'error', listener: (error: Error) => void): this
  on(event: 'broker', listener: (state: BrokerState, error?: Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'connection', listener: (connection: Connection) => void): this
  once(event: 'listening' | 'close', listener: () => void): this
  once(event: 'error', listener: (error: Error) => void): this
  once(event: 'broker', listener: (state: BrokerState, error?: Error) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

/**
 * A WebSocket server on Node's HTTP 'upgrade' event: it listens on its own (`listen`) or shares
 * a port with an existing HTTP/HTTPS server (`attach`, or the `server` option).
 *
 * Events: `connection` (Connection), `listening`, `close`, `error` (server socket errors,
 * errors thrown by hooks, and broker failures; emitted only when someone listens), `broker`
 * (the broker's state changed: state, error?).
 *
 * Topics (pub/sub): `connection.subscribe(topic)`, `server.publish(topic, message)`; the
 * server's broker (ServerOptions.broker) carries publishes between instances.
 */
export class Server extends EventEmitter implements UpgradeClaimant, FrontClaimant {
  private readonly connectionOptions: ResolvedConnectionOptions
  private readonly handshakeTimeout: number
  private readonly maxHeaderSize: number
  private readonly maxConnections: number
  private readonly maxPendingHandshakes: number
  private readonly heartbeatInterval: number
  private readonly validProtocols: readonly string[] | undefined
  private readonly selectProtocol: ServerOptions['selectProtocol']
  private readonly verifyRequest: ServerOptions['verifyRequest']
  private readonly extraHeaders: Record<string, string>
  private readonly compression: ServerOptions['compression']
  private readonly shouldHandle: (req: http.IncomingMessage) => boolean
  /** shouldHandle on the path alone, when there is no `shouldHandle` option (see takeParsedUpgrade). */
  private claimsPath: ((path: string) => boolean) | undefined
  /** Handshakes by status and connection counters (see ServerMetrics); null with `metrics: false`. */
  readonly metrics: ServerMetrics | null

  private readonly open = new Set<Connection>()
  private pending = 0
  /** The HTTP(S) servers whose upgrades this server serves; the first is `address()`'s. */
  private readonly httpServers: HttpServer[] = []
  private ownsHttpServer = false
  private heartbeatTimer: NodeJS.Timeout | null = null
  private closing = false
  private closed = false
  private readonly topicRegistry: TopicRegistry
  /** Someone awaits ready(): a broker that fails to start is theirs to report. */
  private readyAsked = false
  private readonly release = (connection: Connection<object>): void => {
    this.open.delete(connection as Connection)
    this.topicRegistry.drop(connection)
  }
  /** 'connection', once the connection is OPEN: one function for all, no closure per handshake. */
  private readonly announce = (connection: Connection<object>): void => {
    try {
      this.emit('connection', connection)
    } catch (error) {
      this.emitError(error instanceof Error ? error : new Error(String(error)))
    }
  }
  /** Errors of the server's own HTTP server (EADDRINUSE ...), re-emitted with Node's semantics: unhandled, they throw. */
  private readonly onHttpError = (error: Error): void => {
    this.emit('error', error)
  }

  constructor(options: ServerOptions = {}) {
    super()
    this.connectionOptions = resolveConnectionOptions(options)
    this.topicRegistry = new TopicRegistry(
      options.broker ?? new InProcessBroker(),
      (error, starting) => this.onBrokerError(error, starting),
      (state, error) => this.emit('broker', state, error),
    )
    this.connectionOptions.topics = this.topicRegistry
    this.connectionOptions.release = this.release
    this.handshakeTimeout = options.handshakeTimeout ?? 5000
    this.maxHeaderSize = options.maxHeaderSize ?? 16 * 1024
    this.maxConnections = options.maxConnections ?? Infinity
    this.maxPendingHandshakes = options.maxPendingHandshakes ?? 1024
    this.heartbeatInterval = options.heartbeatInterval ?? 30_000
    this.validProtocols = options.validProtocols
    this.selectProtocol = options.selectProtocol
    this.verifyRequest = options.verifyRequest
    this.extraHeaders = options.extraHeaders ?? {}
    this.compression = options.compression
    resolveCompressionOptions(this.compression) // throws on invalid options now, not at the first handshake
    const claims = pathClaim(options.path)
    this.claimsPath = options.shouldHandle === undefined ? claims : undefined
    this.shouldHandle = pathFilter(options, claims)
    this.metrics = options.metrics === false ? null : new ServerMetrics()
    if (!(this.handshakeTimeout > 0)) throw new RangeError('handshakeTimeout must be positive')
    if (!(this.heartbeatInterval >= 0)) throw new RangeError('heartbeatInterval must be ≥ 0')
    if (options.server !== undefined) this.attach(options.server)
  }

  /**
   * Publishes `message` to `topic`: text for a string, binary for a Buffer/Uint8Array. The
   * frame is built once and the same bytes are queued for every local subscriber but
   * `options.except`, each under its own backpressure policy (`maxBufferedAmount`,
   * `slowConsumer`: a slow subscriber is closed with 1008 or skipped, never waited for); the
   * broker carries the message to the other instances' subscribers. Published frames are
   * written at the end of the event-loop iteration (one write per subscriber for everything
   * published meanwhile), or with the subscriber's next send, whichever comes first. Returns
   * the number of local subscribers it was queued for (not those it was dropped for).
   */
  publish(topic: string, message: string | Uint8Array, options?: PublishOptions): number {
    return this.topicRegistry.publish(topic, message, options)
  }

  /**
   * Makes every connection of a live collection you keep (a Set, a Map's keys, any iterable
   * that reflects its current members) a subscriber of `topic`, with nothing stored per
   * connection: a publish to `topic`, here or on another instance, walks the collection. For
   * "everyone on this endpoint" topics. Returns the function that ends it.
   *
   * @example
   * const everyone = new Set<Connection>()
   * const stop = server.subscribeAll('announcements', everyone)
   */
  subscribeAll(topic: string, connections: Iterable<Connection<object>>): () => void {
    return this.topicRegistry.subscribeAll(topic, connections)
  }

  /** Local subscribers of `topic` (this server only). */
  subscriberCount(topic: string): number {
    return this.topicRegistry.subscriberCount(topic)
  }

  /** Topics with at least one local subscriber (a snapshot). */
  get topics(): string[] {
    return this.topicRegistry.topics()
  }

  /**
   * The members of `topic` on every instance sharing the broker: subscribers that gave
   * `presence` data when subscribing, with that data.
   */
  presence(topic: string): Promise<Presence> {
    return this.topicRegistry.presence(topic)
  }

  /** The broker behind publish (ServerOptions.broker, or the server's in-process one). */
  get broker(): Broker {
    return this.topicRegistry.broker
  }

  /**
   * Resolves once the broker has started; rejects with its error (a Redis that cannot be
   * reached). listen() and attach() start the broker (so does this call, or a first subscribe
   * or publish). A start failure is reported once: to ready()'s callers when ready() was called,
   * otherwise as 'error' (printed to the console when nobody listens).
   */
  ready(): Promise<void> {
    this.readyAsked = true
    return this.topicRegistry.start()
  }

  /** Open connections (a snapshot). */
  get connections(): Connection[] {
    return [...this.open]
  }

  /** Creates an HTTP server of its own and listens on `port` (0 picks a free port). */
  listen(port: number, host?: string | (() => void), callback?: () => void): this {
    if (typeof host === 'function') {
      callback = host
      host = undefined
    }
    if (this.httpServers.length !== 0) throw new Error('this server is already listening or attached')
    const server = http.createServer({ maxHeaderSize: this.maxHeaderSize }, (_req, res) => {
      const body = 'This is a WebSocket endpoint: connect with a WebSocket client.\n'
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' })
      res.end(body)
    })
    // Slowloris bound: a client has handshakeTimeout to send its request head (Node answers 408).
    server.headersTimeout = this.handshakeTimeout
    server.requestTimeout = this.handshakeTimeout
    // Node checks those timeouts on this interval (30 s by default).
    ;(server as unknown as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(
      1000,
      this.handshakeTimeout,
    )
    server.on('error', this.onHttpError)
    // WebSocket upgrades answered before Node's HTTP parser sees them (see UpgradeFront).
    if (UpgradeFront.enabled) UpgradeFront.install(server, this, this.handshakeTimeout, this.maxHeaderSize)
    this.attach(server)
    this.ownsHttpServer = true
    server.once('listening', () => this.emit('listening'))
    if (callback !== undefined) this.once('listening', callback)
    server.listen(port, host)
    return this
  }

  /**
   * Serves the WebSocket upgrades of an existing HTTP or HTTPS server that pass the `path` /
   * `shouldHandle` filter; the server keeps serving its other requests, and every other upgrade
   * is left to its other 'upgrade' listeners (see the README, "Sharing a server"). May be called
   * for several servers (http and https): `connections` and `close()` cover them all.
   * `intercept: true` hides the upgrades this server claims from the other listeners, for peers
   * that answer every upgrade themselves (`ws` with `{ server, path }`, @fastify/websocket).
   */
  attach(httpServer: HttpServer, options: AttachOptions = {}): this {
    if (this.ownsHttpServer) throw new Error('this server listens on its own server: create another to attach')
    if (this.closing) throw new Error('this server is closed')
    // An attached server's own errors stay its owner's business (listening to them here would
    // hide an EADDRINUSE from an application that does not listen).
    if (!this.httpServers.includes(httpServer)) this.httpServers.push(httpServer)
    UpgradeClaim.of(httpServer).add(this, options)
    if (options.closeWithServer === true) closeWithServer(httpServer, () => this.close())
    this.startHeartbeat()
    void this.topicRegistry.start().catch(noop)
    return this
  }

  /** The address of the (first) server it listens on or is attached to. */
  address(): AddressInfo | string | null {
    return this.httpServers.length === 0 ? null : this.httpServers[0].address()
  }

  /** @internal UpgradeClaimant: this WebSocket upgrade is to one of this server's paths. */
  claims(req: http.IncomingMessage): boolean {
    return this.shouldHandle(req)
  }

  /**
   * @internal For a `shouldHandle` that reads only the request's path (the framework's router):
   * the same decision from the pathname, so that upgrades parsed without Node's parser need no
   * IncomingMessage to be claimed.
   */
  claimPathsBy(claims: (pathname: string) => boolean): void {
    this.claimsPath = claims
  }

  /** @internal UpgradeClaimant: false once closing (its paths are then answered 503). */
  get accepting(): boolean {
    return !this.closing
  }

  /**
   * Graceful shutdown: stops accepting, sends 1001 to every open connection, waits up to
   * closeTimeout for the closing handshakes, destroys what remains, then calls back.
   */
  close(callback?: (error?: Error) => void): void {
    if (this.closed) {
      if (callback !== undefined) process.nextTick(callback)
      return
    }
    if (this.closing) {
      if (callback !== undefined) this.once('close', () => callback())
      return
    }
    this.closing = true
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer)
    this.heartbeatTimer = null
    let waiting = 1
    const done = (): void => {
      if (--waiting !== 0) return
      // The broker last: the connections' unsubscribes and leaves have gone to it by now.
      this.topicRegistry.close().then(
        () => this.finishClose(callback),
        (error: unknown) => {
          this.emitError(error instanceof Error ? error : new Error(String(error)))
          this.finishClose(callback)
        },
      )
    }
    // The upgrade listeners stay: upgrades to this server's paths are answered 503 from now on,
    // instead of falling through to the host's routes.
    const httpServer = this.ownsHttpServer ? this.httpServers[0] : undefined
    if (httpServer !== undefined) {
      waiting++
      // http.Server stops enforcing headersTimeout once closed: a client still sending its
      // request head (slowloris) would hold close() forever. Upgraded sockets are no longer
      // the http server's, so this only drops requests that never finished.
      const stragglers = setTimeout(() => httpServer.closeAllConnections?.(), this.handshakeTimeout)
      stragglers.unref()
      httpServer.close(() => {
        clearTimeout(stragglers)
        httpServer.off('error', this.onHttpError)
        done()
      })
      httpServer.closeIdleConnections?.()
    }
    for (const connection of this.open) {
      waiting++
      // Ahead of application listeners, which may throw.
      connection.prependOnceListener('close', done)
      if (connection.readyState === Connection.OPEN) connection.close(CloseCode.GoingAway, 'server shutting down')
      else if (connection.readyState !== Connection.CLOSING) connection.terminate()
    }
    done()
  }

  private finishClose(callback: ((error?: Error) => void) | undefined): void {
    this.closed = true
    this.emit('close')
    if (callback !== undefined) callback()
  }

  private onBrokerError(error: Error, starting: boolean): void {
    // A start failure belongs to whoever awaits ready() (the framework's listen() does): it
    // rejects with this error, and reporting it again would print it twice.
    if (starting && this.readyAsked) return
    if (this.listenerCount('error') > 0) this.emit('error', error)
    else if (starting) console.error('gatewire: the broker failed to start', error)
  }

  /**
   * Handles one upgrade request; usable directly from an 'upgrade' listener of your own.
   * Answers with an HTTP error (400, 426, 503, or a hook's HandshakeError) or 101.
   */
  handleUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    this.upgrade(socket, head, req.method, req.httpVersion, req.headers, req)
  }

  /**
   * @internal UpgradeFront: a WebSocket upgrade whose head the server parsed itself, on its own
   * HTTP server. Answered when it is to one of this server's paths and the server is not
   * closing; false leaves it to the HTTP server (which answers 404 or 503 as usual).
   */
  takeParsedUpgrade(socket: Socket, head: Buffer, parsed: RequestHead): boolean {
    if (this.closing) return false
    if (this.claimsPath !== undefined) {
      if (!this.claimsPath(pathOfUrl(parsed.url))) return false
      this.upgrade(socket, head, 'GET', '1.1', parsed.headers, new ParsedHead(socket, parsed))
      return true
    }
    // shouldHandle takes Node's request: built as Node's parser would have built it.
    const req = incomingMessage(new ParsedHead(socket, parsed), parsed.headers)
    if (!this.shouldHandle(req)) return false
    this.upgrade(socket, head, 'GET', '1.1', parsed.headers, req)
    return true
  }

  private upgrade(
    socket: Socket,
    head: Buffer,
    method: string | undefined,
    httpVersion: string,
    headers: http.IncomingHttpHeaders,
    source: http.IncomingMessage | ParsedHead,
  ): void {
    socket.on('error', noop) // errors during the handshake end in destroy, not a crash
    // Used alone (from an 'upgrade' listener of the user's): heartbeats run as when attached.
    this.startHeartbeat()
    const full = this.fullRefusal()
    if (full !== undefined) return reject(socket, full, this.metrics)
    if (this.pending >= this.maxPendingHandshakes) {
      return reject(socket, new HandshakeError(503, 'too many pending handshakes'), this.metrics)
    }
    let key: string
    let protocols: string[]
    try {
      ;({ key, protocols } = validateUpgradeRequest(method, httpVersion, headers))
    } catch (error) {
      return reject(socket, error as HandshakeError, this.metrics)
    }
    const offered = protocols.length === 0 ? NO_PROTOCOLS : protocols
    const request =
      source instanceof ParsedHead ? createParsedUpgradeRequest(source, headers, offered) : createUpgradeRequest(source, offered)
    // Synchronous hooks (the usual case) answer at once; only a promise makes the handshake
    // pending, with its timer and closures.
    let outcome: string | undefined | Promise<string | undefined>
    try {
      const verified = this.verifyRequest?.(request)
      outcome = isPromise(verified) ? verified.then(() => this.chooseProtocol(request, protocols)) : this.chooseProtocol(request, protocols)
    } catch (error) {
      return this.refuseUpgrade(socket, error)
    }
    if (isPromise(outcome)) this.awaitUpgrade(socket, head, key, request, protocols, outcome)
    else this.acceptUpgrade(socket, head, key, request, protocols, outcome)
  }

  /** The 503 for a server that is closing or at maxConnections; undefined when it takes connections. */
  private fullRefusal(): HandshakeError | undefined {
    if (this.closing) return new HandshakeError(503, 'server shutting down')
    if (this.open.size >= this.maxConnections) return new HandshakeError(503, 'too many connections')
    return undefined
  }

  /** The subprotocol to answer: selectProtocol's choice, or the first of validProtocols the client offered. */
  private chooseProtocol(request: UpgradeRequest, protocols: string[]): string | undefined | Promise<string | undefined> {
    if (this.selectProtocol !== undefined) return this.selectProtocol(request, protocols)
    return this.validProtocols === undefined ? undefined : negotiateProtocol(protocols, this.validProtocols)
  }

  /** A hook returned a promise: the handshake is pending (counted, timed) until it settles. */
  private awaitUpgrade(
    socket: Socket,
    head: Buffer,
    key: string,
    request: UpgradeRequest,
    protocols: string[],
    outcome: Promise<string | undefined>,
  ): void {
    this.pending++
    let settled = false
    const timer = setTimeout(() => {
      settle()
      reject(socket, new HandshakeError(503, 'handshake timed out'), this.metrics)
    }, this.handshakeTimeout)
    timer.unref()
    const settle = (): boolean => {
      if (settled) return false
      settled = true
      this.pending--
      clearTimeout(timer)
      // The handshake's closures (and with them the request) are not kept for the connection's life.
      socket.off('close', settle)
      return true
    }
    socket.once('close', settle)
    outcome.then(
      (protocol) => {
        if (settle()) this.acceptUpgrade(socket, head, key, request, protocols, protocol)
      },
      (error: unknown) => {
        if (settle()) this.refuseUpgrade(socket, error)
      },
    )
  }

  private acceptUpgrade(
    socket: Socket,
    head: Buffer,
    key: string,
    request: UpgradeRequest,
    protocols: string[],
    protocol: string | undefined,
  ): void {
    if (socket.destroyed) return
    if (protocol !== undefined && !protocols.includes(protocol)) {
      // Never answer a subprotocol the client did not offer (RFC 6455 §4.2.2).
      this.emitError(new Error(`selectProtocol returned ${JSON.stringify(protocol)}, which the client did not offer`))
      return reject(socket, new HandshakeError(500, 'internal error'), this.metrics)
    }
    // Checked again: the server may have started closing, or connections opened, while an
    // asynchronous hook was pending.
    const full = this.fullRefusal()
    if (full !== undefined) return reject(socket, full, this.metrics)
    this.completeUpgrade(socket, head, key, request, protocol)
  }

  /** A hook threw or rejected: its HandshakeError is the answer, anything else a 500 (and 'error'). */
  private refuseUpgrade(socket: Socket, error: unknown): void {
    if (error instanceof HandshakeError) return reject(socket, error, this.metrics)
    this.emitError(error instanceof Error ? error : new Error(String(error)))
    reject(socket, new HandshakeError(500, 'internal error'), this.metrics)
  }

  private completeUpgrade(
    socket: Socket,
    head: Buffer,
    key: string,
    request: UpgradeRequest,
    protocol: string | undefined,
  ): void {
    socket.off('error', noop)
    let compression
    try {
      compression = acceptCompression(request.headers['sec-websocket-extensions'], request.compression ?? this.compression)
    } catch (error) {
      return this.refuseUpgrade(socket, error) // a hook's invalid compression options
    }
    if (compression !== undefined) shareOffer(request.headers)
    const headers = compression === undefined ? this.extraHeaders : { ...this.extraHeaders, 'Sec-WebSocket-Extensions': compression.header }
    socket.write(buildAcceptResponse(key, protocol, headers))
    if (this.metrics !== null) this.metrics.countHandshake(101)
    const connection = new Connection({
      role: 'server',
      options: this.connectionOptions,
      path: requestUrl(request),
      headers: request.headers,
      protocols: request.protocols,
      protocol,
      request,
      compression,
      metrics: this.metrics?.connections ?? null,
    })
    this.open.add(connection)
    // 'connection' is emitted once the connection is OPEN, so its listeners can send at once.
    connection.attach(socket, head, this.announce)
  }

  private startHeartbeat(): void {
    if (this.heartbeatInterval === 0 || this.heartbeatTimer !== null || this.closing) return
    this.heartbeatTimer = setInterval(() => {
      for (const connection of this.open) {
        // Missed the previous ping: the peer (or the path to it) is gone.
        if (!connection.heartbeat()) {
          if (connection.metrics !== null) connection.metrics.heartbeatTerminations++
          connection.terminate()
        }
      }
    }, this.heartbeatInterval)
    this.heartbeatTimer.unref()
  }

  private emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }
}

/** Options of `server.attach(httpServer, options)`. */
export interface AttachOptions {
  /**
   * Hide the upgrades this server claims from the HTTP server's other 'upgrade' listeners (its
   * `emit` is wrapped for 'upgrade'), for peers that answer every upgrade on the server
   * themselves. Default false: other listeners see every upgrade and ignore ours.
   */
  intercept?: boolean
  /**
   * How a claimed upgrade is handled instead of `handleUpgrade` at once: e.g. routed through the
   * host's router and hooks, whose handler then calls `handleUpgrade` (see `gatewire/fastify`).
   * While closing, claimed upgrades skip it and get 503.
   */
  dispatch?: (req: http.IncomingMessage, socket: Socket, head: Buffer) => void
  /**
   * Make the HTTP server's own `close()` close this server too (1001 to every WebSocket), so it
   * finishes: the WebSockets are connections of the HTTP server, which otherwise waits for them
   * forever. Wraps that server's `close` method. Default false.
   */
  closeWithServer?: boolean
}

/**
 * Runs `closing` whenever `httpServer.close()` is called, then lets it close as usual: it
 * finishes once the connections `closing` ends are gone (the `closeWithServer` attach option).
 *
 * @example
 * closeWithServer(httpServer, () => wsServer.close())
 */
export function closeWithServer(httpServer: HttpServer, closing: () => void): void {
  const close = httpServer.close as (this: HttpServer, ...args: unknown[]) => HttpServer
  httpServer.close = function (this: HttpServer, ...args: unknown[]) {
    closing()
    return close.apply(this, args)
  } as HttpServer['close']
}

/** The `path` / `shouldHandle` options as one predicate (every WebSocket upgrade when neither is set). */
function pathFilter(options: ServerOptions, claims: (pathname: string) => boolean): (req: http.IncomingMessage) => boolean {
  const { path, shouldHandle } = options
  if (path === undefined) return shouldHandle ?? (() => true)
  return shouldHandle === undefined ? (req) => claims(pathOf(req)) : (req) => claims(pathOf(req)) && shouldHandle(req)
}

/** The `path` option as a predicate over a request's pathname (every path when not set). */
function pathClaim(path: ServerOptions['path']): (pathname: string) => boolean {
  if (path === undefined) return () => true
  const paths = new Set(typeof path === 'string' ? [path] : path)
  for (const p of paths) if (!p.startsWith('/')) throw new SyntaxError(`path ${JSON.stringify(p)} must start with "/"`)
  return (pathname) => paths.has(pathname)
}

/** Creates a server; call `listen(port)` or `attach(httpServer)` on it. */
export function createServer(options?: ServerOptions, onConnection?: (connection: Connection) => void): Server
export function createServer(onConnection?: (connection: Connection) => void): Server
export function createServer(
  options?: ServerOptions | ((connection: Connection) => void),
  onConnection?: (connection: Connection) => void,
): Server {
  if (typeof options === 'function') {
    onConnection = options
    options = undefined
  }
  const server = new Server(options)
  if (onConnection !== undefined) server.on('connection', onConnection)
  return server
}

function isPromise<T>(value: unknown): value is Promise<T> {
  return typeof value === 'object' && value !== null && typeof (value as Promise<T>).then === 'function'
}

function noop(): void {}

/** Shared by every connection whose client offered no subprotocol. */
const NO_PROTOCOLS: readonly string[] = Object.freeze([])
