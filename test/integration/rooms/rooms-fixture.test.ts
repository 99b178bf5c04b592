import { expect } from 'chai'
import { closePeers, connectPeer, type WsPeer } from '../framework/ws-peer'
import { RedisServer, requireRedisServer } from '../../helpers/redis-server'
import { killRoomsProcesses, RoomsProcess } from '../../helpers/rooms-process'

/** The next message, or a failure naming what was awaited. */
async function next(peer: WsPeer, what: string, ms = 5000): Promise<string | Buffer> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no message within ${ms} ms: ${what}`)), ms)
  })
  try {
    return await Promise.race([peer.next(), deadline])
  } finally {
    clearTimeout(timer)
  }
}

interface Who {
  room: string
  count: number
  members: string[]
}

async function who(peer: WsPeer): Promise<Who> {
  peer.send('/who')
  return JSON.parse(String(await next(peer, '/who answer'))) as Who
}

/** Asks /who until `done` holds (presence settles asynchronously across instances), bounded. */
async function whoUntil(peer: WsPeer, done: (w: Who) => boolean, what: string, ms = 10_000): Promise<Who> {
  const until = Date.now() + ms
  let last = await who(peer)
  while (!done(last) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    last = await who(peer)
  }
  expect(done(last), `${what}; last /who: ${JSON.stringify(last)}`).to.equal(true)
  return last
}

/**
 * Checks that every member but the sender gets each message of `sender` exactly once and in
 * order, text and binary intact: a numbered run, then a marker from every receiver shows that
 * nothing more (no duplicate) was queued before it.
 */
async function checkDelivery(sender: WsPeer, receivers: WsPeer[], count: number): Promise<void> {
  const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x7f])
  sender.send(binary)
  for (let i = 0; i < count; i++) sender.send(`msg ${i} ✓`)
  for (const [r, receiver] of receivers.entries()) {
    const first = await next(receiver, `receiver ${r}: the binary message`)
    expect(Buffer.isBuffer(first) && first.equals(binary), `receiver ${r} got the binary bytes unchanged`).to.equal(true)
    for (let i = 0; i < count; i++) expect(await next(receiver, `receiver ${r}: message ${i}`)).to.equal(`msg ${i} ✓`)
  }
  // A marker from the sender's side: had anything been delivered twice, it would come before.
  const marker = receivers[0]
  marker.send('marker')
  for (const [r, receiver] of receivers.slice(1).entries()) expect(await next(receiver, `receiver ${r + 1}: the marker`)).to.equal('marker')
  expect(await next(sender, 'the sender: the marker (nothing of its own came back)')).to.equal('marker')
}

/** Waits until `instances` instances subscribe to the room's Redis channel (interest is established asynchronously). */
async function subscribedInstances(redis: RedisServer, room: string, instances: number): Promise<void> {
  const channel = `gatewire:/rooms/:room#${room}`
  const until = Date.now() + 10_000
  let count = 0
  while (Date.now() < until) {
    const reply = await redis.cli('PUBSUB', 'NUMSUB', channel)
    count = Number(reply.split('\n')[1])
    if (count >= instances) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  expect(count, `instances subscribed to ${channel}`).to.equal(instances)
}

describe('npm run rooms (the rooms fixture)', function () {
  this.timeout(60_000)

  afterEach(async () => {
    closePeers()
    await killRoomsProcesses()
  })

  it('relays room messages to the other members, answers /who, and exits 0 with 1001 on SIGTERM', async () => {
    const rooms = await RoomsProcess.start()
    const alice = await connectPeer(rooms.url('lobby', 'alice'))
    const bob = await connectPeer(rooms.url('lobby', 'bob'))
    const anon = await connectPeer(rooms.url('lobby'))
    const elsewhere = await connectPeer(rooms.url('attic', 'eve'))
    await checkDelivery(alice, [bob, anon], 50)
    expect(await who(alice)).to.deep.equal({ room: 'lobby', count: 3, members: ['alice', 'anon', 'bob'] })
    expect(await who(elsewhere)).to.deep.equal({ room: 'attic', count: 1, members: ['eve'] })
    rooms.kill('SIGTERM')
    const closes = await Promise.all([alice.closed, bob.closed, anon.closed, elsewhere.closed])
    expect(closes.map((c) => c.code)).to.deep.equal([1001, 1001, 1001, 1001])
    expect(await rooms.exited).to.deep.equal({ code: 0, signal: null })
  })

  it('shares rooms and presence between --workers 2 on one port (cluster broker through the primary)', async () => {
    const rooms = await RoomsProcess.start(['--workers', '2'])
    // Round robin spreads connections over the workers: eight members land on both.
    const peers: WsPeer[] = []
    for (let i = 0; i < 8; i++) peers.push(await connectPeer(rooms.url('w', `p${i}`)))
    await whoUntil(peers[0], (w) => w.count === 8, 'every member of both workers in presence')
    await checkDelivery(peers[0], peers.slice(1), 30)
    rooms.kill('SIGTERM')
    const closes = await Promise.all(peers.map((p) => p.closed))
    expect(new Set(closes.map((c) => c.code))).to.deep.equal(new Set([1001]))
    expect(await rooms.exited).to.deep.equal({ code: 0, signal: null })
  })

  describe('with --redis, two instances', function () {
    let redis: RedisServer | undefined

    before(function () {
      requireRedisServer(this)
    })

    beforeEach(async () => {
      redis = await RedisServer.start()
    })

    afterEach(async () => {
      closePeers()
      await killRoomsProcesses()
      await redis?.destroy()
      redis = undefined
    })

    it('delivers across instances exactly once and in order, without echoing to the sender, with presence', async () => {
      const [a, b] = await Promise.all([RoomsProcess.start(['--redis', redis!.url]), RoomsProcess.start(['--redis', redis!.url])])
      const alice = await connectPeer(a.url('lobby', 'alice'))
      const carol = await connectPeer(a.url('lobby', 'carol'))
      const bob = await connectPeer(b.url('lobby', 'bob'))
      const dave = await connectPeer(b.url('lobby', 'dave'))
      await whoUntil(bob, (w) => w.count === 4, 'presence of both instances')
      await subscribedInstances(redis!, 'lobby', 2)
      expect(await who(alice)).to.deep.equal({ room: 'lobby', count: 4, members: ['alice', 'bob', 'carol', 'dave'] })
      await checkDelivery(alice, [carol, bob, dave], 300)
      await checkDelivery(dave, [alice, carol, bob], 50)
    })

    it('drops the members of a killed instance from presence after the expiry', async () => {
      const [a, b] = await Promise.all([
        RoomsProcess.start(['--redis', redis!.url, '--presence-expiry-ms', '2000']),
        RoomsProcess.start(['--redis', redis!.url, '--presence-expiry-ms', '2000']),
      ])
      const alice = await connectPeer(a.url('p', 'alice'))
      await connectPeer(b.url('p', 'bob'))
      await whoUntil(alice, (w) => w.count === 2, 'both members in presence')
      b.kill('SIGKILL')
      await b.exited
      const started = Date.now()
      await whoUntil(alice, (w) => w.count === 1 && w.members[0] === 'alice', "bob gone once his instance's presence expired", 10_000)
      expect(Date.now() - started, 'expired within the 2 s expiry plus a heartbeat').to.be.below(8000)
    })

    it('shares rooms between --workers 2 --redis and a second instance', async () => {
      const [a, b] = await Promise.all([RoomsProcess.start(['--redis', redis!.url, '--workers', '2']), RoomsProcess.start(['--redis', redis!.url])])
      const peers: WsPeer[] = []
      for (let i = 0; i < 4; i++) peers.push(await connectPeer(a.url('x', `a${i}`)))
      peers.push(await connectPeer(b.url('x', 'b0')))
      await whoUntil(peers[4], (w) => w.count === 5, 'members of both workers and the other instance')
      // Worker 1 and 2 of the cluster talk to Redis themselves: three instances.
      await subscribedInstances(redis!, 'x', 3)
      await checkDelivery(peers[4], peers.slice(0, 4), 50)
      await checkDelivery(peers[1], [peers[0], peers[2], peers[3], peers[4]], 20)
    })
  })
})
