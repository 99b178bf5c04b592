import { EventEmitter } from 'node:events'
import type { IncomingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import { Readable, Writable } from 'node:stream'
// Straight from the defining modules, not '../protocol': its re-exports are getters, and a
// load through one on every message costs a generic property lookup.
import { encodeClosePayload } from '../protocol/close-code'
import { CloseCode, MAX_CONTROL_PAYLOAD, Opcode } from '../protocol/constants'
import { rememberInflatedText, type PerMessageDeflate } from '../protocol/extensions/per-message-deflate'
import { FrameParser, type FrameHandler } from '../protocol/frame-parser'
import { encodeFrame } from '../protocol/frame-builder'
import { MaskKeyPool } from '../protocol/mask'
import type { ProtocolError } from '../protocol/protocol-error'
import { countIn, type ConnectionMetrics } from './connection-metrics'
import { DeflateJob } from './deflate-job'
import { OutputQueue } from './output-queue'
import { ConnectionStateError } from './connection-state-error'
import { DirectReader, type DirectReadHooks } from './direct-reader'
import type { ResolvedConnectionOptions } from './options'
import { connectionId } from './pubsub/connection-id'
import { publishedPayloadLength } from './pubsub/published-frame'
import type { PublishedRun } from './pubsub/published-run'
import type { SubscribeOptions, TopicRegistry } from './pubsub/topic-registry'
import { forgetTransientText, rememberText, rememberTextPieces, Sender, type WriteCallback } from './sender'
import { releaseRequestMessage, requestUrl, type UpgradeRequest } from './upgrade-request'

export type ReadyState = 0 | 1 | 2 | 3

/** Clients of the whole process share one pool of random masking keys. */
const clientMaskKeys = new MaskKeyPool()
const EMPTY = Buffer.alloc(0)
/** RFC 7692 §6: RSV1 marks a compressed message. */
const RSV1 = 0x40
const NO_TOPICS: readonly string[] = Object.freeze([])
/** Reading from the peer pauses while this much of our output is unsent (or maxBufferedAmount / 2). */
const READ_PAUSE_BYTES = 1024 * 1024
/**
 * A peer whose last message had this many payload bytes or more reads into buffers of its own
 * (see nextReadBuffer): parsing large messages in the shared buffer would copy most of each read
 * out (callgrind, 64 KiB text echo: 336k → ~410k instructions per message).
 */
const OWN_READS_FROM = 16 * 1024
/** The size of those buffers: Node's own read size. */
const OWN_READ_SIZE = 64 * 1024
/** Pings in one read, with our output over READ_PAUSE_BYTES, that make a ping flood (1008). */
const PING_FLOOD_PINGS = 8

/** @internal How a Connection is set up by the server or the client. */
export interface ConnectionInit {
  role: 'server' | 'client'
  options: ResolvedConnectionOptions
  path: string
  headers: IncomingHttpHeaders
  protocols: readonly string[]
  protocol?: string
  request?: UpgradeRequest
  /** The negotiated permessage-deflate state (server side; the client sets it once the answer is in). */
  compression?: PerMessageDeflate
  /** The server's counters for this connection (unless its request names others); none by default. */
  metrics?: ConnectionMetrics | null
}

// eslint-disable-next-line @typescript-eslint/no-unused-vars
export interface Connection<TData extends object = Record<string, unknown>> {
  on(event: 'connect' | 'drain', listener: () => void): this
  on(event: 'text', listener: (text: string) => void): this
  /** A Readable of the message's fragments (binaryMode 'stream', the default), or a Buffer ('buffer'). */
  on(event: 'binary', listener: (data: Readable & Buffer) => void): this
  on(event: 'message', listener: (data: string | Buffer) => void): this
  on(event: 'ping' | 'pong', listener: (payload: Buffer) => void): this
  on(event: 'close', listener: (code: number, reason: string) => void): this
  on(event: 'error', listener: (error: Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'connect' | 'drain', listener: () => void): this
  once(event: 'text', listener: (text: string) => void): this
  once(event: 'binary', listener: (data: Readable & Buffer) => void): this
  once(event: 'message', listener: (data: string | Buffer) => void): this
  once(event: 'ping' | 'pong', listener: (payload: Buffer) => void): this
  once(event: 'close', listener: (code: number, reason: string) => void): this
  once(event: 'error', listener: (error: Error) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

/**
 * One WebSocket connection, server or client side.
 *
 * Events: `connect`, `text` (string), `binary` (a Readable, or a Buffer with binaryMode
 * 'buffer'), `message` (every message whole: a string, or a Buffer — in 'stream' mode a
 * 'message' listener has binary messages gathered for it, up to maxMessageSize), `ping`,
 * `pong`, `drain`, `error` (emitted only when someone listens, so a peer's misbehaviour never
 * crashes the process), and `close` (code, reason) exactly once — 1006 when the connection
 * ended without a closing handshake.
 *
 * Send calls never throw on a closed connection: they return false and pass a
 * ConnectionStateError to the callback. While CONNECTING (client) they throw.
 */
export class Connection<TData extends object = Record<string, unknown>> extends EventEmitter {
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSING = 2
  static readonly CLOSED = 3

  readyState: ReadyState = 0
  /**
   * path, headers and protocols of a connection without a request (the client side); a server
   * connection reads them from its request instead (24 B an idle connection does not keep twice).
   */
  private handshake?: { path: string; headers: IncomingHttpHeaders; protocols: readonly string[] }
  /** The negotiated subprotocol, or undefined. */
  protocol: string | undefined
  /**
   * The TCP (or TLS) socket, once the handshake is done. The connection owns its reads: a plain
   * TCP socket reads straight into the connection's buffers from its first read on and emits no
   * 'data' events (listening for them sees nothing); write to it only through the connection.
   */
  socket!: Socket
  /** Server side: the upgrade request as the hooks saw it. */
  readonly request: UpgradeRequest | undefined
  private dataValue: TData | undefined

  private readonly options: ResolvedConnectionOptions
  /** Created by the first send (see output()): an idle connection holds none. */
  private sender: Sender | null = null
  /** Created by the first bytes from the peer (see input()); STOPPED_PARSER once input is ignored. */
  private parser: FrameParser | null = null
  /** The closing handshake's state, created when it starts (see ClosingState): an open connection holds none. */
  private closing: ClosingState | null = null
  private inbound: Readable | null = null
  /** The fragments of a streamed binary message, gathered for 'message' listeners (null when none listen). */
  private gathered: Buffer[] | null = null
  /** The open beginBinary() message, with the sends deferred behind it (null when none is). */
  private outbound: OutboundMessage | null = null
  /** Output waiting behind a message still compressing off the main thread (null when none is). */
  private waiting: OutputQueue | null = null
  private idleTimer: NodeJS.Timeout | null = null
  private closed = false
  private pausedForStream = false
  private pausedForOutput = false
  /** Someone was told to wait for 'drain' (a send returned false, or drain() is pending). */
  private drainWanted = false
  /** An empty write is in flight to learn when the socket has written what is queued. */
  private drainProbe = false
  /**
   * Pings in the current read (for the ping-flood check), or IDLE_PROBE once the idle timer has
   * pinged a silent peer: every read starts by resetting it to 0, which is exactly "the peer
   * answered". One field for both, since both end at the next read.
   */
  private pingsThisRead = 0
  /** @internal permessage-deflate, when negotiated (RFC 7692). */
  compression: PerMessageDeflate | null
  /** @internal Set by the server's heartbeat: false after a ping until the pong arrives. */
  alive = true
  /**
   * @internal The framework's state for this connection (its ConnectionSession), which its
   * listeners, shared by all connections, find here. The core never reads it.
   */
  owner: unknown = undefined
  /** @internal The counters this connection adds to (shared per server or gateway), or null. */
  readonly metrics: ConnectionMetrics | null

  /** @internal */
  constructor(init: ConnectionInit) {
    super()
    // EventEmitter stores listeners in a prototype-less object literal, which V8 keeps as a
    // dictionary (~200 B); an instance of a class whose prototype has no prototype behaves the
    // same for EventEmitter (own keys, no inherited names) and stays a small fast object.
    ;(this as unknown as { _events: object })._events = new ListenerTable()
    const request = init.request
    // The role is the request's presence (a field fewer): the server passes its upgrade request, a client has none.
    if ((init.role === 'server') !== (request !== undefined)) throw new TypeError('a server connection needs its upgrade request, a client none')
    // Hooks (verifyRequest, the framework's per-gateway options) may override these per connection.
    // A copy only where they differ: the framework sets both on every request, mostly to the
    // server's own values, and a copy per connection is memory an idle connection keeps.
    const maxBufferedAmount = request?.maxBufferedAmount ?? init.options.maxBufferedAmount
    const slowConsumer = request?.slowConsumer ?? init.options.slowConsumer
    this.options =
      maxBufferedAmount === init.options.maxBufferedAmount && slowConsumer === init.options.slowConsumer
        ? init.options
        : { ...init.options, maxBufferedAmount, slowConsumer }
    if (request === undefined) this.handshake = { path: init.path, headers: init.headers, protocols: init.protocols }
    this.protocol = init.protocol
    this.request = init.request
    this.metrics = request?.metrics !== undefined ? request.metrics : (init.metrics ?? null)
    this.compression = init.compression ?? null
  }

  /** The request path, with its query string, as the client sent it. */
  get path(): string {
    return this.handshake !== undefined ? this.handshake.path : requestUrl(this.request!)
  }

  /** Server: the request headers. Client: the response headers (once open). */
  get headers(): IncomingHttpHeaders {
    return this.handshake !== undefined ? this.handshake.headers : this.request!.headers
  }

  set headers(value: IncomingHttpHeaders) {
    this.handshake = { path: this.path, headers: value, protocols: this.protocols }
  }

  /** Subprotocols the client offered, most preferred first. */
  get protocols(): readonly string[] {
    return this.handshake !== undefined ? this.handshake.protocols : this.request!.protocols
  }

  /** The negotiated extensions, as in Sec-WebSocket-Extensions ('' for none): `permessage-deflate; ...`. */
  get extensions(): string {
    return this.compression === null ? '' : this.compression.header
  }

  /** Per-connection data for the application (from `verifyRequest`, guards ...): the request's `data`. */
  get data(): TData {
    return (this.dataValue ??= (this.request === undefined ? {} : this.request.data) as TData)
  }

  set data(value: TData) {
    this.dataValue = value
  }

  /** Bytes queued by send calls and not yet written to the kernel. */
  get bufferedAmount(): number {
    const queued = this.waiting === null ? 0 : this.waiting.bytes
    return queued + (this.sender !== null ? this.sender.bufferedAmount : this.socket === undefined ? 0 : this.socket.writableLength)
  }

  /** The peer's IP address: server side as read at the handshake (so it survives the close). */
  get remoteAddress(): string | undefined {
    return this.request !== undefined ? this.request.remoteAddress : this.socket?.remoteAddress
  }

  /**
   * @internal Takes over the upgraded socket: the connection is OPEN, `onOpen` runs (the
   * server emits 'connection' there, so its listeners can already send), 'connect' is emitted,
   * then the bytes that came with the handshake (`head`) are parsed.
   */
  attach(socket: Socket, head: Buffer, onOpen?: (connection: Connection<object>) => void): void {
    this.socket = socket
    socket.setNoDelay(true)
    if (this.options.idleTimeout > 0) {
      // Only what the peer sends counts: a socket timeout would also be reset by our own writes.
      // A shared function with the connection as argument: no closure per connection.
      this.idleTimer = setTimeout(idleTimerFired, this.options.idleTimeout, this)
      this.idleTimer.unref()
    }
    // Shared listeners that find the connection on the socket: no closures per connection.
    ;(socket as SocketWithConnection)[kConnection] = this
    // The first read switches a plain TCP socket to direct reads (see onData); the listener
    // stays for the others (TLS, other Duplexes) and keeps the stream flowing, which is what
    // reports 'end'.
    socket.on('data', socketOnData)
    skipReadMoreTicks(socket)
    listenForEnd(socket)
    socket.on('close', socketOnClose)
    socket.on('error', socketOnError)
    socket.on('drain', socketOnDrain)
    this.readyState = Connection.OPEN
    const metrics = this.metrics
    if (metrics !== null) {
      metrics.connectionsOpened++
      countIn(metrics.connectionsOpen, this.protocol ?? '')
    }
    if (onOpen !== undefined) onOpen(this)
    if (this.readyState !== Connection.OPEN) return
    // guard() without its closure: this runs once per handshake.
    try {
      this.emit('connect')
    } catch (error) {
      this.onListenerError(error)
    }
    if (this.request !== undefined) releaseRequestMessage(this.request)
    // The head may view a buffer the http parser reuses: parse a copy, since payloads are views.
    if (head.length !== 0 && !this.closed) this.onData(Buffer.from(head))
  }

  /** Sends a text message. Returns false when the caller should wait for 'drain'. */
  sendText(text: string, callback?: WriteCallback): boolean {
    if (this.readyState !== Connection.OPEN) return this.refuse(callback)
    if (typeof text !== 'string') throw new TypeError('sendText expects a string')
    if (this.outbound !== null) return this.defer(() => this.sendText(text, callback))
    const sender = this.output()
    if (this.unsent(sender) > this.options.maxBufferedAmount) return this.overflow(callback)
    const compression = this.compression
    if (compression !== null && text.length * 3 >= compression.asyncThreshold && text.length >= compression.threshold) {
      const job = this.textJob(compression, text)
      if (job !== null) {
        this.queueJob(job, callback)
        return this.accepted(sender)
      }
    }
    if (this.waiting !== null) this.waiting.push(null, () => this.writeText(text, callback), text.length, callback)
    else this.writeText(text, callback)
    return this.accepted(sender)
  }

  /** Frames a text message now (sendText, or its turn in the queue came). */
  private writeText(text: string, callback: WriteCallback | undefined): void {
    const sender = this.output()
    const compression = this.compression
    let bytes: number
    // RFC 7692 §6: a message is compressed or not, one by one; small ones do not pay.
    if (compression !== null && text.length >= compression.threshold) {
      // Relayed or repeated texts reuse compressed bytes (see compressText).
      const payload = compression.compressText(text)
      sender.frame(Opcode.Text, payload, true, callback, RSV1)
      bytes = payload.length
    } else {
      bytes = sender.text(text, true, callback)
    }
    const metrics = this.metrics
    if (metrics !== null) {
      metrics.textMessagesSent++
      metrics.textBytesSent += bytes
    }
  }

  /**
   * A job compressing `text` off the main thread, when it is that large in UTF-8 and has no
   * compressed bytes at hand already (a relayed text, see compressedCopy); else null.
   */
  private textJob(compression: PerMessageDeflate, text: string): DeflateJob | null {
    const threshold = compression.asyncThreshold
    // Measured without encoding: a text just under the threshold is then encoded once, by compressText.
    if (text.length < threshold && Buffer.byteLength(text, 'utf8') < threshold) return null
    if (compression.compressedCopy(text) !== null) return null
    const data = Buffer.from(text, 'utf8')
    const metrics = this.metrics
    if (metrics !== null) {
      metrics.textMessagesSent++
      metrics.textBytesSent += data.length
    }
    return new DeflateJob(compression, data, Opcode.Text, false)
  }

  /** Sends a binary message (one frame; use beginBinary() to stream fragments). */
  sendBinary(data: Uint8Array, callback?: WriteCallback): boolean {
    if (this.readyState !== Connection.OPEN) return this.refuse(callback)
    if (!(data instanceof Uint8Array)) throw new TypeError('sendBinary expects a Buffer or Uint8Array')
    if (this.outbound !== null) return this.defer(() => this.sendBinary(data, callback))
    const sender = this.output()
    if (this.unsent(sender) > this.options.maxBufferedAmount) return this.overflow(callback)
    const metrics = this.metrics
    if (metrics !== null) {
      metrics.binaryMessagesSent++
      metrics.binaryBytesSent += data.length
    }
    const compression = this.compression
    if (compression !== null && data.length >= compression.threshold && data.length >= compression.asyncThreshold) {
      const bytes = data instanceof Buffer ? data : Buffer.from(data.buffer, data.byteOffset, data.length)
      this.queueJob(new DeflateJob(compression, bytes, Opcode.Binary, false), callback)
    } else if (this.waiting !== null) {
      this.waiting.push(null, () => this.writeBinary(data, callback), data.length, callback)
    } else {
      this.writeBinary(data, callback)
    }
    return this.accepted(sender)
  }

  /** Frames a binary message now (sendBinary, or its turn in the queue came). */
  private writeBinary(data: Uint8Array, callback: WriteCallback | undefined): void {
    const compression = this.compression
    if (compression !== null && data.length >= compression.threshold) {
      const bytes = data instanceof Buffer ? data : Buffer.from(data.buffer, data.byteOffset, data.length)
      this.output().frame(Opcode.Binary, compression.compress(bytes), true, callback, RSV1)
    } else {
      this.output().frame(Opcode.Binary, data, true, callback)
    }
  }

  /** Sends a string as text, a Buffer/Uint8Array as binary. */
  send(data: string | Uint8Array, callback?: WriteCallback): boolean {
    return typeof data === 'string' ? this.sendText(data, callback) : this.sendBinary(data, callback)
  }

  /** A short id, unique within this process: the connection's member id in topic presence. */
  get id(): string {
    return connectionId(this)
  }

  /**
   * Subscribes this server-side connection to `topic`: `server.publish(topic, ...)` on this
   * server, or on any instance sharing its broker, reaches it. With `options.presence` it also
   * appears in `server.presence(topic)` with that data. Returns false when it already
   * subscribes to the topic or is not open. Subscriptions end when the connection closes
   * (before its 'close' listeners run). Throws on a client connection (clients cannot
   * subscribe or publish), a topic that is not a 1–1024 character string, or presence data
   * that is not JSON of at most 1 KiB.
   */
  subscribe(topic: string, options?: SubscribeOptions): boolean {
    return this.topicRegistry().subscribe(this, topic, options)
  }

  /** Ends the subscription to `topic` (and its presence). Returns false when there was none. */
  unsubscribe(topic: string): boolean {
    return this.topicRegistry().unsubscribe(this, topic)
  }

  /** The topics this connection subscribes to: a snapshot, in subscription order (none for a client). */
  get topics(): readonly string[] {
    return this.options.topics === undefined ? NO_TOPICS : this.options.topics.topicsOf(this)
  }

  /** Sends a ping (payload ≤ 125 bytes). The peer's pong is emitted as 'pong'. */
  sendPing(data: string | Uint8Array = EMPTY, callback?: WriteCallback): boolean {
    const payload = typeof data === 'string' ? Buffer.from(data) : data
    if (payload.length > MAX_CONTROL_PAYLOAD) throw new RangeError('a ping payload must be at most 125 bytes')
    if (this.readyState !== Connection.OPEN) return this.refuse(callback)
    const sender = this.output()
    this.inOrder(() => sender.frame(Opcode.Ping, payload, true, callback), payload.length, callback)
    return this.accepted(sender)
  }

  /**
   * Starts a binary message sent as a stream: each `fragmentSize` bytes written leave as one
   * fragment; `end()` sends the final one. Other messages sent meanwhile wait for it to end.
   */
  beginBinary(): Writable {
    if (this.readyState !== Connection.OPEN) {
      throw new ConnectionStateError(this.readyState, 'beginBinary() needs an open connection')
    }
    if (this.outbound !== null) throw new ConnectionStateError(this.readyState, 'a binary stream is already open')
    const fragmentSize = this.options.fragmentSize
    let pending: Buffer[] = []
    let pendingLength = 0
    let first = true
    const take = (n: number): Buffer => {
      let out: Buffer
      if (pending[0].length >= n) {
        out = pending[0].subarray(0, n)
        pending[0] = pending[0].subarray(n)
        if (pending[0].length === 0) pending.shift()
      } else {
        const all = Buffer.concat(pending, pendingLength)
        out = all.subarray(0, n)
        pending = all.length > n ? [all.subarray(n)] : []
      }
      pendingLength -= n
      return out
    }
    const compression = this.compression
    const fragment = (data: Buffer, fin: boolean, callback?: WriteCallback): void => {
      const opcode = first ? Opcode.Binary : Opcode.Continuation
      const rsv = first ? RSV1 : 0
      // RFC 7692 §6.1: RSV1 on the first frame only. Compressed when its turn comes: a context
      // takeover compressor may still be busy with a message queued before.
      if (compression !== null) this.inOrder(() => this.output().frame(opcode, compression.compressFragment(data, fin), fin, callback, rsv), data.length, callback)
      else this.inOrder(() => this.output().frame(opcode, data, fin, callback), data.length, callback)
      const metrics = this.metrics
      if (metrics !== null) {
        if (first) metrics.binaryMessagesSent++
        metrics.binaryBytesSent += data.length
      }
      first = false
    }
    const stream = new Writable({
      highWaterMark: fragmentSize,
      write: (chunk: Buffer, _encoding, callback) => {
        if (this.readyState !== Connection.OPEN) {
          callback(new ConnectionStateError(this.readyState, 'the connection closed during beginBinary()'))
          return
        }
        pending.push(chunk)
        pendingLength += chunk.length
        // Keep the last bytes back so the final fragment (sent on end) is never empty.
        while (pendingLength > fragmentSize) fragment(take(fragmentSize), false)
        if (this.bufferedAmount < this.options.highWaterMark) callback()
        else this.whenDrained(callback)
      },
      final: (callback) => {
        if (this.readyState !== Connection.OPEN) {
          callback(new ConnectionStateError(this.readyState, 'the connection closed during beginBinary()'))
          return
        }
        fragment(pendingLength === 0 ? EMPTY : take(pendingLength), true, (error) => callback(error))
        this.endOutbound()
      },
      destroy: (error, callback) => {
        if (this.outbound !== null && this.outbound.stream === stream) {
          // The message cannot be completed: the peer would wait for its end forever.
          compression?.endStream()
          this.outbound = null
          if (this.readyState === Connection.OPEN) this.close(CloseCode.InternalError, 'binary stream aborted')
        }
        callback(error)
      },
    })
    this.outbound = { stream, deferred: null }
    return stream
  }

  /**
   * Starts the closing handshake (RFC 6455 §7.1.2): sends a close frame and waits up to
   * closeTimeout for the peer's, then destroys the socket. Without a code, 1000 is sent.
   */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.readyState === Connection.CONNECTING) {
      this.abortHandshake()
      return
    }
    if (this.readyState !== Connection.OPEN) return
    const payload = encodeClosePayload(code, reason) // throws RangeError on a code that may not be sent
    this.sendClose(payload)
    this.armCloseTimer()
  }

  /** Destroys the connection at once, without a closing handshake ('close' reports 1006). */
  terminate(): void {
    if (this.readyState === Connection.CONNECTING) {
      this.abortHandshake()
      return
    }
    if (this.socket !== undefined) this.socket.destroy()
    else this.finish()
  }

  /** Resolves once everything sent so far has been written to the kernel. */
  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket === undefined || this.socket.destroyed || this.closed) {
        reject(new ConnectionStateError(this.readyState, 'the connection is closed'))
        return
      }
      const done = (error?: Error | null): void => (error ? reject(error) : resolve())
      // After what waits behind a message still compressing, too.
      this.inOrder(
        () => {
          this.sender?.flush()
          this.socket.write(EMPTY, done)
        },
        0,
        done,
      )
    })
  }

  /** Resolves when bufferedAmount is below the high-water mark; rejects if the connection closes first. */
  drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.whenDrained((error) => (error ? reject(error) : resolve()))
    })
  }

  /** @internal Heartbeat tick from the server: false when the previous ping went unanswered. */
  heartbeat(): boolean {
    if (!this.alive) return false
    this.alive = false
    if (this.readyState === Connection.OPEN) this.sendPing()
    return true
  }

  /**
   * idleTimeout elapsed with nothing read. A peer that only listens (a feed) sends nothing, so
   * silence alone is not death: ping it first, and close with 1001 only if nothing at all (its
   * pong included) arrives within another idleTimeout. RFC 6455 §5.5.2: a pong is the answer.
   */
  private onIdle(): void {
    if (this.readyState !== Connection.OPEN) return
    if (this.pingsThisRead === IDLE_PROBE) {
      this.close(CloseCode.GoingAway, 'idle timeout')
      return
    }
    this.pingsThisRead = IDLE_PROBE
    this.sendPing()
    this.idleTimer!.refresh()
  }

  /** @internal Client side: the handshake failed before the connection opened. */
  failHandshake(error: Error): void {
    if (this.closed) return
    this.emitError(error)
    this.finish()
  }

  /**
   * @internal Client side: the server's 101 selected an extension this client cannot accept.
   * RFC 6455 §9.1 asks to fail the connection: a close frame with `error.closeCode` (1010) is
   * sent, the socket ends, and 'close' reports that code; 'connect' is never emitted.
   */
  failNegotiation(socket: Socket, error: ProtocolError): void {
    if (this.closed) {
      socket.destroy()
      return
    }
    this.emitError(error)
    const reason = truncateReason(error.message)
    socket.on('error', noop)
    socket.resume() // the server's answering close frame, and its end
    socket.end(encodeFrame(Opcode.Close, encodeClosePayload(error.closeCode, reason), { maskKey: clientMaskKeys.next() }))
    const timer = setTimeout(() => socket.destroy(), this.options.closeTimeout)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
    this.closeState().received = { code: error.closeCode, reason }
    this.finish()
  }

  /** @internal Client side: abort hook installed while CONNECTING (never set on a server connection: 8 B it does not keep). */
  onAbort?: (() => void) | null

  private abortHandshake(): void {
    const abort = this.onAbort
    if (abort !== undefined && abort !== null) {
      this.onAbort = null
      abort()
    }
    this.finish()
  }

  // Parser callbacks (see FrameEvents below).

  private onTextMessage(text: string, source: Buffer, start: number, end: number, transient: boolean): void {
    rememberText(text, source, start, end, transient)
    if (this.compression !== null) rememberInflatedText(text, source)
    this.onTextReceived(text, end - start)
  }

  /** A text that came in pieces (never a compressed one: those are inflated into one buffer). */
  private onTextPieces(text: string, pieces: readonly Buffer[], length: number): void {
    rememberTextPieces(text, pieces, length)
    this.onTextReceived(text, length)
  }

  private onTextReceived(text: string, bytes: number): void {
    const metrics = this.metrics
    if (metrics !== null) {
      metrics.textMessagesReceived++
      metrics.textBytesReceived += bytes
    }
    this.emitMessage('text', text)
    this.emitMessage('message', text)
  }

  private onBinaryMessage(data: Buffer): void {
    const metrics = this.metrics
    if (metrics !== null) {
      metrics.binaryMessagesReceived++
      metrics.binaryBytesReceived += data.length
    }
    this.emitMessage('binary', data)
    this.emitMessage('message', data)
  }

  /**
   * emit(event, data) for the per-message events. With one plain listener (the usual case) it is
   * called directly: EventEmitter's emit gathers its arguments into an array on every call.
   */
  private emitMessage(event: 'text' | 'binary' | 'message', data: string | Buffer): void {
    if (
      this.emit !== eventEmitterEmit || // wrapped (instrumentation, a subclass): it sees every event
      kCapture === undefined ||
      (this as unknown as Record<symbol, unknown>)[kCapture] === true // captureRejections: emit catches
    ) {
      this.emit(event, data)
      return
    }
    // A named load per event: one keyed load site seeing 'text', 'binary' and 'message' would
    // go megamorphic (a stub-cache probe on every message).
    const events = (this as unknown as { _events: MessageListeners })._events
    const listener = event === 'text' ? events.text : event === 'binary' ? events.binary : events.message
    if (listener === undefined) return
    if (typeof listener === 'function') (listener as (this: Connection<TData>, data: string | Buffer) => void).call(this, data)
    else this.emit(event, data)
  }

  private onBinaryStart(): void {
    if (this.metrics !== null) this.metrics.binaryMessagesReceived++
    const stream = new Readable({ read: () => this.resumeFor('stream') })
    this.inbound = stream
    // 'message' always gets whole messages: in 'stream' mode a 'message' listener has binary
    // messages gathered for it (bounded by maxMessageSize, checked on each frame header).
    if (this.listenerCount('message') > 0) this.gathered = []
    if (this.listenerCount('binary') === 0) stream.resume() // nobody reads: drain it
    this.emit('binary', stream)
  }

  private onBinaryChunk(chunk: Buffer): void {
    if (this.gathered !== null) this.gathered.push(chunk)
    if (this.metrics !== null) this.metrics.binaryBytesReceived += chunk.length
    if (this.inbound !== null && !this.inbound.push(chunk)) this.pauseFor('stream')
  }

  private onBinaryEnd(): void {
    const stream = this.inbound
    const gathered = this.gathered
    this.inbound = null
    this.gathered = null
    if (stream !== null) stream.push(null)
    this.resumeFor('stream')
    if (gathered !== null) this.emitMessage('message', gathered.length === 1 ? gathered[0] : Buffer.concat(gathered))
  }

  private onPing(payload: Buffer): void {
    this.pingsThisRead++
    if (this.readyState === Connection.OPEN) {
      // A peer that pings while never reading our pongs is flooding us (RFC 6455 §5.5.2 still
      // asks for a pong, but not at the cost of unbounded memory).
      const sender = this.output()
      if (this.unsent(sender) > this.options.maxBufferedAmount) {
        this.fail(CloseCode.PolicyViolation, 'ping flood')
        return
      }
      this.inOrder(() => sender.frame(Opcode.Pong, payload, true), payload.length, undefined)
    }
    this.emit('ping', payload)
  }

  private onPong(payload: Buffer): void {
    this.alive = true
    this.emit('pong', payload)
  }

  /** A read through a 'data' event: the first one, a socket that cannot read directly, or the handshake's head. */
  private onData(chunk: Buffer): void {
    this.onRead(chunk, chunk.length, false)
    // A plain TCP socket reads directly from now on: in the shared read buffer, parsed in place
    // (or the rest of a large message straight into its buffer). Not before the first read, so
    // that an idle connection keeps nothing for it (the handle's listener is ~50 B of native
    // memory); a socket that cannot switch (TLS, another Duplex, paused) is asked again on its
    // next read, which costs a few property loads.
    if (!this.closed) DirectReader.start(this.socket, directReadHooks, this.parser !== null ? this.parser.payloadTarget() : null)
  }

  /**
   * A direct read (DirectReader): `n` bytes in the shared read buffer (parsed in place), in the
   * parser's payload target, or in a read buffer of this connection's own (see nextReadBuffer).
   */
  private onDirectRead(n: number, buffer: Buffer): boolean {
    const shared = DirectReader.isShared(buffer)
    const target = !shared && this.parser !== null && this.parser.isPayloadTarget(buffer)
    if (this.pausedForStream || this.pausedForOutput || this.socket.readableLength !== 0) {
      // Paused, or reads that came while paused wait in the socket's stream: this one waits
      // there too, in order, as a paused socket's reads always did, and reading stops once the
      // stream holds its high-water mark (so a peer's reset is still seen below it).
      if (!target) return this.socket.push(shared ? Buffer.from(buffer.subarray(0, n)) : ownRead(buffer, n))
      // A read into a large message's own buffer is parsed (one read, already in its place).
      this.onRead(null, n, false)
      return false
    }
    if (shared) this.onRead(buffer, n, true)
    else if (target) this.onRead(null, n, false)
    // A read of its own that fills less than half its buffer is parsed as a transient one (what
    // is kept is copied), so that no view pins 64 KiB for a few bytes (Node shrinks its reads' buffers).
    else if (n * 2 < buffer.length) this.onRead(buffer, n, true)
    else this.onRead(ownRead(buffer, n), n, false)
    return true
  }

  /**
   * Where the next direct read lands: the rest of a large message; for a peer whose messages are
   * large, a buffer of the read's own (parsed as Node's reads are: large pieces of messages that
   * span reads are kept as views, not copied out of the shared buffer); else the shared buffer.
   */
  private nextReadBuffer(): Buffer {
    const parser = this.parser
    if (parser === null) return DirectReader.buffer()
    const target = parser.payloadTarget()
    if (target !== null) return target
    return parser.messageBytes >= OWN_READS_FROM ? Buffer.allocUnsafe(OWN_READ_SIZE) : DirectReader.buffer()
  }

  /**
   * One socket read: chunk[0, n), or (chunk null) `n` bytes read straight into the parser's
   * payload target. `transient`: chunk is the shared read buffer, the next read's once this
   * returns (the parser copies what it keeps, and a text remembered for echo is forgotten).
   */
  private onRead(chunk: Buffer | null, n: number, transient: boolean): void {
    if (this.idleTimer !== null) this.idleTimer.refresh()
    this.pingsThisRead = 0
    const sender = this.output()
    sender.cork()
    const parser = this.input()
    try {
      if (chunk === null) parser.pushTarget(n)
      else if (transient) parser.pushTransient(chunk, n)
      else parser.push(chunk)
    } catch (error) {
      this.onListenerError(error)
    } finally {
      // The batch is written (or its bytes copied to the slab) before the read buffer is reused.
      sender.uncork()
      if (transient) forgetTransientText()
    }
    if (!this.pausedForOutput && this.unsent(sender) > this.readPauseBytes() && this.readyState === Connection.OPEN) {
      if (this.pingsThisRead >= PING_FLOOD_PINGS) {
        // Pinging while not reading the pongs: pausing would only keep the queue full until the
        // heartbeat resets the connection. Close it with a reason instead.
        this.fail(CloseCode.PolicyViolation, 'ping flood: pongs are not being read')
        return
      }
      // The peer sends faster than it reads: stop reading until our output drains (TCP backpressure).
      this.pauseFor('output')
    }
  }

  private readPauseBytes(): number {
    return Math.min(READ_PAUSE_BYTES, this.options.maxBufferedAmount / 2)
  }

  private onDrain(): void {
    if (this.pausedForOutput && this.bufferedAmount <= this.readPauseBytes()) this.resumeFor('output')
    if (!this.drainWanted || this.closed || this.socket.destroyed) return
    if (this.bufferedAmount < this.options.highWaterMark) {
      this.drainWanted = false
      this.guard(() => this.emit('drain'))
    } else {
      this.wantDrain()
    }
  }

  /** A send's return value: false (and 'drain' to follow) at or past the high-water mark. */
  private accepted(sender: Sender): boolean {
    if (this.unsent(sender) < this.options.highWaterMark) return true
    this.wantDrain()
    return false
  }

  /**
   * Makes sure 'drain' follows. The socket emits its own 'drain' only past its high-water mark
   * (16 KiB by default), which may be above ours: an empty write calls back once everything
   * queued before it has been written.
   */
  private wantDrain(): void {
    this.drainWanted = true
    if (this.drainProbe || this.closed) return
    this.drainProbe = true
    // Probe on the next tick, after the batch this send belongs to has been written: flushing
    // here would split the batch of the current read (one write per message under load).
    process.nextTick(probeDrain, this)
  }

  /**
   * A published frame (TopicRegistry): the same Buffer for every subscriber. The backpressure
   * policy applies as to sendText/sendBinary; false when the message was not queued (not
   * open, dropped, or the connection closed as a slow consumer).
   */
  private publishFrame(frame: Buffer | DeflateJob): boolean {
    if (this.readyState !== Connection.OPEN) return false
    // After the open beginBinary() message, in publish order with the sends around it.
    if (this.outbound !== null) return !this.defer(() => this.publishFrame(frame))
    const sender = this.output()
    if (this.unsent(sender) > this.options.maxBufferedAmount) return this.overflow(undefined)
    if (frame instanceof DeflateJob) {
      // Compressed once off the main thread for every subscriber: queued until it is done.
      this.queueJob(frame, undefined)
    } else if (this.waiting !== null) {
      this.waiting.push(null, () => sender.shared(frame), frame.length, undefined)
    } else {
      sender.shared(frame)
    }
    const metrics = this.metrics
    if (metrics !== null) {
      // Counted as the sends are: the opcode and payload length from the frame's header.
      const isJob = frame instanceof DeflateJob
      const length = isJob ? frame.size : publishedPayloadLength(frame)
      if ((isJob ? frame.opcode : frame[0] & 0x0f) === Opcode.Text) {
        metrics.textMessagesSent++
        metrics.textBytesSent += length
      } else {
        metrics.binaryMessagesSent++
        metrics.binaryBytesSent += length
      }
    }
    return true
  }

  /**
   * A published run starts with this connection among its subscribers (PublishedRun.add): joins
   * it as a lazy subscriber at `index` and returns its headroom (bytes it may queue before
   * maxBufferedAmount), or -1 when its frames must take the per-publish path (publishFrame):
   * not open, compression negotiated (frames per subscriber), output waiting behind a stream or
   * a compressing message, already lazy in another topic's run (publish order across topics),
   * or more than half of maxBufferedAmount unsent (a run would soon pass it anyway).
   */
  private joinRun(run: PublishedRun, index: number): number {
    if (this.readyState !== Connection.OPEN || this.compression !== null || this.outbound !== null || this.waiting !== null) return -1
    const sender = this.output()
    if (sender.run !== null) return -1
    const headroom = this.options.maxBufferedAmount - sender.bufferedAmount
    if (headroom < this.options.maxBufferedAmount / 2) return -1
    sender.run = run
    sender.runIndex = index
    return headroom
  }

  private topicRegistry(): TopicRegistry {
    const topics = this.options.topics
    if (topics === undefined) throw new TypeError('topics are for server-side connections: a client cannot subscribe or publish')
    return topics
  }

  /** The sender, created on first use: most of an idle connection's memory is what it never needed. */
  private output(): Sender {
    return this.sender ?? (this.sender = new Sender(this.socket, this.request === undefined ? clientMaskKeys : null))
  }

  /** The frame parser, created when the peer's first bytes arrive. */
  private input(): FrameParser {
    if (this.parser !== null) return this.parser
    const request = this.request
    return (this.parser = new FrameParser(new FrameEvents(this), {
      expectMasked: this.request !== undefined,
      maxMessageSize: request?.maxMessageSize ?? this.options.maxMessageSize,
      streamBinary: (request?.binaryMode ?? this.options.binaryMode) === 'stream',
      inflater: this.compression ?? undefined,
    }))
  }

  /** Later input is ignored (the connection is being torn down). */
  private stopInput(): void {
    if (this.parser === null) this.parser = STOPPED_PARSER
    else this.parser.stop()
  }

  /** Runs on the tick after wantDrain(). */
  private probeDrain(): void {
    if (this.closed || this.socket.destroyed || this.waiting !== null) {
      // With output waiting for a compression job, the job's end checks again (queueProgress).
      this.drainProbe = false
      return
    }
    this.sender?.flush()
    if (this.bufferedAmount < this.options.highWaterMark) {
      // The kernel took the batch (the usual case): no need to ask the socket.
      this.drainProbe = false
      this.onDrain()
      return
    }
    if (this.socket.writableNeedDrain) {
      // The socket is past its own high-water mark and emits 'drain' itself (see onDrain).
      this.drainProbe = false
      return
    }
    this.socket.write(EMPTY, (error) => {
      this.drainProbe = false
      if (!error) this.onDrain()
    })
  }
  private pauseFor(reason: 'stream' | 'output'): void {
    if (reason === 'stream') this.pausedForStream = true
    else this.pausedForOutput = true
    // net.Socket's pause() stops a direct reader's handle at once; the stream's own pause lets
    // it read on into the stream's buffer up to its high-water mark (see onDirectRead), as a
    // socket with 'data' events does, so a reset or an end behind the pause is still noticed.
    if (DirectReader.reads(this.socket)) Readable.prototype.pause.call(this.socket)
    else this.socket.pause()
  }

  private resumeFor(reason: 'stream' | 'output'): void {
    if (reason === 'stream') this.pausedForStream = false
    else this.pausedForOutput = false
    if (!this.pausedForStream && !this.pausedForOutput && !this.closed) this.socket.resume()
  }

  private onCloseFrame(code: number, reason: string): void {
    const closing = this.closeState()
    closing.received = { code, reason }
    if (this.metrics !== null) countIn(this.metrics.closeCodesReceived, code)
    if (!closing.sent) {
      // RFC 6455 §5.5.1: answer with a close frame, echoing the status code.
      this.sendClose(code === CloseCode.NoStatus ? EMPTY : encodeClosePayload(code))
    }
    this.readyState = Connection.CLOSING
    this.endInbound(new ConnectionStateError(Connection.CLOSING, 'the peer closed the connection mid-message'))
    if (this.request !== undefined) {
      // RFC 6455 §7.1.1: the server closes the TCP connection first (after the output queued).
      this.inOrder(() => this.endSocket(), 0, undefined)
    }
    this.armCloseTimer()
  }

  private onProtocolError(error: ProtocolError): void {
    if (this.metrics !== null) countIn(this.metrics.protocolErrors, error.closeCode)
    this.emitError(error)
    this.fail(error.closeCode, error.message)
  }

  /**
   * Fails the connection (RFC 6455 §7.1.7): sends a close frame with `code`, then closes the
   * TCP connection without waiting for the peer.
   */
  private fail(code: number, reason: string): void {
    this.stopInput()
    // A failed connection sends nothing more than its close frame: what waits is dropped.
    this.dropQueued(new ConnectionStateError(Connection.CLOSING, 'the connection failed before this was sent'))
    if (this.readyState === Connection.OPEN) {
      this.sendClose(encodeClosePayload(code, truncateReason(reason)))
    }
    this.readyState = Connection.CLOSING
    this.sender?.flush()
    this.socket.end()
    this.armCloseTimer()
  }

  private sendClose(payload: Buffer): void {
    this.closeState().sent = true
    // RFC 6455 §7.1.5: a close frame without a code is reported as 1005.
    if (this.metrics !== null) countIn(this.metrics.closeCodesSent, payload.length >= 2 ? payload.readUInt16BE(0) : CloseCode.NoStatus)
    this.readyState = Connection.CLOSING
    // Pending fragments of a streamed message can no longer be completed.
    this.outbound = null
    const sender = this.output()
    // RFC 6455 §5.5.1: no data after the close frame, so it follows every message queued before.
    this.inOrder(
      () => {
        sender.frame(Opcode.Close, payload, true)
        sender.flush()
      },
      payload.length,
      undefined,
    )
  }

  private closeState(): ClosingState {
    return (this.closing ??= new ClosingState())
  }

  private armCloseTimer(): void {
    if (this.closed) return
    const closing = this.closeState()
    if (closing.timer !== null) return
    closing.timer = setTimeout(() => this.socket.destroy(), this.options.closeTimeout)
    closing.timer.unref()
  }

  private onEnd(): void {
    // The peer half-closed. Sockets from http.Server keep allowHalfOpen, so end our side too
    // (after what is queued), and make sure the socket goes away even if our output is stuck.
    this.stopInput()
    if (this.readyState === Connection.OPEN) this.readyState = Connection.CLOSING
    this.inOrder(() => this.endSocket(), 0, undefined)
    this.armCloseTimer()
  }

  private finish(): void {
    if (this.closed) return
    this.closed = true
    this.readyState = Connection.CLOSED
    const closing = this.closing
    if (closing !== null && closing.timer !== null) clearTimeout(closing.timer)
    if (this.idleTimer !== null) clearTimeout(this.idleTimer)
    this.idleTimer = null
    const error = new ConnectionStateError(Connection.CLOSED, 'the connection is closed')
    this.stopInput()
    this.dropQueued(error)
    this.sender?.discard(error)
    this.compression?.release()
    this.endInbound(error)
    this.outbound = null
    const received = closing === null ? null : closing.received
    if (this.metrics !== null && this.socket !== undefined) countIn(this.metrics.connectionsOpen, this.protocol ?? '', -1)
    const release = this.options.release
    if (release !== undefined) release(this)
    this.guard(() =>
      this.emit('close', received === null ? CloseCode.Abnormal : received.code, received === null ? '' : received.reason),
    )
  }

  /** Bytes not yet written to the kernel, the queue behind a compression job included. */
  private unsent(sender: Sender): number {
    return this.waiting === null ? sender.bufferedAmount : sender.bufferedAmount + this.waiting.bytes
  }

  /** Runs `write` now, or after the output queued behind a message still compressing. */
  private inOrder(write: () => void, bytes: number, callback: WriteCallback | undefined): void {
    if (this.waiting === null) write()
    else this.waiting.push(null, write, bytes, callback)
  }

  /** Queues a message compressed off the main thread; what is sent after it waits for it. */
  private queueJob(job: DeflateJob, callback: WriteCallback | undefined): void {
    const started = this.waiting === null
    ;(this.waiting ??= new OutputQueue()).push(job, null, job.size, callback)
    if (started) this.runQueued(false)
  }

  /** @internal DeflateJobWaiter: the job this connection waits for is done. */
  deflateJobDone(job: DeflateJob): void {
    const queue = this.waiting
    if (queue === null || queue.waitingOn !== job || this.closed) return
    queue.waitingOn = null
    // Called from zlib's completion callback: nothing may escape to it (the process would exit).
    try {
      this.runQueued(true)
    } catch (error) {
      this.onListenerError(error)
    }
  }

  /** Writes the queued output in order, up to a job still running (which it then waits for). */
  private runQueued(progress: boolean): void {
    const queue = this.waiting!
    for (;;) {
      const entry = queue.first()
      if (entry === undefined) {
        this.waiting = null
        break
      }
      const job = entry.job
      if (job !== null && !job.done) {
        if (queue.waitingOn !== job) {
          queue.waitingOn = job
          job.wait(this)
        }
        break
      }
      queue.shift()
      if (job === null) entry.run!()
      else if (job.error !== null) {
        // zlib failed on our own output (out of memory): nothing a peer did, so 1011.
        if (entry.callback !== undefined) process.nextTick(entry.callback, job.error)
        this.emitError(job.error)
        if (this.readyState === Connection.OPEN) this.close(CloseCode.InternalError, 'compression failed')
      } else if (job.shared) this.output().shared(job.frame())
      else this.output().frame(job.opcode, job.payload!, true, entry.callback, RSV1)
      if (this.waiting !== queue) return // dropped: the connection failed or closed meanwhile
    }
    if (!progress) return
    // What the socket's 'drain' and probeDrain would have checked while the queue held bytes.
    if (this.pausedForOutput && this.bufferedAmount <= this.readPauseBytes()) this.resumeFor('output')
    if (this.drainWanted) this.wantDrain()
  }

  /** Drops the queued output (the connection is failing or closed); callbacks receive `error`. */
  private dropQueued(error: Error): void {
    const queue = this.waiting
    if (queue === null) return
    this.waiting = null
    for (const entry of queue.drop()) {
      entry.job?.leave(this)
      if (entry.callback !== undefined) process.nextTick(entry.callback, error)
    }
  }

  private endSocket(): void {
    this.sender?.flush()
    this.socket.end()
  }

  private endInbound(error: Error): void {
    const stream = this.inbound
    this.inbound = null
    if (stream !== null && !stream.destroyed) {
      if (stream.listenerCount('error') > 0) stream.destroy(error)
      else stream.destroy()
    }
  }

  private endOutbound(): void {
    const deferred = this.outbound === null ? null : this.outbound.deferred
    this.outbound = null
    if (deferred !== null) for (const send of deferred) send()
  }

  private defer(send: () => void): boolean {
    // Only called while a beginBinary() message is open.
    ;(this.outbound!.deferred ??= []).push(send)
    this.wantDrain()
    return false
  }

  private refuse(callback: WriteCallback | undefined): boolean {
    if (this.readyState === Connection.CONNECTING) {
      throw new ConnectionStateError(this.readyState, "the connection is not open yet: wait for 'connect'")
    }
    if (callback !== undefined) {
      process.nextTick(callback, new ConnectionStateError(this.readyState, 'the connection is closing or closed'))
    }
    return false
  }

  /** A send while more than maxBufferedAmount is unsent: the slow-consumer policy decides. */
  private overflow(callback: WriteCallback | undefined): boolean {
    const error = new ConnectionStateError(this.readyState, 'slow consumer: maxBufferedAmount exceeded')
    const metrics = this.metrics
    if (this.options.slowConsumer === 'close') {
      if (metrics !== null) metrics.slowConsumerCloses++
      this.fail(CloseCode.PolicyViolation, 'slow consumer')
    } else {
      if (metrics !== null) metrics.slowConsumerDrops++
      this.wantDrain() // a dropped send returned false: 'drain' tells when sending is worth it again
    }
    if (callback !== undefined) process.nextTick(callback, error)
    return false
  }

  private whenDrained(callback: (error?: Error) => void): void {
    if (this.closed) {
      callback(new ConnectionStateError(Connection.CLOSED, 'the connection is closed'))
      return
    }
    if (this.bufferedAmount < this.options.highWaterMark) {
      callback()
      return
    }
    this.wantDrain()
    const onDrain = (): void => {
      this.off('close', onClose)
      callback()
    }
    const onClose = (): void => {
      this.off('drain', onDrain)
      callback(new ConnectionStateError(Connection.CLOSED, 'the connection closed before draining'))
    }
    this.once('drain', onDrain)
    this.once('close', onClose)
  }

  /** Runs application listeners; an exception there must not take the process down. */
  private guard(run: () => void): void {
    try {
      run()
    } catch (error) {
      this.onListenerError(error)
    }
  }

  private onListenerError(error: unknown): void {
    const wrapped = error instanceof Error ? error : new Error(String(error))
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', wrapped)
      } catch (again) {
        console.error('gatewire: an error listener threw', again)
      }
    } else {
      console.error('gatewire: uncaught error in a connection listener; closing with 1011', wrapped)
    }
    if (this.readyState === Connection.OPEN) this.close(CloseCode.InternalError, 'internal error')
  }

  private emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error)
  }
}

/**
 * EventEmitter's own key for captureRejections: when it is on, listeners' promises must go
 * through emit (which catches their rejections). Undefined if this Node keeps it elsewhere,
 * and then every event goes through emit.
 */
const eventEmitterEmit = EventEmitter.prototype.emit
const kCapture = Object.getOwnPropertySymbols(new EventEmitter()).find((symbol) => symbol.description === 'kCapture')

/** The listener slots emitMessage reads (EventEmitter keeps a function, or an array of them). */
interface MessageListeners {
  text?: unknown
  binary?: unknown
  message?: unknown
}

/** A beginBinary() message being sent, and the sends that wait for its end. */
interface OutboundMessage {
  readonly stream: Writable
  deferred: Array<() => void> | null
}

/**
 * What the closing handshake needs (RFC 6455 §7.1.2–§7.1.5), in an object created when it
 * starts: three fields fewer on every open connection.
 */
class ClosingState {
  /** Our close frame is queued. */
  sent = false
  /** The peer's close frame, once it arrived. */
  received: { code: number; reason: string } | null = null
  /** Destroys the socket if the closing handshake does not finish in closeTimeout. */
  timer: NodeJS.Timeout | null = null
}

/** See the Connection constructor. */
const ListenerTable = function ListenerTable(): void {} as unknown as new () => object
ListenerTable.prototype = Object.create(null) as object

/** Stands for the parser of a connection whose input is ignored before any arrived: push() does nothing. */
const STOPPED_PARSER = new FrameParser({} as FrameHandler, { expectMasked: true, maxMessageSize: 0 })
STOPPED_PARSER.stop()

/**
 * Routes the parser's callbacks to the connection's private handlers: one small object per
 * connection instead of a closure per callback (idle connections are mostly this overhead).
 */
class FrameEvents implements FrameHandler {
  constructor(private readonly connection: Connection<object>) {}
  onText(text: string, source: Buffer, start: number, end: number, transient: boolean): void {
    this.connection['onTextMessage'](text, source, start, end, transient)
  }
  onTextPieces(text: string, pieces: readonly Buffer[], length: number): void {
    this.connection['onTextPieces'](text, pieces, length)
  }
  onBinary(data: Buffer): void {
    this.connection['onBinaryMessage'](data)
  }
  onBinaryStart(): void {
    this.connection['onBinaryStart']()
  }
  onBinaryChunk(chunk: Buffer): void {
    this.connection['onBinaryChunk'](chunk)
  }
  onBinaryEnd(): void {
    this.connection['onBinaryEnd']()
  }
  onPing(payload: Buffer): void {
    this.connection['onPing'](payload)
  }
  onPong(payload: Buffer): void {
    this.connection['onPong'](payload)
  }
  onClose(code: number, reason: string): void {
    this.connection['onCloseFrame'](code, reason)
  }
  onError(error: ProtocolError): void {
    this.connection['onProtocolError'](error)
  }
}

const kConnection = Symbol('gatewire.connection')
type SocketWithConnection = Socket & { [kConnection]: Connection<object> }

/** The connection whose socket's onRead hook ran last: Node asks for its next buffer right after, without `this`. */
let directReadConnection: Connection<object> | null = null

/** A directly reading socket's hooks, shared: they find the connection on the socket. */
const directReadHooks: DirectReadHooks = {
  onRead(this: Socket, n: number, buffer: Buffer): boolean {
    const connection = (this as SocketWithConnection)[kConnection]
    directReadConnection = connection
    return connection['onDirectRead'](n, buffer)
  },
  next(): Buffer {
    const connection = directReadConnection
    directReadConnection = null
    return connection !== null ? connection['nextReadBuffer']() : DirectReader.buffer()
  },
}

function socketOnData(this: Socket, chunk: Buffer): void {
  ;(this as SocketWithConnection)[kConnection]['onData'](chunk)
}
function socketOnEnd(this: Socket): void {
  ;(this as SocketWithConnection)[kConnection]['onEnd']()
}
function socketOnClose(this: Socket): void {
  ;(this as SocketWithConnection)[kConnection]['finish']()
}
function socketOnError(this: Socket, error: Error): void {
  ;(this as SocketWithConnection)[kConnection]['emitError'](error)
}
function socketOnDrain(this: Socket): void {
  ;(this as SocketWithConnection)[kConnection]['onDrain']()
}

/**
 * net.Socket listens to its own 'end' (`onReadableStreamEnd`), which does something only
 * without allowHalfOpen. On a half-open socket (http.Server's) it is dropped, so that our
 * listener is the socket's only one: a second listener turns the slot into an array (64 B an
 * idle connection keeps). onEnd ends our side itself.
 */
function listenForEnd(socket: Socket): void {
  // EventEmitter's slot holds the function itself while it is the only listener: read there,
  // not through listeners() (an array per handshake).
  const own = (socket as unknown as { _events?: { end?: unknown } })._events?.end
  if (socket.allowHalfOpen && typeof own === 'function' && own.name === 'onReadableStreamEnd') {
    socket.removeListener('end', own as () => void)
  }
  socket.on('end', socketOnEnd)
}

/**
 * Node's Readable schedules a process.nextTick(maybeReadMore) after every chunk a socket
 * pushes (lib/internal/streams/readable.js), to read ahead up to the high-water mark: a
 * flowing socket reads on anyway, so the tick does nothing here, but it costs a tick object and
 * a drain of the tick queue (where Node 20 also allocates a Map) on every read: ~450 B of the
 * ~1.2 KB allocated per message in a 16 B closed-loop echo, and so young-generation scavenges,
 * which hold up every reply queued behind them. Marking the read-ahead as already scheduled
 * skips it; pause() and resume() do not depend on it. Only where the flag exists as expected.
 */
function skipReadMoreTicks(socket: Socket): void {
  const state = (socket as unknown as { _readableState?: { readingMore?: unknown } })._readableState
  if (state !== undefined && state.readingMore === false) state.readingMore = true
}

/** See Connection#pingsThisRead: the idle timer's ping is waiting for any answer. */
const IDLE_PROBE = -1

/** The idle timer's callback, shared by every connection. */
function idleTimerFired(connection: Connection<object>): void {
  connection['onIdle']()
}

/** process.nextTick target: one shared function rather than a closure per connection. */
function probeDrain(connection: Connection<object>): void {
  connection['probeDrain']()
}

function noop(): void {}

/** buffer[0, n) of a read into a buffer of the connection's own. */
function ownRead(buffer: Buffer, n: number): Buffer {
  return n === buffer.length ? buffer : buffer.subarray(0, n)
}

function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason
  let out = reason.slice(0, 123)
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1)
  return out
}
