import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { freePort } from '../lib/free-port'
import type { GeneratorFailure, GeneratorResult } from '../load-generator'
import { DIST, ROOT, options } from './options'
import type { ServerSpec } from './servers'

// The processes a run starts: servers pinned to core 0, the load generator to core 1. Every
// process started is killed when the run ends, also on failure and on SIGINT/SIGTERM.

const children = new Set<ChildProcess>()

export function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
  }
  children.clear()
}

process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`)
    killAll()
    process.exit(130)
  })
}

/**
 * Spawns `node <args>` through `sh -c 'ulimit -n <hard>; exec ...'` (raising the descriptor
 * limit for the idle mode) and `taskset -c <core>`; both exec, so the child's pid is node's.
 */
export function spawnNode(nodeArgs: string[], core: number, env: Record<string, string | undefined>): ChildProcess {
  const command = options.pin ? ['taskset', '-c', String(core), process.execPath, ...nodeArgs] : [process.execPath, ...nodeArgs]
  const childEnv: NodeJS.ProcessEnv = { ...process.env }
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key]
    else childEnv[key] = value
  }
  const child = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...command], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      done(true)
    })
    socket.once('error', () => done(false))
  })
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export interface RunningServer {
  spec: ServerSpec
  pid: number
  port: number
  child: ChildProcess
  output: () => string
  alive: () => boolean
  stop: () => Promise<void>
}

export async function startServer(spec: ServerSpec, gcHook = false, profile = false, extraEnv: Record<string, string> = {}): Promise<RunningServer> {
  if (!existsSync(spec.script)) throw new Error(`${spec.script.slice(ROOT.length + 1)} does not exist`)
  const port = await freePort()
  const flags = gcHook ? ['--expose-gc', '-r', join(DIST, 'bench/servers/gc-hook.js')] : []
  if (profile && options.profileDir !== undefined) {
    mkdirSync(options.profileDir, { recursive: true })
    flags.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${spec.id}-${Date.now()}.cpuprofile`)
  }
  const child = spawnNode([...flags, spec.script, '--port', String(port), ...spec.args], 0, { ...spec.env, ...extraEnv })
  let tail = ''
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-2000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const alive = (): boolean => child.exitCode === null && child.signalCode === null
  const deadline = Date.now() + 15_000
  while (!(await canConnect(port))) {
    if (!alive()) throw new Error(`exited (${String(child.exitCode ?? child.signalCode)}) before listening: ${essence(tail)}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`not listening on ${port} after 15 s: ${essence(tail)}`)
    }
    await sleep(50)
  }
  if (child.pid === undefined) throw new Error('no pid')
  const pid = child.pid
  return {
    spec,
    pid,
    port,
    child,
    output: () => tail,
    alive,
    stop: async () => {
      if (!alive()) return
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGTERM')
      // A graceful close (and writing a CPU profile) may take a moment; then it is killed.
      const timer = setTimeout(() => child.kill('SIGKILL'), profile ? 15_000 : 2000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** The line of a process's output that says what went wrong (its first error line, else its last line). */
export function essence(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
  const error = lines.find((l) => /^[A-Za-z]*Error\b|Error:|\[ERR_/.test(l))
  return (error ?? lines[lines.length - 1] ?? '(no output)').slice(0, 300)
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string }

export async function runGenerator<T extends GeneratorResult>(args: string[], timeoutSeconds: number): Promise<Outcome<T>> {
  const child = spawnNode([join(DIST, 'bench/load-generator.js'), ...args, '--timeout', String(timeoutSeconds)], 1, {})
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)))
  const killer = setTimeout(() => child.kill('SIGKILL'), (timeoutSeconds + 15) * 1000)
  await new Promise<void>((r) => child.once('exit', () => r()))
  clearTimeout(killer)
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '))
  if (line === undefined) return { ok: false, error: `load generator gave no result: ${stderr.trim() === '' ? 'killed' : essence(stderr)}` }
  const parsed = JSON.parse(line.slice('RESULT '.length)) as T | GeneratorFailure
  if ('error' in parsed) return { ok: false, error: parsed.error }
  return { ok: true, value: parsed }
}

/** The load generator's arguments that say which server to drive and where everything is pinned. */
export function baseArgs(server: RunningServer): string[] {
  return [
    '--protocol', server.spec.protocol,
    '--port', String(server.port),
    '--server-pid', String(server.pid),
    ...(options.pin ? ['--server-core', '0', '--generator-core', '1'] : []),
  ]
}
