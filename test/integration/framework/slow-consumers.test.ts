import { expect } from 'chai'
import type { Socket } from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import {
  bootstrap,
  Conn,
  DefinitionError,
  Gateway,
  Module,
  OnClose,
  OnDrain,
  OnText,
  Param,
  type Connection,
} from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'
import { closePeers, connectPeer, type WsPeer } from './ws-peer'

/** Lets a test wait for a server-side event without sleeping. */
function signal<T>(): { promise: Promise<T>; fire: (value: T) => void } {
  let fire!: (value: T) => void
  const promise = new Promise<T>((resolve) => (fire = resolve))
  return { promise, fire }
}

/** The `ws` client's TCP socket: pausing it makes the client a consumer that does not read. */
function socketOf(peer: WsPeer): Socket {
  return (peer.ws as unknown as { _socket: Socket })._socket
}

const CHUNK = Buffer.alloc(64 * 1024, 7)
const LIMIT = 256 * 1024
/** Far more than loopback socket buffers hold: a flood that needs this much never overflowed. */
const GIVE_UP = 256 * 1024 * 1024

/**
 * A producer that ignores backpressure: one 64 KiB message per turn of the event loop (so each
 * reaches the socket before the next), until `stop` says so.
 */
async function flood(conn: Connection, stop: (dropped: number) => boolean): Promise<{ sent: number; dropped: number }> {
  let sent = 0
  let dropped = 0
  for (let total = 0; total < GIVE_UP; total += CHUNK.length) {
    // The transport applies the slow-consumer policy to a send made past maxBufferedAmount.
    const over = conn.bufferedAmount > LIMIT
    conn.sendBinary(CHUNK)
    if (conn.readyState !== 1) return { sent, dropped }
    if (over) dropped++
    else sent++
    if (stop(dropped)) return { sent, dropped }
    await nextTurn()
  }
  throw new Error('the flood never exceeded maxBufferedAmount')
}

/** Reads binary messages until the first text one; resolves with how many came before it and the text. */
async function countUntilText(peer: WsPeer): Promise<{ binary: number; text: string }> {
  let binary = 0
  for (;;) {
    const message = await peer.next()
    if (typeof message === 'string') return { binary, text: message }
    expect(message.length).to.equal(CHUNK.length)
    binary++
  }
}

describe('framework slow consumers', () => {
  let t: TestApp | undefined
  afterEach(async () => {
    closePeers()
    await t?.close()
    t = undefined
  })

  it("closes with 1008 a client that does not read, past the gateway's maxBufferedAmount (slowConsumer 'close' by default)", async () => {
    const overflowed = signal<{ readyState: number; bufferedAmount: number }>()
    const closed = signal<number>()
    @Gateway('/feed', { maxBufferedAmount: LIMIT })
    class Feed {
      @OnText() async go(_text: string, conn: Connection) {
        await flood(conn, () => false)
        overflowed.fire({ readyState: conn.readyState, bufferedAmount: conn.bufferedAmount })
      }
      @OnClose() bye(code: number) {
        closed.fire(code)
      }
    }
    @Module({ gateways: [Feed] })
    class M {}
    t = await createTestApp(M)
    const peer = await connectPeer(`${t.url}/feed`)
    socketOf(peer).pause()
    peer.send('go')
    const state = await overflowed.promise
    expect(state.readyState).to.equal(2) // CLOSING: the close frame is queued behind the unread data
    socketOf(peer).resume()
    expect(await peer.closed).to.deep.equal({ code: 1008, reason: 'slow consumer' })
    // The server failed the connection and reads nothing after: for it, no close frame came back.
    expect(await closed.promise).to.equal(1006)
  })

  it("drops messages past maxBufferedAmount under slowConsumer 'drop', keeps the connection, and runs @OnDrain once the client reads again", async () => {
    const flooded = signal<{ sent: number; dropped: number }>()
    const drained = signal<string>()
    @Gateway('/feed/:room', { maxBufferedAmount: LIMIT, slowConsumer: 'drop' })
    class Feed {
      @OnText() async go(text: string, conn: Connection) {
        if (text !== 'go') return `echo ${text}`
        flooded.fire(await flood(conn, (dropped) => dropped === 3))
      }
      @OnDrain() async caughtUp(@Param('room') room: string, @Conn() conn: Connection) {
        drained.fire(room)
        return `drained ${room} ${conn.bufferedAmount}`
      }
    }
    @Module({ gateways: [Feed] })
    class M {}
    t = await createTestApp(M)
    const peer = await connectPeer(`${t.url}/feed/r1`)
    socketOf(peer).pause()
    peer.send('go')
    const { sent, dropped } = await flooded.promise
    expect(dropped).to.equal(3)
    expect(sent * CHUNK.length).to.be.greaterThan(LIMIT)
    socketOf(peer).resume()
    // Everything accepted arrives, then what @OnDrain returned; the dropped messages never do.
    const received = await countUntilText(peer)
    expect(received.binary).to.equal(sent)
    expect(received.text).to.match(/^drained r1 \d+$/)
    expect(await drained.promise).to.equal('r1')
    peer.send('still open')
    expect(await peer.next()).to.equal('echo still open')
  })

  it('sends an async iterable item by item as the client reads, without reaching maxBufferedAmount', async () => {
    const ITEMS = 200 // 12.5 MiB: 50 times the limit
    let highest = 0
    @Gateway('/stream', { maxBufferedAmount: LIMIT })
    class Stream {
      @OnText() async *go(_text: string, conn: Connection) {
        for (let i = 0; i < ITEMS; i++) {
          highest = Math.max(highest, conn.bufferedAmount)
          yield CHUNK
        }
        yield 'end'
      }
    }
    @Module({ gateways: [Stream] })
    class M {}
    t = await createTestApp(M)
    const peer = await connectPeer(`${t.url}/stream`)
    peer.send('go')
    const received = await countUntilText(peer)
    expect(received).to.deep.equal({ binary: ITEMS, text: 'end' })
    expect(highest).to.be.at.most(LIMIT)
  })

  it('lets a handler await conn.drain() for capacity between sends', async () => {
    const MESSAGES = 200
    @Gateway('/manual', { maxBufferedAmount: LIMIT })
    class Manual {
      @OnText() async go(_text: string, conn: Connection) {
        for (let i = 0; i < MESSAGES; i++) {
          if (!conn.sendBinary(CHUNK)) await conn.drain()
        }
        return 'end'
      }
    }
    @Module({ gateways: [Manual] })
    class M {}
    t = await createTestApp(M)
    const peer = await connectPeer(`${t.url}/manual`)
    peer.send('go')
    expect(await countUntilText(peer)).to.deep.equal({ binary: MESSAGES, text: 'end' })
  })

  it("applies the app's maxBufferedAmount and slowConsumer to gateways that set none, and a gateway's own over them", async () => {
    const results = new Map<string, { readyState: number; dropped: number }>()
    const done = signal<void>()
    @Gateway('/app')
    class UsesApp {
      @OnText() async go(_text: string, conn: Connection) {
        const { dropped } = await flood(conn, (d) => d === 1)
        results.set('app', { readyState: conn.readyState, dropped })
        if (results.size === 2) done.fire()
      }
    }
    @Gateway('/own', { slowConsumer: 'close' })
    class Own {
      @OnText() async go(_text: string, conn: Connection) {
        const { dropped } = await flood(conn, () => false)
        results.set('own', { readyState: conn.readyState, dropped })
        if (results.size === 2) done.fire()
      }
    }
    @Module({ gateways: [UsesApp, Own] })
    class M {}
    t = await createTestApp(M, { maxBufferedAmount: LIMIT, slowConsumer: 'drop' })
    const a = await connectPeer(`${t.url}/app`)
    const b = await connectPeer(`${t.url}/own`)
    socketOf(a).pause()
    socketOf(b).pause()
    a.send('go')
    b.send('go')
    await done.promise
    expect(results.get('app')).to.deep.equal({ readyState: 1, dropped: 1 })
    expect(results.get('own')).to.deep.equal({ readyState: 2, dropped: 0 })
  })

  it('fails at bootstrap with a DefinitionError for a bad maxBufferedAmount or slowConsumer', () => {
    @Gateway('/bad', { maxBufferedAmount: -1 })
    class BadGateway {}
    @Module({ gateways: [BadGateway] })
    class BadModule {}
    expect(() => bootstrap(BadModule)).to.throw(DefinitionError, /BadGateway.*maxBufferedAmount must be a positive integer/)

    @Gateway('/ok')
    class Ok {}
    @Module({ gateways: [Ok] })
    class OkModule {}
    expect(() => bootstrap(OkModule, { slowConsumer: 'block' as never })).to.throw(DefinitionError, /slowConsumer must be 'close' or 'drop'/)
    expect(() => bootstrap(OkModule, { maxBufferedAmount: 0 })).to.throw(DefinitionError, /maxBufferedAmount/)
  })
})
