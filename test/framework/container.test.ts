import 'reflect-metadata'
import { expect } from 'chai'
import { Container } from '../../src/framework/container'
import { Gateway } from '../../src/framework/decorators/gateway'
import { Inject, Injectable } from '../../src/framework/decorators/injectable'
import { Module } from '../../src/framework/decorators/module'
import { DefinitionError } from '../../src/framework/definition-error'
import { ConnectionsToken, GatewayConnections, connectionsOf } from '../../src/framework/gateway-connections'
import { InjectionToken } from '../../src/framework/injection-token'

function definitionError(fn: () => unknown): DefinitionError {
  try {
    fn()
  } catch (err) {
    expect(err).to.be.instanceOf(DefinitionError)
    return err as DefinitionError
  }
  expect.fail('expected a DefinitionError')
}

describe('Container', () => {
  it('builds providers once and injects them by constructor type', () => {
    let built = 0
    class Store {
      constructor() {
        built++
      }
    }
    @Injectable()
    class RoomService {
      constructor(readonly store: Store) {}
    }
    @Gateway('/chat')
    class ChatGateway {
      constructor(
        readonly rooms: RoomService,
        readonly store: Store,
      ) {}
    }
    @Module({ gateways: [ChatGateway], providers: [Store, RoomService] })
    class AppModule {}
    const container = new Container(AppModule)
    const gateway = container.instantiate(ChatGateway, AppModule, ChatGateway)
    expect(gateway.rooms).to.be.instanceOf(RoomService)
    expect(gateway.rooms.store).to.equal(gateway.store)
    expect(built).to.equal(1)
    expect(container.get(RoomService, AppModule)).to.equal(gateway.rooms)
  })

  it('supports useValue, useFactory with inject, useClass and useExisting', () => {
    const CONFIG = new InjectionToken<{ motd: string }>('CONFIG')
    const GREETING = Symbol('greeting')
    abstract class Clock {
      abstract now(): number
    }
    class FixedClock extends Clock {
      now() {
        return 42
      }
    }
    @Injectable()
    class Motd {
      constructor(
        @Inject(CONFIG) readonly config: { motd: string },
        @Inject(GREETING) readonly greeting: string,
        readonly clock: Clock,
      ) {}
    }
    @Module({
      providers: [
        { provide: CONFIG, useValue: { motd: 'hi' } },
        { provide: GREETING, useFactory: (c: { motd: string }) => `${c.motd}!`, inject: [CONFIG] },
        { provide: Clock, useClass: FixedClock },
        { provide: 'clock', useExisting: Clock },
        Motd,
      ],
    })
    class AppModule {}
    const container = new Container(AppModule)
    const motd = container.get(Motd, AppModule)
    expect(motd.config).to.deep.equal({ motd: 'hi' })
    expect(motd.greeting).to.equal('hi!')
    expect(motd.clock.now()).to.equal(42)
    expect(container.get('clock', AppModule)).to.equal(motd.clock)
  })

  it('lets a module inject the providers of the modules it imports, transitively', () => {
    class Db {}
    @Module({ providers: [Db] })
    class DbModule {}
    @Module({ imports: [DbModule] })
    class MiddleModule {}
    @Injectable()
    class Repo {
      constructor(readonly db: Db) {}
    }
    @Module({ imports: [MiddleModule], providers: [Repo] })
    class AppModule {}
    const container = new Container(AppModule)
    expect(container.get(Repo, AppModule).db).to.be.instanceOf(Db)
    expect(container.modules.map((m) => m.name)).to.deep.equal(['AppModule', 'MiddleModule', 'DbModule'])
  })

  it('reports a lazily referenced import as not a module class', () => {
    @Module({ imports: [() => B] as never })
    class A {}
    @Module({ imports: [A] })
    class B {}
    // A lazy reference is not a module class: reported, not looped on.
    expect(() => new Container(B)).to.throw(DefinitionError)
  })

  it('names the class and parameter it cannot resolve, and where the provider lives', () => {
    class RoomService {}
    @Gateway('/chat')
    class ChatGateway {
      constructor(readonly rooms: RoomService) {}
    }
    @Module({ gateways: [ChatGateway] })
    class AppModule {}
    const err = definitionError(() => new Container(AppModule).instantiate(ChatGateway, AppModule, ChatGateway))
    expect(err.className).to.equal('ChatGateway')
    expect(err.member).to.equal('constructor parameter #0 (RoomService)')
    expect(err.message).to.match(/cannot resolve RoomService: add it to the providers of AppModule/)

    @Module({ providers: [RoomService] })
    class Elsewhere {}
    @Module({ gateways: [ChatGateway] })
    class Unrelated {}
    @Module({ imports: [Elsewhere, Unrelated] })
    class Root {}
    expect(definitionError(() => new Container(Root).instantiate(ChatGateway, Unrelated, ChatGateway)).message).to.match(
      /provided by Elsewhere, which Unrelated does not import/,
    )
  })

  it('asks for @Inject on parameters typed with an interface or a primitive', () => {
    interface Config {
      motd: string
    }
    @Injectable()
    class Motd {
      constructor(readonly config: Config) {}
    }
    @Module({ providers: [Motd] })
    class AppModule {}
    expect(definitionError(() => new Container(AppModule).get(Motd, AppModule)).message).to.match(
      /typed with an interface, a union or any.*@Inject\(token\)/,
    )
  })

  it('asks for @Injectable on a provider with constructor parameters and no recorded types', () => {
    class Dep {}
    class NoDecorator {
      constructor(readonly dep: Dep) {}
    }
    @Module({ providers: [Dep, NoDecorator] })
    class AppModule {}
    expect(definitionError(() => new Container(AppModule).get(NoDecorator, AppModule)).message).to.match(/@Injectable\(\)/)
  })

  it('reports a circular dependency with its chain', () => {
    @Injectable()
    class A {
      constructor(@Inject('b') readonly b: unknown) {}
    }
    @Injectable()
    class B {
      constructor(readonly a: A) {}
    }
    @Module({ providers: [A, { provide: 'b', useClass: B }] })
    class AppModule {}
    expect(definitionError(() => new Container(AppModule).get(A, AppModule)).message).to.match(/circular dependency: A → "b" → A/)
  })

  it('rejects one token provided differently by two modules', () => {
    @Module({ providers: [{ provide: 'x', useValue: 1 }] })
    class One {}
    @Module({ imports: [One], providers: [{ provide: 'x', useValue: 2 }] })
    class Two {}
    expect(definitionError(() => new Container(Two)).message).to.match(/"x" is provided twice, differently/)
  })

  it('rejects an async factory', () => {
    @Module({ providers: [{ provide: 'db', useFactory: async () => ({}) }] })
    class AppModule {}
    expect(definitionError(() => new Container(AppModule).get('db', AppModule)).message).to.match(/async providers are not supported/)
  })

  it('rejects malformed providers', () => {
    @Module({ providers: [{ provide: 'x' } as never] })
    class NoUse {}
    @Module({ providers: [42 as never] })
    class NotAProvider {}
    expect(definitionError(() => new Container(NoUse)).message).to.match(/none of useValue/)
    expect(definitionError(() => new Container(NotAProvider)).message).to.match(/is not a provider/)
  })

  it("injects a gateway's own GatewayConnections by type, and any gateway's through connectionsOf()", () => {
    const views = new Map<Function, GatewayConnections>()
    @Gateway('/chat')
    class ChatGateway {
      constructor(readonly connections: GatewayConnections) {}
    }
    @Injectable()
    class Announcer {
      constructor(@Inject(connectionsOf(ChatGateway)) readonly chat: GatewayConnections) {}
    }
    @Module({ gateways: [ChatGateway], providers: [Announcer] })
    class AppModule {}
    const container = new Container(AppModule, (token) => {
      if (!(token instanceof ConnectionsToken)) return undefined
      if (!views.has(token.gateway)) views.set(token.gateway, new GatewayConnections(token.gateway as never, new Map()))
      return { value: views.get(token.gateway) }
    })
    const gateway = container.instantiate(ChatGateway, AppModule, ChatGateway)
    expect(gateway.connections).to.equal(views.get(ChatGateway))
    expect(container.get(Announcer, AppModule).chat).to.equal(gateway.connections)
  })

  it('refuses GatewayConnections by type outside a gateway', () => {
    @Injectable()
    class Service {
      constructor(readonly connections: GatewayConnections) {}
    }
    @Module({ providers: [Service] })
    class AppModule {}
    expect(definitionError(() => new Container(AppModule).get(Service, AppModule)).message).to.match(/connectionsOf/)
  })

  it('builds a class that is not a declared provider (a class guard) as an app singleton', () => {
    class Users {}
    @Injectable()
    class AuthGuard {
      constructor(readonly users: Users) {}
      canActivate() {
        return true
      }
    }
    @Module({ providers: [Users] })
    class AppModule {}
    const container = new Container(AppModule)
    const guard = container.instantiate(AuthGuard, AppModule)
    expect(guard.users).to.equal(container.get(Users, AppModule))
    expect(container.instantiate(AuthGuard, AppModule)).to.equal(guard)
  })
})
