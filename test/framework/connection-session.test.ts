import 'reflect-metadata'
import { expect } from 'chai'
import { Readable } from 'node:stream'
import { IsString, MaxLength } from 'class-validator'
import { ConnectionSession, type SessionGateway } from '../../src/framework/connection-session'
import { GatewayCounters } from '../../src/framework/gateway-counters'
import { Gateway, type InvalidMessagePolicy } from '../../src/framework/decorators/gateway'
import {
  OnBinary,
  OnClose,
  OnConnect,
  OnDrain,
  OnError,
  OnMessage,
  OnPing,
  OnPong,
  OnText,
} from '../../src/framework/decorators/handler-decorators'
import { ConnData, Header, Param, Protocol, Query, Req } from '../../src/framework/decorators/param-decorators'
import { exploreGateway } from '../../src/framework/explorer'
import { compileGateway } from '../../src/framework/handler-compiler'
import { WsException } from '../../src/framework/ws-exception'
import { FakeConnection } from './fake-connection'

interface Opened<T> {
  conn: FakeConnection
  gateway: T
  logged: unknown[][]
  runtime: SessionGateway
  session: ConnectionSession
}

interface OpenOptions {
  protocol?: string
  invalidMessage?: InvalidMessagePolicy
  params?: Record<string, string>
  request?: unknown
}

function open<T extends object>(type: new () => T, options: OpenOptions = {}): Opened<T> {
  const definition = exploreGateway(type, { connectionType: FakeConnection })
  const gateway = new type()
  const compiled = compileGateway(definition, gateway, {})
  const table = options.protocol === undefined ? compiled.fallback : (compiled.byProtocol.get(options.protocol) ?? compiled.fallback)
  const conn = new FakeConnection(options.request, options.protocol)
  const logged: unknown[][] = []
  const runtime: SessionGateway = {
    name: definition.name,
    invalidMessage: options.invalidMessage ?? 'reply',
    logger: { error: (fields, message) => logged.push([message, fields.err]), warn: () => {} },
    counters: new GatewayCounters(),
    open: new Map(),
  }
  const session = new ConnectionSession(conn as never, table, runtime, options.params ?? {})
  runtime.open.set(conn as never, session)
  session.start()
  return { conn, gateway, logged, runtime, session }
}

/** A promise with its resolve/reject, to control when an async handler finishes. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

function parse(message: string | Buffer | undefined): unknown {
  return JSON.parse(String(message))
}

class Say {
  @IsString() @MaxLength(5) text!: string
}

describe('ConnectionSession', () => {
  describe('listeners', () => {
    @Gateway('/l')
    class Echo {
      @OnText() text(text: string, conn: FakeConnection): string {
        return `${String(conn.data.name)}:${text}`
      }
      @OnClose() close(): void {}
    }

    it('registers one set of listener functions shared by every connection, no closures per session', () => {
      const a = open(Echo)
      const b = open(Echo)
      for (const event of ['text', 'binary', 'close', 'error']) {
        expect(a.conn.listeners(event), event).to.have.length(1)
        expect(a.conn.listeners(event)[0], event).to.equal(b.conn.listeners(event)[0])
      }
    })

    it("adds no 'pong' listener without @OnPong: the heartbeat reads the connection's own alive flag", () => {
      const { conn, session } = open(Echo)
      expect(conn.listeners('pong')).to.have.length(0)
      session.alive = false
      expect(conn.alive).to.equal(false)
      conn.alive = true
      expect(session.alive).to.equal(true)
    })

    it('dispatches each connection to its own session through the shared listeners', () => {
      const a = open(Echo)
      const b = open(Echo)
      a.conn.data.name = 'a'
      b.conn.data.name = 'b'
      a.conn.emit('text', 'one')
      b.conn.emit('text', 'two')
      a.conn.emit('close', 1000, '')
      expect(a.conn.sent).to.deep.equal(['a:one'])
      expect(b.conn.sent).to.deep.equal(['b:two'])
      expect(a.runtime.open.size).to.equal(0)
      expect(b.runtime.open.size).to.equal(1)
    })
  })

  describe('return values', () => {
    @Gateway('/r')
    class Returns {
      @OnText()
      onText(text: string): unknown {
        switch (text) {
          case 'string':
            return 'a string'
          case 'buffer':
            return Buffer.from([1, 2, 3])
          case 'object':
            return { event: 'x', data: [1] }
          case 'number':
            return 42
          case 'null':
            return null
          default:
            return undefined
        }
      }
    }

    it('sends a returned string as text synchronously, within the transport event', () => {
      const { conn } = open(Returns)
      conn.emit('text', 'string')
      expect(conn.sent).to.deep.equal(['a string'])
    })

    it('sends a Buffer as binary, an object or number as JSON text, and nothing for undefined or null', () => {
      const { conn } = open(Returns)
      for (const text of ['buffer', 'object', 'number', 'undefined', 'null']) conn.emit('text', text)
      expect(conn.sent).to.deep.equal([Buffer.from([1, 2, 3]), '{"event":"x","data":[1]}', '42'])
    })

    it('sends each item of an async iterable, and handles the next message only after the last item', async () => {
      const gate = deferred()
      @Gateway('/it')
      class Stream {
        @OnText()
        async *onText(text: string) {
          if (text === 'stream') {
            yield 'one'
            await gate.promise
            yield Buffer.from('two')
            yield { three: 3 }
          } else {
            yield `after ${text}`
          }
        }
      }
      const { conn } = open(Stream)
      conn.emit('text', 'stream')
      conn.emit('text', 'next')
      await conn.sentCount(1)
      expect(conn.sent).to.deep.equal(['one'])
      gate.resolve()
      expect(await conn.sentCount(4)).to.deep.equal(['one', Buffer.from('two'), '{"three":3}', 'after next'])
    })

    it('waits for the transport to drain before sending the next item', async () => {
      @Gateway('/bp')
      class Backpressure {
        @OnText()
        async *onText() {
          yield 'a'
          yield 'b'
        }
      }
      const { conn } = open(Backpressure)
      conn.writable = false
      conn.emit('text', 'go')
      await conn.sentCount(1)
      // 'a' was sent into a full buffer: the session waits for drain before 'b'.
      expect(conn.waitingForDrain).to.equal(1)
      expect(conn.sent).to.deep.equal(['a'])
      conn.release()
      expect(await conn.sentCount(2)).to.deep.equal(['a', 'b'])
    })
  })

  describe('ordering', () => {
    it('handles the messages of one connection in order when handlers are async', async () => {
      const gates = [deferred(), deferred()]
      const calls: string[] = []
      @Gateway('/o')
      class Ordered {
        @OnText()
        async onText(text: string) {
          calls.push(text)
          if (text === 'first') await gates[0].promise
          return `done ${text}`
        }
        @OnBinary()
        onBinary(data: Buffer) {
          calls.push('binary')
          return data
        }
      }
      const { conn } = open(Ordered)
      conn.emit('text', 'first')
      conn.emit('binary', Buffer.from('b'))
      conn.emit('text', 'second')
      expect(calls).to.deep.equal(['first'])
      gates[0].resolve()
      expect(await conn.sentCount(3)).to.deep.equal(['done first', Buffer.from('b'), 'done second'])
      expect(calls).to.deep.equal(['first', 'binary', 'second'])
    })

    it('queues messages that arrive while an async @OnConnect runs', async () => {
      const ready = deferred()
      const seen: string[] = []
      @Gateway('/c')
      class SlowConnect {
        @OnConnect()
        async hello() {
          await ready.promise
          seen.push('connected')
          return 'welcome'
        }
        @OnText()
        onText(text: string) {
          seen.push(text)
          return `echo ${text}`
        }
      }
      const { conn } = open(SlowConnect)
      conn.emit('text', 'early 1')
      conn.emit('text', 'early 2')
      expect(seen).to.deep.equal([])
      ready.resolve()
      expect(await conn.sentCount(3)).to.deep.equal(['welcome', 'echo early 1', 'echo early 2'])
      expect(seen).to.deep.equal(['connected', 'early 1', 'early 2'])
    })

    it('runs @OnClose once, after the pending handlers, and drops the connection from the gateway at once', async () => {
      const gate = deferred()
      const events: unknown[] = []
      @Gateway('/cl')
      class Closing {
        @OnText()
        async onText(text: string) {
          await gate.promise
          events.push(text)
        }
        @OnClose()
        onClose(code: number, reason: string, conn: FakeConnection) {
          events.push([code, reason, conn instanceof FakeConnection])
        }
      }
      const { conn, runtime } = open(Closing)
      conn.emit('text', 'pending')
      conn.emit('close', 1000, 'bye')
      expect(runtime.open.size).to.equal(0)
      expect(events).to.deep.equal([])
      gate.resolve()
      await gate.promise
      await Promise.resolve()
      expect(events).to.deep.equal(['pending', [1000, 'bye', true]])
    })

    it('stops an endless async iterable when the connection closes, so @OnClose still runs', async () => {
      let closed = false
      @Gateway('/forever')
      class Forever {
        @OnText()
        async *onText() {
          yield 'tick'
          await new Promise(() => {})
        }
        @OnClose()
        onClose() {
          closed = true
        }
      }
      const { conn } = open(Forever)
      conn.emit('text', 'go')
      await conn.sentCount(1)
      conn.emit('close', 1001, '')
      expect(closed).to.equal(true)
    })
  })

  describe('errors', () => {
    it('closes with the code of a WsException that has one', () => {
      @Gateway('/e')
      class Closer {
        @OnText() onText() {
          throw new WsException(4001, 'go away')
        }
      }
      const { conn } = open(Closer)
      conn.emit('text', 'x')
      expect(conn.closedWith).to.deep.equal({ code: 4001, reason: 'go away' })
    })

    it('replies with an error event for a WsException without a code, and stays open', async () => {
      @Gateway('/e')
      class Replier {
        @OnMessage('join') async join() {
          throw new WsException('room is full')
        }
      }
      const { conn } = open(Replier)
      conn.emit('text', '{"event":"join","data":{}}')
      const [reply] = await conn.sentCount(1)
      expect(parse(reply)).to.deep.equal({ event: 'error', data: { event: 'join', message: 'room is full', errors: [] } })
      expect(conn.closedWith).to.equal(undefined)
    })

    it('hands other errors (thrown or rejected) to @OnError, sends what it returns and stays open', async () => {
      const seen: unknown[] = []
      @Gateway('/e')
      class WithOnError {
        @OnText() onText(text: string) {
          if (text === 'sync') throw new Error('sync boom')
          return Promise.reject(new Error('async boom'))
        }
        @OnError() onError(err: Error, conn: FakeConnection) {
          seen.push(err.message, conn instanceof FakeConnection)
          return { event: 'oops', data: err.message }
        }
      }
      const { conn, logged } = open(WithOnError)
      conn.emit('text', 'sync')
      conn.emit('text', 'async')
      expect((await conn.sentCount(2)).map(parse)).to.deep.equal([
        { event: 'oops', data: 'sync boom' },
        { event: 'oops', data: 'async boom' },
      ])
      expect(seen).to.deep.equal(['sync boom', true, 'async boom', true])
      expect(conn.closedWith).to.equal(undefined)
      expect(logged).to.deep.equal([])
    })

    it("logs errors through the app's logger without @OnError, and when @OnError itself fails", () => {
      @Gateway('/e')
      class NoOnError {
        @OnText() onText() {
          throw new Error('boom')
        }
      }
      @Gateway('/e2')
      class FailingOnError {
        @OnText() onText() {
          throw new Error('first')
        }
        @OnError() onError() {
          throw new Error('second')
        }
      }
      const a = open(NoOnError)
      a.conn.emit('text', 'x')
      expect(a.logged).to.have.length(1)
      expect(a.logged[0][0]).to.match(/NoOnError\.onText failed/)
      expect((a.logged[0][1] as Error).message).to.equal('boom')
      expect(a.conn.closedWith).to.equal(undefined)

      const b = open(FailingOnError)
      b.conn.emit('text', 'x')
      expect(b.logged).to.have.length(1)
      expect(b.logged[0][0]).to.match(/FailingOnError\.onError \(@OnError\) failed/)
      expect((b.logged[0][1] as Error).message).to.equal('second')
    })

    it('closes with 1003 when the gateway has no handler for the message type', () => {
      @Gateway('/t')
      class TextOnly {
        @OnText() onText() {}
      }
      @Gateway('/b')
      class BinaryOnly {
        @OnBinary() onBinary() {}
      }
      const a = open(TextOnly)
      a.conn.emit('binary', Buffer.from('x'))
      expect(a.conn.closedWith?.code).to.equal(1003)
      const b = open(BinaryOnly)
      b.conn.emit('text', 'x')
      expect(b.conn.closedWith).to.deep.equal({ code: 1003, reason: 'text messages are not supported' })
    })
  })

  describe('@OnMessage routing', () => {
    @Gateway('/m')
    class Chat {
      @OnMessage('say') say(msg: Say) {
        return { event: 'said', data: { text: msg.text, dto: msg instanceof Say } }
      }
    }

    it('routes {"event","data"} to the handler with a converted, validated DTO', () => {
      const { conn } = open(Chat)
      conn.emit('text', JSON.stringify({ event: 'say', data: { text: 'hi' } }))
      expect(parse(conn.sent[0])).to.deep.equal({ event: 'said', data: { text: 'hi', dto: true } })
    })

    it('answers invalid JSON, a missing event and an unknown event with an error event, and stays open', () => {
      const { conn } = open(Chat)
      conn.emit('text', '{nope')
      conn.emit('text', '[1,2]')
      conn.emit('text', '{"event":"shout","data":{}}')
      expect(conn.sent.map(parse)).to.deep.equal([
        { event: 'error', data: { event: null, message: 'invalid JSON', errors: [] } },
        { event: 'error', data: { event: null, message: 'a message must be a JSON object with a string "event"', errors: [] } },
        { event: 'error', data: { event: 'shout', message: 'unknown event "shout"', errors: [] } },
      ])
      expect(conn.closedWith).to.equal(undefined)
    })

    it('answers a failed validation listing each property and constraint', () => {
      const { conn } = open(Chat)
      conn.emit('text', JSON.stringify({ event: 'say', data: { text: 'far too long' } }))
      expect(parse(conn.sent[0])).to.deep.equal({
        event: 'error',
        data: {
          event: 'say',
          message: 'validation failed',
          errors: [{ property: 'text', constraints: { maxLength: 'text must be shorter than or equal to 5 characters' } }],
        },
      })
    })

    it("closes with 1008 instead under invalidMessage: 'close'", () => {
      const { conn } = open(Chat, { invalidMessage: 'close' })
      conn.emit('text', JSON.stringify({ event: 'say', data: { text: 'far too long' } }))
      expect(conn.sent).to.deep.equal([])
      expect(conn.closedWith).to.deep.equal({ code: 1008, reason: 'validation failed' })
    })

    it('gives @OnText what no @OnMessage routes', () => {
      @Gateway('/mixed')
      class Mixed {
        @OnMessage('ping') ping() {
          return 'pong'
        }
        @OnText() raw(text: string) {
          return `raw ${text}`
        }
      }
      const { conn } = open(Mixed)
      conn.emit('text', '{"event":"ping"}')
      conn.emit('text', 'plain words')
      conn.emit('text', '{"event":"other"}')
      expect(conn.sent).to.deep.equal(['pong', 'raw plain words', 'raw {"event":"other"}'])
    })
  })

  describe('subprotocols', () => {
    @Gateway('/v', { protocols: ['chat.v2', 'chat.v1'] })
    class Versions {
      @OnText({ protocol: 'chat.v1' }) v1(text: string) {
        return `v1 ${text}`
      }
      @OnText() v2(text: string, @Protocol() protocol: string) {
        return `${protocol} ${text}`
      }
    }

    it('uses the handler of the negotiated protocol, else the one without a protocol', () => {
      const a = open(Versions, { protocol: 'chat.v1' })
      a.conn.emit('text', 'hi')
      const b = open(Versions, { protocol: 'chat.v2' })
      b.conn.emit('text', 'hi')
      expect([a.conn.sent, b.conn.sent]).to.deep.equal([['v1 hi'], ['chat.v2 hi']])
    })

    it('closes with 1003 when only another protocol has a handler for the message type', () => {
      @Gateway('/only', { protocols: ['a', 'b'] })
      class OnlyA {
        @OnText({ protocol: 'a' }) a() {}
      }
      const { conn } = open(OnlyA, { protocol: 'b' })
      conn.emit('text', 'x')
      expect(conn.closedWith?.code).to.equal(1003)
    })
  })

  describe('binary', () => {
    it('wraps a whole Buffer in a Readable for a streaming handler', async () => {
      @Gateway('/s')
      class Streaming {
        @OnBinary({ stream: true })
        async upload(stream: Readable) {
          const chunks: Buffer[] = []
          for await (const chunk of stream) chunks.push(chunk as Buffer)
          return `got ${Buffer.concat(chunks).toString()}`
        }
      }
      const { conn } = open(Streaming)
      conn.emit('binary', Buffer.from('payload'))
      expect(await conn.sentCount(1)).to.deep.equal(['got payload'])
    })

    it('collects a stream into one Buffer for a whole-message handler, in order', async () => {
      @Gateway('/w')
      class Whole {
        @OnBinary() onBinary(data: Buffer) {
          return `binary ${data.toString()}`
        }
        @OnText() onText(text: string) {
          return `text ${text}`
        }
      }
      const { conn } = open(Whole)
      conn.emit('binary', Readable.from([Buffer.from('ab'), Buffer.from('cd')]))
      conn.emit('text', 'after')
      expect(await conn.sentCount(2)).to.deep.equal(['binary abcd', 'text after'])
    })
  })

  describe('parameters and control frames', () => {
    it('resolves path params, query, headers, protocol, request and connection data', () => {
      const query = new URLSearchParams('token=t1&token=t2')
      const request = { query, headers: { 'x-user': 'ada' }, path: '/rooms/lobby' }
      @Gateway('/rooms/:room')
      class Params {
        @OnText()
        onText(
          text: string,
          @Param('room') room: string,
          @Param() params: object,
          @Query('token') token: string,
          @Query('missing') missing: string | undefined,
          @Header('x-user') user: string,
          @Protocol() protocol: string,
          @Req() req: unknown,
          @ConnData('role') role: string,
        ) {
          return { text, room, params, token, missing: missing === undefined, user, protocol, req: req === request, role }
        }
      }
      const { conn } = open(Params, { params: { room: 'lobby' }, request, protocol: 'p' })
      conn.data.role = 'admin'
      conn.emit('text', 'hi')
      expect(parse(conn.sent[0])).to.deep.equal({
        text: 'hi',
        room: 'lobby',
        params: { room: 'lobby' },
        token: 't1',
        missing: true,
        user: 'ada',
        protocol: 'p',
        req: true,
        role: 'admin',
      })
    })

    it('runs @OnPing and @OnPong with the payload, and a pong marks the connection alive', () => {
      const seen: string[] = []
      @Gateway('/pp')
      class PingPong {
        @OnPing() ping(payload: Buffer) {
          seen.push(`ping ${payload.toString()}`)
        }
        @OnPong() pong(payload: Buffer) {
          seen.push(`pong ${payload.toString()}`)
        }
      }
      const { conn, session } = open(PingPong)
      session.alive = false
      conn.emit('ping', Buffer.from('a'))
      conn.emit('pong', Buffer.from('b'))
      expect(seen).to.deep.equal(['ping a', 'pong b'])
      expect(session.alive).to.equal(true)
    })
  })

  describe('@OnDrain', () => {
    it("runs on the connection's 'drain' with (conn) and sends what it returns", async () => {
      const seen: unknown[] = []
      @Gateway('/d')
      class Drained {
        @OnDrain()
        async caughtUp(conn: FakeConnection) {
          seen.push(conn)
          return { event: 'drained' }
        }
      }
      const { conn } = open(Drained)
      conn.emit('drain')
      expect(await conn.sentCount(1)).to.deep.equal(['{"event":"drained"}'])
      expect(seen).to.deep.equal([conn])
    })

    it('resolves parameter decorators like @OnConnect', () => {
      @Gateway('/d/:room')
      class WithParams {
        @OnDrain()
        caughtUp(@Param('room') room: string, @ConnData('user') user: string) {
          return `${room} ${user}`
        }
      }
      const { conn } = open(WithParams, { params: { room: 'r1' } })
      conn.data.user = 'ann'
      conn.emit('drain')
      expect(conn.sent).to.deep.equal(['r1 ann'])
    })

    it('waits for the handler in flight, once, and runs only when the connection has caught up again', async () => {
      const gate = deferred()
      let drains = 0
      @Gateway('/d')
      class Busy {
        @OnText()
        async onText() {
          await gate.promise
          return 'done'
        }
        @OnDrain()
        caughtUp() {
          return `drained ${++drains}`
        }
      }
      const { conn } = open(Busy)
      conn.emit('text', 'go')
      conn.emit('drain')
      conn.emit('drain')
      expect(conn.sent).to.deep.equal([])
      // The handler leaves data unsent: the queued drain is stale.
      conn.writable = false
      conn.bufferedAmount = 100_000
      gate.resolve()
      await conn.sentCount(1)
      expect(conn.sent).to.deep.equal(['done'])
      expect(conn.waitingForDrain).to.equal(1)
      conn.release()
      expect(await conn.sentCount(2)).to.deep.equal(['done', 'drained 1'])
    })

    it('does not run a queued drain once the connection has closed', async () => {
      const gate = deferred()
      let drains = 0
      @Gateway('/d')
      class Closing {
        @OnText()
        async onText() {
          await gate.promise
        }
        @OnBinary()
        onBinary() {
          return 'after'
        }
        @OnDrain()
        caughtUp() {
          drains++
        }
      }
      const { conn } = open(Closing)
      conn.emit('text', 'go')
      conn.emit('drain')
      conn.emit('binary', Buffer.from('x'))
      conn.readyState = 3
      gate.resolve()
      expect(await conn.sentCount(1)).to.deep.equal(['after'])
      expect(drains).to.equal(0)
    })
  })
})
