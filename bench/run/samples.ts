import type { GeneratorResult, IdleResult, ThroughputResult } from '../load-generator'
import type { Outcome } from './processes'

// What a run measured: every outcome by configuration and server, and the medians, ratios and
// per-repetition pairs the report and the target table are made of.

/** samples[configKey][serverId] = outcomes, one per repetition. */
export const samples = new Map<string, Map<string, Outcome<GeneratorResult>[]>>()
/** Servers that could not be started, with the reason. */
export const notAvailable = new Map<string, string>()

export function record(configKey: string, serverId: string, outcome: Outcome<GeneratorResult>): void {
  let byServer = samples.get(configKey)
  if (byServer === undefined) samples.set(configKey, (byServer = new Map()))
  const list = byServer.get(serverId) ?? []
  list.push(outcome)
  byServer.set(serverId, list)
}

export function log(message: string): void {
  process.stderr.write(`${message}\n`)
}

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (finite.length === 0) return Number.NaN
  const mid = finite.length >> 1
  return finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2
}

export function successes<T extends GeneratorResult>(configKey: string, serverId: string): { values: T[]; errors: string[] } {
  const list = samples.get(configKey)?.get(serverId) ?? []
  const values: T[] = []
  const errors: string[] = []
  for (const o of list) {
    if (o.ok) values.push(o.value as T)
    else errors.push(o.error)
  }
  return { values, errors }
}

/** The median of one idle-mode reading (the 1 s one, or the settled one) for a server. */
export function idleMedian(serverId: string, reading: 'first' | 'settled'): number {
  const values = successes<IdleResult>('idle', serverId).values
  return median(values.map((v) => (reading === 'first' ? v.kibPerConnection : (v.kibPerConnectionSettled ?? Number.NaN))))
}

export interface Aggregate {
  rate: number
  perCpu: number
  serverCpu: number
  generatorCpu: number
  /** Share of the server's core (of the machine when not pinned) other processes used. */
  others: number
  /** Bytes per read(2) the server made, in KiB (from /proc/<pid>/io). */
  serverReadKiB: number
  /** Zero-window advertisements and retransmitted segments per run (whole network namespace). */
  zeroWindows: number
  retransmits: number
  unexpected: number
  n: number
  errors: string[]
}

export function aggregateThroughput(configKey: string, serverId: string): Aggregate {
  const { values, errors } = successes<ThroughputResult>(configKey, serverId)
  return {
    rate: median(values.map((v) => v.messagesPerSecond)),
    perCpu: median(values.map((v) => v.messagesPerServerCpuSecond)),
    serverCpu: median(values.map((v) => v.serverCpuSeconds / v.seconds)),
    generatorCpu: median(values.map((v) => v.generatorCpuSeconds / v.seconds)),
    others: median(values.map((v) => othersShare(v))),
    serverReadKiB: median(values.map((v) => (v.serverIo !== undefined && v.serverIo.reads > 0 ? v.serverIo.readBytes / v.serverIo.reads / 1024 : Number.NaN))),
    zeroWindows: median(values.map((v) => v.tcp?.zeroWindowAdvertised ?? Number.NaN)),
    retransmits: median(values.map((v) => v.tcp?.retransmittedSegments ?? Number.NaN)),
    unexpected: values.reduce((sum, v) => sum + v.unexpected, 0),
    n: values.length,
    errors,
  }
}

/** Messages per server CPU-second of two servers, divided within each repetition (see perRepetition). */
export function pairedRatios(configKey: string, serverId: string, referenceId: string): number[] {
  return perRepetition<ThroughputResult>(configKey, serverId, referenceId, (a, b) => a.messagesPerServerCpuSecond / b.messagesPerServerCpuSecond).filter(Number.isFinite)
}

export function othersShare(v: ThroughputResult): number {
  const o = v.othersCpuSeconds
  return (o.serverCore ?? o.machine) / v.seconds
}

/**
 * One figure per repetition, from two servers' outcomes of the same repetition (seconds apart,
 * so slow drifts of the machine cancel out of each pair); empty when their counts differ.
 */
export function perRepetition<T extends GeneratorResult>(configKey: string, serverId: string, referenceId: string, f: (a: T, b: T) => number): number[] {
  const a = samples.get(configKey)?.get(serverId) ?? []
  const b = samples.get(configKey)?.get(referenceId) ?? []
  if (a.length !== b.length) return []
  const values: number[] = []
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    values.push(x.ok && y.ok ? f(x.value as T, y.value as T) : Number.NaN)
  }
  return values
}

/** The figure `f` of each of a server's outcomes, in repetition order (NaN for a failed one). */
export function eachRepetition<T extends GeneratorResult>(configKey: string, serverId: string, f: (a: T) => number): number[] {
  return (samples.get(configKey)?.get(serverId) ?? []).map((o) => (o.ok ? f(o.value as T) : Number.NaN))
}
