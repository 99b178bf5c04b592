import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

const FIXTURE = join(__dirname, '..', 'fixtures', 'rooms-server.ts')
const START_TIMEOUT_MS = 30_000

/** `npm run rooms` as the independent checks run it, in a child process (ts-node, no build). */
export class RoomsProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private output = ''

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode })
      else child.once('exit', (code, signal) => resolve({ code, signal }))
    })
  }

  /** Starts the fixture with `args` (`--port 0` is added) and resolves once it prints its port. */
  static start(args: readonly string[] = []): Promise<RoomsProcess> {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', FIXTURE, '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
    })
    running.add(child)
    child.once('exit', () => running.delete(child))
    return new Promise((resolve, reject) => {
      let output = ''
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`the rooms fixture did not print its port within ${START_TIMEOUT_MS} ms; output:\n${output}`))
      }, START_TIMEOUT_MS)
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        const match = /listening on (\d+)/.exec(output)
        if (match === null) return
        clearTimeout(timer)
        child.stdout!.off('data', onData)
        const proc = new RoomsProcess(child, Number(match[1]))
        proc.output = output
        child.stdout!.on('data', (c: Buffer) => (proc.output += c.toString()))
        child.stderr!.on('data', (c: Buffer) => (proc.output += c.toString()))
        resolve(proc)
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`the rooms fixture exited (code ${code}, signal ${signal}) before listening; output:\n${output}`))
      })
    })
  }

  /** ws://127.0.0.1:PORT/rooms/ROOM?name=NAME */
  url(room: string, name?: string): string {
    return `ws://127.0.0.1:${this.port}/rooms/${encodeURIComponent(room)}${name === undefined ? '' : `?name=${encodeURIComponent(name)}`}`
  }

  /** What it printed so far (for failure messages). */
  get log(): string {
    return this.output
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal)
  }
}

const running = new Set<ChildProcess>()

/** Kills every fixture still running (afterEach), and waits for them to exit. */
export async function killRoomsProcesses(): Promise<void> {
  const children = [...running]
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('exit', () => resolve())
          // The whole cluster: the primary's workers go with their IPC channel.
          child.kill('SIGKILL')
        }),
    ),
  )
}
