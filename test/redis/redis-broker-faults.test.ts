import { expect } from 'chai'
import { BrokerPeer } from '../helpers/broker-peer'
import { skipWithoutRedis } from '../helpers/redis-hooks'
import { RedisServer, freePort } from '../helpers/redis-server'
import { BrokerPool } from '../helpers/broker-pool'
import { RecordingSink } from '../helpers/recording-sink'

describe('RedisBroker faults', function () {
  const pool = new BrokerPool()
  const servers: RedisServer[] = []
  const peers: BrokerPeer[] = []

  before(function () {
    skipWithoutRedis(this)
  })
  afterEach(async () => {
    await pool.closeAll()
    await Promise.all(peers.splice(0).map((peer) => peer.stop()))
    await Promise.all(servers.splice(0).map((server) => server.destroy()))
  })

  async function server(options: Parameters<typeof RedisServer.start>[0] = {}): Promise<RedisServer> {
    const started = await RedisServer.start(options)
    servers.push(started)
    return started
  }

  describe('Redis unreachable at start', () => {
    it('rejects start() after a bounded attempt, naming the URL without its password', async () => {
      const port = await freePort()
      const broker = pool.add({ url: `redis://gw:s3cret@127.0.0.1:${port}/1`, startTimeoutMs: 500 })
      const began = Date.now()
      let failure: Error | undefined
      await broker.start({ message() {} }).catch((error: Error) => (failure = error))
      expect(failure, 'start() resolved without Redis').to.be.instanceOf(Error)
      expect(failure?.message).to.contain(`redis://gw@127.0.0.1:${port}/1`)
      expect(failure?.message).to.contain('ECONNREFUSED')
      expect(failure?.message).to.not.contain('s3cret')
      expect(Date.now() - began).to.be.within(400, 3000)
      expect(broker.state).to.equal('closed')
    })

    it('rejects a start() still trying when the broker is closed, without waiting for its timeout', async () => {
      const port = await freePort()
      const broker = pool.add({ url: `redis://127.0.0.1:${port}`, startTimeoutMs: 10_000 })
      const began = Date.now()
      const starting = broker.start({ message() {} }).then(
        () => undefined,
        (error: Error) => error,
      )
      await broker.close()
      const failure = await starting
      expect(failure?.message).to.match(/closed while connecting to redis:\/\/127\.0\.0\.1/)
      expect(Date.now() - began).to.be.below(3000)
      expect(broker.state).to.equal('closed')
    })

    it('with startAnyway resolves in reconnecting, counts publishes as not delivered, and connects when Redis appears', async () => {
      const port = await freePort()
      const a = pool.add({ url: `redis://127.0.0.1:${port}`, startAnyway: true })
      const sink = new RecordingSink()
      await a.start(sink)
      expect(a.state).to.equal('reconnecting')
      a.subscribe('room')
      a.publish('room', Buffer.from('lost'), false)
      expect(a.stats().notDelivered).to.equal(1)
      expect(sink.notDeliveredCount).to.equal(1)
      await server({ port })
      await sink.until(() => a.state === 'ready', 'the broker ready once Redis is up', 8000)
      const b = await pool.start({ url: `redis://127.0.0.1:${port}` })
      await a.synced()
      b.broker.publish('room', Buffer.from('hello'), false)
      await sink.until(() => sink.messages.length === 1, 'the message of b')
      expect(sink.texts('room')).to.deep.equal(['hello'])
    })
  })

  describe('Redis restarting while running', () => {
    it('counts what is published during the outage, re-subscribes in one batch and resumes delivery within seconds', async () => {
      const redis = await server()
      const logged: string[] = []
      const a = await pool.start({ url: redis.url, logger: { warn: (message) => logged.push(message) } })
      const b = await pool.start({ url: redis.url })
      const topics = Array.from({ length: 50 }, (_, i) => `room${i}`)
      for (const topic of topics) b.broker.subscribe(topic)
      await b.broker.synced()
      a.broker.publish('room0', Buffer.from('before'), false)
      await b.sink.until(() => b.sink.messages.length === 1, 'the message before the outage')

      await redis.stop()
      await a.sink.until(() => a.broker.state === 'reconnecting', 'a reconnecting')
      await b.sink.until(() => b.broker.state === 'reconnecting', 'b reconnecting')
      for (let i = 0; i < 10; i++) a.broker.publish('room0', Buffer.from(`during${i}`), false)
      expect(a.broker.stats().notDelivered).to.equal(10)
      expect(a.sink.notDeliveredCount).to.equal(10)
      // Interest that changes during the outage is re-established too.
      b.broker.subscribe('late')

      await redis.restart()
      const back = Date.now()
      await a.sink.until(() => a.broker.state === 'ready', 'a ready again', 5000)
      await b.sink.until(() => b.broker.state === 'ready', 'b ready again', 5000)
      await b.broker.synced()
      const stats = await redis.cli('info', 'commandstats')
      expect(/cmdstat_subscribe:calls=(\d+)/.exec(stats)?.[1], stats).to.equal('1')
      expect((await redis.cli('pubsub', 'channels', 'gatewire:*')).split('\n')).to.have.length(51)

      a.broker.publish('room0', Buffer.from('after'), false)
      a.broker.publish('late', Buffer.from('late one'), false)
      await b.sink.until(() => b.sink.messages.length === 3, 'delivery after the restart')
      expect(Date.now() - back).to.be.below(5000)
      expect(b.sink.texts('room0')).to.deep.equal(['before', 'after'])
      expect(b.sink.texts('late')).to.deep.equal(['late one'])
      expect(a.broker.stats().reconnects).to.equal(1)
      expect(b.broker.stats().reconnects).to.equal(1)
      expect(a.sink.states.map((s) => s.state)).to.deep.equal(['connecting', 'ready', 'reconnecting', 'ready'])
      expect(logged.join('\n')).to.match(/lost redis:\/\/127\.0\.0\.1:\d+.*; reconnecting/)
      expect(logged.join('\n')).to.match(/reconnected to redis:\/\/127\.0\.0\.1:\d+\/? after \d+ ms; 10 messages published meanwhile were not delivered/)
    })

    it('restores its presence after Redis lost it', async () => {
      const redis = await server()
      const a = await pool.start({ url: redis.url })
      const b = await pool.start({ url: redis.url })
      a.broker.join('room', 'c1', { name: 'ann' })
      await a.broker.synced()
      await redis.restart()
      await a.sink.until(() => a.broker.state === 'ready', 'a ready again', 5000)
      await b.sink.until(() => b.broker.state === 'ready', 'b ready again', 5000)
      await a.broker.synced()
      const presence = await b.broker.presence('room')
      expect(presence.members.map((m) => [m.id, m.data])).to.deep.equal([['c1', { name: 'ann' }]])
    })
  })

  describe('a stuck Redis', () => {
    it('bounds the publishes in flight and counts the rest as not delivered; delivers the ones in flight after it resumes', async () => {
      const redis = await server()
      const a = await pool.start({ url: redis.url, maxQueued: 500 })
      const b = await pool.start({ url: redis.url })
      b.broker.subscribe('room')
      await b.broker.synced()
      redis.pause()
      const before = process.memoryUsage()
      const payload = Buffer.alloc(1024, 0x61)
      const total = 50_000
      for (let i = 0; i < total; i++) a.broker.publish('room', payload, false)
      const after = process.memoryUsage()
      const stats = a.broker.stats()
      expect(stats.inFlight).to.equal(500)
      expect(stats.notDelivered).to.equal(total - 500)
      // 50,000 × 1 KiB would be ~50 MB queued; the bound keeps it to ~0.5 MB (plus garbage not yet collected).
      const grown = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers
      expect(grown, `memory grew by ${grown} bytes`).to.be.below(30 * 1024 * 1024)
      redis.resume()
      await b.sink.until(() => b.sink.messages.length === 500, 'the 500 publishes in flight delivered after SIGCONT', 10_000)
      // Acknowledgements raise no sink event: a bounded poll of the counter.
      for (let i = 0; i < 100 && a.broker.stats().inFlight > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(a.broker.stats().inFlight, 'publishes still in flight 5 s after Redis resumed').to.equal(0)
      a.broker.publish('room', Buffer.from('next'), false)
      await b.sink.until(() => b.sink.messages.length === 501, 'a new publish delivered')
      expect(a.broker.stats().notDelivered).to.equal(total - 500)
    })

    it('rejects presence() and synced() with a clear error when Redis does not answer', async () => {
      const redis = await server()
      const { broker } = await pool.start({ url: redis.url, replyTimeoutMs: 300 })
      redis.pause()
      broker.join('room', 'c1', null)
      const failures = await Promise.all([broker.presence('room'), broker.synced()].map((p) => p.then(() => undefined, (error: Error) => error.message)))
      expect(failures[0]).to.match(/presence of 'room': no answer from redis:\/\/127\.0\.0\.1:\d+\/? within 300 ms/)
      expect(failures[1]).to.match(/acknowledging subscriptions and presence: no answer .* within 300 ms/)
      redis.resume()
      await broker.synced()
      expect((await broker.presence('room')).count).to.equal(1)
    })
  })

  describe('instances in separate processes', () => {
    it('exchange messages exactly once and in order', async () => {
      const redis = await server()
      const one = await BrokerPeer.start({ url: redis.url })
      peers.push(one)
      const two = await BrokerPeer.start({ url: redis.url })
      peers.push(two)
      await Promise.all([one.call('subscribe', { topic: 'room' }), two.call('subscribe', { topic: 'room' })])
      await Promise.all([one.call('synced'), two.call('synced')])
      await Promise.all([one.call('publish', { topic: 'room', count: 3000, prefix: 'one-' }), two.call('publish', { topic: 'room', count: 3000, prefix: 'two-' })])
      type Received = Array<{ text: string; origin: string; sequence: number }>
      // Bounded polling of another process (it has no event to await from here).
      const deadline = Date.now() + 10_000
      let atOne: Received = []
      let atTwo: Received = []
      while (Date.now() < deadline && (atOne.length < 3000 || atTwo.length < 3000)) {
        ;[atOne, atTwo] = await Promise.all([one.call<Received>('received', { topic: 'room' }), two.call<Received>('received', { topic: 'room' })])
        if (atOne.length < 3000 || atTwo.length < 3000) await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const expected = (prefix: string): string[] => Array.from({ length: 3000 }, (_, i) => `${prefix}${i}`)
      expect(atOne.map((m) => m.text), 'at one: the messages of two, once each, in order').to.deep.equal(expected('two-'))
      expect(atTwo.map((m) => m.text), 'at two: the messages of one, once each, in order').to.deep.equal(expected('one-'))
      expect(atTwo.map((m) => m.sequence)).to.deep.equal(expected('').map(Number).map((i) => i + 1))
    })

    it('drops the members of a killed instance from presence within the expiry', async () => {
      const redis = await server()
      const expiry = 2000
      const survivor = await pool.start({ url: redis.url, presenceExpiryMs: expiry })
      const doomed = await BrokerPeer.start({ url: redis.url, presenceExpiryMs: expiry })
      peers.push(doomed)
      survivor.broker.join('room', 'alive', { name: 'stays' })
      await doomed.call('join', { topic: 'room', member: 'ghost', data: { name: 'goes' } })
      await Promise.all([survivor.broker.synced(), doomed.call('synced')])
      // Time passing is what is tested here (expiry), not a wait for an event: past one heartbeat
      // the doomed instance is kept alive by its heartbeat, not by its join.
      await new Promise((resolve) => setTimeout(resolve, expiry))
      expect((await survivor.broker.presence('room')).members.map((m) => m.id).sort()).to.deep.equal(['alive', 'ghost'])
      await doomed.kill()
      const killed = Date.now()
      let ids: string[] = []
      while (Date.now() - killed < expiry + 2000) {
        ids = (await survivor.broker.presence('room')).members.map((m) => m.id)
        if (!ids.includes('ghost')) break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(ids, `presence ${Date.now() - killed} ms after the SIGKILL`).to.deep.equal(['alive'])
      // The bound is the expiry itself; the slack covers one poll round trip on a busy machine.
      expect(Date.now() - killed).to.be.at.most(expiry + 1000)
      // The survivor's own heartbeat keeps it in long past the expiry.
      await new Promise((resolve) => setTimeout(resolve, expiry))
      expect((await survivor.broker.presence('room')).members.map((m) => m.id)).to.deep.equal(['alive'])
    })
  })
})
