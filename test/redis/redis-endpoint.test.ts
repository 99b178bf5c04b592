import { expect } from 'chai'
import { redisEndpoint } from '../../src/redis/redis-endpoint'
import { redisBroker } from '../../src/redis'

describe('redisEndpoint', () => {
  it('reads host, port, database, ACL user and password from a redis:// URL, and hides the password', () => {
    const endpoint = redisEndpoint({ url: 'redis://app:p%40ss@cache.internal:6380/3' })
    expect(endpoint).to.deep.include({ kind: 'standalone', host: 'cache.internal', port: 6380, db: 3, username: 'app', password: 'p@ss', tls: undefined })
    expect(endpoint.description).to.equal('redis://app@cache.internal:6380/3')
  })

  it('defaults to port 6379 and database 0, and turns TLS on for rediss://', () => {
    expect(redisEndpoint({ url: 'rediss://:secret@10.0.0.1' })).to.deep.include({ port: 6379, db: 0, password: 'secret', username: undefined, tls: {} })
    expect(redisEndpoint({ url: 'rediss://h', tls: { servername: 'x' } })).to.deep.include({ tls: { servername: 'x' } })
    expect(redisEndpoint({ url: 'redis://[::1]:7000' })).to.deep.include({ host: '::1', port: 7000 })
  })

  it('reads cluster nodes given as URLs or host and port', () => {
    const endpoint = redisEndpoint({ cluster: ['redis://u:pw@127.0.0.1:7000', { host: '127.0.0.1', port: 7001 }] })
    expect(endpoint).to.deep.include({ kind: 'cluster', username: 'u', password: 'pw' })
    expect(endpoint.kind === 'cluster' && endpoint.nodes).to.deep.equal([
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
    ])
    expect(endpoint.description).to.equal('Redis Cluster [redis://u@127.0.0.1:7000, 127.0.0.1:7001]')
  })

  it('rejects bad configuration with a clear error that never shows the password', () => {
    const cases: Array<[Parameters<typeof redisEndpoint>[0], RegExp]> = [
      [{}, /exactly one of `url`/],
      [{ url: 'redis://h', cluster: ['redis://h'] }, /exactly one of `url`/],
      [{ url: 'http://u:hunter2@h' }, /unsupported URL scheme 'http:' in http:\/\/u@h/],
      [{ url: 'not a url :hunter2@' }, /not a URL/],
      [{ url: 'redis://u:hunter2@h/zero' }, /must be a database index/],
      [{ cluster: [] }, /at least one node/],
      [{ cluster: ['redis://:hunter2@h:7000/2'] }, /database 0 only/],
    ]
    for (const [options, expected] of cases) {
      let message = ''
      try {
        redisEndpoint(options)
      } catch (error) {
        expect(error, JSON.stringify(options)).to.be.instanceOf(TypeError)
        message = (error as Error).message
      }
      expect(message, JSON.stringify(options)).to.match(expected)
      expect(message).to.not.contain('hunter2')
    }
  })

  it('rejects a key prefix with hash-tag braces, a bad instance id and non-positive bounds', () => {
    expect(() => redisBroker({ url: 'redis://h', keyPrefix: 'a{b}' })).to.throw(TypeError, /must not contain \{ or \}/)
    expect(() => redisBroker({ url: 'redis://h', instanceId: '' })).to.throw(TypeError, /instanceId/)
    expect(() => redisBroker({ url: 'redis://h', instanceId: 'a\0b' })).to.throw(TypeError, /instanceId/)
    expect(() => redisBroker({ url: 'redis://h', maxQueued: 0 })).to.throw(RangeError, /maxQueued must be a positive number/)
    expect(() => redisBroker({ url: 'redis://h', presenceExpiryMs: -1 })).to.throw(RangeError, /presenceExpiryMs/)
  })
})
