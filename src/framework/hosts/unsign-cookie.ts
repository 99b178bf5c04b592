import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * The value of a cookie signed the way `cookie-signature` signs it — express-session,
 * cookie-parser (`s:` prefix) and @fastify/cookie (no prefix): `value.base64(HMAC-SHA256)`
 * without padding. Returns `false` when the signature matches none of `secrets` (tried in
 * order, so a rotated secret can stay listed after the new one).
 *
 * @example
 * const sid = unsignCookie(ctx.cookies['connect.sid'], process.env.SESSION_SECRET!)
 */
export function unsignCookie(signed: string | undefined, secrets: string | readonly string[]): string | false {
  if (typeof signed !== 'string') return false
  const list = typeof secrets === 'string' ? [secrets] : secrets
  // cookie-parser and express-session mark signed values with "s:"; @fastify/cookie does not.
  if (signed.startsWith('s:')) {
    const value = verify(signed.slice(2), list)
    if (value !== false) return value
  }
  return verify(signed, list)
}

function verify(input: string, secrets: readonly string[]): string | false {
  const dot = input.lastIndexOf('.')
  if (dot <= 0) return false
  const value = input.slice(0, dot)
  const given = Buffer.from(input.slice(dot + 1))
  for (const secret of secrets) {
    const expected = Buffer.from(createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, ''))
    // Constant time: a signature must not be guessable byte by byte from response times.
    if (expected.length === given.length && timingSafeEqual(expected, given)) return value
  }
  return false
}
