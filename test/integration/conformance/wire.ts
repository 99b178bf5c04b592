// The fuzzing peer's own wire format: frame building (with the deliberate mistakes the cases
// need: RSV bits, reserved opcodes, oversized control frames ...) and an inbound frame reader.
// Written independently of src/protocol on purpose: a bug shared by the code under test and the
// checker would cancel out.
import { createHash, randomBytes } from 'node:crypto'

export const Op = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const

/** RFC 6455 §1.3. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64')
}

export function toBytes(payload: Uint8Array | string | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0)
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload)
}

/** `pattern` repeated (and cut) to exactly `length` bytes, as Autobahn's `payload_len` does. */
export function repeatTo(pattern: Buffer, length: number): Buffer {
  const out = Buffer.allocUnsafe(length)
  if (length === 0) return out
  if (pattern.length === 0) throw new RangeError('cannot repeat an empty payload')
  let filled = Math.min(pattern.length, length)
  pattern.copy(out, 0, 0, filled)
  while (filled < length) {
    const n = Math.min(filled, length - filled)
    out.copy(out, filled, 0, n)
    filled += n
  }
  return out
}

export interface HeaderFields {
  opcode: number
  fin: boolean
  rsv: number
  length: number
  maskKey: Buffer | null
}

export function encodeHeader({ opcode, fin, rsv, length, maskKey }: HeaderFields): Buffer {
  const extended = length < 126 ? 0 : length < 0x10000 ? 2 : 8
  const header = Buffer.alloc(2 + extended + (maskKey ? 4 : 0))
  header[0] = (fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (opcode & 0xf)
  const maskBit = maskKey ? 0x80 : 0
  if (extended === 0) {
    header[1] = maskBit | length
  } else if (extended === 2) {
    header[1] = maskBit | 126
    header.writeUInt16BE(length, 2)
  } else {
    header[1] = maskBit | 127
    header.writeBigUInt64BE(BigInt(length), 2)
  }
  if (maskKey) maskKey.copy(header, 2 + extended)
  return header
}

/** XORs `data` with the masking key, starting at position `offset` of the frame payload. Returns a copy. */
export function masked(data: Buffer, maskKey: Buffer, offset = 0): Buffer {
  const out = Buffer.allocUnsafe(data.length)
  for (let i = 0; i < data.length; i++) out[i] = data[i] ^ maskKey[(offset + i) & 3]
  return out
}

export function newMaskKey(): Buffer {
  return randomBytes(4)
}

/** A whole frame: header + payload, masked when `mask` is set (a client's frames). */
export function encodeFrame(opcode: number, payload: Buffer, options: { fin?: boolean; rsv?: number; mask: boolean }): Buffer {
  const maskKey = options.mask ? newMaskKey() : null
  const header = encodeHeader({ opcode, fin: options.fin ?? true, rsv: options.rsv ?? 0, length: payload.length, maskKey })
  return Buffer.concat([header, maskKey ? masked(payload, maskKey) : payload])
}

export interface InboundFrame {
  fin: boolean
  rsv: number
  opcode: number
  masked: boolean
  payload: Buffer
}

/**
 * Reads frames from a byte stream. Keeps a list of chunks; a payload is assembled once, when
 * all of it is there (no quadratic re-concatenation on large messages).
 */
export class FrameReader {
  private chunks: Buffer[] = []
  private buffered = 0
  private header: { fin: boolean; rsv: number; opcode: number; masked: boolean; length: number; maskKey: Buffer | null } | null = null

  constructor(private readonly onFrame: (frame: InboundFrame) => void, private readonly onError: (message: string) => void) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
    for (;;) {
      if (this.header === null) {
        if (this.buffered < 2) return
        const first = this.peek(2)
        const lengthCode = first[1] & 0x7f
        const isMasked = (first[1] & 0x80) !== 0
        const size = 2 + (lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0) + (isMasked ? 4 : 0)
        if (this.buffered < size) return
        const raw = this.take(size)
        let length = lengthCode
        let at = 2
        if (lengthCode === 126) {
          length = raw.readUInt16BE(2)
          at = 4
        } else if (lengthCode === 127) {
          const big = raw.readBigUInt64BE(2)
          if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
            this.onError(`frame length ${big} is not representable`)
            this.chunks = []
            this.buffered = 0
            return
          }
          length = Number(big)
          at = 10
        }
        this.header = {
          fin: (raw[0] & 0x80) !== 0,
          rsv: (raw[0] >> 4) & 0x7,
          opcode: raw[0] & 0xf,
          masked: isMasked,
          length,
          maskKey: isMasked ? Buffer.from(raw.subarray(at, at + 4)) : null,
        }
      }
      const header = this.header
      if (this.buffered < header.length) return
      let payload = this.take(header.length)
      if (header.maskKey) payload = masked(payload, header.maskKey)
      this.header = null
      this.onFrame({ fin: header.fin, rsv: header.rsv, opcode: header.opcode, masked: header.masked, payload })
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n)
    const parts: Buffer[] = []
    let have = 0
    for (const chunk of this.chunks) {
      if (have >= n) break
      parts.push(chunk)
      have += chunk.length
    }
    return Buffer.concat(parts).subarray(0, n)
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0)
    const first = this.chunks[0]
    if (first.length > n) {
      this.chunks[0] = first.subarray(n)
      this.buffered -= n
      return Buffer.from(first.subarray(0, n))
    }
    const parts: Buffer[] = []
    let need = n
    while (need > 0) {
      const chunk = this.chunks[0]
      if (chunk.length <= need) {
        parts.push(chunk)
        this.chunks.shift()
        need -= chunk.length
      } else {
        parts.push(chunk.subarray(0, need))
        this.chunks[0] = chunk.subarray(need)
        need = 0
      }
    }
    this.buffered -= n
    return Buffer.concat(parts, n)
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** Whole-buffer UTF-8 validity (V8/ICU decoder, independent of the code under test). */
export function isValidUtf8(bytes: Buffer): boolean {
  try {
    strictUtf8.decode(bytes)
    return true
  } catch {
    return false
  }
}

/** Close codes a peer may put on the wire (RFC 6455 §7.4 and the IANA registry). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}
