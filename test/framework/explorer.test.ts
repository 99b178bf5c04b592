import 'reflect-metadata'
import { expect } from 'chai'
import { Readable } from 'node:stream'
import { IsString } from 'class-validator'
import { Gateway } from '../../src/framework/decorators/gateway'
import { Module } from '../../src/framework/decorators/module'
import {
  OnBinary,
  OnClose,
  OnConnect,
  OnDrain,
  OnError,
  OnMessage,
  OnPing,
  OnText,
} from '../../src/framework/decorators/handler-decorators'
import { Code, Conn, ConnData, Header, Param, Payload, Protocol, Query, Reason, Req } from '../../src/framework/decorators/param-decorators'
import { SelectProtocol } from '../../src/framework/decorators/select-protocol'
import { UseGuards } from '../../src/framework/decorators/use-guards'
import { DefinitionError } from '../../src/framework/definition-error'
import { exploreGateway, exploreModule, type GatewayDefinition } from '../../src/framework/explorer'
import { GatewayConnections } from '../../src/framework/gateway-connections'

/** Stands in for the transport's Connection class. */
class FakeConnection {}

function explore(type: Function): GatewayDefinition {
  return exploreGateway(type as never, { connectionType: FakeConnection })
}

function definitionError(fn: () => unknown): DefinitionError {
  try {
    fn()
  } catch (err) {
    expect(err).to.be.instanceOf(DefinitionError)
    return err as DefinitionError
  }
  expect.fail('expected a DefinitionError')
}

class SayDto {
  @IsString() text!: string
}

describe('exploreGateway', () => {
  it('returns a frozen definition with path, options and handlers', () => {
    @Gateway('/chat', { protocols: ['chat.v2', 'chat.v1'] })
    class ChatGateway {
      @OnConnect() hello(conn: FakeConnection) {}
      @OnText() onText(text: string, conn: FakeConnection) {}
      @OnClose() onClose(code: number, reason: string, conn: FakeConnection) {}
    }
    const def = explore(ChatGateway)
    expect(def).to.be.frozen
    expect(def.handlers).to.be.frozen
    expect(def.name).to.equal('ChatGateway')
    expect(def.path).to.equal('/chat')
    expect(def.protocols).to.deep.equal(['chat.v2', 'chat.v1'])
    expect(def.handlers.map((h) => [h.kind, h.method])).to.deep.equal([
      ['connect', 'hello'],
      ['text', 'onText'],
      ['close', 'onClose'],
    ])
  })

  it('gives undecorated parameters the default (payload, conn) / (code, reason, conn) / (conn)', () => {
    @Gateway('/d')
    class Defaults {
      @OnConnect() hello(c: unknown) {}
      @OnText() onText(t: string, c: unknown) {}
      @OnClose() onClose(code: number, reason: string, c: unknown) {}
      @OnError() onError(e: Error, c: unknown) {}
      @OnDrain() onDrain(c: unknown) {}
    }
    const kinds = Object.fromEntries(explore(Defaults).handlers.map((h) => [h.kind, h.params.map((p) => p.kind)]))
    expect(kinds).to.deep.equal({
      connect: ['connection'],
      text: ['payload', 'connection'],
      close: ['code', 'reason', 'connection'],
      error: ['payload', 'connection'],
      drain: ['connection'],
    })
  })

  it('lets decorated and Connection-typed parameters claim their kind, the rest taking the remaining defaults in order', () => {
    @Gateway('/rooms/:room')
    class Mixed {
      @OnText() a(conn: FakeConnection, text: string) {}
      @OnText({ protocol: 'x' }) b(@Param('room') room: string, text: string, @Conn() conn: unknown) {}
      @OnClose() c(@Reason() reason: string, code: number) {}
    }
    const [a, b, c] = explore(Mixed).handlers
    expect(a.params.map((p) => p.kind)).to.deep.equal(['connection', 'payload'])
    expect(b.params.map((p) => [p.kind, p.name])).to.deep.equal([
      ['param', 'room'],
      ['payload', undefined],
      ['connection', undefined],
    ])
    expect(c.params.map((p) => p.kind)).to.deep.equal(['reason', 'code'])
  })

  it('records every parameter decorator with its name', () => {
    @Gateway('/p/:id')
    class Params {
      @OnConnect()
      hello(
        @Param('id') id: string,
        @Param() all: object,
        @Query('q') q: string,
        @Header('X-Token') token: string,
        @Protocol() protocol: string,
        @Req() req: unknown,
        @ConnData('user') user: unknown,
        @Conn() conn: unknown,
      ) {}
    }
    const params = explore(Params).handlers[0].params.map((p) => [p.kind, p.name])
    expect(params).to.deep.equal([
      ['param', 'id'],
      ['param', undefined],
      ['query', 'q'],
      ['header', 'x-token'],
      ['protocol', undefined],
      ['request', undefined],
      ['data', 'user'],
      ['connection', undefined],
    ])
  })

  it('treats a class-typed @OnMessage payload as a DTO to validate, and a primitive as a type check', () => {
    @Gateway('/m')
    class Messages {
      @OnMessage('say') say(msg: SayDto) {}
      @OnMessage('count') count(n: number) {}
      @OnMessage('raw') raw(@Payload({ validate: false }) data: SayDto) {}
      @OnMessage('explicit') explicit(@Payload(SayDto) data: unknown) {}
    }
    const [say, count, raw, explicit] = explore(Messages).handlers.map((h) => h.params[0])
    expect(say).to.include({ kind: 'payload', dto: SayDto, validate: true })
    expect(count).to.include({ type: Number, dto: undefined, validate: true })
    expect(raw).to.include({ dto: SayDto, validate: false })
    expect(explicit).to.include({ dto: SayDto, validate: true })
  })

  it('finds constructor parameters typed GatewayConnections', () => {
    @Gateway('/c')
    class WithConnections {
      constructor(readonly connections: GatewayConnections) {}
    }
    expect(explore(WithConnections).connectionsParams).to.deep.equal([0])
  })

  it('derives the supported protocols from handlers when the gateway names none', () => {
    @Gateway('/v')
    class Versions {
      @OnText({ protocol: 'v1' }) v1(t: string) {}
      @OnText({ protocol: 'v2' }) v2(t: string) {}
    }
    expect(explore(Versions).protocols).to.deep.equal(['v1', 'v2'])
  })

  it('lets a subclass inherit handlers without adding to its parent', () => {
    class Base {
      @OnText() onText(t: string) {}
    }
    @Gateway('/child')
    class Child extends Base {
      @OnBinary() onBinary(b: Buffer) {}
    }
    @Gateway('/parent')
    class Parent extends Base {}
    expect(explore(Child).handlers.map((h) => h.kind)).to.deep.equal(['text', 'binary'])
    expect(explore(Parent).handlers.map((h) => h.kind)).to.deep.equal(['text'])
  })

  describe('DefinitionError', () => {
    it('names a class that is not decorated with @Gateway', () => {
      class Plain {}
      const err = definitionError(() => explore(Plain))
      expect(err.className).to.equal('Plain')
      expect(err.message).to.match(/not decorated with @Gateway/)
    })

    it('names both methods when a gateway has two @OnText', () => {
      @Gateway('/twice')
      class Twice {
        @OnText() first(t: string) {}
        @OnText() second(t: string) {}
      }
      const err = definitionError(() => explore(Twice))
      expect(err.className).to.equal('Twice')
      expect(err.member).to.equal('second')
      expect(err.message).to.match(/two @OnText\(\) handlers: first and second/)
    })

    it('allows one @OnText per protocol but not two for the same protocol', () => {
      @Gateway('/ok', { protocols: ['a', 'b'] })
      class PerProtocol {
        @OnText({ protocol: 'a' }) a(t: string) {}
        @OnText({ protocol: 'b' }) b(t: string) {}
        @OnText() any(t: string) {}
      }
      expect(explore(PerProtocol).handlers).to.have.length(3)
      @Gateway('/dup', { protocols: ['a'] })
      class Dup {
        @OnText({ protocol: 'a' }) a(t: string) {}
        @OnText({ protocol: 'a' }) b(t: string) {}
      }
      expect(definitionError(() => explore(Dup)).message).to.match(/for protocol "a"/)
    })

    it('rejects two @OnMessage handlers for one event', () => {
      @Gateway('/events')
      class Events {
        @OnMessage('say') a(d: unknown) {}
        @OnMessage('say') b(d: unknown) {}
      }
      expect(definitionError(() => explore(Events)).message).to.match(/two @OnMessage\('say'\)/)
    })

    it('rejects a parameter no default or decorator explains', () => {
      class Thing {}
      @Gateway('/extra')
      class Extra {
        @OnText() onText(text: string, conn: unknown, thing: Thing) {}
      }
      const err = definitionError(() => explore(Extra))
      expect(err.member).to.equal('onText')
      expect(err.message).to.match(/parameter #2 \(Thing\) has no meaning for @OnText\(\)/)
    })

    it('rejects a text payload declared as something other than a string', () => {
      @Gateway('/wrong')
      class Wrong {
        @OnText() onText(text: SayDto) {}
      }
      expect(definitionError(() => explore(Wrong)).message).to.match(/payload of @OnText\(\) is a string.*use @OnMessage/)
    })

    it('rejects a binary payload declared as a string, and a stream payload declared as a Buffer', () => {
      @Gateway('/b1')
      class B1 {
        @OnBinary() b(data: string) {}
      }
      @Gateway('/b2')
      class B2 {
        @OnBinary({ stream: true }) b(data: Buffer) {}
      }
      @Gateway('/b3')
      class B3 {
        @OnBinary({ stream: true }) b(data: Readable) {}
      }
      expect(definitionError(() => explore(B1)).message).to.match(/is a Buffer/)
      expect(definitionError(() => explore(B2)).message).to.match(/is a Readable/)
      expect(explore(B3).handlers[0].stream).to.equal(true)
    })

    it('rejects @Param with a name the route does not bind', () => {
      @Gateway('/rooms/:room')
      class Rooms {
        @OnConnect() hello(@Param('id') id: string) {}
      }
      expect(definitionError(() => explore(Rooms)).message).to.match(/has no parameter "id" \(it has "room"\)/)
    })

    it('rejects @Code and @Reason outside @OnClose and @Payload on @OnConnect', () => {
      @Gateway('/a')
      class A {
        @OnText() t(@Code() code: number) {}
      }
      @Gateway('/b')
      class B {
        @OnConnect() c(@Payload() p: unknown) {}
      }
      expect(definitionError(() => explore(A)).message).to.match(/@Code\(\) only applies to @OnClose/)
      expect(definitionError(() => explore(B)).message).to.match(/@OnConnect\(\) has no payload/)
    })

    it('rejects a parameter decorator on a method that is not a handler', () => {
      @Gateway('/x')
      class X {
        helper(@Conn() conn: unknown) {}
      }
      const err = definitionError(() => explore(X))
      expect(err.member).to.equal('helper')
      expect(err.message).to.match(/not a handler/)
    })

    it('rejects a handler protocol missing from the gateway protocols', () => {
      @Gateway('/x', { protocols: ['chat.v1'] })
      class X {
        @OnText({ protocol: 'chat.v3' }) t(s: string) {}
      }
      expect(definitionError(() => explore(X)).message).to.match(/"chat.v3", which is not in the gateway's protocols/)
    })

    it('rejects invalid subprotocol names, bad paths and bad options', () => {
      @Gateway('/x', { protocols: ['has space'] })
      class BadProtocol {}
      @Gateway('nope')
      class BadPath {}
      @Gateway('/x', { invalidMessage: 'ignore' as never })
      class BadPolicy {}
      @Gateway('/x', { protocolOrder: 'random' as never })
      class BadOrder {}
      @Gateway('/x', { maxMessageSize: -1 })
      class BadSize {}
      expect(definitionError(() => explore(BadProtocol)).message).to.match(/not a valid subprotocol/)
      expect(definitionError(() => explore(BadPath)).message).to.match(/must start with/)
      expect(definitionError(() => explore(BadPolicy)).message).to.match(/invalidMessage/)
      expect(definitionError(() => explore(BadOrder)).message).to.match(/protocolOrder/)
      expect(definitionError(() => explore(BadSize)).message).to.match(/maxMessageSize/)
    })

    it('rejects a maxBufferedAmount that is not a positive integer and an unknown slowConsumer policy', () => {
      for (const maxBufferedAmount of [0, -1, 1.5, Number.NaN, Infinity, '1024' as never]) {
        @Gateway('/x', { maxBufferedAmount })
        class BadBuffer {}
        const err = definitionError(() => explore(BadBuffer))
        expect(err.message).to.match(/options\.maxBufferedAmount must be a positive integer/)
        expect(err.message).to.include('BadBuffer')
      }
      @Gateway('/x', { slowConsumer: 'pause' as never })
      class BadPolicy {}
      expect(definitionError(() => explore(BadPolicy)).message).to.match(/options\.slowConsumer must be 'close' or 'drop', not "pause"/)
      @Gateway('/x', { maxBufferedAmount: 1024, slowConsumer: 'drop' })
      class Good {}
      expect(explore(Good).options).to.include({ maxBufferedAmount: 1024, slowConsumer: 'drop' })
    })

    it('rejects a second @OnDrain and a payload on @OnDrain', () => {
      @Gateway('/x')
      class Two {
        @OnDrain() a() {}
        @OnDrain() b() {}
      }
      @Gateway('/y')
      class WithPayload {
        @OnDrain() a(@Payload() p: unknown) {}
      }
      expect(definitionError(() => explore(Two)).message).to.match(/two @OnDrain\(\) handlers: a and b/)
      expect(definitionError(() => explore(WithPayload)).message).to.match(/@OnDrain\(\) has no payload/)
    })

    it('rejects two @SelectProtocol methods and a guard that is not a function', () => {
      @Gateway('/x')
      class Two {
        @SelectProtocol() a() {}
        @SelectProtocol() b() {}
      }
      @Gateway('/y')
      @UseGuards('nope' as never)
      class BadGuard {}
      expect(definitionError(() => explore(Two)).message).to.match(/two @SelectProtocol/)
      expect(definitionError(() => explore(BadGuard)).message).to.match(/guard #0/)
    })
  })
})

describe('exploreModule', () => {
  it('returns the frozen gateways, providers and imports of a module', () => {
    @Gateway('/g')
    class G {}
    class Service {}
    @Module({})
    class Other {}
    @Module({ gateways: [G], providers: [Service], imports: [Other] })
    class AppModule {}
    const def = exploreModule(AppModule)
    expect(def).to.be.frozen
    expect(def).to.deep.include({ name: 'AppModule', gateways: [G], providers: [Service], imports: [Other] })
  })

  it('throws a DefinitionError for a class without @Module', () => {
    class NotAModule {}
    expect(definitionError(() => exploreModule(NotAModule)).message).to.match(/NotAModule: is used as a module but is not decorated with @Module/)
  })

  it('explains an undefined import (a circular import of files)', () => {
    @Module({ imports: [undefined as never] })
    class Broken {}
    expect(definitionError(() => exploreModule(Broken)).message).to.match(/circular import/)
  })
})
