import { expect } from 'chai'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { Server, type Connection } from '../../src'
import { next, rawHttp, RawPeer, releaseAll, track, upgradeRequest } from '../helpers/transport-harness'

/** An http.Server on 127.0.0.1:0 with `servers` attached, closed after the test. */
async function shared(...servers: [Server, { intercept?: boolean }?][]): Promise<{ http: http.Server; port: number }> {
  const httpServer = http.createServer((_req, res) => res.end('http'))
  for (const [server, options] of servers) {
    server.attach(httpServer, options)
    track(() => new Promise<void>((resolve) => server.close(() => resolve())))
  }
  track(
    () =>
      new Promise<void>((resolve) => {
        httpServer.close(() => resolve())
        httpServer.closeAllConnections()
      }),
  )
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve))
  return { http: httpServer, port: (httpServer.address() as AddressInfo).port }
}

describe('transport/upgrade-claim', () => {
  afterEach(releaseAll)

  it('hands each upgrade to the server whose path option matches it', async () => {
    const chat = new Server({ heartbeatInterval: 0, path: '/chat' })
    const feed = new Server({ heartbeatInterval: 0, path: ['/feed', '/feed2'] })
    const { port } = await shared([chat], [feed])
    const toFeed = next<[Connection]>(feed, 'connection')
    expect((await RawPeer.connect(port, '/feed2?x=1')).response.status).to.equal(101)
    expect((await toFeed)[0].path).to.equal('/feed2?x=1')
    const toChat = next<[Connection]>(chat, 'connection')
    expect((await RawPeer.connect(port, '/chat')).response.status).to.equal(101)
    expect((await toChat)[0].path).to.equal('/chat')
  })

  it('answers 404 to a WebSocket upgrade nobody claims when it is the only upgrade listener', async () => {
    const { port } = await shared([new Server({ heartbeatInterval: 0, shouldHandle: (req) => req.url === '/only' })])
    const answer = await rawHttp(port, upgradeRequest('/other'))
    expect(answer.status).to.equal(404)
    expect(answer.headers['content-type']).to.equal('text/plain; charset=utf-8')
  })

  it('answers nothing to an upgrade it does not claim while another listener exists', async () => {
    const { http: httpServer, port } = await shared([new Server({ heartbeatInterval: 0, path: '/ours' })])
    httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => socket.end(`HTTP/1.1 418 I'm a teapot\r\nX-Url: ${req.url}\r\nContent-Length: 0\r\n\r\n`))
    const answer = await rawHttp(port, upgradeRequest('/theirs'))
    expect(answer.status).to.equal(418)
    expect(answer.body).to.equal('')
  })

  it('hides the upgrades it claims from the other listeners in intercept mode', async () => {
    const seen: string[] = []
    const ours = new Server({ heartbeatInterval: 0, path: '/ours' })
    const { http: httpServer, port } = await shared([ours, { intercept: true }])
    // A peer that answers every upgrade, registered after gatewire.
    httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
      seen.push(req.url ?? '')
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')
    })
    expect((await RawPeer.connect(port, '/ours')).response.status).to.equal(101)
    expect((await rawHttp(port, upgradeRequest('/theirs'))).status).to.equal(400)
    expect(seen).to.deep.equal(['/theirs'])
  })

  it('drops closed servers when the HTTP server closes, and keeps serving the live ones when it listens again', async () => {
    const closedOne = new Server({ heartbeatInterval: 0, path: '/old' })
    const live = new Server({ heartbeatInterval: 0, path: '/new' })
    const { http: httpServer, port } = await shared([closedOne], [live])
    await new Promise<void>((resolve) => closedOne.close(() => resolve()))
    expect((await rawHttp(port, upgradeRequest('/old'))).status).to.equal(503)
    await new Promise<void>((resolve) => httpServer.close(() => resolve()))
    await new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve))
    expect((await RawPeer.connect(port, '/new')).response.status).to.equal(101)
    expect((await rawHttp(port, upgradeRequest('/old'))).status).to.equal(404)
  })

  it('rejects a path option that does not start with "/"', () => {
    expect(() => new Server({ path: 'chat' })).to.throw(SyntaxError, /must start with "\/"/)
  })
})
