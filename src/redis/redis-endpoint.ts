import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls'

/** A cluster node given as host and port (credentials and TLS then come from the options). */
export interface RedisNode {
  readonly host: string
  readonly port: number
}

/** Where the broker connects, as RedisBrokerOptions state it. */
export interface RedisEndpointOptions {
  url?: string
  cluster?: readonly (string | RedisNode)[]
  username?: string
  password?: string
  tls?: TlsConnectionOptions
}

/** Connection settings for ioredis, and a description of them safe to log (no password). */
export type RedisEndpoint =
  | {
      readonly kind: 'standalone'
      readonly description: string
      readonly host: string
      readonly port: number
      readonly db: number
      readonly username: string | undefined
      readonly password: string | undefined
      readonly tls: TlsConnectionOptions | undefined
    }
  | {
      readonly kind: 'cluster'
      readonly description: string
      readonly nodes: readonly RedisNode[]
      readonly username: string | undefined
      readonly password: string | undefined
      readonly tls: TlsConnectionOptions | undefined
    }

interface ParsedUrl {
  host: string
  port: number
  db: number
  username: string | undefined
  password: string | undefined
  secure: boolean
  /** The URL without its password. */
  redacted: string
}

/**
 * Parses `redis://[user[:password]@]host[:port][/db]` and `rediss://…` (TLS). Throws a TypeError
 * naming the (redacted) URL for anything else, so that a typo fails at configuration time.
 */
export function parseRedisUrl(url: string): ParsedUrl {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new TypeError(`gatewire/redis: not a URL: '${redactLoose(url)}' (expected redis://host:port or rediss://host:port)`)
  }
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password)
  parsed.password = ''
  const redacted = parsed.toString()
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`gatewire/redis: unsupported URL scheme '${parsed.protocol}' in ${redacted} (expected redis:// or rediss://)`)
  }
  if (parsed.hostname === '') throw new TypeError(`gatewire/redis: no host in ${redacted}`)
  const path = parsed.pathname.replace(/^\//, '')
  if (path !== '' && !/^\d{1,5}$/.test(path)) throw new TypeError(`gatewire/redis: the path of ${redacted} must be a database index (e.g. /0)`)
  return {
    // WHATWG URL keeps IPv6 literals in brackets; the socket wants them bare.
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    db: path === '' ? 0 : Number(path),
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password,
    secure: parsed.protocol === 'rediss:',
    redacted,
  }
}

/** Reads `url` or `cluster` (exactly one) into ioredis settings. */
export function redisEndpoint(options: RedisEndpointOptions): RedisEndpoint {
  if ((options.url === undefined) === (options.cluster === undefined)) {
    throw new TypeError('gatewire/redis: give exactly one of `url` (one Redis) or `cluster` (the nodes of a Redis Cluster)')
  }
  if (options.url !== undefined) {
    const url = parseRedisUrl(options.url)
    return {
      kind: 'standalone',
      description: url.redacted,
      host: url.host,
      port: url.port,
      db: url.db,
      username: options.username ?? url.username,
      password: options.password ?? url.password,
      tls: url.secure ? { ...options.tls } : options.tls,
    }
  }
  const entries = options.cluster ?? []
  if (entries.length === 0) throw new TypeError('gatewire/redis: `cluster` needs at least one node')
  const nodes: RedisNode[] = []
  let username = options.username
  let password = options.password
  let secure = false
  const shown: string[] = []
  for (const entry of entries) {
    if (typeof entry === 'string') {
      const url = parseRedisUrl(entry)
      if (url.db !== 0) throw new TypeError(`gatewire/redis: a Redis Cluster has database 0 only (${url.redacted})`)
      nodes.push({ host: url.host, port: url.port })
      username ??= url.username
      password ??= url.password
      secure ||= url.secure
      shown.push(url.redacted)
    } else {
      if (typeof entry.host !== 'string' || !Number.isInteger(entry.port)) throw new TypeError('gatewire/redis: a cluster node is a URL or { host, port }')
      nodes.push({ host: entry.host, port: entry.port })
      shown.push(`${entry.host}:${entry.port}`)
    }
  }
  return {
    kind: 'cluster',
    description: `Redis Cluster [${shown.join(', ')}]`,
    nodes,
    username,
    password,
    tls: secure ? { ...options.tls } : options.tls,
  }
}

/** For a string that is not even a URL: hide what looks like `:password@`. */
function redactLoose(text: string): string {
  return text.replace(/:[^:@/]*@/, ':***@')
}
