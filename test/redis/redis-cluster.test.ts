import { expect } from 'chai'
import { BrokerPool } from '../helpers/broker-pool'
import { useRedisCluster } from '../helpers/redis-hooks'

describe('RedisBroker on a Redis Cluster', function () {
  this.timeout(60_000)
  const pool = new BrokerPool()
  const cluster = useRedisCluster(3)
  afterEach(async () => {
    await pool.closeAll()
  })

  async function shardChannels(): Promise<string[][]> {
    return Promise.all(cluster().nodes.map(async (node) => (await node.cli('pubsub', 'shardchannels', 'gatewire:*')).split('\n').filter(Boolean)))
  }

  it('spreads topics over the shards with SSUBSCRIBE and delivers each exactly once', async () => {
    const a = await pool.start({ cluster: cluster().urls })
    const b = await pool.start({ cluster: cluster().urls })
    const topics = Array.from({ length: 60 }, (_, i) => `room:${i}`)
    for (const topic of topics) b.broker.subscribe(topic)
    await b.broker.synced()
    const perNode = await shardChannels()
    expect(perNode.flat().sort()).to.deep.equal(topics.map((topic) => `gatewire:${topic}`).sort())
    for (const channels of perNode) expect(channels.length, 'every shard holds some topics').to.be.above(0)
    // Classic pub/sub is not used: a cluster would broadcast it to every node.
    for (const node of cluster().nodes) expect(await node.cli('pubsub', 'channels', '*')).to.equal('')
    for (const topic of topics) for (let i = 0; i < 5; i++) a.broker.publish(topic, Buffer.from(`${topic}#${i}`), false)
    await b.sink.until(() => b.sink.messages.length >= 300, '300 messages across the shards', 10_000)
    for (const topic of topics) expect(b.sink.texts(topic)).to.deep.equal([0, 1, 2, 3, 4].map((i) => `${topic}#${i}`))
    expect(a.sink.messages).to.have.length(0)
  })

  it("keeps a topic's presence keys together on the shard of their slot, topics spread over shards", async () => {
    const a = await pool.start({ cluster: cluster().urls })
    const b = await pool.start({ cluster: cluster().urls })
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
    const keysPerNode = await Promise.all(cluster().nodes.map(async (node) => (await node.cli('keys', 'gatewire:*')).split('\n').filter(Boolean)))
    expect(keysPerNode.filter((keys) => keys.length > 0).length, 'presence spread over more than one shard').to.be.above(1)
    for (const keys of keysPerNode) {
      // Both keys of a topic are on the same node.
      const hashes = keys.filter((key) => key.startsWith('gatewire:presence:')).map((key) => key.slice('gatewire:presence:'.length))
      const alive = keys.filter((key) => key.startsWith('gatewire:presence-alive:')).map((key) => key.slice('gatewire:presence-alive:'.length))
      expect(hashes.sort()).to.deep.equal(alive.sort())
    }
  })

  it('keeps both presence keys of any topic name in one slot, braces and empty names included', async () => {
    const a = await pool.start({ cluster: cluster().urls })
    const b = await pool.start({ cluster: cluster().urls })
    const topics = ['a}b{', '{x}', '}', '{', '', 'plain', 'ünï ✓']
    for (const topic of topics) a.broker.join(topic, 'm', { topic })
    await a.broker.synced()
    const node = cluster().nodes[0]
    for (const topic of topics) {
      const slots = await Promise.all(
        [`gatewire:presence:{t:${topic}}`, `gatewire:presence-alive:{t:${topic}}`].map((key) => node.cli('cluster', 'keyslot', key)),
      )
      expect(slots[0], `slots of ${JSON.stringify(topic)}`).to.match(/^\d+$/)
      expect(slots[0], `slots of ${JSON.stringify(topic)}`).to.equal(slots[1])
      // The Lua script touches both keys: it would fail with CROSSSLOT otherwise.
      expect((await b.broker.presence(topic)).members.map((m) => m.data)).to.deep.equal([{ topic }])
    }
  })

  it('leaves no shard channel of ours after thousands of subscribes and unsubscribes', async () => {
    const { broker } = await pool.start({ cluster: cluster().urls })
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

  // Last: it restarts a node of the suite's cluster.
  it('resumes delivery on the slots of a node that restarted, re-subscribed there', async () => {
    const a = await pool.start({ cluster: cluster().urls })
    const b = await pool.start({ cluster: cluster().urls })
    const topics = Array.from({ length: 30 }, (_, i) => `restart:${i}`)
    for (const topic of topics) b.broker.subscribe(topic)
    await b.broker.synced()
    const victim = cluster().nodes[1]
    const onVictim = (await victim.cli('pubsub', 'shardchannels', 'gatewire:*')).split('\n').filter(Boolean)
    expect(onVictim.length, 'some topics live on the node that restarts').to.be.above(0)
    await victim.restart() // same port and directory: it rejoins with its slots
    await cluster().waitUntilOk()
    const back = Date.now()
    // Publish rounds until every topic is delivered again (bounded): the re-subscribe on the
    // restarted node happens in the background, as ioredis notices the node is back.
    let missing: string[] = topics
    for (let round = 0; round < 50 && missing.length > 0; round++) {
      const before = b.sink.messages.length
      for (const topic of missing) a.broker.publish(topic, Buffer.from(`round${round}`), false)
      await b.sink.until(() => b.sink.messages.length > before, 'a delivery after the restart', 10_000).catch(() => undefined)
      await a.broker.synced()
      const seen = new Set(b.sink.messages.filter((m) => m.payload.toString().startsWith('round')).map((m) => m.topic))
      missing = topics.filter((topic) => !seen.has(topic))
      if (missing.length > 0) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(missing, 'topics not delivered after the restart').to.deep.equal([])
    expect(Date.now() - back).to.be.below(10_000)
    expect((await victim.cli('pubsub', 'shardchannels', 'gatewire:*')).split('\n').filter(Boolean).sort()).to.deep.equal(onVictim.sort())
  })
})
