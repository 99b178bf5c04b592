import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Debian's redis-server (the tests start their own; nothing assumes one is running). */
export const REDIS_SERVER = '/usr/bin/redis-server'
export const REDIS_CLI = '/usr/bin/redis-cli'
/** True when the tests that need a real Redis can run; they skip with this reason otherwise. */
export const hasRedisServer = existsSync(REDIS_SERVER) && existsSync(REDIS_CLI)
export const NO_REDIS_REASON = `${REDIS_SERVER} is missing (apt-get install redis-server): Redis tests skipped`

/**
 * Skips the calling suite, saying why, when redis-server is missing; under CI (where .ci/run
 * installs it) a missing redis-server is a failure, not a skip. Typed structurally: this module
 * is also compiled for the benchmarks, without mocha's types.
 */
export function requireRedisServer(suite: { skip(): void }): void {
  if (hasRedisServer) return
  if (process.env.CI !== undefined && process.env.CI !== '') throw new Error(`${NO_REDIS_REASON} — under CI this is a failure: .ci/run installs it`)
  console.warn(NO_REDIS_REASON)
  suite.skip()
}

const READY_TIMEOUT_MS = 10_000

/** A loopback port nothing listens on now (bind 0, read it, close), and `port + offset` too when asked. */
export async function freePort(alsoFreeAtOffset?: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await bindAndRelease(0)
    // A cluster node also listens on its bus port, port + 10000.
    if (alsoFreeAtOffset === undefined) return port
    if (port + alsoFreeAtOffset <= 65535 && (await bindAndRelease(port + alsoFreeAtOffset).catch(() => 0)) !== 0) return port
  }
  throw new Error('no free loopback port found in 50 attempts')
}

function bindAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const address = server.address()
      const bound = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(bound))
    })
  })
}

export interface RedisServerOptions {
  /** Extra redis-server arguments (e.g. ['--cluster-enabled', 'yes']). */
  args?: readonly string[]
  /** Serve TLS on a second port with this certificate (the plain port stays, for admin). */
  tls?: { cert: string; key: string; ca: string }
  /** Also keep the cluster bus port (port + 10000) free when picking a port. */
  cluster?: boolean
  /** Listen on this port (e.g. one a broker already tries to reach) instead of a free one. */
  port?: number
}

/** One redis-server process on a free loopback port, in a temp dir of its own. */
export class RedisServer {
  private child: ChildProcess | null = null
  private exited: Promise<void> = Promise.resolve()

  private constructor(
    readonly port: number,
    readonly tlsPort: number | undefined,
    readonly dir: string,
    private readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort(options.cluster ? 10_000 : undefined))
    const tlsPort = options.tls ? await freePort() : undefined
    const server = new RedisServer(port, tlsPort, mkdtempSync(join(tmpdir(), 'gatewire-redis-')), options)
    await server.launch()
    return server
  }

  /** `redis://127.0.0.1:PORT` (plain). */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** `rediss://127.0.0.1:TLSPORT` when started with tls. */
  get tlsUrl(): string {
    if (this.tlsPort === undefined) throw new Error('this redis-server was started without TLS')
    return `rediss://127.0.0.1:${this.tlsPort}`
  }

  get pid(): number {
    if (this.child?.pid === undefined) throw new Error('redis-server is not running')
    return this.child.pid
  }

  get running(): boolean {
    return this.child !== null
  }

  /** Runs redis-cli against the plain port; returns its output, trimmed. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(this.port), ...args], { timeout: 10_000 })
    return stdout.trim()
  }

  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child
    if (child === null) return
    // A paused server cannot act on SIGTERM.
    child.kill('SIGCONT')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await this.exited
    clearTimeout(timer)
  }

  /** Stops and starts again on the same port(s), with an empty dataset. */
  async restart(): Promise<void> {
    await this.stop()
    await this.launch()
  }

  /** SIGSTOP: the server keeps its sockets open and answers nothing (a stuck Redis). */
  pause(): void {
    this.child?.kill('SIGSTOP')
  }

  resume(): void {
    this.child?.kill('SIGCONT')
  }

  /** Stops the process and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }

  private launch(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--logfile', '']
    const tls = this.options.tls
    if (tls && this.tlsPort !== undefined) {
      args.push('--tls-port', String(this.tlsPort), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no')
    }
    args.push(...(this.options.args ?? []))
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    void this.exited.then(() => {
      if (this.child === child) this.child = null
    })
    let output = ''
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(`not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS)
      const fail = (why: string): void => {
        clearTimeout(timer)
        child.kill('SIGKILL')
        reject(new Error(`redis-server on port ${this.port} ${why}. Output:\n${output}`))
      }
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer)
          child.stdout?.off('data', onData)
          child.stdout?.resume()
          resolve()
        }
      }
      child.stdout?.on('data', onData)
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
      child.once('exit', (code) => fail(`exited with code ${code}`))
      child.once('error', (error) => fail(`failed to start: ${error.message}`))
    })
  }
}

/** A Redis Cluster of local nodes (masters only, the 16384 slots spread over them). */
export class RedisCluster {
  private constructor(readonly nodes: readonly RedisServer[]) {}

  static async start(size = 3): Promise<RedisCluster> {
    const nodes: RedisServer[] = []
    try {
      for (let i = 0; i < size; i++) {
        nodes.push(
          await RedisServer.start({
            cluster: true,
            args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
          }),
        )
      }
      await run(REDIS_CLI, ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
        timeout: 30_000,
      })
      const cluster = new RedisCluster(nodes)
      await cluster.waitUntilOk()
      return cluster
    } catch (error) {
      await Promise.all(nodes.map((node) => node.destroy()))
      throw error
    }
  }

  get urls(): string[] {
    return this.nodes.map((node) => node.url)
  }

  /** Waits (bounded) until every node reports cluster_state:ok. */
  async waitUntilOk(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let states: string[] = []
    while (Date.now() < deadline) {
      states = await Promise.all(this.nodes.map((node) => node.cli('cluster', 'info').then((info) => /cluster_state:(\w+)/.exec(info)?.[1] ?? '?')))
      if (states.every((state) => state === 'ok')) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`the Redis Cluster is not ok after ${timeoutMs} ms (states: ${states.join(', ')})`)
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.destroy()))
  }
}
