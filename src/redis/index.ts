// gatewire/redis: the Redis broker. The only entry point that loads ioredis (an optional peer
// dependency): `import 'gatewire'` and `import 'gatewire/core'` never do.
export { redisBroker, RedisBroker } from './redis-broker'
export type { RedisBrokerOptions, RedisBrokerLogger, RedisBrokerStats } from './redis-broker'
export type { RedisNode } from './redis-endpoint'
export { ENVELOPE_VERSION, encodeEnvelope, decodeEnvelope } from './envelope'
export type { Envelope } from './envelope'
