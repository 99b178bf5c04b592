import { spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { METRICS_COST_SERVER_IDS } from '../metrics-cost'

// The runner's command line, parsed once: every module of the runner reads `options`.

/** The checkout (this file runs from dist/bench/run/). */
export const ROOT = resolve(__dirname, '..', '..', '..')
export const DIST = join(ROOT, 'dist')
export const MiB = 1024 * 1024

export const USAGE = `usage: npm run bench [-- options]   (or: node dist/bench/run.js [options])

  --quick              smoke run: 1 repetition, the x50 throughput configurations, short windows
  --micro              codec micro-benchmarks instead (see bench/micro.ts)
  --fanout             the pub/sub fan-out benchmark instead (bench/fanout.ts; its options: npm run bench:fanout -- -h)
  --metrics-cost       echo with metrics on vs off, throughput only (see bench/metrics-cost.ts)
  --reps N             repetitions per server (default 3, 1 with --quick)
  --warmup S           seconds of load before each measured window (default 1)
  --duration S         seconds measured per run (default 2.5)
  --modes LIST         throughput,window,latency,large,idle,compression (default all)
  --servers LIST       e.g. raw-batched,ws,gatewire (default all)
  --configs LIST       throughput configurations, e.g. 16-x50,1k-x1,64k-text-x50 (default all)
  --window N           messages in flight per connection (default: 64 KiB worth)
  --windows LIST       the window mode's sweep at 64 KiB, text and binary (default 2,16,64)
  --idle N             idle connections to open (default 10000, 1000 with --quick)
  --idle-settle MS     wait after the last connection opens before the first reading (default 1000)
  --idle-settled MS    the second reading, this long after the last connection opened (default 15000; 0: none)
  --max-noise F        repeat a run when other processes took more than F of the server's core (default 0.2)
  --profile            run the servers under --cpu-prof (profiles in bench/profiles/, never saved as results)
  --no-pin             do not pin server and generator to cores with taskset
  --no-save            print the report without writing bench/results/
  -h, --help           this text
`

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n\n${USAGE}`)
  process.exit(2)
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
      windows: { type: 'string' },
      configs: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'max-noise': { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'no-save': { type: 'boolean', default: false },
    },
    strict: true,
  })
}

function parseCli(): ReturnType<typeof parseRunnerArgs> {
  try {
    return parseRunnerArgs()
  } catch (error) {
    return fail((error as Error).message)
  }
}

export const { values: cli } = parseCli()
if (cli.help === true) {
  process.stdout.write(USAGE)
  process.exit(0)
}

function checkedNumber(name: string, raw: unknown, min: number): number {
  const value = Number(raw)
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || value < min) {
    return fail(`--${name} needs a number of at least ${min}, got ${JSON.stringify(raw)}`)
  }
  return value
}

/** A numeric option's value, or `fallback` when it is absent; anything but a number ≥ min stops the run. */
function numberOption(name: keyof typeof cli, fallback: number, min = 0): number {
  const raw = cli[name]
  return raw === undefined ? fallback : checkedNumber(name, raw, min)
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0
}

/** The modes a run can select with --modes, in the order they run (see bench/run/modes.ts). */
export const MODE_NAMES = ['throughput', 'window', 'latency', 'large', 'idle', 'compression'] as const
export type ModeName = (typeof MODE_NAMES)[number]

function modeList(raw: string | undefined): Set<ModeName> {
  if (raw === undefined) return new Set(MODE_NAMES)
  const names = raw.split(',').filter((m) => m !== '')
  const unknown = names.filter((m) => !(MODE_NAMES as readonly string[]).includes(m))
  if (unknown.length > 0) fail(`unknown mode(s) ${unknown.join(', ')}; the modes are ${MODE_NAMES.join(', ')}`)
  return new Set(names as ModeName[])
}

const quick = cli.quick === true

export const options = {
  quick,
  reps: numberOption('reps', quick ? 1 : 3, 1),
  warmup: numberOption('warmup', quick ? 0.25 : 1),
  duration: numberOption('duration', quick ? 0.5 : 2.5, 0.1),
  modes: modeList(cli.modes),
  serverFilter: cli.servers !== undefined ? new Set(cli.servers.split(',')) : undefined,
  idleConnections: numberOption('idle', quick ? 1000 : 10_000, 1),
  /** The first idle reading, this long after the last connection opened. */
  idleSettleMs: numberOption('idle-settle', quick ? 300 : 1000),
  /** The second idle reading, this long after the last connection opened (0: none). */
  idleSettledMs: numberOption('idle-settled', quick ? 0 : 15_000),
  largeSizes: quick ? [1 * MiB, 16 * MiB] : [1 * MiB, 16 * MiB, 64 * MiB],
  pin: cli['no-pin'] !== true && hasTaskset(),
  window: cli.window !== undefined ? numberOption('window', 0, 1) : undefined,
  /** The window mode's sweep: messages in flight per connection at 64 KiB. */
  windows: cli.windows !== undefined ? cli.windows.split(',').map((w) => checkedNumber('windows', w, 1)) : [2, 16, 64],
  /** Repeat a throughput/latency run when other processes took more than this share of the server's core. */
  maxNoise: numberOption('max-noise', 0.2),
  /** Throughput configurations to run (keys such as 16-x50), default all. */
  configs: cli.configs !== undefined ? new Set(cli.configs.split(',')) : quick ? new Set(['16-x50', '1k-x50', '64k-x50', '64k-text-x50']) : undefined,
  /** Run throughput/latency servers under `--cpu-prof`; profiles go to bench/profiles/<stamp>/. */
  profileDir: cli.profile === true ? join(ROOT, 'bench', 'profiles', new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')) : undefined,
  save: cli['no-save'] !== true,
}

if (cli['metrics-cost'] === true) Object.assign(options, { modes: new Set(['throughput']), serverFilter: new Set(METRICS_COST_SERVER_IDS) })
