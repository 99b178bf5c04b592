// What the suite tests: the core echo server and echo client, in-process with the options of
// test/fixtures/echo-server.ts and test/fixtures/echo-client.ts (keep them in step), or the
// fixtures themselves as child processes (`npm run conformance -- --spawn`).
import { spawn, type ChildProcess } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'
import { connect, createServer, negotiateProtocol, type Connection } from '../../../src'

const MiB = 1024 * 1024

export interface Target {
  url: string
  close(): Promise<void>
}

/** The echo server of test/fixtures/echo-server.ts, listening on 127.0.0.1, port 0. */
export function startEchoServer(): Promise<Target> {
  const server = createServer(
    {
      maxMessageSize: 64 * MiB,
      maxBufferedAmount: 128 * MiB,
      binaryMode: 'buffer',
      heartbeatInterval: 0,
      closeTimeout: 2000,
      selectProtocol: (request, offered) =>
        request.path === '/proto' ? negotiateProtocol(offered, ['chat.v2', 'chat.v1']) : undefined,
    },
    (connection) => {
      connection.on('text', (text) => connection.sendText(text))
      connection.on('binary', (data) => connection.sendBinary(data))
      connection.on('error', () => {})
    },
  )
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `ws://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            for (const connection of server.connections) connection.terminate()
            server.close(() => done())
          }),
      })
    })
  })
}

/**
 * The echo client of test/fixtures/echo-client.ts: reads the case count, runs every case echoing
 * each message, then asks for the reports.
 */
export async function runEchoClient(base: string, agent = 'gatewire'): Promise<void> {
  const open = (url: string, onOpen?: (connection: Connection) => void): Promise<{ code: number; text: string[] }> =>
    new Promise((resolve) => {
      const texts: string[] = []
      const connection = connect(`${base}${url}`, {
        maxMessageSize: 64 * MiB,
        maxBufferedAmount: 128 * MiB,
        binaryMode: 'buffer',
        closeTimeout: 2000,
      })
      connection.on('connect', () => onOpen?.(connection))
      connection.on('text', (text) => texts.push(text))
      connection.on('error', () => {})
      connection.on('close', (code) => resolve({ code, text: texts }))
    })
  const count = Number((await open('/getCaseCount')).text[0])
  if (!Number.isInteger(count) || count < 0) throw new Error(`bad case count from ${base}/getCaseCount`)
  for (let i = 1; i <= count; i++) {
    await open(`/runCase?case=${i}&agent=${encodeURIComponent(agent)}`, (connection) => {
      connection.on('text', (text) => connection.sendText(text))
      connection.on('binary', (data) => connection.sendBinary(data as unknown as Buffer))
    })
  }
  await open(`/updateReports?agent=${encodeURIComponent(agent)}`)
}

const root = path.resolve(__dirname, '../../..')

/** Spawns the built echo server fixture (dist/, so `npm run build` first) on a free port. */
export function spawnEchoServer(): Promise<Target> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist/test/fixtures/echo-server.js'), '--port', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let output = ''
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`echo server exited with ${code} before listening: ${output}`)))
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on ([\d.]+):(\d+)/.exec(output)
      if (match) {
        child.removeAllListeners('exit')
        resolve({ url: `ws://${match[1]}:${match[2]}`, close: () => stop(child) })
      }
    })
  })
}

/** Runs the built echo client fixture against `base` until it exits. */
export function spawnEchoClient(base: string, agent = 'gatewire'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist/test/fixtures/echo-client.js'), '--url', base, '--agent', agent], {
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`echo client exited with ${code}`))))
  })
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}
