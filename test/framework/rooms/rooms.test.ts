import { expect } from 'chai'
import {
  Conn,
  Gateway,
  GatewayConnections,
  Inject,
  Injectable,
  InProcessHub,
  Module,
  OnBinary,
  OnConnect,
  OnText,
  Param,
  Payload,
  Query,
  bootstrap,
  connectionsOf,
  type Application,
  type Connection,
} from '../../../src'
import { closePeers, connectPeer, type WsPeer } from '../../integration/framework/ws-peer'

interface Nick {
  nick: string
}

@Gateway('/room/:name')
class RoomGateway {
  constructor(readonly connections: GatewayConnections) {}

  @OnConnect()
  enter(@Conn() conn: Connection, @Param('name') name: string, @Query('nick') nick: string | undefined): void {
    this.connections.room<Nick>(name).join(conn, { nick: nick ?? 'anon' })
  }

  @OnText()
  async text(@Conn() conn: Connection, @Payload() text: string, @Param('name') name: string): Promise<string | undefined> {
    const room = this.connections.room<Nick>(name)
    if (text === '/who') {
      const presence = await room.presence()
      return JSON.stringify({ count: presence.count, nicks: presence.members.map((m) => m.data.nick).sort() })
    }
    if (text === '/leave') {
      room.leave(conn)
      return `left:${String(room.has(conn))}:${this.connections.roomsOf(conn).length}`
    }
    if (text.startsWith('/all ')) {
      this.connections.sendToAll(text.slice(5), { except: conn })
      return undefined
    }
    room.send(text, { except: conn })
    return undefined
  }

  @OnBinary()
  binary(@Conn() conn: Connection, @Payload() bytes: Buffer, @Param('name') name: string): void {
    this.connections.room(name).send(bytes, { except: conn })
  }
}

/** A second gateway with a room of the same name: rooms of different gateways never mix. */
@Gateway('/other/:name')
class OtherGateway {
  constructor(readonly connections: GatewayConnections) {}
  @OnConnect()
  enter(@Conn() conn: Connection, @Param('name') name: string): void {
    this.connections.room(name).join(conn)
  }
}

@Injectable()
class Announcer {
  constructor(@Inject(connectionsOf(RoomGateway)) private readonly rooms: GatewayConnections) {}
  announce(room: string, text: string): number {
    return this.rooms.room(room).sendEvent('announce', text)
  }
}

@Module({ gateways: [RoomGateway, OtherGateway], providers: [Announcer] })
class RoomsModule {}

describe('framework rooms', () => {
  let apps: Application[] = []
  let hub: InProcessHub

  beforeEach(() => {
    hub = new InProcessHub()
  })

  afterEach(async () => {
    closePeers()
    await Promise.all(apps.map((app) => app.close()))
    apps = []
  })

  async function start(): Promise<string> {
    const app = await bootstrap(RoomsModule, { broker: hub.broker(), logger: false, heartbeatInterval: 0 }).listen(0, '127.0.0.1')
    apps.push(app)
    const address = app.address()
    return `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  }

  /** Resolves with the next message, or fails naming what was awaited. */
  async function next(peer: WsPeer, what: string): Promise<string | Buffer> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no message within 3 s: ${what}`)), 3000)
    })
    try {
      return await Promise.race([peer.next(), deadline])
    } finally {
      clearTimeout(timer)
    }
  }

  it('delivers a room message to the other members on every instance, never back to the sender', async () => {
    const [a, b] = [await start(), await start()]
    const alice = await connectPeer(`${a}/room/lobby?nick=alice`)
    const bob = await connectPeer(`${b}/room/lobby?nick=bob`)
    const carol = await connectPeer(`${a}/room/lobby?nick=carol`)
    const elsewhere = await connectPeer(`${b}/room/attic?nick=dave`)
    alice.send('hello')
    expect(await next(bob, 'bob on the other instance')).to.equal('hello')
    expect(await next(carol, 'carol on the same instance')).to.equal('hello')
    // A message of their own, after it, shows that alice and dave got nothing in between.
    bob.send('ping from bob')
    expect(await next(alice, 'alice')).to.equal('ping from bob')
    elsewhere.send('attic only')
    carol.send('marker')
    expect(await next(alice, 'alice after the attic message')).to.equal('marker')
  })

  it('keeps binary bytes intact and the order of one sender', async () => {
    const [a, b] = [await start(), await start()]
    const alice = await connectPeer(`${a}/room/r1`)
    const bob = await connectPeer(`${b}/room/r1`)
    const bytes = Buffer.from([0, 255, 1, 254, 0x80])
    alice.send(bytes)
    for (let i = 0; i < 200; i++) alice.send(`m${i}`)
    const first = await next(bob, 'the binary message')
    expect(Buffer.isBuffer(first) && first.equals(bytes), 'binary bytes unchanged').to.equal(true)
    const received: string[] = []
    for (let i = 0; i < 200; i++) received.push(String(await next(bob, `message ${i}`)))
    expect(received).to.deep.equal(Array.from({ length: 200 }, (_, i) => `m${i}`))
  })

  it('gives presence across instances, and a closed member leaves it', async () => {
    const [a, b] = [await start(), await start()]
    const alice = await connectPeer(`${a}/room/p?nick=alice`)
    const bob = await connectPeer(`${b}/room/p?nick=bob`)
    alice.send('/who')
    expect(JSON.parse(String(await next(alice, '/who')))).to.deep.equal({ count: 2, nicks: ['alice', 'bob'] })
    bob.ws.close()
    await bob.closed
    // The server side of bob's close may trail the client's: ask until it shows, bounded.
    let answer: unknown
    for (let i = 0; i < 50; i++) {
      alice.send('/who')
      answer = JSON.parse(String(await next(alice, '/who after bob left')))
      if ((answer as { count: number }).count === 1) break
    }
    expect(answer).to.deep.equal({ count: 1, nicks: ['alice'] })
  })

  it('leave() takes a connection out of its room', async () => {
    const url = await start()
    const alice = await connectPeer(`${url}/room/x`)
    const bob = await connectPeer(`${url}/room/x`)
    bob.send('/leave')
    expect(await next(bob, '/leave answer')).to.equal('left:false:0')
    alice.send('after leave')
    bob.send('/who')
    expect(JSON.parse(String(await next(bob, '/who')))).to.deep.equal({ count: 1, nicks: ['anon'] })
  })

  it('sendToAll reaches every connection of the gateway on every instance, and only that gateway', async () => {
    const [a, b] = [await start(), await start()]
    const alice = await connectPeer(`${a}/room/one`)
    const bob = await connectPeer(`${b}/room/two`)
    const other = await connectPeer(`${b}/other/one`)
    alice.send('/all everyone')
    expect(await next(bob, 'bob in another room on the other instance')).to.equal('everyone')
    // other's gateway is not addressed: the room message below is the first it could see.
    const announcer = apps[0].get(Announcer)
    expect(announcer.announce('one', 'rooms of the same name in two gateways')).to.equal(1)
    expect(JSON.parse(String(await next(alice, 'the announcement')))).to.deep.equal({ event: 'announce', data: 'rooms of the same name in two gateways' })
    other.ws.ping()
    await new Promise((resolve) => other.ws.once('pong', resolve))
    expect(await Promise.race([other.next(), Promise.resolve('nothing')])).to.equal('nothing')
  })

  it('refuses an empty or oversized room name with a clear error', async () => {
    await start()
    const connections = apps[0].connections(RoomGateway)
    expect(() => connections.room('')).to.throw(RangeError, /room name/)
    expect(() => connections.room('x'.repeat(513))).to.throw(RangeError, /room name/)
  })
})
