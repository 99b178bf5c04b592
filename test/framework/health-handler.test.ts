import { expect } from 'chai'
import { createServer, request, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { bootstrap, Gateway, healthHandler, Module, OnText, type Application, type HealthStatus } from '../../src'
import { closePeers, connectPeer } from '../integration/framework/ws-peer'

@Gateway('/echo')
class Echo {
  @OnText() echo(text: string): string {
    return text
  }
}

@Module({ gateways: [Echo] })
class AppModule {}

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.setTimeout(2000, () => req.destroy(new Error(`${method} ${path}: no answer within 2 s`)))
    req.once('error', reject)
    req.end()
  })
}

describe('app.health() and healthHandler', () => {
  let app: Application
  let http: HttpServer
  let port: number
  beforeEach(async () => {
    app = bootstrap(AppModule, { logger: false })
    const probes = healthHandler(app)
    http = createServer((req, res) => {
      if (!probes(req, res)) res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
    port = (http.address() as AddressInfo).port
  })
  afterEach(async () => {
    closePeers()
    await app.close()
    http.closeAllConnections()
    await new Promise<void>((resolve) => http.close(() => resolve()))
  })

  it('is live but not ready before the app serves, ready once attached, and counts connections', async () => {
    expect(app.health()).to.deep.equal({ live: true, ready: false, state: 'idle', connections: 0 })
    expect((await get(port, '/readyz')).status).to.equal(503)
    expect((await get(port, '/healthz')).status).to.equal(200)
    app.attach(http)
    await connectPeer(`ws://127.0.0.1:${port}/echo`)
    await connectPeer(`ws://127.0.0.1:${port}/echo`)
    const ready = await get(port, '/readyz')
    expect(ready.status).to.equal(200)
    expect(JSON.parse(ready.body) as HealthStatus).to.deep.equal({ live: true, ready: true, state: 'running', connections: 2 })
  })

  it('turns not ready the moment close() is called, while connections are still open', async () => {
    app.attach(http)
    const peer = await connectPeer(`ws://127.0.0.1:${port}/echo`)
    const closing = app.close()
    expect(app.health()).to.include({ ready: false, live: true, state: 'closing', connections: 1 })
    expect((await peer.closed).code).to.equal(1001)
    await closing
    expect(app.health()).to.deep.equal({ live: false, ready: false, state: 'closed', connections: 0 })
    expect((await get(port, '/healthz')).status).to.equal(503)
  })

  it('answers /readyz with 503 before the first 1001 reaches a client (drainDelay), and /healthz 200 meanwhile', async () => {
    app.attach(http)
    const peer = await connectPeer(`ws://127.0.0.1:${port}/echo`)
    let closedAt: number | undefined
    void peer.closed.then(() => (closedAt = Date.now()))
    const closing = app.close({ drainDelay: 1500 })
    const ready = await get(port, '/readyz')
    const readyAt = Date.now()
    expect(ready.status).to.equal(503)
    expect(JSON.parse(ready.body)).to.include({ ready: false, state: 'closing', connections: 1 })
    expect(closedAt, 'the client got its close before /readyz said 503').to.equal(undefined)
    expect((await get(port, '/healthz')).status).to.equal(200)
    // Still served during the delay.
    peer.send('still here')
    expect(await peer.next()).to.equal('still here')
    const { code } = await peer.closed
    expect(code).to.equal(1001)
    expect(closedAt!).to.be.at.least(readyAt)
    await closing
  })

  it('answers HEAD without a body and leaves other paths and methods to the next handler', async () => {
    app.attach(http)
    const head = await get(port, '/readyz', 'HEAD')
    expect(head).to.deep.equal({ status: 200, body: '' })
    expect((await get(port, '/readyz?verbose=1')).status).to.equal(200)
    expect((await get(port, '/metrics')).status).to.equal(404)
    expect((await get(port, '/readyz', 'POST')).status).to.equal(404)
  })

  it('serves other paths when given them', async () => {
    const probes = healthHandler(app, { live: '/live', ready: '/ready' })
    const other = createServer((req, res) => {
      if (!probes(req, res)) res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    try {
      const otherPort = (other.address() as AddressInfo).port
      expect((await get(otherPort, '/live')).status).to.equal(200)
      expect((await get(otherPort, '/ready')).status).to.equal(503)
      expect((await get(otherPort, '/healthz')).status).to.equal(404)
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()))
    }
  })

  it('refuses a drainDelay that is not a number of ms', async () => {
    app.attach(http)
    await app.close({ drainDelay: -1 }).then(
      () => expect.fail('accepted -1'),
      (err: Error) => expect(err).to.be.instanceOf(RangeError).and.have.property('message').that.match(/drainDelay/),
    )
    expect(app.health().ready).to.equal(true)
  })
})
