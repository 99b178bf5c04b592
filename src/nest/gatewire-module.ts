import { Inject, Injectable, Module, type DynamicModule, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common'
import { HttpAdapterHost, ModuleRef } from '@nestjs/core'
import type { Server as HttpServer } from 'node:http'
import { bootstrap, type Application, type BootstrapOptions, type Class } from '../framework'

/** Options of `GatewireModule.forRoot()`. */
export interface GatewireModuleOptions {
  /** The gatewire root module (a gatewire `@Module`, not a Nest one). */
  module: Class
  /** Passed to gatewire's `bootstrap()`. */
  options?: BootstrapOptions
  /**
   * Resolve the tokens gatewire's modules do not provide from Nest's container (by class or
   * token, across modules: `moduleRef.get(token, { strict: false })`), so gateways and guards can
   * be injected with Nest providers. Default true.
   */
  shareProviders?: boolean
}

const OPTIONS = Symbol('gatewire options')

/**
 * Runs the gatewire app inside the Nest app's lifecycle: bootstrapped and attached to Nest's HTTP
 * server in `onApplicationBootstrap` (once every Nest provider exists), taking only the upgrades
 * to its gateways' paths (hidden from Nest's own WebSocket adapter, which keeps the others), and
 * closed (1001 to every WebSocket) in `onModuleDestroy`, before Nest closes its HTTP server —
 * which would otherwise wait for those connections forever.
 */
@Injectable()
export class GatewireHost implements OnApplicationBootstrap, OnModuleDestroy {
  private current: Application | undefined

  constructor(
    @Inject(OPTIONS) private readonly config: GatewireModuleOptions,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {}

  /** The running gatewire app (from `onApplicationBootstrap` on). */
  get app(): Application {
    if (this.current === undefined) throw new Error('gatewire/nest: the app starts in onApplicationBootstrap (after app.init() / app.listen())')
    return this.current
  }

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as HttpServer | undefined
    if (server === undefined) throw new Error('gatewire/nest: the Nest app has no HTTP server (NestFactory.create, not createApplicationContext)')
    const moduleRef = this.moduleRef
    this.current = bootstrap(this.config.module, {
      ...this.config.options,
      externalProviders:
        this.config.shareProviders === false
          ? this.config.options?.externalProviders
          : (token) => {
              try {
                return { value: moduleRef.get(token as never, { strict: false }) }
              } catch {
                return undefined // not a Nest provider either: gatewire names the missing token
              }
            },
    })
    this.current.attach(server, { intercept: true })
  }

  onModuleDestroy(): Promise<void> {
    return this.current?.close() ?? Promise.resolve()
  }
}

/**
 * The Nest module of the `gatewire/nest` integration.
 *
 * @example
 * @Module({ imports: [GatewireModule.forRoot({ module: ChatModule })], providers: [UsersService] })
 * class AppModule {}
 * const nest = await NestFactory.create(AppModule)
 * await nest.listen(3000)
 * nest.get(GatewireHost).app.connections(ChatGateway)
 */
@Module({})
export class GatewireModule {
  static forRoot(options: GatewireModuleOptions): DynamicModule {
    return {
      module: GatewireModule,
      global: true,
      providers: [{ provide: OPTIONS, useValue: options }, GatewireHost],
      exports: [GatewireHost],
    }
  }
}
