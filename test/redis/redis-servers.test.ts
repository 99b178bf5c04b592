import { expect } from 'chai'
import WebSocket from 'ws'
import { createServer } from '../../src/transport'
import type { Server } from '../../src/transport'
import { redisBroker } from '../../src/redis'
import type { RedisBroker } from '../../src/redis'
import { useRedisServer } from '../helpers/redis-hooks'

/** A ws client that records what it receives and lets a test await a count (bounded, clear failure). */
class Member {
  readonly received: Array<{ data: Buffer; binary: boolean }> = []
  private waiter: (() => void) | null = null

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer, binary: boolean) => {
      this.received.push({ data, binary })
      this.waiter?.()
    })
  }

  until(count: number, what: string, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.received.length < count) return
        clearTimeout(timer)
        this.waiter = null
        resolve()
      }
      const timer = setTimeout(() => reject(new Error(`${what}: ${this.received.length} of ${count} messages after ${timeoutMs} ms`)), timeoutMs)
      this.waiter = check
      check()
    })
  }
}

describe('two gatewire servers sharing a Redis broker', function () {
  const redis = useRedisServer()
  const servers: Server[] = []
  const sockets: WebSocket[] = []

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate()
    await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
    await redis().cli('flushall')
  })

  /** A rooms server: `/ROOM?name=N` joins ROOM with presence { name }; every message goes to the room but the sender. */
  async function roomsServer(): Promise<Server> {
    const server = createServer({ binaryMode: 'buffer', broker: redisBroker({ url: redis().url, logger: false }) }, (connection) => {
      const room = (connection.request?.path ?? '/').slice(1)
      connection.subscribe(room, { presence: { name: connection.request?.query.get('name') ?? 'anon' } })
      connection.on('message', (data) => server.publish(room, data, { except: connection }))
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    await server.ready()
    return server
  }

  async function join(server: Server, path: string): Promise<Member> {
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false })
    sockets.push(socket)
    const member = new Member(socket)
    await new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    return member
  }

  async function synced(...list: Server[]): Promise<void> {
    await Promise.all(list.map((server) => (server.broker as RedisBroker).synced()))
  }

  it('delivers a room message to the members on both servers exactly once, not to the sender, bytes and opcode intact', async () => {
    const [a, b] = [await roomsServer(), await roomsServer()]
    const sender = await join(a, '/lobby?name=ann')
    const localPeer = await join(a, '/lobby?name=al')
    const remotePeer = await join(b, '/lobby?name=bob')
    const elsewhere = await join(b, '/other?name=eve')
    // The connection handler (subscribe, join) runs in the same tick the server writes its 101,
    // so it has run once the clients are open; synced() waits for Redis to acknowledge it.
    await synced(a, b)
    const binary = Buffer.from([0, 0xff, 0xc3, 0x28, 0x80])
    sender.socket.send('héllo')
    sender.socket.send(binary)
    for (let i = 0; i < 200; i++) sender.socket.send(`n${i}`)
    await localPeer.until(202, 'the local peer')
    await remotePeer.until(202, 'the remote peer')
    // A fence through b: anything duplicated to the remote peer would have arrived before it.
    remotePeer.socket.send('fence')
    await localPeer.until(203, 'the fence at the local peer')
    await sender.until(1, 'the fence at the sender')
    for (const member of [localPeer, remotePeer]) {
      expect(member.received.slice(0, 2).map((m) => [m.binary, m.data.toString('hex')])).to.deep.equal([
        [false, Buffer.from('héllo').toString('hex')],
        [true, binary.toString('hex')],
      ])
      expect(member.received.slice(2, 202).map((m) => m.data.toString())).to.deep.equal(Array.from({ length: 200 }, (_, i) => `n${i}`))
    }
    expect(remotePeer.received).to.have.length(202)
    expect(sender.received.map((m) => m.data.toString()), 'the sender got only the fence').to.deep.equal(['fence'])
    expect(elsewhere.received).to.have.length(0)
  })

  it('answers presence across both servers, and drops a member that disconnects', async () => {
    const [a, b] = [await roomsServer(), await roomsServer()]
    await join(a, '/lobby?name=ann')
    const bob = await join(b, '/lobby?name=bob')
    await join(b, '/other?name=eve')
    await synced(a, b)
    const names = async (server: Server): Promise<string[]> =>
      (await server.presence('lobby')).members.map((m) => (m.data as { name: string }).name).sort()
    expect(await names(a)).to.deep.equal(['ann', 'bob'])
    expect(await names(b)).to.deep.equal(['ann', 'bob'])
    const bobs = b.connections.find((connection) => connection.request?.path === '/lobby')
    expect(bobs, "bob's connection on b").to.not.equal(undefined)
    const closed = new Promise((resolve) => bobs?.once('close', resolve))
    bob.socket.close()
    await closed
    await synced(b)
    expect(await names(a)).to.deep.equal(['ann'])
  })
})
