import { expect } from 'chai'
import {
  ConnData,
  Gateway,
  GuardContext,
  HandshakeError,
  Injectable,
  Module,
  OnConnect,
  UseGuards,
  type CanActivate,
  type GuardFunction,
  type TypedConnection,
} from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'
import { closePeers, connectPeer, refusal } from './ws-peer'

@Injectable()
class Users {
  byToken(token: string | null): { name: string } | undefined {
    return token === 'good' ? { name: 'ada' } : undefined
  }
}

@Injectable()
class AuthGuard implements CanActivate {
  constructor(private readonly users: Users) {}
  async canActivate(ctx: GuardContext<{ user?: { name: string } }>) {
    await Promise.resolve()
    const user = this.users.byToken(ctx.query.get('token') ?? ctx.cookies.token ?? null)
    if (!user) ctx.reject(401, 'unknown token')
    ctx.data.user = user
  }
}

const roomIsOpen: GuardFunction = (ctx) => ctx.params.room !== 'closed'
const rateLimit: GuardFunction = (ctx) => {
  if (ctx.headers['x-flood'] === '1') ctx.reject(429, 'slow down', { 'Retry-After': '7' })
}
const exploding: GuardFunction = () => {
  throw new Error('guard bug')
}

@Gateway('/rooms/:room')
@UseGuards(rateLimit, AuthGuard, roomIsOpen)
class RoomGateway {
  @OnConnect() hello(conn: TypedConnection<{ user: { name: string } }>, @ConnData('user') user: { name: string }) {
    return `${conn.data.user.name}/${user.name}`
  }
}

@Gateway('/browser', { origins: ['https://app.example.com'] })
class BrowserGateway {
  @OnConnect() hello() {
    return 'hi'
  }
}

@Gateway('/bug')
@UseGuards(exploding)
class BuggyGateway {}

@Module({ gateways: [RoomGateway, BrowserGateway, BuggyGateway], providers: [Users] })
class AppModule {}

describe('framework guards and origins', () => {
  let t: TestApp
  afterEach(async () => {
    await t?.close()
    closePeers()
  })

  it('lets a request through when every guard passes, with the data guards attached', async () => {
    t = await createTestApp(AppModule)
    const peer = await connectPeer(`${t.url}/rooms/lobby?token=good`)
    expect(await peer.next()).to.equal('ada/ada')
    const byCookie = await t.connect('/rooms/lobby', { headers: { Cookie: 'token=good' } })
    expect(await byCookie.nextText()).to.equal('ada/ada')
  })

  it('refuses with the status a class guard chooses (401), before the upgrade', async () => {
    t = await createTestApp(AppModule)
    const refused = await refusal(`${t.url}/rooms/lobby?token=bad`)
    expect(refused.status).to.equal(401)
  })

  it('refuses with 403 when a function guard returns false', async () => {
    t = await createTestApp(AppModule)
    expect((await refusal(`${t.url}/rooms/closed?token=good`)).status).to.equal(403)
  })

  it('refuses with 429 and the guard headers, running guards in order', async () => {
    t = await createTestApp(AppModule)
    const refused = await refusal(`${t.url}/rooms/lobby?token=bad`, { headers: { 'x-flood': '1' } })
    expect(refused.status).to.equal(429)
    expect(refused.headers['retry-after']).to.equal('7')
  })

  it('refuses with 500 and logs when a guard throws something other than a HandshakeError', async () => {
    const logged: unknown[][] = []
    t = await createTestApp(AppModule, { logger: { error: (fields, message) => logged.push([message, fields]), warn: () => {} } })
    await t.expectRejected('/bug', 500)
    expect(logged).to.have.length(1)
    expect(logged[0][0]).to.match(/BuggyGateway guard failed/)
  })

  it('runs app-wide guards before the gateway guards', async () => {
    const order: string[] = []
    const global: GuardFunction = (ctx) => {
      order.push('global')
      if (ctx.query.get('block') === '1') throw new HandshakeError(451, 'unavailable')
    }
    t = await createTestApp(AppModule, { guards: [global] })
    const error = await t.expectRejected('/rooms/lobby?token=good&block=1', 451)
    expect(error.status).to.equal(451)
    expect(order).to.deep.equal(['global'])
  })

  it('refuses browsers from other origins with 403 and accepts the allowed origin and non-browsers', async () => {
    t = await createTestApp(AppModule)
    expect((await refusal(`${t.url}/browser`, { origin: 'https://evil.example.com' })).status).to.equal(403)
    const allowed = await connectPeer(`${t.url}/browser`, { origin: 'https://APP.example.com' })
    expect(await allowed.next()).to.equal('hi')
    const noOrigin = await connectPeer(`${t.url}/browser`)
    expect(await noOrigin.next()).to.equal('hi')
  })

  it('applies the app origins option to every gateway', async () => {
    t = await createTestApp(AppModule, { origins: ['https://only.example'] })
    await t.expectRejected('/rooms/lobby?token=good', 403, { headers: { Origin: 'https://other.example' } })
    const client = await t.connect('/rooms/lobby?token=good', { headers: { Origin: 'https://only.example' } })
    expect(await client.nextText()).to.equal('ada/ada')
  })
})
