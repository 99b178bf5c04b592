import { randomBytes } from 'node:crypto'
import type * as http from 'node:http'
import * as net from 'node:net'
import type { AddressInfo } from 'node:net'

/** How long rawUpgrade() waits for a response head. */
const RESPONSE_TIMEOUT = 5000

/** Sockets opened by the helpers below, destroyed by `destroySockets()` in afterEach. */
const sockets = new Set<net.Socket>()

export function destroySockets(): void {
  for (const socket of sockets) socket.destroy()
  sockets.clear()
}

/** Listens on a free loopback port and resolves with it. */
export function listenOn(server: http.Server | net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

/** Closes a server that may already be closed. */
export function closeServer(server: http.Server | net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    ;(server as http.Server).closeAllConnections?.()
  })
}

export interface RawAnswer {
  /** The status of the first response line. */
  status: number
  /** Everything received until the first blank line (the response head). */
  head: string
  /** What arrived after the head in the same reads. */
  after: string
  socket: net.Socket
}

/**
 * Sends an upgrade request by hand (any `Upgrade:` protocol) and resolves with the server's
 * response head. The socket stays open (for a 101) and is destroyed in afterEach.
 */
export function rawUpgrade(port: number, path: string, protocol = 'websocket', headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    sockets.add(socket)
    const lines = [`GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, `Connection: Upgrade`, `Upgrade: ${protocol}`]
    if (protocol === 'websocket') lines.push(`Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13')
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
    let received = ''
    socket.setEncoding('latin1')
    const onData = (chunk: string): void => {
      received += chunk
      const end = received.indexOf('\r\n\r\n')
      if (end === -1) return
      socket.off('data', onData)
      socket.off('close', onClose)
      resolve({ status: Number(received.split(' ')[1]), head: received.slice(0, end), after: received.slice(end + 4), socket })
    }
    const onClose = (): void => reject(new Error(`${path}: the connection closed without a response (received ${JSON.stringify(received)})`))
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`${path}: no HTTP response to the upgrade within ${RESPONSE_TIMEOUT} ms`))
    }, RESPONSE_TIMEOUT)
    socket.once('data', () => clearTimeout(timer))
    socket.once('close', () => clearTimeout(timer))
    socket.on('data', onData)
    socket.once('close', onClose)
    socket.once('error', reject)
    socket.write(lines.join('\r\n') + '\r\n\r\n')
  })
}

/**
 * Waits, in a bounded loop on the event loop, until `condition()` holds; fails with `what`
 * after `timeout` ms.
 */
export async function until(condition: () => boolean, what: string, timeout = 2000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}
