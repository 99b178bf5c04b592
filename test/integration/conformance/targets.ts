// What the suite tests: the core echo server and echo client of test/fixtures/echo.ts (what
// `npm run echo` / `npm run echo-client` run), in-process, or the built fixtures as child
// processes (`npm run conformance -- --spawn`).
import { spawn, type ChildProcess } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'
import { createEchoServer, DEFLATE_AS_OFFERED, runEchoClient as runFixtureClient } from '../../fixtures/echo'


export interface Target {
  url: string
  close(): Promise<void>
}

/**
 * The echo server of `npm run echo -- --deflate` (test/fixtures/echo.ts), listening on 127.0.0.1,
 * port 0. permessage-deflate is on so that groups 12 and 13 can negotiate it; cases that offer
 * nothing run exactly as without it.
 */
export function startEchoServer(): Promise<Target> {
  const server = createEchoServer({ compression: DEFLATE_AS_OFFERED })
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

/** The echo client of `npm run echo-client -- --deflate` (test/fixtures/echo.ts), in-process. */
export function runEchoClient(base: string, agent = 'gatewire', onProgress?: (done: number, count: number) => void): Promise<void> {
  return runFixtureClient(base, agent, onProgress, DEFLATE_AS_OFFERED)
}

const root = path.resolve(__dirname, '../../..')

/** Spawns the built echo server fixture (dist/, so `npm run build` first) on a free port. */
export function spawnEchoServer(): Promise<Target> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist/test/fixtures/echo-server.js'), '--port', '0', '--deflate'], {
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
    const child = spawn(process.execPath, [path.join(root, 'dist/test/fixtures/echo-client.js'), '--url', base, '--agent', agent, '--deflate'], {
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
