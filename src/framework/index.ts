// The framework's entry: the only `reflect-metadata` import, then the public API.
import 'reflect-metadata'

export { Gateway, type GatewayOptions, type GatewayDefaults, type InvalidMessagePolicy, type SlowConsumerPolicy } from './decorators/gateway'
export { Module, type ModuleOptions } from './decorators/module'
export {
  OnConnect,
  OnText,
  OnBinary,
  OnClose,
  OnError,
  OnPing,
  OnPong,
  OnDrain,
  OnMessage,
  type HandlerOptions,
  type BinaryHandlerOptions,
  type ReplyHint,
} from './decorators/handler-decorators'
export { Conn, Payload, Param, Query, Header, Protocol, Req, ConnData, Code, Reason, type PayloadOptions } from './decorators/param-decorators'
export { UseGuards } from './decorators/use-guards'
export { SelectProtocol } from './decorators/select-protocol'
export { Injectable, Inject } from './decorators/injectable'
export { InjectionToken } from './injection-token'
export type { Provider, Token } from './provider'
export { GuardContext } from './guard-context'
export type { CanActivate, GuardFunction, GuardLike, GuardResult } from './guard'
export { GatewayConnections, connectionsOf, type TypedConnection, type Outgoing } from './gateway-connections'
export { Room, MAX_ROOM_NAME, type RoomPresence, type RoomMember, type RoomSendOptions } from './rooms/room'
export { WsException } from './ws-exception'
export { InvalidMessageError, type MessageFieldError } from './invalid-message-error'
export { DefinitionError } from './definition-error'
export type { Logger, LogFields } from './logger'
export { Application, GATEWAY_DEFAULTS, type BootstrapOptions, type CloseOptions, type TransportOptions } from './application'
export type { GatewayMetricsSnapshot, MetricsSnapshot } from './gateway-counters'
export { healthHandler, type HealthStatus, type HealthPaths } from './health-handler'
export { bootstrap } from './bootstrap'
export type { Class } from './store'
export { fromMiddleware } from './hosts/from-middleware'
export { runMiddleware, type ConnectMiddleware, type NextFunction } from './hosts/run-middleware'
export { unsignCookie } from './hosts/unsign-cookie'
