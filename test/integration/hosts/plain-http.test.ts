import { expect } from 'chai'
import * as http from 'node:http'
import * as https from 'node:https'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import { bootstrap, connectAsync, Gateway, HandshakeError, Module, OnText, type Application } from '../../../src'
import { TestApp } from '../../../src/testing'
import { selfSignedCertificate } from '../../helpers/self-signed'
import { deadline } from '../../helpers/deadline'
import { closePeers, connectPeer, refusal } from '../framework/ws-peer'
import { closeServer, destroySockets, listenOn, rawUpgrade, until } from './host-harness'

/** A module with one gateway at `path` that answers `<prefix>: <text>`. */
function echoModule(path: string, prefix: string) {
  @Gateway(path)
  class EchoGateway {
    @OnText() echo(text: string) {
      return `${prefix}: ${text}`
    }
  }
  @Module({ gateways: [EchoGateway] })
  class EchoModule {}
  return { gateway: EchoGateway, module: EchoModule }
}

const { gateway: GatewayA, module: ModuleA } = echoModule('/a', 'a')
const { module: ModuleB } = echoModule('/b/:room', 'b')

describe('hosts: plain http/https', () => {
  let server: http.Server
  let port: number
  const apps: Application[] = []
  const others: { close(): void }[] = []

  beforeEach(() => {
    server = http.createServer((_req, res) => res.end('http answer'))
  })

  afterEach(async () => {
    closePeers()
    destroySockets()
    for (const other of others.splice(0)) other.close()
    await Promise.all(apps.splice(0).map((app) => app.close()))
    await closeServer(server)
  })

  /** Listens, then checks gatewire's /a and ws's /legacy (an echo prefixing "ws: ") on one port. */
  async function expectBothSidesAnswer(): Promise<void> {
    port = await listenOn(server)
    const ours = await connectPeer(`ws://127.0.0.1:${port}/a`)
    const theirs = await connectPeer(`ws://127.0.0.1:${port}/legacy`)
    ours.send('x')
    theirs.send('y')
    expect(await ours.next()).to.equal('a: x')
    expect(await theirs.next()).to.equal('ws: y')
  }

  function app(module: Function, options = {}): Application {
    const created = bootstrap(module as never, { logger: false, heartbeatInterval: 0, ...options })
    apps.push(created)
    return created
  }

  it('lets two gatewire apps share one server, each on its own paths, and answers 404 for the rest', async () => {
    app(ModuleA).attach(server)
    app(ModuleB).attach(server)
    port = await listenOn(server)
    const a = await connectPeer(`ws://127.0.0.1:${port}/a`)
    const b = await connectPeer(`ws://127.0.0.1:${port}/b/lobby`)
    a.send('1')
    b.send('2')
    expect(await a.next()).to.equal('a: 1')
    expect(await b.next()).to.equal('b: 2')
    // gatewire is the server's only upgrade listener: nobody else would answer.
    const missing = await refusal(`ws://127.0.0.1:${port}/c`)
    expect(missing.status).to.equal(404)
    expect(missing.headers['content-type']).to.equal('text/plain; charset=utf-8')
  })

  it('leaves other paths to ws in noServer mode, dispatched by its own upgrade listener', async () => {
    app(ModuleA).attach(server)
    const wss = new WebSocketServer({ noServer: true })
    others.push(wss)
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`ws: ${m}`)))
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url === '/legacy') wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    })
    await expectBothSidesAnswer()
  })

  it('leaves a non-WebSocket upgrade (h2c) to the listener that handles it, writing nothing to its socket', async () => {
    app(ModuleA).attach(server)
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
      if (req.headers.upgrade === 'h2c') socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nh2c-bytes')
    })
    port = await listenOn(server)
    const answer = await rawUpgrade(port, '/a', 'h2c')
    expect(answer.status).to.equal(101)
    let rest = answer.after
    answer.socket.on('data', (chunk: string) => (rest += chunk))
    await new Promise((resolve) => answer.socket.once('close', resolve))
    expect(answer.head + '\r\n\r\n' + rest).to.equal('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nh2c-bytes')
  })

  it('answers 400 to a non-WebSocket upgrade only when it is the sole upgrade listener', async () => {
    app(ModuleA).attach(server)
    port = await listenOn(server)
    expect((await rawUpgrade(port, '/a', 'foo')).status).to.equal(400)
  })

  it('keeps ws { server, path } working beside it with attach(server, { intercept: true })', async () => {
    app(ModuleA).attach(server, { intercept: true })
    const wss = new WebSocketServer({ server, path: '/legacy' })
    others.push(wss)
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`ws: ${m}`)))
    await expectBothSidesAnswer()
    // ws answers what nobody else claims (its 400 for a path not its own).
    expect((await refusal(`ws://127.0.0.1:${port}/nowhere`)).status).to.equal(400)
  })

  it('closes the WebSockets with 1001, then the HTTP server, with app.close({ servers: true })', async () => {
    const a = app(ModuleA).attach(server)
    port = await listenOn(server)
    const peer = await connectPeer(`ws://127.0.0.1:${port}/a`)
    // An idle keep-alive HTTP connection must not hold the close either.
    const agent = new http.Agent({ keepAlive: true })
    await new Promise<void>((resolve) => http.get({ port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', resolve)))
    await deadline(a.close({ servers: true }), 5000, 'app.close({ servers: true })')
    expect((await deadline(peer.closed, 5000, 'the 1001 from the shutdown')).code).to.equal(1001)
    expect(server.listening).to.equal(false)
    expect(a.connections(GatewayA).size).to.equal(0)
    agent.destroy()
  })

  it("lets the host's own server.close() finish while WebSockets are open with { closeWithServer: true }", async () => {
    const a = app(ModuleA).attach(server, { closeWithServer: true })
    port = await listenOn(server)
    const peer = await connectPeer(`ws://127.0.0.1:${port}/a`)
    await deadline(
      new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
      5000,
      "the host's server.close()",
    )
    expect((await deadline(peer.closed, 5000, 'the 1001 from the shutdown')).code).to.equal(1001)
    await until(() => a.connections(GatewayA).size === 0, 'the gateway has dropped the connection')
    // The app itself is closed, not only its transport: a later close() resolves at once.
    await a.close()
  })

  it('answers 503 to upgrades to its paths while closing, never the host handler', async () => {
    const a = app(ModuleA, { transport: { closeTimeout: 10_000 } }).attach(server)
    port = await listenOn(server)
    const stalled = await rawUpgrade(port, '/a')
    expect(stalled.status).to.equal(101)
    const closing = a.close()
    expect((await rawUpgrade(port, '/a')).status).to.equal(503)
    stalled.socket.destroy()
    await deadline(closing, 5000, 'the shutdown')
    // And after the close, still 503 (not the HTTP handler's 200).
    expect((await rawUpgrade(port, '/a')).status).to.equal(503)
  })

  it('serves an http and an https server under one app, connections() and close() covering both', async () => {
    let tls: { key: string; cert: string }
    try {
      tls = selfSignedCertificate()
    } catch (error) {
      console.warn(`  SKIPPED: openssl is not available (${(error as Error).message})`)
      return
    }
    const secure = https.createServer(tls)
    others.push({ close: () => void closeServer(secure) })
    const a = app(ModuleA).attach(server).attach(secure)
    port = await listenOn(server)
    const securePort = await listenOn(secure)
    const plain = await connectAsync(`ws://127.0.0.1:${port}/a`)
    const overTls = await connectAsync(`wss://127.0.0.1:${securePort}/a`, { tls: { ca: tls.cert } })
    expect(a.connections(GatewayA).size).to.equal(2)
    const codes = [plain, overTls].map((c) => new Promise<number>((resolve) => c.once('close', resolve)))
    await deadline(a.close(), 5000, 'app.close()')
    expect(await Promise.all(codes)).to.deep.equal([1001, 1001])
  })

  it('runs fully when upgrades are handed over with app.handleUpgrade(): heartbeats, connections, close', async () => {
    const a = app(ModuleA, { heartbeatInterval: 30 })
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url === '/a') a.handleUpgrade(req, socket as never, head)
      else socket.destroy()
    })
    port = await listenOn(server)
    const peer = await connectPeer(`ws://127.0.0.1:${port}/a`)
    await until(() => peer.pings.length > 0, 'the app pings the connection')
    expect(a.connections(GatewayA).size).to.equal(1)
    await deadline(a.close(), 5000, 'app.close()')
    expect((await deadline(peer.closed, 5000, 'the 1001 from the shutdown')).code).to.equal(1001)
  })

  it('wraps an attached app in TestApp for gatewire/testing', async () => {
    const a = app(ModuleA).attach(server)
    port = await listenOn(server)
    const t = new TestApp(a, `ws://127.0.0.1:${port}`)
    const client = await t.connect('/a')
    client.send('t')
    expect(await client.nextMessage()).to.equal('a: t')
    await t.expectRejected('/nowhere', 404)
    await t.close()
  })

  it('rejects connectAsync() with the HandshakeError of a refusal: status, headers and body', async () => {
    server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) => {
      socket.end('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 9\r\n\r\nslow down')
    })
    port = await listenOn(server)
    const error = await connectAsync(`ws://127.0.0.1:${port}/a`).then(
      () => expect.fail('connected'),
      (err: unknown) => err,
    )
    expect(error).to.be.instanceOf(HandshakeError)
    expect((error as HandshakeError).status).to.equal(429)
    expect((error as HandshakeError).headers['retry-after']).to.equal('7')
    expect((error as HandshakeError).body).to.equal('slow down')
  })
})
