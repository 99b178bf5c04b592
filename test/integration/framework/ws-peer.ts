import type { IncomingHttpHeaders } from 'node:http'
import WebSocket from 'ws'

/** A `ws` client for interop tests: buffered messages, awaitable close, tracked for cleanup. */
export class WsPeer {
  private readonly messages: (string | Buffer)[] = []
  private readonly waiters: ((m: string | Buffer) => void)[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  readonly pings: Buffer[] = []

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const message = isBinary ? Buffer.from(data) : data.toString('utf8')
      const waiter = this.waiters.shift()
      if (waiter) waiter(message)
      else this.messages.push(message)
    })
    ws.on('ping', (payload: Buffer) => this.pings.push(payload))
    this.closed = new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })))
  }

  get protocol(): string {
    return this.ws.protocol
  }

  next(): Promise<string | Buffer> {
    const queued = this.messages.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  async nextJson(): Promise<unknown> {
    return JSON.parse(String(await this.next()))
  }

  send(data: string | Buffer): void {
    this.ws.send(data, { binary: typeof data !== 'string' })
  }

  sendJson(value: unknown): void {
    this.ws.send(JSON.stringify(value))
  }
}

export interface PeerOptions {
  protocols?: string[]
  headers?: Record<string, string>
  origin?: string
  autoPong?: boolean
  maxPayload?: number
}

/** Opened peers, terminated by `closePeers()` in afterEach. */
const open = new Set<WebSocket>()

/** Opens a `ws` client and resolves once it is open (rejects on any failure). */
export function connectPeer(url: string, options: PeerOptions = {}): Promise<WsPeer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], {
      headers: options.headers,
      origin: options.origin,
      autoPong: options.autoPong ?? true,
      maxPayload: options.maxPayload ?? 100 * 1024 * 1024,
    })
    open.add(ws)
    ws.once('close', () => open.delete(ws))
    const peer = new WsPeer(ws)
    ws.once('open', () => resolve(peer))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`unexpected HTTP ${res.statusCode}`))
      res.resume()
      ws.terminate()
    })
  })
}

export interface Refusal {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** Expects the server to answer the upgrade with an HTTP error; resolves with it. */
export function refusal(url: string, options: PeerOptions = {}): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers, origin: options.origin })
    open.add(ws)
    ws.once('close', () => open.delete(ws))
    ws.once('open', () => {
      reject(new Error(`the server accepted the connection (protocol "${ws.protocol}")`))
      ws.terminate()
    })
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() })
        ws.terminate()
      })
    })
    ws.once('error', (err) => {
      // After 'unexpected-response' ws may also report an error for the aborted request.
      if (!/aborted/.test(err.message)) reject(err)
    })
  })
}

export function closePeers(): void {
  for (const ws of open) ws.terminate()
  open.clear()
}
