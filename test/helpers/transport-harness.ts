// Real-socket helpers for the transport and interop tests: servers on 127.0.0.1:0, raw TCP
// peers that speak HTTP and RFC 6455 frames written here independently of src/protocol, and a
// registry so that afterEach closes every server, connection and socket a test opened.
import { createHash, randomBytes } from 'node:crypto'
import type { EventEmitter } from 'node:events'
import * as net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import { connect, createServer, type ClientOptions, type Connection, type Server, type ServerOptions } from '../../src'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

type Closer = () => void | Promise<void>
const closers: Closer[] = []

/** Registers something to release in `releaseAll()` (run it in afterEach). */
export function track(closer: Closer): void {
  closers.push(closer)
}

/** Closes everything registered since the last call: servers, connections, sockets. */
export async function releaseAll(): Promise<void> {
  const pending = closers.splice(0).reverse()
  for (const close of pending) {
    try {
      await close()
    } catch {
      // Already closed.
    }
  }
}

/** Resolves with the arguments of the next `event` (never listens to 'error', unlike events.once). */
export function next<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)))
}

export interface CloseInfo {
  code: number
  reason: string
}

/** Records every 'close' of a connection, so a test can check it fired exactly once. */
export function closeRecorder(connection: Connection): { closes: CloseInfo[]; closed: Promise<CloseInfo> } {
  const closes: CloseInfo[] = []
  const closed = new Promise<CloseInfo>((resolve) => {
    connection.on('close', (code: number, reason: string) => {
      closes.push({ code, reason })
      resolve({ code, reason })
    })
  })
  return { closes, closed }
}

export interface Listening {
  server: Server
  port: number
  url: string
  /** Resolves with the next server-side connection. */
  nextConnection(): Promise<Connection>
}

/** A gatewire server listening on 127.0.0.1:0 (heartbeat off unless asked for). */
export async function listen(options: ServerOptions = {}, onConnection?: (c: Connection) => void): Promise<Listening> {
  const server = createServer({ heartbeatInterval: 0, ...options }, onConnection)
  const queue: Connection[] = []
  const waiters: ((c: Connection) => void)[] = []
  server.on('connection', (connection) => {
    track(() => connection.terminate())
    const waiter = waiters.shift()
    if (waiter) waiter(connection)
    else queue.push(connection)
  })
  track(() => new Promise<void>((resolve) => server.close(() => resolve())))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    server,
    port,
    url: `ws://127.0.0.1:${port}`,
    nextConnection: () => {
      const queued = queue.shift()
      if (queued) return Promise.resolve(queued)
      return new Promise((resolve) => waiters.push(resolve))
    },
  }
}

/**
 * Our client, resolved once open; rejects with the handshake error (or on close before open).
 * `setup` runs before the handshake: listeners for what the server sends at once go there.
 */
export function open(url: string, options: ClientOptions = {}, setup?: (c: Connection) => void): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const connection = connect(url, options)
    track(() => connection.terminate())
    if (setup) setup(connection)
    let failure: Error | undefined
    connection.on('error', (error) => (failure ??= error))
    connection.once('connect', () => resolve(connection))
    connection.once('close', (code: number) => reject(failure ?? new Error(`closed with ${code} before opening`)))
  })
}

/** A client and the server-side connection it produced. */
export async function pair(
  serverOptions: ServerOptions = {},
  clientOptions: ClientOptions = {},
): Promise<{ listening: Listening; client: Connection; server: Connection }> {
  const listening = await listen(serverOptions)
  const [client, server] = await Promise.all([open(listening.url, clientOptions), listening.nextConnection()])
  return { listening, client, server }
}

/** Collects a Readable into one Buffer. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

// ---------- Raw TCP peers ----------

/** A TCP connection to 127.0.0.1:port, destroyed in releaseAll(). */
export function tcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    track(() => void socket.destroy())
    socket.on('error', () => {}) // a reset by the server is what some tests expect
    socket.once('connect', () => resolve(socket))
    socket.once('error', reject)
  })
}

export interface HttpAnswer {
  status: number
  headers: Record<string, string>
  body: string
  /** Milliseconds from sending until the server closed the connection. */
  closedAfter: number
}

/** Sends raw bytes and reads the HTTP answer until the server closes the connection. */
export async function rawHttp(port: number, request: string | Buffer): Promise<HttpAnswer> {
  const socket = await tcp(port)
  const started = Date.now()
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  const closed = next(socket, 'close')
  socket.write(request)
  await closed
  return { ...parseHttp(Buffer.concat(chunks).toString('latin1')), closedAfter: Date.now() - started }
}

export function parseHttp(text: string): Omit<HttpAnswer, 'closedAfter'> {
  const end = text.indexOf('\r\n\r\n')
  const head = end === -1 ? text : text.slice(0, end)
  const [statusLine, ...lines] = head.split('\r\n')
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: match ? Number(match[1]) : 0, headers, body: end === -1 ? '' : text.slice(end + 4) }
}

export function clientKey(): string {
  return randomBytes(16).toString('base64')
}

export function expectedAccept(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64')
}

/** A syntactically valid upgrade request; `headers` override or add (a null value drops one). */
export function upgradeRequest(
  path = '/',
  headers: Record<string, string | null> = {},
  requestLine = `GET ${path} HTTP/1.1`,
): string {
  const all: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': clientKey(),
    'Sec-WebSocket-Version': '13',
    ...headers,
  }
  let text = `${requestLine}\r\n`
  for (const [name, value] of Object.entries(all)) if (value !== null) text += `${name}: ${value}\r\n`
  return `${text}\r\n`
}

export interface WireFrame {
  fin: boolean
  rsv: number
  opcode: number
  masked: boolean
  payload: Buffer
}

/**
 * Encodes a frame as a client would (masked unless `mask: false`). Written here, not taken
 * from src/protocol, so that the tests do not check the codec against itself.
 */
export function wireFrame(
  opcode: number,
  payload: Buffer | string = Buffer.alloc(0),
  options: { fin?: boolean; mask?: boolean; rsv?: number } = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload
  const mask = options.mask ?? true
  const length = data.length
  const lengthBytes = length < 126 ? 0 : length <= 0xffff ? 2 : 8
  const header = Buffer.alloc(2 + lengthBytes + (mask ? 4 : 0))
  header[0] = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv ?? 0) | opcode
  header[1] = (mask ? 0x80 : 0) | (length < 126 ? length : length <= 0xffff ? 126 : 127)
  if (lengthBytes === 2) header.writeUInt16BE(length, 2)
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2)
  if (!mask) return Buffer.concat([header, data])
  const key = randomBytes(4)
  key.copy(header, header.length - 4)
  const body = Buffer.allocUnsafe(length)
  for (let i = 0; i < length; i++) body[i] = data[i] ^ key[i & 3]
  return Buffer.concat([header, body])
}

export function closePayload(code: number, reason = ''): Buffer {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason))
  payload.writeUInt16BE(code, 0)
  payload.write(reason, 2)
  return payload
}

/**
 * A WebSocket peer on a raw TCP socket: does the opening handshake itself, sends frames built
 * by `wireFrame`, and decodes what the other side sends with its own small frame reader.
 */
export class RawPeer {
  readonly frames: WireFrame[] = []
  /** The HTTP answer to the upgrade. */
  response!: Omit<HttpAnswer, 'closedAfter'>
  /** Resolves when the server half-closes (FIN) or the socket closes. */
  readonly ended: Promise<void>
  readonly closed: Promise<void>
  private buffer: Buffer = Buffer.alloc(0)
  private waiters: { test: (f: WireFrame) => boolean; resolve: (f: WireFrame) => void }[] = []

  private constructor(readonly socket: net.Socket) {
    this.closed = next(socket, 'close').then(() => undefined)
    this.ended = Promise.race([next(socket, 'end'), this.closed]).then(() => undefined)
  }

  /** Connects and completes a handshake; rejects when the server does not answer 101. */
  static async connect(port: number, path = '/', headers: Record<string, string | null> = {}): Promise<RawPeer> {
    const socket = await tcp(port)
    const peer = new RawPeer(socket)
    const key = headers['Sec-WebSocket-Key'] ?? clientKey()
    await new Promise<void>((resolve, reject) => {
      let head = Buffer.alloc(0)
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end === -1) return
        socket.off('data', onData)
        peer.response = parseHttp(head.subarray(0, end + 4).toString('latin1'))
        if (peer.response.status !== 101) return reject(new Error(`HTTP ${peer.response.status}`))
        if (peer.response.headers['sec-websocket-accept'] !== expectedAccept(key)) {
          return reject(new Error('wrong Sec-WebSocket-Accept'))
        }
        socket.on('data', (data: Buffer) => peer.onData(data))
        resolve()
        const rest = head.subarray(end + 4)
        if (rest.length !== 0) peer.onData(rest)
      }
      socket.on('data', onData)
      socket.once('close', () => reject(new Error('closed during the handshake')))
      socket.write(upgradeRequest(path, { 'Sec-WebSocket-Key': key, ...headers }))
    })
    return peer
  }

  send(bytes: Buffer): boolean {
    return this.socket.write(bytes)
  }

  sendFrame(opcode: number, payload?: Buffer | string, options?: { fin?: boolean; mask?: boolean; rsv?: number }): boolean {
    return this.socket.write(wireFrame(opcode, payload, options))
  }

  /** Resolves with the first received frame (past or future) that matches. */
  frame(test: (f: WireFrame) => boolean = () => true): Promise<WireFrame> {
    const index = this.frames.findIndex(test)
    if (index !== -1) return Promise.resolve(this.frames.splice(index, 1)[0])
    return new Promise((resolve) => this.waiters.push({ test, resolve }))
  }

  opcodeFrame(opcode: number): Promise<WireFrame> {
    return this.frame((f) => f.opcode === opcode)
  }

  /** The close frame's code and reason. */
  async closeFrame(): Promise<{ code: number | undefined; reason: string }> {
    const frame = await this.opcodeFrame(0x8)
    return {
      code: frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined,
      reason: frame.payload.subarray(2).toString('utf8'),
    }
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    for (;;) {
      const b = this.buffer
      if (b.length < 2) return
      const masked = (b[1] & 0x80) !== 0
      let length = b[1] & 0x7f
      let at = 2
      if (length === 126) {
        if (b.length < 4) return
        length = b.readUInt16BE(2)
        at = 4
      } else if (length === 127) {
        if (b.length < 10) return
        length = Number(b.readBigUInt64BE(2))
        at = 10
      }
      const keyAt = at
      if (masked) at += 4
      if (b.length < at + length) return
      const payload = Buffer.from(b.subarray(at, at + length))
      if (masked) for (let i = 0; i < length; i++) payload[i] ^= b[keyAt + (i & 3)]
      const frame: WireFrame = { fin: (b[0] & 0x80) !== 0, rsv: b[0] & 0x70, opcode: b[0] & 0x0f, masked, payload }
      this.buffer = b.subarray(at + length)
      const waiter = this.waiters.findIndex((w) => w.test(frame))
      if (waiter !== -1) this.waiters.splice(waiter, 1)[0].resolve(frame)
      else this.frames.push(frame)
    }
  }
}

/**
 * A raw WebSocket *server* on 127.0.0.1:0 for client tests: answers each upgrade with
 * `answer(key, request)` (a full HTTP response), then hands the socket to the test.
 */
export async function rawServer(
  answer: (key: string, request: string) => string,
): Promise<{ port: number; nextSocket(): Promise<net.Socket> }> {
  const waiters: ((s: net.Socket) => void)[] = []
  const queue: net.Socket[] = []
  const server = net.createServer((socket) => {
    track(() => void socket.destroy())
    socket.on('error', () => {})
    let head = ''
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      socket.off('data', onData)
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? ''
      socket.write(answer(key, head.slice(0, end)))
      const waiter = waiters.shift()
      if (waiter) waiter(socket)
      else queue.push(socket)
    }
    socket.on('data', onData)
  })
  track(() => new Promise<void>((resolve) => server.close(() => resolve())))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    nextSocket: () => {
      const queued = queue.shift()
      if (queued) return Promise.resolve(queued)
      return new Promise((resolve) => waiters.push(resolve))
    },
  }
}

/** A 101 answer for `key`, with optional extra header lines. */
export function switchingProtocols(key: string, extra = ''): string {
  return (
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${expectedAccept(key)}\r\n${extra}\r\n`
  )
}
