import { expect } from 'chai'
import type { Socket } from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import {
  bootstrap,
  Gateway,
  Module,
  OnBinary,
  OnMessage,
  OnText,
  UseGuards,
  WsException,
  type Connection,
  type GatewayMetricsSnapshot,
} from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'
import { closePeers, connectPeer, type WsPeer } from './ws-peer'

class Say {}

@Gateway('/echo', { protocols: ['echo.v1'], maxMessageSize: 1024 })
class Echo {
  @OnText() text(text: string): string {
    if (text === 'throw') throw new Error('handler bug')
    if (text === 'close') throw new WsException(4003, 'banned')
    return text
  }
  @OnBinary() binary(data: Buffer): Buffer {
    return data
  }
}

@Gateway('/events')
class Events {
  @OnMessage('say') say(data: Say): void {
    void data
  }
}

const CHUNK = Buffer.alloc(64 * 1024, 1)

@Gateway('/feed', { maxBufferedAmount: 256 * 1024 })
class Feed {
  // 16 sends within one read: far past maxBufferedAmount before any of it can be written.
  @OnText() flood(_text: string, conn: Connection): void {
    for (let i = 0; i < 16 && conn.readyState === 1; i++) conn.sendBinary(CHUNK)
  }
}

@Gateway('/drop', { maxBufferedAmount: 256 * 1024, slowConsumer: 'drop' })
class Drop {
  @OnText() flood(_text: string, conn: Connection): void {
    for (let i = 0; i < 16; i++) conn.sendBinary(CHUNK)
  }
}

@Gateway('/private')
@UseGuards((ctx) => ctx.reject(401, 'who are you'))
class Private {
  @OnText() text(): void {}
}

@Module({ gateways: [Echo, Events, Feed, Drop, Private] })
class AppModule {}

function socketOf(peer: WsPeer): Socket {
  return (peer.ws as unknown as { _socket: Socket })._socket
}

describe('framework metrics on real sockets', () => {
  let t: TestApp | undefined
  afterEach(async () => {
    closePeers()
    await t?.close()
    t = undefined
  })

  const of = (name: string): GatewayMetricsSnapshot => t!.app.metrics().gateways.find((g) => g.gateway === name)!

  /** Waits (boundedly) until `check` holds for the app's metrics; fails saying what was expected and what was seen. */
  async function eventually(what: string, check: () => boolean): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (check()) return
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    expect.fail(`metrics never showed ${what}: ${JSON.stringify(t!.app.metrics())}`)
  }

  beforeEach(async () => {
    t = await createTestApp(AppModule, { logger: false })
  })

  it('counts handshakes by the HTTP status they were answered with', async () => {
    await connectPeer(`${t!.url}/echo`)
    await connectPeer(`${t!.url}/echo`, { protocols: ['echo.v1'] })
    await t!.expectRejected('/nowhere', 404)
    await t!.expectRejected('/private', 401)
    await t!.expectRejected('/echo', 400, { protocols: ['mqtt'] })
    expect(t!.app.metrics().handshakes).to.deep.equal({ '101': 2, '400': 1, '401': 1, '404': 1 })
  })

  it('counts open connections per gateway and subprotocol, and forgets closed ones', async () => {
    const a = await connectPeer(`${t!.url}/echo`, { protocols: ['echo.v1'] })
    await connectPeer(`${t!.url}/echo`, { protocols: ['echo.v1'] })
    await connectPeer(`${t!.url}/echo`)
    await connectPeer(`${t!.url}/events`)
    expect(of('Echo').connectionsOpen).to.deep.equal({ '': 1, 'echo.v1': 2 })
    expect(of('Echo').connectionsOpened).to.equal(3)
    expect(of('Events').connectionsOpen).to.deep.equal({ '': 1 })
    a.ws.close(1000)
    await a.closed
    await eventually('one echo.v1 connection left', () => of('Echo').connectionsOpen['echo.v1'] === 1)
  })

  it('counts messages and payload bytes in and out by kind', async () => {
    const peer = await connectPeer(`${t!.url}/echo`)
    peer.send('héllo') // 6 bytes of UTF-8
    expect(await peer.next()).to.equal('héllo')
    peer.send(Buffer.from([1, 2, 3]))
    expect(await peer.next()).to.deep.equal(Buffer.from([1, 2, 3]))
    const echo = of('Echo')
    expect(echo.messagesReceived).to.deep.equal({ text: 1, binary: 1 })
    expect(echo.bytesReceived).to.deep.equal({ text: 6, binary: 3 })
    expect(echo.messagesSent).to.deep.equal({ text: 1, binary: 1 })
    expect(echo.bytesSent).to.deep.equal({ text: 6, binary: 3 })
    expect(of('Events').messagesReceived).to.deep.equal({ text: 0, binary: 0 })
  })

  it('counts the close codes sent and received', async () => {
    const client = await connectPeer(`${t!.url}/echo`)
    client.ws.close(4000, 'bye')
    expect((await client.closed).code).to.equal(4000)
    const banned = await connectPeer(`${t!.url}/echo`)
    banned.send('close')
    expect((await banned.closed).code).to.equal(4003)
    const echo = of('Echo')
    expect(echo.closeCodesReceived).to.include({ '4000': 1 })
    expect(echo.closeCodesSent).to.deep.equal({ '4000': 1, '4003': 1 })
  })

  it("counts peers' protocol errors by close code", async () => {
    const unmasked = await connectPeer(`${t!.url}/echo`)
    socketOf(unmasked).write(Buffer.from([0x81, 0x00])) // RFC 6455 §5.1: client frames are masked
    expect((await unmasked.closed).code).to.equal(1002)
    const badUtf8 = await connectPeer(`${t!.url}/echo`)
    // A masked text frame (zero mask) with 0xff, never valid UTF-8 (RFC 6455 §8.1).
    socketOf(badUtf8).write(Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0xff]))
    expect((await badUtf8.closed).code).to.equal(1007)
    const big = await connectPeer(`${t!.url}/echo`)
    big.send('x'.repeat(2000)) // over the gateway's maxMessageSize of 1024
    expect((await big.closed).code).to.equal(1009)
    const echo = of('Echo')
    expect(echo.protocolErrors).to.deep.equal({ '1002': 1, '1007': 1, '1009': 1 })
    expect(echo.closeCodesSent).to.deep.equal({ '1002': 1, '1007': 1, '1009': 1 })
  })

  it("counts a slow consumer's close (1008) and the messages dropped under slowConsumer 'drop'", async () => {
    const slow = await connectPeer(`${t!.url}/feed`)
    socketOf(slow).pause()
    slow.send('go')
    await eventually('a slow-consumer close', () => of('Feed').slowConsumer.closes === 1)
    expect(of('Feed').closeCodesSent).to.deep.equal({ '1008': 1 })
    const dropping = await connectPeer(`${t!.url}/drop`)
    dropping.send('go')
    await eventually('dropped messages', () => of('Drop').slowConsumer.drops > 0)
    const drop = of('Drop')
    // Every send is either sent or dropped; the connection stays open.
    expect(drop.slowConsumer.drops + drop.messagesSent.binary).to.equal(16)
    expect(drop.slowConsumer.closes).to.equal(0)
    expect(drop.connectionsOpen).to.deep.equal({ '': 1 })
  })

  it('counts handler errors and invalid messages', async () => {
    const echo = await connectPeer(`${t!.url}/echo`)
    echo.send('throw')
    echo.send('after')
    expect(await echo.next()).to.equal('after')
    const events = await connectPeer(`${t!.url}/events`)
    events.send('not json')
    await events.next()
    events.sendJson({ event: 'nope' })
    await events.next()
    expect(of('Echo').handlerErrors).to.equal(1)
    expect(of('Events').invalidMessages).to.equal(2)
    expect(of('Events').handlerErrors).to.equal(0)
  })

  it('counts heartbeat terminations of peers that stop answering pings', async () => {
    await t!.close()
    @Gateway('/beat', { heartbeatInterval: 50 })
    class Beat {
      @OnText() text(): void {}
    }
    @Module({ gateways: [Beat] })
    class BeatModule {}
    t = await createTestApp(BeatModule, { logger: false })
    const silent = await connectPeer(`${t.url}/beat`, { autoPong: false })
    expect((await silent.closed).code).to.equal(1006)
    await eventually('a heartbeat termination, and the connection gone', () => of('Beat').heartbeatTerminations === 1 && of('Beat').connectionsOpen[''] === 0)
  })

  it('counts the 1001s of a graceful shutdown', async () => {
    const peer = await connectPeer(`${t!.url}/echo`)
    const closing = t!.app.close()
    expect((await peer.closed).code).to.equal(1001)
    await closing
    expect(of('Echo').closeCodesSent).to.deep.equal({ '1001': 1 })
  })

  it('counts nothing, and says so, with metrics: false', () => {
    const app = bootstrap(AppModule, { metrics: false, logger: false })
    expect(app.server.metrics).to.equal(null)
    expect(() => app.metrics()).to.throw(/metrics are off/)
  })

  it('counts every message of a burst handled in one socket read', async () => {
    const peer = await connectPeer(`${t!.url}/echo`)
    for (let i = 0; i < 100; i++) peer.send('m')
    for (let i = 0; i < 100; i++) await peer.next()
    await nextTurn()
    expect(of('Echo').messagesReceived.text).to.equal(100)
    expect(of('Echo').bytesSent.text).to.equal(100)
  })
})
