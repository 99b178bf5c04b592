import type { ThroughputResult } from '../load-generator'
import { describe, pct } from '../run/format'
import { options } from '../run/options'
import { essence, runGenerator, startServer, type RunningServer } from '../run/processes'
import { log, notAvailable, othersShare, record } from '../run/samples'
import type { ServerSpec } from '../run/servers'
import { MALLOC_ENV } from '../lib/proc'

/** One load-generator configuration that every server runs in turn, once per repetition. */
export interface AlternateConfig {
  key: string
  title: string
  args: (server: RunningServer) => string[]
  timeout: number
}

/**
 * Runs each configuration on every server, alternating servers A B A B across repetitions. All
 * servers stay up side by side (idle ones cost nothing), so the runs of one repetition are
 * seconds apart. A run during which other processes took much of the server's core is repeated
 * (twice at most) and the least disturbed attempt is kept.
 */
export async function alternate(specs: ServerSpec[], configs: AlternateConfig[]): Promise<void> {
  if (configs.length === 0) return
  const running = new Map<string, RunningServer>()
  for (const spec of specs) {
    if (notAvailable.has(spec.id)) continue
    try {
      running.set(spec.id, await startServer(spec, false, true, MALLOC_ENV))
    } catch (error) {
      notAvailable.set(spec.id, (error as Error).message)
      log(`  ${spec.id}: ${(error as Error).message}`)
    }
  }
  const ensure = async (spec: ServerSpec): Promise<RunningServer | undefined> => {
    const current = running.get(spec.id)
    if (current !== undefined && current.alive()) return current
    if (current !== undefined) log(`  ${spec.id} died (${essence(current.output())}); restarting`)
    try {
      const restarted = await startServer(spec, false, true, MALLOC_ENV)
      running.set(spec.id, restarted)
      return restarted
    } catch {
      return undefined
    }
  }
  try {
    for (const config of configs) {
      for (let rep = 0; rep < options.reps; rep++) {
        for (const spec of specs) {
          if (!running.has(spec.id)) continue
          const server = await ensure(spec)
          if (server === undefined) {
            record(config.key, spec.id, { ok: false, error: 'server could not be restarted' })
            continue
          }
          let outcome = await runGenerator<ThroughputResult>(config.args(server), config.timeout)
          for (let retry = 0; retry < 2 && outcome.ok && othersShare(outcome.value) > options.maxNoise; retry++) {
            log(`  ${config.title.padEnd(42)} rep ${rep + 1} ${spec.id.padEnd(19)} others took ${pct(othersShare(outcome.value))} of the server core; again`)
            const again = await runGenerator<ThroughputResult>(config.args(server), config.timeout)
            if (again.ok && othersShare(again.value) < othersShare(outcome.value)) outcome = again
          }
          record(config.key, spec.id, outcome)
          log(`  ${config.title.padEnd(42)} rep ${rep + 1} ${spec.id.padEnd(19)} ${describe(outcome)}`)
        }
      }
    }
  } finally {
    for (const server of running.values()) await server.stop()
  }
}
