import { expect } from 'chai'
import { connectAsync, HandshakeError } from '../../src'
import { rawServer, releaseAll, switchingProtocols } from '../helpers/transport-harness'

async function refusalOf(url: string): Promise<HandshakeError> {
  const error = await connectAsync(url).then(
    (conn) => {
      conn.terminate()
      return expect.fail('the connection opened')
    },
    (err: unknown) => err,
  )
  expect(error).to.be.instanceOf(HandshakeError)
  return error as HandshakeError
}

describe('transport/client refusals and connectAsync()', () => {
  afterEach(releaseAll)

  it('keeps the status, headers and body of a refused handshake on the HandshakeError', async () => {
    const { port } = await rawServer(
      () => 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nRetry-After: 3\r\nContent-Length: 6\r\nConnection: close\r\n\r\nwho? .',
    )
    const error = await refusalOf(`ws://127.0.0.1:${port}/`)
    expect(error.status).to.equal(401)
    expect(error.headers['www-authenticate']).to.equal('Bearer')
    expect(error.headers['retry-after']).to.equal('3')
    expect(error.body).to.equal('who? .')
  })

  it('keeps at most 4 KiB of a large refusal body and does not wait for the rest', async () => {
    const huge = 'x'.repeat(1024 * 1024)
    const { port } = await rawServer(() => `HTTP/1.1 403 Forbidden\r\nContent-Length: ${huge.length * 2}\r\n\r\n${huge}`)
    const error = await refusalOf(`ws://127.0.0.1:${port}/`)
    expect(error.status).to.equal(403)
    expect(error.body).to.have.lengthOf(4096)
  })

  it('resolves with the open connection', async () => {
    const { port, nextSocket } = await rawServer((key) => switchingProtocols(key))
    const [conn] = await Promise.all([connectAsync(`ws://127.0.0.1:${port}/`), nextSocket()])
    expect(conn.readyState).to.equal(1)
    conn.terminate()
  })

  it('rejects with the network error when nothing listens', async () => {
    const { port } = await rawServer(() => '')
    await releaseAll() // the port is closed again
    await connectAsync(`ws://127.0.0.1:${port}/`).then(
      () => expect.fail('connected'),
      (err: NodeJS.ErrnoException) => expect(err.code).to.equal('ECONNREFUSED'),
    )
  })

  it('rejects a bad URL with its SyntaxError', async () => {
    await connectAsync('ftp://example.com/').then(
      () => expect.fail('connected'),
      (err: unknown) => expect(err).to.be.instanceOf(SyntaxError),
    )
  })
})
