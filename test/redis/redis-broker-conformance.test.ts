import { redisBroker } from '../../src/redis'
import { describeBrokerConformance } from '../broker/broker-conformance'
import { useRedisCluster, useRedisServer } from '../helpers/redis-hooks'

describe('RedisBroker on one redis-server', function () {
  const server = useRedisServer()

  describeBrokerConformance('RedisBroker (redis://)', {
    async create(count) {
      return Array.from({ length: count }, () => redisBroker({ url: server().url, logger: false }))
    },
    async cleanup() {
      await server().cli('flushall')
    },
  })
})

describe('RedisBroker on a Redis Cluster of three nodes (sharded pub/sub)', function () {
  this.timeout(60_000)
  const cluster = useRedisCluster(3)

  describeBrokerConformance(
    'RedisBroker (cluster)',
    {
      async create(count) {
        return Array.from({ length: count }, () => redisBroker({ cluster: cluster().urls, logger: false }))
      },
      async cleanup() {
        await Promise.all(cluster().nodes.map((node) => node.cli('flushall')))
      },
    },
    { deadlineMs: 10_000 },
  )
})
