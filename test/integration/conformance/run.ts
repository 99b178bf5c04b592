// `npm run conformance [-- options]`: runs the Autobahn-equivalent cases against the core echo
// server (as the fuzzing client) and the core client (as the fuzzing server), prints a table per
// side and the counts, and exits non-zero when a case is not OK.
//
//   --side server|client|both     what to test (default both)
//   --cases 1.*,6.4.*             Autobahn-style case patterns (default: all)
//   --quick                       only the representative 9.x subset (what `npm test` runs)
//   --spawn                       build, then test the fixtures (dist/test/fixtures) as child processes
//   --server-url ws://host:port   test an already running server instead
//   --legacy-7-9                  7.9.x as before autobahn-testsuite#89 (1014, 1015 tested as invalid)
//   --time-scale 0.5              scale the cases' pauses and kill timers
//   --fail-by-drop                fail connections by dropping TCP (Autobahn's default) instead of closing
//   --wide                        do not shorten the detail column
import { spawnSync } from 'node:child_process'
import { allCases, selectCases, withLegacyInvalidCloseCodes } from './cases'
import type { CaseResult } from './case-run'
import { runServerCases } from './fuzzing-client'
import { FuzzingServer } from './fuzzing-server'
import { count, formatCounts, formatTable } from './report'
import { runEchoClient, spawnEchoClient, spawnEchoServer, startEchoServer, type Target } from './targets'

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`)
  if (index !== -1) return process.argv[index + 1]
  const inline = process.argv.find((arg) => arg.startsWith(`--${name}=`))
  return inline?.slice(name.length + 3)
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`)

async function main(): Promise<void> {
  const side = option('side') ?? 'both'
  const patterns = option('cases')?.split(',').filter(Boolean)
  const base = flag('legacy-7-9') ? withLegacyInvalidCloseCodes(allCases) : allCases
  const cases = selectCases(base, patterns, !flag('quick'))
  const peerOptions = {
    timeScale: Number(option('time-scale') ?? 1),
    failByDrop: flag('fail-by-drop'),
  }
  const wide = flag('wide')
  if (flag('spawn')) {
    // The fixtures run from dist/: build first so they are the current sources.
    const build = spawnSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' })
    if (build.status !== 0) throw new Error('npm run build failed')
  }
  const all: CaseResult[] = []
  const summary: string[] = []
  const progress = (result: CaseResult): void => {
    if (result.verdict !== 'OK' && result.verdict !== 'INFORMATIONAL') process.stderr.write(`  ${result.side} ${result.id}: ${result.verdict}\n`)
  }

  if (side === 'server' || side === 'both') {
    const external = option('server-url')
    const target: Target = external ? { url: external, close: async () => {} } : flag('spawn') ? await spawnEchoServer() : await startEchoServer()
    const started = Date.now()
    process.stderr.write(`server: ${cases.length} cases against ${target.url}${flag('spawn') ? ' (spawned fixture)' : ''}\n`)
    try {
      const results = await runServerCases(target.url, cases, { ...peerOptions, onResult: progress })
      all.push(...results)
      console.log(`\n== server (${external ? external : 'gatewire echo server'}, graded by our fuzzing client) ==\n`)
      console.log(formatTable(results, wide))
      summary.push(`${formatCounts('server', results)} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    } finally {
      await target.close()
    }
  }

  if (side === 'client' || side === 'both') {
    const fuzzer = new FuzzingServer(cases, { ...peerOptions, onResult: progress })
    const url = await fuzzer.listen()
    const started = Date.now()
    process.stderr.write(`client: ${cases.length} cases, fuzzing server at ${url}${flag('spawn') ? ' (spawned fixture)' : ''}\n`)
    try {
      const reports = fuzzer.reports('gatewire')
      await (flag('spawn') ? spawnEchoClient(url) : runEchoClient(url))
      const results = await reports
      all.push(...results)
      console.log(`\n== client (gatewire connect(), graded by our fuzzing server) ==\n`)
      console.log(formatTable(results, wide))
      const missing = cases.length - results.length
      summary.push(`${formatCounts('client', results)}${missing ? `, ${missing} MISSING` : ''} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
      if (missing) process.exitCode = 1
    } finally {
      await fuzzer.close()
    }
  }

  console.log(`\n${summary.join('\n')}`)
  const c = count(all)
  if (c.FAILED !== 0 || c['NON-STRICT'] !== 0) process.exitCode = 1
  const strict = all.filter((result) => result.strictNotes.length !== 0)
  if (strict.length !== 0) {
    console.log(`\nstricter than Autobahn (not counted above):`)
    for (const result of strict) console.log(`  ${result.side} ${result.id}: ${result.strictNotes.join('; ')}`)
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
