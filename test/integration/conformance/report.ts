// Plain-text reports: one row per case, and the counts per verdict.
import type { CaseResult, Verdict } from './case-run'

export type Counts = Record<Verdict, number>

export function count(results: readonly CaseResult[]): Counts {
  const counts: Counts = { OK: 0, 'NON-STRICT': 0, FAILED: 0, INFORMATIONAL: 0 }
  for (const result of results) counts[result.verdict]++
  return counts
}

export function formatCounts(side: string, results: readonly CaseResult[]): string {
  const c = count(results)
  return `${side}: ${results.length} cases — OK ${c.OK}, NON-STRICT ${c['NON-STRICT']}, FAILED ${c.FAILED}, INFORMATIONAL ${c.INFORMATIONAL}`
}

/** The table: case, verdict, Autobahn's two columns, time, detail (shortened unless `wide`). */
export function formatTable(results: readonly CaseResult[], wide = false): string {
  const rows = results.map((r) => [
    r.id,
    r.verdict,
    `${r.behavior}/${r.behaviorClose}`,
    `${r.durationMs} ms`,
    wide || r.verdict === 'FAILED' || r.verdict === 'NON-STRICT' ? r.detail : shorten(r.detail, 90),
  ])
  const header = ['case', 'result', 'behavior/close', 'time', 'detail']
  const widths = header.map((h, i) => (i === 4 ? 0 : Math.max(h.length, ...rows.map((row) => row[i].length))))
  const line = (cells: string[]): string => cells.map((cell, i) => (i === 4 ? cell : cell.padEnd(widths[i]))).join('  ')
  return [line(header), line(widths.map((w) => '-'.repeat(Math.max(w, 6)))), ...rows.map(line)].join('\n')
}

/** Failing cases as "id: detail" lines, for assertion messages. */
export function listProblems(results: readonly CaseResult[], accept: (result: CaseResult) => boolean): string {
  return results
    .filter((result) => !accept(result))
    .map((result) => `  ${result.id} ${result.verdict}: ${result.detail}${result.strictNotes.length ? ` [strict: ${result.strictNotes.join('; ')}]` : ''}`)
    .join('\n')
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
