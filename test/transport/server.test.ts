import { expect } from 'chai'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import { CloseCode, HandshakeError, Server, type Connection } from '../../src'
import { deadline } from '../helpers/deadline'
import {
  closeRecorder,
  expectedAccept,
  clientKey,
  listen,
  next,
  open,
  rawHttp,
  RawPeer,
  releaseAll,
  tcp,
  track,
  upgradeRequest,
  wireFrame,
} from '../helpers/transport-harness'

describe('transport/server', () => {
  afterEach(releaseAll)

  describe('opening handshake', () => {
    it('answers a valid upgrade with 101 and the Sec-WebSocket-Accept of the key', async () => {
      const { port, nextConnection } = await listen()
      const key = clientKey()
      const peer = await RawPeer.connect(port, '/chat?room=1', { 'Sec-WebSocket-Key': key })
      expect(peer.response.status).to.equal(101)
      expect(peer.response.headers['sec-websocket-accept']).to.equal(expectedAccept(key))
      expect(peer.response.headers.upgrade.toLowerCase()).to.equal('websocket')
      expect(peer.response.headers).not.to.have.property('sec-websocket-protocol')
      const connection = await nextConnection()
      expect(connection.path).to.equal('/chat?room=1')
      expect(connection.request?.path).to.equal('/chat')
      expect(connection.request?.query.get('room')).to.equal('1')
      expect(connection.readyState).to.equal(1)
    })

    it('lets the connection listener send at once, before any frame from the client', async () => {
      const states: number[] = []
      const { port } = await listen({}, (connection) => {
        states.push(connection.readyState)
        connection.sendText('welcome')
      })
      const peer = await RawPeer.connect(port)
      const frame = await peer.opcodeFrame(0x1)
      expect(frame.payload.toString()).to.equal('welcome')
      expect(states).to.deep.equal([1])
    })

    it('parses frames that arrive in the same packet as the upgrade request', async () => {
      let received!: Promise<[string]>
      const { port } = await listen({}, (connection) => (received = next<[string]>(connection, 'text')))
      const socket = await tcp(port)
      const connected = new Promise((resolve) => socket.once('data', resolve))
      socket.write(Buffer.concat([Buffer.from(upgradeRequest()), wireFrame(0x1, 'early')]))
      await connected
      expect((await received)[0]).to.equal('early')
    })

    const refusals: { name: string; request: () => string; status: number; header?: [string, string] }[] = [
      { name: 'a request without Sec-WebSocket-Key', request: () => upgradeRequest('/', { 'Sec-WebSocket-Key': null }), status: 400 },
      { name: 'a key that is not 16 base64 bytes', request: () => upgradeRequest('/', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }), status: 400 },
      { name: 'a POST upgrade', request: () => upgradeRequest('/', {}, 'POST / HTTP/1.1'), status: 400 },
      { name: 'an HTTP/1.0 upgrade (RFC 6455 §4.1 requires 1.1)', request: () => upgradeRequest('/', {}, 'GET / HTTP/1.0'), status: 400 },
      { name: 'an upgrade to another protocol (Upgrade: h2c)', request: () => upgradeRequest('/', { Upgrade: 'h2c' }), status: 400 },
      { name: 'a request without Host', request: () => upgradeRequest('/', { Host: null }), status: 400 },
      { name: 'an invalid subprotocol list', request: () => upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'a, b c' }), status: 400 },
      { name: 'a subprotocol offered twice', request: () => upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'chat, chat' }), status: 400 },
      {
        name: 'version 8, with Sec-WebSocket-Version: 13',
        request: () => upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }),
        status: 426,
        header: ['sec-websocket-version', '13'],
      },
      {
        name: 'a missing version, with Sec-WebSocket-Version: 13',
        request: () => upgradeRequest('/', { 'Sec-WebSocket-Version': null }),
        status: 426,
        header: ['sec-websocket-version', '13'],
      },
    ]
    for (const refusal of refusals) {
      it(`answers ${refusal.status} to ${refusal.name} and closes the socket`, async () => {
        const { port, server } = await listen()
        let connections = 0
        server.on('connection', () => connections++)
        const answer = await rawHttp(port, refusal.request())
        expect(answer.status).to.equal(refusal.status)
        if (refusal.header) expect(answer.headers[refusal.header[0]]).to.equal(refusal.header[1])
        expect(connections).to.equal(0)
      })
    }

    it('answers 400 to bytes that are not HTTP', async () => {
      const { port } = await listen()
      const answer = await rawHttp(port, 'HELLO\r\n\r\n')
      expect(answer.status).to.equal(400)
    })

    it('answers 431 to a request head over maxHeaderSize', async () => {
      const { port } = await listen({ maxHeaderSize: 2048 })
      const answer = await rawHttp(port, upgradeRequest('/', { Cookie: 'x'.repeat(4096) }))
      expect(answer.status).to.equal(431)
    })

    it('answers a plain HTTP GET with 426 and Upgrade: websocket', async () => {
      const { port } = await listen()
      const answer = await new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
            res.resume()
            resolve({ status: res.statusCode ?? 0, headers: res.headers })
          })
          .on('error', reject)
      })
      expect(answer.status).to.equal(426)
      expect(answer.headers.upgrade).to.equal('websocket')
      expect(answer.headers['sec-websocket-version']).to.equal('13')
    })

    it('drops a slowloris client that never finishes its headers within the handshake timeout', async () => {
      const { port } = await listen({ handshakeTimeout: 300 })
      const socket = await tcp(port)
      const started = Date.now()
      const closed = next(socket, 'close')
      socket.resume()
      socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n')
      await closed
      const elapsed = Date.now() - started
      expect(elapsed).to.be.below(2000)
      expect(elapsed).to.be.at.least(250)
    })

    it('answers 503 when an async verifyRequest outlives the handshake timeout', async () => {
      const { port } = await listen({ handshakeTimeout: 200, verifyRequest: () => new Promise<void>(() => {}) })
      const answer = await rawHttp(port, upgradeRequest())
      expect(answer.status).to.equal(503)
      expect(answer.closedAfter).to.be.below(1500)
    })

    it('refuses with the status of the HandshakeError thrown by verifyRequest', async () => {
      const { port } = await listen({
        verifyRequest: (request) => {
          if (request.headers.authorization !== 'Bearer ok') throw new HandshakeError(401, 'who are you', { 'WWW-Authenticate': 'Bearer' })
        },
      })
      const answer = await rawHttp(port, upgradeRequest())
      expect(answer.status).to.equal(401)
      expect(answer.headers['www-authenticate']).to.equal('Bearer')
      expect(answer.body).to.equal('who are you')
      const accepted = await RawPeer.connect(port, '/', { Authorization: 'Bearer ok' })
      expect(accepted.response.status).to.equal(101)
    })

    it('refuses with the status of a HandshakeError rejected by an async verifyRequest', async () => {
      const { port } = await listen({ verifyRequest: async () => Promise.reject(new HandshakeError(403, 'forbidden origin')) })
      expect((await rawHttp(port, upgradeRequest())).status).to.equal(403)
    })

    it('answers 500 and reports the error when verifyRequest throws something else', async () => {
      const { port, server } = await listen({
        verifyRequest: () => {
          throw new Error('bug in the hook')
        },
      })
      const reported = next<[Error]>(server, 'error')
      expect((await rawHttp(port, upgradeRequest())).status).to.equal(500)
      expect((await reported)[0].message).to.equal('bug in the hook')
    })

    it('passes data set by verifyRequest to connection.data', async () => {
      const { port, nextConnection } = await listen({
        verifyRequest: (request) => {
          request.data.user = request.query.get('user')
        },
      })
      await RawPeer.connect(port, '/?user=ada')
      expect((await nextConnection()).data).to.deep.equal({ user: 'ada' })
    })

    it('keeps the raw request through the connect events, then keeps only what the request told', async () => {
      const seen: string[] = []
      const { url, nextConnection } = await listen(
        {
          verifyRequest: (request) => {
            seen.push(`verify ${request.req?.method}`)
          },
        },
        (connection) => {
          seen.push(`connection ${connection.request?.req?.url}`)
          connection.on('connect', () => seen.push(`connect ${connection.request?.req !== undefined}`))
        },
      )
      await open(`${url}/room/7?user=ada&lang=en`)
      const connection = await nextConnection()
      expect(seen).to.deep.equal(['verify GET', 'connection /room/7?user=ada&lang=en', 'connect true'])
      const request = connection.request!
      expect(request.req).to.equal(undefined) // released once open
      expect(request.path).to.equal('/room/7')
      expect(request.query.get('user')).to.equal('ada')
      expect(request.query.get('lang')).to.equal('en')
      expect(request.headers.host).to.match(/^127\.0\.0\.1:/)
      expect(connection.path).to.equal('/room/7?user=ada&lang=en')
      // Still known once the socket is gone (a socket that has closed no longer knows its peer).
      const closed = next(connection, 'close')
      connection.terminate()
      await closed
      expect(request.remoteAddress).to.equal('127.0.0.1')
      expect(connection.remoteAddress).to.equal('127.0.0.1')
    })

    it("keeps the peer's address but not the socket's cached copy of it (idle memory)", async () => {
      const { url, nextConnection } = await listen()
      await open(url)
      const connection = await nextConnection()
      expect(connection.remoteAddress).to.equal('127.0.0.1')
      expect((connection.socket as unknown as { _peername?: unknown })._peername).to.equal(undefined)
    })

    it("answers a peer's half-close with its own FIN and 1006, listening to 'end' alone (idle memory)", async () => {
      const { port, nextConnection } = await listen()
      const peer = await RawPeer.connect(port)
      const connection = await nextConnection()
      // net.Socket's own 'end' listener is dropped on a half-open socket: one listener, no array.
      expect(connection.socket.listenerCount('end')).to.equal(1)
      const closes = closeRecorder(connection)
      peer.socket.end()
      await peer.ended
      await closes.closed
      expect(closes.closes).to.deep.equal([{ code: 1006, reason: '' }])
    })

    it('adds extraHeaders to the 101 response', async () => {
      const { port } = await listen({ extraHeaders: { 'X-Served-By': 'gatewire' } })
      const peer = await RawPeer.connect(port)
      expect(peer.response.headers['x-served-by']).to.equal('gatewire')
    })
  })

  describe('limits', () => {
    it('answers 503 beyond maxConnections, and accepts again once one closes', async () => {
      const { port, url, nextConnection } = await listen({ maxConnections: 2 })
      await open(url)
      const second = await open(url)
      await nextConnection()
      const secondServerSide = await nextConnection()
      expect((await rawHttp(port, upgradeRequest())).status).to.equal(503)
      const closed = next(secondServerSide, 'close')
      second.close()
      await closed
      await open(url)
    })

    /** A verifyRequest that holds every handshake until release(); `inside` resolves once two wait in it. */
    function heldHandshakes(): { verifyRequest: () => Promise<void>; inside: Promise<void>; release: () => void } {
      const releases: (() => void)[] = []
      let bothPending!: () => void
      const inside = new Promise<void>((resolve) => (bothPending = resolve))
      const verifyRequest = (): Promise<void> =>
        new Promise<void>((resolve) => {
          if (releases.push(resolve) === 2) bothPending()
        })
      return { verifyRequest, inside, release: () => releases.forEach((resolve) => resolve()) }
    }

    it('never exceeds maxConnections with handshakes that were pending together', async () => {
      const { verifyRequest, inside, release } = heldHandshakes()
      const { port, server } = await listen({ maxConnections: 1, verifyRequest })
      // Both are admitted (no connection is open yet) and wait in verifyRequest.
      const pending = [RawPeer.connect(port), RawPeer.connect(port)].map((peer) =>
        peer.then(
          (p) => p.response.status,
          (error: Error) => error.message,
        ),
      )
      await inside
      release()
      expect((await Promise.all(pending)).sort()).to.deep.equal([101, 'HTTP 503'])
      expect(server.connections).to.have.length(1)
    })

    it('answers 503 beyond maxPendingHandshakes while others are still being verified', async () => {
      const { verifyRequest, inside, release } = heldHandshakes()
      const { port, server } = await listen({ maxPendingHandshakes: 2, verifyRequest })
      const pending = [RawPeer.connect(port), RawPeer.connect(port)]
      await inside
      expect((await rawHttp(port, upgradeRequest())).status).to.equal(503)
      release()
      const peers = await Promise.all(pending)
      expect(peers.map((p) => p.response.status)).to.deep.equal([101, 101])
      expect(server.connections).to.have.length(2)
    })
  })

  describe('subprotocols', () => {
    it("picks the client's most preferred protocol among validProtocols", async () => {
      const { port, nextConnection } = await listen({ validProtocols: ['chat.v1', 'chat.v2'] })
      const peer = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Protocol': 'chat.v3, chat.v2,chat.v1' })
      expect(peer.response.headers['sec-websocket-protocol']).to.equal('chat.v2')
      const connection = await nextConnection()
      expect(connection.protocol).to.equal('chat.v2')
      expect(connection.protocols).to.deep.equal(['chat.v3', 'chat.v2', 'chat.v1'])
    })

    it('answers without a protocol when none of the offered ones is supported', async () => {
      const { port, nextConnection } = await listen({ validProtocols: ['chat.v1'] })
      const peer = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Protocol': 'mqtt' })
      expect(peer.response.headers).not.to.have.property('sec-websocket-protocol')
      expect((await nextConnection()).protocol).to.equal(undefined)
    })

    it('uses a synchronous selectProtocol with the request and the offered list', async () => {
      const seen: string[][] = []
      const { port } = await listen({
        selectProtocol: (request, offered) => {
          seen.push([request.path, ...offered])
          return offered[offered.length - 1]
        },
      })
      const peer = await RawPeer.connect(port, '/p', { 'Sec-WebSocket-Protocol': 'a, b' })
      expect(peer.response.headers['sec-websocket-protocol']).to.equal('b')
      expect(seen).to.deep.equal([['/p', 'a', 'b']])
    })

    it('uses an asynchronous selectProtocol', async () => {
      const { port } = await listen({ selectProtocol: async (_request, offered) => offered.find((p) => p.startsWith('v')) })
      const peer = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Protocol': 'x, v2' })
      expect(peer.response.headers['sec-websocket-protocol']).to.equal('v2')
    })

    it('never answers a protocol the client did not offer (500, reported as an error)', async () => {
      const { port, server } = await listen({ selectProtocol: () => 'not-offered' })
      const reported = next<[Error]>(server, 'error')
      const answer = await rawHttp(port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': 'a' }))
      expect(answer.status).to.equal(500)
      expect(answer.headers).not.to.have.property('sec-websocket-protocol')
      expect((await reported)[0].message).to.match(/did not offer/)
    })
  })

  describe('listen()', () => {
    it("emits the HTTP server's listen error (EADDRINUSE) as 'error'", async () => {
      const { port } = await listen()
      const second = new Server({ heartbeatInterval: 0 })
      track(() => new Promise<void>((resolve) => second.close(() => resolve())))
      const failed = next<[NodeJS.ErrnoException]>(second, 'error')
      second.listen(port, '127.0.0.1')
      expect((await failed)[0].code).to.equal('EADDRINUSE')
    })
  })

  describe('attach()', () => {
    it('serves upgrades on an existing http.Server that keeps answering its own requests', async () => {
      const httpServer = http.createServer((_req, res) => res.end('plain http'))
      track(() => new Promise<void>((resolve) => httpServer.close(() => resolve())))
      await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve))
      const port = (httpServer.address() as AddressInfo).port
      const server = new Server({ heartbeatInterval: 0 }).attach(httpServer)
      track(() => new Promise<void>((resolve) => server.close(() => resolve())))
      server.on('connection', (connection: Connection) => connection.on('text', (t) => connection.sendText(t.toUpperCase())))
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/page', agent: false }, (res) => {
            let text = ''
            res.on('data', (c) => (text += c))
            res.on('end', () => resolve(text))
          })
          .on('error', reject)
      })
      expect(body).to.equal('plain http')
      const client = await open(`ws://127.0.0.1:${port}/ws`)
      client.sendText('hi')
      expect((await next<[string]>(client, 'text'))[0]).to.equal('HI')
      expect(server.address()).to.deep.equal(httpServer.address())
    })

    it('accepts the http server through the `server` option, and close() leaves it listening', async () => {
      const httpServer = http.createServer((_req, res) => res.end('still here'))
      track(() => new Promise<void>((resolve) => httpServer.close(() => resolve())))
      await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve))
      const port = (httpServer.address() as AddressInfo).port
      const server = new Server({ server: httpServer, heartbeatInterval: 0 })
      await open(`ws://127.0.0.1:${port}`)
      await new Promise<void>((resolve) => server.close(() => resolve()))
      expect(httpServer.listening).to.equal(true)
    })
  })

  describe('close() and connections', () => {
    it('lists open connections and drops them once closed', async () => {
      const { url, server, nextConnection } = await listen()
      expect(server.connections).to.deep.equal([])
      const client = await open(url)
      const serverSide = await nextConnection()
      expect(server.connections).to.deep.equal([serverSide])
      const closed = next(serverSide, 'close')
      client.close()
      await closed
      expect(server.connections).to.deep.equal([])
    })

    it('sends 1001 to every open connection and resolves once all are released', async () => {
      const { url, server } = await listen()
      const clients = await Promise.all([open(url), open(url), open(url)])
      const closes = clients.map((client) => closeRecorder(client))
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
      const infos = await Promise.all(closes.map((c) => c.closed))
      expect(infos.map((c) => c.code)).to.deep.equal([1001, 1001, 1001])
      expect(server.connections).to.deep.equal([])
      expect(server.address()).to.equal(null)
    })

    it('resolves even when a close listener of a connection throws', async () => {
      const { url, server, nextConnection } = await listen()
      await open(url)
      const serverSide = await nextConnection()
      serverSide.on('close', () => {
        throw new Error('close handler bug')
      })
      const logged: unknown[][] = []
      const original = console.error
      console.error = (...args: unknown[]) => void logged.push(args)
      try {
        const error = await deadline(
          new Promise<Error | undefined>((resolve) => server.close(resolve)),
          3000,
          'server.close() calling back',
        )
        expect(error).to.equal(undefined)
      } finally {
        console.error = original
      }
      expect(server.connections).to.deep.equal([])
      expect(logged.flat().map(String).join(' ')).to.include('close handler bug')
    })

    it('calls back a second close() made after the first completed', async () => {
      const { server } = await listen()
      const closeOnce = (what: string) =>
        deadline(new Promise<Error | undefined>((resolve) => server.close(resolve)), 3000, what)
      expect(await closeOnce('the first close() calling back')).to.equal(undefined)
      await closeOnce('the second close() calling back')
      expect(server.address()).to.equal(null)
    })

    it('destroys connections that do not answer the 1001 within closeTimeout', async () => {
      const { port, server } = await listen({ closeTimeout: 200 })
      const peer = await RawPeer.connect(port)
      const started = Date.now()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      expect((await peer.closeFrame()).code).to.equal(CloseCode.GoingAway)
      expect(Date.now() - started).to.be.below(1500)
      await peer.closed
    })

    it('resolves within the handshake timeout while a slowloris client holds a connection', async () => {
      const { port, server } = await listen({ handshakeTimeout: 300 })
      const socket = await tcp(port)
      socket.resume()
      const received = new Promise((resolve) => socket.once('data', resolve))
      socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n')
      const started = Date.now()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      expect(Date.now() - started).to.be.below(2000)
      void received
    })

    it('lets open connections take their closeTimeout even when it is longer than the handshake timeout', async () => {
      const { port, server, nextConnection } = await listen({ handshakeTimeout: 100, closeTimeout: 600 })
      const peer = await RawPeer.connect(port) // never answers the 1001
      const closes = closeRecorder(await nextConnection())
      const started = Date.now()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      expect((await peer.closeFrame()).code).to.equal(1001)
      expect((await closes.closed).code).to.equal(CloseCode.Abnormal)
      expect(Date.now() - started).to.be.at.least(500)
    })

    it('refuses upgrades that arrive while it is shutting down', async () => {
      let release!: () => void
      let verifying!: () => void
      const inside = new Promise<void>((resolve) => (verifying = resolve))
      const { port, server } = await listen({
        verifyRequest: () =>
          new Promise<void>((resolve) => {
            release = resolve
            verifying()
          }),
      })
      const answer = rawHttp(port, upgradeRequest())
      await inside
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      release()
      expect((await answer).status).to.equal(503)
      await closed
    })
  })

  describe('heartbeat', () => {
    it('pings every interval and keeps a peer that answers', async () => {
      const { url, nextConnection } = await listen({ heartbeatInterval: 50 })
      const client = await open(url)
      const serverSide = await nextConnection()
      // Our client answers pings automatically; three pongs mean three rounds survived.
      for (let i = 0; i < 3; i++) await deadline(next(serverSide, 'pong'), 2000, `pong #${i + 1}`)
      expect(serverSide.readyState).to.equal(1)
      expect(client.readyState).to.equal(1)
    })

    it('terminates a peer that never answers its ping (1006)', async () => {
      const { port, nextConnection } = await listen({ heartbeatInterval: 100 })
      const peer = await RawPeer.connect(port) // never sends a pong
      const serverSide = await nextConnection()
      const { closed } = closeRecorder(serverSide)
      const started = Date.now()
      await deadline(peer.opcodeFrame(0x9), 2000, 'the heartbeat ping')
      expect((await deadline(closed, 2000, 'terminating the peer that did not answer')).code).to.equal(CloseCode.Abnormal)
      expect(Date.now() - started).to.be.below(1000)
      await deadline(peer.closed, 2000, 'the peer seeing its socket close')
    })
  })
})
