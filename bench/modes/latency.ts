import type { ThroughputResult } from '../load-generator'
import { fmtCount, fmtRatio, firstError, pct, unavailableCell } from '../run/format'
import type { Mode } from '../run/modes'
import { options } from '../run/options'
import { baseArgs } from '../run/processes'
import { aggregateThroughput, median, successes } from '../run/samples'
import { uwsId, wsId } from '../run/servers'
import { alternate, type AlternateConfig } from './alternate'

// Round-trip latency of 16 B text echoes, one message in flight per connection.

export const LATENCY_CONNECTIONS = 50
/** The paced latency run: each connection sends one message every this many ms (50 conns: 10k msg/s). */
export const PACED_INTERVAL_MS = 5

interface LatencyConfig {
  key: string
  name: string
  connections: number
  intervalMs?: number
}

/** Sample keys: `latency` (closed loop ×50), `latency-x1` (closed loop ×1), `latency-paced` (×50). */
export const LATENCY: LatencyConfig[] = [
  { key: 'latency', name: `closed loop ×${LATENCY_CONNECTIONS}`, connections: LATENCY_CONNECTIONS },
  { key: 'latency-x1', name: 'closed loop ×1', connections: 1 },
  { key: 'latency-paced', name: `paced ×${LATENCY_CONNECTIONS}`, connections: LATENCY_CONNECTIONS, intervalMs: PACED_INTERVAL_MS },
]

function latencyRun(c: LatencyConfig): AlternateConfig {
  return {
    key: c.key,
    title: `latency, 16 B text, ${c.name}`,
    timeout: options.warmup + options.duration + 30,
    args: (s) => [
      ...baseArgs(s),
      '--mode', 'latency',
      '--connections', String(c.connections),
      '--size', '16',
      '--kind', 'text',
      ...(c.intervalMs !== undefined ? ['--interval', String(c.intervalMs)] : []),
      '--warmup', String(options.warmup),
      '--duration', String(options.duration),
    ],
  }
}

type Percentile = 'p99' | 'p999'

/** The median over runs of one latency percentile, in ms. */
export function latencyMedian(key: string, serverId: string, p: Percentile): number {
  return median(successes<ThroughputResult>(key, serverId).values.map((v) => v.latencyMs?.[p] ?? Number.NaN))
}

export const latencyMode: Mode = {
  name: 'latency',
  title: 'latency',
  run: (specs) => alternate(specs, LATENCY.map(latencyRun)),
  section: (specs) => {
    const lines = [`## Latency (16 B text, one message in flight per connection)`, '']
    lines.push(
      'Round-trip time of every echo in the window, measured in the generator with `process.hrtime.bigint()`; medians over runs. ' +
        '*Closed loop*: each connection sends its next message as soon as the echo is back, so both processes run flat out and ' +
        'the figures include queueing in the generator too. *Paced*: each connection sends one message every ' +
        `${PACED_INTERVAL_MS} ms (${(LATENCY_CONNECTIONS * 1000) / PACED_INTERVAL_MS} msg/s in all), far below saturation: ` +
        'the latency a server adds when it is not busy (batching must not hold a reply back).',
    )
    lines.push('')
    lines.push('| server | run | p50 | p90 | p99 | p99.9 | max | msgs/s | × ws p99 | × uWS p99 | server CPU | gen CPU | others |')
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for (const { key, name } of LATENCY) {
      const wsP99 = latencyMedian(key, wsId, 'p99')
      const uwsP99 = latencyMedian(key, uwsId, 'p99')
      for (const spec of specs) {
        const { values, errors } = successes<ThroughputResult>(key, spec.id)
        if (values.length === 0) {
          lines.push(`| ${spec.id} | ${name} | ${unavailableCell(spec.id) ?? firstError(errors)} | | | | | | | | | | |`)
          continue
        }
        const m = (f: (v: NonNullable<ThroughputResult['latencyMs']>) => number): number =>
          median(values.map((v) => (v.latencyMs !== undefined ? f(v.latencyMs) : Number.NaN)))
        const a = aggregateThroughput(key, spec.id)
        lines.push(
          `| ${spec.id} | ${name} | ${m((l) => l.p50).toFixed(3)} ms | ${m((l) => l.p90).toFixed(3)} ms | ${m((l) => l.p99).toFixed(3)} ms | ` +
            `${m((l) => l.p999).toFixed(3)} ms | ${m((l) => l.max).toFixed(2)} ms | ${fmtCount(a.rate)} | ${fmtRatio(m((l) => l.p99) / wsP99)} | ` +
            `${fmtRatio(m((l) => l.p99) / uwsP99)} | ${pct(a.serverCpu)} | ${pct(a.generatorCpu)} | ${pct(a.others)} |`,
        )
      }
    }
    lines.push('')
    return lines
  },
}
