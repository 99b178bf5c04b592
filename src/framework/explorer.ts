import { Readable } from 'node:stream'
import { DefinitionError, memberName, nameOf } from './definition-error'
import { resolveCompressionOptions } from '../protocol'
import type { GatewayOptions } from './decorators/gateway'
import type { ReplyHint } from './decorators/handler-decorators'
import type { ModuleOptions } from './decorators/module'
import { GatewayConnections } from './gateway-connections'
import { declaresParameters, missingMetadata } from './missing-metadata'
import type { GuardLike } from './guard'
import type { Provider } from './provider'
import { parsePattern, patternParams } from './router'
import {
  getGatewayRecord,
  getGuards,
  getHandlerRecords,
  getModuleRecord,
  getParamRecords,
  getParamTypes,
  getReturnType,
  getSelectProtocolMethods,
  type Class,
  type HandlerKind,
  type MemberKey,
  type ParamKind,
  type ParamRecord,
} from './store'

/** One parameter of a handler, as it will be resolved for every call. */
export interface ParamDefinition {
  readonly index: number
  readonly kind: ParamKind
  readonly name: string | undefined
  /** The declared type (`design:paramtypes`), `undefined` when TypeScript did not emit one. */
  readonly type: unknown
  /** `@OnMessage` payloads: the class to convert into and validate. */
  readonly dto: Class | undefined
  /** `@OnMessage` payloads: check/validate the data (class-validator, or `typeof` for primitives). */
  readonly validate: boolean
}

export interface HandlerDefinition {
  readonly kind: HandlerKind
  readonly method: MemberKey
  readonly protocol: string | undefined
  readonly event: string | undefined
  readonly stream: boolean
  readonly params: readonly ParamDefinition[]
  /** `{ reply }` of the decorator, as a list (empty when none was given). */
  readonly replies: readonly ReplyHint[]
  /** The declared return type (`design:returntype`), `undefined` for void or when not emitted. */
  readonly returnType: unknown
}

export interface GatewayDefinition {
  readonly type: Class
  readonly name: string
  readonly path: string
  /** Names the route binds (`:room` → `room`, a wildcard → `*`). */
  readonly pathParams: readonly string[]
  readonly options: Readonly<GatewayOptions>
  /** The protocols the gateway supports: `options.protocols`, else those its handlers name. */
  readonly protocols: readonly string[]
  readonly handlers: readonly HandlerDefinition[]
  readonly guards: readonly GuardLike[]
  readonly selectProtocol: MemberKey | undefined
  /**
   * The selector's parameter order: `(request, offered)` like the core's `selectProtocol`, or the
   * deprecated `(offered, request)`, recognised by an array-typed first parameter.
   */
  readonly selectProtocolOrder: 'request-first' | 'offered-first'
  /** Constructor parameters typed `GatewayConnections` (the gateway's own). */
  readonly connectionsParams: readonly number[]
}

export interface ModuleDefinition {
  readonly type: Class
  readonly name: string
  readonly gateways: readonly Class[]
  readonly providers: readonly Provider[]
  readonly imports: readonly Class[]
}

export interface ExploreOptions {
  /** The transport's `Connection` class: an undecorated parameter of this type is the connection. */
  readonly connectionType?: unknown
}

/** The default parameters of each handler kind, in order. */
const DEFAULT_PARAMS: Readonly<Record<HandlerKind, readonly ParamKind[]>> = {
  connect: ['connection'],
  text: ['payload', 'connection'],
  binary: ['payload', 'connection'],
  message: ['payload', 'connection'],
  close: ['code', 'reason', 'connection'],
  error: ['payload', 'connection'],
  ping: ['payload', 'connection'],
  pong: ['payload', 'connection'],
  drain: ['connection'],
}

const DECORATOR: Readonly<Record<HandlerKind, string>> = {
  connect: '@OnConnect',
  text: '@OnText',
  binary: '@OnBinary',
  message: '@OnMessage',
  close: '@OnClose',
  error: '@OnError',
  ping: '@OnPing',
  pong: '@OnPong',
  drain: '@OnDrain',
}

const PARAM_DECORATOR: Readonly<Record<ParamKind, string>> = {
  connection: '@Conn()',
  payload: '@Payload()',
  param: '@Param()',
  query: '@Query()',
  header: '@Header()',
  protocol: '@Protocol()',
  request: '@Req()',
  data: '@ConnData()',
  code: '@Code()',
  reason: '@Reason()',
}

/** Built-in types that are never DTOs (also for the AsyncAPI document's return types). */
export const NOT_DTO: ReadonlySet<unknown> = new Set<unknown>([
  Object, String, Number, Boolean, Array, Function, Symbol, BigInt, Promise, Date, Map, Set, Buffer, Uint8Array,
  ArrayBuffer, Error, Readable,
])

/** RFC 6455 §4.1 / RFC 7230 §3.2.6: a subprotocol is a token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/**
 * Reads a `@Gateway` class's records once and returns its frozen definition, or throws a
 * `DefinitionError` naming the class and member at fault.
 */
export function exploreGateway(type: Class, explore: ExploreOptions = {}): GatewayDefinition {
  const name = nameOf(type)
  const record = typeof type === 'function' ? getGatewayRecord(type) : undefined
  if (record === undefined) {
    throw new DefinitionError(name, undefined, 'is listed in a module\'s gateways but is not decorated with @Gateway()')
  }
  let pathParams: string[]
  try {
    parsePattern(record.path)
    pathParams = patternParams(record.path)
  } catch (err) {
    throw new DefinitionError(name, undefined, (err as Error).message)
  }
  const options = record.options
  checkOptions(name, options)

  const paramRecords = getParamRecords(type)
  const handlers: HandlerDefinition[] = []
  const seen = new Map<string, MemberKey>()
  for (const handler of getHandlerRecords(type)) {
    const member = memberName(handler.method)
    if (typeof (type.prototype as Record<MemberKey, unknown>)[handler.method] !== 'function') {
      throw new DefinitionError(name, member, `${DECORATOR[handler.kind]}() must decorate a method`)
    }
    if (handler.kind === 'message' && (typeof handler.event !== 'string' || handler.event === '')) {
      throw new DefinitionError(name, member, '@OnMessage(event) needs a non-empty event name')
    }
    if (handler.protocol !== undefined) checkProtocol(name, member, handler.protocol)
    const key = `${handler.kind}\0${handler.protocol ?? ''}\0${handler.event ?? ''}`
    const previous = seen.get(key)
    if (previous !== undefined) {
      const what =
        handler.kind === 'message' ? `@OnMessage('${handler.event}')` : `${DECORATOR[handler.kind]}()`
      const scope = handler.protocol === undefined ? '' : ` for protocol "${handler.protocol}"`
      throw new DefinitionError(name, member, `two ${what} handlers${scope}: ${memberName(previous)} and ${member}`)
    }
    seen.set(key, handler.method)
    if (handler.stream && handler.kind !== 'binary') {
      throw new DefinitionError(name, member, '{ stream: true } only applies to @OnBinary()')
    }
    handlers.push(
      Object.freeze({
        kind: handler.kind,
        method: handler.method,
        protocol: handler.protocol,
        event: handler.event,
        stream: handler.stream,
        params: exploreParams(type, name, handler.kind, handler.method, handler.stream, paramRecords, pathParams, explore),
        replies: exploreReplies(name, member, handler.reply),
        returnType: getReturnType(type, handler.method),
      }),
    )
  }

  for (const param of paramRecords) {
    if (!handlers.some((h) => h.method === param.method)) {
      throw new DefinitionError(
        name,
        memberName(param.method),
        `${PARAM_DECORATOR[param.kind]} is used on a method that is not a handler (add @OnText(), @OnMessage(), ...)`,
      )
    }
  }

  const selectors = getSelectProtocolMethods(type)
  if (selectors.length > 1) {
    throw new DefinitionError(name, memberName(selectors[1]), `two @SelectProtocol() methods: ${selectors.map(memberName).join(' and ')}`)
  }
  const selectProtocol = selectors[0]
  if (selectProtocol !== undefined && typeof (type.prototype as Record<MemberKey, unknown>)[selectProtocol] !== 'function') {
    throw new DefinitionError(name, memberName(selectProtocol), '@SelectProtocol() must decorate a method')
  }

  const declared = options.protocols
  const handlerProtocols = [...new Set(handlers.flatMap((h) => (h.protocol === undefined ? [] : [h.protocol])))]
  if (declared !== undefined) {
    for (const h of handlers) {
      if (h.protocol !== undefined && !declared.includes(h.protocol)) {
        throw new DefinitionError(
          name,
          memberName(h.method),
          `handles protocol "${h.protocol}", which is not in the gateway's protocols [${declared.join(', ')}]`,
        )
      }
    }
  }

  const guards = getGuards(type)
  guards.forEach((guard, i) => {
    if (typeof guard !== 'function') {
      throw new DefinitionError(name, undefined, `guard #${i} of @UseGuards() is ${nameOf(guard)}, not a function or a class with canActivate()`)
    }
  })

  const ctorTypes = getParamTypes(type) ?? []
  const connectionsParams: number[] = []
  ctorTypes.forEach((t, i) => {
    if (t === GatewayConnections) connectionsParams.push(i)
  })

  return Object.freeze({
    type,
    name,
    path: record.path,
    pathParams: Object.freeze(pathParams),
    options,
    protocols: Object.freeze([...(declared ?? handlerProtocols)]),
    handlers: Object.freeze(handlers),
    guards: Object.freeze([...guards]),
    selectProtocol,
    selectProtocolOrder:
      selectProtocol !== undefined && getParamTypes(type, selectProtocol)?.[0] === Array ? 'offered-first' : 'request-first',
    connectionsParams: Object.freeze(connectionsParams),
  })
}

/** `{ reply }` is documentation, but a wrong one is a mistake worth failing on at bootstrap. */
function exploreReplies(name: string, member: string, reply: unknown): readonly ReplyHint[] {
  if (reply === undefined) return []
  const list = Array.isArray(reply) ? (reply as unknown[]) : [reply]
  list.forEach((hint, i) => {
    if (typeof hint === 'function') return
    const h = hint as { event?: unknown; data?: unknown } | null
    if (h !== null && typeof h === 'object' && typeof h.event === 'string' && h.event !== '' && (h.data === undefined || typeof h.data === 'function')) return
    throw new DefinitionError(name, member, `reply${Array.isArray(reply) ? `[${i}]` : ''} must be a class or { event: string, data?: class }, not ${nameOf(hint)}`)
  })
  return Object.freeze(list as ReplyHint[])
}

function checkOptions(name: string, options: GatewayOptions): void {
  const fail = (problem: string): never => {
    throw new DefinitionError(name, undefined, problem)
  }
  if (options.protocols !== undefined) {
    if (!Array.isArray(options.protocols)) fail('options.protocols must be an array of subprotocol names')
    const unique = new Set<string>()
    for (const p of options.protocols!) {
      checkProtocol(name, undefined, p)
      if (unique.has(p)) fail(`options.protocols lists "${p}" twice`)
      unique.add(p)
    }
  }
  if (options.protocolOrder !== undefined && options.protocolOrder !== 'client' && options.protocolOrder !== 'server') {
    fail(`options.protocolOrder must be 'client' or 'server', not ${JSON.stringify(options.protocolOrder)}`)
  }
  checkDefaults(name, options)
}

/** Checks the options a gateway shares with the app (also used for `bootstrap()` options). */
export function checkDefaults(name: string, options: GatewayOptions): void {
  const fail = (problem: string): never => {
    throw new DefinitionError(name, undefined, problem)
  }
  if (options.invalidMessage !== undefined && options.invalidMessage !== 'reply' && options.invalidMessage !== 'close') {
    fail(`options.invalidMessage must be 'reply' or 'close', not ${JSON.stringify(options.invalidMessage)}`)
  }
  if (options.maxMessageSize !== undefined && !(Number.isSafeInteger(options.maxMessageSize) && options.maxMessageSize > 0)) {
    fail(`options.maxMessageSize must be a positive integer, not ${String(options.maxMessageSize)}`)
  }
  if (
    options.maxBufferedAmount !== undefined &&
    !(Number.isSafeInteger(options.maxBufferedAmount) && options.maxBufferedAmount > 0)
  ) {
    fail(`options.maxBufferedAmount must be a positive integer, not ${String(options.maxBufferedAmount)}`)
  }
  if (options.slowConsumer !== undefined && options.slowConsumer !== 'close' && options.slowConsumer !== 'drop') {
    fail(`options.slowConsumer must be 'close' or 'drop', not ${JSON.stringify(options.slowConsumer)}`)
  }
  if (
    options.heartbeatInterval !== undefined &&
    !(Number.isFinite(options.heartbeatInterval) && options.heartbeatInterval >= 0)
  ) {
    fail(`options.heartbeatInterval must be a number of ms ≥ 0, not ${String(options.heartbeatInterval)}`)
  }
  if (options.compression !== undefined) {
    try {
      resolveCompressionOptions(options.compression)
    } catch (error) {
      fail(`options.${(error as Error).message}`)
    }
  }
  if (
    options.origins !== undefined &&
    typeof options.origins !== 'function' &&
    !(Array.isArray(options.origins) && options.origins.every((o) => typeof o === 'string'))
  ) {
    fail('options.origins must be an array of origins or a function (origin) => boolean')
  }
}

function checkProtocol(name: string, member: string | undefined, protocol: unknown): void {
  if (typeof protocol !== 'string' || !TOKEN.test(protocol)) {
    throw new DefinitionError(name, member, `${JSON.stringify(protocol)} is not a valid subprotocol name (an RFC 7230 token)`)
  }
}

function exploreParams(
  type: Class,
  className: string,
  kind: HandlerKind,
  method: MemberKey,
  stream: boolean,
  records: readonly ParamRecord[],
  pathParams: readonly string[],
  explore: ExploreOptions,
): ParamDefinition[] {
  const member = memberName(method)
  const fail = (problem: string): never => {
    throw new DefinitionError(className, member, problem)
  }
  const recorded = getParamTypes(type, method)
  const types = recorded ?? []
  const fn = (type.prototype as Record<MemberKey, Function>)[method]
  const own = records.filter((r) => r.method === method)
  const arity = Math.max(types.length, fn.length, ...own.map((r) => r.index + 1))

  const decorated = new Map<number, ParamRecord>()
  for (const r of own) {
    if (decorated.has(r.index)) {
      fail(`parameter #${r.index} has two parameter decorators (${PARAM_DECORATOR[decorated.get(r.index)!.kind]} and ${PARAM_DECORATOR[r.kind]})`)
    }
    decorated.set(r.index, r)
  }
  if (recorded === undefined && declaresParameters(fn)) {
    const unmarked = Array.from({ length: Math.max(fn.length, 1) }, (_, i) => i).filter((i) => !decorated.has(i))
    if (unmarked.length > 0) {
      throw missingMetadata(
        className,
        member,
        `mark every parameter with a parameter decorator such as @Conn(), @Payload(), @Code() or @Reason() ` +
          `(parameter #${unmarked[0]} has none; ${DECORATOR[kind]}() would otherwise pass (${DEFAULT_PARAMS[kind].join(', ')}) in that order)`,
      )
    }
  }

  // Decorated parameters and parameters typed `Connection` claim their kind first; the other
  // parameters take the handler's remaining defaults in order.
  const kinds: (ParamKind | undefined)[] = []
  const used = new Set<ParamKind>()
  for (let i = 0; i < arity; i++) {
    const r = decorated.get(i)
    const k = r?.kind ?? (explore.connectionType !== undefined && types[i] === explore.connectionType ? 'connection' : undefined)
    kinds[i] = k
    if (k !== undefined) used.add(k)
  }
  const remaining = DEFAULT_PARAMS[kind].filter((k) => !used.has(k))
  const params: ParamDefinition[] = []
  for (let i = 0; i < arity; i++) {
    const r = decorated.get(i)
    let k = kinds[i]
    if (k === undefined) {
      k = remaining.shift()
      if (k === undefined) {
        fail(
          `parameter #${i}${describeType(types[i])} has no meaning for ${DECORATOR[kind]}() (its parameters are ` +
            `(${DEFAULT_PARAMS[kind].join(', ')})): mark it with @Conn(), @Payload(), @Param(), @Query(), @Header(), ` +
            '@Protocol(), @Req() or @ConnData()',
        )
      }
    }
    const param = k!
    const declared = types[i]
    if ((param === 'code' || param === 'reason') && kind !== 'close') {
      fail(`${PARAM_DECORATOR[param]} only applies to @OnClose() handlers`)
    }
    if (param === 'payload' && (kind === 'connect' || kind === 'close' || kind === 'drain')) {
      fail(`${DECORATOR[kind]}() has no payload: ${kind === 'close' ? 'use @Code() and @Reason()' : 'remove @Payload()'}`)
    }
    if (param === 'param' && r?.name !== undefined && !pathParams.includes(r.name)) {
      fail(`@Param('${r.name}'): the gateway's route has no parameter "${r.name}"${pathParams.length ? ` (it has ${pathParams.map((p) => `"${p}"`).join(', ')})` : ''}`)
    }
    let dto: Class | undefined
    let validate = false
    if (param === 'payload') {
      dto = r?.dto
      if (dto !== undefined && kind !== 'message') fail('@Payload(Type) converts and validates @OnMessage() data only')
      checkPayloadType(kind, stream, dto ?? declared, fail)
      if (kind === 'message') {
        if (dto === undefined && typeof declared === 'function' && !NOT_DTO.has(declared)) dto = declared as Class
        validate = r?.validate ?? true
        // Without design:paramtypes a `msg: Say` would silently go unvalidated: make it explicit.
        if (recorded === undefined && dto === undefined && validate) {
          fail(
            'TypeScript recorded no parameter types (design:paramtypes), so the payload\'s class is unknown and it would ' +
              'not be validated: name it with @Payload(Dto), or take the data as parsed with @Payload({ validate: false })',
          )
        }
      }
    }
    if (param === 'code' && declared !== undefined && declared !== Number && declared !== Object) {
      fail(`parameter #${i} is the close code, a number, but is declared as ${nameOf(declared)}`)
    }
    if (param === 'reason' && declared !== undefined && declared !== String && declared !== Object) {
      fail(`parameter #${i} is the close reason, a string, but is declared as ${nameOf(declared)}`)
    }
    params.push(Object.freeze({ index: i, kind: param, name: r?.name, type: declared, dto, validate }))
  }
  return params
}

function checkPayloadType(kind: HandlerKind, stream: boolean, declared: unknown, fail: (problem: string) => never): void {
  if (declared === undefined || declared === Object) return
  const accepted: unknown[] | undefined =
    kind === 'text'
      ? [String]
      : kind === 'binary'
        ? stream
          ? [Readable]
          : [Buffer, Uint8Array]
        : kind === 'ping' || kind === 'pong'
          ? [Buffer, Uint8Array]
          : undefined
  if (accepted !== undefined && !accepted.includes(declared)) {
    const what =
      kind === 'text' ? 'a string' : kind === 'binary' ? (stream ? 'a Readable' : 'a Buffer') : 'a Buffer'
    const hint = kind === 'text' && typeof declared === 'function' && !NOT_DTO.has(declared) ? ' (for JSON messages, use @OnMessage(event))' : ''
    fail(`the payload of ${DECORATOR[kind]}() is ${what}, but the parameter is declared as ${nameOf(declared)}${hint}`)
  }
}

function describeType(type: unknown): string {
  return type === undefined || type === Object ? '' : ` (${nameOf(type)})`
}

/** Reads a `@Module` class's record and returns its frozen definition. */
export function exploreModule(type: Class): ModuleDefinition {
  const name = nameOf(type)
  const record: ModuleOptions | undefined = typeof type === 'function' ? getModuleRecord(type) : undefined
  if (record === undefined) {
    throw new DefinitionError(name, undefined, 'is used as a module but is not decorated with @Module()')
  }
  record.imports?.forEach((m, i) => {
    if (typeof m !== 'function') throw new DefinitionError(name, undefined, `imports[${i}] is ${nameOf(m)}, not a module class (a circular import of files?)`)
  })
  record.gateways?.forEach((g, i) => {
    if (typeof g !== 'function') throw new DefinitionError(name, undefined, `gateways[${i}] is ${nameOf(g)}, not a class (a circular import of files?)`)
  })
  return Object.freeze({
    type,
    name,
    gateways: record.gateways ?? [],
    providers: record.providers ?? [],
    imports: record.imports ?? [],
  })
}
