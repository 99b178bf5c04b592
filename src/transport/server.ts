import { EventEmitter } from 'node:events'
import * as http from 'node:http'
import type * as https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
// From the defining modules, as everywhere in transport (see connection.ts).
import { CloseCode } from '../protocol/constants'
import { buildAcceptResponse, buildRejectResponse, negotiateProtocol, validateUpgradeRequest } from '../protocol/handshake'
import { HandshakeError } from '../protocol/handshake-error'
import { acceptCompression } from './compression'
import type { Broker, BrokerState, Presence } from '../broker/broker'
import { InProcessBroker } from '../broker/in-process-broker'
import { Connection } from './connection'
import { resolveCompressionOptions } from '../protocol/extensions/compression-options'
import { resolveConnectionOptions, type ResolvedConnectionOptions, type ServerOptions } from './options'
import { TopicRegistry, type PublishOptions } from './pubsub/topic-registry'
import { createUpgradeRequest, type UpgradeRequest } from './upgrade-request'

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
export class Server extends EventEmitter {
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

  private readonly open = new Set<Connection>()
  private pending = 0
  private httpServer: HttpServer | null = null
  private ownsHttpServer = false
  private heartbeatTimer: NodeJS.Timeout | null = null
  private closing = false
  private closed = false
  private readonly topicRegistry: TopicRegistry
  /** Someone awaits ready(): a broker that fails to start is theirs to report. */
  private readyAsked = false
  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.handleUpgrade(req, socket as Socket, head)
  }
  private readonly release = (connection: Connection<object>): void => {
    this.open.delete(connection as Connection)
    this.topicRegistry.drop(connection)
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
   * or publish). A failure is also emitted as 'error' when someone listens, and printed to the
   * console when nobody listens and nobody called ready().
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
    if (this.httpServer !== null) throw new Error('this server is already listening or attached')
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
    this.ownsHttpServer = true
    server.on('error', this.onHttpError)
    this.attach(server)
    server.once('listening', () => this.emit('listening'))
    if (callback !== undefined) this.once('listening', callback)
    server.listen(port, host)
    return this
  }

  /** Serves upgrades of an existing HTTP or HTTPS server (which keeps serving its other requests). */
  attach(httpServer: HttpServer): this {
    if (this.httpServer !== null && this.httpServer !== httpServer) {
      throw new Error('this server is already listening or attached')
    }
    this.httpServer = httpServer
    // An attached server's own errors stay its owner's business (listening to them here would
    // hide an EADDRINUSE from an application that does not listen).
    httpServer.on('upgrade', this.onUpgrade)
    this.startHeartbeat()
    void this.topicRegistry.start().catch(noop)
    return this
  }

  address(): AddressInfo | string | null {
    return this.httpServer === null ? null : this.httpServer.address()
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
    const httpServer = this.httpServer
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
    if (httpServer !== null) {
      httpServer.off('upgrade', this.onUpgrade)
      if (this.ownsHttpServer) {
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
    if (this.listenerCount('error') > 0) this.emit('error', error)
    else if (starting && !this.readyAsked) console.error('gatewire: the broker failed to start', error)
  }

  /**
   * Handles one upgrade request; usable directly from an 'upgrade' listener of your own.
   * Answers with an HTTP error (400, 426, 503, or a hook's HandshakeError) or 101.
   */
  handleUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', noop) // errors during the handshake end in destroy, not a crash
    const full = this.fullRefusal()
    if (full !== undefined) return reject(socket, full)
    if (this.pending >= this.maxPendingHandshakes) {
      return reject(socket, new HandshakeError(503, 'too many pending handshakes'))
    }
    let key: string
    let protocols: string[]
    try {
      ;({ key, protocols } = validateUpgradeRequest(req.method, req.httpVersion, req.headers))
    } catch (error) {
      return reject(socket, error as HandshakeError)
    }
    const request = createUpgradeRequest(req, protocols.length === 0 ? NO_PROTOCOLS : protocols)
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
      reject(socket, new HandshakeError(503, 'handshake timed out'))
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
      return reject(socket, new HandshakeError(500, 'internal error'))
    }
    // Checked again: the server may have started closing, or connections opened, while an
    // asynchronous hook was pending.
    const full = this.fullRefusal()
    if (full !== undefined) return reject(socket, full)
    this.completeUpgrade(socket, head, key, request, protocol)
  }

  /** A hook threw or rejected: its HandshakeError is the answer, anything else a 500 (and 'error'). */
  private refuseUpgrade(socket: Socket, error: unknown): void {
    if (error instanceof HandshakeError) return reject(socket, error)
    this.emitError(error instanceof Error ? error : new Error(String(error)))
    reject(socket, new HandshakeError(500, 'internal error'))
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
    const headers = compression === undefined ? this.extraHeaders : { ...this.extraHeaders, 'Sec-WebSocket-Extensions': compression.header }
    socket.write(buildAcceptResponse(key, protocol, headers))
    const connection = new Connection({
      role: 'server',
      options: this.connectionOptions,
      path: request.req?.url ?? '/',
      headers: request.headers,
      protocols: request.protocols,
      protocol,
      request,
      compression,
      release: this.release,
    })
    this.open.add(connection)
    // 'connection' is emitted once the connection is OPEN, so its listeners can send at once.
    connection.attach(socket, head, () => {
      try {
        this.emit('connection', connection)
      } catch (error) {
        this.emitError(error instanceof Error ? error : new Error(String(error)))
      }
    })
  }

  private startHeartbeat(): void {
    if (this.heartbeatInterval === 0 || this.heartbeatTimer !== null) return
    this.heartbeatTimer = setInterval(() => {
      for (const connection of this.open) {
        // Missed the previous ping: the peer (or the path to it) is gone.
        if (!connection.heartbeat()) connection.terminate()
      }
    }, this.heartbeatInterval)
    this.heartbeatTimer.unref()
  }

  private emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }
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

function reject(socket: Socket, error: HandshakeError): void {
  if (socket.destroyed) return
  const status = error instanceof HandshakeError ? error.status : 400
  const headers = error instanceof HandshakeError ? { ...error.headers } : {}
  socket.end(buildRejectResponse(status, error.message, headers))
  // Do not wait for the client to close its side.
  const timer = setTimeout(() => socket.destroy(), 1000)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}

function isPromise<T>(value: unknown): value is Promise<T> {
  return typeof value === 'object' && value !== null && typeof (value as Promise<T>).then === 'function'
}

function noop(): void {}

/** Shared by every connection whose client offered no subprotocol. */
const NO_PROTOCOLS: readonly string[] = Object.freeze([])
