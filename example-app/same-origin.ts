import type { GuardFunction } from '../src'

/**
 * App-wide handshake guard: a browser may only connect from a page this server served. The
 * nickname can come from a cookie, and browsers send cookies with cross-site WebSocket
 * handshakes, so without this check any site could chat in the visitor's name (CSWSH).
 * Clients that send no `Origin` (not browsers) are let through; a mismatch is refused with 403.
 * `Origin` is compared with `Host` because the port is only known once the app listens.
 */
export const sameOrigin: GuardFunction = (ctx) => {
  const origin = ctx.origin
  if (origin === undefined) return
  if (hostOf(origin) !== ctx.headers.host?.toLowerCase()) ctx.reject(403, `origin ${origin} is not allowed`)
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host
  } catch {
    return undefined
  }
}
