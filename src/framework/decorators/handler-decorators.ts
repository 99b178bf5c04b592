import { addHandlerRecord, type Class, type HandlerKind, type MemberKey } from '../store'

/**
 * What a handler sends back, for the AsyncAPI document (`app.asyncapi()`): a class (sent as
 * JSON), or an event `{ event, data? }` whose `data` is a class. Classes with class-validator
 * decorators get their JSON Schema. It documents; nothing checks what the handler returns.
 */
export type ReplyHint = Class | { readonly event: string; readonly data?: Class }

/** Options of every handler decorator. */
export interface HandlerOptions {
  /**
   * Handle only connections that negotiated this subprotocol. A handler without `protocol`
   * serves every connection that has no handler of its own protocol.
   */
  protocol?: string
  /**
   * What the handler sends back (one hint, or a list when it sends one of several), shown in the
   * AsyncAPI document. Without it a handler whose declared return type is a class documents that
   * class.
   */
  reply?: ReplyHint | readonly ReplyHint[]
}

/** Options of `@OnBinary`. */
export interface BinaryHandlerOptions extends HandlerOptions {
  /**
   * Receive the message as a `Readable` while it arrives, instead of a whole `Buffer`.
   * Default false.
   */
  stream?: boolean
}

function handler(kind: HandlerKind, options: BinaryHandlerOptions = {}, event?: string): MethodDecorator {
  return (target: object, method: MemberKey) => {
    addHandlerRecord(target.constructor, {
      kind,
      method,
      protocol: options.protocol,
      event,
      stream: options.stream === true,
      reply: options.reply,
    })
  }
}

/**
 * Runs when a connection opens. Default parameters: `(conn)`. Messages arriving while an async
 * `@OnConnect` runs wait for it, in order.
 *
 * @example
 * @OnConnect() async hello(conn: Connection) { conn.data.joinedAt = Date.now(); return 'welcome' }
 */
export function OnConnect(options?: HandlerOptions): MethodDecorator {
  return handler('connect', options)
}

/**
 * Handles text messages. Default parameters: `(text, conn)`. The return value is sent back:
 * a string as text, a Buffer as binary, an object as JSON text, an async iterable item by item.
 *
 * @example
 * @OnText() shout(text: string) { return text.toUpperCase() }
 */
export function OnText(options?: HandlerOptions): MethodDecorator {
  return handler('text', options)
}

/**
 * Handles binary messages, whole (`Buffer`) or, with `{ stream: true }`, as a `Readable`.
 * Default parameters: `(data, conn)`.
 *
 * @example
 * @OnBinary() echo(data: Buffer) { return data }
 * @OnBinary({ stream: true, protocol: 'upload.v1' }) upload(stream: Readable) { return pipeline(stream, file) }
 */
export function OnBinary(options?: BinaryHandlerOptions): MethodDecorator {
  return handler('binary', options)
}

/**
 * Runs once when a connection has closed. Default parameters: `(code, reason, conn)`.
 *
 * @example
 * @OnClose() bye(code: number, reason: string, conn: Connection) { this.rooms.leave(conn) }
 */
export function OnClose(options?: HandlerOptions): MethodDecorator {
  return handler('close', options)
}

/**
 * Receives errors thrown by this gateway's handlers (other than `WsException`) and protocol
 * errors of its connections. Default parameters: `(error, conn)`. Without it, handler errors are
 * logged through the app's logger. Either way the connection stays open.
 *
 * @example
 * @OnError() failed(err: Error, conn: Connection) { metrics.count('ws.error'); return { event: 'oops' } }
 */
export function OnError(options?: HandlerOptions): MethodDecorator {
  return handler('error', options)
}

/**
 * Runs on each ping from the peer (the pong is sent by the transport). Default parameters:
 * `(payload, conn)`.
 *
 * @example
 * @OnPing() ping(payload: Buffer, conn: Connection) { conn.data.lastSeen = Date.now() }
 */
export function OnPing(options?: HandlerOptions): MethodDecorator {
  return handler('ping', options)
}

/**
 * Runs on each pong from the peer (e.g. answers to the heartbeat). Default parameters:
 * `(payload, conn)`.
 *
 * @example
 * @OnPong() pong(payload: Buffer, conn: Connection) { conn.data.alive = true }
 */
export function OnPong(options?: HandlerOptions): MethodDecorator {
  return handler('pong', options)
}

/**
 * Runs when a connection has caught up: after a send to it returned false (its unsent data
 * reached the high-water mark, or a message was dropped under `slowConsumer: 'drop'`), once that
 * data has gone out. Default parameters: `(conn)`. Its return value is sent. To wait for capacity
 * inside a handler instead, `await conn.drain()`.
 *
 * @example
 * @OnDrain() caughtUp(conn: Connection) { return this.feed.missedSince(conn.data.lastSent) }
 */
export function OnDrain(options?: HandlerOptions): MethodDecorator {
  return handler('drain', options)
}

/**
 * Handles JSON text messages `{"event": <event>, "data": ...}`. Default parameters:
 * `(data, conn)`; a parameter typed with a class (a class-validator DTO) or marked with
 * `@Payload(Dto)` is converted with class-transformer and validated. Invalid JSON, an unknown
 * event or failed validation is answered with
 * `{"event":"error","data":{"event":...,"message":...,"errors":[...]}}` (or closes with 1008 under
 * `invalidMessage: 'close'`); a gateway's `@OnText` receives what no `@OnMessage` routes instead.
 *
 * @example
 * class Say { @IsString() @MaxLength(500) text!: string }
 * @OnMessage('say') say(msg: Say, conn: Connection) { return { event: 'said', data: msg.text } }
 * // `reply` documents what comes back, for app.asyncapi():
 * @OnMessage('join', { reply: { event: 'joined', data: Joined } }) join(req: JoinRoom) { ... }
 */
export function OnMessage(event: string, options?: HandlerOptions): MethodDecorator {
  return handler('message', options, event)
}
