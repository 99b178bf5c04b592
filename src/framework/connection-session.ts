import type { Readable } from 'node:stream'
import type { Connection, UpgradeRequest } from '../transport'
import { bufferStream, collectStream, type CompiledHandler, type HandlerContext, type HandlerTable } from './handler-compiler'
import type { GatewayCounters } from './gateway-counters'
import { InvalidMessageError } from './invalid-message-error'
import type { InvalidMessagePolicy } from './decorators/gateway'
import type { LogFields, Logger } from './logger'
import { WsException } from './ws-exception'

/** What a session needs from its gateway, shared by all its connections. */
export interface SessionGateway {
  readonly name: string
  readonly invalidMessage: InvalidMessagePolicy
  readonly logger: Logger
  /** The gateway's open connections; a session removes its own on close. */
  readonly open: Map<Connection, unknown>
  readonly counters: GatewayCounters
  /** Called after a session removed its connection from `open`. */
  removed?(): void
  /** The decoded path parameters of a path routed to this gateway (see ConnectionSession#params). */
  paramsOf?(path: string): Readonly<Record<string, string>>
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({})

const TEXT = 0
const BINARY = 1
const CLOSE = 2
const ERROR = 3
const PING = 4
const PONG = 5
const DRAIN = 6

/** Connection ids for logs: unique within the process, cheap (a number), never reused. */
let lastConnectionId = 0

// RFC 6455 §7.4.1
const UNSUPPORTED_DATA = 1003
const POLICY_VIOLATION = 1008

/**
 * The framework's side of one connection: dispatches its events to the gateway's compiled
 * handlers, sends what they return, and keeps its messages in order. A synchronous handler is
 * called directly from the transport's event (one closure call, no promise). When a handler
 * returns a promise or an async iterable, the session is busy until it settles: messages that
 * arrive meanwhile wait in a queue and are handled, in order, afterwards.
 */
export class ConnectionSession implements HandlerContext {
  /** The connection's id in log lines (`connectionId`). */
  readonly id = ++lastConnectionId
  /** An async handler (or iterable) is in flight; new events queue. */
  private busy = false
  /** Events waiting while busy, three slots each (kind, a, b); created by the first. */
  private queue: unknown[] | null = null
  private head = 0
  /** Async iterables being sent, each with the function that ends its sending. */
  private iterators: Map<AsyncIterator<unknown>, () => void> | undefined
  /** A 'drain' waits in the queue (at most one does). */
  private drainQueued = false
  /** A dequeued drain waits for `conn.drain()` before `@OnDrain` runs. */
  private drainChecking = false

  constructor(
    readonly conn: Connection,
    private readonly table: HandlerTable,
    private readonly gateway: SessionGateway,
    /** The decoded path parameters, or undefined: matched again on first use (see params). */
    private paramsValue: Readonly<Record<string, string>> | undefined,
  ) {}

  /**
   * The connection's decoded path parameters. A wildcard or `:param` route's are matched again
   * from the request path when a handler first asks, rather than kept from the handshake: an
   * object and its strings (~80 B) that most idle connections would keep unread.
   */
  get params(): Readonly<Record<string, string>> {
    if (this.paramsValue !== undefined) return this.paramsValue
    const path = this.conn.request?.path
    return (this.paramsValue = path === undefined || this.gateway.paramsOf === undefined ? NO_PARAMS : this.gateway.paramsOf(path))
  }

  /**
   * Heartbeat bookkeeping: a pong since the last ping. The connection's own flag, which it sets
   * on every pong (the app runs the core server without its heartbeat): no field, and no 'pong'
   * listener unless the gateway has @OnPong.
   */
  get alive(): boolean {
    return this.conn.alive
  }
  set alive(value: boolean) {
    this.conn.alive = value
  }

  // Read from the connection, not copied: two fields fewer that every idle connection keeps.
  get request(): UpgradeRequest | undefined {
    return this.conn.request
  }

  /** The subprotocol the client was told (the connection's). */
  get protocol(): string | undefined {
    return this.conn.protocol
  }

  /** Subscribes to the connection and runs `@OnConnect` once it is open. */
  start(): void {
    const conn = this.conn
    conn.owner = this
    const listeners = ConnectionSession.listeners
    conn.on('text', listeners.text)
    conn.on('binary', listeners.binary)
    conn.on('close', listeners.close)
    conn.on('error', listeners.error)
    if (this.table.pong !== undefined) conn.on('pong', listeners.pong)
    if (this.table.ping !== undefined) conn.on('ping', listeners.ping)
    if (this.table.drain !== undefined) conn.on('drain', listeners.drain)
    const connect = this.table.connect
    if (connect === undefined) return
    // The server announces a connection before it takes over the socket: sends are only
    // possible from 'connect' on, and the first messages are parsed right after it.
    if (conn.readyState === 1) this.run(connect, undefined, undefined, null)
    else conn.once('connect', () => this.run(connect, undefined, undefined, null))
  }

  /**
   * The connection's listeners, one set for all connections: EventEmitter calls them with the
   * connection as `this`, and the session is its `owner`. (Closures per session cost every idle
   * connection about 0.4 KiB.)
   */
  private static readonly listeners = {
    text(this: Connection, text: string): void {
      ;(this.owner as ConnectionSession).onText(text)
    },
    binary(this: Connection, data: Buffer | Readable): void {
      ;(this.owner as ConnectionSession).onBinary(data)
    },
    close(this: Connection, code: number, reason: string): void {
      ;(this.owner as ConnectionSession).onClose(code, reason)
    },
    error(this: Connection, err: Error): void {
      ;(this.owner as ConnectionSession).onError(err)
    },
    ping(this: Connection, payload: Buffer): void {
      ;(this.owner as ConnectionSession).onPing(payload)
    },
    pong(this: Connection, payload: Buffer): void {
      ;(this.owner as ConnectionSession).onPong(payload)
    },
    drain(this: Connection): void {
      ;(this.owner as ConnectionSession).onDrain()
    },
  }

  private onText(text: string): void {
    if (this.busy) return this.enqueue(TEXT, text, undefined)
    this.handleText(text)
  }

  private onBinary(data: Buffer | Readable): void {
    if (this.busy) return this.enqueue(BINARY, data, undefined)
    this.handleBinary(data)
  }

  private onClose(code: number, reason: string): void {
    this.gateway.open.delete(this.conn)
    this.gateway.removed?.()
    // Nobody reads what an iterable would still send: stop it, so later events (and @OnClose)
    // do not wait for a generator that may never yield again.
    if (this.iterators !== undefined) {
      for (const [iterator, finish] of [...this.iterators]) {
        stop(iterator)
        finish()
      }
    }
    if (this.table.close === undefined) return
    if (this.busy) return this.enqueue(CLOSE, code, reason)
    this.run(this.table.close, code, reason, null)
  }

  private onError(err: Error): void {
    // Transport errors (a ProtocolError, a reset socket) are followed by 'close' with the code.
    if (this.table.error === undefined) {
      this.gateway.logger.debug?.(this.logFields(err), `gatewire: ${this.gateway.name} connection error: ${err.message}`)
      return
    }
    if (this.busy) return this.enqueue(ERROR, err, undefined)
    this.run(this.table.error, err, undefined, null, true)
  }

  private onPing(payload: Buffer): void {
    if (this.busy) return this.enqueue(PING, payload, undefined)
    this.run(this.table.ping!, payload, undefined, null)
  }

  private onPong(payload: Buffer): void {
    this.alive = true
    if (this.table.pong === undefined) return
    if (this.busy) return this.enqueue(PONG, payload, undefined)
    this.run(this.table.pong, payload, undefined, null)
  }

  /**
   * The transport's 'drain': what a send that returned false left unsent has gone out. While a
   * handler is in flight, one drain waits in the queue like a message.
   */
  private onDrain(): void {
    // A queued drain is re-checking with conn.drain(), which runs the handler itself.
    if (this.drainChecking) return
    if (!this.busy) return this.run(this.table.drain!, undefined, undefined, null)
    if (this.drainQueued) return
    this.drainQueued = true
    this.enqueue(DRAIN, undefined, undefined)
  }

  /**
   * A drain's turn came after a handler that may have filled the buffer again: run `@OnDrain`
   * only once the connection has really caught up, so it never runs on a stale drain.
   */
  private drainWhenCaughtUp(): void {
    this.drainQueued = false
    if (this.conn.readyState !== 1) return
    if (this.conn.bufferedAmount === 0) return this.run(this.table.drain!, undefined, undefined, null)
    this.drainChecking = true
    this.conn.drain().then(
      () => {
        this.drainChecking = false
        this.onDrain()
      },
      () => {
        // Closed before draining: @OnClose follows, @OnDrain has nothing to do.
        this.drainChecking = false
      },
    )
  }

  private handleText(text: string): void {
    const table = this.table
    if (table.messages !== undefined) return this.route(text, table.messages)
    if (table.text !== undefined) return this.run(table.text, text, undefined, null)
    this.unsupported('text')
  }

  /**
   * The app asks the transport for the binary mode each connection's handler wants (a Buffer,
   * or a stream for `@OnBinary({ stream: true })`); the other cases adapt, so a gateway works
   * whatever the transport delivers.
   */
  private handleBinary(data: Buffer | Readable): void {
    const table = this.table
    const binary = table.binary
    const whole = Buffer.isBuffer(data)
    if (binary === undefined) {
      if (!whole) data.resume()
      return this.unsupported('binary')
    }
    if (whole) return this.run(binary, table.binaryStream ? bufferStream(data) : data, undefined, null)
    if (table.binaryStream) return this.run(binary, data, undefined, null)
    // A whole-Buffer handler given a stream: collect it first, in order.
    this.run(
      { label: binary.label, invoke: (ctx) => collectStream(data).then((buffer) => binary.invoke(ctx, buffer, undefined)) },
      undefined,
      undefined,
      null,
    )
  }

  /** `@OnMessage` routing: `{"event": name, "data": ...}`. */
  private route(text: string, messages: ReadonlyMap<string, CompiledHandler>): void {
    let message: unknown
    try {
      message = JSON.parse(text)
    } catch {
      return this.invalid(text, new InvalidMessageError(null, 'invalid JSON'))
    }
    const event = message !== null && typeof message === 'object' ? (message as { event?: unknown }).event : undefined
    if (typeof event !== 'string') {
      return this.invalid(text, new InvalidMessageError(null, 'a message must be a JSON object with a string "event"'))
    }
    const handler = messages.get(event)
    if (handler === undefined) return this.invalid(text, new InvalidMessageError(event, `unknown event "${event}"`))
    this.run(handler, (message as { data?: unknown }).data, undefined, event)
  }

  /** A message no `@OnMessage` routes goes to `@OnText` when there is one. */
  private invalid(text: string, error: InvalidMessageError): void {
    if (this.table.text !== undefined) return this.run(this.table.text, text, undefined, null)
    this.fail(error, error.event, false, undefined)
  }

  private run(handler: CompiledHandler, a: unknown, b: unknown, event: string | null, isErrorHandler = false): void {
    let result: unknown
    try {
      result = handler.invoke(this, a, b)
    } catch (err) {
      return this.fail(err, event, isErrorHandler, handler)
    }
    if (result === undefined) return
    if (typeof result === 'string') {
      this.conn.sendText(result)
      return
    }
    this.deliver(result, event, isErrorHandler, handler)
  }

  /** Sends a handler's result: string → text, bytes → binary, promise/iterable → later, else JSON. */
  private deliver(result: unknown, event: string | null, isErrorHandler: boolean, handler: CompiledHandler): void {
    if (result === undefined || result === null) return
    if (typeof result === 'object') {
      if (typeof (result as PromiseLike<unknown>).then === 'function') {
        this.busy = true
        ;(result as PromiseLike<unknown>).then(
          (value) => {
            this.busy = false
            this.deliver(value, event, isErrorHandler, handler)
            this.resume()
          },
          (err: unknown) => {
            this.busy = false
            this.fail(err, event, isErrorHandler, handler)
            this.resume()
          },
        )
        return
      }
      if (typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
        return this.iterate(result as AsyncIterable<unknown>, event, isErrorHandler, handler)
      }
    }
    try {
      this.send(result)
    } catch (err) {
      this.fail(err, event, isErrorHandler, handler)
    }
  }

  /** Returns false when the transport asks the sender to wait for 'drain'. */
  private send(value: unknown): boolean {
    if (typeof value === 'string') return this.conn.sendText(value)
    if (value instanceof Uint8Array) return this.conn.sendBinary(value)
    const json = JSON.stringify(value)
    if (json === undefined) throw new TypeError(`cannot send ${typeof value} as JSON`)
    return this.conn.sendText(json)
  }

  /** Sends each item of an async iterable, waiting for the transport to drain when it must. */
  private iterate(iterable: AsyncIterable<unknown>, event: string | null, isErrorHandler: boolean, handler: CompiledHandler): void {
    this.busy = true
    let iterator: AsyncIterator<unknown>
    try {
      iterator = iterable[Symbol.asyncIterator]()
    } catch (err) {
      this.busy = false
      return this.fail(err, event, isErrorHandler, handler)
    }
    let finished = false
    const finish = (): void => {
      if (finished) return
      finished = true
      this.iterators!.delete(iterator)
      this.busy = false
      this.resume()
    }
    ;(this.iterators ??= new Map()).set(iterator, finish)
    const step = (): void => {
      iterator.next().then(
        (item) => {
          if (finished) return
          if (item.done === true) return finish()
          let wait = false
          try {
            if (item.value !== undefined && item.value !== null) wait = !this.send(item.value)
          } catch (err) {
            stop(iterator)
            this.fail(err, event, isErrorHandler, handler)
            return finish()
          }
          if (wait) this.conn.drain().then(step, finish)
          else step()
        },
        (err: unknown) => {
          if (finished) return
          this.fail(err, event, isErrorHandler, handler)
          finish()
        },
      )
    }
    step()
  }

  private fail(err: unknown, event: string | null, isErrorHandler: boolean, handler: CompiledHandler | undefined): void {
    if (err instanceof WsException) {
      if (err.closeCode !== undefined) return this.conn.close(err.closeCode, err.reason)
      return this.replyError(event, err.reason || err.message, err.errors)
    }
    if (err instanceof InvalidMessageError) {
      this.gateway.counters.invalidMessages++
      if (this.gateway.invalidMessage === 'close') return this.conn.close(POLICY_VIOLATION, closeReason(err.message))
      return this.replyError(err.event, err.message, err.errors)
    }
    const where = handler?.label ?? this.gateway.name
    this.gateway.counters.handlerErrors++
    if (isErrorHandler || this.table.error === undefined) {
      this.gateway.logger.error(this.logFields(err), `gatewire: ${where} ${isErrorHandler ? '(@OnError) ' : ''}failed`)
      return
    }
    this.run(this.table.error, err, undefined, event, true)
  }

  /** Who and where, for a log line about this connection. */
  logFields(err?: unknown): LogFields {
    const fields: LogFields = {
      connectionId: this.id,
      gateway: this.gateway.name,
      remoteAddress: this.request?.remoteAddress ?? this.conn.remoteAddress,
    }
    if (this.protocol !== undefined) fields.protocol = this.protocol
    if (err !== undefined) fields.err = err
    return fields
  }

  /** The error event of RFC-less JSON routing: `{"event":"error","data":{"event","message","errors"}}`. */
  private replyError(event: string | null, message: string, errors: readonly unknown[]): void {
    this.conn.sendText(JSON.stringify({ event: 'error', data: { event, message, errors } }))
  }

  private unsupported(kind: 'text' | 'binary'): void {
    this.conn.close(UNSUPPORTED_DATA, `${kind} messages are not supported`)
  }

  private enqueue(kind: number, a: unknown, b: unknown): void {
    ;(this.queue ??= []).push(kind, a, b)
  }

  /** Handles queued events until one goes async again or the queue is empty. */
  private resume(): void {
    const queue = this.queue
    if (queue === null) return
    while (!this.busy && this.head < queue.length) {
      const kind = queue[this.head] as number
      const a = queue[this.head + 1]
      const b = queue[this.head + 2]
      queue[this.head + 1] = queue[this.head + 2] = undefined
      this.head += 3
      this.dispatch(kind, a, b)
    }
    if (this.head === queue.length) {
      queue.length = 0
      this.head = 0
    }
  }

  private dispatch(kind: number, a: unknown, b: unknown): void {
    switch (kind) {
      case TEXT:
        return this.handleText(a as string)
      case BINARY:
        return this.handleBinary(a as Buffer | Readable)
      case CLOSE:
        return this.run(this.table.close!, a, b, null)
      case ERROR:
        return this.run(this.table.error!, a, undefined, null, true)
      case PING:
        return this.run(this.table.ping!, a, undefined, null)
      case PONG:
        return this.run(this.table.pong!, a, undefined, null)
      case DRAIN:
        return this.drainWhenCaughtUp()
    }
  }
}

/** Asks an iterator to clean up (`finally` blocks of a generator), ignoring how it answers. */
function stop(iterator: AsyncIterator<unknown>): void {
  try {
    iterator.return?.()?.then(undefined, () => {})
  } catch {
    // an iterator that throws on return() has nothing left to clean up
  }
}

/** RFC 6455 §5.5: a close reason fits in 123 bytes. */
function closeReason(message: string): string {
  if (Buffer.byteLength(message) <= 123) return message
  let cut = message.slice(0, 120)
  while (Buffer.byteLength(cut) > 120) cut = cut.slice(0, -1)
  return cut + '...'
}
