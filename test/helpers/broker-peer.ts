import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { RedisBrokerOptions } from '../../src/redis'

const FIXTURE = join(__dirname, '..', 'fixtures', 'redis-broker-peer.ts')
const REPLY_TIMEOUT_MS = 15_000

/** A Redis broker running in a child process (test/fixtures/redis-broker-peer.ts), driven over IPC. */
export class BrokerPeer {
  private nextId = 1
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    child.on('message', (reply: { id: number; result?: unknown; error?: string }) => {
      const waiter = this.pending.get(reply.id)
      if (waiter === undefined) return
      this.pending.delete(reply.id)
      if (reply.error !== undefined) waiter.reject(new Error(`peer: ${reply.error}`))
      else waiter.resolve(reply.result)
    })
    void this.exited.then(({ code, signal }) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`peer exited (code ${code}, signal ${signal})`))
      this.pending.clear()
    })
  }

  /** Forks the peer with these broker options and starts its broker. */
  static async start(options: RedisBrokerOptions): Promise<BrokerPeer> {
    const child = fork(FIXTURE, [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, GATEWIRE_BROKER_OPTIONS: JSON.stringify(options) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const peer = new BrokerPeer(child)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the broker peer did not load within 20 s')), 20_000)
      child.once('message', () => {
        clearTimeout(timer)
        resolve()
      })
      child.once('exit', (code) => reject(new Error(`the broker peer exited while loading (code ${code})`)))
    })
    await peer.call('start')
    return peer
  }

  /** Sends one request; resolves with its result, rejects with the peer's error or a clear timeout. */
  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`peer did not answer '${op}' within ${REPLY_TIMEOUT_MS} ms`))
      }, REPLY_TIMEOUT_MS)
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer)
          resolve(value as T)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      this.child.send({ id, op, ...args })
    })
  }

  /** SIGKILL: the instance vanishes without closing anything. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
    await this.exited
  }

  /** Closes the broker, then ends the process (killing it if closing fails). */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await this.call('close').catch(() => undefined)
      this.child.kill('SIGTERM')
    }
    await this.exited
  }
}
