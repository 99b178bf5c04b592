import { expect } from 'chai'
import { Redis } from 'ioredis'
import { BrokerPool } from '../helpers/broker-pool'
import { useRedisServer } from '../helpers/redis-hooks'
import type { RedisServer } from '../helpers/redis-server'

describe('RedisBroker', function () {
  const redis = useRedisServer()
  const pool = new BrokerPool()
  /** Plain ioredis clients a test opened (to play a misbehaving publisher). */
  const clients: Redis[] = []
  let server: RedisServer
  beforeEach(() => {
    server = redis()
  })
  afterEach(async () => {
    await pool.closeAll()
    for (const client of clients.splice(0)) client.disconnect()
    await redis().cli('flushall')
  })

  async function pair(): Promise<[Awaited<ReturnType<BrokerPool['start']>>, Awaited<ReturnType<BrokerPool['start']>>]> {
    return [await pool.start({ url: server.url }), await pool.start({ url: server.url })]
  }

  describe('delivery', () => {
    it('delivers another instance\'s messages exactly once and in order, and never back to the publisher', async () => {
      const [a, b] = await pair()
      a.broker.subscribe('room')
      b.broker.subscribe('room')
      await Promise.all([a.broker.synced(), b.broker.synced()])
      const sent = Array.from({ length: 2000 }, (_, i) => `m${i}`)
      for (const text of sent) a.broker.publish('room', Buffer.from(text), false)
      await b.sink.until(() => b.sink.messages.length >= sent.length, `${sent.length} messages at b`)
      // One more round trip: anything duplicated would have arrived by now.
      await a.broker.presence('room')
      expect(b.sink.texts('room')).to.deep.equal(sent)
      expect(b.sink.messages.map((m) => m.sequence)).to.deep.equal(sent.map((_, i) => i + 1))
      expect(b.sink.messages.every((m) => m.origin === a.broker.instanceId && m.binary === false)).to.equal(true)
      expect(a.sink.messages, 'the publisher got its own messages back').to.have.length(0)
      expect(a.broker.stats()).to.include({ published: sent.length, notDelivered: 0 })
      expect(b.broker.stats()).to.include({ received: sent.length, malformed: 0 })
    })

    it('keeps binary payloads byte for byte and tells binary from text', async () => {
      const [a, b] = await pair()
      b.broker.subscribe('bin')
      await b.broker.synced()
      const bytes = Buffer.from([0, 255, 0x80, 0xc3, 0x28, 10, 13, 0])
      a.broker.publish('bin', bytes, true)
      a.broker.publish('bin', Buffer.from('héllo ✓'), false)
      a.broker.publish('bin', new Uint8Array(0), true)
      await b.sink.until(() => b.sink.messages.length === 3, 'three messages')
      expect(b.sink.messages.map((m) => [m.binary, m.payload.toString('hex')])).to.deep.equal([
        [true, bytes.toString('hex')],
        [false, Buffer.from('héllo ✓').toString('hex')],
        [true, ''],
      ])
    })

    it('sends nothing to an instance with no subscriber of the topic (interest-based)', async () => {
      const [a, b] = await pair()
      const c = await pool.start({ url: server.url })
      b.broker.subscribe('wanted')
      c.broker.subscribe('other')
      await Promise.all([b.broker.synced(), c.broker.synced()])
      expect(await server.cli('pubsub', 'numsub', 'gatewire:wanted')).to.equal('gatewire:wanted\n1')
      a.broker.publish('wanted', Buffer.from('x'), false)
      await b.sink.until(() => b.sink.messages.length === 1, 'the message at b')
      b.broker.unsubscribe('wanted')
      await b.broker.synced()
      expect(await server.cli('pubsub', 'numsub', 'gatewire:wanted')).to.equal('gatewire:wanted\n0')
      a.broker.publish('wanted', Buffer.from('y'), false)
      c.broker.subscribe('wanted')
      await c.broker.synced()
      a.broker.publish('wanted', Buffer.from('z'), false)
      await c.sink.until(() => c.sink.messages.length === 1, 'the last message at c')
      expect(c.sink.texts('wanted')).to.deep.equal(['z'])
      expect(b.sink.texts('wanted')).to.deep.equal(['x'])
      expect(b.broker.stats().topics).to.equal(0)
    })

    it('subscribes to many topics in one tick with one SUBSCRIBE command', async () => {
      const { broker } = await pool.start({ url: server.url })
      await server.cli('config', 'resetstat')
      for (let i = 0; i < 500; i++) broker.subscribe(`t${i}`)
      await broker.synced()
      const stats = await server.cli('info', 'commandstats')
      expect(/cmdstat_subscribe:calls=(\d+)/.exec(stats)?.[1], stats).to.equal('1')
      expect(Number(await server.cli('pubsub', 'numpat'))).to.equal(0)
      expect((await server.cli('pubsub', 'channels', 'gatewire:*')).split('\n')).to.have.length(500)
    })

    it('sends only the net effect of a subscribe and unsubscribe in one tick', async () => {
      const { broker } = await pool.start({ url: server.url })
      await server.cli('config', 'resetstat')
      broker.subscribe('flicker')
      broker.unsubscribe('flicker')
      broker.subscribe('stays')
      broker.unsubscribe('stays')
      broker.subscribe('stays')
      await broker.synced()
      const stats = await server.cli('info', 'commandstats')
      expect(stats).to.not.match(/cmdstat_unsubscribe/)
      expect(await server.cli('pubsub', 'channels', 'gatewire:*')).to.equal('gatewire:stays')
    })

    it('leaves no channel of ours at Redis after thousands of subscribes and unsubscribes', async () => {
      const { broker } = await pool.start({ url: server.url })
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 200; i++) broker.subscribe(`churn${(round * 37 + i) % 300}`)
        await new Promise((resolve) => setImmediate(resolve))
        for (let i = 0; i < 200; i++) broker.unsubscribe(`churn${(round * 37 + i) % 300}`)
        if (round % 3 === 0) await broker.synced()
      }
      await broker.synced()
      expect(broker.stats().topics).to.equal(0)
      expect(await server.cli('pubsub', 'channels', 'gatewire:*')).to.equal('')
    })

    it('uses its keyPrefix for channels, so two apps on one Redis do not hear each other', async () => {
      const a = await pool.start({ url: server.url, keyPrefix: 'app-a:' })
      const b = await pool.start({ url: server.url, keyPrefix: 'app-b:' })
      const b2 = await pool.start({ url: server.url, keyPrefix: 'app-b:' })
      b.broker.subscribe('t')
      await b.broker.synced()
      a.broker.publish('t', Buffer.from('from a'), false)
      b2.broker.publish('t', Buffer.from('from b2'), false)
      await b.sink.until(() => b.sink.messages.length === 1, 'the message of b2')
      await a.broker.presence('t')
      expect(b.sink.texts('t')).to.deep.equal(['from b2'])
      expect(await server.cli('pubsub', 'channels', '*')).to.equal('app-b:t')
    })
  })

  describe('life cycle', () => {
    it('goes from ready to closed on close(), without a reconnecting in between or an outage logged', async () => {
      const logged: string[] = []
      const { broker, sink } = await pool.start({ url: server.url, logger: { warn: (message) => logged.push(message) } })
      broker.subscribe('t')
      await broker.synced()
      await broker.close()
      expect(sink.states.map((s) => s.state)).to.deep.equal(['connecting', 'ready', 'closed'])
      expect(logged).to.deep.equal([])
    })
  })

  describe('malformed input', () => {
    it('counts and drops malformed envelopes and invalid UTF-8 text, and goes on delivering', async () => {
      const [a, b] = await pair()
      b.broker.subscribe('t')
      await b.broker.synced()
      await server.cli('publish', 'gatewire:t', 'garbage')
      await server.cli('publish', 'gatewire:t', '')
      // Version 1, text, origin "x", sequence 1, payload 0xc3 0x28 (invalid UTF-8).
      const badText = Buffer.from([1, 0, 1, 0x78, 0, 0, 0, 0, 0, 0, 0, 1, 0xc3, 0x28])
      const client = new Redis(server.url)
      clients.push(client)
      await client.publish('gatewire:t', badText)
      await client.publish('gatewire:t', Buffer.from([9, 0, 1, 0x78]))
      a.broker.publish('t', Buffer.from('fine'), false)
      await b.sink.until(() => b.sink.messages.length === 1, 'the valid message')
      expect(b.sink.texts('t')).to.deep.equal(['fine'])
      expect(b.broker.stats().malformed).to.equal(4)
    })
  })

  describe('presence', () => {
    it('lists the members of every instance with their data, in one round trip', async () => {
      const [a, b] = await pair()
      a.broker.join('room', 'c1', { name: 'ann' })
      a.broker.join('room', 'c2', { name: 'bob' })
      b.broker.join('room', 'c1', { name: 'cy' })
      b.broker.join('elsewhere', 'c9', null)
      await Promise.all([a.broker.synced(), b.broker.synced()])
      await server.cli('config', 'resetstat')
      const presence = await b.broker.presence('room')
      const stats = await server.cli('info', 'commandstats')
      expect(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? /cmdstat_eval:calls=(\d+)/.exec(stats)?.[1], stats).to.equal('1')
      expect(presence.topic).to.equal('room')
      expect(presence.count).to.equal(3)
      const members = presence.members.map((m) => [m.instance === a.broker.instanceId ? 'a' : 'b', m.id, (m.data as { name: string }).name]).sort()
      expect(members).to.deep.equal([
        ['a', 'c1', 'ann'],
        ['a', 'c2', 'bob'],
        ['b', 'c1', 'cy'],
      ])
    })

    it('drops a member that left, and all of an instance\'s members when it closes', async () => {
      const [a, b] = await pair()
      a.broker.join('room', 'c1', 'x')
      a.broker.join('room', 'c2', 'y')
      b.broker.join('room', 'c3', 'z')
      await Promise.all([a.broker.synced(), b.broker.synced()])
      a.broker.leave('room', 'c1')
      await a.broker.synced()
      expect((await b.broker.presence('room')).members.map((m) => m.id).sort()).to.deep.equal(['c2', 'c3'])
      await a.broker.close()
      expect((await b.broker.presence('room')).members.map((m) => m.id)).to.deep.equal(['c3'])
      expect(a.broker.state).to.equal('closed')
    })

    it('keeps only the net effect of a join and leave in one tick, and the latest data', async () => {
      const [a, b] = await pair()
      a.broker.join('room', 'c1', { v: 1 })
      a.broker.leave('room', 'c1')
      a.broker.join('room', 'c2', { v: 1 })
      a.broker.join('room', 'c2', { v: 2 })
      await a.broker.synced()
      const presence = await b.broker.presence('room')
      expect(presence.members.map((m) => [m.id, m.data])).to.deep.equal([['c2', { v: 2 }]])
    })

    it('rejects presence data that is too large or not JSON, with a clear error', async () => {
      const { broker } = await pool.start({ url: server.url, maxPresenceDataBytes: 64 })
      expect(() => broker.join('room', 'c1', 'x'.repeat(100))).to.throw(RangeError, /over 64 bytes/)
      expect(() => broker.join('room', 'c1', () => 1)).to.throw(TypeError, /not JSON-serialisable/)
      expect((await broker.presence('room')).count).to.equal(0)
    })

    it('names a topic\'s presence keys with a {t:topic} hash tag and expires them when abandoned', async () => {
      const { broker } = await pool.start({ url: server.url, presenceExpiryMs: 5000 })
      broker.join('a}b{', 'c1', 1)
      await broker.synced()
      const keys = (await server.cli('keys', 'gatewire:*')).split('\n').sort()
      expect(keys).to.deep.equal(['gatewire:presence-alive:{t:a}b{}', 'gatewire:presence:{t:a}b{}'])
      const ttl = Number(await server.cli('pttl', keys[0]))
      expect(ttl).to.be.within(1, 10_000)
    })
  })
})
