import { expect } from 'chai'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { startExampleApp, type ExampleApp } from '../../example-app/start-example-app'
import { freePort } from '../helpers/redis-server'
import { MainProcess } from './main-process'
import { WsClient } from './ws-client'

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function fetchText(url: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.setTimeout(2000, () => req.destroy(new Error(`${method} ${url}: no answer within 2 s`)))
    req.once('error', reject)
    req.end()
  })
}

describe('example-app startExampleApp', () => {
  let chat: ExampleApp
  const clients: WsClient[] = []
  const sockets: Socket[] = []
  beforeEach(async () => {
    chat = await startExampleApp({ port: 0, host: '127.0.0.1' })
  })
  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate()
    for (const socket of sockets.splice(0)) socket.destroy()
    await chat.close()
  })
  const wsUrl = (path: string) => `ws://127.0.0.1:${chat.port}${path}`

  it('listens on the port it was given (0: a free one) and reports the URL to open', () => {
    expect(chat.port).to.be.greaterThan(0)
    expect(chat.url).to.equal(`http://127.0.0.1:${chat.port}/`)
  })

  it('serves the page and its assets, with a content security policy', async () => {
    const page = await fetchText(chat.url)
    expect(page.status).to.equal(200)
    expect(page.headers['content-type']).to.equal('text/html; charset=utf-8')
    expect(page.headers['content-security-policy']).to.include("default-src 'self'")
    expect(page.body).to.include('<script type="module" src="/app.js"></script>')
    const script = await fetchText(`${chat.url}app.js`)
    expect(script.headers['content-type']).to.equal('text/javascript; charset=utf-8')
    expect((await fetchText(`${chat.url}style.css`)).headers['content-type']).to.equal('text/css; charset=utf-8')
  })

  it('answers the room list as JSON', async () => {
    const rooms = await fetchText(`${chat.url}api/rooms`)
    expect(rooms.headers['content-type']).to.equal('application/json')
    expect(JSON.parse(rooms.body)).to.deep.equal([
      { name: 'lobby', members: 0 },
      { name: 'random', members: 0 },
      { name: 'help', members: 0 },
    ])
  })

  it('serves its AsyncAPI document at /asyncapi.json, the same as app.asyncapi()', async () => {
    const answer = await fetchText(`${chat.url}asyncapi.json`)
    expect(answer.status).to.equal(200)
    expect(answer.headers['content-type']).to.equal('application/json')
    expect(JSON.parse(answer.body)).to.deep.equal(chat.app.asyncapi({ title: 'gatewire example chat', version: '1.0.0' }))
  })

  it('answers the health probes /healthz and /readyz', async () => {
    const ready = await fetchText(`${chat.url}readyz`)
    expect(ready.status).to.equal(200)
    expect(JSON.parse(ready.body)).to.deep.equal({ live: true, ready: true, state: 'running', connections: 0 })
    expect((await fetchText(`${chat.url}healthz`)).status).to.equal(200)
  })

  it('serves Prometheus metrics at /metrics', async () => {
    const echo = await WsClient.open(wsUrl('/echo'))
    clients.push(echo)
    echo.ws.send('count me')
    expect(await echo.next()).to.equal('count me')
    const metrics = await fetchText(`${chat.url}metrics`)
    expect(metrics.status).to.equal(200)
    expect(metrics.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/)
    expect(metrics.body).to.include('gatewire_messages_received_total{gateway="EchoGateway",kind="text"} 1')
    expect(metrics.body).to.include('gatewire_connections_open{gateway="EchoGateway",protocol=""} 1')
  })

  it('answers 404 for anything else, including paths that try to leave public/', async () => {
    expect((await fetchText(`${chat.url}nope.html`)).status).to.equal(404)
    expect((await fetchText(`${chat.url}..%2Fmain.ts`)).status).to.equal(404)
    expect((await fetchText(`${chat.url}%2e%2e/package.json`)).status).to.equal(404)
  })

  it('answers 405 to methods other than GET and HEAD', async () => {
    const answer = await fetchText(chat.url, 'POST')
    expect(answer.status).to.equal(405)
    expect(answer.headers.allow).to.equal('GET, HEAD')
    expect((await fetchText(chat.url, 'HEAD')).status).to.equal(200)
  })

  it('serves the gateways on the same port as the page', async () => {
    const echo = await WsClient.open(wsUrl('/echo'))
    clients.push(echo)
    echo.ws.send('same port')
    expect(await echo.next()).to.equal('same port')
    await WsClient.open(wsUrl('/chat/lobby')).then(
      () => expect.fail('opened without a nickname'),
      (err: Error) => expect(err.message).to.match(/HTTP 401$/),
    )
  })

  it('closes every WebSocket with 1001 on close(), then stops serving HTTP', async () => {
    const ada = await WsClient.open(wsUrl('/chat/lobby?nick=ada'), ['chat.v2'])
    const old = await WsClient.open(wsUrl('/chat/lobby?nick=old'), ['chat.v1'])
    clients.push(ada, old)
    await chat.close()
    expect((await ada.expectClose()).code).to.equal(1001)
    expect((await old.expectClose()).code).to.equal(1001)
    await fetchText(chat.url).then(
      () => expect.fail('still serving HTTP'),
      (err: NodeJS.ErrnoException) => expect(err.code).to.equal('ECONNREFUSED'),
    )
  })

  it('is not held open by a connection that never sends a request (a browser preconnect)', async () => {
    const accepted = new Promise<Socket>((resolve) => chat.http.once('connection', resolve))
    const idle = connect(chat.port, '127.0.0.1')
    sockets.push(idle)
    idle.on('error', () => {})
    const ended = new Promise<void>((resolve) => idle.once('close', () => resolve()))
    await accepted
    const started = Date.now()
    await chat.close()
    expect(Date.now() - started).to.be.below(5000)
    await ended // the server cut it
    expect(idle.destroyed).to.equal(true)
  })
})

describe('example-app main.ts (npm start)', () => {
  let main: MainProcess | undefined
  afterEach(async () => {
    await main?.stop()
    main = undefined
  })

  const start = (env: Record<string, string>): Promise<string> => MainProcess.start(env, (started) => (main = started))

  it('exits 1 naming the URL when REDIS_URL is a Redis nobody serves', async function () {
    this.timeout(30_000)
    const url = `redis://127.0.0.1:${await freePort()}`
    const failure = await start({ PORT: '0', REDIS_URL: url }).then(
      () => expect.fail('main.ts started without its Redis'),
      (err: Error) => err.message,
    )
    expect(failure).to.include('main.ts exited with 1')
    expect(failure).to.include(`gatewire/redis: cannot reach ${url} within 3000 ms`)
    expect(failure).to.include('Is redis-server running there? Start one, or unset REDIS_URL to run a single instance.')
  })

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`prints the URL to open, and on ${signal} closes every client with 1001 and exits 0`, async function () {
      this.timeout(30_000)
      const url = await start({ PORT: '0' })
      const port = new URL(url).port
      expect(url).to.equal(`http://localhost:${port}/`)
      const client = await WsClient.open(`ws://127.0.0.1:${port}/chat/lobby?nick=ada`, ['chat.v2'])
      main!.kill(signal)
      expect((await client.expectClose()).code).to.equal(1001)
      expect(await main!.exited()).to.equal(0)
      expect(main!.output).to.include(`${signal}: closing every connection with 1001`)
    })
  }
})
