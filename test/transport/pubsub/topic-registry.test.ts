import { expect } from 'chai'
import type { Socket } from 'node:net'
import { createServer, InProcessHub, type Broker, type BrokerSink, type Connection, type Server, type ServerOptions } from '../../../src'
import * as frameBuilder from '../../../src/protocol/frame-builder'
import { closeRecorder, listen, next, open, RawPeer, releaseAll, track, type Listening } from '../../helpers/transport-harness'

const Op = { Text: 0x1, Binary: 0x2, Close: 0x8 } as const
const KiB = 1024

/** A raw peer (reads only when told; its socket can be paused) and its server-side connection. */
async function rawSubscriber(listening: Listening, topic?: string): Promise<{ peer: RawPeer; conn: Connection }> {
  const [peer, conn] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
  if (topic !== undefined) expect(conn.subscribe(topic)).to.equal(true)
  return { peer, conn }
}

/** A gatewire client that records every message (binary as one Buffer), and its server-side connection. */
async function recordingSubscriber(
  listening: Listening,
  topic: string,
): Promise<{ client: Connection; conn: Connection; messages: Array<string | Buffer> }> {
  const messages: Array<string | Buffer> = []
  const [client, conn] = await Promise.all([
    open(listening.url, { binaryMode: 'buffer' }, (c) => c.on('message', (data: string | Buffer) => messages.push(data))),
    listening.nextConnection(),
  ])
  expect(conn.subscribe(topic)).to.equal(true)
  return { client, conn, messages }
}

/** Resolves once `condition` holds; fails naming `what` after `ms` (polls on a short timer, bounded). */
async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) expect.fail(`timed out after ${ms} ms waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('transport/pubsub: topics', () => {
  afterEach(releaseAll)

  describe('subscriptions', () => {
    it('subscribes once per topic, lists the topics, and unsubscribes', async () => {
      const listening = await listen()
      const { conn } = await rawSubscriber(listening)
      expect(conn.topics).to.deep.equal([])
      expect(conn.subscribe('a')).to.equal(true)
      expect(conn.subscribe('a'), 'already subscribed').to.equal(false)
      expect(conn.subscribe('b')).to.equal(true)
      expect(conn.subscribe('c')).to.equal(true)
      expect(conn.topics).to.deep.equal(['a', 'b', 'c'])
      expect(listening.server.subscriberCount('a')).to.equal(1)
      expect(listening.server.topics.sort()).to.deep.equal(['a', 'b', 'c'])
      expect(conn.unsubscribe('b')).to.equal(true)
      expect(conn.unsubscribe('b'), 'no longer subscribed').to.equal(false)
      expect(conn.unsubscribe('never')).to.equal(false)
      expect(conn.topics).to.deep.equal(['a', 'c'])
      expect(conn.unsubscribe('a')).to.equal(true)
      expect(conn.topics).to.deep.equal(['c'])
      expect(listening.server.subscriberCount('b')).to.equal(0)
      expect(listening.server.topics, 'empty topics are deleted').to.deep.equal(['c'])
    })

    it('hands out a snapshot of the topics that changing does not affect', async () => {
      const listening = await listen()
      const { conn } = await rawSubscriber(listening, 'a')
      const topics = conn.topics as string[]
      topics.push('b')
      expect(conn.topics).to.deep.equal(['a'])
    })

    it('counts local subscribers per topic', async () => {
      const listening = await listen()
      const subscribers = await Promise.all([1, 2, 3].map(() => rawSubscriber(listening)))
      for (const { conn } of subscribers) conn.subscribe('room')
      subscribers[0].conn.subscribe('other')
      expect(listening.server.subscriberCount('room')).to.equal(3)
      expect(listening.server.subscriberCount('other')).to.equal(1)
      expect(listening.server.subscriberCount('none')).to.equal(0)
      subscribers[1].conn.unsubscribe('room')
      expect(listening.server.subscriberCount('room')).to.equal(2)
    })

    it('ends subscriptions and presence when the connection closes, before its close listeners run', async () => {
      const listening = await listen()
      const [client, conn] = await Promise.all([open(listening.url), listening.nextConnection()])
      conn.subscribe('a', { presence: { name: 'ann' } })
      conn.subscribe('b')
      expect((await listening.server.presence('a')).count).to.equal(1)
      const seen = new Promise<{ topics: readonly string[]; count: number; again: boolean }>((resolve) => {
        conn.on('close', () => resolve({ topics: conn.topics, count: listening.server.subscriberCount('a'), again: conn.subscribe('a') }))
      })
      client.close()
      const atClose = await seen
      expect(atClose.topics, 'no topics in the close listener').to.deep.equal([])
      expect(atClose.count).to.equal(0)
      expect(atClose.again, 'a closed connection cannot subscribe').to.equal(false)
      expect(listening.server.topics).to.deep.equal([])
      expect(listening.server.broker.stats().topics, 'the broker was told').to.equal(0)
      expect((await listening.server.presence('a')).count, 'presence left').to.equal(0)
    })

    it('refuses bad topics and presence data with clear errors', async () => {
      const listening = await listen()
      const { conn } = await rawSubscriber(listening)
      expect(() => conn.subscribe('')).to.throw(RangeError, /1 to 1024/)
      expect(() => conn.subscribe('x'.repeat(1025))).to.throw(RangeError, /1 to 1024/)
      expect(() => conn.subscribe(42 as unknown as string)).to.throw(TypeError, /string/)
      const circular: Record<string, unknown> = {}
      circular.self = circular
      expect(() => conn.subscribe('t', { presence: circular })).to.throw(TypeError, /JSON/)
      expect(() => conn.subscribe('t', { presence: () => 1 })).to.throw(TypeError, /JSON/)
      expect(() => conn.subscribe('t', { presence: { name: 'x'.repeat(2000) } })).to.throw(RangeError, /1024 bytes/)
      expect(conn.topics, 'nothing was subscribed by a refused call').to.deep.equal([])
      expect(() => listening.server.publish('', 'x')).to.throw(RangeError)
      let refused: unknown
      await listening.server.presence('').catch((error: unknown) => (refused = error))
      expect(refused, 'presence() rejects a bad topic').to.be.instanceOf(RangeError)
      expect(() => listening.server.publish('t', 42 as unknown as string)).to.throw(TypeError, /string \(text\) or a Buffer/)
    })

    it('is for server-side connections only: a client cannot subscribe', async () => {
      const listening = await listen()
      const client = await open(listening.url)
      expect(() => client.subscribe('t')).to.throw(TypeError, /server-side/)
      expect(() => client.unsubscribe('t')).to.throw(TypeError, /server-side/)
      expect(client.topics, 'a client has no topics').to.deep.equal([])
    })

    it('gives connections distinct short ids, stable per connection', async () => {
      const listening = await listen()
      const [a, b] = await Promise.all([rawSubscriber(listening), rawSubscriber(listening)])
      expect(a.conn.id).to.be.a('string').and.equal(a.conn.id)
      expect(a.conn.id).to.not.equal(b.conn.id)
      expect(a.conn.id.length).to.be.at.most(8)
    })

    it('keeps no subscription state on the connection object itself', async () => {
      // An unsubscribed connection must cost nothing for topics: the registry holds it all.
      const listening = await listen()
      const [a, b] = await Promise.all([rawSubscriber(listening), rawSubscriber(listening)])
      a.conn.subscribe('t', { presence: { name: 'x' } })
      void a.conn.id
      expect(Object.keys(a.conn)).to.deep.equal(Object.keys(b.conn))
    })
  })

  describe('publish', () => {
    it('writes text and binary to every subscriber, unmasked, and returns how many it reached', async () => {
      const listening = await listen()
      const subscribers = await Promise.all([1, 2, 3, 4, 5].map(() => rawSubscriber(listening, 'room')))
      const outsider = await rawSubscriber(listening, 'elsewhere')
      const binary = Buffer.from([0, 1, 2, 0xff, 0xfe])
      expect(listening.server.publish('room', 'héllo 🌍')).to.equal(5)
      expect(listening.server.publish('room', binary)).to.equal(5)
      expect(listening.server.publish('room', new Uint8Array([7, 8]))).to.equal(5)
      expect(listening.server.publish('room', '')).to.equal(5)
      expect(listening.server.publish('nobody', 'x')).to.equal(0)
      for (const { peer } of subscribers) {
        const text = await peer.opcodeFrame(Op.Text)
        expect(text.payload.toString('utf8')).to.equal('héllo 🌍')
        expect(text.masked, 'server frames are unmasked').to.equal(false)
        expect(text.fin).to.equal(true)
        expect((await peer.opcodeFrame(Op.Binary)).payload).to.deep.equal(binary)
        expect((await peer.opcodeFrame(Op.Binary)).payload).to.deep.equal(Buffer.from([7, 8]))
        expect((await peer.opcodeFrame(Op.Text)).payload.length).to.equal(0)
      }
      listening.server.publish('elsewhere', 'fence')
      expect((await outsider.peer.opcodeFrame(Op.Text)).payload.toString(), 'the outsider got only its own topic').to.equal('fence')
    })

    it('carries large messages (16-bit and 64-bit lengths) intact', async () => {
      const listening = await listen()
      const { peer } = await rawSubscriber(listening, 't')
      const medium = Buffer.alloc(40 * KiB, 7)
      const large = Buffer.alloc(200 * KiB)
      for (let i = 0; i < large.length; i++) large[i] = i & 0xff
      listening.server.publish('t', medium)
      listening.server.publish('t', 'ü'.repeat(70_000))
      listening.server.publish('t', large)
      expect((await peer.opcodeFrame(Op.Binary)).payload).to.deep.equal(medium)
      expect((await peer.opcodeFrame(Op.Text)).payload.toString()).to.equal('ü'.repeat(70_000))
      expect((await peer.opcodeFrame(Op.Binary)).payload).to.deep.equal(large)
    })

    it('leaves out the connection given as except', async () => {
      const listening = await listen()
      const [sender, other] = await Promise.all([rawSubscriber(listening, 'room'), rawSubscriber(listening, 'room')])
      expect(listening.server.publish('room', 'not to the sender', { except: sender.conn })).to.equal(1)
      listening.server.publish('room', 'to all')
      expect((await other.peer.opcodeFrame(Op.Text)).payload.toString()).to.equal('not to the sender')
      expect((await sender.peer.opcodeFrame(Op.Text)).payload.toString(), "the sender's first message").to.equal('to all')
    })

    it('delivers one publisher’s messages in publish order, interleaved with direct sends', async () => {
      const listening = await listen()
      const subscribers = await Promise.all([1, 2, 3].map(() => recordingSubscriber(listening, 'ordered')))
      const total = 1000
      for (let i = 0; i < total; i++) {
        listening.server.publish('ordered', String(i))
        if (i % 100 === 99) {
          for (const { conn } of subscribers) conn.sendText(`direct after ${i}`)
          await tick()
        }
      }
      const expected: string[] = []
      for (let i = 0; i < total; i++) {
        expected.push(String(i))
        if (i % 100 === 99) expected.push(`direct after ${i}`)
      }
      for (const [n, { messages }] of subscribers.entries()) {
        await until(() => messages.length >= expected.length, `subscriber ${n} has ${expected.length} messages`)
        expect(messages, `subscriber ${n}`).to.deep.equal(expected)
      }
    })

    it('keeps publish order behind an open beginBinary() stream', async () => {
      const listening = await listen()
      const { peer, conn } = await rawSubscriber(listening, 't')
      const stream = conn.beginBinary()
      stream.write(Buffer.from('part one '))
      expect(listening.server.publish('t', 'after the stream'), 'queued behind the stream, counted').to.equal(1)
      listening.server.publish('t', 'and then this')
      stream.end(Buffer.from('part two'))
      const fragments: Buffer[] = []
      for (;;) {
        const frame = await peer.frame()
        if (frame.opcode === Op.Text) {
          expect(frame.payload.toString()).to.equal('after the stream')
          break
        }
        expect(frame.opcode, 'the binary message (or its continuation) comes first').to.be.oneOf([Op.Binary, 0x0])
        fragments.push(frame.payload)
      }
      expect(Buffer.concat(fragments).toString()).to.equal('part one part two')
      expect((await peer.opcodeFrame(Op.Text)).payload.toString()).to.equal('and then this')
    })

    it('builds the frame once and hands the same bytes (the same memory, not copies) to every subscriber’s socket', async () => {
      const listening = await listen()
      const subscribers = await Promise.all(Array.from({ length: 20 }, () => rawSubscriber(listening, 'room')))
      const written: unknown[][] = subscribers.map(() => [])
      const restore: Array<() => void> = []
      subscribers.forEach(({ conn }, i) => {
        // The socket's native handle: what both socket.write and the direct path (Sender, see
        // direct-write.ts) hand their bytes to.
        type Handle = { writeBuffer: (request: unknown, data: unknown) => number }
        const handle = (conn.socket as Socket & { _handle: Handle })._handle
        const writeBuffer = handle.writeBuffer
        handle.writeBuffer = function (this: Handle, request: unknown, data: unknown) {
          written[i].push(data)
          return writeBuffer.call(this, request, data)
        }
        restore.push(() => (handle.writeBuffer = writeBuffer))
      })
      const builder = frameBuilder as { writeFrameHeader: typeof frameBuilder.writeFrameHeader }
      const writeFrameHeader = builder.writeFrameHeader
      let headers = 0
      builder.writeFrameHeader = (...args) => {
        headers++
        return writeFrameHeader(...args)
      }
      try {
        // One publish per tick: each subscriber's write is then that frame alone (several small
        // ones would be gathered into one buffer per write, see Sender.flush).
        listening.server.publish('room', 'the same bytes for everyone')
        await tick()
        listening.server.publish('room', Buffer.alloc(10 * KiB, 1))
        await tick()
        expect(headers, 'one header per publish, not per subscriber').to.equal(2)
      } finally {
        builder.writeFrameHeader = writeFrameHeader
        for (const undo of restore) undo()
      }
      const first = written[0].filter(Buffer.isBuffer)
      expect(first.length, 'one write per publish').to.equal(2)
      for (const [i, writes] of written.entries()) {
        const buffers = writes.filter(Buffer.isBuffer)
        expect(buffers.length, `subscriber ${i}'s writes`).to.equal(first.length)
        buffers.forEach((buffer, j) => {
          const same = buffer.buffer === first[j].buffer && buffer.byteOffset === first[j].byteOffset && buffer.length === first[j].length
          expect(same, `subscriber ${i}'s write ${j} is the very memory of subscriber 0's`).to.equal(true)
        })
        // A frame too large for the shared-frame arena is its own Buffer: the very object, too.
        expect(buffers[1] === first[1], `subscriber ${i} got the 10 KiB frame's Buffer itself`).to.equal(true)
      }
      for (const { peer } of subscribers) expect((await peer.opcodeFrame(Op.Text)).payload.toString()).to.equal('the same bytes for everyone')
    })
  })

  describe('backpressure', () => {
    /** Publishes 64 KiB messages numbered 0, 1, 2 ... until `stop()` (yielding so sockets move), at most `limit`. */
    async function publishUntil(server: Server, topic: string, stop: () => boolean, limit: number): Promise<number> {
      let sent = 0
      while (!stop()) {
        if (sent >= limit) expect.fail(`still not there after ${limit} messages`)
        const message = Buffer.alloc(64 * KiB)
        message.writeUInt32BE(sent, 0)
        server.publish(topic, message)
        sent++
        await tick()
      }
      return sent
    }

    const numbers = (messages: Array<string | Buffer>): number[] => messages.map((m) => (m as Buffer).readUInt32BE(0))

    it("closes a slow subscriber with 1008 ('close') while the others receive every message", async () => {
      const options: ServerOptions = { maxBufferedAmount: 512 * KiB, closeTimeout: 2000 }
      const listening = await listen(options)
      const fast = await Promise.all([1, 2, 3].map(() => recordingSubscriber(listening, 'feed')))
      const slow = await rawSubscriber(listening, 'feed')
      slow.peer.socket.pause() // never reads: its kernel buffers fill, then its queue
      let most = 0
      const sent = await publishUntil(
        listening.server,
        'feed',
        () => {
          most = Math.max(most, slow.conn.bufferedAmount)
          return slow.conn.readyState !== 1
        },
        2000,
      )
      expect(most, 'the slow queue stayed bounded').to.be.at.most(512 * KiB + 64 * KiB + 16)
      expect(listening.server.publish('feed', Buffer.alloc(4)), 'only the fast subscribers now').to.equal(3)
      for (const [n, { messages }] of fast.entries()) {
        await until(() => messages.length >= sent + 1, `fast subscriber ${n} has all ${sent + 1} messages`)
        expect(numbers(messages.slice(0, sent)), `fast subscriber ${n} in order`).to.deep.equal(Array.from({ length: sent }, (_, i) => i))
      }
      slow.peer.socket.resume()
      expect((await slow.peer.closeFrame()).code).to.equal(1008)
    })

    it("drops messages for a slow subscriber ('drop'), keeps it open, and delivers again once it drains", async () => {
      const listening = await listen({ maxBufferedAmount: 512 * KiB, slowConsumer: 'drop' })
      const fast = await recordingSubscriber(listening, 'feed')
      const slow = await rawSubscriber(listening, 'feed')
      slow.peer.socket.pause()
      await publishUntil(listening.server, 'feed', () => slow.conn.bufferedAmount > 512 * KiB, 2000)
      const before = slow.conn.bufferedAmount
      expect(listening.server.publish('feed', Buffer.alloc(64 * KiB)), 'dropped for the slow one').to.equal(1)
      expect(listening.server.publish('feed', Buffer.alloc(64 * KiB))).to.equal(1)
      expect(slow.conn.bufferedAmount, 'nothing queued for the slow one').to.equal(before)
      expect(slow.conn.readyState, 'still open').to.equal(1)
      slow.peer.socket.resume()
      await slow.conn.drain()
      await until(() => slow.conn.bufferedAmount === 0, 'the slow subscriber has drained')
      expect(listening.server.publish('feed', 'back'), 'both again').to.equal(2)
      const frame = await slow.peer.opcodeFrame(Op.Text)
      expect(frame.payload.toString()).to.equal('back')
      await until(() => fast.messages.includes('back'), 'the fast subscriber has everything')
    })
  })

  describe('brokers', () => {
    it('resolves ready() once the default broker has started, and closes it with the server', async () => {
      const listening = await listen({ closeTimeout: 100 })
      await listening.server.ready()
      expect(listening.server.broker.state).to.equal('ready')
      const { conn } = await rawSubscriber(listening, 't')
      expect(conn.topics).to.deep.equal(['t'])
      await new Promise<void>((resolve) => listening.server.close(() => resolve()))
      expect(listening.server.broker.state).to.equal('closed')
    })

    it("reports the broker's state changes as 'broker' events", async () => {
      const server = createServer({ heartbeatInterval: 0 })
      track(() => new Promise<void>((resolve) => server.close(() => resolve())))
      const states: string[] = []
      server.on('broker', (state: string) => states.push(state))
      server.listen(0, '127.0.0.1')
      await server.ready()
      expect(states).to.deep.equal(['ready'])
      await new Promise<void>((resolve) => server.close(() => resolve()))
      expect(states).to.deep.equal(['ready', 'closed'])
    })

    it('starts the broker on first use when upgrades come through handleUpgrade() alone', async () => {
      const hub = new InProcessHub()
      const server = createServer({ broker: hub.broker(), heartbeatInterval: 0 })
      track(() => new Promise<void>((resolve) => server.close(() => resolve())))
      expect(server.broker.state, 'nothing started it yet').to.equal('idle')
      server.publish('t', 'nobody listens')
      expect(server.broker.state).to.equal('ready')
    })

    it('rejects ready() when the broker cannot start, and reports it only there', async () => {
      const failing = new InProcessHub().broker()
      failing.start = () => Promise.reject(new Error('redis://nowhere:6379 unreachable'))
      const errors: Error[] = []
      const server = createServer({ broker: failing, heartbeatInterval: 0 })
      track(() => new Promise<void>((resolve) => server.close(() => resolve())))
      server.on('error', (error) => errors.push(error))
      server.listen(0, '127.0.0.1')
      let failure: unknown
      await server.ready().catch((error: unknown) => (failure = error))
      expect((failure as Error).message).to.contain('redis://nowhere:6379')
      expect(errors, "no second report through 'error' for who awaits ready()").to.deep.equal([])
    })

    it("emits 'error' when the broker cannot start and nobody awaits ready()", async () => {
      const failing = new InProcessHub().broker()
      failing.start = () => Promise.reject(new Error('redis://nowhere:6379 unreachable'))
      const server = createServer({ broker: failing, heartbeatInterval: 0 })
      track(() => new Promise<void>((resolve) => server.close(() => resolve())))
      const error = new Promise<Error>((resolve) => server.once('error', resolve))
      server.listen(0, '127.0.0.1')
      expect((await error).message).to.equal('redis://nowhere:6379 unreachable')
    })

    it('delivers across servers sharing an InProcessHub exactly once, with except and presence', async () => {
      const hub = new InProcessHub()
      const one = await listen({ broker: hub.broker() })
      const two = await listen({ broker: hub.broker() })
      const [a1, a2] = await Promise.all([recordingSubscriber(one, 'room'), recordingSubscriber(one, 'room')])
      const b1 = await recordingSubscriber(two, 'room')
      const bystander = await recordingSubscriber(two, 'elsewhere')
      a1.conn.unsubscribe('room')
      a1.conn.subscribe('room', { presence: { name: 'ann' } })
      b1.conn.unsubscribe('room')
      b1.conn.subscribe('room', { presence: { name: 'bob' } })

      expect(one.server.publish('room', 'from one', { except: a1.conn }), 'local subscribers reached').to.equal(1)
      expect(two.server.publish('room', Buffer.from([1, 2, 3]))).to.equal(1)
      two.server.publish('elsewhere', 'fence')
      await until(() => a2.messages.length >= 2 && b1.messages.length >= 2 && a1.messages.length >= 1, 'all deliveries')
      await until(() => bystander.messages.length >= 1, 'the fence')
      expect(a1.messages, 'except holds, remote message arrives').to.deep.equal([Buffer.from([1, 2, 3])])
      expect(a2.messages).to.deep.equal(['from one', Buffer.from([1, 2, 3])])
      expect(b1.messages, "one's message once; its own server's publish once, not echoed back by the hub").to.deep.equal([
        'from one',
        Buffer.from([1, 2, 3]),
      ])
      expect(bystander.messages).to.deep.equal(['fence'])

      const presence = await two.server.presence('room')
      expect(presence.count).to.equal(2)
      expect(presence.members.map((m) => (m.data as { name: string }).name).sort()).to.deep.equal(['ann', 'bob'])
      const ann = presence.members.find((m) => (m.data as { name: string }).name === 'ann')!
      expect(ann.id).to.equal(a1.conn.id)
      expect(ann.instance).to.equal(one.server.broker.instanceId)

      const closed = next(a1.conn, 'close')
      a1.client.close()
      await closed
      expect((await two.server.presence('room')).members.map((m) => m.id), 'ann left with her connection').to.deep.equal([b1.conn.id])
    })

    it("drops invalid UTF-8 text from a broker with an 'error', once, and keeps delivering", async () => {
      const hub = new InProcessHub()
      const listening = await listen({ broker: hub.broker() })
      const errors: Error[] = []
      listening.server.on('error', (error) => errors.push(error))
      const subscriber = await recordingSubscriber(listening, 't')
      const outside = hub.broker()
      await outside.start({ message() {} })
      outside.publish('t', Buffer.from([0x68, 0xff, 0x69]), false)
      outside.publish('t', Buffer.from('valid'), false)
      await until(() => subscriber.messages.length >= 1, 'the valid message')
      expect(subscriber.messages).to.deep.equal(['valid'])
      expect(errors).to.have.length(1)
      expect(errors[0].message).to.match(/invalid UTF-8/)
      await outside.close()
    })

    it("keeps delivering locally when a broker's publish throws, and reports it as 'error'", async () => {
      const inner = new InProcessHub().broker()
      const broker: Broker = Object.assign(Object.create(inner) as Broker, {
        start: (sink: BrokerSink) => inner.start(sink),
        publish: () => {
          throw new Error('broker exploded')
        },
      })
      const listening = await listen({ broker })
      const errors: Error[] = []
      listening.server.on('error', (error) => errors.push(error))
      const subscriber = await recordingSubscriber(listening, 't')
      expect(listening.server.publish('t', 'still local')).to.equal(1)
      await until(() => subscriber.messages.length === 1, 'the local delivery')
      expect(subscriber.messages).to.deep.equal(['still local'])
      expect(errors.map((error) => error.message)).to.deep.equal(['broker exploded'])
    })

    it('tells the broker about a topic on its first local subscriber and its last', async () => {
      const calls: string[] = []
      const inner = new InProcessHub().broker()
      const broker: Broker = Object.assign(Object.create(inner) as Broker, {
        subscribe: (topic: string) => (calls.push(`subscribe ${topic}`), inner.subscribe(topic)),
        unsubscribe: (topic: string) => (calls.push(`unsubscribe ${topic}`), inner.unsubscribe(topic)),
        start: (sink: BrokerSink) => inner.start(sink),
      })
      const listening = await listen({ broker })
      const [a, b] = await Promise.all([rawSubscriber(listening), rawSubscriber(listening)])
      a.conn.subscribe('t')
      b.conn.subscribe('t')
      a.conn.unsubscribe('t')
      expect(calls).to.deep.equal(['subscribe t'])
      const closes = closeRecorder(b.conn)
      b.peer.socket.destroy()
      await closes.closed
      expect(calls).to.deep.equal(['subscribe t', 'unsubscribe t'])
    })
  })
})
