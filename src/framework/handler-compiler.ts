import { Readable } from 'node:stream'
import type { Connection, UpgradeRequest } from '../transport'
import { memberName } from './definition-error'
import type { GatewayDefinition, HandlerDefinition, ParamDefinition } from './explorer'
import { compilePayloadValidator, type PayloadValidatorOptions } from './payload-validator'
import type { HandlerKind, MemberKey } from './store'

/** What handler parameters are resolved from: one per connection, built at connect time. */
export interface HandlerContext {
  readonly conn: Connection
  readonly request: UpgradeRequest | undefined
  readonly params: Readonly<Record<string, string>>
  readonly protocol: string | undefined
}

/** A compiled handler call: `a` is the payload (or close code), `b` the close reason. */
export type Invoker = (ctx: HandlerContext, a: unknown, b: unknown) => unknown

export interface CompiledHandler {
  readonly invoke: Invoker
  /** `ChatGateway.onText`, for logs. */
  readonly label: string
}

/** The handlers that serve connections of one subprotocol (or of none). */
export interface HandlerTable {
  readonly connect: CompiledHandler | undefined
  readonly text: CompiledHandler | undefined
  readonly binary: CompiledHandler | undefined
  /** The binary handler wants a `Readable` rather than a `Buffer`. */
  readonly binaryStream: boolean
  readonly close: CompiledHandler | undefined
  readonly error: CompiledHandler | undefined
  readonly ping: CompiledHandler | undefined
  readonly pong: CompiledHandler | undefined
  readonly drain: CompiledHandler | undefined
  /** `@OnMessage` handlers by event; `undefined` when the gateway has none for this protocol. */
  readonly messages: ReadonlyMap<string, CompiledHandler> | undefined
}

export interface CompiledGateway {
  /** The table for connections that negotiated each protocol the gateway names. */
  readonly byProtocol: ReadonlyMap<string, HandlerTable>
  /** Handlers without a protocol: connections with no (or another) subprotocol. */
  readonly fallback: HandlerTable
}

/**
 * Compiles a gateway's handlers once, at bootstrap: each becomes a closure that resolves its
 * arguments and calls the method. Default parameter lists get dedicated closures, so the common
 * `(payload, conn)` handler costs one call and no array. Nothing here runs `Reflect`.
 */
export function compileGateway(
  definition: GatewayDefinition,
  instance: object,
  validation: PayloadValidatorOptions,
): CompiledGateway {
  const compiled = new Map<HandlerDefinition, CompiledHandler>()
  for (const handler of definition.handlers) {
    compiled.set(handler, {
      invoke: compileInvoker(instance, handler, validation),
      label: `${definition.name}.${memberName(handler.method)}`,
    })
  }
  const table = (protocol: string | undefined): HandlerTable => {
    const pick = (kind: HandlerKind): HandlerDefinition | undefined =>
      (protocol === undefined ? undefined : definition.handlers.find((h) => h.kind === kind && h.protocol === protocol)) ??
      definition.handlers.find((h) => h.kind === kind && h.protocol === undefined)
    const get = (kind: HandlerKind): CompiledHandler | undefined => {
      const h = pick(kind)
      return h === undefined ? undefined : compiled.get(h)
    }
    const messages = new Map<string, CompiledHandler>()
    for (const h of definition.handlers) {
      if (h.kind === 'message' && h.protocol === undefined) messages.set(h.event!, compiled.get(h)!)
    }
    for (const h of definition.handlers) {
      if (h.kind === 'message' && protocol !== undefined && h.protocol === protocol) messages.set(h.event!, compiled.get(h)!)
    }
    const binary = pick('binary')
    return Object.freeze({
      connect: get('connect'),
      text: get('text'),
      binary: binary === undefined ? undefined : compiled.get(binary),
      binaryStream: binary?.stream === true,
      close: get('close'),
      error: get('error'),
      ping: get('ping'),
      pong: get('pong'),
      drain: get('drain'),
      messages: messages.size > 0 ? messages : undefined,
    })
  }
  const byProtocol = new Map<string, HandlerTable>()
  for (const protocol of definition.protocols) byProtocol.set(protocol, table(protocol))
  for (const h of definition.handlers) {
    if (h.protocol !== undefined && !byProtocol.has(h.protocol)) byProtocol.set(h.protocol, table(h.protocol))
  }
  return Object.freeze({ byProtocol, fallback: table(undefined) })
}

type Resolver = (ctx: HandlerContext, a: unknown, b: unknown) => unknown

function compileInvoker(instance: object, handler: HandlerDefinition, validation: PayloadValidatorOptions): Invoker {
  const method = (instance as Record<MemberKey, (...args: unknown[]) => unknown>)[handler.method]
  const params = handler.params
  const payload = params.find((p) => p.kind === 'payload')
  const check =
    handler.kind === 'message' && payload !== undefined
      ? compilePayloadValidator(handler.event!, payload.type, payload.dto, payload.validate, validation)
      : undefined
  const call = compileCall(instance, method, params)
  if (check === undefined) return call
  // Validation runs before the call; with async validation the call waits for it.
  return (ctx, a, b) => {
    const value = check(a)
    if (value instanceof Promise) return value.then((v) => call(ctx, v, b))
    return call(ctx, value, b)
  }
}

function compileCall(instance: object, method: (...args: unknown[]) => unknown, params: readonly ParamDefinition[]): Invoker {
  const shape = params.map((p) => (p.name === undefined ? p.kind : '?')).join(',')
  switch (shape) {
    case '':
      return () => method.call(instance)
    case 'payload':
    case 'code':
      return (_ctx, a) => method.call(instance, a)
    case 'connection':
      return (ctx) => method.call(instance, ctx.conn)
    case 'payload,connection':
    case 'code,connection':
      return (ctx, a) => method.call(instance, a, ctx.conn)
    case 'connection,payload':
      return (ctx, a) => method.call(instance, ctx.conn, a)
    case 'code,reason':
      return (_ctx, a, b) => method.call(instance, a, b)
    case 'code,reason,connection':
      return (ctx, a, b) => method.call(instance, a, b, ctx.conn)
  }
  const resolvers = params.map(compileResolver)
  const n = resolvers.length
  return (ctx, a, b) => {
    const args = new Array<unknown>(n)
    for (let i = 0; i < n; i++) args[i] = resolvers[i](ctx, a, b)
    return method.apply(instance, args)
  }
}

function compileResolver(param: ParamDefinition): Resolver {
  const name = param.name
  switch (param.kind) {
    case 'connection':
      return (ctx) => ctx.conn
    case 'payload':
    case 'code':
      return (_ctx, a) => a
    case 'reason':
      return (_ctx, _a, b) => b
    case 'param':
      return name === undefined ? (ctx) => ctx.params : (ctx) => ctx.params[name]
    case 'query':
      return name === undefined ? (ctx) => ctx.request?.query : (ctx) => ctx.request?.query.get(name) ?? undefined
    case 'header':
      return name === undefined ? (ctx) => ctx.request?.headers ?? ctx.conn.headers : (ctx) => (ctx.request?.headers ?? ctx.conn.headers)[name]
    case 'protocol':
      return (ctx) => ctx.protocol
    case 'request':
      return (ctx) => ctx.request
    case 'data':
      return name === undefined ? (ctx) => ctx.conn.data : (ctx) => ctx.conn.data[name]
  }
}

/** Wraps a Buffer as a one-chunk `Readable`, for streaming handlers when the transport buffers. */
export function bufferStream(data: Buffer): Readable {
  return Readable.from([data], { objectMode: false })
}

/** Reads a `Readable` to one Buffer, for whole-message handlers when the transport streams. */
export function collectStream(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)))
    stream.once('error', reject)
  })
}
