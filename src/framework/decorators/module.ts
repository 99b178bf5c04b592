import { setModuleRecord, type Class } from '../store'
import type { Provider } from '../provider'

/** What a `@Module` declares. */
export interface ModuleOptions {
  /** `@Gateway` classes this module serves. */
  gateways?: readonly Class[]
  /** Singletons injectable into this module's gateways and providers (and modules importing it). */
  providers?: readonly Provider[]
  /** Modules whose gateways are served too and whose providers this module can inject. */
  imports?: readonly Class[]
}

/**
 * Declares a module: a set of gateways and the providers they need. The app's root module is
 * the one passed to `bootstrap()`; other modules join through `imports`.
 *
 * @example
 * @Module({ gateways: [ChatGateway], providers: [RoomService, { provide: CONFIG, useValue: config }] })
 * class AppModule {}
 */
export function Module(options: ModuleOptions = {}): ClassDecorator {
  return (target) => {
    setModuleRecord(
      target as unknown as Class,
      Object.freeze({
        gateways: Object.freeze([...(options.gateways ?? [])]),
        providers: Object.freeze([...(options.providers ?? [])]),
        imports: Object.freeze([...(options.imports ?? [])]),
      }),
    )
  }
}
