import { Application, type BootstrapOptions } from './application'
import type { Class } from './store'

/**
 * Builds an app from its root module: reads every module, gateway and provider once, injects
 * and compiles them, and returns the `Application`, ready to `listen()` or `attach()`.
 * Misconfiguration throws a `DefinitionError` here, before anything listens.
 *
 * @example
 * const app = await bootstrap(AppModule, { maxMessageSize: 1 << 20 }).listen(8080)
 * console.log(app.address())
 * await app.close()
 */
export function bootstrap(rootModule: Class, options?: BootstrapOptions): Application {
  return new Application(rootModule, options)
}
