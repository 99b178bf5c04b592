import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { summariseProfile } from './profile-summary'
import { useBenchDeps } from './lib/bench-deps'
import { connectSharedRead } from './lib/shared-read'
import { cpuBusyTicks, MALLOC_ENV, openFileLimit, ownCpuSeconds, processCpuSeconds, processIo } from './lib/proc'
import { maskedFrame, OP_BINARY, OP_TEXT, wsHandshake, WsMessageCounter } from './lib/wire'

// The fan-out benchmark (`npm run bench:fanout`, or `npm run bench -- --fanout`): one room of
// N subscribers in one server process, messages published into it as fast as they can be
// delivered, deliveries per server CPU-second, for gatewire `server.publish`, uWebSockets.js
// `app.publish` and `ws` looping over its clients. Then the idle cost of a subscription.
//
// This process is the load generator (pinned to core 1; each server is pinned to core 0). Its
// subscribers are raw sockets that only parse frame headers (lib/wire.ts), read into one shared
// buffer. Publishing is flow-controlled by deliveries, the same way for every server: the
// generator's control connection asks the server for `publish COUNT SIZE` whenever the room's
// subscribers have, on average, fewer than --window messages in flight, so queues stay bounded
// and the server is never idle waiting for the generator.

const ROOT = resolve(__dirname, '..', '..')
const DIST = join(ROOT, 'dist')
const HOST = '127.0.0.1'

const USAGE = `usage: npm run bench:fanout [-- options]   (or: node dist/bench/fanout.js [options])

  --quick              smoke run: 1 repetition, 100 subscribers, short windows, idle 200
  --reps N             repetitions per server and size (default 3, 1 with --quick)
  --subscribers N      subscribers in the room (default 1000, 100 with --quick)
  --sizes LIST         message sizes in bytes (default 16,1024)
  --windows LIST       messages in flight per subscriber, each a number or 'budget' (64 KiB worth, at most
                       1000, as in npm run bench); default 32,budget
  --publishers LIST    control connections the publishes are spread over (default 1,8: one publisher, and
                       eight whose requests reach the server as separate reads, like a chat room's members)
  --warmup S           seconds of load before each measured window (default 1, 0.25 with --quick)
  --duration S         seconds measured per run (default 3, 0.5 with --quick)
  --servers LIST       gatewire,uws,ws (default all; GATEWIRE_BASELINE_DIST=<dist> adds gatewire-baseline)
  --idle N             connections per kind in the idle-memory measurement (default 5000, 200 with --quick; 0: skip)
  --profile            run the servers under --cpu-prof (bench/profiles/, summarised at the end; nothing saved)
  --no-pin             do not pin server and generator to cores with taskset
  --no-save            print the report without writing bench/results/
  -h, --help           this text
`

function parseCli() {
  try {
    return parseArgs({
      options: {
        help: { type: 'boolean', short: 'h', default: false },
        quick: { type: 'boolean', default: false },
        fanout: { type: 'boolean', default: false }, // passed through by `npm run bench -- --fanout`
        reps: { type: 'string' },
        subscribers: { type: 'string' },
        sizes: { type: 'string' },
        windows: { type: 'string' },
        publishers: { type: 'string' },
        warmup: { type: 'string' },
        duration: { type: 'string' },
        servers: { type: 'string' },
        idle: { type: 'string' },
        profile: { type: 'boolean', default: false },
        'no-pin': { type: 'boolean', default: false },
        'no-save': { type: 'boolean', default: false },
      },
      strict: true,
    }).values
  } catch (error) {
    process.stderr.write(`bench:fanout: ${(error as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
}

const cli = parseCli()
if (cli.help === true) {
  process.stdout.write(USAGE)
  process.exit(0)
}
const quick = cli.quick === true

function numberOption(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min) {
    process.stderr.write(`bench:fanout: --${name} needs a number of at least ${min}, got ${JSON.stringify(value)}\n\n${USAGE}`)
    process.exit(2)
  }
  return parsed
}

const options = {
  reps: numberOption(cli.reps, 'reps', quick ? 1 : 3, 1),
  subscribers: numberOption(cli.subscribers, 'subscribers', quick ? 100 : 1000, 1),
  sizes: (cli.sizes ?? '16,1024').split(',').map((size) => numberOption(size, 'sizes', 0, 0)),
  /** Messages in flight per subscriber; 'budget': 64 KiB worth, at most 1000 (the echo benchmark's budget). */
  publishers: (cli.publishers ?? '1,8').split(',').map((p) => numberOption(p, 'publishers', 0, 1)),
  windows: (cli.windows ?? '32,budget').split(',').map((w) => (w === 'budget' ? ('budget' as const) : numberOption(w, 'windows', 0, 2))),
  warmup: numberOption(cli.warmup, 'warmup', quick ? 0.25 : 1, 0),
  duration: numberOption(cli.duration, 'duration', quick ? 0.5 : 3, 0.1),
  servers: (cli.servers ?? 'gatewire,uws,ws').split(','),
  idle: numberOption(cli.idle, 'idle', quick ? 200 : 5000, 0),
  profileDir: cli.profile === true ? join(ROOT, 'bench', 'profiles', `fanout-${Date.now()}`) : undefined,
  pin: cli['no-pin'] !== true && spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0,
}

/** One configuration: message size, messages in flight per subscriber, publishing connections. */
interface Config {
  size: number
  window: number
  publishers: number
  /** `16-x32` (one publisher), `16-x32-p8` */
  key: string
}

/** 'budget' as in bench/README.md, Windows: 64 KiB in flight per connection, at most 1000 messages. */
const CONFIGS: Config[] = options.sizes.flatMap((size) => {
  const windows = options.windows.map((w) => (w === 'budget' ? Math.max(2, Math.min(1000, Math.floor((64 * 1024) / Math.max(1, size)))) : w))
  return [...new Set(windows)].flatMap((window) =>
    options.publishers.map((publishers) => ({ size, window, publishers, key: `${size}-x${window}${publishers === 1 ? '' : `-p${publishers}`}` })),
  )
})

interface FanoutServer {
  id: string
  label: string
  script: string
}

const SERVERS: FanoutServer[] = [
  { id: 'gatewire', label: 'gatewire `server.publish`', script: join(DIST, 'bench/servers/fanout-gatewire.js') },
  { id: 'uws', label: 'uWebSockets.js `app.publish` (uws-pack v20)', script: join(DIST, 'bench/servers/fanout-uws.js') },
  { id: 'ws', label: '`ws`, a loop of `send()` over its clients', script: join(DIST, 'bench/servers/fanout-ws.js') },
]
// A/B against an earlier build, as in `npm run bench` (bench/README.md): GATEWIRE_BASELINE_DIST=<a
// checkout's dist> adds its fan-out server as 'gatewire-baseline', run right after gatewire in
// every repetition, to the default servers.
const baselineDist = process.env.GATEWIRE_BASELINE_DIST
if (baselineDist !== undefined && baselineDist !== '') {
  SERVERS.splice(1, 0, { id: 'gatewire-baseline', label: `gatewire, baseline build (${baselineDist})`, script: join(resolve(baselineDist), 'bench/servers/fanout-gatewire.js') })
  if (cli.servers === undefined) options.servers.splice(1, 0, 'gatewire-baseline')
}
for (const id of options.servers) {
  if (!SERVERS.some((server) => server.id === id)) {
    process.stderr.write(`bench:fanout: unknown server ${JSON.stringify(id)} (${SERVERS.map((server) => server.id).join(', ')})\n`)
    process.exit(2)
  }
}

const log = (line: string): void => void process.stderr.write(`${line}\n`)

// ---------------------------------------------------------------------------------------------
// Processes

const children = new Set<ChildProcess>()
function killAll(): void {
  for (const child of children) child.kill('SIGKILL')
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll()
    process.exit(130)
  })
}

interface Running {
  pid: number
  port: number
  stop(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, HOST, () => {
      const address = probe.address()
      probe.close(() => resolvePort(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

async function start(server: FanoutServer): Promise<Running> {
  if (!existsSync(server.script)) throw new Error(`${server.script.startsWith(ROOT) ? server.script.slice(ROOT.length + 1) : server.script} does not exist (not built?)`)
  const port = await freePort()
  const args = ['--expose-gc', server.script, '--port', String(port)]
  if (options.profileDir !== undefined) {
    mkdirSync(options.profileDir, { recursive: true })
    args.unshift('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${server.id}-${Date.now()}.cpuprofile`)
  }
  const command = options.pin ? ['taskset', '-c', '0', process.execPath, ...args] : [process.execPath, ...args]
  const child = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...command], {
    env: { ...process.env, ...MALLOC_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000)))
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000)))
  const deadline = Date.now() + 15_000
  while (!/listening/.test(output)) {
    if (child.exitCode !== null) throw new Error(`${server.id} exited before listening: ${output.trim().slice(-300)}`)
    if (Date.now() > deadline) throw new Error(`${server.id} not listening after 15 s: ${output.trim().slice(-300)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    pid: child.pid!,
    port,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), options.profileDir === undefined ? 2000 : 15_000)
      await exited
      clearTimeout(timer)
      children.delete(child)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Load generator

/** Every subscriber reads into this one buffer (see load-generator.ts: no allocation per read). */
const READ_BUFFER = Buffer.allocUnsafe(1024 * 1024)
READ_BUFFER.fill(0)

/** Opens a WebSocket connection to `path` whose bytes after the handshake go to `onData`. */
async function openSocket(port: number, path: string, onData: (chunk: Buffer) => void): Promise<Socket> {
  const { socket, deliverTo } = await connectSharedRead(HOST, port, READ_BUFFER)
  const rest = await wsHandshake(socket, HOST, port, path, 10_000)
  socket.on('error', () => undefined)
  deliverTo(onData)
  if (rest.length > 0) onData(Buffer.from(rest))
  return socket
}

/** Destroys every socket and resolves once all of them have closed (their descriptors released). */
async function closeAll(sockets: Socket[]): Promise<void> {
  await Promise.all(
    sockets.map((socket) => (socket.closed ? undefined : new Promise<void>((resolveClosed) => socket.once('close', () => resolveClosed()).destroy()))),
  )
}

/** Opens `count` connections to `path`, `parallel` at a time. */
async function openMany(port: number, path: string, count: number, onData: (index: number) => (chunk: Buffer) => void): Promise<Socket[]> {
  const sockets: Socket[] = []
  const parallel = 100
  for (let first = 0; first < count; first += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - first) }, (_, i) => openSocket(port, path, onData(first + i)))
    sockets.push(...(await Promise.all(batch)))
  }
  return sockets
}

/** The control connection: sends commands, and hands back the text frames the server answers. */
class Control {
  private pending = Buffer.alloc(0)
  private waiting: ((text: string) => void) | null = null
  socket!: Socket

  async open(port: number): Promise<void> {
    this.socket = await openSocket(port, '/control', (chunk) => this.onData(chunk))
  }

  send(text: string): void {
    this.socket.write(maskedFrame(OP_TEXT, Buffer.from(text)))
  }

  ask(text: string): Promise<string> {
    const answer = new Promise<string>((resolveAnswer) => (this.waiting = resolveAnswer))
    this.send(text)
    return answer
  }

  private onData(chunk: Buffer): void {
    // Answers are small unmasked text frames (7- or 16-bit lengths).
    this.pending = Buffer.concat([this.pending, chunk])
    while (this.pending.length >= 2) {
      const length7 = this.pending[1] & 0x7f
      const at = length7 === 126 ? 4 : 2
      if (this.pending.length < at) return
      const length = length7 === 126 ? this.pending.readUInt16BE(2) : length7
      if (this.pending.length < at + length) return
      const text = this.pending.subarray(at, at + length).toString()
      this.pending = this.pending.subarray(at + length)
      const waiting = this.waiting
      this.waiting = null
      waiting?.(text)
    }
  }
}

interface FanoutResult {
  deliveries: number
  serverCpu: number
  generatorCpu: number
  wall: number
  unexpected: number
  /** Share of the server's core other processes took during the window. */
  noise: number
  /** The server's write syscalls in the window (NaN when /proc/<pid>/io is unreadable). */
  writes: number
}

/** One run: `subscribers` in the room, `size`-byte messages, at most `window` in flight per subscriber. */
async function fanoutRun(running: Running, { size, window, publishers }: Config): Promise<FanoutResult> {
  const subscriberCount = options.subscribers
  let delivered = 0
  const counters: WsMessageCounter[] = []
  const subscribers = await openMany(running.port, '/sub', subscriberCount, (index) => {
    const counter = new WsMessageCounter({ expectOpcode: OP_BINARY, expectLength: size })
    counters[index] = counter
    return (chunk) => {
      delivered += counter.push(chunk)
      pump()
    }
  })
  const controls = Array.from({ length: publishers }, () => new Control())
  for (const control of controls) await control.open(running.port)
  // Flow control: ask for more once the room is below `window` messages in flight per subscriber,
  // spread over the publishers (each asks for its share; they reach the server as separate reads).
  const share = Math.max(1, Math.round((window >> 1) / publishers))
  const batch = share * publishers
  let requested = 0
  function pump(): void {
    const inFlight = requested - delivered / subscriberCount
    if (inFlight <= window - batch) {
      requested += batch
      for (const control of controls) control.send(`publish ${share} ${size}`)
    }
  }
  pump()
  await new Promise((r) => setTimeout(r, options.warmup * 1000))
  const busy0 = cpuBusyTicks()
  const server0 = processCpuSeconds(running.pid)
  const io0 = processIo(running.pid)
  const own0 = ownCpuSeconds()
  const delivered0 = delivered
  const t0 = process.hrtime.bigint()
  await new Promise((r) => setTimeout(r, options.duration * 1000))
  const server1 = processCpuSeconds(running.pid)
  const io1 = processIo(running.pid)
  const own1 = ownCpuSeconds()
  const delivered1 = delivered
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  const busy1 = cpuBusyTicks()
  // Stop asking, then close every connection, and wait until each is closed: the next run (and
  // the idle phase, which needs almost every file descriptor) starts with none of these open.
  requested = Infinity
  await closeAll([...subscribers, ...controls.map((control) => control.socket)])
  const serverCpu = server1 - server0
  const core0 = ((busy1.get('cpu0') ?? 0) - (busy0.get('cpu0') ?? 0)) / 100
  return {
    deliveries: delivered1 - delivered0,
    serverCpu,
    generatorCpu: own1 - own0,
    wall,
    unexpected: counters.reduce((sum, counter) => sum + counter.unexpected, 0),
    noise: options.pin && wall > 0 ? Math.max(0, core0 - serverCpu) / wall : 0,
    writes: io0 !== undefined && io1 !== undefined ? io1.writes - io0.writes : Number.NaN,
  }
}


interface IdleResult {
  unsubscribed: number
  sharedTopic: number
  ownTopic: number
  /** Connections per kind actually opened (fewer than --idle when file descriptors would run out). */
  count: number
  /** Why `count` is below --idle, if it is. */
  note?: string
}

/** Descriptors kept free for everything else (the control connection, pipes, the server's own files). */
const FD_RESERVE = 200

/**
 * The idle phase holds 3 warm-up batches and 4 measured batches open at once, in this process
 * and in the server (one descriptor per connection each). Their soft limits (the server is
 * started with its hard limit, see start()) bound the count: a count that does not fit is
 * lowered, and the report says so, rather than failing with EMFILE midway.
 */
function idleCount(requested: number, serverPid: number): { count: number; note?: string } {
  const own = openFileLimit('self')
  const server = openFileLimit(serverPid)
  const limits = [own, server].filter((limit): limit is number => limit !== undefined)
  if (limits.length === 0) return { count: requested }
  const limit = Math.min(...limits)
  const fits = (count: number): boolean => 3 * Math.max(50, Math.floor(count / 10)) + 4 * count <= limit - FD_RESERVE
  if (fits(requested)) return { count: requested }
  let count = requested
  while (count > 0 && !fits(count)) count--
  const note =
    `--idle ${requested} needs ${3 * Math.max(50, Math.floor(requested / 10)) + 4 * requested} connections open at once, over the open-file limit ` +
    `(this process ${own ?? '?'}, the server ${server ?? '?'}; raise \`ulimit -n\` to measure more): measured with ${count} per kind`
  return { count, note }
}

/** Heap per connection: unsubscribed, subscribed to one shared topic, each to a topic of its own. */
async function idleRun(running: Running): Promise<IdleResult> {
  const { count, note } = idleCount(options.idle, running.pid)
  if (count < 50) throw new Error(note ?? 'too few file descriptors for the idle phase')
  if (note !== undefined) log(`  idle: ${note}`)
  const control = new Control()
  await control.open(running.port)
  const heap = async (): Promise<number> => (JSON.parse(await control.ask('memory')) as { heapUsed: number }).heapUsed
  const opened: Socket[] = []
  const noData = (): ((chunk: Buffer) => void) => () => undefined
  // Warm-up: the first connections of each kind compile code and grow tables (the topic index,
  // the connection Map) that later ones share; they stay open and are part of the baseline.
  const warm = Math.max(50, Math.floor(count / 10))
  for (const path of ['/idle', '/idle-sub', '/idle-own']) opened.push(...(await openMany(running.port, path, warm, noData)))
  const base = await heap()
  opened.push(...(await openMany(running.port, '/idle', count, noData)))
  const afterPlain = await heap()
  opened.push(...(await openMany(running.port, '/idle-sub', count, noData)))
  const afterShared = await heap()
  // Unsubscribed again, after the subscribed ones: the two unsubscribed readings bracket the
  // subscribed one, so a drift of the heap over the run does not show as a subscription's cost.
  opened.push(...(await openMany(running.port, '/idle', count, noData)))
  const afterPlainAgain = await heap()
  opened.push(...(await openMany(running.port, '/idle-own', count, noData)))
  const afterOwn = await heap()
  await closeAll([...opened, control.socket])
  return {
    unsubscribed: (afterPlain - base + (afterPlainAgain - afterShared)) / 2 / count,
    sharedTopic: (afterShared - afterPlain) / count,
    ownTopic: (afterOwn - afterPlainAgain) / count,
    count,
    note,
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** uWebSockets.js sends with send(2), which /proc/<pid>/io does not count: n/a for it. */
function perWrite(result: FanoutResult, server: string): string {
  return server !== 'uws' && result.writes > 0 ? (result.deliveries / result.writes).toFixed(1) : 'n/a'
}

function rate(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`
  if (value >= 1e3) return `${(value / 1e3).toFixed(0)}k`
  return value.toFixed(0)
}

async function main(): Promise<void> {
  useBenchDeps() // uws-pack, from bench/package.json
  if (options.pin) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })
  const startedAt = new Date()
  const servers = SERVERS.filter((server) => options.servers.includes(server.id))
  log(`bench:fanout: ${options.subscribers} subscribers, configurations ${CONFIGS.map((c) => c.key).join(', ')}, ${options.reps} rep(s); pinning ${options.pin ? 'on' : 'off'}`)
  const results = new Map<string, FanoutResult[]>() // `${server}/${size}`
  const failures = new Map<string, string>()
  for (let rep = 0; rep < options.reps; rep++) {
    for (const config of CONFIGS) {
      for (const server of servers) {
        const key = `${server.id}/${config.key}`
        if (failures.has(server.id)) continue
        try {
          const running = await start(server)
          try {
            const result = await fanoutRun(running, config)
            ;(results.get(key) ?? results.set(key, []).get(key)!).push(result)
            log(
              `  rep ${rep + 1} ${server.id} ${config.key}: ${rate(result.deliveries / result.serverCpu)} deliveries/CPU-s ` +
                `(${rate(result.deliveries / result.wall)}/s wall, server ${((100 * result.serverCpu) / result.wall).toFixed(0)}%, ` +
                `generator ${((100 * result.generatorCpu) / result.wall).toFixed(0)}%, ${perWrite(result, server.id)} deliveries/write, unexpected ${result.unexpected})`,
            )
          } finally {
            await running.stop()
          }
        } catch (error) {
          failures.set(server.id, (error as Error).message)
          log(`  ${server.id}: not available: ${(error as Error).message}`)
        }
      }
    }
  }
  let idle: IdleResult | string | undefined
  if (options.idle > 0 && servers.some((server) => server.id === 'gatewire')) {
    // A failure here (e.g. out of descriptors) is reported with the throughput figures, not lost.
    try {
      const running = await start(SERVERS[0])
      try {
        idle = await idleRun(running)
      } finally {
        await running.stop()
      }
    } catch (error) {
      idle = (error as Error).message
      log(`  idle: failed: ${idle}`)
    }
  }
  const markdown = report(servers, results, failures, idle, startedAt)
  process.stdout.write(`\n${markdown}\n`)
  if (options.profileDir !== undefined && existsSync(options.profileDir)) {
    for (const file of readdirSync(options.profileDir).filter((name) => name.endsWith('.cpuprofile'))) {
      process.stderr.write(`\n${summariseProfile(join(options.profileDir, file), 25)}\n`)
    }
    return // profiled runs carry the profiler's overhead: never saved
  }
  if (cli['no-save'] !== true) {
    const dir = join(ROOT, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    const stamp = startedAt.toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')
    const file = join(dir, `${stamp}-fanout${quick ? '-quick' : ''}.md`)
    writeFileSync(file, `${markdown}\n`)
    if (!quick) writeFileSync(join(dir, 'latest-fanout.md'), `${markdown}\n`)
    log(`saved ${file.slice(ROOT.length + 1)}`)
  }
}

function report(
  servers: FanoutServer[],
  results: Map<string, FanoutResult[]>,
  failures: Map<string, string>,
  idle: IdleResult | string | undefined,
  startedAt: Date,
): string {
  const perCpu = (id: string, config: Config): number => {
    const runs = results.get(`${id}/${config.key}`)
    return runs === undefined ? Number.NaN : median(runs.map((run) => run.deliveries / run.serverCpu))
  }
  const lines = [
    `# gatewire fan-out benchmark${quick ? ' (quick)' : ''}`,
    '',
    `${startedAt.toISOString()} · ${cpus()[0]?.model ?? 'unknown CPU'} · ${cpus().length} cores · Node ${process.version} · load ${loadavg()[0].toFixed(2)}`,
    '',
    `One room of ${options.subscribers} subscribers in one server process; binary messages published into it. ` +
      '`16-x32`: 16 B messages, at most 32 in flight per subscriber (flow control by deliveries: the generator asks for ' +
      'half a window whenever the room is half a window short). The larger windows are 64 KiB worth, at most 1000, ' +
      'as in `npm run bench`. `-p8`: the requests are spread over 8 publishing connections, so the publishes of one ' +
      'round reach the server as several reads (a chat room whose members talk), instead of one. ' +
      'Deliveries (messages received by subscribers) ' +
      `per server CPU-second, median of ${options.reps} repetition(s) of ${options.duration} s after ${options.warmup} s of warm-up. ` +
      (options.pin ? 'Server pinned to core 0, generator to core 1.' : 'No CPU pinning.'),
    '',
    `| server | ${CONFIGS.map((c) => c.key).join(' | ')} |`,
    `|---|${CONFIGS.map(() => '---').join('|')}|`,
  ]
  for (const server of servers) {
    const failure = failures.get(server.id)
    if (failure !== undefined && !CONFIGS.some((c) => results.has(`${server.id}/${c.key}`))) {
      lines.push(`| ${server.label} | not available: ${failure.replace(/\|/g, '/')} |`)
      continue
    }
    lines.push(`| ${server.label} | ${CONFIGS.map((c) => rate(perCpu(server.id, c))).join(' | ')} |`)
  }
  lines.push(
    '',
    '| run detail | wall deliveries/s | server CPU | generator CPU | other load on server core | deliveries per write(2) | unexpected frames |',
    '|---|---|---|---|---|---|---|',
  )
  for (const server of servers) {
    for (const config of CONFIGS) {
      for (const [i, run] of (results.get(`${server.id}/${config.key}`) ?? []).entries()) {
        lines.push(
          `| ${server.id} ${config.key} #${i + 1} | ${rate(run.deliveries / run.wall)} | ${((100 * run.serverCpu) / run.wall).toFixed(0)}% | ` +
            `${((100 * run.generatorCpu) / run.wall).toFixed(0)}%${run.generatorCpu / run.wall >= 0.9 ? ' †' : ''} | ${(100 * run.noise).toFixed(0)}% | ` +
            `${perWrite(run, server.id)} | ${run.unexpected} |`,
        )
      }
    }
  }
  lines.push('', '† generator at ≥ 90% of its core: the figure may be the generator’s limit rather than the server’s.', '')
  // Neither process near a full core: the loop waits on its round trip (ask → publish →
  // deliver), so the wall rate says little; work per delivery (per server CPU-second) still compares.
  const bound = CONFIGS.filter((config) =>
    servers.some((server) => (results.get(`${server.id}/${config.key}`) ?? []).some((run) => run.serverCpu / run.wall < 0.9 && run.generatorCpu / run.wall < 0.9)),
  )
  if (bound.length > 0) {
    lines.push(
      `Round-trip bound: in ${bound.map((c) => c.key).join(', ')} some runs had both the server and the generator below 90% of their cores, ` +
        'so those runs waited on the round trip between a request for more and its deliveries (a window of 32 is half a window, 16 ' +
        'publishes, per request), not on either CPU. Deliveries per server CPU-second still compare what each server spends per delivery; ' +
        'the wall rate does not measure capacity there.',
      '',
    )
  }
  lines.push(
    '## Targets (issue 17)',
    '',
    'Medians, then each repetition’s ratio (repetition i of gatewire against repetition i of the other server, started one after the other).',
    '',
    '| target | median | per repetition | met |',
    '|---|---|---|---|',
  )
  const perRep = (config: Config, other: string, scale: number, digits: number): string => {
    const mine = results.get(`gatewire/${config.key}`) ?? []
    const theirs = results.get(`${other}/${config.key}`) ?? []
    const ratios = mine.slice(0, theirs.length).map((run, i) => run.deliveries / run.serverCpu / (theirs[i].deliveries / theirs[i].serverCpu))
    return ratios.length === 0 ? 'n/a' : ratios.map((ratio) => `${ratioText(ratio, scale, digits)}×${ratio >= scale ? '' : ' ✗'}`).join(' / ')
  }
  // A ratio just under its target printed with one more digit, so that 0.996 reads 0.996 ✗, not 1.00 ✗.
  const ratioText = (ratio: number, scale: number, digits: number): string =>
    ratio < scale && Number(ratio.toFixed(digits)) >= scale ? ratio.toFixed(digits + 1) : ratio.toFixed(digits)
  for (const config of CONFIGS) {
    const gatewire = perCpu('gatewire', config)
    const uws = perCpu('uws', config)
    const ws = perCpu('ws', config)
    const verdict = (ok: boolean, a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) ? (ok ? 'yes' : 'no') : 'n/a')
    lines.push(`| gatewire ≥ uWS publish (${config.key}) | ${ratioText(gatewire / uws, 1, 2)}× | ${perRep(config, 'uws', 1, 2)} | ${verdict(gatewire >= uws, gatewire, uws)} |`)
    lines.push(`| gatewire ≥ 20× ws (${config.key}) | ${ratioText(gatewire / ws, 20, 1)}× | ${perRep(config, 'ws', 20, 1)} | ${verdict(gatewire >= 20 * ws, gatewire, ws)} |`)
    if (results.has(`gatewire-baseline/${config.key}`)) {
      const baselineFigure = perCpu('gatewire-baseline', config)
      lines.push(`| gatewire ÷ baseline build, informational (${config.key}) | ${(gatewire / baselineFigure).toFixed(2)}× | ${perRep(config, 'gatewire-baseline', 1, 2)} | — |`)
    }
  }
  if (typeof idle === 'string') {
    lines.push(`| subscribed idle connection ≤ 0.3 KiB above unsubscribed (one shared topic) | not measured: ${idle.replace(/\|/g, '/')} | — | n/a |`)
  } else if (idle !== undefined) {
    const extra = idle.sharedTopic - idle.unsubscribed
    const extraOwn = idle.ownTopic - idle.unsubscribed
    lines.push(
      `| subscribed idle connection ≤ 0.3 KiB above unsubscribed (one shared topic) | ${(extra / 1024).toFixed(3)} KiB | — | ${extra <= 0.3 * 1024 ? 'yes' : 'no'} |`,
      `| the same, each connection in a topic of its own (informational) | ${(extraOwn / 1024).toFixed(3)} KiB | — | — |`,
      '',
      `Idle memory: JS heap after a full GC per connection, ${idle.count} connections of each kind${idle.note === undefined ? '' : ` (${idle.note})`}, opened one kind after the other ` +
        `on one gatewire server (unsubscribed, subscribed, unsubscribed again, own topics; the unsubscribed figure is the mean of its two batches): unsubscribed ${(idle.unsubscribed / 1024).toFixed(2)} KiB, subscribed to one shared topic ` +
        `${(idle.sharedTopic / 1024).toFixed(2)} KiB, each subscribed to a topic of its own ${(idle.ownTopic / 1024).toFixed(2)} KiB. ` +
        'Native socket memory is the same for all three and not included.',
    )
  }
  return lines.join('\n')
}

main().then(
  () => killAll(),
  (error: unknown) => {
    killAll()
    process.stderr.write(`bench:fanout failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 1
  },
)
