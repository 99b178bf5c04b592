import type { AddressInfo, Socket } from 'node:net'
import type { IncomingMessage, Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import { asyncApiDocument, type AsyncApiDocument, type AsyncApiOptions } from '../asyncapi/asyncapi-document'
import type { Broker } from '../broker/broker'
import { HandshakeError } from '../protocol'
import { closeWithServer, Connection, ConnectionMetrics, Server, useSharedSettings, type AttachOptions, type ConnectionSettings, type ServerOptions, type UpgradeRequest } from '../transport'
import { chooseProtocol } from './choose-protocol'
import { ConnectionSession, type SessionGateway } from './connection-session'
import { Container } from './container'
import { DefinitionError, nameOf } from './definition-error'
import type { GatewayDefaults, InvalidMessagePolicy, SlowConsumerPolicy } from './decorators/gateway'
import { checkDefaults, exploreGateway, type GatewayDefinition } from './explorer'
import { ConnectionsToken, GatewayConnections } from './gateway-connections'
import { GatewayCounters, type MetricsSnapshot } from './gateway-counters'
import { GuardContext } from './guard-context'
import type { HealthStatus } from './health-handler'
import { isGuardClass, type GuardFunction, type GuardLike, type GuardResult } from './guard'
import { compileGateway, type CompiledGateway, type HandlerTable } from './handler-compiler'
import { resolveLogger, type Logger } from './logger'
import type { Token } from './provider'
import { NO_PARAMS, Router } from './router'
import type { Class, MemberKey } from './store'

/** Transport settings the app passes through to its `Server` (see the core API). */
export type TransportOptions = Pick<
  ServerOptions,
  | 'fragmentSize'
  | 'closeTimeout'
  | 'handshakeTimeout'
  | 'maxHeaderSize'
  | 'maxConnections'
  | 'maxPendingHandshakes'
  | 'maxBufferedAmount'
  | 'slowConsumer'
  | 'highWaterMark'
  | 'idleTimeout'
  | 'extraHeaders'
>

/** Options of `bootstrap(module, options)`. */
export interface BootstrapOptions extends GatewayDefaults {
  /** Where handler errors without an `@OnError` go. Default `console`; `false` silences. */
  logger?: Logger | false
  /** Guards run on every handshake before each gateway's own `@UseGuards`. */
  guards?: readonly GuardLike[]
  /** Transport limits and timeouts, passed to the core `Server`. */
  transport?: TransportOptions
  /**
   * Resolves the tokens no module of the app provides from another injector (a host's: see
   * `gatewire/nest`). Return `{ value }`, or undefined when that injector does not know it either.
   */
  externalProviders?: (token: Token) => { value: unknown } | undefined
  /** Count handshakes, messages, bytes, closes and errors per gateway (`app.metrics()`). Default true. */
  metrics?: boolean
  /**
   * What carries room messages, `sendToAll` and presence between instances (processes,
   * machines): `redisBroker({ url })` from `gatewire/redis`, or an `InProcessHub`'s broker.
   * Default: an in-process broker (one instance). The app starts it before listening and
   * closes it last.
   */
  broker?: Broker
}

/** Options of `app.close(options)`. */
export interface CloseOptions {
  /**
   * Also close the HTTP(S) servers the app is attached to, once its WebSockets are closed (1001),
   * and resolve when they have closed: one call shuts down the host's server too. Default false.
   */
  servers?: boolean
  /**
   * Milliseconds to keep serving after the app reports not ready, before the 1001s go out:
   * time for a load balancer polling `/readyz` to stop sending new connections. Default 0.
   */
  drainDelay?: number
}

/** The defaults every gateway starts from (documented in docs/framework.md). */
export const GATEWAY_DEFAULTS = Object.freeze({
  maxMessageSize: 16 * 1024 * 1024,
  heartbeatInterval: 30_000,
  invalidMessage: 'reply' as InvalidMessagePolicy,
  asyncValidation: false,
  maxBufferedAmount: 16 * 1024 * 1024,
  slowConsumer: 'close' as SlowConsumerPolicy,
})

type ResolvedOptions = Required<
  Pick<GatewayDefaults, 'maxMessageSize' | 'heartbeatInterval' | 'invalidMessage' | 'asyncValidation' | 'maxBufferedAmount' | 'slowConsumer'>
> &
  GatewayDefaults

type Selector = (request: UpgradeRequest, offered: string[]) => string | undefined | Promise<string | undefined>

/** A gateway as the running app holds it. */
class GatewayRuntime implements SessionGateway {
  readonly open = new Map<Connection, ConnectionSession>()
  readonly connections: GatewayConnections
  instance!: object
  compiled!: CompiledGateway
  guards: readonly GuardFunction[] = []
  selector: Selector | undefined
  heartbeat: NodeJS.Timeout | undefined
  readonly counters = new GatewayCounters()
  /** Ends the gateway-wide topic's group (see opened()); set while connections are open. */
  private endGroup: (() => void) | undefined
  /** The open connections as an iterable the server's topics walk. */
  private readonly members: Iterable<Connection> = { [Symbol.iterator]: () => this.open.keys() }
  private readonly sharedSettings: [Readonly<ConnectionSettings>?, Readonly<ConnectionSettings>?] = []

  constructor(
    readonly definition: GatewayDefinition,
    readonly module: Class,
    readonly options: ResolvedOptions,
    readonly logger: Logger,
    readonly originAllowed: ((origin: string) => boolean) | undefined,
    /** Its connections' transport counters (null with `metrics: false`). */
    readonly metrics: ConnectionMetrics | null,
    private readonly server: () => Server,
    /** The app router's params for a path (the route is this gateway's: the handshake matched it). */
    private readonly routeParams: (path: string) => Readonly<Record<string, string>>,
  ) {
    this.connections = new GatewayConnections(definition.type, this.open, { server, prefix: definition.path })
  }

  /**
   * A connection was added to `open`. The first one makes every open connection a subscriber of
   * the gateway-wide topic (its path), so that `sendToAll` reaches this instance: interest only
   * while it has connections.
   */
  opened(): void {
    if (this.endGroup === undefined) this.endGroup = this.server().subscribeAll(this.definition.path, this.members)
  }

  /**
   * The settings every connection of this gateway gets (limits, slow-consumer policy,
   * compression, counters) with its handler's binary mode: one frozen object per mode, shared
   * by the requests (see useSharedSettings).
   */
  settings(binaryStream: boolean): Readonly<ConnectionSettings> {
    const index = binaryStream ? 1 : 0
    return (this.sharedSettings[index] ??= Object.freeze({
      maxMessageSize: this.options.maxMessageSize,
      maxBufferedAmount: this.options.maxBufferedAmount,
      slowConsumer: this.options.slowConsumer,
      compression: this.options.compression ?? false,
      metrics: this.metrics,
      binaryMode: binaryStream ? 'stream' : 'buffer',
    }))
  }

  /** SessionGateway: the decoded path parameters of a connection's path (see ConnectionSession#params). */
  paramsOf(path: string): Readonly<Record<string, string>> {
    return this.routeParams(path)
  }

  /** SessionGateway: a connection left `open`. */
  removed(): void {
    if (this.open.size === 0 && this.endGroup !== undefined) {
      this.endGroup()
      this.endGroup = undefined
    }
  }
  get name(): string {
    return this.definition.name
  }
  get invalidMessage(): InvalidMessagePolicy {
    return this.options.invalidMessage
  }
}

/** What the handshake hooks learned about a request, for the 'connection' handler. */
interface Handshake {
  readonly gateway: GatewayRuntime
  /** The route's parameters once decoded (for guards); undefined: decoded when a handler first reads them. */
  params: Readonly<Record<string, string>> | undefined
  protocol: string | undefined
}

/**
 * A bootstrapped app: its gateways built and compiled, its transport `Server` ready to listen
 * or to attach to an HTTP(S) server. Created by `bootstrap()`.
 */
export class Application {
  /** The core server the app owns (one per app). */
  readonly server: Server
  private readonly container: Container
  private readonly configuredBroker: Broker | undefined
  private readonly gateways: GatewayRuntime[] = []
  private readonly byType = new Map<Class, GatewayRuntime>()
  private readonly router = new Router<GatewayRuntime>()
  /** A connection's params, matched again when its handlers first ask (see ConnectionSession#params). */
  private readonly routeParams = (path: string): Readonly<Record<string, string>> => this.router.match(path)?.params ?? NO_PARAMS
  private readonly logger: Logger
  private readonly globalGuards: readonly GuardFunction[]
  private readonly handshakes = new WeakMap<UpgradeRequest, Handshake>()
  private state: 'idle' | 'running' | 'closing' | 'closed' = 'idle'
  private closing: Promise<void> | undefined
  private readonly hosts: (HttpServer | HttpsServer)[] = []

  constructor(
    private readonly rootModule: Class,
    options: BootstrapOptions = {},
  ) {
    checkDefaults(`bootstrap(${nameOf(rootModule)})`, options)
    this.configuredBroker = options.broker
    this.logger = resolveLogger(options.logger)
    const external = options.externalProviders
    this.container = new Container(rootModule, (token, requester) => {
      if (!(token instanceof ConnectionsToken)) {
        return external === undefined || this.container.declares(token) ? undefined : external(token as Token)
      }
      const runtime = this.byType.get(token.gateway)
      if (runtime === undefined) {
        throw new DefinitionError(requester.className, requester.member, `${token} names a class that is not a gateway of this app`)
      }
      return { value: runtime.connections }
    })

    const appDefaults = defined(options)
    // The slow-consumer settings of `transport` (the core's) stay the app-wide default; the
    // app's and each gateway's own options override them.
    const transportDefaults = defined({
      maxBufferedAmount: options.transport?.maxBufferedAmount,
      slowConsumer: options.transport?.slowConsumer,
    })
    for (const module of this.container.modules) {
      for (const type of module.gateways) {
        if (this.byType.has(type)) continue
        const definition = exploreGateway(type, { connectionType: Connection })
        const resolved = { ...GATEWAY_DEFAULTS, ...transportDefaults, ...appDefaults, ...defined(definition.options) }
        const metrics = options.metrics === false ? null : new ConnectionMetrics()
        const runtime = new GatewayRuntime(definition, module.type, resolved, this.logger, compileOrigins(resolved.origins), metrics, () => this.server, this.routeParams)
        const conflict = this.router.add(definition.path, runtime)
        if (conflict !== undefined) {
          throw new DefinitionError(
            definition.name,
            undefined,
            `two gateways on one path: ${conflict.conflict.name} is at "${conflict.pattern}" and ${definition.name} at "${definition.path}"`,
          )
        }
        this.byType.set(type, runtime)
        this.gateways.push(runtime)
      }
    }

    this.globalGuards = (options.guards ?? []).map((g, i) => this.compileGuard(g, rootModule, `bootstrap(${nameOf(rootModule)})`, i))
    for (const runtime of this.gateways) {
      const { definition } = runtime
      runtime.instance = this.container.instantiate(definition.type, runtime.module, definition.type) as object
      runtime.compiled = compileGateway(definition, runtime.instance, {
        validator: runtime.options.validator,
        transformer: runtime.options.transformer,
        asyncValidation: runtime.options.asyncValidation,
      })
      runtime.guards = definition.guards.map((g, i) => this.compileGuard(g, runtime.module, definition.name, i))
      if (definition.selectProtocol !== undefined) {
        const method = (runtime.instance as Record<MemberKey, Selector>)[definition.selectProtocol].bind(runtime.instance)
        if (definition.selectProtocolOrder === 'offered-first') {
          this.logger.warn(
            { gateway: definition.name },
            `gatewire: ${definition.name} @SelectProtocol() takes (offered, request): deprecated, declare (request: UpgradeRequest, offered: string[]) as the core's selectProtocol does`,
          )
          runtime.selector = (request, offered) => (method as unknown as (o: string[], r: UpgradeRequest) => ReturnType<Selector>)(offered, request)
        } else {
          runtime.selector = method
        }
      }
    }

    // One transport for every gateway: the message limit and binary mode are set per connection
    // in verify(), once the route and the protocol are known.
    this.server = new Server({
      ...options.transport,
      broker: options.broker,
      maxMessageSize: appDefaults.maxMessageSize ?? GATEWAY_DEFAULTS.maxMessageSize,
      // Heartbeats are per gateway, so the app runs them (see startHeartbeats).
      heartbeatInterval: 0,
      binaryMode: 'buffer',
      metrics: options.metrics !== false,
      verifyRequest: (request) => this.verify(request),
      selectProtocol: (request) => this.handshakes.get(request)?.protocol,
      // On a shared server, only upgrades to the app's gateways are the app's.
      shouldHandle: (req) => this.routes(req),
    })
    // The same decision from the pathname alone, for the upgrades the server parses itself.
    this.server.claimPathsBy((pathname) => this.routesPath(pathname))
    this.server.on('connection', this.onConnection)
    this.server.on('error', (err: Error) => this.logger.error({ err }, `gatewire: server error: ${err.message}`))
  }

  /**
   * Listens on `port` (0 picks a free one) and resolves with the app once listening.
   *
   * @example
   * const app = await bootstrap(AppModule).listen(8080)
   */
  listen(port: number, host?: string): Promise<this> {
    try {
      this.starting()
    } catch (err) {
      return Promise.reject(err)
    }
    // The broker first: a Redis that cannot be reached fails listen() with its error, before
    // the port is taken.
    return this.server.ready().then(
      () =>
        new Promise<this>((resolve, reject) => {
          const onError = (err: Error): void => {
            this.state = 'idle'
            this.stopHeartbeats()
            reject(err)
          }
          this.server.once('error', onError)
          this.server.listen(port, host, () => {
            this.server.off('error', onError)
            resolve(this)
          })
        }),
      (err: unknown) => {
        this.state = 'idle'
        this.stopHeartbeats()
        throw err
      },
    )
  }

  /**
   * Resolves once the app's broker has started (listen() waits for it; attach() starts it in
   * the background): rejects with the broker's error, e.g. a Redis that cannot be reached.
   */
  ready(): Promise<void> {
    return this.server.ready()
  }

  /**
   * Serves WebSocket upgrades of an existing HTTP(S) server, which keeps serving HTTP: only those
   * to the app's gateways' paths; every other upgrade is left to the server's other 'upgrade'
   * listeners (404/400 only when there are none). May be called for several servers (http and
   * https). Options: `intercept` (hide our upgrades from peers that answer every upgrade:
   * `ws` with `{ server, path }`, Nest's WsAdapter), `closeWithServer` (the server's own
   * `close()` closes the app first, so it finishes).
   *
   * @example
   * const http = createServer(expressApp).listen(8080)
   * bootstrap(AppModule).attach(http)
   */
  attach(httpServer: HttpServer | HttpsServer, options?: AttachOptions): this {
    // Several servers (http and https) under one app: the first attach starts it.
    if (this.state !== 'running') this.starting()
    // The app closes (heartbeats stop, state follows), not only its core server.
    this.server.attach(httpServer, { ...options, closeWithServer: false })
    if (options?.closeWithServer === true) closeWithServer(httpServer, () => void this.close())
    if (!this.hosts.includes(httpServer)) this.hosts.push(httpServer)
    return this
  }

  /**
   * Handles one upgrade from an 'upgrade' listener of your own (instead of `attach()`): the app
   * starts on the first one (heartbeats run) and `close()` closes the connections it made.
   * Answers 404 when no gateway matches the path.
   */
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.state === 'idle') this.starting()
    this.server.handleUpgrade(req, socket, head)
  }

  /** The path patterns of the app's gateways, in declaration order (`'/rooms/:room'`, `'*'` ...). */
  get paths(): readonly string[] {
    return this.gateways.map((g) => g.definition.path)
  }

  /** True when one of the app's gateways serves the path of this upgrade request. */
  routes(req: IncomingMessage): boolean {
    const url = req.url ?? '/'
    return this.routesPath(url.split('?', 1)[0])
  }

  private routesPath(pathname: string): boolean {
    try {
      return this.router.find(pathname) !== undefined
    } catch {
      // A parameter segment of one of our routes that does not decode: ours, answered 400.
      return true
    }
  }

  /** The listening address, as `net.Server#address()` gives it (`null` before listening). */
  address(): AddressInfo | string | null {
    return this.server.address()
  }

  /**
   * Graceful stop: the app reports not ready at once (`health()`), then, after `drainDelay`,
   * every connection is closed with 1001 (Going Away), the server stops accepting, and the
   * promise resolves once all are gone (or after the close timeout). Upgrades to the app's
   * paths are answered 503 from then on. With `{ servers: true }` the HTTP servers it is
   * attached to are closed next, and the promise waits for them too.
   *
   * @example
   * process.once('SIGTERM', () => app.close({ drainDelay: 5000 }).then(() => process.exit(0)))
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closing === undefined) {
      const drainDelay = options.drainDelay ?? 0
      if (!(Number.isFinite(drainDelay) && drainDelay >= 0)) {
        return Promise.reject(new RangeError(`drainDelay must be a number of ms ≥ 0, not ${String(drainDelay)}`))
      }
      this.stopHeartbeats()
      // Not ready from here on, before the first 1001 is sent. Also when idle: connections made
      // through `app.server.handleUpgrade()` are closed too.
      this.state = 'closing'
      this.closing = new Promise<void>((resolve, reject) => {
        const stop = (): void =>
          this.server.close((err) => {
            this.state = 'closed'
            if (err) reject(err)
            else resolve()
          })
        if (drainDelay > 0) setTimeout(stop, drainDelay)
        else stop()
      })
    }
    if (options.servers !== true) return this.closing
    return this.closing.then(() => Promise.all(this.hosts.map(closeHttpServer))).then(() => undefined)
  }

  /**
   * Liveness and readiness for load balancers and orchestrators (see `HealthStatus`;
   * `healthHandler(app)` serves them as `/healthz` and `/readyz`).
   */
  health(): HealthStatus {
    let connections = 0
    for (const gateway of this.gateways) connections += gateway.open.size
    const status = { live: this.state !== 'closed', ready: this.state === 'running', state: this.state, connections }
    const broker = this.broker
    return broker === undefined ? status : { ...status, broker: { state: broker.state } }
  }

  /**
   * The app's counters as plain numbers: handshakes by status, and per gateway its open
   * connections (by subprotocol), messages and bytes in and out (text, binary), close codes,
   * protocol errors, slow consumers, heartbeat terminations, handler errors and invalid
   * messages; the broker's stats when there is one. `gatewire/prometheus` exports them.
   *
   * @example
   * const { gateways } = app.metrics()
   * console.log(gateways.map((g) => `${g.gateway}: ${g.messagesReceived.text} text messages in`))
   */
  metrics(): MetricsSnapshot {
    const server = this.server.metrics
    if (server === null) throw new Error('metrics are off: bootstrap(..., { metrics: false })')
    const gateways = this.gateways.map(({ definition, metrics, counters }) => ({
      gateway: definition.name,
      path: definition.path,
      ...metrics!.snapshot(),
      handlerErrors: counters.handlerErrors,
      invalidMessages: counters.invalidMessages,
    }))
    const snapshot = { handshakes: server.snapshot().handshakes, gateways }
    const broker = this.broker
    return broker === undefined ? snapshot : { ...snapshot, broker: { ...broker.stats(), state: broker.state } }
  }

  /** The app's broker, when one was configured (`bootstrap(..., { broker })`); the default in-process one is not reported. */
  private get broker(): Broker | undefined {
    return this.configuredBroker
  }

  /** A provider or gateway instance of the app, by token. */
  get<T>(token: Token<T>): T {
    const runtime = typeof token === 'function' ? this.byType.get(token) : undefined
    if (runtime !== undefined) return runtime.instance as T
    return this.container.get(token, this.rootModule)
  }

  /**
   * The AsyncAPI 3.0 document of the app's gateways: channels, subprotocols, the messages a
   * client may send (DTOs as JSON Schema), known replies and the error event. Needs the optional
   * peer dependency `class-validator-jsonschema`, loaded on the first call.
   *
   * @example
   * const doc = JSON.stringify(app.asyncapi({ title: 'chat', version: '2.1.0' }))
   * http.on('request', (req, res) => { if (req.url === '/asyncapi.json') res.end(doc) })
   */
  asyncapi(options: AsyncApiOptions = {}): AsyncApiDocument {
    const gateways = this.gateways.map(({ definition, options: o }) => ({ definition, maxMessageSize: o.maxMessageSize, invalidMessage: o.invalidMessage }))
    return asyncApiDocument(gateways, { ...options, title: options.title ?? nameOf(this.rootModule) })
  }

  /** The open connections of one of the app's gateways. */
  connections<TData extends object = Record<string, unknown>>(gateway: Class): GatewayConnections<TData> {
    const runtime = this.byType.get(gateway)
    if (runtime === undefined) throw new TypeError(`${nameOf(gateway)} is not a gateway of this app`)
    return runtime.connections as unknown as GatewayConnections<TData>
  }

  private starting(): void {
    if (this.state !== 'idle') throw new Error(`the app is already ${this.state === 'running' ? 'started' : this.state}`)
    this.state = 'running'
    this.startHeartbeats()
  }

  private compileGuard(guard: GuardLike, module: Class, owner: string, index: number): GuardFunction {
    if (typeof guard !== 'function') {
      throw new DefinitionError(owner, undefined, `guard #${index} is ${nameOf(guard)}, not a function or a class with canActivate()`)
    }
    if (!isGuardClass(guard)) return guard as GuardFunction
    const instance = this.container.instantiate(guard, module)
    return (ctx) => instance.canActivate(ctx)
  }

  /**
   * The handshake, before the 101: route (404), origin (403), subprotocol (400), guards (their
   * status). Synchronous unless a selector or a guard returns a promise.
   */
  private verify(request: UpgradeRequest): void | Promise<void> {
    let route
    try {
      // request.path is still percent-encoded: the router decodes each segment once. The
      // route only: its parameters are decoded when a guard or handler first reads them.
      route = this.router.find(request.path)
    } catch {
      throw new HandshakeError(400, 'malformed percent-encoding in the request path')
    }
    if (route === undefined) throw new HandshakeError(404, `no gateway at ${request.path}`)
    const gateway = route.value
    if (gateway.originAllowed !== undefined && request.origin !== undefined && !gateway.originAllowed(request.origin)) {
      throw new HandshakeError(403, `origin ${request.origin} is not allowed`)
    }
    const handshake: Handshake = { gateway, params: route.paramNames.length === 0 ? NO_PARAMS : undefined, protocol: undefined }
    const offered = [...request.protocols]
    if (gateway.selector !== undefined) {
      let chosen: string | undefined | Promise<string | undefined>
      try {
        chosen = gateway.selector(request, offered)
      } catch (err) {
        return this.refuse(err, gateway, '@SelectProtocol', request)
      }
      if (isThenable(chosen)) {
        return Promise.resolve(chosen).then(
          (p) => this.agree(request, handshake, offered, p, true),
          (err: unknown) => this.refuse(err, gateway, '@SelectProtocol', request),
        )
      }
      return this.agree(request, handshake, offered, chosen, true)
    }
    const chosen = chooseProtocol(offered, gateway.definition.protocols, gateway.definition.options.protocolOrder)
    return this.agree(request, handshake, offered, chosen, false)
  }

  private agree(
    request: UpgradeRequest,
    handshake: Handshake,
    offered: readonly string[],
    chosen: string | undefined,
    custom: boolean,
  ): void | Promise<void> {
    const gateway = handshake.gateway
    if (chosen !== undefined && !offered.includes(chosen)) {
      // RFC 6455 §4.2.2: the server answers one of the client's values, or none.
      this.logger.warn(
        { gateway: gateway.name, remoteAddress: request.remoteAddress, offered: [...offered], chosen },
        `gatewire: ${gateway.name} @SelectProtocol chose "${String(chosen)}", which the client did not offer; treating it as no agreement`,
      )
      chosen = undefined
    }
    if (chosen === undefined && (offered.length > 0 || gateway.definition.options.protocolRequired === true)) {
      const supported = custom ? 'the gateway\'s selector chose none' : `supported: ${gateway.definition.protocols.join(', ') || 'none'}`
      throw new HandshakeError(400, `no acceptable subprotocol (offered: ${offered.join(', ') || 'none'}; ${supported})`)
    }
    handshake.protocol = chosen
    // Per connection: the gateway's limits (the message size is checked by the parser on the
    // frame header, before buffering), its slow-consumer policy and the binary mode its handler
    // for this protocol wants.
    useSharedSettings(request, gateway.settings(tableFor(gateway.compiled, chosen).binaryStream))
    const guards = this.globalGuards.length === 0 ? gateway.guards : [...this.globalGuards, ...gateway.guards]
    if (guards.length === 0) {
      // No guard: no context, no closure (a handshake's garbage is young-generation memory a burst grows).
      this.handshakes.set(request, handshake)
      return
    }
    const params = (handshake.params ??= this.routeParams(request.path))
    const ctx = new GuardContext(request, gateway.definition.type, params, chosen)
    const done = (): void => {
      this.handshakes.set(request, handshake)
    }
    return this.runGuards(guards, 0, ctx, gateway, done)
  }

  private runGuards(
    guards: readonly GuardFunction[],
    from: number,
    ctx: GuardContext,
    gateway: GatewayRuntime,
    done: () => void,
  ): void | Promise<void> {
    for (let i = from; i < guards.length; i++) {
      let result: GuardResult | Promise<GuardResult>
      try {
        result = guards[i](ctx)
      } catch (err) {
        return this.refuse(err, gateway, 'guard', ctx.request)
      }
      if (isThenable(result)) {
        return Promise.resolve(result).then(
          (r) => {
            if (ctx.denied !== undefined) throw ctx.denied
            if (r === false) throw new HandshakeError(403, 'forbidden')
            return this.runGuards(guards, i + 1, ctx, gateway, done)
          },
          (err: unknown) => this.refuse(err, gateway, 'guard', ctx.request),
        )
      }
      if (ctx.denied !== undefined) throw ctx.denied
      if (result === false) throw new HandshakeError(403, 'forbidden')
    }
    done()
  }

  /** A guard or selector that throws something other than a HandshakeError is a 500, logged. */
  private refuse(err: unknown, gateway: GatewayRuntime, what: string, request: UpgradeRequest): never {
    if (err instanceof HandshakeError) throw err
    this.logger.error({ gateway: gateway.name, remoteAddress: request.remoteAddress, path: request.path, err }, `gatewire: ${gateway.name} ${what} failed`)
    throw new HandshakeError(500, 'internal error')
  }

  private readonly onConnection = (conn: Connection): void => {
    // `app.server.handleUpgrade()` called directly: the app runs from its first connection.
    if (this.state === 'idle') this.starting()
    const request = conn.request
    const handshake = request === undefined ? undefined : this.handshakes.get(request)
    if (handshake === undefined) {
      // Only possible if the transport skipped verifyRequest: refuse rather than guess a gateway.
      this.logger.error({ remoteAddress: conn.remoteAddress, path: conn.path }, 'gatewire: a connection arrived without a routed handshake')
      conn.close(1011, 'unrouted')
      return
    }
    this.handshakes.delete(request!)
    const gateway = handshake.gateway
    // What the client was told is what counts.
    const protocol = conn.protocol
    // Params nobody decoded yet (no guard read them) are matched again if a handler asks: most never do.
    const session = new ConnectionSession(conn, tableFor(gateway.compiled, protocol), gateway, handshake.params)
    gateway.open.set(conn, session)
    gateway.opened()
    session.start()
  }

  private startHeartbeats(): void {
    for (const gateway of this.gateways) {
      const interval = gateway.options.heartbeatInterval
      if (interval <= 0) continue
      gateway.heartbeat = setInterval(() => {
        for (const [conn, session] of gateway.open) {
          // No pong since the last ping: the peer is gone without a close (RFC 6455 §5.5.2).
          if (!session.alive) {
            if (gateway.metrics !== null) gateway.metrics.heartbeatTerminations++
            conn.terminate()
            continue
          }
          session.alive = false
          conn.sendPing()
        }
      }, interval)
      gateway.heartbeat.unref()
    }
  }

  private stopHeartbeats(): void {
    for (const gateway of this.gateways) {
      if (gateway.heartbeat !== undefined) clearInterval(gateway.heartbeat)
      gateway.heartbeat = undefined
    }
  }
}

/** Closes an HTTP server (its idle keep-alive sockets at once); a server not listening counts as closed. */
function closeHttpServer(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) return resolve()
    server.close((err) => (err && (err as NodeJS.ErrnoException).code !== 'ERR_SERVER_NOT_RUNNING' ? reject(err) : resolve()))
    server.closeIdleConnections()
  })
}

function tableFor(compiled: CompiledGateway, protocol: string | undefined): HandlerTable {
  return protocol === undefined ? compiled.fallback : (compiled.byProtocol.get(protocol) ?? compiled.fallback)
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function'
}

/** The options that are set (`undefined` does not override a default). */
function defined<T extends object>(options: T): Partial<T> {
  const result: Partial<T> = {}
  for (const key of Object.keys(options) as (keyof T)[]) if (options[key] !== undefined) result[key] = options[key]
  return result
}

/** Origins compare case-insensitively and without a trailing slash (RFC 6454 §6.1 serialisation). */
function compileOrigins(origins: GatewayDefaults['origins']): ((origin: string) => boolean) | undefined {
  if (origins === undefined) return undefined
  if (typeof origins === 'function') return origins
  if (origins.includes('*')) return undefined
  const allowed = new Set(origins.map(normalizeOrigin))
  return (origin) => allowed.has(normalizeOrigin(origin))
}

function normalizeOrigin(origin: string): string {
  const lower = origin.toLowerCase()
  return lower.endsWith('/') ? lower.slice(0, -1) : lower
}
