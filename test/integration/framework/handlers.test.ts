import { expect } from 'chai'
import type { Readable } from 'node:stream'
import {
  Code,
  Conn,
  Gateway,
  Module,
  OnBinary,
  OnClose,
  OnConnect,
  OnError,
  OnMessage,
  OnPing,
  OnText,
  Reason,
  WsException,
  type Connection,
} from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'
import { closePeers, connectPeer } from './ws-peer'

/** Lets a test wait for a server-side event without sleeping. */
function signal<T>(): { promise: Promise<T>; fire: (value: T) => void } {
  let fire!: (value: T) => void
  const promise = new Promise<T>((resolve) => (fire = resolve))
  return { promise, fire }
}

describe('framework handlers', () => {
  let t: TestApp
  afterEach(async () => {
    await t?.close()
    closePeers()
  })

  it('runs @OnConnect, @OnText, @OnBinary and @OnClose with their default parameters', async () => {
    const closed = signal<[number, string, boolean]>()
    @Gateway('/all')
    class All {
      @OnConnect() hello(conn: Connection) {
        return `hello ${conn.path}`
      }
      @OnText() onText(text: string, conn: Connection) {
        return `${text.toUpperCase()} ${conn.readyState}`
      }
      @OnBinary() onBinary(data: Buffer) {
        return Buffer.concat([data, data])
      }
      @OnClose() onClose(code: number, reason: string, conn: Connection) {
        closed.fire([code, reason, conn.readyState === 3])
      }
    }
    @Module({ gateways: [All] })
    class M {}
    t = await createTestApp(M)
    const peer = await connectPeer(`${t.url}/all`)
    expect(await peer.next()).to.equal('hello /all')
    peer.send('hi')
    expect(await peer.next()).to.equal('HI 1')
    peer.send(Buffer.from([1, 2]))
    expect(await peer.next()).to.deep.equal(Buffer.from([1, 2, 1, 2]))
    peer.ws.close(4000, 'done')
    expect(await closed.promise).to.deep.equal([4000, 'done', true])
  })

  it('sends returned objects as JSON and each item of an async iterable', async () => {
    @Gateway('/r')
    class Returns {
      @OnText() async *onText(text: string) {
        yield 'first'
        yield Buffer.from('second')
        yield { third: text }
      }
    }
    @Module({ gateways: [Returns] })
    class M {}
    t = await createTestApp(M)
    const client = await t.connect('/r')
    client.send('x')
    expect(await client.nextText()).to.equal('first')
    expect(await client.nextBinary()).to.deep.equal(Buffer.from('second'))
    expect(await client.nextJson()).to.deep.equal({ third: 'x' })
  })

  it('handles the messages of a connection in order even when some handlers are slow', async () => {
    @Gateway('/o')
    class Ordered {
      @OnText() async onText(text: string) {
        // The first message takes several event-loop turns; the next ones none.
        if (text === '0') for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve))
        return text
      }
    }
    @Module({ gateways: [Ordered] })
    class M {}
    t = await createTestApp(M)
    const client = await t.connect('/o')
    for (let i = 0; i < 50; i++) client.send(String(i))
    const received: string[] = []
    for (let i = 0; i < 50; i++) received.push(await client.nextText())
    expect(received).to.deep.equal(Array.from({ length: 50 }, (_, i) => String(i)))
  })

  it('keeps messages that arrive while an async @OnConnect runs', async () => {
    const release = signal<void>()
    const connected = signal<void>()
    @Gateway('/slow')
    class SlowConnect {
      private ready = false
      @OnConnect() async hello() {
        connected.fire()
        await release.promise
        this.ready = true
        return 'ready'
      }
      @OnText() onText(text: string) {
        return `${this.ready ? 'after' : 'before'} ${text}`
      }
    }
    @Module({ gateways: [SlowConnect] })
    class M {}
    t = await createTestApp(M)
    const peer = await connectPeer(`${t.url}/slow`)
    await connected.promise
    peer.send('a')
    peer.send('b')
    // Once the server has answered a ping sent after 'a' and 'b', both have arrived.
    const pong = new Promise<void>((resolve) => peer.ws.once('pong', () => resolve()))
    peer.ws.ping('sync')
    await pong
    release.fire()
    expect([await peer.next(), await peer.next(), await peer.next()]).to.deep.equal(['ready', 'after a', 'after b'])
  })

  it('streams a binary message to an @OnBinary({ stream: true }) handler', async () => {
    @Gateway('/upload')
    class Upload {
      @OnBinary({ stream: true }) async upload(stream: Readable) {
        let bytes = 0
        for await (const chunk of stream) bytes += (chunk as Buffer).length
        return `received ${bytes}`
      }
      @OnText() onText(text: string) {
        return text
      }
    }
    @Module({ gateways: [Upload] })
    class M {}
    t = await createTestApp(M)
    const client = await t.connect('/upload')
    client.send(Buffer.alloc(300_000, 7))
    client.send('then text')
    expect(await client.nextText()).to.equal('received 300000')
    expect(await client.nextText()).to.equal('then text')
  })

  it('runs @OnPing with the payload', async () => {
    @Gateway('/ping')
    class Pings {
      @OnPing() ping(payload: Buffer, @Conn() conn: Connection) {
        conn.sendText(`saw ping ${payload.toString()}`)
      }
    }
    @Module({ gateways: [Pings] })
    class M {}
    t = await createTestApp(M)
    const peer = await connectPeer(`${t.url}/ping`)
    peer.ws.ping('p1')
    expect(await peer.next()).to.equal('saw ping p1')
  })

  it('gives @OnClose the code and reason through @Code() and @Reason()', async () => {
    const closed = signal<string>()
    @Gateway('/c')
    class Closing {
      @OnClose() bye(@Reason() reason: string, @Code() code: number) {
        closed.fire(`${code} ${reason}`)
      }
    }
    @Module({ gateways: [Closing] })
    class M {}
    t = await createTestApp(M)
    const client = await t.connect('/c')
    await client.close(1000, 'bye')
    expect(await closed.promise).to.equal('1000 bye')
  })

  describe('errors', () => {
    @Gateway('/e')
    class Errors {
      @OnText() onText(text: string) {
        if (text === 'close') throw new WsException(4001, 'closing you')
        if (text === 'reply') throw new WsException('not allowed')
        if (text === 'async') return Promise.reject(new Error('async failure'))
        throw new Error('sync failure')
      }
      @OnError() onError(err: Error, conn: Connection) {
        return { event: 'failed', data: err.message, open: conn.readyState === 1 }
      }
    }
    @Gateway('/silent')
    class NoOnError {
      @OnText() onText(text: string): string {
        if (text === 'x') throw new Error('nobody catches me')
        return text
      }
    }
    @Module({ gateways: [Errors, NoOnError] })
    class M {}

    it('closes with the code of a thrown WsException', async () => {
      t = await createTestApp(M)
      const client = await t.connect('/e')
      client.send('close')
      expect(await client.expectClose(4001)).to.deep.equal({ code: 4001, reason: 'closing you' })
    })

    it('answers a WsException without code with an error event and stays open', async () => {
      t = await createTestApp(M)
      const client = await t.connect('/e')
      client.send('reply')
      expect(await client.nextJson()).to.deep.equal({ event: 'error', data: { event: null, message: 'not allowed', errors: [] } })
      client.send('async')
      expect(await client.nextJson()).to.deep.include({ event: 'failed', data: 'async failure', open: true })
    })

    it('gives other errors, thrown or rejected, to @OnError and keeps the connection', async () => {
      t = await createTestApp(M)
      const client = await t.connect('/e')
      client.send('sync')
      client.send('async')
      expect(await client.nextJson()).to.deep.equal({ event: 'failed', data: 'sync failure', open: true })
      expect(await client.nextJson()).to.deep.equal({ event: 'failed', data: 'async failure', open: true })
    })

    it("logs errors through the app's logger when the gateway has no @OnError, and keeps the connection", async () => {
      const logged = signal<[Record<string, unknown>, string]>()
      t = await createTestApp(M, { logger: { error: (fields, message) => logged.fire([fields, message]), warn: () => {} } })
      const client = await t.connect('/silent')
      client.send('x')
      const [fields, message] = await logged.promise
      expect(message).to.match(/NoOnError\.onText failed/)
      expect((fields.err as Error).message).to.equal('nobody catches me')
      expect(fields).to.include({ gateway: 'NoOnError', remoteAddress: '127.0.0.1' })
      expect(fields.connectionId).to.be.a('number')
      client.send('still open')
      expect(await client.nextText()).to.equal('still open')
    })

    it('gives protocol errors of a connection to @OnError before the close', async () => {
      const seen = signal<[string, number]>()
      @Gateway('/proto')
      class ProtocolErrors {
        @OnText() onText() {}
        @OnError() onError(err: Error & { closeCode?: number }) {
          seen.fire([err.name, err.closeCode ?? 0])
        }
      }
      @Module({ gateways: [ProtocolErrors] })
      class P {}
      t = await createTestApp(P)
      const peer = await connectPeer(`${t.url}/proto`)
      // Invalid UTF-8 in a text message: RFC 6455 §8.1 requires failing the connection (1007).
      peer.ws.send(Buffer.from([0x68, 0xff]), { binary: false })
      expect(await seen.promise).to.deep.equal(['ProtocolError', 1007])
      expect((await peer.closed).code).to.equal(1007)
    })

    it('closes with 1003 on a message type the gateway does not handle', async () => {
      @Gateway('/text-only')
      class TextOnly {
        @OnText() onText() {}
      }
      @Gateway('/json-only')
      class JsonOnly {
        @OnMessage('x') x() {}
      }
      @Module({ gateways: [TextOnly, JsonOnly] })
      class Only {}
      t = await createTestApp(Only)
      const a = await connectPeer(`${t.url}/text-only`)
      a.send(Buffer.from([1]))
      expect((await a.closed).code).to.equal(1003)
      const b = await t.connect('/json-only')
      b.send(Buffer.from([1]))
      await b.expectClose(1003)
    })
  })
})
