import type { LargeResult } from '../load-generator'
import { describe, firstError, fmtBytes, fmtMiB, unavailableCell } from '../run/format'
import type { Mode } from '../run/modes'
import { MiB, options } from '../run/options'
import { baseArgs, runGenerator, startServer, type RunningServer } from '../run/processes'
import { log, median, notAvailable, record, successes } from '../run/samples'
import type { ServerSpec } from '../run/servers'

// One large binary message echoed by a fresh server process: time and peak RSS.

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

/** The summary's cell: median time and peak RSS of one size. */
export function largeCell(spec: ServerSpec, size: number): string {
  if (!options.modes.has('large') || !options.largeSizes.includes(size)) return '—'
  if (spec.maxLarge !== undefined && size > spec.maxLarge.bytes) return 'skipped (see below)'
  const { values, errors } = successes<LargeResult>(`large:${size}`, spec.id)
  if (values.length === 0) return unavailableCell(spec.id) ?? firstError(errors)
  return `${median(values.map((v) => v.seconds)).toFixed(3)} s, ${fmtMiB(median(values.map((v) => v.peakRssKiB ?? Number.NaN)))} peak`
}

export const largeMode: Mode = {
  name: 'large',
  title: 'large messages',
  run: largeMessages,
  section: (specs) => {
    const lines: string[] = []
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
    for (const spec of specs) {
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
    return lines
  },
}
