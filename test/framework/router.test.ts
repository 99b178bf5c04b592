import { expect } from 'chai'
import { Router, parsePattern, patternParams } from '../../src/framework/router'

describe('Router', () => {
  function router(...patterns: string[]): Router<string> {
    const r = new Router<string>()
    for (const p of patterns) expect(r.add(p, p)).to.equal(undefined)
    return r
  }

  it('matches a static path exactly, ignoring a trailing slash', () => {
    const r = router('/chat', '/')
    expect(r.match('/chat')).to.deep.include({ value: '/chat', params: {} })
    expect(r.match('/chat/')?.value).to.equal('/chat')
    expect(r.match('/')?.value).to.equal('/')
    expect(r.match('/chatter')).to.equal(undefined)
    expect(r.match('/chat/x')).to.equal(undefined)
  })

  it('finds the route match() chooses for every path, without decoding its parameters', () => {
    const r = router('/chat', '/', '/a//b', '/x/', '/rooms/:room', '/rooms/lobby', '/rooms/:room/files/*', '/caf%C3%A9', '/w/*')
    const paths = [
      '/', '', '/chat', '/chat/', '/chat//', '/chatter', '/a//b', '/a//b/', '/x', '/x/', '/x//', '/rooms', '/rooms/lobby', '/rooms/lobby/',
      '/rooms/ada', '/rooms/%6Cobby', '/rooms/r/files', '/rooms/r/files/a/b', '/caf%C3%A9', '/café', '/w', '/w/a%2Fb/c', '/nothing',
    ]
    for (const path of paths) expect(r.find(path)?.value, path).to.equal(r.match(path)?.value)
    expect(() => r.find('/rooms/%E0%A4%A')).to.throw(URIError)
    expect(() => r.match('/rooms/%E0%A4%A')).to.throw(URIError)
  })

  it('binds path parameters by name', () => {
    const r = router('/rooms/:room', '/rooms/:room/users/:user')
    expect(r.match('/rooms/lobby')?.params).to.deep.equal({ room: 'lobby' })
    expect(r.match('/rooms/lobby/users/ada')).to.deep.include({ value: '/rooms/:room/users/:user', params: { room: 'lobby', user: 'ada' } })
    expect(r.match('/rooms')).to.equal(undefined)
    expect(r.match('/rooms//users/ada')).to.equal(undefined)
  })

  it('percent-decodes parameter values', () => {
    const r = router('/rooms/:room')
    expect(r.match('/rooms/caf%C3%A9%20au%20lait')?.params.room).to.equal('café au lait')
  })

  it('decodes each segment once: static segments match decoded, %2F stays inside its segment, %25 is a plain %', () => {
    const r = router('/café', '/rooms/:room')
    expect(r.match('/caf%C3%A9')?.value).to.equal('/café')
    expect(r.match('/rooms/a%2Fb')?.params.room).to.equal('a/b')
    expect(r.match('/rooms/100%25')?.params.room).to.equal('100%')
    expect(r.match('/rooms/a/b')).to.equal(undefined)
  })

  it('throws URIError on malformed percent-encoding in a parameter', () => {
    const r = router('/rooms/:room')
    expect(() => r.match('/rooms/%E0%A4%A')).to.throw(URIError)
  })

  it('prefers a static segment over a parameter over a wildcard', () => {
    const r = router('/a/*', '/a/:x', '/a/b')
    expect(r.match('/a/b')?.value).to.equal('/a/b')
    expect(r.match('/a/c')?.value).to.equal('/a/:x')
    expect(r.match('/a/c/d')?.value).to.equal('/a/*')
  })

  it('prefers a static segment over a parameter at the same depth, whatever the order routes were added in', () => {
    for (const patterns of [['/a/b/:y', '/a/:x/:y'], ['/a/:x/:y', '/a/b/:y']]) {
      const r = router(...patterns)
      expect(r.match('/a/b/1'), `with ${patterns.join(' then ')}`).to.deep.include({ value: '/a/b/:y', params: { y: '1' } })
      expect(r.match('/a/c/1')).to.deep.include({ value: '/a/:x/:y', params: { x: 'c', y: '1' } })
    }
  })

  it('backtracks from a static branch that dead-ends to a parameter branch', () => {
    const r = router('/a/b/d', '/a/:x/c')
    expect(r.match('/a/b/c')).to.deep.include({ value: '/a/:x/c', params: { x: 'b' } })
    expect(r.match('/a/b/d')?.value).to.equal('/a/b/d')
  })

  it('binds the rest of the path to "*" for a trailing wildcard, empty when nothing follows', () => {
    const r = router('/files/*')
    expect(r.match('/files/a/b.txt')?.params).to.deep.equal({ '*': 'a/b.txt' })
    expect(r.match('/files')?.params).to.deep.equal({ '*': '' })
  })

  it('treats "*" as a catch-all for every path', () => {
    const r = router('*', '/chat')
    expect(r.match('/anything/at/all')?.value).to.equal('*')
    expect(r.match('/')?.value).to.equal('*')
    expect(r.match('/chat')?.value).to.equal('/chat')
  })

  it('reports two patterns of the same shape as a conflict, whatever the parameter names', () => {
    const r = router('/rooms/:room')
    expect(r.add('/rooms/:id', 'second')).to.deep.equal({ conflict: '/rooms/:room', pattern: '/rooms/:room' })
    expect(r.add('/rooms/:id/', 'third')).to.not.equal(undefined)
    expect(r.add('/rooms/:id/x', 'fourth')).to.equal(undefined)
  })

  it('rejects malformed patterns', () => {
    expect(() => parsePattern('chat')).to.throw(/must start with "\/"/)
    expect(() => parsePattern('/a/*/b')).to.throw(/last segment/)
    expect(() => parsePattern('/a/:1x')).to.throw(/not a valid parameter name/)
    expect(() => parsePattern('/a/:x/:x')).to.throw(/appears twice/)
    expect(() => parsePattern('/a/b*')).to.throw(/mixes/)
  })

  it('lists the names a pattern binds', () => {
    expect(patternParams('/rooms/:room/files/*')).to.deep.equal(['room', '*'])
    expect(patternParams('/chat')).to.deep.equal([])
  })
})
