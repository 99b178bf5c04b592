import cluster, { type Address, type Worker } from 'node:cluster'
import type { AddressInfo } from 'node:net'
import { ClusterHub } from '../broker/cluster-broker'

/** What a worker's start function returns: something listening that can close gracefully. */
export interface ClusterApp {
  close(): Promise<void>
  address?(): AddressInfo | string | null
}

export interface RunClusterOptions {
  /**
   * Worker processes to run on the one port. 1 (or less) runs `start` in this process, with no
   * cluster at all, so the same program serves both ways. Default 1.
   */
  workers?: number
  /**
   * Starts one app in a worker (and listens: node:cluster shares the port between workers,
   * `listen(0)` included). Give it a broker that spans processes — `clusterBroker()` (one
   * machine) or `redisBroker()` — so that rooms and presence are shared between workers.
   */
  start: () => Promise<ClusterApp>
  /** Called once in the primary (or the single process) when every worker listens, with the port. */
  listening?: (port: number) => void
  /** Restart a worker that died without being asked to stop. Default true. */
  restart?: boolean
  /** How long a graceful stop may take before workers are killed. Default 10 s. */
  shutdownTimeoutMs?: number
}

/** The primary's view of a running cluster (also returned in a single process). */
export interface ClusterHandle {
  /** Stops every worker gracefully (each closes its connections with 1001), then resolves. */
  close(): Promise<void>
}

const STOP = { gatewire: 'stop' } as const

/**
 * Runs an app as `workers` node:cluster worker processes sharing one port, with a graceful
 * stop: SIGTERM or SIGINT to the primary stops every worker (each closes its connections with
 * 1001 and its broker), then the primary exits 0. A worker that dies unexpectedly is restarted.
 * In a worker it runs `start` and stops on the primary's word (or its own SIGTERM).
 *
 * @example
 * await runCluster({
 *   workers: 4,
 *   start: () => bootstrap(AppModule, { broker: redisBroker({ url: process.env.REDIS_URL! }) }).listen(8080),
 *   listening: (port) => console.log(`listening on ${port}`),
 * })
 */
export async function runCluster(options: RunClusterOptions): Promise<ClusterHandle> {
  const workers = Math.floor(options.workers ?? 1)
  if (cluster.isWorker) return runWorker(options)
  if (!(workers > 1)) return runAlone(options)
  return runPrimary(options, workers)
}

async function runAlone(options: RunClusterOptions): Promise<ClusterHandle> {
  const app = await options.start()
  options.listening?.(portOf(app.address?.()))
  let stopping: Promise<void> | undefined
  const close = (): Promise<void> => (stopping ??= app.close())
  onSignals(() => {
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('gatewire: shutdown failed:', err)
        process.exit(1)
      },
    )
  })
  return { close }
}

async function runWorker(options: RunClusterOptions): Promise<ClusterHandle> {
  let app: ClusterApp
  try {
    app = await options.start()
  } catch (err) {
    console.error(`gatewire: worker ${process.pid} failed to start:`, err)
    process.exit(1)
  }
  let stopping: Promise<void> | undefined
  const close = (): Promise<void> => (stopping ??= app.close())
  const stop = (): void => {
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`gatewire: worker ${process.pid} shutdown failed:`, err)
        process.exit(1)
      },
    )
  }
  process.on('message', (message: unknown) => {
    if (typeof message === 'object' && message !== null && (message as { gatewire?: unknown }).gatewire === STOP.gatewire) stop()
  })
  // Its own SIGTERM stops a worker too (stop is idempotent when the primary's word follows).
  // SIGINT is left to the primary: a terminal's Ctrl+C reaches the whole process group, and the
  // primary then stops every worker in its own time.
  process.once('SIGTERM', stop)
  process.on('SIGINT', noop)
  return { close }
}

function runPrimary(options: RunClusterOptions, count: number): Promise<ClusterHandle> {
  const hub = new ClusterHub()
  const restart = options.restart ?? true
  const timeout = options.shutdownTimeoutMs ?? 10_000
  let stopping: Promise<void> | undefined
  let restarts = 0

  const fork = (): void => {
    if (stopping === undefined) cluster.fork()
  }
  cluster.on('exit', (worker, code, signal) => {
    if (stopping !== undefined || !restart) return
    // A crash loop must not spin: back off up to 5 s.
    const delay = Math.min(5000, 100 * 2 ** Math.min(restarts++, 6))
    console.error(`gatewire: worker ${worker.process.pid} died (${signal ?? `exit code ${code}`}); restarting in ${delay} ms`)
    setTimeout(fork, delay).unref()
  })

  const close = (): Promise<void> =>
    (stopping ??= new Promise<void>((resolve) => {
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead())
      if (alive.length === 0) {
        hub.close()
        resolve()
        return
      }
      let left = alive.length
      const killer = setTimeout(() => {
        for (const worker of alive) if (!worker.isDead()) worker.process.kill('SIGKILL')
      }, timeout)
      killer.unref()
      for (const worker of alive) {
        worker.once('exit', () => {
          if (--left === 0) {
            clearTimeout(killer)
            hub.close()
            resolve()
          }
        })
        if (worker.isConnected()) worker.send(STOP)
        else worker.process.kill('SIGTERM')
      }
    }))

  onSignals(() => {
    void close().then(() => process.exit(0))
  })

  return new Promise((resolve, reject) => {
    let listening = 0
    const onListening = (_worker: Worker, address: Address): void => {
      if (++listening !== count) return
      cluster.off('listening', onListening)
      cluster.off('exit', onEarlyExit)
      options.listening?.(address.port)
      resolve({ close })
    }
    const onEarlyExit = (worker: Worker, code: number): void => {
      cluster.off('listening', onListening)
      cluster.off('exit', onEarlyExit)
      void close()
      reject(new Error(`worker ${worker.process.pid} exited with code ${code} before every worker was listening`))
    }
    cluster.on('listening', onListening)
    cluster.on('exit', onEarlyExit)
    for (let i = 0; i < count; i++) fork()
  })
}

function noop(): void {}

function onSignals(handler: () => void): void {
  process.once('SIGTERM', handler)
  process.once('SIGINT', handler)
}

function portOf(address: AddressInfo | string | null | undefined): number {
  return typeof address === 'object' && address !== null ? address.port : 0
}
