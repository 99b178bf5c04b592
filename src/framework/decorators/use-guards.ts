import { addGuards } from '../store'
import type { GuardLike } from '../guard'

/**
 * Runs guards, in the order written (a parent class's first), on every upgrade request routed
 * to this gateway, before the 101 answer; the first refusal stops the others. A guard is a function `(ctx) => boolean | void | Promise<...>` or a class with
 * `canActivate(ctx)` (built by the injector). `false` refuses with 403, `ctx.reject(status)`
 * with any status; what a guard writes to `ctx.data` becomes `conn.data`.
 *
 * @example
 * const auth: GuardFunction = async (ctx) => {
 *   const user = await users.byToken(ctx.query.get('token'))
 *   if (!user) ctx.reject(401, 'bad token')
 *   ctx.data.user = user
 * }
 * @Gateway('/chat')
 * @UseGuards(auth, RateLimitGuard)
 * class ChatGateway {}
 */
export function UseGuards(...guards: GuardLike[]): ClassDecorator {
  return (target) => {
    addGuards(target, guards)
  }
}
