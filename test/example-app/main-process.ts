// `npm start` (ts-node example-app/main.ts) as a child process, for the tests of main.ts.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

const ROOT = join(__dirname, '..', '..')

/** One `main.ts` process; `kill()` it in afterEach. */
export class MainProcess {
  private text = ''

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => (this.text += chunk))
    child.stderr!.on('data', (chunk: Buffer) => (this.text += chunk))
  }

  /**
   * Starts `main.ts` with `env` added to this process's environment and resolves with its
   * printed URL, or rejects with what it printed if it exits first or prints no URL in
   * `timeout` ms (ts-node compiles the app first: seconds on a busy machine).
   * `started` receives the process at once, so that a failed start is still cleaned up.
   */
  static start(env: Record<string, string>, started: (main: MainProcess) => void, timeout = 15_000): Promise<string> {
    const child = spawn(process.execPath, [require.resolve('ts-node/dist/bin'), '--transpile-only', 'example-app/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const main = new MainProcess(child)
    started(main)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`main.ts printed no URL within ${timeout} ms:\n${main.output}`)), timeout)
      const onData = (): void => {
        const match = /Open (http:\/\/\S+)/.exec(main.output)
        if (match === null) return
        clearTimeout(timer)
        child.stdout!.off('data', onData)
        resolve(match[1])
      }
      child.stdout!.on('data', onData)
      // 'close', not 'exit': by then everything it printed has been read.
      child.once('close', (code) => {
        clearTimeout(timer)
        reject(new Error(`main.ts exited with ${code}:\n${main.output}`))
      })
    })
  }

  /** Everything it printed so far, stdout and stderr. */
  get output(): string {
    return this.text
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
  }

  /** Ends it (SIGKILL) if it still runs, and waits until it has. */
  stop(): Promise<unknown> {
    this.kill('SIGKILL')
    return this.exited()
  }

  /** Resolves with the exit code (null when ended by a signal), failing after 5 s. */
  exited(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve(this.child.exitCode)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('main.ts did not exit within 5 s')), 5000)
      this.child.once('exit', (code) => {
        clearTimeout(timer)
        resolve(code)
      })
    })
  }
}
