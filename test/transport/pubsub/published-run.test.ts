import { expect } from 'chai'
import { type Connection, type ServerOptions } from '../../../src'
import { listen, RawPeer, releaseAll, type Listening } from '../../helpers/transport-harness'

// A topic's publishes in one event-loop iteration are written at its end as one run per
// subscriber (PublishedRun). These pin what each subscriber receives when something else
// happens to it between the publishes of one run: it must be what it was when every publish
// was queued on every subscriber at once.

const Op = { Text: 0x1, Binary: 0x2, Close: 0x8 } as const
const KiB = 1024

async function subscriber(listening: Listening, ...topics: string[]): Promise<{ peer: RawPeer; conn: Connection }> {
  const [peer, conn] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
  for (const topic of topics) expect(conn.subscribe(topic)).to.equal(true)
  return { peer, conn }
}

/** The next `count` data frames the peer receives, as text. */
async function texts(peer: RawPeer, count: number): Promise<string[]> {
  const out: string[] = []
  while (out.length < count) {
    const frame = await peer.frame()
    expect(frame.opcode, `frame ${out.length} is text`).to.equal(Op.Text)
    out.push(frame.payload.toString())
  }
  return out
}

/** After everything before it: a marker published to `topic` alone shows nothing else was queued in between. */
async function nothingElseBefore(listening: Listening, peer: RawPeer, topic: string): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
  listening.server.publish(topic, 'marker')
  expect(await texts(peer, 1), 'nothing more before the marker').to.deep.equal(['marker'])
}

describe('transport/pubsub: published runs', () => {
  afterEach(releaseAll)

  it('keeps direct sends in order with the publishes of one iteration around them', async () => {
    const listening = await listen()
    const [a, b] = await Promise.all([subscriber(listening, 'room'), subscriber(listening, 'room')])
    a.conn.sendText('direct before')
    listening.server.publish('room', 'one')
    a.conn.sendText('direct between')
    listening.server.publish('room', 'two')
    listening.server.publish('room', 'three')
    a.conn.sendText('direct after')
    expect(await texts(a.peer, 6)).to.deep.equal(['direct before', 'one', 'direct between', 'two', 'three', 'direct after'])
    expect(await texts(b.peer, 3)).to.deep.equal(['one', 'two', 'three'])
  })

  it('leaves the except connection out of its own publish only, in the middle of a run', async () => {
    const listening = await listen()
    const [a, b] = await Promise.all([subscriber(listening, 'room'), subscriber(listening, 'room')])
    expect(listening.server.publish('room', 'one')).to.equal(2)
    expect(listening.server.publish('room', 'not to a', { except: a.conn })).to.equal(1)
    expect(listening.server.publish('room', 'three')).to.equal(2)
    expect(listening.server.publish('room', 'not to b', { except: b.conn })).to.equal(1)
    expect(await texts(a.peer, 3)).to.deep.equal(['one', 'three', 'not to b'])
    expect(await texts(b.peer, 3)).to.deep.equal(['one', 'not to a', 'three'])
    await nothingElseBefore(listening, a.peer, 'room')
  })

  it('keeps publish order across topics for a subscriber of several', async () => {
    const listening = await listen()
    const [both, first, second] = await Promise.all([subscriber(listening, 't1', 't2'), subscriber(listening, 't1'), subscriber(listening, 't2')])
    listening.server.publish('t1', 'a')
    listening.server.publish('t2', 'b')
    listening.server.publish('t1', 'c')
    listening.server.publish('t2', 'd')
    expect(await texts(both.peer, 4)).to.deep.equal(['a', 'b', 'c', 'd'])
    expect(await texts(first.peer, 2)).to.deep.equal(['a', 'c'])
    expect(await texts(second.peer, 2)).to.deep.equal(['b', 'd'])
  })

  it('delivers what was published before an unsubscribe in the same iteration, and nothing after', async () => {
    const listening = await listen()
    const [leaving, staying] = await Promise.all([subscriber(listening, 'room', 'other'), subscriber(listening, 'room')])
    expect(listening.server.publish('room', 'before')).to.equal(2)
    expect(leaving.conn.unsubscribe('room')).to.equal(true)
    expect(listening.server.publish('room', 'after')).to.equal(1)
    expect(await texts(leaving.peer, 1)).to.deep.equal(['before'])
    expect(await texts(staying.peer, 2)).to.deep.equal(['before', 'after'])
    await nothingElseBefore(listening, leaving.peer, 'other')
  })

  it('delivers to a connection that subscribes in the middle of an iteration only what follows', async () => {
    const listening = await listen()
    const [early, late] = await Promise.all([subscriber(listening, 'room'), subscriber(listening, 'other')])
    expect(listening.server.publish('room', 'before')).to.equal(1)
    expect(late.conn.subscribe('room')).to.equal(true)
    expect(listening.server.publish('room', 'after')).to.equal(2)
    expect(await texts(early.peer, 2)).to.deep.equal(['before', 'after'])
    expect(await texts(late.peer, 1)).to.deep.equal(['after'])
    await nothingElseBefore(listening, late.peer, 'other')
  })

  it('writes what was published before close() ahead of the close frame', async () => {
    const listening = await listen()
    const { peer, conn } = await subscriber(listening, 'room')
    listening.server.publish('room', 'last words')
    conn.close(1000, 'bye')
    expect(listening.server.publish('room', 'too late'), 'a closing connection takes no more').to.equal(0)
    expect(await texts(peer, 1)).to.deep.equal(['last words'])
    expect((await peer.frame()).opcode, 'then the close frame').to.equal(Op.Close)
  })

  it('counts a run not yet written in bufferedAmount, per subscriber', async () => {
    const listening = await listen()
    const [a, b] = await Promise.all([subscriber(listening, 'room'), subscriber(listening, 'room')])
    const message = 'x'.repeat(100) // a 2-byte header: 102 bytes a frame
    listening.server.publish('room', message)
    listening.server.publish('room', message, { except: b.conn })
    listening.server.publish('room', message)
    expect(a.conn.bufferedAmount).to.equal(3 * 102)
    expect(b.conn.bufferedAmount).to.equal(2 * 102)
    expect(await texts(a.peer, 3)).to.deep.equal([message, message, message])
    expect(a.conn.bufferedAmount, 'written').to.equal(0)
  })

  for (const slowConsumer of ['drop', 'close'] as const) {
    it(`applies maxBufferedAmount to each message of a run ('${slowConsumer}'): those past it alone are dropped`, async () => {
      const options: ServerOptions = { maxBufferedAmount: 64 * KiB, slowConsumer }
      const listening = await listen(options)
      const { peer, conn } = await subscriber(listening, 'feed')
      const counts: number[] = []
      // 16 KiB messages (4-byte headers): the fifth finds 4 × 16,388 bytes unsent, past 64 KiB.
      for (let i = 0; i < 8; i++) {
        const message = Buffer.alloc(16 * KiB, i)
        counts.push(listening.server.publish('feed', message))
      }
      expect(counts).to.deep.equal([1, 1, 1, 1, 0, 0, 0, 0])
      if (slowConsumer === 'drop') {
        expect(conn.readyState, 'still open').to.equal(1)
        expect(conn.bufferedAmount, 'only the four accepted are queued').to.equal(4 * (16 * KiB + 4))
      }
      for (let i = 0; i < 4; i++) {
        const frame = await peer.frame()
        expect(frame.opcode).to.equal(Op.Binary)
        expect(frame.payload[0], `message ${i}`).to.equal(i)
      }
      if (slowConsumer === 'close') {
        expect((await peer.closeFrame()).code).to.equal(1008)
      } else {
        listening.server.publish('feed', Buffer.from('later'))
        expect((await peer.frame()).payload.toString(), 'delivered again once there is room').to.equal('later')
      }
    })
  }

  it('gives a subscriber near its maxBufferedAmount each message under its own policy while the others share the run', async () => {
    const listening = await listen({ maxBufferedAmount: 64 * KiB, slowConsumer: 'drop' })
    const [full, fresh] = await Promise.all([subscriber(listening, 'feed'), subscriber(listening, 'feed')])
    full.peer.socket.pause()
    // Fill the one subscriber's queue past half of maxBufferedAmount with direct sends (the kernel takes some).
    let guard = 0
    while (full.conn.bufferedAmount <= 40 * KiB) {
      if (++guard > 10_000) expect.fail('the queue never filled')
      full.conn.sendBinary(Buffer.alloc(8 * KiB))
      await new Promise((resolve) => setImmediate(resolve))
    }
    const before = full.conn.bufferedAmount
    const room = 64 * KiB - before
    const counts: number[] = []
    for (let i = 0; i < 6; i++) counts.push(listening.server.publish('feed', Buffer.alloc(8 * KiB, i)))
    // The full one accepts a message while what it has unsent is within 64 KiB.
    const accepted = Math.floor(room / (8 * KiB + 4)) + 1
    expect(counts).to.deep.equal(Array.from({ length: 6 }, (_, i) => (i < accepted ? 2 : 1)))
    expect(full.conn.bufferedAmount).to.equal(before + accepted * (8 * KiB + 4))
    for (let i = 0; i < 6; i++) expect((await fresh.peer.opcodeFrame(Op.Binary)).payload[0], `fresh message ${i}`).to.equal(i)
  })
})
