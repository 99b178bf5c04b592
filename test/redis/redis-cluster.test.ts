import { expect } from 'chai'
import { BrokerPool } from '../helpers/broker-pool'
import { NO_REDIS_REASON, RedisCluster, hasRedisServer } from '../helpers/redis-server'

describe('RedisBroker on a Redis Cluster', function () {
  this.timeout(60_000)
  const pool = new BrokerPool()
  let cluster: RedisCluster | undefined

  before(async function () {
    if (!hasRedisServer) {
      console.warn(NO_REDIS_REASON)
      this.skip()
    }
    cluster = await RedisCluster.start(3)
  })
  after(async () => {
    await cluster?.destroy()
  })
  afterEach(async () => {
    await pool.closeAll()
  })

  async function shardChannels(): Promise<string[][]> {
    return Promise.all(cluster!.nodes.map(async (node) => (await node.cli('pubsub', 'shardchannels', 'gatewire:*')).split('\n').filter(Boolean)))
  }

  it('spreads topics over the shards with SSUBSCRIBE and delivers each exactly once', async () => {
    const a = await pool.start({ cluster: cluster!.urls })
    const b = await pool.start({ cluster: cluster!.urls })
    const topics = Array.from({ length: 60 }, (_, i) => `room:${i}`)
    for (const topic of topics) b.broker.subscribe(topic)
    await b.broker.synced()
    const perNode = await shardChannels()
    expect(perNode.flat().sort()).to.deep.equal(topics.map((topic) => `gatewire:${topic}`).sort())
    for (const channels of perNode) expect(channels.length, 'every shard holds some topics').to.be.above(0)
    // Classic pub/sub is not used: a cluster would broadcast it to every node.
    for (const node of cluster!.nodes) expect(await node.cli('pubsub', 'channels', '*')).to.equal('')
    for (const topic of topics) for (let i = 0; i < 5; i++) a.broker.publish(topic, Buffer.from(`${topic}#${i}`), false)
    await b.sink.until(() => b.sink.messages.length >= 300, '300 messages across the shards', 10_000)
    for (const topic of topics) expect(b.sink.texts(topic)).to.deep.equal([0, 1, 2, 3, 4].map((i) => `${topic}#${i}`))
    expect(a.sink.messages).to.have.length(0)
  })

  it("keeps a topic's presence keys together on the shard of their slot, topics spread over shards", async () => {
    const a = await pool.start({ cluster: cluster!.urls })
    const b = await pool.start({ cluster: cluster!.urls })
    const topics = ['alpha', 'beta', 'gamma', 'delta', 'epsilon']
    for (const topic of topics) {
      a.broker.join(topic, 'a1', { name: `ann@${topic}` })
      b.broker.join(topic, 'b1', { name: `bob@${topic}` })
    }
    await Promise.all([a.broker.synced(), b.broker.synced()])
    for (const topic of topics) {
      const presence = await a.broker.presence(topic)
      expect(presence.members.map((m) => (m.data as { name: string }).name).sort()).to.deep.equal([`ann@${topic}`, `bob@${topic}`])
    }
    const keysPerNode = await Promise.all(cluster!.nodes.map(async (node) => (await node.cli('keys', 'gatewire:*')).split('\n').filter(Boolean)))
    expect(keysPerNode.filter((keys) => keys.length > 0).length, 'presence spread over more than one shard').to.be.above(1)
    for (const keys of keysPerNode) {
      // Both keys of a topic are on the same node.
      const hashes = keys.filter((key) => key.startsWith('gatewire:presence:')).map((key) => key.slice('gatewire:presence:'.length))
      const alive = keys.filter((key) => key.startsWith('gatewire:presence-alive:')).map((key) => key.slice('gatewire:presence-alive:'.length))
      expect(hashes.sort()).to.deep.equal(alive.sort())
    }
  })

  it('leaves no shard channel of ours after thousands of subscribes and unsubscribes', async () => {
    const { broker } = await pool.start({ cluster: cluster!.urls })
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 200; i++) broker.subscribe(`churn:${(round * 53 + i) % 250}`)
      await new Promise((resolve) => setImmediate(resolve))
      for (let i = 0; i < 200; i++) broker.unsubscribe(`churn:${(round * 53 + i) % 250}`)
      if (round % 3 === 0) await broker.synced()
    }
    await broker.synced()
    expect(broker.stats().topics).to.equal(0)
    expect((await shardChannels()).flat()).to.deep.equal([])
  })
})
