import { expect } from 'chai'
import { createHmac } from 'node:crypto'
import { unsignCookie } from '../../../src'

/** cookie-signature's format: value.base64(HMAC-SHA256) without padding. */
function sign(value: string, secret: string): string {
  return `${value}.${createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '')}`
}

describe('framework/hosts/unsignCookie', () => {
  it("returns the value of an express-session / cookie-parser cookie ('s:' prefix)", () => {
    expect(unsignCookie(`s:${sign('abc.def', 'k')}`, 'k')).to.equal('abc.def')
  })

  it('returns the value of an @fastify/cookie signed cookie (no prefix)', () => {
    expect(unsignCookie(sign('s:looks-prefixed', 'k'), 'k')).to.equal('s:looks-prefixed')
  })

  it('tries each secret, so a rotated secret still verifies', () => {
    expect(unsignCookie(sign('v', 'old'), ['new', 'old'])).to.equal('v')
  })

  it('returns false for a wrong signature, a wrong secret, no signature or no cookie', () => {
    expect(unsignCookie(sign('v', 'k').slice(0, -1) + 'A', 'k')).to.equal(false)
    expect(unsignCookie(sign('v', 'k'), 'other')).to.equal(false)
    expect(unsignCookie('plain', 'k')).to.equal(false)
    expect(unsignCookie(undefined, 'k')).to.equal(false)
  })
})
