import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { delimiter, join, resolve } from 'node:path'

// The benchmark-only packages (uws-pack for uWebSockets.js, bufferutil, nodejs-websocket) are
// listed in bench/package.json, not in the repository's devDependencies: uws-pack declares Node
// >= 22 (npm prints EBADENGINE on Node 20, whose ABI its binaries cover) and bufferutil runs an
// install script, and a newcomer's `npm install` should print neither. The bench scripts install
// them into bench/node_modules on first use.

/** bench/ of the checkout (this file runs from dist/bench/lib/). */
const BENCH = resolve(__dirname, '..', '..', '..', 'bench')

/** Where the benchmark-only packages are installed. */
export const BENCH_NODE_MODULES = join(BENCH, 'node_modules')

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T
}

/** bench/package.json's dependencies that are missing from bench/node_modules or not at their locked version. */
function staleBenchDeps(): string[] {
  const { dependencies } = readJson<{ dependencies: Record<string, string> }>(join(BENCH, 'package.json'))
  const { packages } = readJson<{ packages: Record<string, { version?: string }> }>(join(BENCH, 'package-lock.json'))
  return Object.keys(dependencies).filter((name) => {
    const manifest = join(BENCH_NODE_MODULES, name, 'package.json')
    return !existsSync(manifest) || readJson<{ version: string }>(manifest).version !== packages[`node_modules/${name}`]?.version
  })
}

/**
 * Installs bench/package.json's dependencies (`npm ci` in bench/) when any is missing or not the
 * locked version, then puts bench/node_modules on NODE_PATH, so that the processes the bench
 * starts find them: the servers, the micro-benchmark groups, and ws's own `require('bufferutil')`.
 */
export function useBenchDeps(): void {
  const stale = staleBenchDeps()
  if (stale.length > 0) {
    process.stderr.write(`bench: installing the benchmark-only dependencies into bench/node_modules (${stale.join(', ')})\n`)
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: BENCH, stdio: ['ignore', 2, 2], timeout: 300_000 })
  }
  const paths = (process.env.NODE_PATH ?? '').split(delimiter).filter((path) => path !== '')
  if (!paths.includes(BENCH_NODE_MODULES)) process.env.NODE_PATH = [BENCH_NODE_MODULES, ...paths].join(delimiter)
}
