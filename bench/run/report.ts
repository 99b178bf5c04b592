import { cpus, loadavg, release, totalmem } from 'node:os'
import type { ThroughputResult } from '../load-generator'
import { idleCell } from '../modes/idle'
import { largeCell } from '../modes/large'
import { LATENCY, latencyMedian } from '../modes/latency'
import { THROUGHPUT } from '../modes/throughput'
import { metricsCostLines } from '../metrics-cost'
import { fmtCount, fmtRatio, firstError, pct, unavailableCell } from './format'
import { MODES } from './modes'
import { cli, MiB, options } from './options'
import { aggregateThroughput, median, notAvailable, othersShare, samples, successes } from './samples'
import { ceilingId, UNAVAILABLE, type ServerSpec } from './servers'
import { targets } from './targets'

// The markdown report: the machine and the run, a summary, the target table, then one section
// per mode that ran.

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

export function report(specs: ServerSpec[], startedAt: Date, elapsedSeconds: number): string {
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

  // Summary in the shape of issue 21's table.
  const summaryCols = ['16-x50', '1k-x50', '64k-text-x50', '64k-x50']
  const largest = options.largeSizes[options.largeSizes.length - 1]
  lines.push('## Summary')
  lines.push('')
  lines.push(
    `| server | 16 B ×50 | 1 KiB ×50 | 64 KiB text ×50 | 64 KiB binary ×50 | one ${largest / MiB} MiB message | p99 latency 16 B (closed loop ×50 / ×1 / paced ×50) | idle memory |`,
  )
  lines.push('|---|---|---|---|---|---|---|---|')
  for (const spec of specs) {
    if (spec.idleOnly === true) {
      lines.push(`| ${spec.label} | — | — | — | — | — | — | ${idleCell(spec)} |`)
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
    cells.push(largeCell(spec, largest))
    if (options.modes.has('latency')) {
      const runs = LATENCY.map(({ key }) => successes<ThroughputResult>(key, spec.id))
      const p99 = (key: string): string => {
        const v = latencyMedian(key, spec.id, 'p99')
        return Number.isFinite(v) ? `${v.toFixed(2)} ms` : 'n/a'
      }
      cells.push(
        runs.some((r) => r.values.length > 0)
          ? LATENCY.map(({ key }) => p99(key)).join(' / ')
          : (unavailableCell(spec.id) ?? firstError(runs[0].errors)),
      )
    } else cells.push('—')
    cells.push(idleCell(spec))
    lines.push(`| ${spec.label} | ${cells.join(' | ')} |`)
  }
  for (const u of UNAVAILABLE) lines.push(`| ${u.label} | not measured | not measured | not measured | not measured | not measured | not measured | not measured |`)
  lines.push('')
  lines.push('Throughput cells: messages per server CPU-second (ratio to the raw batched ceiling).')
  for (const u of UNAVAILABLE) lines.push(`${u.label}: ${u.why}`)
  for (const [id, why] of notAvailable) lines.push(`\`${id}\`: not available — ${why}`)
  lines.push('')

  lines.push(...targets())
  if (cli['metrics-cost'] === true) {
    const perRep = (key: string, id: string): number[] => successes<ThroughputResult>(`throughput:${key}`, id).values.map((v) => v.messagesPerServerCpuSecond)
    lines.push(...metricsCostLines(THROUGHPUT.filter((t) => options.configs === undefined || options.configs.has(t.key)), perRep, median))
  }
  for (const mode of MODES) {
    if (options.modes.has(mode.name)) lines.push(...mode.section(mode.withIdleReferences === true ? specs : echoSpecs))
  }
  return lines.join('\n')
}
