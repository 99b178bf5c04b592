import type { Mode } from '../run/modes'
import { options } from '../run/options'
import { ceilingId, coreId, frameworkId, uwsId, type ServerSpec } from '../run/servers'
import { alternate } from './alternate'
import { throughputRun, throughputTable, type ThroughputConfig } from './throughput'

// The --window sweep at 64 KiB, text and binary, ×50: issue 21's targets hold at the project's
// window and at deeper pipelines, where an independent harness (16 × 64 KiB in flight) found
// gatewire further behind uWebSockets.js than the project's own window showed.

/** Servers the sweep runs: the ceiling, the two the targets compare, and the framework. */
const WINDOW_SERVERS = [ceilingId, coreId, frameworkId, uwsId]

/** One configuration per window and kind; keys such as `64k-text-x50-w16`. */
export function windowConfigs(): ThroughputConfig[] {
  return options.windows.flatMap((window) =>
    (['text', 'binary'] as const).map((kind) => ({
      key: `64k${kind === 'text' ? '-text' : ''}-x50-w${window}`,
      title: `64 KiB ${kind} ×50, window ${window}`,
      size: 65536,
      kind,
      connections: 50,
      window,
    })),
  )
}

function sweepServers(specs: ServerSpec[]): ServerSpec[] {
  return specs.filter((s) => WINDOW_SERVERS.includes(s.id))
}

export const windowMode: Mode = {
  name: 'window',
  title: 'window sweep at 64 KiB',
  run: (specs) => alternate(sweepServers(specs), windowConfigs().map(throughputRun)),
  section: (specs) => [
    `## Window sweep at 64 KiB (${options.windows.join(', ')} messages in flight per connection)`,
    '',
    'The same pipelined echo with deeper windows than the default budget, text and binary. Above 64 KiB in flight the ' +
      "kernel's flow control moves loopback TCP work between the processes (see the throughput section), so these " +
      'figures carry more noise; the targets hold for them all the same.',
    '',
    ...windowConfigs().flatMap((config) => throughputTable({ ...config, title: config.title.replace(/, window \d+$/, '') }, sweepServers(specs))),
  ],
}
