// A raw RFC 6455 client on `net` for the soak test: it can send anything (unmasked frames,
// reserved opcodes, bad close codes, partial frames, half a handshake), reads what the server
// sends with a small frame parser of its own, and records how the connection ended.
import { createHash, randomBytes } from 'node:crypto'
import * as net from 'node:net'
import { encodeFrame } from '../../src/protocol'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const

export interface Message {
  opcode: number
  data: Buffer
}

/** How a connection ended, from the client's side. */
export interface Ending {
  /** Close code in the server's close frame; null when none arrived (1005 for an empty payload). */
  code: number | null
  reason: string
  /** Milliseconds from `markFailure()` (or from the start) to the TCP close. */
  elapsed: number
  /** The socket saw ECONNRESET / EPIPE rather than an orderly FIN. */
  reset: boolean
}

export class Deadline extends Error {}

// Masking keys from a pool: randomBytes(4) per frame dominates the client's CPU otherwise.
// (Key unpredictability protects intermediaries, not this test; the server must unmask any key.)
const KEY_POOL = randomBytes(64 * 1024)
let keyAt = 0
export function maskKey(): Buffer {
  keyAt = (keyAt + 4) % KEY_POOL.length
  return KEY_POOL.subarray(keyAt, keyAt + 4)
}

/** Opens a TCP connection to 127.0.0.1:port. */
export function connectTcp(port: number, timeoutMs = 5000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.setNoDelay(true)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Deadline(`TCP connect timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeListener('error', onError)
      resolve(socket)
    })
    const onError = (error: Error): void => {
      clearTimeout(timer)
      socket.destroy()
      reject(error)
    }
    socket.once('error', onError)
  })
}

export function upgradeRequest(path: string, port: number, key = randomBytes(16).toString('base64')): string {
  return (
    `GET ${path} HTTP/1.1\r\n` +
    `Host: 127.0.0.1:${port}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${key}\r\n` +
    'Sec-WebSocket-Version: 13\r\n' +
    '\r\n'
  )
}

/** An HTTP exchange that is not supposed to upgrade: the status line (if any) and when it ended. */
export interface HttpOutcome {
  status: number | null
  /** Milliseconds from the first byte sent to the server closing the TCP connection. */
  elapsed: number
  closed: boolean
}

/** Sends `chunks` (with optional pauses in between) and waits for the server to end the connection. */
export async function httpExchange(
  port: number,
  chunks: Array<string | Buffer | number>,
  timeoutMs: number,
): Promise<HttpOutcome> {
  const socket = await connectTcp(port)
  const start = Date.now()
  let received = Buffer.alloc(0)
  return new Promise<HttpOutcome>((resolve) => {
    let done = false
    const finish = (closed: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      const line = /^HTTP\/1\.[01] (\d{3})/.exec(received.subarray(0, 64).toString('latin1'))
      resolve({ status: line === null ? null : Number(line[1]), elapsed: Date.now() - start, closed })
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      if (received.length < 4096) received = Buffer.concat([received, chunk])
    })
    socket.on('error', () => finish(true))
    socket.on('close', () => finish(true))
    void (async () => {
      for (const chunk of chunks) {
        if (done) return
        if (typeof chunk === 'number') await sleep(chunk)
        else if (!socket.destroyed) socket.write(chunk)
      }
    })()
  })
}

export class RawPeer {
  readonly socket: net.Socket
  /** Answer pings with pongs (a live client); off = a peer that ignores the heartbeat. */
  autoPong = true
  /** Answer the server's close frame with ours. */
  autoClose = true
  readonly messages: Message[] = []
  readonly pongs: Buffer[] = []
  pingsReceived = 0
  closeFrame: { code: number | null; reason: string } | null = null
  tcpClosed = false
  reset = false
  /** Frames that broke RFC 6455 on the server's side (unmasked bit set, reserved opcode ...). */
  readonly serverViolations: string[] = []

  private buffer: Buffer = Buffer.alloc(0)
  private fragments: Buffer[] = []
  private fragmentOpcode = 0
  private waiters: Array<() => void> = []
  private failureMark = 0
  private closedAt = 0
  private readonly openedAt = Date.now()
  sentClose = false

  private constructor(socket: net.Socket, head: Buffer) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') this.reset = true
    })
    socket.on('close', () => {
      this.tcpClosed = true
      this.closedAt = Date.now()
      this.wake()
    })
    if (head.length > 0) this.onData(head)
  }

  /** Connects and completes the opening handshake (the request may be dribbled in pieces). */
  static async open(port: number, path = '/', options: { dribbleMs?: number; timeoutMs?: number } = {}): Promise<RawPeer> {
    const socket = await connectTcp(port)
    const connectedAt = Date.now()
    let lastWriteAt = connectedAt
    const key = randomBytes(16).toString('base64')
    const expected = createHash('sha1').update(key + GUID).digest('base64')
    const request = upgradeRequest(path, port, key)
    const head = await new Promise<Buffer>((resolve, reject) => {
      let received = Buffer.alloc(0)
      const timer = setTimeout(() => finish(new Deadline('handshake response timed out')), options.timeoutMs ?? 8000)
      const finish = (error: Error | null, rest?: Buffer): void => {
        clearTimeout(timer)
        socket.removeListener('data', onData)
        socket.removeListener('close', onClose)
        socket.removeListener('error', onClose)
        if (error !== null) {
          socket.destroy()
          // How long this client took to send its request head (a busy client may be the slow one).
          ;(error as Error & { headSentInMs?: number }).headSentInMs = lastWriteAt - connectedAt
          reject(error)
        } else {
          resolve(rest!)
        }
      }
      const onClose = (): void => finish(new Error('connection closed during the handshake'))
      const onData = (chunk: Buffer): void => {
        received = Buffer.concat([received, chunk])
        const end = received.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = received.subarray(0, end).toString('latin1')
        if (!head.startsWith('HTTP/1.1 101')) return finish(new Error(`handshake refused: ${head.split('\r\n')[0]}`))
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)
        if (accept === null || accept[1] !== expected) return finish(new Error('bad Sec-WebSocket-Accept'))
        finish(null, received.subarray(end + 4))
      }
      socket.on('data', onData)
      socket.once('close', onClose)
      socket.once('error', onClose)
      if (options.dribbleMs === undefined) {
        socket.write(request)
      } else {
        void (async () => {
          // Eight pieces on a wall-clock schedule (a busy client catches up instead of drifting).
          const step = Math.ceil(request.length / 8)
          const start = Date.now()
          for (let i = 0, n = 0; i < request.length && !socket.destroyed; i += step, n++) {
            socket.write(request.slice(i, i + step))
            lastWriteAt = Date.now()
            await sleep(Math.max(0, start + (n + 1) * options.dribbleMs! - Date.now()))
          }
        })()
      }
    })
    return new RawPeer(socket, head)
  }

  /** Sends a frame; masked with a random key unless `mask` is false. Returns the socket's write result. */
  frame(opcode: number, payload: Buffer | string, options: { fin?: boolean; mask?: boolean; rsv?: number } = {}): boolean {
    const data = typeof payload === 'string' ? Buffer.from(payload) : payload
    const key = options.mask === false ? null : maskKey()
    if (opcode === OP.close) this.sentClose = true
    return this.write(encodeFrame(opcode, data, { fin: options.fin ?? true, maskKey: key, rsv: options.rsv ?? 0 }))
  }

  write(bytes: Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false
    return this.socket.write(bytes)
  }

  /** Starts the clock for "how promptly did the server fail the connection". */
  markFailure(): void {
    this.failureMark = Date.now()
  }

  /** Waits for the next data message. Throws on close or timeout. */
  async next(timeoutMs: number): Promise<Message> {
    const deadline = Date.now() + timeoutMs
    while (this.messages.length === 0) {
      if (this.tcpClosed || this.closeFrame !== null) {
        throw new Error(`connection closed while waiting for an echo (close ${this.closeFrame?.code ?? 'none'})`)
      }
      if (!(await this.wait(deadline))) throw new Deadline(`no echo within ${timeoutMs} ms`)
    }
    return this.messages.shift()!
  }

  /** Waits for a pong. */
  async pong(timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    while (this.pongs.length === 0) {
      if (this.tcpClosed) throw new Error('connection closed while waiting for a pong')
      if (!(await this.wait(deadline))) throw new Deadline(`no pong within ${timeoutMs} ms`)
    }
    return this.pongs.shift()!
  }

  /** Waits for the TCP connection to close; returns how it ended (null on timeout). */
  async ending(timeoutMs: number): Promise<Ending | null> {
    const deadline = Date.now() + timeoutMs
    while (!this.tcpClosed) {
      if (!(await this.wait(deadline))) return null
    }
    return {
      code: this.closeFrame?.code ?? null,
      reason: this.closeFrame?.reason ?? '',
      elapsed: this.closedAt - (this.failureMark || this.openedAt),
      reset: this.reset,
    }
  }

  destroy(): void {
    this.socket.destroy()
  }

  /** Ends with a TCP RST instead of a FIN (Node ≥ 16.17), like a crashed or unplugged peer. */
  resetAndDestroy(): void {
    const socket = this.socket as net.Socket & { resetAndDestroy?: () => void }
    if (typeof socket.resetAndDestroy === 'function' && !socket.destroyed) socket.resetAndDestroy()
    else socket.destroy()
  }

  private wait(deadline: number): Promise<boolean> {
    const left = deadline - Date.now()
    if (left <= 0) return Promise.resolve(false)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake)
        resolve(false)
      }, left)
      const wake = (): void => {
        clearTimeout(timer)
        resolve(true)
      }
      this.waiters.push(wake)
    })
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    for (;;) {
      const b = this.buffer
      if (b.length < 2) break
      const fin = (b[0] & 0x80) !== 0
      const rsv = b[0] & 0x70
      const opcode = b[0] & 0x0f
      const masked = (b[1] & 0x80) !== 0
      let length = b[1] & 0x7f
      let at = 2
      if (length === 126) {
        if (b.length < 4) break
        length = b.readUInt16BE(2)
        at = 4
      } else if (length === 127) {
        if (b.length < 10) break
        length = b.readUInt32BE(2) * 0x100000000 + b.readUInt32BE(6)
        at = 10
      }
      if (masked) at += 4
      if (b.length < at + length) break
      let payload = b.subarray(at, at + length)
      if (masked) {
        this.serverViolations.push('masked server frame')
        const key = b.subarray(at - 4, at)
        payload = Buffer.from(payload).map((byte, i) => byte ^ key[i & 3]) as Buffer
      }
      this.buffer = b.subarray(at + length)
      if (rsv !== 0) this.serverViolations.push('RSV bits set by the server')
      this.onFrame(fin, opcode, Buffer.from(payload))
    }
    this.wake()
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    if (this.closeFrame !== null) {
      this.serverViolations.push(`frame 0x${opcode.toString(16)} after the server's close frame`)
      return
    }
    switch (opcode) {
      case OP.ping:
        this.pingsReceived++
        if (this.autoPong && !this.sentClose) this.frame(OP.pong, payload)
        return
      case OP.pong:
        this.pongs.push(payload)
        return
      case OP.close: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : payload.length === 0 ? 1005 : null
        this.closeFrame = { code, reason: payload.subarray(2).toString('utf8') }
        if (this.autoClose && !this.sentClose) {
          this.frame(OP.close, code === null || code === 1005 ? Buffer.alloc(0) : payload.subarray(0, 2))
        }
        return
      }
      case OP.text:
      case OP.binary:
        if (this.fragmentOpcode !== 0) this.serverViolations.push('new message inside a fragmented one')
        if (fin) this.messages.push({ opcode, data: payload })
        else {
          this.fragmentOpcode = opcode
          this.fragments = [payload]
        }
        return
      case OP.cont:
        if (this.fragmentOpcode === 0) {
          this.serverViolations.push('continuation without a message')
          return
        }
        this.fragments.push(payload)
        if (fin) {
          this.messages.push({ opcode: this.fragmentOpcode, data: Buffer.concat(this.fragments) })
          this.fragmentOpcode = 0
          this.fragments = []
        }
        return
      default:
        this.serverViolations.push(`reserved opcode 0x${opcode.toString(16)} from the server`)
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
