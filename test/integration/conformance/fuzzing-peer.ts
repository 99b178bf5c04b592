// One connection of the fuzzing peer, client or server side. It keeps the closing-handshake
// bookkeeping Autobahn|Testsuite grades on (closedByMe, failedByMe, droppedByMe, wasClean,
// the close codes each side sent) and offers the case scripts Autobahn's sending primitives:
// frames with any header bits, byte-wise "chops", "sync" writes, delayed continuations.
import type { Socket } from 'node:net'
import type { PeerDeflate } from './deflate'
import {
  encodeFrame,
  encodeHeader,
  FrameReader,
  isValidCloseCode,
  isValidUtf8,
  masked,
  newMaskKey,
  Op,
  repeatTo,
  toBytes,
  type InboundFrame,
} from './wire'

export type PeerState = 'OPEN' | 'CLOSING' | 'CLOSED'

/** What the peer reports to the case it runs. */
export interface PeerHandler {
  onOpen(): void
  onMessage(payload: Buffer, binary: boolean): void
  onPong(payload: Buffer): void
  onConnectionLost(): void
}

export interface PeerOptions {
  /** The fuzzer's role: 'client' tests a server (and masks), 'server' tests a client (and must not mask). */
  role: 'client' | 'server'
  /** Multiplies the delays the cases ask for (killAfter, closeAfter, continueLater). Default 1. */
  timeScale?: number
  /**
   * How the fuzzer fails a connection (its own kill timer, or a violation by the peer): true drops
   * TCP, false (default) sends a close frame first, as the widely used `"failByDrop": false`
   * configuration does. false is the stricter setting: a peer that did not fail a connection it
   * should have failed is then seen as "closed by the wrong endpoint".
   */
  failByDrop?: boolean
  /** Milliseconds the peer has to answer our close frame. Autobahn: 1 s. */
  closeHandshakeTimeout?: number
  /** Milliseconds a server has to drop TCP after the closing handshake. Autobahn: 1 s. */
  serverConnectionDropTimeout?: number
  /** permessage-deflate, when the opening handshake negotiated it (groups 12, 13). */
  deflate?: PeerDeflate
}

export interface SendFrameOptions {
  opcode: number
  payload?: Uint8Array | string
  fin?: boolean
  rsv?: number
  /** Repeat `payload` to this many bytes (Autobahn's payload_len). */
  payloadLength?: number
  /** Write the frame in pieces of this many bytes, each its own write (Autobahn's chopsize). */
  chopsize?: number
  /** Write the frame as its own write, after the previous ones reached the socket (Autobahn's sync). */
  sync?: boolean
}

const GOING_AWAY = 1001
const PROTOCOL_ERROR = 1002
const INVALID_PAYLOAD = 1007
const NORMAL = 1000

export class FuzzingPeer {
  state: PeerState = 'OPEN'
  /** We sent the first close frame. */
  closedByMe = false
  /** We failed the connection (kill timer, or a protocol violation by the peer). */
  failedByMe = false
  /** We closed the TCP connection. */
  droppedByMe = false
  /** Close frames went both ways and the server closed TCP (its duty, RFC 6455 §7.1.1). */
  wasClean = false
  wasNotCleanReason: string | null = null
  localCloseCode: number | null = null
  remoteCloseCode: number | null = null
  remoteCloseReason: string | null = null
  /** A close frame from the peer was received (with or without a status code). */
  closeFrameReceived = false
  /** Observations about the peer that Autobahn does not grade (pings, violations it committed). */
  readonly notes: string[] = []
  /** Data and control frames we transmitted, by opcode. */
  readonly txFrames = new Map<number, number>()
  readonly startedAt = Date.now()
  endedAt = 0

  readonly role: 'client' | 'server'
  private readonly timeScale: number
  private readonly failByDrop: boolean
  private readonly closeHandshakeTimeout: number
  private readonly serverConnectionDropTimeout: number
  private readonly reader: FrameReader
  private queue: Buffer[] = []
  private draining = false
  private readonly timers = new Set<NodeJS.Timeout>()
  private closeHandshakeTimer: NodeJS.Timeout | null = null
  private message: { opcode: number; parts: Buffer[]; length: number; compressed: boolean } | null = null
  private readonly deflate: PeerDeflate | undefined
  /** After a violation by the peer, only its close frame still matters. */
  private ignoreData = false
  private finished = false
  private resolveDone!: () => void
  /** Resolves once the TCP connection is gone and the handler has graded the case. */
  readonly done: Promise<void>

  constructor(
    readonly socket: Socket,
    options: PeerOptions,
    private readonly handler: PeerHandler,
  ) {
    this.role = options.role
    this.timeScale = options.timeScale ?? 1
    this.failByDrop = options.failByDrop ?? false
    this.closeHandshakeTimeout = options.closeHandshakeTimeout ?? 1000
    this.serverConnectionDropTimeout = options.serverConnectionDropTimeout ?? 1000
    this.deflate = options.deflate
    this.reader = new FrameReader(
      (frame) => this.onFrame(frame),
      (message) => this.protocolViolation(message),
    )
    this.done = new Promise((resolve) => (this.resolveDone = resolve))
  }

  /** permessage-deflate was negotiated in the opening handshake. */
  get compressionNegotiated(): boolean {
    return this.deflate !== undefined
  }

  /** Takes over the socket after the opening handshake; `head` holds bytes that came with it. */
  start(head: Buffer): void {
    const socket = this.socket
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => {
      if (this.state !== 'CLOSED') this.reader.push(chunk)
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!this.droppedByMe) this.notes.push(`socket error: ${error.code ?? error.message}`)
    })
    socket.on('close', () => this.connectionLost())
    this.handler.onOpen()
    if (head.length !== 0 && this.state !== 'CLOSED') this.reader.push(head)
    socket.resume()
  }

  // ---- sending primitives used by the cases ----

  sendFrame(options: SendFrameOptions): void {
    const base = toBytes(options.payload)
    const payload = options.payloadLength === undefined ? base : repeatTo(base, options.payloadLength)
    const frame = encodeFrame(options.opcode, payload, {
      fin: options.fin ?? true,
      rsv: options.rsv ?? 0,
      mask: this.role === 'client',
    })
    this.countFrame(options.opcode)
    this.sendData(frame, options.sync ?? false, options.chopsize)
  }

  /** A message as one frame, or in fragments of `fragmentSize` bytes, written together. */
  /**
   * With `compress` (permessage-deflate negotiated), the message is compressed and its compressed
   * bytes are fragmented, RSV1 on the first frame only (RFC 7692 §6.1).
   */
  sendMessage(payload: Uint8Array | string, options: { binary?: boolean; fragmentSize?: number; compress?: boolean } = {}): void {
    const compress = options.compress === true
    if (compress && this.deflate === undefined) throw new Error('sendMessage: compression was not negotiated')
    const bytes = compress ? this.deflate!.compress(toBytes(payload)) : toBytes(payload)
    const rsv = compress ? 4 : 0 // RSV1 (rsv is the 3-bit field, as Autobahn counts it)
    const opcode = options.binary ? Op.Binary : Op.Text
    const size = options.fragmentSize
    if (size === undefined || bytes.length <= size) {
      this.sendFrame({ opcode, payload: bytes, rsv })
      return
    }
    const frames: Buffer[] = []
    for (let at = 0; at < bytes.length; at += size) {
      const end = Math.min(at + size, bytes.length)
      const frameOpcode = at === 0 ? opcode : Op.Continuation
      frames.push(encodeFrame(frameOpcode, bytes.subarray(at, end), { fin: end === bytes.length, mask: this.role === 'client', rsv: at === 0 ? rsv : 0 }))
      this.countFrame(frameOpcode)
    }
    this.sendData(Buffer.concat(frames))
  }

  /**
   * Starts one frame whose payload is then written in parts (Autobahn's beginMessageFrame /
   * sendMessageFrameData): the declared length covers all parts.
   */
  beginFrame(opcode: number, length: number, fin = true): { write(part: Uint8Array | string): void } {
    const maskKey = this.role === 'client' ? newMaskKey() : null
    this.countFrame(opcode)
    this.sendData(encodeHeader({ opcode, fin, rsv: 0, length, maskKey }))
    let offset = 0
    return {
      write: (part) => {
        const bytes = toBytes(part)
        this.sendData(maskKey ? masked(bytes, maskKey, offset) : bytes)
        offset += bytes.length
      },
    }
  }

  /** Starts the closing handshake with a valid close frame (ignored unless OPEN). */
  sendClose(code?: number, reason?: string): void {
    this.sendCloseFrame(code, reason === undefined ? undefined : Buffer.from(reason, 'utf8'))
  }

  /** Sends a close frame with any code and raw reason bytes (the cases send invalid ones on purpose). */
  sendCloseFrame(code?: number | null, reason?: Buffer, isReply = false): void {
    if (this.state !== 'OPEN') return
    const parts: Buffer[] = []
    if (code !== undefined && code !== null) {
      const bytes = Buffer.alloc(2)
      bytes.writeUInt16BE(code & 0xffff)
      parts.push(bytes)
    }
    if (reason !== undefined) parts.push(reason)
    this.sendFrame({ opcode: Op.Close, payload: Buffer.concat(parts) })
    this.state = 'CLOSING'
    this.closedByMe = !isReply
    this.localCloseCode = code ?? null
    if (this.closedByMe && this.closeHandshakeTimeout > 0) {
      this.closeHandshakeTimer = this.timer(this.closeHandshakeTimeout, () => {
        this.closeHandshakeTimer = null
        if (this.state === 'CLOSED') return
        this.wasClean = false
        this.wasNotCleanReason = 'peer did not answer our close frame in time'
        this.drop(true)
      })
    }
  }

  /** Fails the connection after `seconds` (scaled) unless it is gone by then. */
  killAfter(seconds: number): void {
    this.timer(seconds * 1000 * this.timeScale, () => {
      if (this.state !== 'CLOSED') {
        this.notes.push(`kill timer (${seconds} s) fired`)
        this.failConnection(GOING_AWAY, 'going away')
      }
    })
  }

  /** Starts the closing handshake (close frame without status) after `seconds` (scaled). */
  closeAfter(seconds: number): void {
    this.timer(seconds * 1000 * this.timeScale, () => {
      if (this.state !== 'CLOSED') this.sendClose()
    })
  }

  /** Runs `next` after `seconds` (scaled) if the connection still exists: a legitimate pause between parts. */
  continueLater(seconds: number, next: () => void): void {
    this.timer(seconds * 1000 * this.timeScale, () => {
      if (this.state !== 'CLOSED') next()
    })
  }

  // ---- Autobahn's connection-failing rules ----

  failConnection(code: number, reason: string): void {
    if (this.state === 'CLOSED') return
    this.failedByMe = true
    if (this.failByDrop) {
      this.wasClean = false
      this.wasNotCleanReason = `I dropped the WebSocket TCP connection: ${reason}`
      this.drop(true)
    } else if (this.state !== 'CLOSING') {
      this.sendCloseFrame(code, Buffer.from(reason.slice(0, 123), 'utf8'))
    } else {
      this.drop(false)
    }
  }

  private protocolViolation(reason: string): void {
    this.notes.push(`peer violated the protocol: ${reason}`)
    this.ignoreData = true
    this.failConnection(PROTOCOL_ERROR, reason)
  }

  private invalidPayload(reason: string): void {
    this.notes.push(`peer sent invalid payload: ${reason}`)
    this.ignoreData = true
    this.failConnection(INVALID_PAYLOAD, reason)
  }

  /** Closes TCP: gracefully (FIN after our output) or at once. */
  drop(abort: boolean): void {
    if (this.state === 'CLOSED') return
    this.droppedByMe = true
    this.state = 'CLOSED'
    if (abort) {
      this.socket.destroy()
    } else {
      this.socket.end()
      // A peer that never closes its side must not hold the case open.
      this.timer(2000, () => this.socket.destroy())
    }
  }

  // ---- receiving ----

  private onFrame(frame: InboundFrame): void {
    if (this.state === 'CLOSED') return
    if (this.ignoreData && frame.opcode !== Op.Close) return
    // RFC 7692 §6.1: with permessage-deflate, RSV1 may mark the first frame of a data message.
    const compressedStart = frame.rsv === 4 && this.deflate !== undefined && (frame.opcode === Op.Text || frame.opcode === Op.Binary)
    if (frame.rsv !== 0 && !compressedStart) {
      return this.protocolViolation(`RSV = ${frame.rsv} and ${this.deflate === undefined ? 'no extension negotiated' : 'not the first frame of a data message'}`)
    }
    if (this.role === 'client' && frame.masked) return this.protocolViolation('masked server-to-client frame')
    if (this.role === 'server' && !frame.masked) return this.protocolViolation('unmasked client-to-server frame')
    const { opcode, payload } = frame
    if (opcode >= 0x8) {
      if (!frame.fin) return this.protocolViolation('fragmented control frame')
      if (payload.length > 125) return this.protocolViolation('control frame with payload length > 125 octets')
      if (opcode === Op.Close) return this.onCloseFrame(payload)
      if (opcode === Op.Ping) {
        // Autobahn answers pings but does not record them; our peers should not ping in these cases.
        this.notes.push('peer sent a ping')
        if (this.state === 'OPEN') this.sendFrame({ opcode: Op.Pong, payload })
        return
      }
      if (opcode === Op.Pong) return this.handler.onPong(payload)
      return this.protocolViolation(`reserved control opcode ${opcode}`)
    }
    if (opcode === Op.Continuation) {
      if (this.message === null) return this.protocolViolation('continuation frame outside a fragmented message')
    } else if (opcode === Op.Text || opcode === Op.Binary) {
      if (this.message !== null) return this.protocolViolation('new data frame inside a fragmented message')
      this.message = { opcode, parts: [], length: 0, compressed: compressedStart }
    } else {
      return this.protocolViolation(`reserved data opcode ${opcode}`)
    }
    const message = this.message
    message.parts.push(payload)
    message.length += payload.length
    if (!frame.fin) return
    this.message = null
    let data = message.parts.length === 1 ? message.parts[0] : Buffer.concat(message.parts, message.length)
    if (message.compressed) {
      try {
        data = this.deflate!.inflate(data)
      } catch (error) {
        return this.protocolViolation(`invalid compressed message: ${(error as Error).message}`)
      }
    }
    if (message.opcode === Op.Text && !isValidUtf8(data)) return this.invalidPayload('text message is not valid UTF-8')
    this.handler.onMessage(data, message.opcode === Op.Binary)
  }

  private onCloseFrame(payload: Buffer): void {
    if (payload.length === 1) return this.protocolViolation('close frame with a 1-octet payload')
    this.closeFrameReceived = true
    this.remoteCloseCode = null
    this.remoteCloseReason = null
    if (payload.length >= 2) {
      const code = payload.readUInt16BE(0)
      this.remoteCloseCode = code
      if (!isValidCloseCode(code)) return this.protocolViolation(`invalid close code ${code}`)
      const reason = payload.subarray(2)
      if (!isValidUtf8(reason)) return this.invalidPayload('close reason is not valid UTF-8')
      this.remoteCloseReason = reason.toString('utf8')
    }
    if (this.state === 'CLOSING') {
      // The answer to our close frame.
      if (this.closeHandshakeTimer !== null) clearTimeout(this.closeHandshakeTimer)
      this.closeHandshakeTimer = null
      this.wasClean = true
      if (this.role === 'server') this.drop(true)
      else this.awaitServerDrop(true)
    } else if (this.state === 'OPEN') {
      // The peer started the closing handshake: answer it.
      this.wasClean = true
      this.sendCloseFrame(NORMAL, undefined, true)
      if (this.role === 'server') this.drop(false)
      else this.awaitServerDrop(false)
    }
  }

  /**
   * A client waits for the server to close TCP. Autobahn marks the close unclean when the server
   * does not after our close frame was answered, and drops it itself (graded "failed by client")
   * when it was the server's close frame we answered.
   */
  private awaitServerDrop(weStartedClosing: boolean): void {
    if (this.serverConnectionDropTimeout <= 0) return
    this.timer(this.serverConnectionDropTimeout, () => {
      if (this.state === 'CLOSED') return
      if (weStartedClosing) {
        this.wasClean = false
        this.wasNotCleanReason = 'server did not drop the TCP connection in time'
      }
      this.drop(weStartedClosing)
    })
  }

  private connectionLost(): void {
    if (this.finished) return
    this.finished = true
    this.state = 'CLOSED'
    this.endedAt = Date.now()
    this.clearTimers()
    this.queue = []
    if (!this.wasClean && !this.droppedByMe && this.wasNotCleanReason === null) {
      this.wasNotCleanReason = 'peer dropped the TCP connection without previous WebSocket closing handshake'
    }
    try {
      this.handler.onConnectionLost()
    } finally {
      this.resolveDone()
    }
  }

  // ---- plumbing ----

  /**
   * Writes like Autobahn's sendData: chopped or sync data goes through a queue whose entries are
   * written one at a time, each awaited and followed by a turn of the event loop so it leaves as
   * its own TCP segment; once the queue is in use, later writes join it to keep their order.
   */
  private sendData(data: Buffer, sync = false, chopsize?: number): void {
    if (this.state === 'CLOSED') return
    if (chopsize !== undefined && chopsize > 0) {
      for (let at = 0; at < data.length; at += chopsize) this.queue.push(data.subarray(at, at + chopsize))
      this.trigger()
    } else if (sync || this.queue.length !== 0 || this.draining) {
      this.queue.push(data)
      this.trigger()
    } else {
      this.socket.write(data)
    }
  }

  private trigger(): void {
    if (this.draining) return
    this.draining = true
    void this.drain()
  }

  private async drain(): Promise<void> {
    while (this.queue.length !== 0) {
      const chunk = this.queue.shift()!
      if (this.state === 'CLOSED' || this.socket.destroyed) continue
      await new Promise<void>((resolve) => this.socket.write(chunk, () => resolve()))
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    this.draining = false
  }

  private countFrame(opcode: number): void {
    this.txFrames.set(opcode, (this.txFrames.get(opcode) ?? 0) + 1)
  }

  private timer(ms: number, run: () => void): NodeJS.Timeout {
    const handle = setTimeout(() => {
      this.timers.delete(handle)
      run()
    }, ms)
    this.timers.add(handle)
    return handle
  }

  private clearTimers(): void {
    for (const handle of this.timers) clearTimeout(handle)
    this.timers.clear()
  }
}
