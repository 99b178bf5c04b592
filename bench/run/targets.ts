import type { IdleResult, LargeResult, ThroughputResult } from '../load-generator'
import { latencyMedian } from '../modes/latency'
import { windowConfigs } from '../modes/window'
import { fmtRatio } from './format'
import { MiB, options } from './options'
import { aggregateThroughput, idleMedian, median, pairedRatios, perRepetition, successes } from './samples'
import { ceilingId, coreId, frameworkId, uwsId, wsId } from './servers'

// Issue 21's targets, each with the verdict of the medians and one verdict per repetition
// (the runs of one repetition are seconds apart, so a pair is the fairest single comparison).

interface TargetRow {
  target: string
  /** The figure the verdict rests on (ratio of medians, or a difference of medians). */
  value: number
  /** The same figure within each repetition. */
  reps: number[]
  ok: (v: number) => boolean
  show: (v: number) => string
  /** Shown after the median figure, e.g. the two sides it was computed from. */
  detail?: string
  /** Why a verdict would mislead in this run (e.g. too few idle connections). */
  caveat?: string
}

const verdictOf = (row: TargetRow, v: number): string => (!Number.isFinite(v) ? 'not measured' : row.ok(v) ? 'met' : '**not met**')

function rowLine(row: TargetRow): string {
  const measured = Number.isFinite(row.value) ? `${row.show(row.value)}${row.detail !== undefined ? ` (${row.detail})` : ''}` : 'n/a'
  const finite = row.reps.filter(Number.isFinite)
  const perRep = finite.length === 0 ? '—' : row.reps.map((v) => `${Number.isFinite(v) ? row.show(v) : 'n/a'} ${verdictOf(row, v)}`).join(' / ')
  const count = finite.length > 1 ? `; met in ${finite.filter(row.ok).length} of ${finite.length}` : ''
  const verdict = row.caveat !== undefined && Number.isFinite(row.value) ? `${verdictOf(row, row.value)} (${row.caveat})` : verdictOf(row, row.value)
  return `| ${row.target} | ${measured} | ${perRep}${count} | ${verdict} |`
}

const ms = (v: number): string => `${v.toFixed(3)} ms`
const kib = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)} KiB`
const times = (v: number): string => `${fmtRatio(v)}×`

/** A throughput ratio of two servers in one configuration, at least `min`. */
function throughputRow(target: string, config: string, id: string, reference: string, min: number): TargetRow {
  const key = `throughput:${config}`
  return {
    target,
    value: aggregateThroughput(key, id).perCpu / aggregateThroughput(key, reference).perCpu,
    reps: pairedRatios(key, id, reference),
    ok: (v) => v >= min,
    show: times,
  }
}

function throughputRows(): TargetRow[] {
  const rows: TargetRow[] = [
    throughputRow('core ≥ 0.80× ceiling, 16 B text ×50', '16-x50', coreId, ceilingId, 0.8),
    throughputRow('core ≥ 0.85× ceiling, 1 KiB text ×50', '1k-x50', coreId, ceilingId, 0.85),
    throughputRow('core ≥ 0.85× ceiling, 64 KiB text ×50 (default window)', '64k-text-x50', coreId, ceilingId, 0.85),
    throughputRow('core ≥ 0.85× ceiling, 64 KiB binary ×50 (default window)', '64k-x50', coreId, ceilingId, 0.85),
  ]
  if (options.modes.has('window')) {
    for (const c of windowConfigs()) rows.push(throughputRow(`core ≥ 0.85× ceiling, ${c.title}`, c.key, coreId, ceilingId, 0.85))
  }
  for (const [config, label] of [
    ['16-x50', '16 B text ×50'],
    ['1k-x50', '1 KiB text ×50'],
    ['64k-text-x50', '64 KiB text ×50'],
    ['64k-x50', '64 KiB binary ×50'],
  ] as const) {
    rows.push(throughputRow(`framework ≥ 0.95× core, ${label}`, config, frameworkId, coreId, 0.95))
  }
  return rows
}

function largeRows(): TargetRow[] {
  const big = 64 * MiB
  const key = `large:${big}`
  const values = (id: string): LargeResult[] => successes<LargeResult>(key, id).values
  const time = (id: string): number => median(values(id).map((v) => v.seconds))
  const peak = (id: string): number => median(values(id).map((v) => v.peakRssKiB ?? Number.NaN))
  const mib = (k: number): string => `${(k / 1024).toFixed(0)} MiB`
  const rows: TargetRow[] = [
    {
      target: '64 MiB binary echo ≤ 1.2× uWebSockets.js time',
      value: time(coreId) / time(uwsId),
      reps: perRepetition<LargeResult>(key, coreId, uwsId, (a, b) => a.seconds / b.seconds),
      ok: (v) => v <= 1.2,
      show: times,
      detail: `${time(coreId).toFixed(3)} s vs ${time(uwsId).toFixed(3)} s`,
    },
    {
      target: '64 MiB binary echo: peak RSS ≤ ws',
      value: peak(coreId) / peak(wsId),
      reps: perRepetition<LargeResult>(key, coreId, wsId, (a, b) => (a.peakRssKiB ?? Number.NaN) / (b.peakRssKiB ?? Number.NaN)),
      ok: (v) => v <= 1,
      show: times,
      detail: `${mib(peak(coreId))} vs ${mib(peak(wsId))}`,
    },
  ]
  // Linear from 1 to 64 MiB: seconds per MiB at the largest size no more than 1.25× the
  // smallest size's (which carries the fixed costs, so a linear echo reads below 1).
  const smallest = options.largeSizes[0]
  const largest = options.largeSizes[options.largeSizes.length - 1]
  const perMiB = (v: LargeResult): number => v.seconds / (v.bytes / MiB)
  const small = successes<LargeResult>(`large:${smallest}`, coreId).values
  const large = successes<LargeResult>(`large:${largest}`, coreId).values
  rows.push({
    target: `large binary echo linear: s/MiB at ${largest / MiB} MiB ≤ 1.25× at ${smallest / MiB} MiB`,
    value: median(large.map(perMiB)) / median(small.map(perMiB)),
    reps: large.map((v, i) => (small[i] !== undefined ? perMiB(v) / perMiB(small[i]) : Number.NaN)),
    ok: (v) => v <= 1.25,
    show: times,
  })
  return rows
}

function idleRows(): TargetRow[] {
  const n = successes<IdleResult>('idle', coreId).values[0]?.connections ?? 0
  const caveat = n < 10_000 ? `at ${n} connections, indicative: the target is stated at 10,000` : undefined
  const rows: TargetRow[] = []
  const readings = options.idleSettledMs > 0 ? (['first', 'settled'] as const) : (['first'] as const)
  for (const reading of readings) {
    const when = reading === 'first' ? `read ${options.idleSettleMs / 1000} s after opening` : `settled (${options.idleSettledMs / 1000} s)`
    const pick = (v: IdleResult): number => (reading === 'first' ? v.kibPerConnection : (v.kibPerConnectionSettled ?? Number.NaN))
    for (const [id, name] of [
      [coreId, 'core'],
      [frameworkId, 'framework'],
    ] as const) {
      rows.push({
        target: `idle ${name} ≤ net-upgrade + 0.5 KiB per connection, ${when}`,
        value: idleMedian(id, reading) - idleMedian('net-upgrade', reading),
        reps: perRepetition<IdleResult>('idle', id, 'net-upgrade', (a, b) => pick(a) - pick(b)),
        ok: (v) => v <= 0.5,
        show: kib,
        detail: `${idleMedian(id, reading).toFixed(2)} vs ${idleMedian('net-upgrade', reading).toFixed(2)} KiB`,
        caveat,
      })
    }
  }
  return rows
}

function latencyRows(): TargetRow[] {
  const rows: TargetRow[] = []
  for (const [key, name] of [
    ['latency', '×50'],
    ['latency-x1', '×1'],
  ] as const) {
    for (const [p, label] of [
      ['p99', 'p99'],
      ['p999', 'p99.9'],
    ] as const) {
      const pick = (v: ThroughputResult): number => v.latencyMs?.[p] ?? Number.NaN
      const core = latencyMedian(key, coreId, p)
      const uws = latencyMedian(key, uwsId, p)
      rows.push({
        target: `${label} 16 B closed loop ${name} ≤ uWebSockets.js`,
        value: core / uws,
        reps: perRepetition<ThroughputResult>(key, coreId, uwsId, (a, b) => pick(a) / pick(b)),
        ok: (v) => v <= 1,
        show: times,
        detail: `${ms(core)} vs ${ms(uws)}`,
      })
    }
  }
  return rows
}

/** The report's target table: every issue 21 target whose mode ran. */
export function targets(): string[] {
  const rows: TargetRow[] = []
  if (options.modes.has('throughput') || options.modes.has('window')) rows.push(...throughputRows())
  if (options.modes.has('large')) rows.push(...largeRows())
  if (options.modes.has('idle')) rows.push(...idleRows())
  if (options.modes.has('latency')) rows.push(...latencyRows())
  return [
    '## Issue 21 targets in this run',
    '',
    'Each figure is the ratio (or difference) of the medians, then the same figure within each repetition, with its verdict. ' +
      'The verdict column rests on the medians.',
    '',
    '| target | measured (medians) | per repetition | verdict |',
    '|---|---|---|---|',
    ...rows.map(rowLine),
    '',
    'Latency and the 64 MiB figures move with machine noise from run to run; a verdict near the line is a tie, not a result.',
    '',
  ]
}
