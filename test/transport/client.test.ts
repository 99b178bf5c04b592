import { expect } from 'chai'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import { CloseCode, connect, ConnectionStateError, HandshakeError, Server, type Connection } from '../../src'
import {
  closeRecorder,
  listen,
  next,
  open,
  rawServer,
  releaseAll,
  switchingProtocols,
  track,
  wireFrame,
} from '../helpers/transport-harness'
import { selfSignedCertificate } from '../helpers/self-signed'

/** Connects and resolves with what the failed handshake reported: the error and the close. */
async function failedConnect(url: string, options = {}): Promise<{ error: Error | undefined; code: number; opened: boolean }> {
  const connection = connect(url, options)
  track(() => connection.terminate())
  let error: Error | undefined
  let opened = false
  connection.on('error', (e) => (error ??= e))
  connection.on('connect', () => (opened = true))
  const [code] = await next<[number]>(connection, 'close')
  return { error, code, opened }
}

describe('transport/client', () => {
  afterEach(releaseAll)

  it('is CONNECTING until the 101 is verified, and sending then throws ConnectionStateError', async () => {
    const { url } = await listen()
    const client = connect(url)
    track(() => client.terminate())
    expect(client.readyState).to.equal(0)
    expect(() => client.sendText('too early')).to.throw(ConnectionStateError)
    expect(() => client.sendBinary(Buffer.alloc(1))).to.throw(ConnectionStateError)
    expect(() => client.sendPing()).to.throw(ConnectionStateError)
    expect(() => client.beginBinary()).to.throw(ConnectionStateError)
    await next(client, 'connect')
    expect(client.readyState).to.equal(1)
  })

  it('calls onConnect and exchanges messages with the server', async () => {
    const { url } = await listen({}, (conn) => conn.on('text', (t) => conn.sendText(`echo:${t}`)))
    const client = await new Promise<Connection>((resolve) => {
      const c = connect(`${url}/room?x=1`, {}, () => resolve(c))
      track(() => c.terminate())
    })
    expect(client.path).to.equal('/room?x=1')
    client.sendText('hi')
    expect((await next<[string]>(client, 'text'))[0]).to.equal('echo:hi')
  })

  it('sends extraHeaders with the upgrade request', async () => {
    const { url, nextConnection } = await listen()
    await open(url, { extraHeaders: { Authorization: 'Bearer t0k', 'X-Trace': 'abc', Origin: 'https://app.example' } })
    const conn = await nextConnection()
    expect(conn.headers.authorization).to.equal('Bearer t0k')
    expect(conn.headers['x-trace']).to.equal('abc')
    expect(conn.request?.origin).to.equal('https://app.example')
  })

  it('offers protocols in order and exposes the one the server chose', async () => {
    const { url, nextConnection } = await listen({ validProtocols: ['b', 'c'] })
    const client = await open(url, { protocols: ['a', 'c', 'b'] })
    expect(client.protocol).to.equal('c')
    expect((await nextConnection()).protocols).to.deep.equal(['a', 'c', 'b'])
  })

  it('refuses to offer an invalid or duplicate protocol name', () => {
    expect(() => connect('ws://127.0.0.1:1', { protocols: ['a b'] })).to.throw(SyntaxError)
    expect(() => connect('ws://127.0.0.1:1', { protocols: ['a', 'a'] })).to.throw(SyntaxError)
    expect(() => connect('ftp://127.0.0.1:1')).to.throw(SyntaxError)
    expect(() => connect('ws://127.0.0.1:1/#frag')).to.throw(SyntaxError)
  })

  it('reports a refused upgrade as HandshakeError with the HTTP status (404), then close 1006', async () => {
    const { url } = await listen({
      verifyRequest: () => {
        throw new HandshakeError(404, 'no such room')
      },
    })
    const { error, code, opened } = await failedConnect(`${url}/nowhere`)
    expect(opened).to.equal(false)
    expect(error).to.be.instanceOf(HandshakeError)
    expect((error as HandshakeError).status).to.equal(404)
    expect(code).to.equal(CloseCode.Abnormal)
  })

  it('rejects a server that picks a protocol the client did not offer', async () => {
    const server = await rawServer((key) => switchingProtocols(key, 'Sec-WebSocket-Protocol: evil\r\n'))
    const { error, code, opened } = await failedConnect(`ws://127.0.0.1:${server.port}`, { protocols: ['good'] })
    expect(opened).to.equal(false)
    expect(error).to.be.instanceOf(HandshakeError)
    expect(error?.message).to.match(/did not offer/)
    expect(code).to.equal(CloseCode.Abnormal)
  })

  it('rejects a wrong Sec-WebSocket-Accept', async () => {
    const server = await rawServer(() => switchingProtocols('not-the-key'))
    const { error, opened } = await failedConnect(`ws://127.0.0.1:${server.port}`)
    expect(opened).to.equal(false)
    expect(error).to.be.instanceOf(HandshakeError)
    expect(error?.message).to.match(/Sec-WebSocket-Accept/)
  })

  it('rejects an extension the client did not offer', async () => {
    const server = await rawServer((key) => switchingProtocols(key, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'))
    const { error, opened } = await failedConnect(`ws://127.0.0.1:${server.port}`)
    expect(opened).to.equal(false)
    expect(error).to.be.instanceOf(HandshakeError)
  })

  it('masks every frame it sends, and fails with 1002 on a masked frame from the server', async () => {
    const server = await rawServer((key) => switchingProtocols(key))
    const client = await open(`ws://127.0.0.1:${server.port}`)
    const socket = await server.nextSocket()
    const closes = closeRecorder(client)
    const data = new Promise<Buffer>((resolve) => socket.once('data', resolve))
    client.sendText('masked?')
    const bytes = await data
    expect(bytes[1] & 0x80).to.equal(0x80)
    const reply = new Promise<Buffer>((resolve) => socket.once('data', resolve))
    socket.write(wireFrame(0x1, 'I mask, but servers must not', { mask: true }))
    const close = await reply
    expect(close[0] & 0x0f).to.equal(0x8)
    expect(close[1] & 0x80).to.equal(0x80)
    socket.destroy()
    expect((await closes.closed).code).to.equal(CloseCode.Abnormal)
  })

  it('gives up after handshakeTimeout when the server never answers', async () => {
    const server = await rawServer(() => '') // reads the request, answers nothing
    const started = Date.now()
    const { error, code } = await failedConnect(`ws://127.0.0.1:${server.port}`, { handshakeTimeout: 200 })
    expect(Date.now() - started).to.be.below(1500)
    expect(error).to.be.instanceOf(HandshakeError)
    expect(code).to.equal(CloseCode.Abnormal)
  })

  it('reports a refused TCP connection as error + close 1006, without throwing', async () => {
    const { port, server } = await listen()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const { error, code } = await failedConnect(`ws://127.0.0.1:${port}`)
    expect((error as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED')
    expect(code).to.equal(CloseCode.Abnormal)
  })

  it('close() while CONNECTING aborts the handshake and reports 1006 once', async () => {
    const { url } = await listen()
    const client = connect(url)
    const closes = closeRecorder(client)
    client.close()
    expect((await closes.closed).code).to.equal(CloseCode.Abnormal)
    expect(client.readyState).to.equal(3)
    expect(closes.closes).to.have.length(1)
  })

  describe('wss://', () => {
    let key: string | undefined
    let cert: string | undefined
    let skipReason = ''

    before(function () {
      try {
        ;({ key, cert } = selfSignedCertificate())
      } catch (error) {
        skipReason = `openssl is not available (${(error as Error).message}); install openssl to run the wss:// tests`
      }
      if (skipReason !== '') {
        console.warn(`  SKIPPED wss:// tests: ${skipReason}`)
        this.skip()
      }
    })

    async function tlsServer(): Promise<number> {
      const httpsServer = https.createServer({ key, cert })
      track(() => new Promise<void>((resolve) => httpsServer.close(() => resolve())))
      const server = new Server({ heartbeatInterval: 0 }).attach(httpsServer)
      track(() => new Promise<void>((resolve) => server.close(() => resolve())))
      server.on('connection', (conn: Connection) => conn.on('text', (t) => conn.sendText(`tls:${t}`)))
      await new Promise<void>((resolve) => httpsServer.listen(0, '127.0.0.1', resolve))
      return (httpsServer.address() as AddressInfo).port
    }

    it('connects over TLS to a server with a self-signed certificate it trusts', async () => {
      const port = await tlsServer()
      const client = await open(`wss://localhost:${port}/secure`, { tls: { ca: cert } })
      expect((client.socket as import('node:tls').TLSSocket).encrypted).to.equal(true)
      client.sendText('hello')
      expect((await next<[string]>(client, 'text'))[0]).to.equal('tls:hello')
      const closes = closeRecorder(client)
      client.close()
      expect((await closes.closed).code).to.equal(1000)
    })

    it('connects to an IP address without a TLS servername warning', async () => {
      const port = await tlsServer()
      const warnings: Error[] = []
      const onWarning = (warning: Error): void => void warnings.push(warning)
      process.on('warning', onWarning)
      try {
        const client = await open(`wss://127.0.0.1:${port}`, { tls: { ca: cert } })
        client.sendText('ip')
        await next(client, 'text')
        await new Promise((resolve) => setImmediate(resolve))
      } finally {
        process.off('warning', onWarning)
      }
      expect(warnings.map((w) => w.message)).to.deep.equal([])
    })

    it('refuses an untrusted certificate: error + close 1006', async () => {
      const port = await tlsServer()
      const { error, code, opened } = await failedConnect(`wss://localhost:${port}`)
      expect(opened).to.equal(false)
      expect((error as NodeJS.ErrnoException).code).to.equal('DEPTH_ZERO_SELF_SIGNED_CERT')
      expect(code).to.equal(CloseCode.Abnormal)
    })
  })
})
