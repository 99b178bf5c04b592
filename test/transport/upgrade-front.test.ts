import { expect } from 'chai'
import { IncomingMessage } from 'node:http'
import type { UpgradeRequest } from '../../src'
import { UpgradeFront } from '../../src/transport/upgrade-front'
import { listen, next, rawHttp, RawPeer, releaseAll, tcp, upgradeRequest } from '../helpers/transport-harness'

// Upgrades answered before Node's HTTP parser (UpgradeFront, on a server that listens itself)
// and the bytes it hands to the HTTP server instead.

/** Whether the socket went through Node's http.Server (which leaves `parser` on it). */
function throughNodeHttp(socket: object): boolean {
  return 'parser' in socket
}

describe('transport/upgrade-front', () => {
  it('is on by default for servers that listen on their own', () => {
    expect(UpgradeFront.enabled).to.equal(true)
  })

  afterEach(releaseAll)

  it('answers a whole upgrade head itself: nothing of http.Server stays on the socket', async () => {
    const { port, nextConnection } = await listen()
    await RawPeer.connect(port, '/chat?room=1')
    const connection = await nextConnection()
    expect(throughNodeHttp(connection.socket)).to.equal(false)
    expect(connection.path).to.equal('/chat?room=1')
    expect(connection.request?.path).to.equal('/chat')
    expect(connection.headers.upgrade).to.equal('websocket')
    expect(connection.remoteAddress).to.equal('127.0.0.1')
  })

  it('builds request.req, an IncomingMessage, for the hooks that read it', async () => {
    let seen: { req: IncomingMessage | undefined; request: UpgradeRequest } | undefined
    const { port, nextConnection } = await listen({
      verifyRequest: (request) => {
        seen = { req: request.req, request }
      },
    })
    await RawPeer.connect(port, '/room/7?user=ada', { 'X-Custom': 'Value' })
    const connection = await nextConnection()
    const req = seen!.req!
    expect(req).to.be.instanceOf(IncomingMessage)
    expect(req.method).to.equal('GET')
    expect(req.url).to.equal('/room/7?user=ada')
    expect(req.httpVersion).to.equal('1.1')
    expect(req.headers['x-custom']).to.equal('Value')
    expect(req.headers).to.equal(seen!.request.headers)
    expect(req.rawHeaders).to.include('X-Custom')
    expect(req.socket).to.equal(connection.socket)
    expect(seen!.request.req).to.equal(undefined) // released once open, as with Node's request
  })

  it('gives shouldHandle an IncomingMessage and leaves the upgrades it refuses to the HTTP server (404)', async () => {
    const urls: string[] = []
    const { port, nextConnection } = await listen({
      shouldHandle: (req) => {
        urls.push(String(req.url))
        return req.url === '/mine'
      },
    })
    await RawPeer.connect(port, '/mine')
    expect(throughNodeHttp((await nextConnection()).socket)).to.equal(false)
    const answer = await rawHttp(port, upgradeRequest('/theirs'))
    expect(answer.status).to.equal(404)
    expect(urls).to.include('/mine')
    expect(urls).to.include('/theirs')
  })

  it('leaves an upgrade to a path of nobody else to the HTTP server, which answers 404', async () => {
    const { port } = await listen({ path: '/ws' })
    expect((await rawHttp(port, upgradeRequest('/elsewhere'))).status).to.equal(404)
  })

  it('hands a head it does not parse (a repeated header) to the HTTP server, which accepts the upgrade', async () => {
    const { port, nextConnection } = await listen()
    const socket = await tcp(port)
    const answered = next<[Buffer]>(socket, 'data')
    socket.write(upgradeRequest('/', {}).replace('\r\n\r\n', '\r\nX-Twice: 1\r\nX-Twice: 2\r\n\r\n'))
    expect((await answered)[0].toString('latin1')).to.match(/^HTTP\/1\.1 101 /)
    const connection = await nextConnection()
    expect(throughNodeHttp(connection.socket)).to.equal(true)
    expect(connection.headers['x-twice']).to.equal('1, 2')
  })

  it('hands plain HTTP to the HTTP server, keep-alive included, and an upgrade after it on the same socket', async () => {
    const { port, nextConnection } = await listen()
    const socket = await tcp(port)
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    for (let i = 0; i < 200 && !received.includes('connect with a WebSocket client'); i++) await next(socket, 'data')
    expect(received).to.match(/^HTTP\/1\.1 426 /)
    socket.write(upgradeRequest())
    const connection = await nextConnection()
    for (let i = 0; i < 200 && !received.includes('\r\n\r\nHTTP/1.1 101 '); i++) await next(socket, 'data')
    expect(received).to.match(/\r\n\r\nHTTP\/1\.1 101 /)
    expect(throughNodeHttp(connection.socket)).to.equal(true)
  })

  it('answers 408 to a client that sends nothing within the handshake timeout', async () => {
    const { port } = await listen({ handshakeTimeout: 200 })
    const answer = await rawHttp(port, '')
    expect(answer.status).to.equal(408)
    expect(answer.closedAfter).to.be.below(2000)
  })
})
