import { expect } from 'chai'
import { createServer, request, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import {
  DefinitionError,
  Gateway,
  GatewayConnections,
  Inject,
  Injectable,
  InjectionToken,
  Module,
  OnClose,
  OnBinary,
  OnConnect,
  OnPong,
  OnText,
  bootstrap,
  connectionsOf,
  type Application,
  type Connection,
} from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'
import { deadline } from '../../helpers/deadline'
import { closePeers, connectPeer } from './ws-peer'

const GREETING = new InjectionToken<string>('GREETING')

@Injectable()
class Rooms {
  constructor(@Inject(GREETING) readonly greeting: string) {}
}

@Gateway('/chat')
class ChatGateway {
  constructor(
    readonly rooms: Rooms,
    readonly members: GatewayConnections,
  ) {}
  @OnConnect() hello() {
    return this.rooms.greeting
  }
  @OnText() say(text: string, conn: Connection) {
    this.members.broadcast(text, (c) => c !== conn)
  }
}

@Injectable()
class Announcer {
  constructor(@Inject(connectionsOf(ChatGateway)) readonly chat: GatewayConnections) {}
  announce(text: string): number {
    return this.chat.broadcastEvent('announce', text)
  }
}

@Module({ providers: [{ provide: GREETING, useValue: 'welcome' }, Rooms], gateways: [] })
class RoomsModule {}

@Module({ imports: [RoomsModule], gateways: [ChatGateway], providers: [Announcer, Rooms] })
class AppModule {}

describe('framework application', () => {
  let t: TestApp | undefined
  let app: Application | undefined
  let http: HttpServer | undefined
  afterEach(async () => {
    await t?.close()
    await app?.close()
    closePeers()
    if (http) await new Promise((resolve) => http!.close(resolve))
    t = app = http = undefined
  })

  it('listens on a free port with listen(0) and reports its address', async () => {
    app = await bootstrap(AppModule, { heartbeatInterval: 0 }).listen(0, '127.0.0.1')
    const address = app.address() as AddressInfo
    expect(address.address).to.equal('127.0.0.1')
    expect(address.port).to.be.greaterThan(0)
    const peer = await connectPeer(`ws://127.0.0.1:${address.port}/chat`)
    expect(await peer.next()).to.equal('welcome')
  })

  it('refuses to listen twice, and closes an app that never listened at once', async () => {
    app = await bootstrap(AppModule, { heartbeatInterval: 0 }).listen(0, '127.0.0.1')
    let failure: unknown
    await app.listen(0).catch((err: unknown) => (failure = err))
    expect((failure as Error).message).to.match(/already started/)
    const idle = bootstrap(AppModule)
    await idle.close()
    expect(idle.address()).to.equal(null)
  })

  it('closes every connection with 1001 on close() and stops listening', async () => {
    app = await bootstrap(AppModule, { heartbeatInterval: 0 }).listen(0, '127.0.0.1')
    const port = (app.address() as AddressInfo).port
    const peers = await Promise.all([connectPeer(`ws://127.0.0.1:${port}/chat`), connectPeer(`ws://127.0.0.1:${port}/chat`)])
    const closing = app.close()
    const codes = await Promise.all(peers.map(async (p) => (await p.closed).code))
    await closing
    expect(codes).to.deep.equal([1001, 1001])
    expect(app.address()).to.equal(null)
  })

  it('shares the port of an existing HTTP server with attach()', async () => {
    http = createServer((req, res) => res.end('plain http'))
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve))
    const port = (http.address() as AddressInfo).port
    app = bootstrap(AppModule, { heartbeatInterval: 0 }).attach(http)
    const peer = await connectPeer(`ws://127.0.0.1:${port}/chat`)
    expect(await peer.next()).to.equal('welcome')
    const body = await new Promise<string>((resolve, reject) => {
      request(`http://127.0.0.1:${port}/`, (res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c))
        res.on('end', () => resolve(text))
      })
        .on('error', reject)
        .end()
    })
    expect(body).to.equal('plain http')
  })

  it('injects providers from imported modules and gives gateways their connections for broadcast', async () => {
    t = await createTestApp(AppModule)
    const [a, b, c] = await Promise.all([t.connect('/chat'), t.connect('/chat'), t.connect('/chat')])
    for (const client of [a, b, c]) expect(await client.nextText()).to.equal('welcome')
    a.send('hello all')
    expect(await b.nextText()).to.equal('hello all')
    expect(await c.nextText()).to.equal('hello all')
    expect(a.pending).to.deep.equal([])
    expect(t.app.connections(ChatGateway).size).to.equal(3)
    expect(t.app.get(Announcer).announce('news')).to.equal(3)
    expect(await a.nextJson()).to.deep.equal({ event: 'announce', data: 'news' })
    expect(t.app.get(ChatGateway).rooms).to.equal(t.app.get(Rooms))
  })

  it('removes closed connections from the gateway before @OnClose runs', async () => {
    let sizeInOnClose!: (size: number) => void
    const closed = new Promise<number>((resolve) => (sizeInOnClose = resolve))
    let members!: GatewayConnections
    @Gateway('/count')
    class Counting {
      constructor(connections: GatewayConnections) {
        members = connections
      }
      @OnClose() bye() {
        sizeInOnClose(members.size)
      }
    }
    @Module({ gateways: [Counting] })
    class M {}
    t = await createTestApp(M)
    const client = await t.connect('/count')
    expect(members.size).to.equal(1)
    await client.close()
    expect(await closed).to.equal(0)
  })

  it('closes with 1009 a message above the gateway maxMessageSize', async () => {
    @Gateway('/small', { maxMessageSize: 16 })
    class Small {
      @OnText() echo(text: string) {
        return text
      }
    }
    @Gateway('/large')
    class Large {
      @OnText() echo(text: string) {
        return text.length
      }
    }
    @Gateway('/huge', { maxMessageSize: 4096 })
    class Huge {
      @OnText() echo(text: string) {
        return text.length
      }
    }
    @Module({ gateways: [Small, Large, Huge] })
    class M {}
    t = await createTestApp(M, { maxMessageSize: 1024 })
    const small = await t.connect('/small')
    small.send('x'.repeat(16))
    expect(await small.nextText()).to.equal('x'.repeat(16))
    small.send('x'.repeat(17))
    await small.expectClose(1009)
    const large = await t.connect('/large')
    large.send('x'.repeat(1000))
    expect(await large.nextJson()).to.equal(1000)
    large.send('x'.repeat(1025))
    await large.expectClose(1009)
    // A gateway may also allow more than the app.
    const huge = await t.connect('/huge')
    huge.send('x'.repeat(4096))
    expect(await huge.nextJson()).to.equal(4096)
  })

  it('asks the transport for streams only where a handler streams, per protocol', async () => {
    @Gateway('/files', { protocols: ['stream.v1', 'whole.v1'] })
    class Files {
      @OnBinary({ stream: true, protocol: 'stream.v1' }) streamed(data: Readable) {
        return `stream ${typeof data.pipe}`
      }
      @OnBinary() whole(data: Buffer) {
        return `buffer ${Buffer.isBuffer(data)} ${data.length}`
      }
    }
    @Module({ gateways: [Files] })
    class M {}
    t = await createTestApp(M)
    const streamed = await t.connect('/files', { protocols: ['stream.v1'] })
    const whole = await t.connect('/files', { protocols: ['whole.v1'] })
    streamed.send(Buffer.alloc(10))
    whole.send(Buffer.alloc(10))
    expect(await streamed.nextText()).to.equal('stream function')
    expect(await whole.nextText()).to.equal('buffer true 10')
    expect([...t.app.connections(Files)].map((c) => c.request?.binaryMode).sort()).to.deep.equal(['buffer', 'stream'])
  })

  it('terminates a connection that does not answer the heartbeat, per gateway', async () => {
    @Gateway('/beat', { heartbeatInterval: 20 })
    class Beat {
      private pongs = 0
      @OnPong() pong(payload: Buffer, conn: Connection) {
        // Tell the peer once that its pong reached the gateway.
        if (++this.pongs === 1) conn.sendText(`pong ${payload.length}`)
      }
    }
    @Gateway('/quiet')
    class Quiet {
      @OnText() echo(text: string) {
        return text
      }
    }
    @Module({ gateways: [Beat, Quiet] })
    class M {}
    t = await createTestApp(M)
    const silent = await connectPeer(`${t.url}/beat`, { autoPong: false })
    const answering = await connectPeer(`${t.url}/beat`)
    expect((await deadline(silent.closed, 2000, 'terminating the peer that does not answer the heartbeat')).code).to.equal(1006)
    expect(silent.pings.length).to.be.greaterThan(0)
    expect(answering.ws.readyState).to.equal(answering.ws.OPEN)
    expect(await answering.next()).to.equal('pong 0')
    expect(answering.pings.length).to.be.greaterThan(0)
    const quiet = await connectPeer(`${t.url}/quiet`)
    quiet.send('no pings here')
    expect(await quiet.next()).to.equal('no pings here')
    expect(quiet.pings).to.deep.equal([])
  })

  describe('DefinitionError at bootstrap', () => {
    it('rejects two gateways on one path', () => {
      @Gateway('/rooms/:id')
      class A {}
      @Gateway('/rooms/:room')
      class B {}
      @Module({ gateways: [A, B] })
      class M {}
      expect(() => bootstrap(M)).to.throw(DefinitionError, /B: two gateways on one path: A is at "\/rooms\/:id" and B at "\/rooms\/:room"/)
    })

    it('rejects a gateway that is not decorated and an unresolvable constructor parameter', () => {
      class NotAGateway {}
      @Module({ gateways: [NotAGateway] })
      class M1 {}
      expect(() => bootstrap(M1)).to.throw(DefinitionError, /NotAGateway: .*not decorated with @Gateway/)
      class Missing {}
      @Gateway('/x')
      class NeedsMissing {
        constructor(readonly missing: Missing) {}
      }
      @Module({ gateways: [NeedsMissing] })
      class M2 {}
      expect(() => bootstrap(M2)).to.throw(DefinitionError, /NeedsMissing\.constructor parameter #0 \(Missing\): cannot resolve Missing/)
    })

    it('rejects invalid app options', () => {
      @Module({})
      class M {}
      expect(() => bootstrap(M, { heartbeatInterval: -5 })).to.throw(DefinitionError, /heartbeatInterval/)
    })
  })
})
