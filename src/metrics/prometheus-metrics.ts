import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client'
import type { GatewayMetricsSnapshot, HealthStatus, MetricsSnapshot } from '../framework'

/** What the exporter reads at scrape time: an `Application`, or anything with its `metrics()` (and `health()`). */
export interface MetricsSource {
  metrics(): MetricsSnapshot
  health?(): HealthStatus
}

export interface PrometheusMetricsOptions {
  /** The prom-client registry to register in. Default: prom-client's global `register`. */
  registry?: Registry
}

type Labels = Record<string, string>
type Emit = (labels: Labels, value: number) => void

const BROKER_STATES = ['idle', 'connecting', 'ready', 'reconnecting', 'closed'] as const

/**
 * Registers gatewire's metrics in a prom-client registry. Nothing is counted twice: each metric
 * reads `app.metrics()` when Prometheus scrapes. Names follow Prometheus conventions (`gatewire_`
 * prefix, `_total` counters, bytes as the unit) and labels are bounded: gateway, subprotocol,
 * kind (`text`/`binary`), HTTP status, close code, broker state — never a connection, room or
 * user.
 *
 * @example
 * import { Registry } from 'prom-client'
 * import { prometheusMetrics } from 'gatewire/prometheus'
 * const registry = new Registry()
 * prometheusMetrics(app, { registry })
 * http.on('request', async (req, res) => {
 *   if (req.url === '/metrics') res.setHeader('Content-Type', registry.contentType).end(await registry.metrics())
 * })
 */
export function prometheusMetrics(app: MetricsSource, options: PrometheusMetricsOptions = {}): void {
  const registers = [options.registry ?? defaultRegistry]
  const counter = (name: string, help: string, labelNames: string[], read: (snapshot: MetricsSnapshot, emit: Emit) => void): void => {
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect(this: Counter) {
        this.reset()
        read(app.metrics(), (labels, value) => this.inc(labels, value))
      },
    })
  }
  const gauge = (name: string, help: string, labelNames: string[], read: (snapshot: MetricsSnapshot, emit: Emit) => void): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect(this: Gauge) {
        this.reset()
        read(app.metrics(), (labels, value) => this.set(labels, value))
      },
    })
  }
  /** One sample per gateway; per gateway and kind; per gateway and key of a count record. */
  const perGateway = (value: (g: GatewayMetricsSnapshot) => number) => (s: MetricsSnapshot, emit: Emit) => {
    for (const g of s.gateways) emit({ gateway: g.gateway }, value(g))
  }
  const perKind = (value: (g: GatewayMetricsSnapshot) => { text: number; binary: number }) => (s: MetricsSnapshot, emit: Emit) => {
    for (const g of s.gateways) {
      const byKind = value(g)
      emit({ gateway: g.gateway, kind: 'text' }, byKind.text)
      emit({ gateway: g.gateway, kind: 'binary' }, byKind.binary)
    }
  }
  const perKey = (label: string, value: (g: GatewayMetricsSnapshot) => Readonly<Record<string, number>>) => (s: MetricsSnapshot, emit: Emit) => {
    for (const g of s.gateways) for (const [key, n] of Object.entries(value(g))) emit({ gateway: g.gateway, [label]: key }, n)
  }

  counter('gatewire_handshakes_total', 'WebSocket upgrade requests by the HTTP status of the answer (101: accepted).', ['status'], (s, emit) => {
    for (const [status, n] of Object.entries(s.handshakes)) emit({ status }, n)
  })
  gauge('gatewire_connections_open', 'Open WebSocket connections by gateway and negotiated subprotocol ("" for none).', ['gateway', 'protocol'], perKey('protocol', (g) => g.connectionsOpen))
  counter('gatewire_connections_total', 'WebSocket connections opened.', ['gateway'], perGateway((g) => g.connectionsOpened))
  counter('gatewire_messages_received_total', 'Messages received, by kind (text, binary).', ['gateway', 'kind'], perKind((g) => g.messagesReceived))
  counter('gatewire_messages_sent_total', 'Messages sent, by kind (text, binary).', ['gateway', 'kind'], perKind((g) => g.messagesSent))
  counter('gatewire_received_bytes_total', 'Payload bytes of the messages received.', ['gateway', 'kind'], perKind((g) => g.bytesReceived))
  counter('gatewire_sent_bytes_total', 'Payload bytes of the messages sent.', ['gateway', 'kind'], perKind((g) => g.bytesSent))
  counter('gatewire_close_frames_sent_total', 'Close frames sent, by close code.', ['gateway', 'code'], perKey('code', (g) => g.closeCodesSent))
  counter('gatewire_close_frames_received_total', 'Close frames received, by close code.', ['gateway', 'code'], perKey('code', (g) => g.closeCodesReceived))
  counter('gatewire_protocol_errors_total', "Peers' protocol errors, by the close code the connection failed with.", ['gateway', 'code'], perKey('code', (g) => g.protocolErrors))
  counter('gatewire_slow_consumer_closes_total', 'Connections closed with 1008 for unsent data past maxBufferedAmount.', ['gateway'], perGateway((g) => g.slowConsumer.closes))
  counter('gatewire_slow_consumer_dropped_messages_total', "Messages dropped for unsent data past maxBufferedAmount (slowConsumer 'drop').", ['gateway'], perGateway((g) => g.slowConsumer.drops))
  counter('gatewire_heartbeat_terminations_total', 'Connections terminated for missing a heartbeat pong.', ['gateway'], perGateway((g) => g.heartbeatTerminations))
  counter('gatewire_handler_errors_total', 'Errors thrown by handlers (other than WsException).', ['gateway'], perGateway((g) => g.handlerErrors))
  counter('gatewire_invalid_messages_total', 'Messages that could not be routed or validated.', ['gateway'], perGateway((g) => g.invalidMessages))

  if (app.health !== undefined) {
    const health = app.health.bind(app)
    new Gauge({
      name: 'gatewire_ready',
      help: 'Whether the app takes new connections (1), or not (0: not started, or shutting down).',
      registers,
      collect(this: Gauge) {
        this.set(health().ready ? 1 : 0)
      },
    })
  }

  // The broker's counters come from its stats(), for an app whose server has a broker.
  if (app.metrics().broker === undefined) return
  gauge('gatewire_broker_state', "The broker's state: 1 for the current one.", ['state'], (s, emit) => {
    for (const state of BROKER_STATES) emit({ state }, s.broker?.state === state ? 1 : 0)
  })
  const broker = (value: (b: NonNullable<MetricsSnapshot['broker']>) => number) => (s: MetricsSnapshot, emit: Emit) => {
    emit({}, s.broker === undefined ? 0 : value(s.broker))
  }
  gauge('gatewire_broker_topics', 'Topics this instance is subscribed to through the broker.', [], broker((b) => b.topics))
  counter('gatewire_broker_published_total', 'Messages handed to the broker.', [], broker((b) => b.published))
  counter('gatewire_broker_received_total', 'Messages received from other instances.', [], broker((b) => b.received))
  counter('gatewire_broker_not_delivered_total', 'Messages the broker could not carry to other instances (outage, queue full).', [], broker((b) => b.notDelivered))
  counter('gatewire_broker_reconnects_total', 'Times the broker reconnected after losing its backend.', [], broker((b) => b.reconnects))
}
