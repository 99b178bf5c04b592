// Mocha hooks around test/helpers/redis-server.ts (kept apart from it: benchmarks and fixtures
// use the servers without mocha).
import { RedisCluster, RedisServer, requireRedisServer } from './redis-server'
import type { RedisServerOptions } from './redis-server'

/** In a mocha `before`: skips the suite, saying why, when redis-server is missing. */
export function skipWithoutRedis(context: Mocha.Context): void {
  requireRedisServer(context)
}

/** Mocha hooks for the enclosing describe: one redis-server for all its tests; the getter returns it. */
export function useRedisServer(options: RedisServerOptions = {}): () => RedisServer {
  let server: RedisServer | undefined
  before(async function () {
    skipWithoutRedis(this)
    server = await RedisServer.start(options)
  })
  after(async () => {
    await server?.destroy()
  })
  return () => {
    if (server === undefined) throw new Error('the redis-server of this suite is not running')
    return server
  }
}

/** Mocha hooks for the enclosing describe: one Redis Cluster of `size` nodes for all its tests. */
export function useRedisCluster(size = 3): () => RedisCluster {
  let cluster: RedisCluster | undefined
  before(async function () {
    this.timeout(60_000)
    skipWithoutRedis(this)
    cluster = await RedisCluster.start(size)
  })
  after(async () => {
    await cluster?.destroy()
  })
  return () => {
    if (cluster === undefined) throw new Error('the Redis Cluster of this suite is not running')
    return cluster
  }
}
