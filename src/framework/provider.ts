import type { InjectionToken } from './injection-token'
import type { Class } from './store'

/** What can be injected: a class, an `InjectionToken`, a string or a symbol. */
export type Token<T = unknown> = Class<T> | InjectionToken<T> | string | symbol

/** A provider: a class (built once, its constructor injected by type) or one of the forms below. */
export type Provider<T = unknown> =
  | Class<T>
  | { provide: Token<T>; useValue: T }
  | { provide: Token<T>; useClass: Class<T> }
  | { provide: Token<T>; useFactory: (...deps: any[]) => T; inject?: readonly Token[] }
  | { provide: Token<T>; useExisting: Token<T> }
