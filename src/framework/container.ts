import { DefinitionError, nameOf } from './definition-error'
import { exploreModule, type ModuleDefinition } from './explorer'
import { ConnectionsToken, GatewayConnections } from './gateway-connections'
import { InjectionToken } from './injection-token'
import { declaresParameters, missingMetadata } from './missing-metadata'
import type { Provider, Token } from './provider'
import { getInjectTokens, getParamTypes, type Class } from './store'

type ProviderDefinition =
  | { readonly token: Token; readonly module: Class; readonly source: unknown; readonly kind: 'class'; readonly useClass: Class }
  | { readonly token: Token; readonly module: Class; readonly source: unknown; readonly kind: 'value'; readonly useValue: unknown }
  | {
      readonly token: Token
      readonly module: Class
      readonly source: unknown
      readonly kind: 'factory'
      readonly useFactory: (...deps: unknown[]) => unknown
      readonly inject: readonly Token[]
    }
  | { readonly token: Token; readonly module: Class; readonly source: unknown; readonly kind: 'existing'; readonly useExisting: Token }

/** Who asks for a dependency, for error messages and gateway-specific injection. */
interface Requester {
  readonly className: string
  readonly member: string
  /** The gateway being built, for its own `GatewayConnections`. */
  readonly gateway: Class | undefined
}

/** Resolves tokens the container does not own (e.g. `connectionsOf(Gateway)`); `undefined` if unknown. */
export type ExtraResolver = (token: unknown, requester: Requester) => { value: unknown } | undefined

/** Primitive and structural types TypeScript emits for interfaces, unions and `any`. */
const UNINJECTABLE = new Set<unknown>([undefined, Object, String, Number, Boolean, Symbol, BigInt, Array, Function, Promise])

/**
 * The app's injector. Modules are read once; every provider (and gateway, and class guard) is a
 * singleton of the app, built on first use with its constructor parameters injected by type
 * (`design:paramtypes`) or by `@Inject(token)`. A module sees its own providers and those of the
 * modules it imports, transitively.
 */
export class Container {
  /** Modules in discovery order, root first. */
  readonly modules: readonly ModuleDefinition[]
  private readonly scopes = new Map<Class, Map<unknown, ProviderDefinition>>()
  private readonly declared = new Map<unknown, ProviderDefinition>()
  private readonly instances = new Map<unknown, unknown>()
  private readonly building: unknown[] = []

  constructor(
    root: Class,
    private readonly extra: ExtraResolver = () => undefined,
  ) {
    const modules: ModuleDefinition[] = []
    const byType = new Map<Class, ModuleDefinition>()
    const visit = (type: Class): ModuleDefinition => {
      let found = byType.get(type)
      if (found) return found
      found = exploreModule(type)
      byType.set(type, found)
      modules.push(found)
      for (const imported of found.imports) visit(imported)
      return found
    }
    visit(root)
    this.modules = Object.freeze(modules)

    for (const module of modules) {
      for (const provider of module.providers) this.declare(this.normalize(provider, module.type), module)
      for (const gateway of module.gateways) {
        this.declare({ token: gateway, module: module.type, source: gateway, kind: 'class', useClass: gateway }, module)
      }
    }
    // A module sees what it declares plus everything its imports see.
    const own = new Map<Class, Map<unknown, ProviderDefinition>>()
    for (const module of modules) {
      const scope = new Map<unknown, ProviderDefinition>()
      for (const provider of [...module.providers, ...module.gateways]) {
        const token = typeof provider === 'function' ? provider : (provider as { provide: Token }).provide
        scope.set(token, this.declared.get(token)!)
      }
      own.set(module.type, scope)
    }
    for (const module of modules) {
      const scope = new Map<unknown, ProviderDefinition>()
      const seen = new Set<Class>()
      const gather = (m: ModuleDefinition): void => {
        if (seen.has(m.type)) return
        seen.add(m.type)
        for (const [token, def] of own.get(m.type)!) if (!scope.has(token)) scope.set(token, def)
        for (const imported of m.imports) gather(byType.get(imported)!)
      }
      gather(module)
      this.scopes.set(module.type, scope)
    }
  }

  /** Builds (once) and returns what `token` provides, as seen from `module`. */
  get<T>(token: Token<T>, module: Class, requester?: Requester): T {
    return this.resolve(token, module, requester ?? { className: nameOf(module), member: 'get()', gateway: undefined }) as T
  }

  /** Builds a class (a gateway or a guard) as a singleton, whether or not it is a declared provider. */
  instantiate<T>(type: Class<T>, module: Class, gateway?: Class): T {
    const scoped = this.scopes.get(module)?.get(type)
    if (scoped !== undefined) return this.build(scoped, module, gateway) as T
    if (this.instances.has(type)) return this.instances.get(type) as T
    const def: ProviderDefinition = { token: type, module, source: type, kind: 'class', useClass: type }
    return this.build(def, module, gateway) as T
  }

  /** Every singleton built so far, in build order. */
  built(): unknown[] {
    return [...this.instances.values()]
  }

  private declare(def: ProviderDefinition, module: ModuleDefinition): void {
    const previous = this.declared.get(def.token)
    if (previous !== undefined && previous.source !== def.source) {
      throw new DefinitionError(
        module.name,
        'providers',
        `${nameOf(def.token)} is provided twice, differently, by ${nameOf(previous.module)} and ${module.name}: providers are app-wide singletons, declare it once`,
      )
    }
    if (previous === undefined) {
      if (def.kind === 'class') checkConstructorTypes(def.useClass)
      this.declared.set(def.token, def)
    }
  }

  private normalize(provider: Provider, module: Class): ProviderDefinition {
    if (typeof provider === 'function') {
      return { token: provider, module, source: provider, kind: 'class', useClass: provider }
    }
    const fail = (problem: string): never => {
      throw new DefinitionError(nameOf(module), 'providers', problem)
    }
    if (provider === null || typeof provider !== 'object' || !('provide' in provider)) {
      return fail(`${nameOf(provider)} is not a provider: use a class or { provide, useValue | useClass | useFactory | useExisting }`)
    }
    const token = provider.provide
    if (!isToken(token)) fail(`${nameOf(token)} cannot be a token: use a class, an InjectionToken, a string or a symbol`)
    if ('useValue' in provider) return { token, module, source: provider, kind: 'value', useValue: provider.useValue }
    if ('useClass' in provider) {
      if (typeof provider.useClass !== 'function') fail(`useClass of ${nameOf(token)} is not a class`)
      return { token, module, source: provider, kind: 'class', useClass: provider.useClass }
    }
    if ('useFactory' in provider) {
      if (typeof provider.useFactory !== 'function') fail(`useFactory of ${nameOf(token)} is not a function`)
      return { token, module, source: provider, kind: 'factory', useFactory: provider.useFactory, inject: provider.inject ?? [] }
    }
    if ('useExisting' in provider) return { token, module, source: provider, kind: 'existing', useExisting: provider.useExisting }
    return fail(`the provider of ${nameOf(token)} has none of useValue, useClass, useFactory, useExisting`)
  }

  /** True when one of the app's modules provides `token` (whether or not the asking module sees it). */
  declares(token: unknown): boolean {
    return this.declared.has(token)
  }

  private resolve(token: unknown, module: Class, requester: Requester): unknown {
    const special = this.extra(token, requester)
    if (special !== undefined) return special.value
    const def = this.scopes.get(module)?.get(token)
    if (def === undefined) {
      const elsewhere = this.declared.get(token)
      const hint =
        elsewhere !== undefined
          ? `it is provided by ${nameOf(elsewhere.module)}, which ${nameOf(module)} does not import`
          : `add it to the providers of ${nameOf(module)} or of a module it imports`
      throw new DefinitionError(requester.className, requester.member, `cannot resolve ${nameOf(token)}: ${hint}`)
    }
    return this.build(def, module, requester.gateway)
  }

  private build(def: ProviderDefinition, module: Class, gateway: Class | undefined): unknown {
    if (this.instances.has(def.token)) return this.instances.get(def.token)
    if (this.building.includes(def.token)) {
      const cycle = [...this.building.slice(this.building.indexOf(def.token)), def.token].map(nameOf).join(' → ')
      throw new DefinitionError(nameOf(def.token), 'constructor', `circular dependency: ${cycle}`)
    }
    this.building.push(def.token)
    try {
      const value = this.create(def, module, gateway)
      this.instances.set(def.token, value)
      return value
    } finally {
      this.building.pop()
    }
  }

  private create(def: ProviderDefinition, module: Class, gateway: Class | undefined): unknown {
    // Dependencies resolve in the module that declares the provider, not the one asking.
    const home = this.scopes.has(def.module) ? def.module : module
    switch (def.kind) {
      case 'value':
        return def.useValue
      case 'existing':
        return this.resolve(def.useExisting, home, { className: nameOf(def.token), member: 'useExisting', gateway })
      case 'factory': {
        const deps = def.inject.map((token, i) =>
          this.resolve(token, home, { className: nameOf(def.token), member: `useFactory inject[${i}]`, gateway: undefined }),
        )
        const value = def.useFactory(...deps)
        if (value !== null && typeof (value as PromiseLike<unknown>)?.then === 'function') {
          throw new DefinitionError(
            nameOf(def.token),
            'useFactory',
            'returned a promise: async providers are not supported; await the value before bootstrap() and use useValue',
          )
        }
        return value
      }
      case 'class': {
        const type = def.useClass
        const className = nameOf(type)
        const ownGateway = gateway === type || def.token === gateway ? gateway : undefined
        const types = getParamTypes(type)
        const tokens = getInjectTokens(type)
        const arity = Math.max(types?.length ?? 0, type.length)
        checkConstructorTypes(type)
        const args: unknown[] = []
        for (let i = 0; i < arity; i++) {
          const member = `constructor parameter #${i}`
          const token = tokens.has(i) ? tokens.get(i) : types?.[i]
          if (!tokens.has(i) && token === GatewayConnections) {
            if (ownGateway === undefined) {
              throw new DefinitionError(className, member, 'GatewayConnections is injected by type only into gateways: use @Inject(connectionsOf(SomeGateway))')
            }
            args.push(this.resolve(new ConnectionsToken(ownGateway), home, { className, member, gateway: ownGateway }))
            continue
          }
          if (!tokens.has(i) && UNINJECTABLE.has(token)) {
            throw new DefinitionError(
              className,
              member,
              `is typed ${token === undefined || token === Object ? 'with an interface, a union or any' : `as ${nameOf(token)}`}, which cannot be injected by type: use @Inject(token)`,
            )
          }
          args.push(this.resolve(token, home, { className, member: `${member} (${nameOf(token)})`, gateway: ownGateway }))
        }
        return new (type as new (...a: unknown[]) => unknown)(...args)
      }
    }
  }
}

/**
 * A constructor with parameters needs `design:paramtypes` or an `@Inject(token)` on each of
 * them; checked for every declared class at bootstrap, not only when it is first built.
 */
function checkConstructorTypes(type: Class): void {
  if (getParamTypes(type) !== undefined || !declaresParameters(type)) return
  const tokens = getInjectTokens(type)
  const unmarked = Array.from({ length: type.length }, (_, i) => i).filter((i) => !tokens.has(i))
  if (unmarked.length === 0) return
  throw missingMetadata(
    nameOf(type),
    'constructor',
    `mark every constructor parameter with @Inject(token) (parameter #${unmarked[0]} has none). With the option on, ` +
      'TypeScript records types only for a decorated class: a provider needs @Injectable()',
  )
}

function isToken(token: unknown): token is Token {
  return typeof token === 'function' || typeof token === 'string' || typeof token === 'symbol' || token instanceof InjectionToken
}
