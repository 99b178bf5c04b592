import { expect } from 'chai'
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyWebsocket from '@fastify/websocket'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { bootstrap, ConnData, Gateway, Module, OnText, type GuardFunction } from '../../../src'
import { fromFastify, gatewireFastify } from '../../../src/fastify'
import { deadline } from '../../helpers/deadline'
import { closePeers, connectPeer, refusal } from '../framework/ws-peer'
import { destroySockets, rawUpgrade } from './host-harness'

@Gateway('/echo')
class EchoGateway {
  @OnText() echo(text: string, @ConnData() data: { user?: string }) {
    return data.user === undefined ? text : `${data.user}: ${text}`
  }
}

@Module({ gateways: [EchoGateway] })
class EchoModule {}

declare module 'fastify' {
  interface Session {
    user?: string
  }
}

const SECRET = 'a secret of at least thirty-two characters!'

describe('hosts: Fastify 5', () => {
  let fastify: FastifyInstance
  let url: string

  afterEach(async () => {
    closePeers()
    destroySockets()
    await fastify.close()
  })

  async function start(): Promise<void> {
    await fastify.listen({ port: 0, host: '127.0.0.1' })
    const address = fastify.server.address()
    if (address === null || typeof address === 'string') throw new Error('no TCP address')
    url = `ws://127.0.0.1:${address.port}`
  }

  async function withWebsocketPlugin(order: 'gatewire first' | 'gatewire last'): Promise<void> {
    fastify = Fastify()
    const registerGatewire = () => fastify.register(gatewireFastify, { app: bootstrap(EchoModule, { logger: false }) })
    if (order === 'gatewire first') await registerGatewire()
    await fastify.register(fastifyWebsocket)
    await fastify.register(async (scope) => {
      scope.get('/fws', { websocket: true }, (socket) => {
        socket.on('message', (m: Buffer) => socket.send(`fws: ${m}`))
      })
      scope.get('/hello', async () => 'hello over http')
    })
    if (order === 'gatewire last') await registerGatewire()
    await start()
  }

  for (const order of ['gatewire first', 'gatewire last'] as const) {
    it(`shares one port with @fastify/websocket, both answering their own paths (${order})`, async () => {
      await withWebsocketPlugin(order)
      const ours = await connectPeer(`${url}/echo`)
      const theirs = await connectPeer(`${url}/fws`)
      ours.send('a')
      theirs.send('b')
      expect(await ours.next()).to.equal('a')
      expect(await theirs.next()).to.equal('fws: b')
      const http = await fastify.inject({ method: 'GET', url: '/hello' })
      expect(http.body).to.equal('hello over http')
      // An upgrade to a path neither serves gets Fastify's 404, once (gatewire leaves it alone).
      expect((await refusal(`${url}/nowhere`)).status).to.equal(404)
    })
  }

  it('routes a gateway path with a trailing slash as gatewire does, with and without ignoreTrailingSlash', async () => {
    for (const ignoreTrailingSlash of [false, true]) {
      fastify = Fastify({ routerOptions: { ignoreTrailingSlash } })
      await fastify.register(gatewireFastify, { app: bootstrap(EchoModule, { logger: false }) })
      await start()
      const peer = await connectPeer(`${url}/echo/`)
      peer.send('slash')
      expect(await peer.next()).to.equal('slash')
      closePeers()
      if (!ignoreTrailingSlash) await fastify.close()
    }
  })

  it('answers a plain HTTP GET to a gateway path with 426', async () => {
    fastify = Fastify()
    await fastify.register(gatewireFastify, { app: bootstrap(EchoModule, { logger: false }) })
    await start()
    const response = await fastify.inject({ method: 'GET', url: '/echo' })
    expect(response.statusCode).to.equal(426)
    expect(response.headers.upgrade).to.equal('websocket')
  })

  it('exposes the app as fastify.gatewire and closes its WebSockets with 1001 in fastify.close()', async () => {
    fastify = Fastify()
    await fastify.register(gatewireFastify, { app: bootstrap(EchoModule, { logger: false }) })
    await start()
    const peer = await connectPeer(`${url}/echo`)
    expect(fastify.gatewire.connections(EchoGateway).size).to.equal(1)
    await deadline(fastify.close(), 5000, 'fastify.close()')
    expect((await deadline(peer.closed, 5000, 'the 1001 from the shutdown')).code).to.equal(1001)
    expect(fastify.gatewire.connections(EchoGateway).size).to.equal(0)
    expect(fastify.server.listening).to.equal(false)
  })

  it('answers upgrades to its paths with 503 while closing, never with a Fastify route', async () => {
    fastify = Fastify()
    const app = bootstrap(EchoModule, { logger: false, transport: { closeTimeout: 10_000 } })
    await fastify.register(gatewireFastify, { app })
    await start()
    // A peer that never answers the 1001 keeps the close pending (for up to closeTimeout).
    const stalled = await rawUpgrade(Number(new URL(url).port), '/echo')
    expect(stalled.status).to.equal(101)
    const closing = fastify.close()
    const during = await rawUpgrade(Number(new URL(url).port), '/echo')
    expect(during.status).to.equal(503)
    stalled.socket.destroy()
    await deadline(closing, 5000, 'the shutdown')
  })

  it('runs @fastify/cookie and @fastify/session before the guards: the session user is on the connection data', async () => {
    fastify = Fastify()
    await fastify.register(fastifyCookie)
    await fastify.register(fastifySession, { secret: SECRET, cookie: { secure: false } })
    fastify.post<{ Body: { user: string } }>('/login', async (request) => {
      request.session.set('user', request.body.user)
      return 'ok'
    })
    const signedIn: GuardFunction = (ctx) => {
      if (ctx.data.user === undefined) ctx.reject(401, 'sign in first', { 'WWW-Authenticate': 'Cookie' })
    }
    const app = bootstrap(EchoModule, {
      logger: false,
      guards: [fromFastify((request) => ({ user: request.session.get('user') })), signedIn],
    })
    await fastify.register(gatewireFastify, { app })
    await start()
    const login = await fastify.inject({ method: 'POST', url: '/login', payload: { user: 'ada' } })
    const cookie = String(login.headers['set-cookie']).split(';')[0]
    expect(cookie).to.match(/^sessionId=/)

    const peer = await connectPeer(`${url}/echo`, { headers: { Cookie: cookie } })
    peer.send('hi')
    expect(await peer.next()).to.equal('ada: hi')

    const anonymous = await refusal(`${url}/echo`)
    expect(anonymous.status).to.equal(401)
    expect(anonymous.headers['www-authenticate']).to.equal('Cookie')
    expect(anonymous.body).to.equal('sign in first')
  })

  it('lets a Fastify hook refuse the upgrade with its own reply', async () => {
    fastify = Fastify()
    fastify.addHook('onRequest', async (request, reply) => {
      if (request.headers['x-token'] !== 'good') await reply.code(403).header('x-why', 'token').send('no token')
    })
    await fastify.register(gatewireFastify, { app: bootstrap(EchoModule, { logger: false }) })
    await start()
    const refused = await refusal(`${url}/echo`)
    expect(refused.status).to.equal(403)
    expect(refused.headers['x-why']).to.equal('token')
    expect(refused.body).to.equal('no token')
    const peer = await connectPeer(`${url}/echo`, { headers: { 'x-token': 'good' } })
    peer.send('ok')
    expect(await peer.next()).to.equal('ok')
  })
})
