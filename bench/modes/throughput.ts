import { readFileSync } from 'node:fs'
import { MALLOC_ENV } from '../lib/proc'
import { fmtBytes, fmtCount, fmtInt, fmtRatio, firstError, pct, unavailableCell } from '../run/format'
import type { Mode } from '../run/modes'
import { options } from '../run/options'
import { baseArgs } from '../run/processes'
import { aggregateThroughput } from '../run/samples'
import { ceilingId, wsId, type ServerSpec } from '../run/servers'
import { alternate, type AlternateConfig } from './alternate'

// Pipelined echo: each connection keeps a window of messages in flight and the figure is
// messages echoed per server CPU-second.

export interface ThroughputConfig {
  key: string
  title: string
  size: number
  kind: 'text' | 'binary'
  connections: number
  /** Messages in flight per connection; default: windowFor(size). */
  window?: number
}

export const THROUGHPUT: ThroughputConfig[] = [
  { key: '16-x1', title: '16 B text ×1', size: 16, kind: 'text', connections: 1 },
  { key: '16-x50', title: '16 B text ×50', size: 16, kind: 'text', connections: 50 },
  { key: '1k-x1', title: '1 KiB text ×1', size: 1024, kind: 'text', connections: 1 },
  { key: '1k-x50', title: '1 KiB text ×50', size: 1024, kind: 'text', connections: 50 },
  { key: '64k-x1', title: '64 KiB binary ×1', size: 65536, kind: 'binary', connections: 1 },
  { key: '64k-x50', title: '64 KiB binary ×50', size: 65536, kind: 'binary', connections: 50 },
  { key: '64k-text-x50', title: '64 KiB text ×50', size: 65536, kind: 'text', connections: 50 },
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
 * see bench/README.md, "Windows"). The window mode measures deeper windows on purpose.
 */
export const IN_FLIGHT_BYTES = inFlightBudget()

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
export function windowFor(size: number): number {
  if (options.window !== undefined) return options.window
  // 14: the largest frame header (a masked client frame with a 64-bit length), so the frames fit.
  return Math.max(2, Math.min(1000, Math.floor(IN_FLIGHT_BYTES / (size + 14))))
}

function windowOf(config: ThroughputConfig): number {
  return config.window ?? windowFor(config.size)
}

/** The configuration as the alternating runner takes it. */
export function throughputRun(c: ThroughputConfig): AlternateConfig {
  return {
    key: `throughput:${c.key}`,
    title: c.title,
    timeout: options.warmup + options.duration + 30,
    args: (s) => [
      ...baseArgs(s),
      '--mode', 'throughput',
      '--connections', String(c.connections),
      '--size', String(c.size),
      '--kind', c.kind,
      '--window', String(windowOf(c)),
      '--warmup', String(options.warmup),
      '--duration', String(options.duration),
    ],
  }
}

/** One configuration's table: every server's rate, its ratios and the run's CPU and TCP figures. */
export function throughputTable(config: ThroughputConfig, specs: ServerSpec[]): string[] {
  const key = `throughput:${config.key}`
  const ceiling = aggregateThroughput(key, ceilingId).perCpu
  const ws = aggregateThroughput(key, wsId).perCpu
  const lines = [`### ${config.title} (window ${windowOf(config)})`, '']
  lines.push('| server | msgs / server CPU-s | × ceiling | × ws | msgs/s (wall) | server CPU | gen CPU | others | runs | KiB/read | 0-win / retr |')
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|')
  for (const spec of specs) {
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
  return lines
}

function selected(): ThroughputConfig[] {
  return THROUGHPUT.filter((t) => options.configs === undefined || options.configs.has(t.key))
}

export const throughputMode: Mode = {
  name: 'throughput',
  title: 'throughput',
  run: (specs) => alternate(specs, selected().map(throughputRun)),
  section: (specs) => [
    '## Pipelined throughput',
    '',
    `Each connection keeps a window of messages in flight: as many as fit in ${fmtBytes(IN_FLIGHT_BYTES)} ` +
      `(${windowFor(16)} × 16 B, ${windowFor(1024)} × 1 KiB, ${windowFor(65536)} × 64 KiB), and the generator answers each batch of ` +
      'echoes with one write. The budget is the receive window a default TCP socket advertises (half of `net.ipv4.tcp_rmem`, ' +
      'at most 64 KiB, one Node read): more than that in flight parks data behind zero-window advertisements, and the ' +
      'loopback TCP work of sending it later is charged to whichever process reads or acks first, not to the one that wrote it ' +
      '(the window mode measures deeper windows). ' +
      '`server CPU` and `gen CPU`: the share of one core each process used during the window; a generator at ≥ 90% (†) may ' +
      "limit the rate and the server's batches. `others`: the share of the server's core other processes took (noise, from " +
      '/proc/stat). `KiB/read`: bytes per read(2) of the server (/proc/<pid>/io). `0-win / retr`: zero-window ' +
      'advertisements and retransmitted TCP segments per run (median; whole machine, from /proc/net), which should be ~0. ' +
      `Every server here runs with \`GLIBC_TUNABLES=${MALLOC_ENV.GLIBC_TUNABLES}\` (the same for all): glibc's default ` +
      "dynamic trim threshold sometimes returned the heap top to the kernel and faulted it back in on every read (see bench/README.md, 'Windows').",
    '',
    ...selected().flatMap((config) => throughputTable(config, specs)),
  ],
}
