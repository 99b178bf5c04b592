import { redisBroker } from '../../src/redis'
import { describeBrokerConformance } from '../broker/broker-conformance'
import { NO_REDIS_REASON, RedisCluster, RedisServer, hasRedisServer } from '../helpers/redis-server'

describe('RedisBroker on one redis-server', function () {
  let server: RedisServer | undefined
  before(async function () {
    if (!hasRedisServer) {
      console.warn(NO_REDIS_REASON)
      this.skip()
    }
    server = await RedisServer.start()
  })
  after(async () => {
    await server?.destroy()
  })

  describeBrokerConformance('RedisBroker (redis://)', {
    async create(count) {
      return Array.from({ length: count }, () => redisBroker({ url: server!.url, logger: false }))
    },
    async cleanup() {
      await server!.cli('flushall')
    },
  })
})

describe('RedisBroker on a Redis Cluster of three nodes (sharded pub/sub)', function () {
  this.timeout(60_000)
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

  describeBrokerConformance(
    'RedisBroker (cluster)',
    {
      async create(count) {
        return Array.from({ length: count }, () => redisBroker({ cluster: cluster!.urls, logger: false }))
      },
      async cleanup() {
        await Promise.all(cluster!.nodes.map((node) => node.cli('flushall')))
      },
    },
    { deadlineMs: 10_000 },
  )
})
