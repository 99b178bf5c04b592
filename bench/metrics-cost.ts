// The cost of counting: `npm run bench -- --metrics-cost` runs the core and framework echo
// servers with metrics on (the default) and off (`--metrics off`), alternating A B A B in the
// same run, throughput mode only, and reports each echo's ratio on/off. Target: ≥ 0.97.
import { join } from 'node:path'

/** What run.ts needs to start a server (its ServerSpec). */
interface MetricsCostServer {
  id: string
  label: string
  protocol: 'ws'
  script: string
  args: string[]
  env: Record<string, string | undefined>
}

const PAIRS = [
  { on: 'gatewire', off: 'gatewire-metrics-off', label: 'core echo' },
  { on: 'gatewire-framework', off: 'gatewire-framework-metrics-off', label: 'framework echo' },
] as const

/** The target of the metrics issue: echo with metrics on at least this share of echo without. */
export const METRICS_COST_TARGET = 0.97

/** The two echo servers again, with `--metrics off`. */
export function metricsOffServers(dist: string): MetricsCostServer[] {
  return [
    { id: 'gatewire-metrics-off', label: 'gatewire core, metrics off', protocol: 'ws', script: join(dist, 'test/fixtures/echo-server.js'), args: ['--metrics', 'off'], env: {} },
    {
      id: 'gatewire-framework-metrics-off',
      label: 'gatewire framework, metrics off',
      protocol: 'ws',
      script: join(dist, 'test/fixtures/echo-framework.js'),
      args: ['--metrics', 'off'],
      env: {},
    },
  ]
}

/** The servers a --metrics-cost run measures. */
export const METRICS_COST_SERVER_IDS = PAIRS.flatMap((p) => [p.on, p.off])

/**
 * The report's table: for each throughput configuration and pair, the medians of messages per
 * server CPU-second with metrics on and off, their ratio, and the ratio of each repetition.
 * `perRep(config, server)` gives a server's values in repetition order.
 */
export function metricsCostLines(
  configs: readonly { key: string; title: string }[],
  perRep: (configKey: string, serverId: string) => number[],
  median: (values: number[]) => number,
): string[] {
  const lines = [
    '## Cost of metrics',
    '',
    `Messages echoed per server CPU-second with metrics on and off (\`--metrics off\`), same run, servers alternating; target on/off ≥ ${METRICS_COST_TARGET}.`,
    '',
    '| configuration | echo | metrics on | metrics off | on/off (per repetition) | verdict |',
    '|---|---|---|---|---|---|',
  ]
  for (const config of configs) {
    for (const pair of PAIRS) {
      const on = perRep(config.key, pair.on)
      const off = perRep(config.key, pair.off)
      if (on.length === 0 || off.length === 0) {
        lines.push(`| ${config.title} | ${pair.label} | ${on.length} runs | ${off.length} runs | n/a | not measured |`)
        continue
      }
      const ratio = median(on) / median(off)
      const reps = on.slice(0, off.length).map((v, i) => (v / off[i]).toFixed(3)).join(' / ')
      const verdict = ratio >= METRICS_COST_TARGET ? 'met' : '**not met**'
      lines.push(`| ${config.title} | ${pair.label} | ${fmt(median(on))} | ${fmt(median(off))} | ${ratio.toFixed(3)} (${reps}) | ${verdict} |`)
    }
  }
  lines.push('')
  return lines
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0)
}
