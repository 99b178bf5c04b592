import cluster, { type Worker } from 'node:cluster'
import path from 'node:path'
import { expect } from 'chai'
import { ClusterHub } from '../../src/broker/cluster-broker'
import type { Broker, BrokerMessage, BrokerSink, BrokerState, BrokerStats, Presence } from '../../src/broker/broker'
import { describeBrokerConformance } from './broker-conformance'

const WORKER = path.join(__dirname, '..', 'helpers', 'cluster-broker-worker.ts')
/** The suite uses at most three instances at once; each lives in a worker of its own. */
const POOL_SIZE = 3
const CALL_DEADLINE_MS = 10_000

/**
 * Every call of every WorkerBroker, one at a time: a call goes to its worker once the previous
 * call's reply is back. The suite treats publish(), subscribe() and the rest as taking effect
 * when they return, in the order the test makes them, across instances (as they do for brokers
 * in one process, or for Redis over one connection each). Here a call takes effect in a worker;
 * its reply, on the same ordered channel as the broker's own messages to the hub (which runs in
 * this process), proves the hub has seen whatever the call sent before the next call starts.
 */
let calls: Promise<unknown> = Promise.resolve()
/** Call ids are unique across the WorkerBrokers, several of which may listen to one worker. */
let lastCallId = 0

interface Reply {
  conformance: 'reply'
  id: number
  ok: boolean
  value: unknown
  error?: string
  state?: BrokerState
  stats?: BrokerStats
}

interface SinkEvent {
  conformance: 'sink'
  instance: string
  kind: 'message' | 'state'
  message?: Omit<BrokerMessage, 'payload'> & { payload: string }
  state?: BrokerState
  stats?: BrokerStats
}

/**
 * The test process's handle on a real clusterBroker() running in a real worker: every call is
 * carried to the worker over node:cluster's IPC channel and run there on the broker, and what
 * the broker gives its sink comes back to the sink given here. The broker's own traffic goes
 * worker → this process's ClusterHub → other workers, as in an app started by runCluster().
 * State and counters are the worker's, as of its latest reply or sink event (the suite reads
 * them after synced(), whose reply follows every earlier call's).
 */
class WorkerBroker implements Broker {
  private stateValue: BrokerState = 'idle'
  private counters: BrokerStats = { published: 0, received: 0, notDelivered: 0, reconnects: 0, topics: 0 }
  private sink: BrokerSink | null = null
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>()
  private readonly onMessage = (message: unknown): void => this.receive(message as Partial<Reply & SinkEvent>)

  constructor(
    private readonly worker: Worker,
    readonly instanceId: string,
  ) {
    worker.on('message', this.onMessage)
  }

  /** Creates the broker in the worker. */
  async create(): Promise<void> {
    await this.call('create', this.instanceId)
  }

  get state(): BrokerState {
    return this.stateValue
  }

  async start(sink: BrokerSink): Promise<void> {
    if (this.sink === null) this.sink = sink
    await this.call('start')
  }

  subscribe(topic: string): void {
    void this.call('subscribe', topic).catch(() => {})
  }

  unsubscribe(topic: string): void {
    void this.call('unsubscribe', topic).catch(() => {})
  }

  publish(topic: string, payload: Uint8Array, binary: boolean): void {
    void this.call('publish', topic, Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('base64'), binary).catch(() => {})
  }

  join(topic: string, member: string, data: unknown): void {
    void this.call('join', topic, member, data).catch(() => {})
  }

  leave(topic: string, member: string): void {
    void this.call('leave', topic, member).catch(() => {})
  }

  async presence(topic: string): Promise<Presence> {
    return (await this.call('presence', topic)) as Presence
  }

  async synced(): Promise<void> {
    await this.call('synced')
  }

  stats(): BrokerStats {
    return { ...this.counters }
  }

  async close(): Promise<void> {
    await this.call('close')
  }

  /** Stops listening to the worker (the worker itself stays for the next test). */
  detach(): void {
    this.worker.off('message', this.onMessage)
    for (const { reject, timer } of this.calls.values()) {
      clearTimeout(timer)
      reject(new Error('detached'))
    }
    this.calls.clear()
  }

  private call(method: string, ...args: unknown[]): Promise<unknown> {
    const result = calls.then(() => this.send(method, args))
    calls = result.catch(() => {})
    return result
  }

  private send(method: string, args: unknown[]): Promise<unknown> {
    const id = ++lastCallId
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(id)
        reject(new Error(`worker ${this.worker.process.pid} did not answer ${method} within ${CALL_DEADLINE_MS} ms`))
      }, CALL_DEADLINE_MS)
      this.calls.set(id, { resolve, reject, timer })
      this.worker.send({ conformance: 'call', id, method, args })
    })
  }

  private receive(message: Partial<Reply> | Partial<SinkEvent>): void {
    if (typeof message !== 'object' || message === null) return
    if (message.conformance === 'reply') {
      const call = this.calls.get(message.id!)
      if (call === undefined) return
      this.calls.delete(message.id!)
      clearTimeout(call.timer)
      if (message.stats !== undefined) this.counters = message.stats
      if (message.state !== undefined) this.stateValue = message.state
      if (message.ok === true) call.resolve(message.value)
      else call.reject(new Error(message.error))
    } else if (message.conformance === 'sink' && message.instance === this.instanceId) {
      if (message.stats !== undefined) this.counters = message.stats
      if (message.kind === 'state') {
        this.stateValue = message.state!
        this.sink?.stateChange?.(message.state!)
      } else if (message.message !== undefined) {
        this.sink?.message({ ...message.message, payload: Buffer.from(message.message.payload, 'base64') })
      }
    }
  }
}

describe('clusterBroker across node:cluster workers', function () {
  // Forking three ts-node workers takes a few seconds on a busy machine.
  this.timeout(60_000)
  let hub: ClusterHub | null = null
  const pool: Worker[] = []
  let attached: WorkerBroker[] = []
  let created = 0

  async function fork(): Promise<Worker> {
    const worker = cluster.fork()
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`a cluster worker did not start within ${CALL_DEADLINE_MS * 3} ms`)), CALL_DEADLINE_MS * 3)
      worker.on('message', function up(message: { conformance?: string }) {
        if (message?.conformance !== 'up') return
        clearTimeout(timer)
        worker.off('message', up)
        resolve()
      })
      worker.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`a cluster worker exited with ${code} before it started`))
      })
    })
    return worker
  }

  before(async () => {
    cluster.setupPrimary({ exec: WORKER, execArgv: ['-r', 'ts-node/register/transpile-only'], silent: false })
    hub = new ClusterHub()
    for (let i = 0; i < POOL_SIZE; i++) pool.push(await fork())
  })

  after(async () => {
    hub?.close()
    hub = null
    await Promise.all(
      pool.splice(0).map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve()
            worker.once('exit', () => resolve())
            worker.kill('SIGTERM')
          }),
      ),
    )
  })

  describeBrokerConformance('clusterBroker (node:cluster workers through the primary)', {
    async create(count) {
      expect(count, `this factory has ${POOL_SIZE} workers`).to.be.at.most(POOL_SIZE)
      const brokers = pool.slice(0, count).map((worker) => new WorkerBroker(worker, `instance-${++created}`))
      await Promise.all(brokers.map((broker) => broker.create()))
      attached.push(...brokers)
      return brokers
    },
    async cleanup() {
      for (const broker of attached) broker.detach()
      attached = []
    },
  })

  describe('ClusterHub', () => {
    /** Two started brokers in the first two workers; the second subscribed to 't' (synced), recording into `received`. */
    async function publisherAndSubscriber(label: string, received: string[]): Promise<[WorkerBroker, WorkerBroker]> {
      const [a, b] = pool.slice(0, 2).map((worker) => new WorkerBroker(worker, `${label}-${++created}`))
      attached.push(a, b)
      await Promise.all([a.create(), b.create()])
      await a.start({ message() {} })
      await b.start({ message: (message) => received.push(message.payload.toString()) })
      b.subscribe('t')
      await b.synced()
      return [a, b]
    }

    it('stops listening to the workers when closed, so a new hub routes each message once', async () => {
      hub!.close()
      hub = new ClusterHub()
      const received: string[] = []
      const [a, b] = await publisherAndSubscriber('rehub', received)
      a.publish('t', Buffer.from('once'), false)
      a.publish('t', Buffer.from('fence'), false)
      const deadline = Date.now() + CALL_DEADLINE_MS
      while (!received.includes('fence') && Date.now() < deadline) await a.synced()
      expect(received, 'each message once, through the new hub only').to.deep.equal(['once', 'fence'])
      for (const broker of [a, b]) await broker.close()
    })

    it('routes a worker again after its broker closed and a new one started there', async () => {
      const received: string[] = []
      const [a, b] = await publisherAndSubscriber('restart', received)
      a.publish('t', Buffer.from('first'), false)
      await b.close()
      const again = new WorkerBroker(pool[1], `restart-${++created}`)
      attached.push(again)
      await again.create()
      await again.start({ message: (message) => received.push(message.payload.toString()) })
      again.subscribe('t')
      await again.synced()
      a.publish('t', Buffer.from('second'), false)
      const deadline = Date.now() + CALL_DEADLINE_MS
      while (!received.includes('second') && Date.now() < deadline) await a.synced()
      expect(received, 'the restarted broker receives, and nothing twice').to.include('second')
      expect(received.filter((text) => text === 'second')).to.have.length(1)
      for (const broker of [a, again]) await broker.close()
    })
  })
})
