import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { METRICS_COST_SERVER_IDS, metricsCostLines, metricsOffServers } from './metrics-cost'
import { summariseProfile } from './profile-summary'
import { useBenchDeps } from './lib/bench-deps'
import { MALLOC_ENV } from './lib/proc'
import { compressionBench } from './compression'
import { selfTest } from './selftest'
import type { GeneratorFailure, GeneratorResult, IdleResult, LargeResult, Protocol, ThroughputResult } from './load-generator'

// The benchmark runner (`npm run bench`, `npm run bench -- --quick`). It starts every echo
// server as its own Node process pinned to core 0, drives each with the same load generator
// pinned to core 1, alternates servers A B A B across repetitions, takes medians, and writes
// a markdown report to bench/results/. Every process it starts is killed when it ends, also
// on failure and on SIGINT/SIGTERM.

const ROOT = resolve(__dirname, '..', '..')
const DIST = join(ROOT, 'dist')
const MiB = 1024 * 1024

// ---------------------------------------------------------------------------------------------
// Options

const USAGE = `usage: npm run bench [-- options]   (or: node dist/bench/run.js [options])

  --quick              smoke run: 1 repetition, the three x50 throughput configurations, short windows
  --micro              codec micro-benchmarks instead (see bench/micro.ts)
  --fanout             the pub/sub fan-out benchmark instead (bench/fanout.ts; its options: npm run bench:fanout -- -h)
  --metrics-cost       echo with metrics on vs off, throughput only (see bench/metrics-cost.ts)
  --reps N             repetitions per server (default 3, 1 with --quick)
  --warmup S           seconds of load before each measured window (default 1)
  --duration S         seconds measured per run (default 2.5)
  --modes LIST         throughput,latency,large,idle,compression (default all)
  --servers LIST       e.g. raw-batched,ws,gatewire (default all)
  --configs LIST       throughput configurations, e.g. 16-x50,1k-x1,64k-x50 (default all)
  --window N           messages in flight per connection (default: 64 KiB worth)
  --idle N             idle connections to open (default 10000, 1000 with --quick)
  --idle-settle MS     wait after the last connection opens before the first reading (default 1000)
  --idle-settled MS    the second reading, this long after the last connection opened (default 15000; 0: none)
  --max-noise F        repeat a run when other processes took more than F of the server's core (default 0.2)
  --profile            run the servers under --cpu-prof (profiles in bench/profiles/, never saved as results)
  --no-pin             do not pin server and generator to cores with taskset
  --no-save            print the report without writing bench/results/
  -h, --help           this text
`

function parseCli(): ReturnType<typeof parseRunnerArgs> {
  try {
    return parseRunnerArgs()
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}`)
    process.exit(2)
  }
}

function parseRunnerArgs() {
  return parseArgs({
  options: {
    help: { type: 'boolean', short: 'h', default: false },
    quick: { type: 'boolean', default: false },
    micro: { type: 'boolean', default: false },
    fanout: { type: 'boolean', default: false },
    'metrics-cost': { type: 'boolean', default: false },
    reps: { type: 'string' },
    warmup: { type: 'string' },
    duration: { type: 'string' },
    modes: { type: 'string' },
    servers: { type: 'string' },
    idle: { type: 'string' },
    'idle-settle': { type: 'string' },
    'idle-settled': { type: 'string' },
    window: { type: 'string' },
    configs: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'max-noise': { type: 'string' },
    'no-pin': { type: 'boolean', default: false },
    'no-save': { type: 'boolean', default: false },
  },
  strict: true,
  })
}

const { values: cli } = parseCli()
if (cli.help === true) {
  process.stdout.write(USAGE)
  process.exit(0)
}

/** A numeric option's value, or `fallback` when it is absent; anything but a number ≥ min stops the run. */
function numberOption(name: keyof typeof cli, fallback: number, min = 0): number {
  const raw = cli[name]
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || value < min) {
    process.stderr.write(`bench: --${name} needs a number of at least ${min}, got ${JSON.stringify(raw)}\n\n${USAGE}`)
    process.exit(2)
  }
  return value
}

type ModeName = 'throughput' | 'latency' | 'large' | 'idle' | 'compression'
const ALL_MODES: readonly ModeName[] = ['throughput', 'latency', 'large', 'idle', 'compression']

const quick = cli.quick === true
const options = {
  quick,
  reps: numberOption('reps', quick ? 1 : 3, 1),
  warmup: numberOption('warmup', quick ? 0.25 : 1),
  duration: numberOption('duration', quick ? 0.5 : 2.5, 0.1),
  modes: new Set<ModeName>(
    cli.modes !== undefined ? (cli.modes.split(',').filter((m) => (ALL_MODES as readonly string[]).includes(m)) as ModeName[]) : ALL_MODES,
  ),
  serverFilter: cli.servers !== undefined ? new Set(cli.servers.split(',')) : undefined,
  idleConnections: numberOption('idle', quick ? 1000 : 10_000, 1),
  /** The first idle reading, this long after the last connection opened. */
  idleSettleMs: numberOption('idle-settle', quick ? 300 : 1000),
  /** The second idle reading, this long after the last connection opened (0: none). */
  idleSettledMs: numberOption('idle-settled', quick ? 0 : 15_000),
  largeSizes: quick ? [1 * MiB, 16 * MiB] : [1 * MiB, 16 * MiB, 64 * MiB],
  pin: cli['no-pin'] !== true && hasTaskset(),
  window: cli.window !== undefined ? numberOption('window', 0, 1) : undefined,
  /** Repeat a throughput/latency run when other processes took more than this share of the server's core. */
  maxNoise: numberOption('max-noise', 0.2),
  /** Throughput configurations to run (keys such as 16-x50), default all. */
  configs: cli.configs !== undefined ? new Set(cli.configs.split(',')) : quick ? new Set(['16-x50', '1k-x50', '64k-x50']) : undefined,
  /** Run throughput/latency servers under `--cpu-prof`; profiles go to bench/profiles/<stamp>/. */
  profileDir: cli.profile === true ? join(ROOT, 'bench', 'profiles', new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')) : undefined,
}

if (cli['metrics-cost'] === true) Object.assign(options, { modes: new Set(['throughput']), serverFilter: new Set(METRICS_COST_SERVER_IDS) })

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0
}

// ---------------------------------------------------------------------------------------------
// Servers

interface ServerSpec {
  id: string
  label: string
  protocol: Protocol
  script: string
  args: string[]
  env: Record<string, string | undefined>
  /** Largest message this server is given in the large-message mode, with the reason. */
  maxLarge?: { bytes: number; why: string }
  /** A reference that is measured in the idle mode only (it does not echo). */
  idleOnly?: true
}

const NO_NATIVE = { WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' }
const WITH_NATIVE = { WS_NO_BUFFER_UTIL: undefined, WS_NO_UTF_8_VALIDATE: undefined }

const SERVERS: ServerSpec[] = [
  {
    id: 'raw-batched',
    label: 'raw TCP echo, writes batched per read (ceiling)',
    protocol: 'raw',
    script: join(DIST, 'bench/servers/raw-echo.js'),
    args: ['--mode', 'batched'],
    env: {},
  },
  {
    id: 'raw-per-message',
    label: 'raw TCP echo, one write per message',
    protocol: 'raw',
    script: join(DIST, 'bench/servers/raw-echo.js'),
    args: ['--mode', 'per-message'],
    env: {},
  },
  { id: 'ws', label: '`ws` without native addons', protocol: 'ws', script: join(DIST, 'bench/servers/ws-echo.js'), args: [], env: NO_NATIVE },
  {
    id: 'ws-bufferutil',
    label: '`ws` with `bufferutil`',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/ws-echo.js'),
    args: [],
    env: WITH_NATIVE,
  },
  {
    id: 'nodejs-websocket',
    label: '`nodejs-websocket`',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/nodejs-websocket-echo.js'),
    args: [],
    env: {},
    maxLarge: quick
      ? { bytes: 1 * MiB, why: 'capped at 1 MiB in --quick (its receive buffer is re-concatenated on every read: quadratic)' }
      : { bytes: 16 * MiB, why: 'capped at 16 MiB (quadratic receive path: ~10 s at 16 MiB, minutes at 64 MiB)' },
  },
  {
    id: 'gatewire',
    label: 'gatewire core (`npm run echo`)',
    protocol: 'ws',
    script: join(DIST, 'test/fixtures/echo-server.js'),
    args: [],
    env: {},
  },
  {
    id: 'gatewire-framework',
    label: 'gatewire framework (`npm run echo:framework`)',
    protocol: 'ws',
    script: join(DIST, 'test/fixtures/echo-framework.js'),
    args: [],
    env: {},
  },
  {
    // uWebSockets.js is published on GitHub only; uws-pack (in bench/package.json) repackages its
    // official v20 binaries on npm. Reported as not available when no binary fits this Node.
    id: 'uws',
    label: 'uWebSockets.js (C++; official v20 binary via `uws-pack`)',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/uws-echo.js'),
    args: [],
    env: {},
  },
  {
    // What a connection costs a Node server that takes its upgrades from http.Server before any
    // WebSocket code runs: the floor under ws and gatewire in the idle mode.
    id: 'http-upgrade',
    label: 'Node `http.Server` upgrade only, no WebSocket (idle reference)',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/upgrade-only.js'),
    args: [],
    env: {},
    idleOnly: true,
  },
  {
    // The same handshake answered from a net.Server, without Node's HTTP parser: the least any
    // Node WebSocket server pays per connection, whatever it does after the handshake.
    id: 'net-upgrade',
    label: 'Node `net.Server` handshake only, no WebSocket (idle reference)',
    protocol: 'ws',
    script: join(DIST, 'bench/servers/net-upgrade-only.js'),
    args: [],
    env: {},
    idleOnly: true,
  },
]

if (cli['metrics-cost'] === true) SERVERS.push(...metricsOffServers(DIST))

/** Servers that cannot run here, with the reason; they appear in the report as such. */
const UNAVAILABLE: { label: string; why: string }[] = []

const ceilingId = 'raw-batched'
const wsId = 'ws'

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: everything started is killed on the way out.

const children = new Set<ChildProcess>()

function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
  }
  children.clear()
}

process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`)
    killAll()
    process.exit(130)
  })
}

/**
 * Spawns `node <args>` through `sh -c 'ulimit -n <hard>; exec ...'` (raising the descriptor
 * limit for the idle mode) and `taskset -c <core>`; both exec, so the child's pid is node's.
 */
function spawnNode(nodeArgs: string[], core: number, env: Record<string, string | undefined>): ChildProcess {
  const command = options.pin ? ['taskset', '-c', String(core), process.execPath, ...nodeArgs] : [process.execPath, ...nodeArgs]
  const childEnv: NodeJS.ProcessEnv = { ...process.env }
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key]
    else childEnv[key] = value
  }
  const child = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...command], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      probe.close(() => resolvePort(port))
    })
  })
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      done(true)
    })
    socket.once('error', () => done(false))
  })
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface RunningServer {
  spec: ServerSpec
  pid: number
  port: number
  child: ChildProcess
  output: () => string
  alive: () => boolean
  stop: () => Promise<void>
}

async function startServer(spec: ServerSpec, gcHook = false, profile = false, extraEnv: Record<string, string> = {}): Promise<RunningServer> {
  if (!existsSync(spec.script)) throw new Error(`${spec.script.slice(ROOT.length + 1)} does not exist`)
  const port = await freePort()
  const flags = gcHook ? ['--expose-gc', '-r', join(DIST, 'bench/servers/gc-hook.js')] : []
  if (profile && options.profileDir !== undefined) {
    mkdirSync(options.profileDir, { recursive: true })
    flags.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${spec.id}-${Date.now()}.cpuprofile`)
  }
  const child = spawnNode([...flags, spec.script, '--port', String(port), ...spec.args], 0, { ...spec.env, ...extraEnv })
  let tail = ''
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-2000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const alive = (): boolean => child.exitCode === null && child.signalCode === null
  const deadline = Date.now() + 15_000
  while (!(await canConnect(port))) {
    if (!alive()) throw new Error(`exited (${String(child.exitCode ?? child.signalCode)}) before listening: ${essence(tail)}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`not listening on ${port} after 15 s: ${essence(tail)}`)
    }
    await sleep(50)
  }
  if (child.pid === undefined) throw new Error('no pid')
  const pid = child.pid
  return {
    spec,
    pid,
    port,
    child,
    output: () => tail,
    alive,
    stop: async () => {
      if (!alive()) return
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGTERM')
      // A graceful close (and writing a CPU profile) may take a moment; then it is killed.
      const timer = setTimeout(() => child.kill('SIGKILL'), profile ? 15_000 : 2000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** The line of a process's output that says what went wrong (its first error line, else its last line). */
function essence(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
  const error = lines.find((l) => /^[A-Za-z]*Error\b|Error:|\[ERR_/.test(l))
  return (error ?? lines[lines.length - 1] ?? '(no output)').slice(0, 300)
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string }

async function runGenerator<T extends GeneratorResult>(args: string[], timeoutSeconds: number): Promise<Outcome<T>> {
  const child = spawnNode([join(DIST, 'bench/load-generator.js'), ...args, '--timeout', String(timeoutSeconds)], 1, {})
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)))
  const killer = setTimeout(() => child.kill('SIGKILL'), (timeoutSeconds + 15) * 1000)
  await new Promise<void>((r) => child.once('exit', () => r()))
  clearTimeout(killer)
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '))
  if (line === undefined) return { ok: false, error: `load generator gave no result: ${stderr.trim() === '' ? 'killed' : essence(stderr)}` }
  const parsed = JSON.parse(line.slice('RESULT '.length)) as T | GeneratorFailure
  if ('error' in parsed) return { ok: false, error: parsed.error }
  return { ok: true, value: parsed }
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface ThroughputConfig {
  key: string
  title: string
  size: number
  kind: 'text' | 'binary'
  connections: number
}

const THROUGHPUT: ThroughputConfig[] = [
  { key: '16-x1', title: '16 B text ×1', size: 16, kind: 'text', connections: 1 },
  { key: '16-x50', title: '16 B text ×50', size: 16, kind: 'text', connections: 50 },
  { key: '1k-x1', title: '1 KiB text ×1', size: 1024, kind: 'text', connections: 1 },
  { key: '1k-x50', title: '1 KiB text ×50', size: 1024, kind: 'text', connections: 50 },
  { key: '64k-x1', title: '64 KiB binary ×1', size: 65536, kind: 'binary', connections: 1 },
  { key: '64k-x50', title: '64 KiB binary ×50', size: 65536, kind: 'binary', connections: 50 },
]

/**
 * Bytes in flight per connection: 64 KiB, or half of the kernel's default TCP receive buffer
 * (`net.ipv4.tcp_rmem`, middle value) when that is smaller. Half the buffer is the receive
 * window Linux is sure to advertise before autotuning grows it (tcp_adv_win_scale 1, the
 * initial scaling ratio); 64 KiB is also what one read of a Node socket takes, so a server
 * whose queue is full still gets full-size reads. More than the window in flight (the old
 * 256 KiB) leaves data parked behind zero-window advertisements, and when the receiver reads,
 * that data is sent from inside its read or ack processing: loopback TCP work changes process
 * and the per-server-CPU figures move with TCP flow control, not with the server (measured:
 * see bench/README.md, "Windows").
 */
const IN_FLIGHT_BYTES = inFlightBudget()

function inFlightBudget(): number {
  let defaultReceiveBuffer = 131072
  try {
    const middle = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/)[1])
    if (Number.isInteger(middle) && middle > 0) defaultReceiveBuffer = middle
  } catch {
    // Not Linux, or /proc not mounted: assume Linux's default.
  }
  return Math.min(64 * 1024, Math.floor(defaultReceiveBuffer / 2))
}

/**
 * Messages in flight per connection: as many frames as fit in IN_FLIGHT_BYTES, between 2 and
 * 1000 (16 B: 1000, 1 KiB: 63, 64 KiB: 2), unless --window is given. At least 2, so a connection
 * always has a message queued behind the one being echoed (64 KiB messages: 128 KiB in flight,
 * the only configuration over the budget).
 */
function windowFor(size: number): number {
  if (options.window !== undefined) return options.window
  // 14: the largest frame header (a masked client frame with a 64-bit length), so the frames fit.
  return Math.max(2, Math.min(1000, Math.floor(IN_FLIGHT_BYTES / (size + 14))))
}

const LATENCY_CONNECTIONS = 50
/** The paced latency run: each connection sends one message every this many ms (50 conns: 10k msg/s). */
const PACED_INTERVAL_MS = 5

/** samples[configKey][serverId] = outcomes, one per repetition. */
const samples = new Map<string, Map<string, Outcome<GeneratorResult>[]>>()
/** Servers that could not be started, with the reason. */
const notAvailable = new Map<string, string>()

function record(configKey: string, serverId: string, outcome: Outcome<GeneratorResult>): void {
  let byServer = samples.get(configKey)
  if (byServer === undefined) samples.set(configKey, (byServer = new Map()))
  const list = byServer.get(serverId) ?? []
  list.push(outcome)
  byServer.set(serverId, list)
}

function log(message: string): void {
  process.stderr.write(`${message}\n`)
}

function baseArgs(server: RunningServer): string[] {
  return [
    '--protocol', server.spec.protocol,
    '--port', String(server.port),
    '--server-pid', String(server.pid),
    ...(options.pin ? ['--server-core', '0', '--generator-core', '1'] : []),
  ]
}

async function throughputAndLatency(specs: ServerSpec[]): Promise<void> {
  // All servers stay up side by side (idle ones cost nothing), so each configuration can
  // alternate servers A B A B close together in time.
  const running = new Map<string, RunningServer>()
  for (const spec of specs) {
    try {
      running.set(spec.id, await startServer(spec, false, true, MALLOC_ENV))
    } catch (error) {
      notAvailable.set(spec.id, (error as Error).message)
      log(`  ${spec.id}: ${(error as Error).message}`)
    }
  }
  const ensure = async (spec: ServerSpec): Promise<RunningServer | undefined> => {
    const current = running.get(spec.id)
    if (current !== undefined && current.alive()) return current
    if (current !== undefined) log(`  ${spec.id} died (${essence(current.output())}); restarting`)
    try {
      const restarted = await startServer(spec, false, true, MALLOC_ENV)
      running.set(spec.id, restarted)
      return restarted
    } catch {
      return undefined
    }
  }
  const configs: { key: string; title: string; args: (s: RunningServer) => string[]; timeout: number }[] = []
  if (options.modes.has('throughput')) {
    for (const c of THROUGHPUT.filter((t) => options.configs === undefined || options.configs.has(t.key))) {
      configs.push({
        key: `throughput:${c.key}`,
        title: c.title,
        timeout: options.warmup + options.duration + 30,
        args: (s) => [
          ...baseArgs(s),
          '--mode', 'throughput',
          '--connections', String(c.connections),
          '--size', String(c.size),
          '--kind', c.kind,
          '--window', String(windowFor(c.size)),
          '--warmup', String(options.warmup),
          '--duration', String(options.duration),
        ],
      })
    }
  }
  if (options.modes.has('latency')) {
    configs.push({
      key: 'latency',
      title: `latency, 16 B text ×${LATENCY_CONNECTIONS}, one in flight each`,
      timeout: options.warmup + options.duration + 30,
      args: (s) => [
        ...baseArgs(s),
        '--mode', 'latency',
        '--connections', String(LATENCY_CONNECTIONS),
        '--size', '16',
        '--kind', 'text',
        '--warmup', String(options.warmup),
        '--duration', String(options.duration),
      ],
    })
    configs.push({
      key: 'latency-paced',
      title: `latency, 16 B ×${LATENCY_CONNECTIONS}, every ${PACED_INTERVAL_MS} ms each`,
      timeout: options.warmup + options.duration + 30,
      args: (s) => [
        ...baseArgs(s),
        '--mode', 'latency',
        '--connections', String(LATENCY_CONNECTIONS),
        '--size', '16',
        '--kind', 'text',
        '--interval', String(PACED_INTERVAL_MS),
        '--warmup', String(options.warmup),
        '--duration', String(options.duration),
      ],
    })
  }
  try {
    for (const config of configs) {
      for (let rep = 0; rep < options.reps; rep++) {
        for (const spec of specs) {
          if (!running.has(spec.id)) continue
          const server = await ensure(spec)
          if (server === undefined) {
            record(config.key, spec.id, { ok: false, error: 'server could not be restarted' })
            continue
          }
          let outcome = await runGenerator<ThroughputResult>(config.args(server), config.timeout)
          // A run during which other processes took much of the server's core is repeated
          // (twice at most); the least disturbed attempt is kept.
          for (let retry = 0; retry < 2 && outcome.ok && othersShare(outcome.value) > options.maxNoise; retry++) {
            log(`  ${config.title.padEnd(42)} rep ${rep + 1} ${spec.id.padEnd(19)} others took ${pct(othersShare(outcome.value))} of the server core; again`)
            const again = await runGenerator<ThroughputResult>(config.args(server), config.timeout)
            if (again.ok && othersShare(again.value) < othersShare(outcome.value)) outcome = again
          }
          record(config.key, spec.id, outcome)
          log(`  ${config.title.padEnd(42)} rep ${rep + 1} ${spec.id.padEnd(19)} ${describe(outcome)}`)
        }
      }
    }
  } finally {
    for (const server of running.values()) await server.stop()
  }
}

function describe(outcome: Outcome<GeneratorResult>): string {
  if (!outcome.ok) return `FAILED: ${outcome.error}`
  const r = outcome.value
  if (r.mode === 'large') return `${r.seconds.toFixed(3)} s, peak RSS ${fmtMiB(r.peakRssKiB)}`
  if (r.mode === 'idle') return `${r.kibPerConnection.toFixed(2)} KiB/conn (${r.connections} conns)`
  {
    const lat = r.latencyMs !== undefined ? ` p50 ${r.latencyMs.p50.toFixed(2)} ms p99 ${r.latencyMs.p99.toFixed(2)} ms` : ''
    const tcp = r.tcp !== undefined && r.mode === 'throughput' ? `, 0-win ${r.tcp.zeroWindowAdvertised}, retr ${r.tcp.retransmittedSegments}` : ''
    return `${fmtCount(r.messagesPerServerCpuSecond)}/server-CPU-s (${fmtCount(r.messagesPerSecond)}/s, server ${pct(r.serverCpuSeconds / r.seconds)}, gen ${pct(r.generatorCpuSeconds / r.seconds)}${tcp})${lat}`
  }
}

async function largeMessages(specs: ServerSpec[]): Promise<void> {
  // A fresh server per message: VmHWM (peak RSS) covers the life of the process.
  for (const size of options.largeSizes) {
    for (let rep = 0; rep < options.reps; rep++) {
      for (const spec of specs) {
        if (notAvailable.has(spec.id)) continue
        const key = `large:${size}`
        if (spec.maxLarge !== undefined && size > spec.maxLarge.bytes) continue
        let server: RunningServer
        try {
          server = await startServer(spec)
        } catch (error) {
          notAvailable.set(spec.id, (error as Error).message)
          continue
        }
        try {
          const timeout = size >= 64 * MiB ? 180 : 90
          const outcome = await runGenerator<LargeResult>([...baseArgs(server), '--mode', 'large', '--size', String(size)], timeout)
          record(key, spec.id, outcome)
          log(`  large ${fmtBytes(size).padEnd(8)} rep ${rep + 1} ${spec.id.padEnd(19)} ${describe(outcome)}`)
        } finally {
          await server.stop()
        }
      }
    }
  }
}

function hardFdLimit(): number {
  const out = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()
  return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out) || 1024
}

let idleNote = ''

async function idleConnections(specs: ServerSpec[]): Promise<void> {
  let connections = options.idleConnections
  const limit = hardFdLimit()
  if (connections + 200 > limit) {
    idleNote = `reduced from ${connections} to ${limit - 200} connections: the hard descriptor limit (ulimit -Hn) is ${limit}. `
    connections = limit - 200
  }
  for (let rep = 0; rep < options.reps; rep++) {
    for (const spec of specs) {
      if (notAvailable.has(spec.id)) continue
      let server: RunningServer
      const memoryFile = join(tmpdir(), `gatewire-bench-memory-${process.pid}-${spec.id}-${rep}.json`)
      try {
        server = await startServer(spec, true, false, { BENCH_MEMORY_FILE: memoryFile })
      } catch (error) {
        notAvailable.set(spec.id, (error as Error).message)
        continue
      }
      try {
        const outcome = await runGenerator<IdleResult>(
          [
            ...baseArgs(server),
            '--mode', 'idle',
            '--connections', String(connections),
            '--gc-signal',
            '--settle', String(options.idleSettleMs),
            '--settled', String(options.idleSettledMs),
            '--memory-file', memoryFile,
          ],
          // Two settle waits (each settle + 70%) and the settled reading on top of opening the connections.
          120 + (4 * options.idleSettleMs + 2 * options.idleSettledMs) / 1000,
        )
        record('idle', spec.id, outcome)
        log(`  idle ${connections} rep ${rep + 1} ${spec.id.padEnd(19)} ${describe(outcome)}`)
      } finally {
        await server.stop()
        rmSync(memoryFile, { force: true })
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2
}

function successes<T extends GeneratorResult>(configKey: string, serverId: string): { values: T[]; errors: string[] } {
  const list = samples.get(configKey)?.get(serverId) ?? []
  const values: T[] = []
  const errors: string[] = []
  for (const o of list) {
    if (o.ok) values.push(o.value as T)
    else errors.push(o.error)
  }
  return { values, errors }
}

/** The median of one idle-mode reading (the 1 s one, or the settled one) for a server. */
function idleMedian(serverId: string, reading: 'first' | 'settled'): number {
  const values = successes<IdleResult>('idle', serverId).values
  return median(values.map((v) => (reading === 'first' ? v.kibPerConnection : (v.kibPerConnectionSettled ?? Number.NaN))))
}

function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return 'n/a'
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`
  return n.toFixed(0)
}
function fmtRatio(n: number): string {
  if (!Number.isFinite(n)) return 'n/a'
  return n >= 10 ? n.toFixed(0) : n >= 0.1 ? n.toFixed(2) : n.toFixed(3)
}
function pct(n: number): string {
  return Number.isFinite(n) ? `${Math.round(n * 100)}%` : 'n/a'
}
function fmtBytes(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`
}
function fmtInt(n: number): string {
  return Number.isFinite(n) ? String(Math.round(n)) : 'n/a'
}
function fmtMiB(kib: number | undefined): string {
  return kib === undefined || !Number.isFinite(kib) ? 'n/a' : `${(kib / 1024).toFixed(0)} MiB`
}

interface Aggregate {
  rate: number
  perCpu: number
  serverCpu: number
  generatorCpu: number
  /** Share of the server's core (of the machine when not pinned) other processes used. */
  others: number
  /** Bytes per read(2) the server made, in KiB (from /proc/<pid>/io). */
  serverReadKiB: number
  /** Zero-window advertisements and retransmitted segments per run (whole network namespace). */
  zeroWindows: number
  retransmits: number
  unexpected: number
  n: number
  errors: string[]
}

function aggregateThroughput(configKey: string, serverId: string): Aggregate {
  const { values, errors } = successes<ThroughputResult>(configKey, serverId)
  return {
    rate: median(values.map((v) => v.messagesPerSecond)),
    perCpu: median(values.map((v) => v.messagesPerServerCpuSecond)),
    serverCpu: median(values.map((v) => v.serverCpuSeconds / v.seconds)),
    generatorCpu: median(values.map((v) => v.generatorCpuSeconds / v.seconds)),
    others: median(values.map((v) => othersShare(v))),
    serverReadKiB: median(values.map((v) => (v.serverIo !== undefined && v.serverIo.reads > 0 ? v.serverIo.readBytes / v.serverIo.reads / 1024 : Number.NaN))),
    zeroWindows: median(values.map((v) => v.tcp?.zeroWindowAdvertised ?? Number.NaN)),
    retransmits: median(values.map((v) => v.tcp?.retransmittedSegments ?? Number.NaN)),
    unexpected: values.reduce((sum, v) => sum + v.unexpected, 0),
    n: values.length,
    errors,
  }
}

/**
 * Two servers' messages per server CPU-second divided within each repetition: the runs of one
 * repetition are seconds apart, so slow drifts of the machine cancel out of each pair. Shown
 * next to the ratio of the medians (on which the verdicts rest) to show its spread.
 */
function pairedRatios(configKey: string, serverId: string, referenceId: string): number[] {
  const a = samples.get(configKey)?.get(serverId) ?? []
  const b = samples.get(configKey)?.get(referenceId) ?? []
  if (a.length !== b.length) return []
  const ratios: number[] = []
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x.ok && y.ok) {
      ratios.push((x.value as ThroughputResult).messagesPerServerCpuSecond / (y.value as ThroughputResult).messagesPerServerCpuSecond)
    }
  }
  return ratios
}

function othersShare(v: ThroughputResult): number {
  const o = v.othersCpuSeconds
  return (o.serverCore ?? o.machine) / v.seconds
}

/** Noise over every throughput/latency run: other processes' share of the server's core. */
function noiseLine(): string {
  const shares: number[] = []
  for (const byServer of samples.values()) {
    for (const list of byServer.values()) {
      for (const o of list) {
        if (o.ok && (o.value.mode === 'throughput' || o.value.mode === 'latency')) shares.push(othersShare(o.value))
      }
    }
  }
  if (shares.length === 0) return ''
  shares.sort((a, b) => a - b)
  const med = median(shares)
  const p90 = shares[Math.min(shares.length - 1, Math.floor(shares.length * 0.9))]
  const where = options.pin ? "the server's core" : 'the machine'
  const warning =
    med > 0.1 || p90 > 0.25
      ? ' **The machine was busy: other work competed with the server, so treat this run as indicative only.**'
      : ''
  return `Noise: during the measured windows other processes used a median ${pct(med)} (90th percentile ${pct(p90)}) of ${where}.${warning}`
}

function unavailableCell(serverId: string): string | undefined {
  return notAvailable.has(serverId) ? 'not available' : undefined
}

function firstError(errors: string[]): string {
  return errors.length > 0 ? `failed: ${errors[0].replace(/\|/g, '/').slice(0, 80)}` : 'not measured'
}

function report(specs: ServerSpec[], startedAt: Date, elapsedSeconds: number): string {
  // The per-mode tables of throughput, latency and large messages list the echo servers only.
  const echoSpecs = specs.filter((s) => s.idleOnly !== true)
  const lines: string[] = []
  const cpu = cpus()
  lines.push(`# gatewire benchmarks — ${options.quick ? 'quick' : 'full'} run, ${startedAt.toISOString()}`)
  lines.push('')
  lines.push(
    `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, ` +
      `Linux ${release()}, Node ${process.version}; load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}. ` +
      (options.pin ? 'Servers pinned to core 0, load generator to core 1 (`taskset`).' : 'No CPU pinning (taskset unavailable or --no-pin).'),
  )
  lines.push(
    `Repetitions: ${options.reps} (servers alternate A B A B; medians shown), warm-up ${options.warmup} s, ` +
      `measured window ${options.duration} s per run. Run took ${Math.round(elapsedSeconds)} s; load average at the end ` +
      `${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}. Reproduce: \`npm run bench${options.quick ? ' -- --quick' : ''}\`.`,
  )
  const noise = noiseLine()
  if (noise !== '') lines.push('', noise)
  lines.push('')
  lines.push(
    'The main figure is **messages echoed per server CPU-second** (server CPU = utime+stime from /proc/<pid>/stat over the ' +
      'measured window): on a shared machine it drifts far less than messages per wall-clock second, though a contended core ' +
        'still costs the server cache misses and context switches — hence the noise line above, and runs in which other ' +
        "processes took over 20% of the server's core are repeated (at most twice; the least disturbed is kept). " +
      'Ratios are to the raw batched echo (the ceiling) and to `ws` without native addons, both from the same run.',
  )
  lines.push('')

  // Summary in the shape of issue 5's table.
  const summaryCols = ['16-x50', '1k-x50', '64k-x50']
  lines.push('## Summary')
  lines.push('')
  lines.push('| server | 16 B ×50 | 1 KiB ×50 | 64 KiB ×50 | one 16 MiB message | p99 latency ×50 (closed loop / paced) | idle memory |')
  lines.push('|---|---|---|---|---|---|---|')
  for (const spec of specs) {
    if (spec.idleOnly === true) {
      lines.push(`| ${spec.label} | — | — | — | — | — | ${idleCell(spec)} |`)
      continue
    }
    const cells: string[] = []
    for (const col of summaryCols) {
      const key = `throughput:${col}`
      if (!options.modes.has('throughput')) cells.push('—')
      else {
        const a = aggregateThroughput(key, spec.id)
        const ceiling = aggregateThroughput(key, ceilingId).perCpu
        cells.push(a.n > 0 ? `${fmtCount(a.perCpu)} (${fmtRatio(a.perCpu / ceiling)})` : (unavailableCell(spec.id) ?? firstError(a.errors)))
      }
    }
    cells.push(largeCell(spec, 16 * MiB))
    if (options.modes.has('latency')) {
      const lat = successes<ThroughputResult>('latency', spec.id)
      const paced = successes<ThroughputResult>('latency-paced', spec.id)
      const p99 = (list: ThroughputResult[]): string => {
        const v = median(list.map((r) => r.latencyMs?.p99 ?? Number.NaN))
        return Number.isFinite(v) ? `${v.toFixed(2)} ms` : 'n/a'
      }
      cells.push(
        lat.values.length + paced.values.length > 0
          ? `${p99(lat.values)} / ${p99(paced.values)}`
          : (unavailableCell(spec.id) ?? firstError(lat.errors)),
      )
    } else cells.push('—')
    cells.push(idleCell(spec))
    lines.push(`| ${spec.label} | ${cells.join(' | ')} |`)
  }
  for (const u of UNAVAILABLE) lines.push(`| ${u.label} | not measured | not measured | not measured | not measured | not measured | not measured |`)
  lines.push('')
  lines.push('Throughput cells: messages per server CPU-second (ratio to the raw batched ceiling).')
  for (const u of UNAVAILABLE) lines.push(`${u.label}: ${u.why}`)
  for (const [id, why] of notAvailable) lines.push(`\`${id}\`: not available — ${why}`)
  lines.push('')

  lines.push(...targets())
  if (cli['metrics-cost'] === true) {
    const perRep = (key: string, id: string) => successes<ThroughputResult>(`throughput:${key}`, id).values.map((v) => v.messagesPerServerCpuSecond)
    lines.push(...metricsCostLines(THROUGHPUT.filter((t) => options.configs === undefined || options.configs.has(t.key)), perRep, median))
  }

  if (options.modes.has('throughput')) {
    lines.push('## Pipelined throughput')
    lines.push('')
    lines.push(
      `Each connection keeps a window of messages in flight: as many as fit in ${fmtBytes(IN_FLIGHT_BYTES)} ` +
        `(${windowFor(16)} × 16 B, ${windowFor(1024)} × 1 KiB, ${windowFor(65536)} × 64 KiB), and the generator answers each batch of ` +
        'echoes with one write. The budget is the receive window a default TCP socket advertises (half of `net.ipv4.tcp_rmem`, ' +
        'at most 64 KiB, one Node read): more than that in flight parks data behind zero-window advertisements, and the ' +
        'loopback TCP work of sending it later is charged to whichever process reads or acks first, not to the one that wrote it. ' +
        '`server CPU` and `gen CPU`: the share of one core each process used during the window; a generator at ≥ 90% (†) may ' +
        "limit the rate and the server's batches. `others`: the share of the server's core other processes took (noise, from " +
        '/proc/stat). `KiB/read`: bytes per read(2) of the server (/proc/<pid>/io). `0-win / retr`: zero-window ' +
        'advertisements and retransmitted TCP segments per run (median; whole machine, from /proc/net), which should be ~0. ' +
        `Every server here runs with \`GLIBC_TUNABLES=${MALLOC_ENV.GLIBC_TUNABLES}\` (the same for all): glibc's default ` +
        "dynamic trim threshold sometimes returned the heap top to the kernel and faulted it back in on every read (see bench/README.md, 'Windows').",
    )
    lines.push('')
    for (const config of THROUGHPUT.filter((t) => options.configs === undefined || options.configs.has(t.key))) {
      const key = `throughput:${config.key}`
      const ceiling = aggregateThroughput(key, ceilingId).perCpu
      const ws = aggregateThroughput(key, wsId).perCpu
      lines.push(`### ${config.title} (window ${windowFor(config.size)})`)
      lines.push('')
      lines.push('| server | msgs / server CPU-s | × ceiling | × ws | msgs/s (wall) | server CPU | gen CPU | others | runs | KiB/read | 0-win / retr |')
      lines.push('|---|---|---|---|---|---|---|---|---|---|---|')
      for (const spec of echoSpecs) {
        const a = aggregateThroughput(key, spec.id)
        if (a.n === 0) {
          const why = unavailableCell(spec.id) ?? firstError(a.errors)
          lines.push(`| ${spec.id} | ${why} | | | | | | | 0/${options.reps} | | |`)
          continue
        }
        const flag = a.generatorCpu >= 0.9 ? ' †' : ''
        const bad = a.unexpected > 0 ? ` (${a.unexpected} wrong echoes!)` : ''
        lines.push(
          `| ${spec.id} | ${fmtCount(a.perCpu)}${bad} | ${fmtRatio(a.perCpu / ceiling)} | ${fmtRatio(a.perCpu / ws)} | ${fmtCount(a.rate)} | ` +
            `${pct(a.serverCpu)} | ${pct(a.generatorCpu)}${flag} | ${pct(a.others)} | ${a.n}/${options.reps} | ` +
            `${Number.isFinite(a.serverReadKiB) ? a.serverReadKiB.toFixed(1) : 'n/a'} | ${fmtInt(a.zeroWindows)} / ${fmtInt(a.retransmits)} |`,
        )
      }
      lines.push('')
    }
  }

  if (options.modes.has('latency')) {
    lines.push(`## Latency (${LATENCY_CONNECTIONS} connections, 16 B text, one message in flight per connection)`)
    lines.push('')
    lines.push(
      'Round-trip time of every echo in the window, measured in the generator with `process.hrtime.bigint()`; medians over runs. ' +
        '*Closed loop*: each connection sends its next message as soon as the echo is back, so both processes run flat out and ' +
        'the figures include queueing in the generator too. *Paced*: each connection sends one message every ' +
        `${PACED_INTERVAL_MS} ms (${(LATENCY_CONNECTIONS * 1000) / PACED_INTERVAL_MS} msg/s in all), far below saturation: ` +
        'the latency a server adds when it is not busy (batching must not hold a reply back).',
    )
    lines.push('')
    lines.push('| server | run | p50 | p90 | p99 | p99.9 | max | msgs/s | × ws p99 | server CPU | gen CPU | others |')
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|')
    for (const [key, name] of [
      ['latency', 'closed loop'],
      ['latency-paced', 'paced'],
    ] as const) {
      const wsP99 = median(successes<ThroughputResult>(key, wsId).values.map((v) => v.latencyMs?.p99 ?? Number.NaN))
      for (const spec of echoSpecs) {
        const { values, errors } = successes<ThroughputResult>(key, spec.id)
        if (values.length === 0) {
          lines.push(`| ${spec.id} | ${name} | ${unavailableCell(spec.id) ?? firstError(errors)} | | | | | | | | | |`)
          continue
        }
        const m = (f: (v: NonNullable<ThroughputResult['latencyMs']>) => number): number =>
          median(values.map((v) => (v.latencyMs !== undefined ? f(v.latencyMs) : Number.NaN)))
        const a = aggregateThroughput(key, spec.id)
        lines.push(
          `| ${spec.id} | ${name} | ${m((l) => l.p50).toFixed(3)} ms | ${m((l) => l.p90).toFixed(3)} ms | ${m((l) => l.p99).toFixed(3)} ms | ` +
            `${m((l) => l.p999).toFixed(3)} ms | ${m((l) => l.max).toFixed(2)} ms | ${fmtCount(a.rate)} | ${fmtRatio(m((l) => l.p99) / wsP99)} | ` +
            `${pct(a.serverCpu)} | ${pct(a.generatorCpu)} | ${pct(a.others)} |`,
        )
      }
    }
    lines.push('')
  }

  if (options.modes.has('large')) {
    lines.push('## One large binary message')
    lines.push('')
    lines.push(
      'One masked binary frame of the given size, written at once; time from the write until the whole echo is back. ' +
        'Fresh server process per message; peak RSS is its VmHWM from /proc/<pid>/status (the whole process, baseline included), ' +
        'in brackets its growth over the RSS just before the message (servers start from different baselines). ' +
        '`s/MiB` shows whether the cost is linear in size.',
    )
    lines.push('')
    const header = options.largeSizes.map((s) => `${fmtBytes(s)}: time | peak RSS`).join(' | ')
    lines.push(`| server | ${header} | s/MiB at ${options.largeSizes.map(fmtBytes).join(', ')} |`)
    lines.push(`|---|${options.largeSizes.map(() => '---|---|').join('')}---|`)
    for (const spec of echoSpecs) {
      const cells: string[] = []
      const perMiB: string[] = []
      for (const size of options.largeSizes) {
        const { values, errors } = successes<LargeResult>(`large:${size}`, spec.id)
        if (values.length === 0) {
          const why =
            spec.maxLarge !== undefined && size > spec.maxLarge.bytes ? 'skipped' : (unavailableCell(spec.id) ?? firstError(errors))
          cells.push(why, '')
          perMiB.push('—')
          continue
        }
        const t = median(values.map((v) => v.seconds))
        const peak = median(values.map((v) => v.peakRssKiB ?? Number.NaN))
        const growth = median(values.map((v) => (v.peakRssKiB ?? Number.NaN) - (v.rssBeforeKiB ?? Number.NaN)))
        cells.push(`${t.toFixed(3)} s`, `${fmtMiB(peak)} (+${fmtMiB(growth)})`)
        perMiB.push((t / (size / MiB)).toFixed(4))
      }
      lines.push(`| ${spec.id} | ${cells.join(' | ')} | ${perMiB.join(', ')} |`)
    }
    lines.push('')
    for (const spec of specs) if (spec.maxLarge !== undefined) lines.push(`\`${spec.id}\`: ${spec.maxLarge.why}.`)
    lines.push('')
  }

  if (options.modes.has('idle')) {
    lines.push('## Idle connections')
    lines.push('')
    const n = successes<IdleResult>('idle', wsId).values[0]?.connections ?? options.idleConnections
    lines.push(
      `${idleNote}${n} connections opened (handshake done, then silent); server RSS (VmRSS) before and after, each read after a ` +
        'full GC (servers run with `--expose-gc -r gc-hook.js`, SIGUSR2 triggers `gc()`), divided by the number of connections. ' +
        'Kernel socket buffers are not part of RSS, so this is the user-space (JS heap + native) cost of a connection. ' +
          'The hook also writes `process.memoryUsage()`, which splits the cost into JS heap (`heapUsed`) and V8-tracked ' +
          'off-heap memory (`external`: Buffers); the rest of the RSS growth is native memory (libuv handles, malloc) and heap slack.',
    )
    lines.push('')
    const settledS = options.idleSettledMs / 1000
    if (options.idleSettledMs > 0) {
      lines.push(
        `Each server is read twice: about 1 s after the last connection opened, and again ${settledS} s after it ("settled"). ` +
          'Every Node server here (the raw TCP echo included) grows V8\'s young generation while 10,000 connections are ' +
          'being opened, and V8 gives that memory back only once its allocation rate, averaged over several seconds, has ' +
          'dropped: the first reading still holds it (empty, but committed), the settled one is what an open idle ' +
          'connection keeps.',
      )
      lines.push('')
    }
    if (specs.some((s) => s.id === 'http-upgrade')) {
      lines.push(
        '`http-upgrade` is a reference, not a WebSocket server: Node\'s `http.Server` answering the handshake with a 101 and ' +
          'then only keeping the socket. It is what a connection costs a server that takes its upgrades from `http.Server` ' +
          '(as ws and gatewire do) before any WebSocket code of its own.',
      )
      lines.push('')
    }
    if (specs.some((s) => s.id === 'net-upgrade')) {
      lines.push(
        '`net-upgrade` is the same reference without Node\'s HTTP parser: a `net.Server` that finds `Sec-WebSocket-Key` in ' +
          'the request head, answers 101 and keeps the socket. Nothing per connection but Node\'s `net.Socket`, its libuv ' +
          'handle and two shared listeners: the least any Node WebSocket server pays, however it takes the handshake.',
      )
      lines.push('')
    }
    const settledHead = options.idleSettledMs > 0 ? ` settled (${settledS} s) | × ws settled | JS heap settled |` : ''
    const settledRule = options.idleSettledMs > 0 ? '---|---|---|' : ''
    lines.push(`| server | KiB per connection (RSS, 1 s) | × ws | of which JS heap | of which external (Buffers) | RSS before | RSS after |${settledHead}`)
    lines.push(`|---|---|---|---|---|---|---|${settledRule}`)
    const wsIdle = idleMedian(wsId, 'first')
    const wsSettled = idleMedian(wsId, 'settled')
    for (const spec of specs) {
      const { values, errors } = successes<IdleResult>('idle', spec.id)
      if (values.length === 0) {
        lines.push(`| ${spec.id} | ${unavailableCell(spec.id) ?? firstError(errors)} | | | | | |`)
        continue
      }
      const k = median(values.map((v) => v.kibPerConnection))
      const kib = (f: (v: IdleResult) => number | undefined): string => {
        const m = median(values.map((v) => f(v) ?? Number.NaN))
        return Number.isFinite(m) ? `${m.toFixed(2)} KiB` : 'n/a'
      }
      const settled = median(values.map((v) => v.kibPerConnectionSettled ?? Number.NaN))
      const settledCells =
        options.idleSettledMs > 0
          ? ` ${kib((v) => v.kibPerConnectionSettled)} | ${Number.isFinite(settled) ? fmtRatio(settled / wsSettled) : 'n/a'} | ${kib((v) => v.heapKiBPerConnectionSettled)} |`
          : ''
      lines.push(
        `| ${spec.id} | ${k.toFixed(2)} KiB | ${fmtRatio(k / wsIdle)} | ${kib((v) => v.heapKiBPerConnection)} | ${kib((v) => v.externalKiBPerConnection)} | ` +
          `${fmtMiB(median(values.map((v) => v.rssBeforeKiB)))} | ${fmtMiB(median(values.map((v) => v.rssAfterKiB)))} |${settledCells}`,
      )
    }
    lines.push('')
  }
  return lines.join('\n')
}

function largeCell(spec: ServerSpec, size: number): string {
  if (!options.modes.has('large') || !options.largeSizes.includes(size)) return '—'
  if (spec.maxLarge !== undefined && size > spec.maxLarge.bytes) return 'skipped (see below)'
  const { values, errors } = successes<LargeResult>(`large:${size}`, spec.id)
  if (values.length === 0) return unavailableCell(spec.id) ?? firstError(errors)
  return `${median(values.map((v) => v.seconds)).toFixed(3)} s, ${fmtMiB(median(values.map((v) => v.peakRssKiB ?? Number.NaN)))} peak`
}

function idleCell(spec: ServerSpec): string {
  if (!options.modes.has('idle')) return '—'
  const { values, errors } = successes<IdleResult>('idle', spec.id)
  if (values.length === 0) return unavailableCell(spec.id) ?? firstError(errors)
  const settled = median(values.map((v) => v.kibPerConnectionSettled ?? Number.NaN))
  const after = `${median(values.map((v) => v.kibPerConnection)).toFixed(1)} KiB/conn`
  return Number.isFinite(settled) ? `${after} (settled ${settled.toFixed(1)})` : after
}

/** Issue 5's targets, checked against this run's medians where both sides were measured. */
function targets(): string[] {
  const lines = ['## Issue 5 targets in this run', '', '| target | measured | verdict |', '|---|---|---|']
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? 'met' : '**not met**')
  /** "measured ≤ reference", with results within 3% of each other called a tie. */
  const atMost = (measured: number, reference: number): string => {
    if (!Number.isFinite(measured) || !Number.isFinite(reference)) return verdict(undefined)
    if (Math.abs(measured - reference) <= 0.03 * Math.abs(reference)) return measured <= reference ? 'met' : 'tie (within 3%)'
    return verdict(measured <= reference)
  }
  const perCpu = (col: string, id: string): number => aggregateThroughput(`throughput:${col}`, id).perCpu
  /** The ratio as measured, and the same ratio within each repetition (see pairedRatios). */
  const ratioCell = (r: number, col: string, id: string, reference: string): string => {
    if (!Number.isFinite(r)) return 'n/a'
    const pairs = pairedRatios(`throughput:${col}`, id, reference)
    return pairs.length > 1 ? `${fmtRatio(r)}× (per repetition ${pairs.map(fmtRatio).join(' / ')})` : `${fmtRatio(r)}×`
  }
  for (const [col, min, label] of [
    ['16-x50', 0.3, '16 B ×50'],
    ['1k-x50', 0.7, '1 KiB ×50'],
    ['64k-x50', 0.8, '64 KiB ×50'],
  ] as const) {
    const r = perCpu(col, 'gatewire') / perCpu(col, ceilingId)
    lines.push(`| core ≥ ${min}× ceiling at ${label} | ${ratioCell(r, col, 'gatewire', ceilingId)} | ${verdict(Number.isFinite(r) ? r >= min : undefined)} |`)
  }
  for (const [col, label] of [
    ['16-x50', '16 B ×50'],
    ['1k-x50', '1 KiB ×50'],
    ['64k-x50', '64 KiB ×50'],
  ] as const) {
    const r = perCpu(col, 'gatewire-framework') / perCpu(col, 'gatewire')
    lines.push(`| framework ≥ 0.90× core at ${label} | ${ratioCell(r, col, 'gatewire-framework', 'gatewire')} | ${verdict(Number.isFinite(r) ? r >= 0.9 : undefined)} |`)
  }
  const big = 64 * MiB
  const lt = (id: string): LargeResult[] => successes<LargeResult>(`large:${big}`, id).values
  const gwTime = median(lt('gatewire').map((v) => v.seconds))
  const wsTime = median(lt(wsId).map((v) => v.seconds))
  const gwRss = median(lt('gatewire').map((v) => v.peakRssKiB ?? Number.NaN))
  const wsRss = median(lt(wsId).map((v) => v.peakRssKiB ?? Number.NaN))
  const growth = (v: LargeResult): number => (v.peakRssKiB ?? Number.NaN) - (v.rssBeforeKiB ?? Number.NaN)
  const gwGrowth = median(lt('gatewire').map(growth))
  const wsGrowth = median(lt(wsId).map(growth))
  const both = (a: number, b: number): boolean => Number.isFinite(a) && Number.isFinite(b)
  lines.push(
    `| 64 MiB echo no slower than ws | ${both(gwTime, wsTime) ? `${gwTime.toFixed(3)} s vs ${wsTime.toFixed(3)} s` : 'n/a'} | ${atMost(gwTime, wsTime)} |`,
  )
  lines.push(
    `| 64 MiB peak RSS ≤ ws | ${both(gwRss, wsRss) ? `${fmtMiB(gwRss)} vs ${fmtMiB(wsRss)}` : 'n/a'} | ${atMost(gwRss, wsRss)} |`,
  )
  lines.push(
    `| 64 MiB peak RSS growth ≤ ws (baseline excluded) | ${both(gwGrowth, wsGrowth) ? `+${fmtMiB(gwGrowth)} vs +${fmtMiB(wsGrowth)}` : 'n/a'} | ${atMost(gwGrowth, wsGrowth)} |`,
  )
  const idleKiB = idleMedian('gatewire', 'first')
  const idleN = successes<IdleResult>('idle', 'gatewire').values[0]?.connections
  const idleVerdict =
    !Number.isFinite(idleKiB) ? verdict(undefined) : (idleN ?? 0) < 10_000 ? 'needs 10,000 connections (fixed costs dominate below)' : verdict(idleKiB <= 4)
  // The same reading for Node answering the handshake and nothing else (http.Server, net.Server).
  const floors = (reading: 'first' | 'settled', show: (kib: number) => string): string =>
    (
      [
        ['http-upgrade', "Node's `http` upgrade alone"],
        ['net-upgrade', '`net` handshake alone'],
      ] as const
    )
      .map(([id, name]) => [name, idleMedian(id, reading)] as const)
      .filter(([, kib]) => Number.isFinite(kib))
      .map(([name, kib]) => `; ${name}: ${show(kib)}`)
      .join('')
  const floor = floors('first', (kib) => `${kib.toFixed(2)} KiB`)
  lines.push(
    `| ≤ 4 KiB per idle connection (at 10,000), read 1 s after opening | ${Number.isFinite(idleKiB) ? `${idleKiB.toFixed(2)} KiB at ${String(idleN)}${floor}` : 'n/a'} | ${idleVerdict} |`,
  )
  if (options.idleSettledMs > 0) {
    const settledKiB = idleMedian('gatewire', 'settled')
    const wsSettledKiB = idleMedian(wsId, 'settled')
    const settledVerdict = !Number.isFinite(settledKiB)
      ? verdict(undefined)
      : (idleN ?? 0) < 10_000
        ? 'needs 10,000 connections (fixed costs dominate below)'
        : verdict(settledKiB <= 4)
    lines.push(
      `| ≤ 4 KiB per idle connection (at 10,000), settled (${options.idleSettledMs / 1000} s) | ` +
        `${Number.isFinite(settledKiB) ? `${settledKiB.toFixed(2)} KiB (ws ${Number.isFinite(wsSettledKiB) ? wsSettledKiB.toFixed(2) : 'n/a'})` : 'n/a'} | ${settledVerdict} |`,
    )
    const half = Number.isFinite(settledKiB) && Number.isFinite(wsSettledKiB) ? settledKiB <= wsSettledKiB / 2 : undefined
    const floorSettled = Number.isFinite(wsSettledKiB) ? floors('settled', (kib) => `${(kib / wsSettledKiB).toFixed(2)}× ws`) : ''
    lines.push(
      `| idle memory half of ws's, settled | ${half === undefined ? 'n/a' : `${(settledKiB / wsSettledKiB).toFixed(2)}× ws${floorSettled}`} | ${verdict(half)} |`,
    )
  }
  for (const [key, name] of [
    ['latency', 'closed loop'],
    ['latency-paced', 'paced'],
  ] as const) {
    const p99 = (id: string): number => median(successes<ThroughputResult>(key, id).values.map((v) => v.latencyMs?.p99 ?? Number.NaN))
    const gwP99 = p99('gatewire')
    const wsP99 = p99(wsId)
    lines.push(
      `| p99 latency ×50 ≤ ws (${name}) | ${both(gwP99, wsP99) ? `${gwP99.toFixed(3)} ms vs ${wsP99.toFixed(3)} ms` : 'n/a'} | ${atMost(gwP99, wsP99)} |`,
    )
  }
  lines.push('', 'Latency and the 64 MiB figures move with machine noise from run to run; a verdict near the line is a tie, not a result.', '')
  return lines
}

// ---------------------------------------------------------------------------------------------

async function runMicro(): Promise<void> {
  const child = spawnNode([join(DIST, 'bench/micro.js'), ...(quick ? ['--quick'] : [])], 0, {})
  child.stdout?.pipe(process.stdout)
  child.stderr?.pipe(process.stderr)
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
  process.exitCode = code ?? 1
}

async function main(): Promise<void> {
  useBenchDeps()
  if (cli.micro === true) return runMicro()
  if (cli.fanout === true) {
    // Its own module and options (bench/fanout.ts); only --quick, --no-pin and --no-save carry over.
    const args = ['--quick', '--no-pin', '--no-save'].filter((flag) => process.argv.includes(flag))
    const code = spawnSync(process.execPath, [join(DIST, 'bench/fanout.js'), ...args], { stdio: 'inherit' }).status
    process.exitCode = code ?? 1
    return
  }
  const problems = selfTest()
  if (problems.length > 0) throw new Error(`the load generator's codec fails its self-test:\n${problems.join('\n')}`)
  const startedAt = new Date()
  const specs = SERVERS.filter((s) => options.serverFilter === undefined || options.serverFilter.has(s.id))
  log(
    `bench: ${options.quick ? 'quick' : 'full'} run, ${options.reps} rep(s), modes ${[...options.modes].join(', ')}, ` +
      `servers ${specs.map((s) => s.id).join(', ')}; pinning ${options.pin ? 'on' : 'off'}`,
  )
  for (const spec of specs) {
    if (!existsSync(spec.script)) notAvailable.set(spec.id, `${spec.script.slice(ROOT.length + 1)} does not exist (not built yet?)`)
  }
  const echoSpecs = specs.filter((s) => s.idleOnly !== true)
  if (options.modes.has('throughput') || options.modes.has('latency')) {
    log('throughput / latency')
    await throughputAndLatency(echoSpecs)
  }
  if (options.modes.has('large')) {
    log('large messages')
    await largeMessages(echoSpecs)
  }
  if (options.modes.has('idle')) {
    log('idle connections')
    await idleConnections(specs)
  }
  if (options.profileDir !== undefined && existsSync(options.profileDir)) {
    for (const file of readdirSync(options.profileDir).filter((f) => f.endsWith('.cpuprofile'))) {
      process.stderr.write(`\n${summariseProfile(join(options.profileDir, file), 20)}\n`)
    }
    log(`profiles in ${options.profileDir.slice(ROOT.length + 1)} (open in Chrome DevTools or summarise with dist/bench/profile-summary.js)`)
  }
  // permessage-deflate: its own module, own servers (bench/compression.ts).
  const deflate = options.modes.has('compression') ? `\n${await compressionBench({ quick: options.quick, pin: options.pin })}` : ''
  const markdown = report(specs, startedAt, (Date.now() - startedAt.getTime()) / 1000) + deflate
  process.stdout.write(`\n${markdown}\n`)
  // Profiled runs carry the profiler's overhead: never saved as results.
  if (cli['no-save'] !== true && options.profileDir === undefined) {
    const dir = join(ROOT, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    const stamp = startedAt.toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')
    const file = join(dir, `${stamp}-${options.quick ? 'quick' : 'full'}.md`)
    writeFileSync(file, `${markdown}\n`)
    // A smoke run does not replace the latest full results.
    const latest = options.quick ? 'latest-quick.md' : 'latest.md'
    writeFileSync(join(dir, latest), `${markdown}\n`)
    log(`saved ${file.slice(ROOT.length + 1)} and bench/results/${latest}`)
  }
}

main().then(
  () => killAll(),
  (error: unknown) => {
    killAll()
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 1
  },
)
