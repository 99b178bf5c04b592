import type { GeneratorResult } from '../load-generator'
import { MiB } from './options'
import type { Outcome } from './processes'
import { notAvailable } from './samples'

// How the report writes numbers and the cells of servers that gave none.

export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return 'n/a'
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`
  return n.toFixed(0)
}
export function fmtRatio(n: number): string {
  if (!Number.isFinite(n)) return 'n/a'
  return n >= 10 ? n.toFixed(0) : n >= 0.1 ? n.toFixed(2) : n.toFixed(3)
}
export function pct(n: number): string {
  return Number.isFinite(n) ? `${Math.round(n * 100)}%` : 'n/a'
}
export function fmtBytes(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`
}
export function fmtInt(n: number): string {
  return Number.isFinite(n) ? String(Math.round(n)) : 'n/a'
}
export function fmtMiB(kib: number | undefined): string {
  return kib === undefined || !Number.isFinite(kib) ? 'n/a' : `${(kib / 1024).toFixed(0)} MiB`
}

export function unavailableCell(serverId: string): string | undefined {
  return notAvailable.has(serverId) ? 'not available' : undefined
}

export function firstError(errors: string[]): string {
  return errors.length > 0 ? `failed: ${errors[0].replace(/\|/g, '/').slice(0, 80)}` : 'not measured'
}

export function describe(outcome: Outcome<GeneratorResult>): string {
  if (!outcome.ok) return `FAILED: ${outcome.error}`
  const r = outcome.value
  if (r.mode === 'large') return `${r.seconds.toFixed(3)} s, peak RSS ${fmtMiB(r.peakRssKiB)}`
  if (r.mode === 'idle') return `${r.kibPerConnection.toFixed(2)} KiB/conn (${r.connections} conns)`
  {
    const lat = r.latencyMs !== undefined ? ` p50 ${r.latencyMs.p50.toFixed(2)} ms p99 ${r.latencyMs.p99.toFixed(2)} ms` : ''
    const tcp = r.tcp !== undefined && r.mode === 'throughput' ? `, 0-win ${r.tcp.zeroWindowAdvertised}, retr ${r.tcp.retransmittedSegments}` : ''
    return `${fmtCount(r.messagesPerServerCpuSecond)}/server-CPU-s (${fmtCount(r.messagesPerSecond)}/s, server ${pct(r.serverCpuSeconds / r.seconds)}, gen ${pct(r.generatorCpuSeconds / r.seconds)}${tcp})${lat}`
  }
}
