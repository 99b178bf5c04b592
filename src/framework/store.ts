/**
 * The one place that reads and writes decorator metadata. Every record lives on the decorated
 * class itself under a private symbol: no global registry, nothing to reset between tests.
 * Decorators write here; the explorer reads here once, at bootstrap. Nothing on the message
 * path calls into this file.
 */
import type { GatewayOptions } from './decorators/gateway'
import type { ModuleOptions } from './decorators/module'
import type { GuardLike } from './guard'

export type Class<T = unknown> = abstract new (...args: any[]) => T
export type MemberKey = string | symbol

export type HandlerKind = 'connect' | 'text' | 'binary' | 'close' | 'error' | 'ping' | 'pong' | 'drain' | 'message'

export interface HandlerRecord {
  readonly kind: HandlerKind
  readonly method: MemberKey
  readonly protocol: string | undefined
  /** `@OnMessage(event)` only. */
  readonly event: string | undefined
  /** `@OnBinary({ stream: true })` only. */
  readonly stream: boolean
  /** What the handler sends back, as declared for the AsyncAPI document (`{ reply }`). */
  readonly reply?: unknown
}

export type ParamKind =
  | 'connection'
  | 'payload'
  | 'param'
  | 'query'
  | 'header'
  | 'protocol'
  | 'request'
  | 'data'
  | 'code'
  | 'reason'

export interface ParamRecord {
  readonly method: MemberKey
  readonly index: number
  readonly kind: ParamKind
  /** Path parameter, query key, header or data key; undefined means "all of them". */
  readonly name: string | undefined
  /** `@Payload(Dto)`: the class to convert and validate into. */
  readonly dto: Class | undefined
  /** `@Payload({ validate: false })` turns validation off for a typed payload. */
  readonly validate: boolean
}

export interface GatewayRecord {
  readonly path: string
  readonly options: GatewayOptions
}

const GATEWAY = Symbol('gatewire:gateway')
const MODULE = Symbol('gatewire:module')
const HANDLERS = Symbol('gatewire:handlers')
const PARAMS = Symbol('gatewire:params')
const GUARDS = Symbol('gatewire:guards')
const SELECT_PROTOCOL = Symbol('gatewire:select-protocol')
const INJECTABLE = Symbol('gatewire:injectable')
const INJECT = Symbol('gatewire:inject')

function own<T>(key: symbol, target: object): T | undefined {
  return Reflect.getOwnMetadata(key, target) as T | undefined
}

/**
 * Lists are copied before they are extended, so a subclass adds to its own list and never to
 * the one it inherited from its parent.
 */
function append<T>(key: symbol, target: object, item: T): void {
  const inherited = (Reflect.getMetadata(key, target) as T[] | undefined) ?? []
  const list = own<T[]>(key, target) ?? [...inherited]
  list.push(item)
  Reflect.defineMetadata(key, list, target)
}

function all<T>(key: symbol, target: object): readonly T[] {
  return (Reflect.getMetadata(key, target) as T[] | undefined) ?? []
}

export function setGatewayRecord(target: Class, record: GatewayRecord): void {
  Reflect.defineMetadata(GATEWAY, record, target)
}
/** Own record only: a subclass of a gateway is not a gateway until it says so. */
export function getGatewayRecord(target: Function): GatewayRecord | undefined {
  return own<GatewayRecord>(GATEWAY, target)
}

export function setModuleRecord(target: Class, record: ModuleOptions): void {
  Reflect.defineMetadata(MODULE, record, target)
}
export function getModuleRecord(target: Function): ModuleOptions | undefined {
  return own<ModuleOptions>(MODULE, target)
}

export function addHandlerRecord(target: Function, record: HandlerRecord): void {
  append(HANDLERS, target, record)
}
export function getHandlerRecords(target: Function): readonly HandlerRecord[] {
  return all<HandlerRecord>(HANDLERS, target)
}

export function addParamRecord(target: Function, record: ParamRecord): void {
  append(PARAMS, target, record)
}
export function getParamRecords(target: Function): readonly ParamRecord[] {
  return all<ParamRecord>(PARAMS, target)
}

/**
 * Class decorators run bottom-up, so each `@UseGuards` puts its guards before those of the
 * decorators below it: guards run in the order they are written. A parent class's guards run
 * before its subclass's.
 */
export function addGuards(target: Function, guards: readonly GuardLike[]): void {
  Reflect.defineMetadata(GUARDS, [...guards, ...(own<GuardLike[]>(GUARDS, target) ?? [])], target)
}
export function getGuards(target: Function): readonly GuardLike[] {
  const parent = Object.getPrototypeOf(target) as Function | null
  const inherited = parent !== null && parent !== Function.prototype ? getGuards(parent) : []
  return [...inherited, ...(own<GuardLike[]>(GUARDS, target) ?? [])]
}

export function addSelectProtocolMethod(target: Function, method: MemberKey): void {
  append(SELECT_PROTOCOL, target, method)
}
export function getSelectProtocolMethods(target: Function): readonly MemberKey[] {
  return all<MemberKey>(SELECT_PROTOCOL, target)
}

export function markInjectable(target: Function): void {
  Reflect.defineMetadata(INJECTABLE, true, target)
}
export function isInjectable(target: Function): boolean {
  return own<boolean>(INJECTABLE, target) === true
}

/** `@Inject(token)` on constructor parameter `index`. */
export function setInjectToken(target: Function, index: number, token: unknown): void {
  const tokens = new Map(own<Map<number, unknown>>(INJECT, target) ?? [])
  tokens.set(index, token)
  Reflect.defineMetadata(INJECT, tokens, target)
}
export function getInjectTokens(target: Function): ReadonlyMap<number, unknown> {
  return own<Map<number, unknown>>(INJECT, target) ?? new Map()
}

/** TypeScript's `design:type` of a property (what `@ValidateNested()` without `@Type()` nests). */
export function getPropertyType(target: Function, property: MemberKey): unknown {
  return Reflect.getMetadata('design:type', target.prototype, property) as unknown
}

/** TypeScript's `design:returntype` of a method (a class, `Promise`, `Object`, or undefined for void). */
export function getReturnType(target: Function, method: MemberKey): unknown {
  return Reflect.getMetadata('design:returntype', target.prototype, method) as unknown
}

/** TypeScript's `design:paramtypes` for a constructor (no member) or a method. */
export function getParamTypes(target: Function, method?: MemberKey): readonly unknown[] | undefined {
  return method === undefined
    ? (Reflect.getMetadata('design:paramtypes', target) as unknown[] | undefined)
    : (Reflect.getMetadata('design:paramtypes', target.prototype, method) as unknown[] | undefined)
}
