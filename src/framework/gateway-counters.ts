import type { BrokerState, BrokerStats } from '../broker/broker'
import type { ConnectionMetricsSnapshot } from '../transport'

/** What the framework counts per gateway, besides its connections' transport counters. */
export class GatewayCounters {
  /** Errors thrown (or rejected) by handlers, other than a `WsException`, whether `@OnError` took them or they were logged. */
  handlerErrors = 0
  /** Messages that could not be routed or validated (answered with the error event, or closed with 1008). */
  invalidMessages = 0
}

/** One gateway in `app.metrics()`. */
export interface GatewayMetricsSnapshot extends ConnectionMetricsSnapshot {
  /** The gateway's class name. */
  readonly gateway: string
  readonly path: string
  readonly handlerErrors: number
  readonly invalidMessages: number
}

/** `app.metrics()`: plain numbers, counted since the app was bootstrapped (gauges: now). */
export interface MetricsSnapshot {
  /** Upgrade requests by the HTTP status of the answer: `'101'` accepted, the others refused. */
  readonly handshakes: Readonly<Record<string, number>>
  readonly gateways: readonly GatewayMetricsSnapshot[]
  /** The broker's state and `stats()`, when the server has a broker. */
  readonly broker?: BrokerStats & { readonly state: BrokerState }
}
