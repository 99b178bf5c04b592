import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IdleResult } from '../load-generator'
import { describe, firstError, fmtMiB, fmtRatio, unavailableCell } from '../run/format'
import type { Mode } from '../run/modes'
import { options } from '../run/options'
import { baseArgs, runGenerator, startServer, type RunningServer } from '../run/processes'
import { idleMedian, log, median, notAvailable, record, successes } from '../run/samples'
import { wsId, type ServerSpec } from '../run/servers'

// Idle connections: what an open, silent connection costs a server in RSS.

function hardFdLimit(): number {
  const out = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()
  return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out) || 1024
}

let idleNote = ''

async function idleConnections(specs: ServerSpec[]): Promise<void> {
  let connections = options.idleConnections
  const limit = hardFdLimit()
  if (connections + 200 > limit) {
    idleNote = `reduced from ${connections} to ${limit - 200} connections: the hard descriptor limit (ulimit -Hn) is ${limit}. `
    connections = limit - 200
  }
  for (let rep = 0; rep < options.reps; rep++) {
    for (const spec of specs) {
      if (notAvailable.has(spec.id)) continue
      let server: RunningServer
      const memoryFile = join(tmpdir(), `gatewire-bench-memory-${process.pid}-${spec.id}-${rep}.json`)
      try {
        server = await startServer(spec, true, false, { BENCH_MEMORY_FILE: memoryFile })
      } catch (error) {
        notAvailable.set(spec.id, (error as Error).message)
        continue
      }
      try {
        const outcome = await runGenerator<IdleResult>(
          [
            ...baseArgs(server),
            '--mode', 'idle',
            '--connections', String(connections),
            '--gc-signal',
            '--settle', String(options.idleSettleMs),
            '--settled', String(options.idleSettledMs),
            '--memory-file', memoryFile,
          ],
          // Two settle waits (each settle + 70%) and the settled reading on top of opening the connections.
          120 + (4 * options.idleSettleMs + 2 * options.idleSettledMs) / 1000,
        )
        record('idle', spec.id, outcome)
        log(`  idle ${connections} rep ${rep + 1} ${spec.id.padEnd(19)} ${describe(outcome)}`)
      } finally {
        await server.stop()
        rmSync(memoryFile, { force: true })
      }
    }
  }
}

/** The summary's cell: KiB per connection at the first reading, and settled. */
export function idleCell(spec: ServerSpec): string {
  if (!options.modes.has('idle')) return '—'
  const { values, errors } = successes<IdleResult>('idle', spec.id)
  if (values.length === 0) return unavailableCell(spec.id) ?? firstError(errors)
  const settled = median(values.map((v) => v.kibPerConnectionSettled ?? Number.NaN))
  const after = `${median(values.map((v) => v.kibPerConnection)).toFixed(1)} KiB/conn`
  return Number.isFinite(settled) ? `${after} (settled ${settled.toFixed(1)})` : after
}

export const idleMode: Mode = {
  name: 'idle',
  title: 'idle connections',
  withIdleReferences: true,
  run: idleConnections,
  section: (specs) => {
    const lines: string[] = []
    lines.push('## Idle connections')
    lines.push('')
    const n = successes<IdleResult>('idle', wsId).values[0]?.connections ?? options.idleConnections
    lines.push(
      `${idleNote}${n} connections opened (handshake done, then silent); server RSS (VmRSS) before and after, each read after a ` +
        'full GC (servers run with `--expose-gc -r gc-hook.js`, SIGUSR2 triggers `gc()`), divided by the number of connections. ' +
        'Kernel socket buffers are not part of RSS, so this is the user-space (JS heap + native) cost of a connection. ' +
          'The hook also writes `process.memoryUsage()`, which splits the cost into JS heap (`heapUsed`) and V8-tracked ' +
          'off-heap memory (`external`: Buffers); the rest of the RSS growth is native memory (libuv handles, malloc) and heap slack.',
    )
    lines.push('')
    const settledS = options.idleSettledMs / 1000
    if (options.idleSettledMs > 0) {
      lines.push(
        `Each server is read twice: about 1 s after the last connection opened, and again ${settledS} s after it ("settled"). ` +
          'Every Node server here (the raw TCP echo included) grows V8\'s young generation while 10,000 connections are ' +
          'being opened, and V8 gives that memory back only once its allocation rate, averaged over several seconds, has ' +
          'dropped: the first reading still holds it (empty, but committed), the settled one is what an open idle ' +
          'connection keeps.',
      )
      lines.push('')
    }
    if (specs.some((s) => s.id === 'http-upgrade')) {
      lines.push(
        '`http-upgrade` is a reference, not a WebSocket server: Node\'s `http.Server` answering the handshake with a 101 and ' +
          'then only keeping the socket. It is what a connection costs a server that takes its upgrades from `http.Server` ' +
          '(as ws and gatewire do) before any WebSocket code of its own.',
      )
      lines.push('')
    }
    if (specs.some((s) => s.id === 'net-upgrade')) {
      lines.push(
        '`net-upgrade` is the same reference without Node\'s HTTP parser: a `net.Server` that finds `Sec-WebSocket-Key` in ' +
          'the request head, answers 101 and keeps the socket. Nothing per connection but Node\'s `net.Socket`, its libuv ' +
          'handle and two shared listeners: the least any Node WebSocket server pays, however it takes the handshake.',
      )
      lines.push('')
    }
    const settledHead = options.idleSettledMs > 0 ? ` settled (${settledS} s) | × ws settled | JS heap settled |` : ''
    const settledRule = options.idleSettledMs > 0 ? '---|---|---|' : ''
    lines.push(`| server | KiB per connection (RSS, 1 s) | × ws | of which JS heap | of which external (Buffers) | RSS before | RSS after |${settledHead}`)
    lines.push(`|---|---|---|---|---|---|---|${settledRule}`)
    const wsIdle = idleMedian(wsId, 'first')
    const wsSettled = idleMedian(wsId, 'settled')
    for (const spec of specs) {
      const { values, errors } = successes<IdleResult>('idle', spec.id)
      if (values.length === 0) {
        lines.push(`| ${spec.id} | ${unavailableCell(spec.id) ?? firstError(errors)} | | | | | |`)
        continue
      }
      const k = median(values.map((v) => v.kibPerConnection))
      const kib = (f: (v: IdleResult) => number | undefined): string => {
        const m = median(values.map((v) => f(v) ?? Number.NaN))
        return Number.isFinite(m) ? `${m.toFixed(2)} KiB` : 'n/a'
      }
      const settled = median(values.map((v) => v.kibPerConnectionSettled ?? Number.NaN))
      const settledCells =
        options.idleSettledMs > 0
          ? ` ${kib((v) => v.kibPerConnectionSettled)} | ${Number.isFinite(settled) ? fmtRatio(settled / wsSettled) : 'n/a'} | ${kib((v) => v.heapKiBPerConnectionSettled)} |`
          : ''
      lines.push(
        `| ${spec.id} | ${k.toFixed(2)} KiB | ${fmtRatio(k / wsIdle)} | ${kib((v) => v.heapKiBPerConnection)} | ${kib((v) => v.externalKiBPerConnection)} | ` +
          `${fmtMiB(median(values.map((v) => v.rssBeforeKiB)))} | ${fmtMiB(median(values.map((v) => v.rssAfterKiB)))} |${settledCells}`,
      )
    }
    lines.push('')
    return lines
  },
}
