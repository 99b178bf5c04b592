/**
 * Counters shared by the connections of one server, or of one gateway: plain number fields
 * incremented in place on the message path (no allocation, no lookup by name). Close codes,
 * protocol errors and open connections per subprotocol are kept in small maps, touched once
 * per connection or close, never per message.
 */
export class ConnectionMetrics {
  textMessagesReceived = 0
  binaryMessagesReceived = 0
  /** Payload bytes (unmasked, before any decompression). */
  textBytesReceived = 0
  binaryBytesReceived = 0
  textMessagesSent = 0
  binaryMessagesSent = 0
  textBytesSent = 0
  binaryBytesSent = 0
  /** Connections opened since start. */
  connectionsOpened = 0
  /** Open connections by negotiated subprotocol ('' for none). */
  readonly connectionsOpen = new Map<string, number>()
  /** Close frames sent, by close code (1005: a close frame without a code). */
  readonly closeCodesSent = new Map<number, number>()
  /** Close frames received, by close code. */
  readonly closeCodesReceived = new Map<number, number>()
  /** Peers' protocol errors, by the close code they failed the connection with (1002, 1007, 1009 ...). */
  readonly protocolErrors = new Map<number, number>()
  /** Connections closed with 1008 for a send past maxBufferedAmount (slowConsumer 'close'). */
  slowConsumerCloses = 0
  /** Messages dropped for a send past maxBufferedAmount (slowConsumer 'drop'). */
  slowConsumerDrops = 0
  /** Connections terminated for missing a heartbeat pong. */
  heartbeatTerminations = 0

  /** A plain copy, with the maps as objects (keys are strings, as in JSON). */
  snapshot(): ConnectionMetricsSnapshot {
    return {
      connectionsOpen: record(this.connectionsOpen),
      connectionsOpened: this.connectionsOpened,
      messagesReceived: { text: this.textMessagesReceived, binary: this.binaryMessagesReceived },
      bytesReceived: { text: this.textBytesReceived, binary: this.binaryBytesReceived },
      messagesSent: { text: this.textMessagesSent, binary: this.binaryMessagesSent },
      bytesSent: { text: this.textBytesSent, binary: this.binaryBytesSent },
      closeCodesSent: record(this.closeCodesSent),
      closeCodesReceived: record(this.closeCodesReceived),
      protocolErrors: record(this.protocolErrors),
      slowConsumer: { closes: this.slowConsumerCloses, drops: this.slowConsumerDrops },
      heartbeatTerminations: this.heartbeatTerminations,
    }
  }
}

/** Text and binary counts. */
export interface ByKind {
  readonly text: number
  readonly binary: number
}

/** `ConnectionMetrics#snapshot()`: counts since start, except `connectionsOpen` (now). */
export interface ConnectionMetricsSnapshot {
  /** Open connections by subprotocol (`''` for none). */
  readonly connectionsOpen: Readonly<Record<string, number>>
  readonly connectionsOpened: number
  readonly messagesReceived: ByKind
  /** Payload bytes. */
  readonly bytesReceived: ByKind
  readonly messagesSent: ByKind
  readonly bytesSent: ByKind
  /** Close frames sent and received, by close code. */
  readonly closeCodesSent: Readonly<Record<string, number>>
  readonly closeCodesReceived: Readonly<Record<string, number>>
  /** Peers' protocol errors by close code. */
  readonly protocolErrors: Readonly<Record<string, number>>
  readonly slowConsumer: { readonly closes: number; readonly drops: number }
  readonly heartbeatTerminations: number
}

/** Adds one to `key` of a count map. */
export function countIn<K>(map: Map<K, number>, key: K, delta = 1): void {
  map.set(key, (map.get(key) ?? 0) + delta)
}

function record<K extends string | number>(map: ReadonlyMap<K, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const key of [...map.keys()].sort()) out[String(key)] = map.get(key)!
  return out
}
