import type { GuardContext } from './guard-context'
import type { Class } from './store'

/**
 * The answer of a guard: `true` or nothing lets the handshake through, `false` refuses it with
 * 403. To refuse with another status, call `ctx.reject(status)` (or throw a `HandshakeError`).
 */
export type GuardResult = boolean | void | undefined

/** A guard as a function. */
export type GuardFunction = (ctx: GuardContext<any>) => GuardResult | Promise<GuardResult>

/** A guard as a class, built once by the app's injector (its constructor is injected). */
export interface CanActivate {
  canActivate(ctx: GuardContext<any>): GuardResult | Promise<GuardResult>
}

export type GuardLike = GuardFunction | Class<CanActivate>

/** A class guard has `canActivate` on its prototype; anything else callable is a function guard. */
export function isGuardClass(guard: GuardLike): guard is Class<CanActivate> {
  return typeof guard === 'function' && typeof (guard.prototype as Partial<CanActivate> | undefined)?.canActivate === 'function'
}
