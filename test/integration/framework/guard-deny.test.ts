import { expect } from 'chai'
import { ConnData, Gateway, Module, OnText, UseGuards, type GuardContext } from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'

/** A session store with a callback API, as express-session's stores have. */
const store = {
  get(id: string, callback: (err: Error | null, session?: { user: string }) => void): void {
    setImmediate(() => callback(null, id === 'good' ? { user: 'ada' } : undefined))
  },
}

function fromStore(ctx: GuardContext<{ user?: string }>): Promise<boolean> {
  return new Promise((resolve) =>
    store.get(ctx.query.get('sid') ?? '', (err, session) => {
      if (err || !session) ctx.deny(401, 'no session', { 'WWW-Authenticate': 'Session' })
      else ctx.data.user = session.user
      resolve(true)
    }),
  )
}

@Gateway('/me')
@UseGuards(fromStore)
class MeGateway {
  @OnText() me(_text: string, @ConnData() data: { user?: string }) {
    return data.user
  }
}

@Module({ gateways: [MeGateway] })
class AppModule {}

describe('framework guards: ctx.deny() from a callback', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp(AppModule, { logger: false })
  })
  afterEach(() => t.close())

  it('refuses with the status and headers given to deny(), even though the guard resolved true', async () => {
    const error = await t.expectRejected('/me?sid=bad', 401)
    expect(error.headers['www-authenticate']).to.equal('Session')
    expect(error.body).to.equal('no session')
  })

  it('lets the handshake through when deny() was not called, with what the guard set on the data', async () => {
    const client = await t.connect('/me?sid=good')
    client.send('who')
    expect(await client.nextMessage()).to.equal('ada')
  })
})
