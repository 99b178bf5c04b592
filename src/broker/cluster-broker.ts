import cluster, { type Worker } from 'node:cluster'
import { randomBytes } from 'node:crypto'
import type { Broker, BrokerSink, BrokerState, BrokerStats, Presence, PresenceMember } from './broker'

/**
 * Messages between a worker's ClusterBroker and the primary's ClusterHub, over node:cluster's
 * IPC channel (ordered per worker, so one publisher's messages keep their order). Every
 * message carries `gatewire` so that an application's own IPC messages pass untouched.
 */
type WorkerMessage =
  | { gatewire: 'subscribe' | 'unsubscribe'; topics: string[] }
  | { gatewire: 'publish'; topic: string; binary: boolean; payload: string }
  | { gatewire: 'join'; topic: string; member: string; data: unknown }
  | { gatewire: 'leave'; topic: string; member: string }
  | { gatewire: 'presence'; id: number; topic: string }
  | { gatewire: 'hello'; instance: string }
  | { gatewire: 'bye' }

type PrimaryMessage =
  | { gatewire: 'message'; topic: string; binary: boolean; payload: string; origin: string; sequence: number }
  | { gatewire: 'presence'; id: number; presence: Presence }

/** Messages to one worker not yet handed to its IPC channel, at most; past it they are not delivered. */
const MAX_PENDING_PER_WORKER = 10_000
/** How long a presence question may wait for the primary. */
const PRESENCE_TIMEOUT_MS = 5000

/**
 * The primary's side: routes messages between the workers' brokers by their interest and keeps
 * the presence of every worker. A worker that exits leaves at once (its members are gone from
 * presence the moment the primary sees the exit). Started by runCluster() in the primary.
 */
export class ClusterHub {
  /** The workers whose broker is started (said hello and not bye), by worker. */
  private readonly workers = new Map<Worker, HubWorker>()
  private readonly topics = new Map<string, Set<HubWorker>>()
  private readonly presenceByTopic = new Map<string, Map<string, PresenceMember>>()
  /** This hub's listeners on each worker it watches, removed again by close(). */
  private readonly listening = new Map<Worker, { message: (message: unknown) => void; exit: () => void }>()
  private readonly onFork = (worker: Worker): void => this.watch(worker)
  private closed = false

  constructor() {
    if (!cluster.isPrimary) throw new Error('ClusterHub runs in the cluster primary')
    for (const worker of Object.values(cluster.workers ?? {})) if (worker !== undefined) this.watch(worker)
    cluster.on('fork', this.onFork)
  }

  /** Stops routing (the workers' brokers then carry nothing) and stops listening to the workers. */
  close(): void {
    this.closed = true
    cluster.off('fork', this.onFork)
    for (const entry of [...this.workers.values()]) this.remove(entry)
    for (const [worker, listeners] of this.listening) {
      worker.off('message', listeners.message)
      worker.off('exit', listeners.exit)
    }
    this.listening.clear()
  }

  /**
   * Listens to a worker for the whole of its life. Its broker joins the routing with 'hello' and
   * leaves it with 'bye' or the worker's exit; a worker may stop its app and start a new one (a
   * new broker, a new hello) and is routed again.
   */
  private watch(worker: Worker): void {
    if (this.closed || this.listening.has(worker)) return
    const listeners = {
      message: (message: unknown): void => {
        if (isGatewire(message)) this.receive(worker, message as WorkerMessage)
      },
      exit: (): void => {
        this.listening.delete(worker)
        const entry = this.workers.get(worker)
        if (entry !== undefined) this.remove(entry)
      },
    }
    this.listening.set(worker, listeners)
    worker.on('message', listeners.message)
    worker.once('exit', listeners.exit)
  }

  private entryOf(worker: Worker, instance?: string): HubWorker {
    let entry = this.workers.get(worker)
    if (entry === undefined) {
      entry = { worker, instance: instance ?? `worker-${worker.id}`, topics: new Set(), members: new Map(), sequences: new Map(), pending: 0 }
      this.workers.set(worker, entry)
    }
    return entry
  }

  private remove(entry: HubWorker): void {
    if (!this.workers.delete(entry.worker)) return
    for (const topic of entry.topics) {
      const set = this.topics.get(topic)
      if (set !== undefined && set.delete(entry) && set.size === 0) this.forget(topic)
    }
    for (const [topic, members] of entry.members) for (const member of members) this.leave(entry, topic, member)
  }

  private receive(worker: Worker, message: WorkerMessage): void {
    if (message.gatewire === 'hello') {
      // A new broker in this worker: whatever the previous one left (it may have exited its app
      // without a bye) goes first, so nothing of it is routed or shown in presence any more.
      const previous = this.workers.get(worker)
      if (previous !== undefined) this.remove(previous)
      this.entryOf(worker, message.instance)
      return
    }
    // A broker that said bye (or never hello) routes nothing until its next hello.
    const entry = this.workers.get(worker)
    if (entry === undefined) return
    switch (message.gatewire) {
      case 'subscribe':
        for (const topic of message.topics) {
          entry.topics.add(topic)
          let set = this.topics.get(topic)
          if (set === undefined) this.topics.set(topic, (set = new Set()))
          set.add(entry)
        }
        return
      case 'unsubscribe':
        for (const topic of message.topics) {
          entry.topics.delete(topic)
          const set = this.topics.get(topic)
          if (set !== undefined && set.delete(entry) && set.size === 0) this.forget(topic)
        }
        return
      case 'publish': {
        const set = this.topics.get(message.topic)
        if (set === undefined) return
        const sequence = (entry.sequences.get(message.topic) ?? 0) + 1
        entry.sequences.set(message.topic, sequence)
        const out: PrimaryMessage = { gatewire: 'message', topic: message.topic, binary: message.binary, payload: message.payload, origin: entry.instance, sequence }
        for (const target of set) if (target !== entry) this.send(target, out)
        return
      }
      case 'join': {
        let members = this.presenceByTopic.get(message.topic)
        if (members === undefined) this.presenceByTopic.set(message.topic, (members = new Map()))
        members.set(`${entry.instance}\0${message.member}`, Object.freeze({ id: message.member, instance: entry.instance, data: message.data ?? null }))
        let mine = entry.members.get(message.topic)
        if (mine === undefined) entry.members.set(message.topic, (mine = new Set()))
        mine.add(message.member)
        return
      }
      case 'leave':
        this.leave(entry, message.topic, message.member)
        return
      case 'presence': {
        const members = [...(this.presenceByTopic.get(message.topic)?.values() ?? [])]
        this.send(entry, { gatewire: 'presence', id: message.id, presence: { topic: message.topic, count: members.length, members } })
        return
      }
      case 'bye':
        this.remove(entry)
        return
    }
  }

  /**
   * A topic nobody subscribes to any more: its entry and every publisher's sequence number for
   * it go (topic names often come from clients, so what the primary keeps follows live interest).
   */
  private forget(topic: string): void {
    this.topics.delete(topic)
    for (const worker of this.workers.values()) worker.sequences.delete(topic)
  }

  private leave(entry: HubWorker, topic: string, member: string): void {
    const mine = entry.members.get(topic)
    if (mine !== undefined && mine.delete(member) && mine.size === 0) entry.members.delete(topic)
    const members = this.presenceByTopic.get(topic)
    if (members === undefined) return
    members.delete(`${entry.instance}\0${member}`)
    if (members.size === 0) this.presenceByTopic.delete(topic)
  }

  private send(target: HubWorker, message: PrimaryMessage): void {
    // A worker that does not read its channel must not grow the primary's memory.
    if (target.pending >= MAX_PENDING_PER_WORKER || !target.worker.isConnected()) return
    target.pending++
    target.worker.send(message, undefined, () => {
      target.pending--
    })
  }
}

interface HubWorker {
  readonly worker: Worker
  instance: string
  readonly topics: Set<string>
  readonly members: Map<string, Set<string>>
  readonly sequences: Map<string, number>
  pending: number
}

/**
 * A broker for the workers of one node:cluster primary (one machine, no Redis): publishes,
 * rooms and presence are shared between the workers through the primary, which runCluster()
 * sets up. Across machines use the Redis broker.
 *
 * @example
 * await runCluster({ workers: 4, start: () => bootstrap(AppModule, { broker: clusterBroker() }).listen(8080) })
 */
export function clusterBroker(options: { instanceId?: string } = {}): ClusterBroker {
  return new ClusterBroker(options.instanceId)
}

export class ClusterBroker implements Broker {
  readonly instanceId: string
  private stateValue: BrokerState = 'idle'
  private sink: BrokerSink | null = null
  private readonly subscribed = new Set<string>()
  private readonly joined = new Map<string, Map<string, unknown>>()
  private readonly counters: BrokerStats = { published: 0, received: 0, notDelivered: 0, reconnects: 0, topics: 0 }
  /** Interest changes of this tick, sent together. */
  private interest: Map<string, boolean> | null = null
  private readonly questions = new Map<number, { resolve: (p: Presence) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>()
  private lastQuestion = 0
  private pending = 0
  private readonly onMessage = (message: unknown): void => {
    if (isGatewire(message)) this.receive(message as PrimaryMessage)
  }

  constructor(instanceId?: string) {
    this.instanceId = instanceId ?? `${process.pid}-${randomBytes(4).toString('hex')}`
  }

  get state(): BrokerState {
    return this.stateValue
  }

  start(sink: BrokerSink): Promise<void> {
    if (this.stateValue !== 'idle') return Promise.reject(new Error(`broker already started (state '${this.stateValue}')`))
    if (!cluster.isWorker || process.send === undefined) {
      return Promise.reject(new Error('clusterBroker() works in a node:cluster worker (start the app through runCluster())'))
    }
    this.sink = sink
    process.on('message', this.onMessage)
    this.post({ gatewire: 'hello', instance: this.instanceId })
    this.setState('ready')
    return Promise.resolve()
  }

  subscribe(topic: string): void {
    if (this.stateValue === 'closed' || this.subscribed.has(topic)) return
    this.subscribed.add(topic)
    this.counters.topics = this.subscribed.size
    this.change(topic, true)
  }

  unsubscribe(topic: string): void {
    if (!this.subscribed.delete(topic)) return
    this.counters.topics = this.subscribed.size
    this.change(topic, false)
  }

  publish(topic: string, payload: Uint8Array, binary: boolean): void {
    this.counters.published++
    if (this.stateValue !== 'ready' || this.pending >= MAX_PENDING_PER_WORKER) {
      this.counters.notDelivered++
      this.sink?.notDelivered?.(topic, 1, new Error(this.stateValue === 'ready' ? 'IPC channel backlog full' : `broker is ${this.stateValue}`))
      return
    }
    this.flushInterest()
    this.post({ gatewire: 'publish', topic, binary, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('base64') })
  }

  join(topic: string, member: string, data: unknown): void {
    if (this.stateValue === 'closed') return
    let members = this.joined.get(topic)
    if (members === undefined) this.joined.set(topic, (members = new Map()))
    members.set(member, data)
    this.post({ gatewire: 'join', topic, member, data })
  }

  leave(topic: string, member: string): void {
    const members = this.joined.get(topic)
    if (members === undefined || !members.delete(member)) return
    if (members.size === 0) this.joined.delete(topic)
    this.post({ gatewire: 'leave', topic, member })
  }

  presence(topic: string): Promise<Presence> {
    if (this.stateValue !== 'ready') return Promise.reject(new Error(`broker is ${this.stateValue}`))
    this.flushInterest()
    const id = ++this.lastQuestion
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.questions.delete(id)
        reject(new Error(`the cluster primary did not answer a presence question about ${JSON.stringify(topic)} within ${PRESENCE_TIMEOUT_MS} ms`))
      }, PRESENCE_TIMEOUT_MS)
      this.questions.set(id, { resolve, reject, timer })
      this.post({ gatewire: 'presence', id, topic })
    })
  }

  /** Resolves once the primary has everything sent so far (the IPC channel is ordered: a presence round trip proves it). */
  async synced(): Promise<void> {
    if (this.stateValue !== 'ready') return
    await this.presence('')
  }

  stats(): BrokerStats {
    return { ...this.counters }
  }

  close(): Promise<void> {
    if (this.stateValue === 'closed') return Promise.resolve()
    if (this.stateValue === 'ready') this.post({ gatewire: 'bye' })
    process.off('message', this.onMessage)
    this.subscribed.clear()
    this.joined.clear()
    this.interest = null
    this.counters.topics = 0
    for (const { reject, timer } of this.questions.values()) {
      clearTimeout(timer)
      reject(new Error('broker closed'))
    }
    this.questions.clear()
    this.setState('closed')
    this.sink = null
    return Promise.resolve()
  }

  private change(topic: string, subscribe: boolean): void {
    if (this.stateValue !== 'ready' && this.stateValue !== 'idle') return
    if (this.interest === null) {
      this.interest = new Map()
      queueMicrotask(() => this.flushInterest())
    }
    this.interest.set(topic, subscribe)
  }

  /** Sends this tick's interest changes in two messages (their net effect), before anything that depends on them. */
  private flushInterest(): void {
    const interest = this.interest
    if (interest === null || this.stateValue !== 'ready') return
    this.interest = null
    const on: string[] = []
    const off: string[] = []
    for (const [topic, subscribe] of interest) (subscribe ? on : off).push(topic)
    if (on.length > 0) this.post({ gatewire: 'subscribe', topics: on })
    if (off.length > 0) this.post({ gatewire: 'unsubscribe', topics: off })
  }

  private receive(message: PrimaryMessage): void {
    if (message.gatewire === 'presence') {
      const question = this.questions.get(message.id)
      if (question === undefined) return
      this.questions.delete(message.id)
      clearTimeout(question.timer)
      question.resolve(message.presence)
      return
    }
    const sink = this.sink
    if (sink === null || !this.subscribed.has(message.topic)) return
    this.counters.received++
    sink.message({ topic: message.topic, binary: message.binary, payload: Buffer.from(message.payload, 'base64'), origin: message.origin, sequence: message.sequence })
  }

  private post(message: WorkerMessage): void {
    if (process.send === undefined || !process.connected) return
    this.pending++
    process.send(message, undefined, undefined, () => {
      this.pending--
    })
  }

  private setState(state: BrokerState): void {
    this.stateValue = state
    this.sink?.stateChange?.(state)
  }
}

function isGatewire(message: unknown): boolean {
  return typeof message === 'object' && message !== null && typeof (message as { gatewire?: unknown }).gatewire === 'string'
}
