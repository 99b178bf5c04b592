import type { IncomingMessage } from 'node:http'
import type { GuardContext } from '../guard-context'
import type { GuardFunction } from '../guard'
import { runMiddleware, type ConnectMiddleware } from './run-middleware'

/**
 * A guard that runs the host's Express/Connect middleware (express-session, passport,
 * cookie-parser ...) on the upgrade request, then copies what they learned onto the connection's
 * data with `toData(req, ctx)`. A middleware that refuses (passport's 401, `next(err)` with a
 * status) refuses the handshake with its status; see `runMiddleware`. Put it in `bootstrap()`'s
 * `guards` to run it before every gateway's own guards.
 *
 * @example
 * const session = expressSession({ secret, resave: false, saveUninitialized: false })
 * bootstrap(AppModule, {
 *   guards: [fromMiddleware([session], (req) => ({ user: req.session.user }))],
 * })
 */
export function fromMiddleware<TReq extends IncomingMessage>(
  middleware: ConnectMiddleware<TReq> | readonly ConnectMiddleware<TReq>[],
  toData?: (req: TReq, ctx: GuardContext) => Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>,
): GuardFunction {
  const list = typeof middleware === 'function' ? [middleware] : middleware
  return async (ctx) => {
    const req = ctx.req as TReq
    await runMiddleware(req, list)
    if (toData !== undefined) Object.assign(ctx.data as object, await toData(req, ctx))
    return true
  }
}
