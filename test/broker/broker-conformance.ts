import { expect } from 'chai'
import type { Broker, BrokerMessage, BrokerSink, BrokerState } from '../../src/broker/broker'

/**
 * Creates the brokers one test needs: `count` instances sharing one backend (one hub, one Redis),
 * not yet started (the suite starts each with its own recording sink). `cleanup` runs after every
 * test, once the suite has closed the brokers; a backend shared by the whole file (a redis-server)
 * is started and stopped by the calling file's own before/after around describeBrokerConformance.
 */
export interface BrokerFactory {
  create(count: number): Promise<Broker[]>
  cleanup?(): Promise<void>
}

export interface BrokerConformanceOptions {
  /** How long a delivery or a presence change may take before a test fails. Default 5000 ms. */
  deadlineMs?: number
}

/** What one broker's sink received, with a way to await it. */
class RecordingSink implements BrokerSink {
  readonly messages: BrokerMessage[] = []
  readonly states: BrokerState[] = []
  private waiters: Array<() => void> = []

  message(message: BrokerMessage): void {
    this.messages.push(message)
    this.wake()
  }

  stateChange(state: BrokerState): void {
    this.states.push(state)
    this.wake()
  }

  on(topic: string): BrokerMessage[] {
    return this.messages.filter((message) => message.topic === topic)
  }

  texts(topic: string): string[] {
    return this.on(topic).map((message) => message.payload.toString('utf8'))
  }

  /** Resolves when `condition` holds; fails with `what` after `deadlineMs`. */
  async until(condition: () => boolean, what: string, deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs
    while (!condition()) {
      const left = deadline - Date.now()
      if (left <= 0) expect.fail(`${what} (waited ${deadlineMs} ms; this instance received ${this.messages.length} messages)`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 50))
        function done(): void {
          clearTimeout(timer)
          resolve()
        }
        this.waiters.push(done)
      })
    }
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter()
  }
}

const encoder = new TextEncoder()

/**
 * The behaviour every Broker implementation must have (src/broker/broker.ts). Each
 * implementation's test file calls this once:
 *
 * @example
 * describeBrokerConformance('InProcessHub', { create: async (n) => { const hub = new InProcessHub(); return Array.from({ length: n }, () => hub.broker()) } })
 */
export function describeBrokerConformance(name: string, factory: BrokerFactory, options: BrokerConformanceOptions = {}): void {
  const deadlineMs = options.deadlineMs ?? 5000

  describe(`broker conformance: ${name}`, () => {
    let brokers: Broker[] = []
    let sinks: RecordingSink[] = []

    /** `count` started brokers of one backend, with their sinks. */
    async function instances(count: number): Promise<Array<{ broker: Broker; sink: RecordingSink }>> {
      const created = await factory.create(count)
      expect(created, 'factory.create(count) returns count brokers').to.have.length(count)
      brokers.push(...created)
      const result = created.map((broker) => ({ broker, sink: new RecordingSink() }))
      sinks.push(...result.map((entry) => entry.sink))
      for (const { broker, sink } of result) {
        expect(broker.synced, `${name} must implement Broker.synced() for this suite`).to.be.a('function')
        await broker.start(sink)
      }
      return result
    }

    async function synced(...list: Broker[]): Promise<void> {
      await Promise.all(list.map((broker) => broker.synced!()))
    }

    /**
     * Per-publisher order makes a fence: once `receiver` has the fence `publisher` sent after
     * `earlier`, anything of `earlier` it was going to receive has arrived.
     */
    async function fence(publisher: Broker, receiver: RecordingSink, topic: string, label: string): Promise<void> {
      const text = `fence:${label}`
      publisher.publish(topic, encoder.encode(text), false)
      await receiver.until(() => receiver.texts(topic).includes(text), `the fence '${text}' on '${topic}' arrives`, deadlineMs)
    }

    afterEach(async () => {
      const closing = brokers
      brokers = []
      sinks = []
      await Promise.all(closing.map((broker) => broker.close()))
      await factory.cleanup?.()
    })

    it('gives every instance its own id and is ready after start', async () => {
      const list = await instances(3)
      const ids = list.map(({ broker }) => broker.instanceId)
      for (const id of ids) expect(id).to.be.a('string').and.not.empty
      expect(new Set(ids).size, 'distinct instance ids').to.equal(3)
      for (const { broker } of list) expect(broker.state).to.equal('ready')
    })

    it('refuses a second start', async () => {
      const [a] = await instances(1)
      let error: unknown
      await a.broker.start(new RecordingSink()).catch((caught: unknown) => (error = caught))
      expect(error, 'start() twice rejects').to.be.instanceOf(Error)
    })

    it('delivers a message exactly once to each other subscribed instance, never back to the publisher', async () => {
      const [a, b, c] = await instances(3)
      for (const { broker } of [a, b, c]) broker.subscribe('room')
      await synced(a.broker, b.broker, c.broker)
      a.broker.publish('room', encoder.encode('hello'), false)
      // b's message after a's reaches a (a is subscribed): then a's own would have come back by now.
      await fence(a.broker, b.sink, 'room', 'b')
      await fence(a.broker, c.sink, 'room', 'c')
      await fence(b.broker, a.sink, 'room', 'a')
      expect(b.sink.texts('room').filter((text) => text === 'hello'), 'b received it once').to.have.length(1)
      expect(c.sink.texts('room').filter((text) => text === 'hello'), 'c received it once').to.have.length(1)
      expect(a.sink.texts('room'), "a received b's fence and nothing of its own").to.deep.equal(['fence:a'])
      const message = b.sink.on('room')[0]
      expect(message.origin).to.equal(a.broker.instanceId)
      expect(message.binary).to.equal(false)
      expect(message.sequence, 'sequence numbers start at 1').to.equal(1)
    })

    it('keeps one publisher’s order on a topic over 2,000 messages, with increasing sequence numbers', async () => {
      const [a, b] = await instances(2)
      b.broker.subscribe('ordered')
      await synced(b.broker)
      const total = 2000
      for (let i = 0; i < total; i++) a.broker.publish('ordered', encoder.encode(String(i)), false)
      await b.sink.until(() => b.sink.on('ordered').length >= total, `all ${total} messages arrive`, deadlineMs * 2)
      const received = b.sink.texts('ordered')
      expect(received.length, 'no duplicates').to.equal(total)
      const outOfOrder = received.findIndex((text, i) => text !== String(i))
      expect(outOfOrder, `message ${outOfOrder} is ${received[outOfOrder]}`).to.equal(-1)
      const sequences = b.sink.on('ordered').map((message) => message.sequence)
      for (let i = 1; i < sequences.length; i++) {
        expect(sequences[i], `sequence after ${sequences[i - 1]}`).to.be.greaterThan(sequences[i - 1])
      }
    })

    it('keeps each of several publishers’ order on one topic', async () => {
      const [a, b, c] = await instances(3)
      c.broker.subscribe('mixed')
      await synced(c.broker)
      for (let i = 0; i < 500; i++) {
        a.broker.publish('mixed', encoder.encode(`a${i}`), false)
        b.broker.publish('mixed', encoder.encode(`b${i}`), false)
      }
      await c.sink.until(() => c.sink.on('mixed').length >= 1000, 'all 1,000 messages arrive', deadlineMs * 2)
      for (const prefix of ['a', 'b']) {
        const mine = c.sink.texts('mixed').filter((text) => text.startsWith(prefix))
        expect(mine, `${prefix}'s messages in order`).to.deep.equal(Array.from({ length: 500 }, (_, i) => `${prefix}${i}`))
      }
    })

    it('carries text and binary payloads byte for byte, empty ones included', async () => {
      const [a, b] = await instances(2)
      b.broker.subscribe('bytes')
      await synced(b.broker)
      const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i)
      const large = Buffer.alloc(256 * 1024)
      for (let i = 0; i < large.length; i++) large[i] = (i * 31) & 0xff
      const sent: Array<{ payload: Uint8Array; binary: boolean }> = [
        { payload: encoder.encode(''), binary: false },
        { payload: encoder.encode('héllo wörld, 你好, 🌍🚀'), binary: false },
        { payload: new Uint8Array(0), binary: true },
        { payload: allBytes, binary: true },
        { payload: Uint8Array.from([0xff, 0xfe, 0x00, 0xc0]), binary: true }, // not UTF-8: binary stays binary
        { payload: large, binary: true },
      ]
      for (const { payload, binary } of sent) a.broker.publish('bytes', payload, binary)
      await b.sink.until(() => b.sink.on('bytes').length >= sent.length, `all ${sent.length} payloads arrive`, deadlineMs)
      const received = b.sink.on('bytes')
      expect(received).to.have.length(sent.length)
      received.forEach((message, i) => {
        expect(Buffer.isBuffer(message.payload), `payload ${i} is a Buffer`).to.equal(true)
        expect(message.binary, `payload ${i}'s binary flag`).to.equal(sent[i].binary)
        expect(Buffer.compare(message.payload, Buffer.from(sent[i].payload)), `payload ${i}'s bytes`).to.equal(0)
      })
    })

    it('sends nothing to an instance that has not subscribed to the topic', async () => {
      const [a, b, c] = await instances(3)
      b.broker.subscribe('interest')
      await synced(b.broker)
      a.broker.publish('interest', encoder.encode('for b only'), false)
      await b.sink.until(() => b.sink.texts('interest').includes('for b only'), 'b receives it', deadlineMs)
      // Once c subscribes, a fence from a reaches c; had 'for b only' been sent to c, it came first.
      c.broker.subscribe('interest')
      await synced(c.broker)
      await fence(a.broker, c.sink, 'interest', 'c')
      expect(c.sink.texts('interest'), 'c received only the fence').to.deep.equal(['fence:c'])
    })

    it('sends nothing after unsubscribe, and again after a new subscribe', async () => {
      const [a, b] = await instances(2)
      b.broker.subscribe('t')
      await synced(b.broker)
      a.broker.publish('t', encoder.encode('one'), false)
      await b.sink.until(() => b.sink.texts('t').includes('one'), "'one' arrives", deadlineMs)
      b.broker.unsubscribe('t')
      await synced(b.broker)
      a.broker.publish('t', encoder.encode('two'), false)
      b.broker.subscribe('t')
      await synced(b.broker)
      a.broker.publish('t', encoder.encode('three'), false)
      await b.sink.until(() => b.sink.texts('t').includes('three'), "'three' arrives", deadlineMs)
      expect(b.sink.texts('t'), "'two' was published while b was not subscribed").to.deep.equal(['one', 'three'])
    })

    it('treats subscribe and unsubscribe as idempotent (no reference counting)', async () => {
      const [a, b] = await instances(2)
      b.broker.subscribe('twice')
      b.broker.subscribe('twice')
      await synced(b.broker)
      expect(b.broker.stats().topics, 'one topic').to.equal(1)
      a.broker.publish('twice', encoder.encode('once'), false)
      await fence(a.broker, b.sink, 'twice', 'b')
      expect(b.sink.texts('twice'), 'delivered once').to.deep.equal(['once', 'fence:b'])
      b.broker.unsubscribe('twice')
      b.broker.unsubscribe('twice')
      b.broker.unsubscribe('never-subscribed')
      await synced(b.broker)
      expect(b.broker.stats().topics, 'no topics after one unsubscribe').to.equal(0)
      a.broker.publish('twice', encoder.encode('gone'), false)
      b.broker.subscribe('twice')
      await synced(b.broker)
      await fence(a.broker, b.sink, 'twice', 'b2')
      expect(b.sink.texts('twice')).to.deep.equal(['once', 'fence:b', 'fence:b2'])
    })

    it('keeps topics apart', async () => {
      const [a, b] = await instances(2)
      b.broker.subscribe('left')
      b.broker.subscribe('right')
      await synced(b.broker)
      a.broker.publish('left', encoder.encode('L'), false)
      a.broker.publish('right', encoder.encode('R'), false)
      await b.sink.until(() => b.sink.messages.length >= 2, 'both messages arrive', deadlineMs)
      expect(b.sink.texts('left')).to.deep.equal(['L'])
      expect(b.sink.texts('right')).to.deep.equal(['R'])
    })

    it('subscribes to 1,000 topics issued together and delivers on each', async () => {
      const [a, b] = await instances(2)
      const topics = Array.from({ length: 1000 }, (_, i) => `many:${i}`)
      for (const topic of topics) b.broker.subscribe(topic)
      await synced(b.broker)
      expect(b.broker.stats().topics).to.equal(1000)
      for (const topic of topics) a.broker.publish(topic, encoder.encode(topic), false)
      await b.sink.until(() => b.sink.messages.length >= 1000, 'a message on each of 1,000 topics arrives', deadlineMs * 2)
      const seen = new Set(b.sink.messages.map((message) => `${message.topic}=${message.payload.toString()}`))
      expect(seen.size).to.equal(1000)
      for (const topic of topics) expect(seen.has(`${topic}=${topic}`), topic).to.equal(true)
      for (const topic of topics) b.broker.unsubscribe(topic)
      await synced(b.broker)
      expect(b.broker.stats().topics).to.equal(0)
    })

    it('shows presence across instances: join, data, leave, count', async () => {
      const [a, b, c] = await instances(3)
      a.broker.join('lobby', 'a1', { name: 'ann' })
      a.broker.join('lobby', 'a2', { name: 'al', tags: ['x', 1] })
      b.broker.join('lobby', 'b1', { name: 'bob' })
      b.broker.join('other', 'b1', { name: 'bob' })
      await synced(a.broker, b.broker)
      const lobby = await c.broker.presence('lobby')
      expect(lobby.topic).to.equal('lobby')
      expect(lobby.count).to.equal(3)
      const members = [...lobby.members].sort((x, y) => x.id.localeCompare(y.id))
      expect(members).to.deep.equal([
        { id: 'a1', instance: a.broker.instanceId, data: { name: 'ann' } },
        { id: 'a2', instance: a.broker.instanceId, data: { name: 'al', tags: ['x', 1] } },
        { id: 'b1', instance: b.broker.instanceId, data: { name: 'bob' } },
      ])
      a.broker.leave('lobby', 'a1')
      a.broker.leave('lobby', 'not-a-member')
      await synced(a.broker)
      const after = await b.broker.presence('lobby')
      expect(after.count, 'after a1 left').to.equal(2)
      expect(after.members.map((member) => member.id).sort()).to.deep.equal(['a2', 'b1'])
      expect((await a.broker.presence('other')).count, "'other' is a topic of its own").to.equal(1)
    })

    it('counts a member joining twice once, with the latest data', async () => {
      const [a, b] = await instances(2)
      a.broker.join('t', 'm', { name: 'old' })
      a.broker.join('t', 'm', { name: 'new' })
      await synced(a.broker)
      const presence = await b.broker.presence('t')
      expect(presence.count).to.equal(1)
      expect(presence.members[0].data).to.deep.equal({ name: 'new' })
    })

    it('tells members of two instances with the same member id apart', async () => {
      const [a, b] = await instances(2)
      a.broker.join('t', 'same', { from: 'a' })
      b.broker.join('t', 'same', { from: 'b' })
      await synced(a.broker, b.broker)
      const presence = await a.broker.presence('t')
      expect(presence.count).to.equal(2)
      expect(presence.members.map((member) => member.instance).sort()).to.deep.equal([a.broker.instanceId, b.broker.instanceId].sort())
    })

    it('answers an empty presence for a topic nobody joined', async () => {
      const [a] = await instances(1)
      const presence = await a.broker.presence('nobody-here')
      expect(presence).to.deep.include({ topic: 'nobody-here', count: 0 })
      expect(presence.members).to.deep.equal([])
    })

    it('removes the presence of an instance that closes', async () => {
      const [a, b] = await instances(2)
      a.broker.join('t', 'a1', { name: 'ann' })
      b.broker.join('t', 'b1', { name: 'bob' })
      await synced(a.broker, b.broker)
      expect((await b.broker.presence('t')).count).to.equal(2)
      await a.broker.close()
      const presence = await b.broker.presence('t')
      expect(presence.members.map((member) => member.id), 'only b1 is left').to.deep.equal(['b1'])
      expect(presence.count).to.equal(1)
    })

    it('counts published and received messages and subscribed topics', async () => {
      const [a, b] = await instances(2)
      b.broker.subscribe('s')
      await synced(b.broker)
      expect(b.broker.stats().topics).to.equal(1)
      for (let i = 0; i < 3; i++) a.broker.publish('s', encoder.encode(`m${i}`), false)
      a.broker.publish('nobody-listens', encoder.encode('x'), false)
      await b.sink.until(() => b.sink.on('s').length >= 3, 'three messages arrive', deadlineMs)
      // Counters as they stand once both instances have settled every call made so far (for a
      // broker driven from another process, its last reply carries them).
      await synced(a.broker, b.broker)
      expect(a.broker.stats().published, "a's published").to.equal(4)
      expect(b.broker.stats().received, "b's received").to.equal(3)
      expect(b.broker.stats().published, "b's published").to.equal(0)
      expect(a.broker.stats().notDelivered, 'nothing lost').to.equal(0)
      const stats = a.broker.stats()
      for (const key of ['published', 'received', 'notDelivered', 'reconnects', 'topics'] as const) {
        expect(stats[key], key).to.be.a('number')
      }
    })

    it('stops delivering to an instance that closed, and its close is idempotent', async () => {
      const [a, b, c] = await instances(3)
      b.broker.subscribe('c')
      await synced(b.broker)
      await b.broker.close()
      await b.broker.close()
      expect(b.broker.state).to.equal('closed')
      const before = b.sink.messages.length
      a.broker.publish('c', encoder.encode('after b closed'), false)
      // c subscribes after the publish: once a's fence reaches c, a copy for b would have reached b.
      c.broker.subscribe('c')
      await synced(c.broker)
      await fence(a.broker, c.sink, 'c', 'c')
      expect(b.sink.messages.length, 'b received nothing after close').to.equal(before)
    })

    it('does not throw when used after close', async () => {
      const [a] = await instances(1)
      await a.broker.close()
      expect(() => {
        a.broker.publish('t', encoder.encode('x'), false)
        a.broker.subscribe('t')
        a.broker.unsubscribe('t')
        a.broker.join('t', 'm', {})
        a.broker.leave('t', 'm')
      }).to.not.throw()
      expect(a.broker.state).to.equal('closed')
      expect(a.sink.states, "the sink heard 'closed'").to.include('closed')
    })
  })
}
