// Soak test (outside `npm test`): `npm run soak [-- --quick | --duration S --connections N]`.
//
// Starts the soak server (bench/soak/server.ts: the core echo server with 1 MiB messages, a 1 s
// heartbeat, a 2 s handshake timeout, a 1 s close timeout) as a child process on 127.0.0.1:0,
// keeps `--connections` client connections churning against it for `--duration` seconds with
// mixed valid and invalid traffic (bench/soak/scenarios.ts), then checks that every connection
// was released and that memory came back. Prints a markdown report, saves it to
// bench/results/soak-latest.md, and exits 1 when anything leaked or misbehaved.
import { fork, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { stringArg } from './lib/args'
import { processStatusKiB } from './lib/proc'
import * as S from './soak/scenarios'
import { SOAK_SERVER_OPTIONS, type Stats } from './soak/limits'

const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const durationS = Number(stringArg('duration', argv) ?? (quick ? 15 : 60))
const target = Number(stringArg('connections', argv) ?? (quick ? 500 : 2000))
const sampleS = Number(stringArg('sample', argv) ?? (quick ? 2 : 5))
const save = !argv.includes('--no-save')
if (!(durationS > 0) || !(target > 0) || !(sampleS > 0)) {
  console.error('usage: npm run soak -- [--quick] [--duration S] [--connections N] [--sample S] [--no-save]')
  process.exit(2)
}

const MiB = 1024 * 1024
/**
 * Bounds of the leak verdict. Memory is judged three ways, each after a full GC in the server:
 * - the JS heap and external (Buffer) memory must come back to the cold baseline (before any
 *   client): what a leaked connection, timer, listener or buffer would keep;
 * - RSS must not exceed the warm checkpoint (after a GC 40% into the churn, while the
 *   connections target was open) by more than `rssOverWarmMiB`: native memory must not grow
 *   with the number of connections served. (RSS does not fall back to the cold baseline: the
 *   allocator and V8 keep the pages the peak needed — reported, and capped by `rssOverColdMiB`.)
 */
const BOUNDS = {
  heapGrowthMiB: 8,
  externalGrowthMiB: 8,
  rssOverWarmMiB: 32,
  rssOverColdMiB: 160,
  /** Seconds allowed for the server to release every connection after the last client is gone. */
  releaseS: 10,
  /** Share of scenarios that may fail for client-side OS reasons (port exhaustion, SYN timeouts). */
  infraShare: 0.01,
}

interface Weighted {
  scenario: S.Scenario
  weight: number
  /** At most this many at once (bounded hostile peers). */
  cap?: number
}

const MIX: Record<string, Weighted> = {
  'echo-text': { scenario: S.echoText, weight: 16 },
  'echo-binary': { scenario: S.echoBinary, weight: 14 },
  fragmented: { scenario: S.fragmented, weight: 10 },
  ping: { scenario: S.pings, weight: 5 },
  'server-close': { scenario: S.serverClose, weight: 5 },
  'server-terminate': { scenario: S.serverTerminate, weight: 2 },
  'handler-throws': { scenario: S.handlerThrows, weight: 2 },
  'gatewire-client': { scenario: S.gatewireClient, weight: 10 },
  'slow-handshake': { scenario: S.slowHandshake, weight: 2, cap: 100 },
  'abrupt-reset': { scenario: S.abruptReset, weight: 8 },
  'silent-peer': { scenario: S.silentPeer, weight: 1, cap: 50 },
  'flood-no-read': { scenario: S.floodNoRead, weight: 0.5, cap: 4 },
  'bad-utf8': { scenario: S.badUtf8, weight: 4 },
  unmasked: { scenario: S.unmasked, weight: 3 },
  'reserved-opcode': { scenario: S.reservedOpcode, weight: 2 },
  'rsv-bits': { scenario: S.rsvBits, weight: 1.5 },
  'bad-close-code': { scenario: S.badCloseCode, weight: 3 },
  'bad-framing': { scenario: S.badControl, weight: 3 },
  oversize: { scenario: S.oversize, weight: 3, cap: 40 },
  slowloris: { scenario: S.slowloris, weight: 2, cap: 100 },
  'garbage-http': { scenario: S.garbageHttp, weight: 3 },
  'http1.0-upgrade': { scenario: S.http10Upgrade, weight: 0.5 },
  'bad-version': { scenario: S.badVersion, weight: 1 },
  'huge-headers': { scenario: S.hugeHeaders, weight: 1 },
}
/** Hard bound on one scenario (the longest, slowloris, needs ~6.5 s). */
const SCENARIO_TIMEOUT_MS = 20_000

// ---------------------------------------------------------------- the server child

let child: ChildProcess | null = null
let childExit: { code: number | null; signal: string | null; at: number } | null = null
let stopping = false
const childStderr: string[] = []
let nextId = 1
const waiting = new Map<number, (stats: Stats) => void>()

function startServer(): Promise<number> {
  return new Promise((resolve, reject) => {
    const script = path.join(__dirname, 'soak', 'server.js')
    // SOAK_SERVER_NODE_ARGS: extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
    const extra = (process.env.SOAK_SERVER_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '')
    child = fork(script, ['0'], { execArgv: ['--expose-gc', ...extra], stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (text: string) => {
      if (childStderr.length < 200) childStderr.push(...text.split('\n').filter((line) => line !== '').slice(0, 200))
    })
    child.on('message', (message: { type: string; port?: number; id?: number; stats?: Stats }) => {
      if (message.type === 'listening') resolve(message.port!)
      if (message.type === 'stats') {
        waiting.get(message.id!)?.(message.stats!)
        waiting.delete(message.id!)
      }
    })
    child.on('exit', (code, signal) => {
      childExit = { code, signal, at: Date.now() }
      for (const [, resolveStats] of waiting) resolveStats(undefined as unknown as Stats)
      waiting.clear()
      reject(new Error(`soak server exited early (code ${code}, signal ${signal})`))
    })
    setTimeout(() => reject(new Error('soak server did not start within 10 s')), 10_000).unref()
  })
}

function ask(type: 'stats' | 'gc', timeoutMs = 5000): Promise<Stats | null> {
  if (child === null || childExit !== null || !child.connected) return Promise.resolve(null)
  const id = nextId++
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiting.delete(id)
      resolve(null)
    }, timeoutMs)
    waiting.set(id, (stats) => {
      clearTimeout(timer)
      resolve(stats ?? null)
    })
    child!.send({ type, id })
  })
}

/** SIGTERM (graceful: the server closes and exits 0), SIGKILL after 5 s. Resolves with the exit. */
function stopServer(): Promise<{ code: number | null; signal: string | null }> {
  stopping = true
  if (child === null) return Promise.resolve({ code: null, signal: null })
  if (childExit !== null) return Promise.resolve(childExit)
  return new Promise((resolve) => {
    const kill = setTimeout(() => child?.kill('SIGKILL'), 5000)
    child!.once('exit', (code, signal) => {
      clearTimeout(kill)
      resolve({ code, signal })
    })
    child!.kill('SIGTERM')
  })
}

process.on('SIGINT', () => {
  console.error('\nsoak: interrupted; stopping the server')
  child?.kill('SIGKILL')
  process.exit(130)
})
process.on('exit', () => {
  if (child !== null && childExit === null) child.kill('SIGKILL')
})

// ---------------------------------------------------------------- churn

interface KindTally {
  runs: number
  ok: number
  expected: Set<string>
  observed: Map<string, number>
  verified: number
  latencies: number[]
  metricMax: number | null
}

const tallies = new Map<string, KindTally>()
const mismatches: Array<S.Outcome & { at: number; lagMs: number }> = []
const inconclusive: Array<S.Outcome & { at: number; lagMs: number }> = []
let infraFailures = 0
let scenariosRun = 0
let messagesVerified = 0
const running = new Map<string, number>()
const startedAt = Date.now()

function record(result: S.Outcome): void {
  scenariosRun++
  messagesVerified += result.verified
  let tally = tallies.get(result.kind)
  if (tally === undefined) {
    tally = { runs: 0, ok: 0, expected: new Set(), observed: new Map(), verified: 0, latencies: [], metricMax: null }
    tallies.set(result.kind, tally)
  }
  tally.runs++
  tally.expected.add(result.expected)
  tally.verified += result.verified
  tally.observed.set(result.observed, (tally.observed.get(result.observed) ?? 0) + 1)
  if (result.closeLatency !== undefined) tally.latencies.push(result.closeLatency)
  if (result.metric !== undefined) tally.metricMax = Math.max(tally.metricMax ?? 0, result.metric)
  if (result.infra) {
    infraFailures++
    inconclusive.push({ ...result, at: Date.now() - startedAt, lagMs: driverLoop.max / 1e6 })
  }
  if (result.ok) tally.ok++
  else if (!result.infra) mismatches.push({ ...result, at: Date.now() - startedAt, lagMs: driverLoop.max / 1e6 })
}

function choose(): [string, Weighted] {
  const entries = Object.entries(MIX).filter(([kind, w]) => w.cap === undefined || (running.get(kind) ?? 0) < w.cap)
  let total = 0
  for (const [, w] of entries) total += w.weight
  let r = Math.random() * total
  for (const entry of entries) {
    r -= entry[1].weight
    if (r <= 0) return entry
  }
  return entries[entries.length - 1]
}

async function runOne(port: number): Promise<void> {
  const [kind, weighted] = choose()
  running.set(kind, (running.get(kind) ?? 0) + 1)
  let timer: NodeJS.Timeout | undefined
  try {
    const timeout = new Promise<S.Outcome>((resolve) => {
      timer = setTimeout(
        () => resolve({ kind, expected: '(finishes)', observed: `scenario timed out after ${SCENARIO_TIMEOUT_MS} ms`, ok: false, verified: 0 }),
        SCENARIO_TIMEOUT_MS,
      )
    })
    const overflowsBefore = listenOverflows()
    const result = await Promise.race([weighted.scenario({ port }), timeout])
    // Outcomes that only say "too slow" (a slow handshake refused with 408 or closed, a slowloris
    // dropped a little late) while the kernel dropped SYN/ACKs for a full listen queue — the
    // client's bytes then reach the server seconds late — say nothing about the server.
    const timingOnly =
      result.observed.includes('408 Request Timeout') ||
      result.observed.includes('closed during the handshake') ||
      result.observed.startsWith('dropped late')
    if (!result.ok && !result.infra && timingOnly && (listenOverflows() ?? 0) > (overflowsBefore ?? 0)) {
      result.infra = true
      result.detail = `${result.detail ?? ''} [listen-queue overflow during this scenario]`
    }
    // The right close code, measured late by at most how long this process itself just stalled.
    const late = /^closed only after (\d+) ms/.exec(result.detail ?? '')
    if (!result.ok && !result.infra && late !== null && result.observed === result.expected) {
      const stallMs = driverLoop.max / 1e6
      if (Number(late[1]) - S.PROMPT_CLOSE_MS <= stallMs) {
        result.infra = true
        result.detail = `${result.detail} [this client stalled up to ${stallMs.toFixed(0)} ms meanwhile]`
      }
    }
    record(result)
  } catch (error) {
    record({ kind, expected: '(no exception)', observed: `client exception: ${(error as Error).message}`, ok: false, verified: 0 })
  } finally {
    clearTimeout(timer)
    running.set(kind, running.get(kind)! - 1)
  }
}

/** Slots start over this long, so the listen backlog is not hit by thousands of SYNs at once. */
const RAMP_MS = Math.min(10_000, (durationS * 1000) / 6)
/** A slot starts at most one scenario per this many ms (quick scenarios would otherwise dominate the churn). */
const SLOT_PACE_MS = 2000

async function slot(port: number, index: number, deadline: number): Promise<void> {
  await S.sleepFor((index / target) * RAMP_MS)
  while (Date.now() < deadline && !stopping) {
    const started = Date.now()
    await runOne(port)
    const rest = SLOT_PACE_MS * (0.5 + Math.random()) - (Date.now() - started)
    if (rest > 0) await S.sleepFor(Math.min(rest, deadline - Date.now()))
  }
}

// ---------------------------------------------------------------- sampling

const driverLoop = monitorEventLoopDelay({ resolution: 10 })
driverLoop.enable()
let driverLoopWorstMs = 0

interface Sample {
  t: number
  serverLagMs: number | null
  driverLagMs: number
  rssMiB: number | null
  open: number | null
  tcp: number | null
  heapMiB: number | null
  scenarios: number
}
const samples: Sample[] = []

async function sample(pid: number): Promise<void> {
  const rss = processStatusKiB(pid, 'VmRSS')
  const stats = await ask('stats', 3000)
  const driverLagMs = driverLoop.max / 1e6
  driverLoopWorstMs = Math.max(driverLoopWorstMs, driverLagMs)
  driverLoop.reset()
  samples.push({
    t: (Date.now() - startedAt) / 1000,
    serverLagMs: stats?.loopDelayMaxMs ?? null,
    driverLagMs,
    rssMiB: rss === undefined ? null : rss / 1024,
    open: stats?.open ?? null,
    tcp: stats?.tcp ?? null,
    heapMiB: stats === null ? null : stats.memory.heapUsed / MiB,
    scenarios: scenariosRun,
  })
}

// ---------------------------------------------------------------- main

const fmt = (n: number | null | undefined, digits = 1): string => (n === null || n === undefined ? '–' : n.toFixed(digits))

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** Kernel counters of connections dropped because a listen queue was full (whole network namespace). */
function listenOverflows(): number | null {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((line) => line.startsWith('TcpExt:'))
    const names = lines[0].split(/\s+/)
    const values = lines[1].split(/\s+/)
    return Number(values[names.indexOf('ListenOverflows')])
  } catch {
    return null
  }
}

function mem(stats: Stats | null, field: keyof NodeJS.MemoryUsage): string {
  return stats === null ? '–' : (stats.memory[field] / MiB).toFixed(1)
}

function resourcesLine(resources: Record<string, number> | undefined): string {
  if (resources === undefined) return '–'
  return Object.entries(resources)
    .sort()
    .map(([name, n]) => `${name} ${n}`)
    .join(', ')
}

async function main(): Promise<void> {
  console.error(`soak: ${durationS} s, ${target} concurrent connections, sampling every ${sampleS} s`)
  const port = await startServer()
  const pid = child!.pid!
  const baseline = await ask('gc')
  const baselineRss = processStatusKiB(pid, 'VmRSS')! / 1024
  console.error(`soak: server pid ${pid} on 127.0.0.1:${port}; baseline RSS ${baselineRss.toFixed(1)} MiB after GC`)

  const overflowsBefore = listenOverflows()
  const deadline = Date.now() + durationS * 1000
  await sample(pid)
  const sampler = setInterval(() => {
    void sample(pid).then(() => {
      const s = samples[samples.length - 1]
      console.error(
        `soak: t=${s.t.toFixed(0)}s rss=${fmt(s.rssMiB)} MiB open=${s.open ?? '?'} tcp=${s.tcp ?? '?'} lag server/driver=${fmt(s.serverLagMs, 0)}/${fmt(s.driverLagMs, 0)} ms scenarios=${s.scenarios} mismatches=${mismatches.length}`,
      )
    })
  }, sampleS * 1000)
  let warm: Stats | null = null
  let warmRss: number | null = null
  const warmTimer = setTimeout(() => {
    void ask('gc', 10_000).then((stats) => {
      warm = stats
      warmRss = (processStatusKiB(pid, 'VmRSS') ?? NaN) / 1024
      console.error(`soak: warm checkpoint: RSS ${fmt(warmRss)} MiB after GC with ${stats?.open ?? '?'} connections open`)
    })
  }, durationS * 1000 * 0.4)
  const slots = Array.from({ length: target }, (_, i) => slot(port, i, deadline))
  await Promise.all(slots)
  clearTimeout(warmTimer)
  const churnEnded = Date.now()
  const overflowsAfter = listenOverflows()
  const overflows = overflowsBefore === null || overflowsAfter === null ? null : overflowsAfter - overflowsBefore
  clearInterval(sampler)
  await sample(pid)
  const peakRss = processStatusKiB(pid, 'VmHWM')! / 1024

  // Every client is gone: the server must release every connection.
  let afterClients: Stats | null = null
  const releaseDeadline = Date.now() + BOUNDS.releaseS * 1000
  while (Date.now() < releaseDeadline) {
    afterClients = await ask('stats')
    if (afterClients !== null && afterClients.open === 0 && afterClients.tcp === 0) break
    await S.sleepFor(250)
  }
  const releaseMs = Date.now() - churnEnded
  // Let the last timers (close/reject timers, unref'd) run out, then collect.
  await S.sleepFor(1500)
  const final = await ask('gc')
  const finalRss = processStatusKiB(pid, 'VmRSS')
  const crashed = childExit !== null
  const exit = await stopServer()

  // ------------------------------------------------------------ verdict
  const failures: string[] = []
  if (crashed) failures.push(`the server crashed during the run (exit code ${childExit!.code}, signal ${childExit!.signal})`)
  if (afterClients === null || final === null) failures.push('the server stopped answering stats requests')
  if (afterClients !== null && (afterClients.open !== 0 || afterClients.tcp !== 0)) {
    failures.push(`connections not released ${BOUNDS.releaseS} s after the last client: ${afterClients.open} WebSocket, ${afterClients.tcp} TCP`)
  }
  if (final !== null) {
    const sockets = final.resources.TCPSocketWrap ?? 0
    if (sockets !== 0) failures.push(`${sockets} TCP socket handles still open in the server`)
    const timers = (final.resources.Timeout ?? 0) - (baseline?.resources.Timeout ?? 0)
    if (timers > 2) failures.push(`${timers} more timers than at baseline`)
    if (final.doubleCloses !== 0) failures.push(`'close' fired twice on ${final.doubleCloses} connections`)
  }
  const finalRssMiB = finalRss === undefined ? null : finalRss / 1024
  const warmStats = warm as Stats | null
  if (finalRssMiB === null) failures.push('could not read the server RSS after the churn')
  if (finalRssMiB !== null && warmRss !== null && finalRssMiB > warmRss + BOUNDS.rssOverWarmMiB) {
    failures.push(`RSS after the churn (${finalRssMiB.toFixed(1)} MiB) exceeds the warm checkpoint (${fmt(warmRss)} MiB) by more than ${BOUNDS.rssOverWarmMiB} MiB`)
  }
  if (warmRss === null) failures.push('the warm checkpoint was not taken')
  if (finalRssMiB !== null && finalRssMiB > baselineRss + BOUNDS.rssOverColdMiB) {
    failures.push(`RSS after the churn is ${(finalRssMiB - baselineRss).toFixed(1)} MiB above the cold baseline (bound ${BOUNDS.rssOverColdMiB} MiB)`)
  }
  const heapGrowth = final !== null && baseline !== null ? (final.memory.heapUsed - baseline.memory.heapUsed) / MiB : null
  if (heapGrowth !== null && heapGrowth > BOUNDS.heapGrowthMiB) {
    failures.push(`JS heap after the churn and a GC is ${heapGrowth.toFixed(1)} MiB above baseline (bound ${BOUNDS.heapGrowthMiB} MiB)`)
  }
  const externalGrowth = final !== null && baseline !== null ? (final.memory.external - baseline.memory.external) / MiB : null
  if (externalGrowth !== null && externalGrowth > BOUNDS.externalGrowthMiB) {
    failures.push(`external (Buffer) memory after the churn and a GC is ${externalGrowth.toFixed(1)} MiB above baseline (bound ${BOUNDS.externalGrowthMiB} MiB)`)
  }
  if (mismatches.length > 0) failures.push(`${mismatches.length} outcomes differed from what was expected (listed below)`)
  if (infraFailures > BOUNDS.infraShare * scenariosRun) {
    failures.push(`${infraFailures} inconclusive client-side outcomes (over ${BOUNDS.infraShare * 100}% of scenarios)`)
  }
  if (!crashed && exit.code !== 0) failures.push(`graceful shutdown failed: exit code ${exit.code}, signal ${exit.signal}`)
  const pass = failures.length === 0

  // ------------------------------------------------------------ report
  const lines: string[] = []
  const push = (...more: string[]): void => void lines.push(...more)
  push(
    `# gatewire soak test — ${pass ? 'PASS' : 'FAIL'}`,
    '',
    `${new Date().toISOString()} · \`npm run soak${quick ? ' -- --quick' : ''}\` · ${durationS} s · ${target} concurrent connections target · ` +
      `Node ${process.version} · ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? '?'})`,
    '',
    `Server: \`bench/soak/server.ts\` (core echo, own child process, \`--expose-gc\`) with ` +
      Object.entries(SOAK_SERVER_OPTIONS)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') +
      '. Clients: raw `net` peers (bench/soak/raw-peer.ts) and the library\'s `connect()`, all on 127.0.0.1.',
    '',
    '## Totals',
    '',
    '| | |',
    '|---|---|',
    `| scenarios run (one connection or HTTP exchange each) | ${scenariosRun} (${(scenariosRun / ((churnEnded - startedAt) / 1000)).toFixed(0)}/s) |`,
    `| TCP connections accepted by the server | ${final?.accepted ?? '–'} |`,
    `| WebSocket connections served (upgrades) | ${final?.upgraded ?? '–'} |`,
    `| peak open WebSocket connections (sampled) | ${Math.max(0, ...samples.map((s) => s.open ?? 0))} |`,
    `| messages echoed and verified byte for byte (clients) | ${messagesVerified} |`,
    `| messages echoed (server) | ${final?.messagesEchoed ?? '–'} |`,
    `| outcomes not as expected | ${mismatches.length} |`,
    `| inconclusive: client-side failures (connect refused by the OS; timing-only outcomes during a listen-queue overflow or when the client itself was late) | ${infraFailures} (bound ${BOUNDS.infraShare * 100}% of scenarios) |`,
    `| kernel listen-queue overflows during the churn (TcpExtListenOverflows, whole namespace) | ${overflows ?? '–'} |`,
    `| handler exceptions caught by the core | ${final?.listenerErrors ?? '–'} |`,
    '',
    '## Outcomes by kind (observed vs expected)',
    '',
    'Close latency: from the offending bytes to the server closing TCP; for HTTP exchanges (slowloris included), from connecting; for silent-peer, from the upgrade. ' +
      'Intake (flood-no-read): the most a peer that floods and never reads got into the server before the server stopped reading or dropped it (bound 32 MiB: the server pauses reading past 1 MiB of unsent echoes; the rest sits in kernel buffers).',
    '',
    '| kind | runs | expected | observed | ok | verified msgs | close latency p50 / p99 / max ms | intake max MiB |',
    '|---|---:|---|---|---:|---:|---|---:|',
  )
  for (const [kind, t] of [...tallies].sort((a, b) => b[1].runs - a[1].runs)) {
    const observed = [...t.observed]
      .sort((a, b) => b[1] - a[1])
      .map(([o, n]) => `${o} ×${n}`)
      .join('; ')
    const lat = t.latencies.length === 0 ? '' : `${percentile(t.latencies, 50)} / ${percentile(t.latencies, 99)} / ${Math.max(...t.latencies)}`
    push(`| ${kind} | ${t.runs} | ${[...t.expected].sort().join(', ').replace(/\|/g, ' or ')} | ${observed.replace(/\|/g, '/')} | ${t.ok} | ${t.verified} | ${lat} | ${t.metricMax === null ? '' : t.metricMax.toFixed(1)} |`)
  }
  push('', '## Server side: close codes and errors', '')
  const codes = final?.closeCodes ?? {}
  push('| close code (\'close\' event) | count |', '|---|---:|')
  for (const [code, n] of Object.entries(codes).sort()) push(`| ${code} | ${n} |`)
  push('', '| \'error\' events (ProtocolError close code, or error code) | count |', '|---|---:|')
  for (const [code, n] of Object.entries(final?.errors ?? {}).sort()) push(`| ${code} | ${n} |`)
  push(
    '',
    '## Server RSS over time',
    '',
    'Event-loop lag: the largest delay since the previous sample, server and client (driver) process.',
    '',
    '| t (s) | RSS MiB (/proc) | JS heap MiB | open WS | TCP | scenarios so far | max lag server / driver ms |',
    '|---:|---:|---:|---:|---:|---:|---|',
  )
  for (const s of samples) {
    push(`| ${s.t.toFixed(0)} | ${fmt(s.rssMiB)} | ${fmt(s.heapMiB)} | ${s.open ?? '–'} | ${s.tcp ?? '–'} | ${s.scenarios} | ${fmt(s.serverLagMs, 0)} / ${fmt(s.driverLagMs, 0)} |`)
  }
  push(
    '',
    '## After the churn',
    '',
    'All memory figures of the server after a full GC (`--expose-gc`), except the peak.',
    '',
    '| | cold baseline (no client yet) | warm checkpoint (40% into the churn, connections open) | after all clients left | bound |',
    '|---|---:|---:|---:|---|',
    `| RSS MiB (/proc VmRSS) | ${fmt(baselineRss)} | ${fmt(warmRss)} (${warmStats?.open ?? '–'} open) | ${fmt(finalRssMiB)} (peak VmHWM ${fmt(peakRss)}) | ≤ warm + ${BOUNDS.rssOverWarmMiB}, ≤ cold + ${BOUNDS.rssOverColdMiB} |`,
    `| JS heap used MiB | ${mem(baseline, 'heapUsed')} | ${mem(warmStats, 'heapUsed')} | ${mem(final, 'heapUsed')} | ≤ cold + ${BOUNDS.heapGrowthMiB} |`,
    `| JS heap total MiB | ${mem(baseline, 'heapTotal')} | ${mem(warmStats, 'heapTotal')} | ${mem(final, 'heapTotal')} | (reported) |`,
    `| external MiB (of which array buffers) | ${mem(baseline, 'external')} (${mem(baseline, 'arrayBuffers')}) | ${mem(warmStats, 'external')} (${mem(warmStats, 'arrayBuffers')}) | ${mem(final, 'external')} (${mem(final, 'arrayBuffers')}) | ≤ cold + ${BOUNDS.externalGrowthMiB} |`,
    `| open WebSocket / TCP connections | ${baseline?.open ?? '–'} / ${baseline?.tcp ?? '–'} | ${warmStats?.open ?? '–'} / ${warmStats?.tcp ?? '–'} | ${afterClients?.open ?? '–'} / ${afterClients?.tcp ?? '–'} (released ${(releaseMs / 1000).toFixed(1)} s after the last client) | 0 / 0 within ${BOUNDS.releaseS} s |`,
    `| active resources (process.getActiveResourcesInfo) | ${resourcesLine(baseline?.resources)} | | ${resourcesLine(final?.resources)} | no TCPSocketWrap; timers ≤ baseline + 2 |`,
    `| server exit on SIGTERM (graceful close) | | | code ${exit.code}, signal ${exit.signal} | 0 |`,
    '',
    `## Verdict: ${pass ? 'PASS — nothing leaked, every outcome as expected' : 'FAIL'}`,
    '',
  )
  for (const failure of failures) push(`- ${failure}`)
  if (mismatches.length > 0) {
    push('', '### Mismatches (first 40)', '', '| t (s) | kind | expected | observed | detail | client lag ms |', '|---:|---|---|---|---|---:|')
    for (const m of mismatches.slice(0, 40)) {
      push(`| ${(m.at / 1000).toFixed(1)} | ${m.kind} | ${m.expected.replace(/\|/g, ' or ')} | ${m.observed.replace(/\|/g, '/')} | ${(m.detail ?? '').replace(/\|/g, '/')} | ${m.lagMs.toFixed(0)} |`)
    }
  }
  if (inconclusive.length > 0) {
    push('', '### Inconclusive outcomes (first 20; not counted as server faults)', '', '| t (s) | kind | observed | detail | client lag ms |', '|---:|---|---|---|---:|')
    for (const m of inconclusive.slice(0, 20)) {
      push(`| ${(m.at / 1000).toFixed(1)} | ${m.kind} | ${m.observed} | ${(m.detail ?? '').replace(/\|/g, '/')} | ${m.lagMs.toFixed(0)} |`)
    }
  }
  if (childStderr.length > 0) push('', '### Server stderr (first lines)', '', '```', ...childStderr.slice(0, 30), '```')
  const report = lines.join('\n') + '\n'
  process.stdout.write(report)
  if (save) {
    const dir = path.join(__dirname, '..', '..', 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, 'soak-latest.md'), report)
    console.error(`soak: saved ${path.join('bench', 'results', 'soak-latest.md')}`)
  }
  process.exit(pass ? 0 : 1)
}

main().catch((error) => {
  console.error('soak: failed:', error)
  if (childStderr.length > 0) console.error(childStderr.join('\n'))
  child?.kill('SIGKILL')
  process.exit(1)
})
