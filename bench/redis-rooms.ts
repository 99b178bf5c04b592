import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { RedisServer, hasRedisServer, NO_REDIS_REASON } from '../test/helpers/redis-server'
import { ownCpuSeconds, processCpuSeconds } from './lib/proc'
import { stringArg } from './lib/args'

// Rooms across two processes with Redis (`npm run bench:redis`): a redis-server, two instances
// of bench/servers/redis-room-server.ts sharing it through the Redis broker, `--members`
// WebSocket clients in 'room' on each, and one more client on instance A that publishes at a
// fixed `--rate` (every message reaches the members of A locally and those of B through Redis).
// Reports deliveries per second, publish→delivery latency (p50/p99/max) for local and remote
// members, messages lost, duplicated or out of order, and the CPU of Redis, both instances and
// this load generator. Targets (issue 17): nothing lost, remote p99 ≤ 5 ms on loopback.

const USAGE = `usage: node dist/bench/redis-rooms.js [--rate 5000] [--members 5] [--duration 10] [--warmup 2] [--size 64] [--out FILE]`

const rate = numberArg('rate', 5000)
const members = numberArg('members', 5)
const duration = numberArg('duration', 10)
const warmup = numberArg('warmup', 2)
const size = Math.max(16, numberArg('size', 64))
const out = stringArg('out')

function numberArg(name: string, fallback: number): number {
  const value = stringArg(name)
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed <= 0) {
    console.error(`--${name} must be a positive number\n${USAGE}`)
    process.exit(2)
  }
  return parsed
}

/** Sequence number of the set-up probes (never a measured message). */
const PROBE = 0xffffffff

interface Member {
  readonly socket: WebSocket
  readonly local: boolean
  probed: boolean
  received: number
  lastSeq: number
  duplicates: number
  outOfOrder: number
}

const children: ChildProcess[] = []
let redis: RedisServer | undefined

async function startInstance(url: string): Promise<{ port: number; child: ChildProcess }> {
  // Run from dist/ (npm run bench:redis) or straight from the sources under ts-node.
  const fromSource = __filename.endsWith('.ts')
  const script = join(__dirname, 'servers', `redis-room-server.${fromSource ? 'ts' : 'js'}`)
  const child = spawn(process.execPath, [...(fromSource ? ['-r', 'ts-node/register/transpile-only'] : []), script, '--port', '0', '--redis', url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  const port = await new Promise<number>((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => reject(new Error(`instance did not start within 30 s: ${output}`)), 30_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening (\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    child.once('exit', (code) => reject(new Error(`instance exited with code ${code}: ${output}`)))
  })
  return { port, child }
}

function open(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false })
    socket.once('open', () => resolve(socket))
    socket.once('error', reject)
  })
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function main(): Promise<void> {
  if (!hasRedisServer) throw new Error(NO_REDIS_REASON)
  redis = await RedisServer.start()
  const a = await startInstance(redis.url)
  const b = await startInstance(redis.url)

  const latencies = { local: [] as number[], remote: [] as number[] }
  let measuring = false
  let firstMeasuredSeq = Number.POSITIVE_INFINITY
  const sentAt: number[] = []
  const all: Member[] = []
  for (const [port, local] of [
    [a.port, true],
    [b.port, false],
  ] as const) {
    for (let i = 0; i < members; i++) {
      const member: Member = { socket: await open(port), local, probed: false, received: 0, lastSeq: -1, duplicates: 0, outOfOrder: 0 }
      member.socket.on('message', (data: Buffer) => {
        const seq = data.readUInt32BE(0)
        if (seq === PROBE) {
          member.probed = true
          return
        }
        const now = performance.now()
        if (seq === member.lastSeq) member.duplicates++
        else if (seq < member.lastSeq) member.outOfOrder++
        member.lastSeq = Math.max(member.lastSeq, seq)
        member.received++
        if (seq >= firstMeasuredSeq) (local ? latencies.local : latencies.remote).push(now - sentAt[seq])
      })
      all.push(member)
    }
  }
  const publisher = await open(a.port)
  // The broker subscribes to the room's channel a tick after the first member: wait until a
  // probe from A reaches every member of B (bounded), so that no message is lost to setup.
  for (let probe = 0; ; probe++) {
    if (probe > 200) throw new Error('the members of instance B never received a probe through Redis')
    const payload = Buffer.alloc(size)
    payload.writeUInt32BE(PROBE, 0)
    publisher.send(payload)
    await new Promise((resolve) => setTimeout(resolve, 25))
    if (all.every((member) => member.probed)) break
  }

  const pids = { redis: redis.pid, a: a.child.pid as number, b: b.child.pid as number }
  const cpu = (): Record<'redis' | 'a' | 'b' | 'generator', number> => ({
    redis: processCpuSeconds(pids.redis),
    a: processCpuSeconds(pids.a),
    b: processCpuSeconds(pids.b),
    generator: ownCpuSeconds(),
  })

  // A fixed rate: every millisecond, send what is due since the start (no burst catch-up beyond that).
  let sent = 0
  const started = performance.now()
  let cpuStart = cpu()
  let windowStart = started
  let windowDeliveries = 0
  const delivered = (): number => all.reduce((sum, member) => sum + member.received, 0)
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now()
      const elapsed = (now - started) / 1000
      if (!measuring && elapsed >= warmup) {
        measuring = true
        firstMeasuredSeq = sent
        cpuStart = cpu()
        windowStart = now
        windowDeliveries = delivered()
      }
      if (elapsed >= warmup + duration) {
        clearInterval(timer)
        resolve()
        return
      }
      const due = Math.floor(elapsed * rate) - sent
      for (let i = 0; i < due; i++) {
        const payload = Buffer.alloc(size)
        payload.writeUInt32BE(sent, 0)
        sentAt[sent] = performance.now()
        publisher.send(payload)
        sent++
      }
    }, 1)
  })
  const windowEnd = performance.now()
  const cpuEnd = cpu()
  const inWindow = delivered() - windowDeliveries
  // Let the last messages arrive (bounded).
  const expected = sent * all.length
  const drainDeadline = Date.now() + 5000
  while (delivered() < expected && Date.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 20))

  const seconds = (windowEnd - windowStart) / 1000
  const sorted = (list: number[]): Float64Array => Float64Array.from(list).sort()
  const local = sorted(latencies.local)
  const remote = sorted(latencies.remote)
  const lost = expected - delivered()
  const duplicates = all.reduce((sum, m) => sum + m.duplicates, 0)
  const outOfOrder = all.reduce((sum, m) => sum + m.outOfOrder, 0)
  const pct = (key: keyof typeof cpuEnd): string => `${(((cpuEnd[key] - cpuStart[key]) / seconds) * 100).toFixed(0)}%`
  const ms = (value: number): string => value.toFixed(2)
  const lines = [
    `## Rooms across two processes with Redis (${new Date().toISOString()})`,
    '',
    `rate ${rate} publishes/s for ${duration} s (after ${warmup} s warm-up), ${size}-byte binary messages, ` +
      `${members} members on instance A (with the publisher) and ${members} on instance B; ` +
      `load average ${loadavg()[0].toFixed(1)} (a busy machine inflates latency: quote quiet runs)`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| publishes sent (warm-up + window) | ${sent} |`,
    `| deliveries/s (measured window) | ${Math.round(inWindow / seconds)} |`,
    `| lost / duplicated / out of order | ${lost} / ${duplicates} / ${outOfOrder} |`,
    `| latency local (A) p50 / p99 / max ms | ${ms(percentile(local, 50))} / ${ms(percentile(local, 99))} / ${ms(local[local.length - 1] ?? NaN)} |`,
    `| latency remote (B, via Redis) p50 / p99 / max ms | ${ms(percentile(remote, 50))} / ${ms(percentile(remote, 99))} / ${ms(remote[remote.length - 1] ?? NaN)} |`,
    `| CPU (of one core): redis-server / instance A / instance B / load generator | ${pct('redis')} / ${pct('a')} / ${pct('b')} / ${pct('generator')} |`,
    '',
    `target: nothing lost, remote p99 ≤ 5 ms: ${lost === 0 && duplicates === 0 && outOfOrder === 0 && percentile(remote, 99) <= 5 ? 'met' : 'NOT met'}`,
  ]
  console.log(lines.join('\n'))
  if (out !== undefined) writeFileSync(out, lines.join('\n') + '\n')
  for (const member of [...all.map((m) => m.socket), publisher]) member.terminate()
}

async function shutdown(): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
  await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined)))
  await redis?.destroy()
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void shutdown().then(() => process.exit(1)))
main().then(
  () => shutdown().then(() => process.exit(0)),
  (error: Error) => {
    console.error(error.stack ?? error.message)
    void shutdown().then(() => process.exit(1))
  },
)
