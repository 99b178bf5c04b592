import { expect } from 'chai'
import { HandshakeError } from '../../src/protocol'
import { GuardContext, parseCookies } from '../../src/framework/guard-context'
import { isGuardClass } from '../../src/framework/guard'

describe('GuardContext', () => {
  const request = {
    path: '/rooms/lobby',
    query: new URLSearchParams('token=abc'),
    headers: { cookie: 'session=s%201; theme="dark"', origin: 'https://a.example' },
    protocols: ['chat.v1'],
    remoteAddress: '127.0.0.1',
    origin: 'https://a.example',
    data: {} as Record<string, unknown>,
  }
  class RoomGateway {}
  const ctx = new GuardContext<{ user?: string }>(request as never, RoomGateway, { room: 'lobby' }, 'chat.v1')

  it('exposes the request, its route and the negotiated protocol', () => {
    expect(ctx).to.deep.include({ path: '/rooms/lobby', remoteAddress: '127.0.0.1', origin: 'https://a.example', protocol: 'chat.v1', gateway: RoomGateway })
    expect(ctx.params).to.deep.equal({ room: 'lobby' })
    expect(ctx.query.get('token')).to.equal('abc')
    expect(ctx.headers.origin).to.equal('https://a.example')
    expect(ctx.cookies).to.deep.equal({ session: 's 1', theme: 'dark' })
  })

  it('writes data onto the request, where it becomes conn.data', () => {
    ctx.data.user = 'ada'
    expect(request.data).to.deep.equal({ user: 'ada' })
  })

  it('rejects with a HandshakeError carrying the status, message and headers', () => {
    try {
      ctx.reject(429, 'slow down', { 'Retry-After': '10' })
      expect.fail('reject() must throw')
    } catch (err) {
      expect(err).to.be.instanceOf(HandshakeError)
      expect(err).to.deep.include({ status: 429, message: 'slow down', headers: { 'Retry-After': '10' } })
    }
  })
})

describe('parseCookies', () => {
  it('parses pairs, keeps the first of duplicates, and survives bad encoding', () => {
    expect(parseCookies('a=1; b=%E0; a=2;; c')).to.deep.equal({ a: '1', b: '%E0' })
    expect(parseCookies(undefined)).to.deep.equal({})
  })
})

describe('isGuardClass', () => {
  it('tells classes with canActivate from guard functions', () => {
    class Guard {
      canActivate() {
        return true
      }
    }
    expect(isGuardClass(Guard)).to.equal(true)
    expect(isGuardClass(() => true)).to.equal(false)
    expect(isGuardClass(function named() {})).to.equal(false)
  })
})
