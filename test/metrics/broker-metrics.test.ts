import { expect } from 'chai'
import { Registry } from 'prom-client'
import { bootstrap, Conn, Gateway, GatewayConnections, Module, OnConnect, OnText, Payload, type Application, type Connection } from '../../src'
import { prometheusMetrics } from '../../src/prometheus'
import { redisBroker } from '../../src/redis'
import { RedisServer, requireRedisServer } from '../helpers/redis-server'
import { closePeers, connectPeer } from '../integration/framework/ws-peer'

@Gateway('/room')
class RoomGateway {
  constructor(private readonly connections: GatewayConnections) {}
  @OnConnect() enter(@Conn() conn: Connection) {
    this.connections.room('r').join(conn)
  }
  @OnText() say(@Payload() text: string, @Conn() conn: Connection) {
    this.connections.room('r').send(text, { except: conn })
  }
}

@Module({ gateways: [RoomGateway] })
class RoomModule {}

/** Polls `read` until `done`, bounded; fails naming what was awaited. */
async function until<T>(read: () => T | Promise<T>, done: (value: T) => boolean, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms
  let value = await read()
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    value = await read()
  }
  expect(done(value), `${what} (last: ${JSON.stringify(value)})`).to.equal(true)
  return value
}

describe('broker metrics through a Redis outage', function () {
  this.timeout(60_000)
  let redis: RedisServer | undefined
  let app: Application | undefined

  before(function () {
    requireRedisServer(this)
  })

  afterEach(async () => {
    closePeers()
    await app?.close()
    app = undefined
    await redis?.destroy()
    redis = undefined
  })

  it('counts what was not delivered while Redis was down, the reconnect, and the state, in app.metrics() and Prometheus', async () => {
    redis = await RedisServer.start()
    app = await bootstrap(RoomModule, { broker: redisBroker({ url: redis.url, logger: false }), logger: false, heartbeatInterval: 0 }).listen(0, '127.0.0.1')
    const address = app.address()
    const url = `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/room`
    const alice = await connectPeer(url)
    const bob = await connectPeer(url)
    alice.send('before the outage')
    expect(await bob.next()).to.equal('before the outage')
    expect(app.metrics().broker).to.deep.include({ state: 'ready', notDelivered: 0, reconnects: 0 })

    await redis.stop()
    await until(() => app!.metrics().broker?.state, (s) => s === 'reconnecting', 'the broker noticed the outage')
    for (let i = 0; i < 5; i++) alice.send(`during ${i}`)
    // Local delivery goes on while Redis is down.
    for (let i = 0; i < 5; i++) expect(await bob.next()).to.equal(`during ${i}`)
    const down = await until(() => app!.metrics().broker!, (b) => b.notDelivered >= 5, 'the publishes counted as not delivered')
    expect(down.notDelivered).to.equal(5)

    await redis.restart()
    await until(() => app!.metrics().broker!, (b) => b.state === 'ready' && b.reconnects >= 1, 'the broker reconnected')

    const registry = new Registry()
    prometheusMetrics(app, { registry })
    const text = await registry.metrics()
    expect(text).to.match(/^gatewire_broker_not_delivered_total 5$/m)
    expect(text).to.match(/^gatewire_broker_reconnects_total [1-9]\d*$/m)
    expect(text).to.match(/^gatewire_broker_state\{state="ready"\} 1$/m)
    expect(text).to.match(/^gatewire_broker_state\{state="reconnecting"\} 0$/m)
  })
})
