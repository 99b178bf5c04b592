import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect } from 'chai'
import { BrokerPool } from '../helpers/broker-pool'
import { skipWithoutRedis } from '../helpers/redis-hooks'
import { RedisServer } from '../helpers/redis-server'

const run = promisify(execFile)

describe('RedisBroker connections', function () {
  const pool = new BrokerPool()
  let server: RedisServer | undefined
  let certDir: string | undefined

  before(async function () {
    skipWithoutRedis(this)
    certDir = mkdtempSync(join(tmpdir(), 'gatewire-redis-tls-'))
    // A self-signed certificate for 127.0.0.1 (CN alone is not checked by Node: the SAN is).
    await run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
    ], { timeout: 30_000 })
    const cert = join(certDir, 'cert.pem')
    server = await RedisServer.start({ tls: { cert, key: join(certDir, 'key.pem'), ca: cert } })
    // An ACL user limited to our prefix: keys, channels and the commands the broker sends.
    await server.cli('acl', 'setuser', 'gw', 'on', '>s3cret', '~gatewire:*', '&gatewire:*', '+@all')
    await server.cli('config', 'set', 'requirepass', 'defaultpw')
  })
  after(async () => {
    await server?.destroy()
    if (certDir) rmSync(certDir, { recursive: true, force: true })
  })
  afterEach(async () => {
    await pool.closeAll()
  })

  async function exchange(urlA: string, urlB: string, extra: Parameters<BrokerPool['start']>[0] = {}): Promise<string[]> {
    const a = await pool.start({ ...extra, url: urlA })
    const b = await pool.start({ ...extra, url: urlB })
    b.broker.subscribe('room')
    b.broker.join('room', 'm1', { name: 'bo' })
    await b.broker.synced()
    a.broker.publish('room', Buffer.from('over the wire'), false)
    await b.sink.until(() => b.sink.messages.length === 1, 'the message at b')
    const presence = await a.broker.presence('room')
    expect(presence.members.map((m) => m.id)).to.deep.equal(['m1'])
    return b.sink.texts('room')
  }

  it('connects as an ACL user with a password and a database index from the URL', async () => {
    const url = `redis://gw:s3cret@127.0.0.1:${server!.port}/2`
    expect(await exchange(url, url)).to.deep.equal(['over the wire'])
    // Presence keys live in database 2.
    const keys = await server!.cli('-a', 'defaultpw', '--no-auth-warning', '-n', '2', 'keys', 'gatewire:*')
    expect(keys.split('\n').sort()).to.deep.equal(['gatewire:presence-alive:{t:room}', 'gatewire:presence:{t:room}'])
  })

  it('rejects start() with a wrong password, naming the URL without the password', async () => {
    const broker = pool.add({ url: `redis://gw:wrong-pw@127.0.0.1:${server!.port}`, startTimeoutMs: 500 })
    let failure: Error | undefined
    await broker.start({ message() {} }).catch((error: Error) => (failure = error))
    expect(failure?.message).to.contain(`redis://gw@127.0.0.1:${server!.port}`)
    expect(failure?.message).to.match(/WRONGPASS|invalid username-password/)
    expect(failure?.message).to.not.contain('wrong-pw')
  })

  it('connects over TLS with rediss:// and the server certificate as CA', async () => {
    const ca = readFileSync(join(certDir!, 'cert.pem'))
    const url = `rediss://gw:s3cret@127.0.0.1:${server!.tlsPort}`
    expect(await exchange(url, url, { tls: { ca } })).to.deep.equal(['over the wire'])
  })

  it('refuses a TLS server whose certificate it cannot verify', async () => {
    const broker = pool.add({ url: `rediss://gw:s3cret@127.0.0.1:${server!.tlsPort}`, startTimeoutMs: 500 })
    let failure: Error | undefined
    await broker.start({ message() {} }).catch((error: Error) => (failure = error))
    expect(failure?.message).to.contain(`rediss://gw@127.0.0.1:${server!.tlsPort}`)
    expect(failure?.message).to.match(/self[- ]signed|certificate/i)
  })
})
