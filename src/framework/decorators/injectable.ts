import { markInjectable, setInjectToken } from '../store'
import type { ConnectionsToken } from '../gateway-connections'
import type { Token } from '../provider'

/**
 * Marks a provider class whose constructor parameters are injected by type. TypeScript only
 * records parameter types for decorated classes, so a provider with constructor parameters
 * needs it.
 *
 * @example
 * @Injectable()
 * class RoomService { constructor(private readonly store: Store) {} }
 */
export function Injectable(): ClassDecorator {
  return (target) => {
    markInjectable(target)
  }
}

/**
 * Injects a constructor parameter by token instead of by type (interfaces, strings, symbols,
 * `InjectionToken`s, `connectionsOf(Gateway)`).
 *
 * @example
 * @Injectable()
 * class Motd { constructor(@Inject(CONFIG) private readonly config: Config) {} }
 */
export function Inject(token: Token | ConnectionsToken): ParameterDecorator {
  return (target: object, method: string | symbol | undefined, index: number) => {
    if (method !== undefined) throw new TypeError('@Inject() belongs on a constructor parameter')
    setInjectToken(target as Function, index, token)
  }
}
