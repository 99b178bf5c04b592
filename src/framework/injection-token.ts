/**
 * A typed token for providers that are not classes (configuration, clients, constants).
 *
 * @example
 * const CONFIG = new InjectionToken<{ motd: string }>('CONFIG')
 * @Module({ providers: [{ provide: CONFIG, useValue: { motd: 'hi' } }] })
 */
export class InjectionToken<T = unknown> {
  /** Only here so `InjectionToken<A>` and `InjectionToken<B>` are different types. */
  declare readonly __type?: T
  constructor(readonly description: string) {}
  toString(): string {
    return `InjectionToken(${this.description})`
  }
}
