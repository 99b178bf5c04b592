import { createHash, randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'

// A deliberately small, independent client side of RFC 6455 (and of the raw length-prefixed
// protocol), so that every server is driven by the same code and none by its own codec.

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export const OP_TEXT = 0x1
export const OP_BINARY = 0x2
export const OP_CLOSE = 0x8
export const OP_PING = 0x9
export const OP_PONG = 0xa

/**
 * Performs the client opening handshake on a connected socket. Resolves with the bytes that
 * followed the 101 response (frames the server may already have sent).
 */
export function wsHandshake(socket: Socket, host: string, port: number, path: string, timeoutMs: number, extraHeaders = ''): Promise<Buffer> {
  const key = randomBytes(16).toString('base64')
  const expectedAccept = createHash('sha1').update(key + GUID).digest('base64')
  return new Promise<Buffer>((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0)
    const timer = setTimeout(() => finish(new Error(`handshake timed out after ${timeoutMs} ms`)), timeoutMs)
    const finish = (error: Error | undefined, rest?: Buffer): void => {
      clearTimeout(timer)
      socket.removeListener('data', onData)
      socket.removeListener('error', onError)
      socket.removeListener('close', onClose)
      if (error !== undefined) reject(error)
      else resolve(rest ?? Buffer.alloc(0))
    }
    const onError = (error: Error): void => finish(error)
    const onClose = (): void => finish(new Error('connection closed during handshake'))
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
      const end = received.indexOf('\r\n\r\n')
      if (end === -1) {
        if (received.length > 16384) finish(new Error('handshake response too large'))
        return
      }
      const head = received.subarray(0, end).toString('latin1')
      const lines = head.split('\r\n')
      const status = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')
      if (status === null || status[1] !== '101') {
        finish(new Error(`handshake refused: ${lines[0] ?? '(empty response)'}`))
        return
      }
      let accept: string | undefined
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':')
        if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === 'sec-websocket-accept') {
          accept = line.slice(colon + 1).trim()
        }
      }
      if (accept !== expectedAccept) {
        finish(new Error(`bad Sec-WebSocket-Accept: ${String(accept)}`))
        return
      }
      finish(undefined, received.subarray(end + 4))
    }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('close', onClose)
    socket.write(
      `GET ${path} HTTP/1.1\r\n` +
        `Host: ${host}:${port}\r\n` +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\n` +
        'Sec-WebSocket-Version: 13\r\n' +
        extraHeaders +
        '\r\n',
    )
  })
}

/** XORs `data` in place with a 4-byte key (RFC 6455 §5.3), 32 bits at a time where aligned. */
export function xorMask(data: Buffer, key: Buffer): void {
  let i = 0
  const misalign = data.byteOffset & 3
  if (data.length >= 64 && misalign !== 0) {
    for (; i < 4 - misalign; i++) data[i] ^= key[i & 3]
  }
  const words = (data.length - i) >>> 2
  if (data.length >= 64 && words > 0) {
    // Key as the little-endian word an Int32Array reads at payload position i.
    const word = key[i & 3] | (key[(i + 1) & 3] << 8) | (key[(i + 2) & 3] << 16) | (key[(i + 3) & 3] << 24)
    const view = new Int32Array(data.buffer, data.byteOffset + i, words)
    for (let w = 0; w < words; w++) view[w] ^= word
    i += words << 2
  }
  for (; i < data.length; i++) data[i] ^= key[i & 3]
}

/** One masked client frame (FIN set) with a fresh random masking key. */
export function maskedFrame(opcode: number, payload: Buffer, rsv = 0): Buffer {
  const length = payload.length
  const extended = length < 126 ? 0 : length <= 0xffff ? 2 : 8
  const frame = Buffer.allocUnsafe(2 + extended + 4 + length)
  frame[0] = 0x80 | rsv | opcode
  if (extended === 0) {
    frame[1] = 0x80 | length
  } else if (extended === 2) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  const key = randomBytes(4)
  key.copy(frame, 2 + extended)
  const body = frame.subarray(2 + extended + 4)
  payload.copy(body)
  xorMask(body, key)
  return frame
}

/** One raw-protocol message: 4-byte big-endian length, then the payload. */
export function rawMessage(payload: Buffer): Buffer {
  const message = Buffer.allocUnsafe(4 + payload.length)
  message.writeUInt32BE(payload.length, 0)
  payload.copy(message, 4)
  return message
}

/** Counts whole messages in a byte stream by reading headers only; payloads are skipped. */
export interface MessageCounter {
  /** Feeds one chunk; returns how many messages it completed. */
  push(chunk: Buffer): number
  /** Messages whose type or length differed from what was expected. */
  readonly unexpected: number
  /** Close code received (WebSocket only), or undefined. */
  readonly closeCode: number | undefined
  /** Payload bytes of the message in progress (for large-message progress). */
  readonly partialBytes: number
}

export interface WsCounterOptions {
  /** Expected opcode of every data message, or 0 for any. */
  expectOpcode: number
  /** Expected length of every data message, or -1 for any. */
  expectLength: number
  /** Called for each ping with its payload (the caller answers with a pong). */
  onPing?: (payload: Buffer) => void
  /** Called when a close frame arrives. */
  onClose?: (code: number) => void
}

/**
 * Parses server frames (RFC 6455 §5.2) header by header. A header split across chunks is
 * assembled in a 14-byte scratch buffer; payload bytes are skipped, except for control frames,
 * whose (≤ 125-byte) payloads are collected.
 */
export class WsMessageCounter implements MessageCounter {
  unexpected = 0
  closeCode: number | undefined = undefined
  partialBytes = 0
  private readonly scratch = Buffer.allocUnsafe(14)
  private scratchLength = 0
  private remaining = 0
  private opcode = 0
  private fin = false
  private messageOpcode = 0
  private control: Buffer | null = null
  private controlOffset = 0

  constructor(private readonly options: WsCounterOptions) {}

  push(chunk: Buffer): number {
    let completed = 0
    let i = 0
    const length = chunk.length
    while (i < length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, length - i)
        if (this.control !== null) {
          chunk.copy(this.control, this.controlOffset, i, i + take)
          this.controlOffset += take
        } else {
          this.partialBytes += take
        }
        i += take
        this.remaining -= take
        if (this.remaining === 0) completed += this.endFrame()
        continue
      }
      let source = chunk
      let start = i
      if (this.scratchLength > 0 || length - i < 2) {
        // Slow path: assemble the header in the scratch buffer.
        while (this.scratchLength < 2 && i < length) this.scratch[this.scratchLength++] = chunk[i++]
        if (this.scratchLength < 2) break
        const need = headerSize(this.scratch[1])
        while (this.scratchLength < need && i < length) this.scratch[this.scratchLength++] = chunk[i++]
        if (this.scratchLength < need) break
        source = this.scratch
        start = 0
        this.scratchLength = 0
      } else {
        const need = headerSize(chunk[i + 1])
        if (length - i < need) {
          chunk.copy(this.scratch, 0, i, length)
          this.scratchLength = length - i
          break
        }
        i += need
      }
      completed += this.beginFrame(source, start)
    }
    return completed
  }

  /** Reads the header at source[start]; returns 1 when a zero-length frame completed a message. */
  private beginFrame(source: Buffer, start: number): number {
    const b0 = source[start]
    const b1 = source[start + 1]
    this.fin = (b0 & 0x80) !== 0
    this.opcode = b0 & 0x0f
    let payloadLength = b1 & 0x7f
    if (payloadLength === 126) payloadLength = source.readUInt16BE(start + 2)
    else if (payloadLength === 127) payloadLength = source.readUInt32BE(start + 2) * 0x100000000 + source.readUInt32BE(start + 6)
    // Server frames are never masked; a masked one would be a server bug, counted as unexpected.
    if ((b1 & 0x80) !== 0) this.unexpected++
    if (this.opcode >= 0x8) {
      this.control = Buffer.allocUnsafe(payloadLength)
      this.controlOffset = 0
    } else {
      this.control = null
      if (this.opcode !== 0) {
        this.messageOpcode = this.opcode
        this.partialBytes = 0
      }
    }
    this.remaining = payloadLength
    return payloadLength === 0 ? this.endFrame() : 0
  }

  private endFrame(): number {
    const control = this.control
    if (control !== null) {
      this.control = null
      if (this.opcode === OP_PING) this.options.onPing?.(control)
      else if (this.opcode === OP_CLOSE) {
        this.closeCode = control.length >= 2 ? control.readUInt16BE(0) : 1005
        this.options.onClose?.(this.closeCode)
      }
      return 0
    }
    if (!this.fin) return 0
    const { expectOpcode, expectLength } = this.options
    if ((expectOpcode !== 0 && this.messageOpcode !== expectOpcode) || (expectLength >= 0 && this.partialBytes !== expectLength)) {
      this.unexpected++
    }
    this.partialBytes = 0
    return 1
  }
}

function headerSize(b1: number): number {
  const length = b1 & 0x7f
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0)
}

/** The raw protocol's counterpart: 4-byte big-endian length headers, payloads skipped. */
export class RawMessageCounter implements MessageCounter {
  unexpected = 0
  readonly closeCode = undefined
  partialBytes = 0
  private readonly scratch = Buffer.allocUnsafe(4)
  private scratchLength = 0
  private remaining = 0
  private inMessage = false

  constructor(private readonly expectLength: number) {}

  push(chunk: Buffer): number {
    let completed = 0
    let i = 0
    const length = chunk.length
    while (i < length) {
      if (this.inMessage) {
        const take = Math.min(this.remaining, length - i)
        i += take
        this.remaining -= take
        this.partialBytes += take
        if (this.remaining === 0) completed += this.endMessage()
        continue
      }
      let messageLength: number
      if (this.scratchLength > 0 || length - i < 4) {
        while (this.scratchLength < 4 && i < length) this.scratch[this.scratchLength++] = chunk[i++]
        if (this.scratchLength < 4) break
        this.scratchLength = 0
        messageLength = this.scratch.readUInt32BE(0)
      } else {
        messageLength = chunk.readUInt32BE(i)
        i += 4
      }
      this.inMessage = true
      this.remaining = messageLength
      this.partialBytes = 0
      if (messageLength === 0) completed += this.endMessage()
    }
    return completed
  }

  private endMessage(): number {
    this.inMessage = false
    if (this.expectLength >= 0 && this.partialBytes !== this.expectLength) this.unexpected++
    this.partialBytes = 0
    return 1
  }
}
