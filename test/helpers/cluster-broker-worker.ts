/**
 * A node:cluster worker for the broker conformance suite (test/broker/cluster-broker.test.ts):
 * it runs a real clusterBroker() and lets the test process — the cluster primary, which also
 * runs the real ClusterHub — drive it over the IPC channel. Calls arrive as
 * `{ conformance: 'call', id, method, args }` and are answered with `{ conformance: 'reply', id,
 * ok, value | error, state, stats }`; what the broker gives its sink is forwarded as
 * `{ conformance: 'sink', instance, … }`. Messages without `conformance` are the broker's own.
 * One broker at a time: `create` replaces the previous one (closed or not).
 */
import { clusterBroker, type ClusterBroker } from '../../src/broker/cluster-broker'
import type { BrokerMessage, BrokerSink, BrokerState } from '../../src/broker/broker'

interface Call {
  conformance: 'call'
  id: number
  method: 'create' | 'start' | 'subscribe' | 'unsubscribe' | 'publish' | 'join' | 'leave' | 'presence' | 'synced' | 'close'
  args: unknown[]
}

let broker: ClusterBroker | null = null

function send(message: object): void {
  process.send?.(message)
}

function report(id: number, ok: boolean, value: unknown, error?: unknown): void {
  send({
    conformance: 'reply',
    id,
    ok,
    value,
    error: error instanceof Error ? error.message : error === undefined ? undefined : String(error),
    state: broker?.state,
    stats: broker?.stats(),
  })
}

/** Forwards what one broker's sink receives, tagged with that broker's instance id. */
function sinkOf(instance: string): BrokerSink {
  return {
  message(message: BrokerMessage): void {
    send({
      conformance: 'sink',
      instance,
      kind: 'message',
      message: { ...message, payload: Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.length).toString('base64') },
      stats: broker?.stats(),
    })
  },
  stateChange(state: BrokerState): void {
    send({ conformance: 'sink', instance, kind: 'state', state, stats: broker?.stats() })
  },
  }
}

async function run(call: Call): Promise<unknown> {
  const [a, b, c] = call.args
  if (call.method === 'create') {
    broker = clusterBroker({ instanceId: a as string })
    return broker.instanceId
  }
  if (broker === null) throw new Error(`no broker in worker ${process.pid} for ${call.method}`)
  switch (call.method) {
    case 'start':
      return broker.start(sinkOf(broker.instanceId))
    case 'subscribe':
      return broker.subscribe(a as string)
    case 'unsubscribe':
      return broker.unsubscribe(a as string)
    case 'publish':
      return broker.publish(a as string, Buffer.from(b as string, 'base64'), c as boolean)
    case 'join':
      return broker.join(a as string, b as string, c)
    case 'leave':
      return broker.leave(a as string, b as string)
    case 'presence':
      return broker.presence(a as string)
    case 'synced':
      return broker.synced()
    case 'close':
      return broker.close()
  }
}

process.on('message', (message: unknown) => {
  const call = message as Partial<Call>
  if (typeof call !== 'object' || call === null || call.conformance !== 'call' || typeof call.id !== 'number') return
  // Calls run in arrival order; a call's reply goes out once it has settled, so replies to
  // synchronous calls keep their order and carry the counters as they stand after the call.
  run(call as Call).then(
    (value) => report(call.id!, true, value),
    (error: unknown) => report(call.id!, false, undefined, error),
  )
})

send({ conformance: 'up' })
