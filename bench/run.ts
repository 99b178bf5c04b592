import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { useBenchDeps } from './lib/bench-deps'
import { summariseProfile } from './profile-summary'
import { MODES } from './run/modes'
import { cli, DIST, ROOT, options } from './run/options'
import { killAll, spawnNode } from './run/processes'
import { report } from './run/report'
import { log, notAvailable } from './run/samples'
import { SERVERS } from './run/servers'
import { selfTest } from './selftest'

// The benchmark runner (`npm run bench`, `npm run bench -- --quick`). It starts every echo
// server as its own Node process pinned to core 0, drives each with the same load generator
// pinned to core 1, alternates servers A B A B across repetitions, takes medians, and writes
// a markdown report to bench/results/. The parts live in bench/run/ (options, servers,
// processes, samples, report, targets) and bench/modes/ (one module per mode, listed in
// bench/run/modes.ts).

async function runMicro(): Promise<void> {
  const child = spawnNode([join(DIST, 'bench/micro.js'), ...(options.quick ? ['--quick'] : [])], 0, {})
  child.stdout?.pipe(process.stdout)
  child.stderr?.pipe(process.stderr)
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
  process.exitCode = code ?? 1
}

function printProfiles(dir: string): void {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    process.stderr.write(`\n${summariseProfile(join(dir, file), 20)}\n`)
  }
  log(`profiles in ${dir.slice(ROOT.length + 1)} (open in Chrome DevTools or summarise with dist/bench/profile-summary.js)`)
}

function save(markdown: string, startedAt: Date): void {
  const dir = join(ROOT, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const stamp = startedAt.toISOString().replace(/[:]/g, '-').replace(/\..*$/, '')
  const file = join(dir, `${stamp}-${options.quick ? 'quick' : 'full'}.md`)
  writeFileSync(file, `${markdown}\n`)
  // A smoke run does not replace the latest full results.
  const latest = options.quick ? 'latest-quick.md' : 'latest.md'
  writeFileSync(join(dir, latest), `${markdown}\n`)
  log(`saved ${file.slice(ROOT.length + 1)} and bench/results/${latest}`)
}

async function main(): Promise<void> {
  useBenchDeps()
  if (cli.micro === true) return runMicro()
  if (cli.fanout === true) {
    // Its own module and options (bench/fanout.ts); only --quick, --no-pin and --no-save carry over.
    const args = ['--quick', '--no-pin', '--no-save'].filter((flag) => process.argv.includes(flag))
    const code = spawnSync(process.execPath, [join(DIST, 'bench/fanout.js'), ...args], { stdio: 'inherit' }).status
    process.exitCode = code ?? 1
    return
  }
  const problems = selfTest()
  if (problems.length > 0) throw new Error(`the load generator's codec fails its self-test:\n${problems.join('\n')}`)
  const startedAt = new Date()
  const specs = SERVERS.filter((s) => options.serverFilter === undefined || options.serverFilter.has(s.id))
  log(
    `bench: ${options.quick ? 'quick' : 'full'} run, ${options.reps} rep(s), modes ${[...options.modes].join(', ')}, ` +
      `servers ${specs.map((s) => s.id).join(', ')}; pinning ${options.pin ? 'on' : 'off'}`,
  )
  for (const spec of specs) {
    if (!existsSync(spec.script)) notAvailable.set(spec.id, `${spec.script.slice(ROOT.length + 1)} does not exist (not built yet?)`)
  }
  const echoSpecs = specs.filter((s) => s.idleOnly !== true)
  for (const mode of MODES) {
    if (!options.modes.has(mode.name)) continue
    log(mode.title)
    await mode.run(mode.withIdleReferences === true ? specs : echoSpecs)
  }
  if (options.profileDir !== undefined && existsSync(options.profileDir)) printProfiles(options.profileDir)
  const markdown = report(specs, startedAt, (Date.now() - startedAt.getTime()) / 1000)
  process.stdout.write(`\n${markdown}\n`)
  // Profiled runs carry the profiler's overhead: never saved as results.
  if (options.save && options.profileDir === undefined) save(markdown, startedAt)
}

main().then(
  () => killAll(),
  (error: unknown) => {
    killAll()
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 1
  },
)
