import { expect } from 'chai'
import { createHash, randomBytes } from 'node:crypto'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import { Server, type Connection } from '../../src'
import { deadline } from '../helpers/deadline'
import { selfSignedCertificate } from '../helpers/self-signed'
import { closeRecorder, listen, next, RawPeer, releaseAll, track, wireFrame } from '../helpers/transport-harness'

const KiB = 1024
const MiB = 1024 * KiB
const Op = { Text: 0x1, Binary: 0x2, Ping: 0x9, Pong: 0xa } as const

/** Whether the socket reads through Node's onread mechanism (a DirectReader switched it). */
function readsDirectly(conn: Connection): boolean {
  const socket = conn.socket as unknown as Record<symbol, unknown>
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kBufferCb')
  return symbol !== undefined && typeof socket[symbol] === 'function'
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

/** A raw peer and the server-side connection, binary messages as Buffers, each recorded. */
async function rawPair(maxMessageSize = 64 * MiB): Promise<{ peer: RawPeer; conn: Connection; messages: (string | Buffer)[]; arrived: (count: number) => Promise<void> }> {
  const listening = await listen({ binaryMode: 'buffer', maxMessageSize })
  const [peer, conn] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
  const messages: (string | Buffer)[] = []
  const waiters: { count: number; resolve: () => void }[] = []
  conn.on('message', (data) => {
    messages.push(data)
    for (const waiter of waiters.filter((w) => messages.length >= w.count)) waiter.resolve()
  })
  const arrived = (count: number): Promise<void> =>
    messages.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))
  return { peer, conn, messages, arrived }
}

describe('transport/direct-reader', () => {
  afterEach(releaseAll)

  it('reads the rest of a 16 MiB binary message straight into its buffer and delivers it intact', async function () {
    this.timeout(20_000)
    const { peer, conn, messages, arrived } = await rawPair()
    const payload = randomBytes(16 * MiB)
    peer.send(wireFrame(Op.Binary, payload))
    await deadline(arrived(1), 10_000, 'the 16 MiB message never arrived')
    expect(readsDirectly(conn), 'switched to direct reads').to.equal(true)
    expect(sha(messages[0] as Buffer)).to.equal(sha(payload))
  })

  it('parses the frames that follow a large message in the same write, and answers a ping among them', async function () {
    this.timeout(20_000)
    const { peer, conn, messages, arrived } = await rawPair()
    const payload = randomBytes(4 * MiB + 5)
    peer.send(
      Buffer.concat([
        wireFrame(Op.Binary, payload),
        wireFrame(Op.Text, 'right after'),
        wireFrame(Op.Ping, 'are you there'),
        wireFrame(Op.Binary, Buffer.from([1, 2, 3])),
      ]),
    )
    await deadline(arrived(3), 10_000, 'the messages after the large one never arrived')
    expect(readsDirectly(conn)).to.equal(true)
    expect(sha(messages[0] as Buffer)).to.equal(sha(payload))
    expect(messages[1]).to.equal('right after')
    expect(messages[2]).to.deep.equal(Buffer.from([1, 2, 3]))
    const pong = await deadline(peer.opcodeFrame(Op.Pong), 5_000, 'no pong')
    expect(pong.payload.toString()).to.equal('are you there')
  })

  it('keeps every message received after the switch intact while later reads arrive (small, 20 KiB and 300 KiB ones)', async function () {
    this.timeout(30_000)
    const { peer, conn, messages, arrived } = await rawPair()
    peer.send(wireFrame(Op.Binary, randomBytes(2 * MiB)))
    await deadline(arrived(1), 10_000, 'the first large message never arrived')
    expect(readsDirectly(conn)).to.equal(true)
    const sent: Buffer[] = []
    for (let i = 0; i < 60; i++) {
      // Small and 20 KiB messages, several per read or one, and one more direct message.
      const size = i % 3 === 0 ? 24 + i : i % 3 === 1 ? 20 * KiB + i : i === 59 ? 300 * KiB : 3000 + i
      const payload = randomBytes(size)
      sent.push(payload)
      peer.send(wireFrame(Op.Binary, payload))
      // One message per read for some of them, several per read for the others.
      if (i % 4 === 0) await deadline(arrived(2 + i), 5_000, `message ${i} never arrived`)
    }
    await deadline(arrived(61), 10_000, 'not every message arrived')
    const received = messages.slice(1) as Buffer[]
    expect(received.map(sha)).to.deep.equal(sent.map(sha))
  })

  it('keeps the messages of two switched connections apart and intact (they share one read buffer)', async function () {
    this.timeout(30_000)
    const pairs = [await rawPair(), await rawPair()]
    for (const [index, { peer, arrived }] of pairs.entries()) {
      peer.send(wireFrame(Op.Binary, randomBytes(MiB + index)))
      await deadline(arrived(1), 10_000, `connection ${index}: the first large message never arrived`)
    }
    for (const { conn } of pairs) expect(readsDirectly(conn)).to.equal(true)
    const sent: Buffer[][] = [[], []]
    for (let i = 0; i < 40; i++) {
      for (const [index, { peer }] of pairs.entries()) {
        // Copied-out reads (small) and handed-over ones (20 KiB) on both connections, interleaved.
        const payload = randomBytes(i % 2 === 0 ? 100 + i + index : 20 * KiB + i + index)
        sent[index].push(payload)
        peer.send(wireFrame(Op.Binary, payload))
      }
      if (i % 5 === 0) for (const [index, { arrived }] of pairs.entries()) await deadline(arrived(2 + i), 5_000, `connection ${index}: message ${i} never arrived`)
    }
    for (const [index, { messages, arrived }] of pairs.entries()) {
      await deadline(arrived(41), 10_000, `connection ${index}: not every message arrived`)
      expect((messages.slice(1) as Buffer[]).map(sha), `connection ${index}'s messages`).to.deep.equal(sent[index].map(sha))
    }
  })

  it('echoes 24 MiB messages to a ws client, twice on one connection, byte for byte', async function () {
    this.timeout(30_000)
    const listening = await listen({ binaryMode: 'buffer', maxMessageSize: 32 * MiB }, (conn) => conn.on('binary', (data) => conn.sendBinary(data as unknown as Buffer)))
    const client = new WebSocket(listening.url, { maxPayload: 64 * MiB })
    track(() => client.terminate())
    await deadline(next(client, 'open'), 5_000, 'the ws client never opened')
    for (let round = 0; round < 2; round++) {
      const payload = randomBytes(24 * MiB)
      const echo = next<[Buffer]>(client, 'message')
      client.send(payload)
      const [data] = await deadline(echo, 15_000, `echo ${round} never came back`)
      expect(sha(data)).to.equal(sha(payload))
    }
  })

  it('reports 1006 when the peer goes away in the middle of a large message read directly', async function () {
    this.timeout(20_000)
    const { peer, conn, messages } = await rawPair()
    const closes = closeRecorder(conn)
    const wire = wireFrame(Op.Binary, randomBytes(8 * MiB))
    peer.send(wire.subarray(0, 5 * MiB))
    // A bounded poll: the switch happens once a quarter of the message has been read.
    for (let i = 0; !readsDirectly(conn); i++) {
      if (i > 500) expect.fail('the connection never switched to direct reads')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    peer.socket.destroy()
    expect((await deadline(closes.closed, 5_000, 'no close')).code).to.equal(1006)
    expect(messages).to.deep.equal([])
  })

  it('stops reading while the echo of a large message is unsent, and finishes once the peer reads', async function () {
    this.timeout(30_000)
    const listening = await listen({ binaryMode: 'buffer', maxMessageSize: 32 * MiB }, (conn) => conn.on('binary', (data) => conn.sendBinary(data as unknown as Buffer)))
    const [peer, conn] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
    peer.socket.pause()
    const payloads = [randomBytes(8 * MiB), randomBytes(8 * MiB), randomBytes(8 * MiB)]
    for (const payload of payloads) peer.send(wireFrame(Op.Binary, payload))
    const handle = (conn.socket as unknown as { _handle: { reading: boolean } })._handle
    for (let i = 0; handle.reading || conn.bufferedAmount === 0; i++) {
      if (i > 1000) expect.fail(`reading never paused (bufferedAmount ${conn.bufferedAmount})`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    // Paused with the first echo unsent: the server holds at most one echo and one message.
    expect(conn.bufferedAmount).to.be.at.most(8 * MiB + 16)
    peer.socket.resume()
    const echoes = await deadline(Promise.all([0, 1, 2].map(() => peer.opcodeFrame(Op.Binary))), 20_000, 'the echoes never came back')
    expect(echoes.map((e) => sha(e.payload))).to.deep.equal(payloads.map(sha))
    expect(readsDirectly(conn)).to.equal(true)
  })

  describe('over TLS', () => {
    let tls: { key: string; cert: string } | undefined

    before(function () {
      try {
        tls = selfSignedCertificate()
      } catch (error) {
        console.warn(`  SKIPPED TLS direct-read test: openssl is not available (${(error as Error).message})`)
        this.skip()
      }
    })

    it('keeps ordinary reads on a TLS socket and still delivers a large message intact', async function () {
      this.timeout(30_000)
      const httpsServer = https.createServer(tls!)
      track(() => new Promise<void>((resolve) => httpsServer.close(() => resolve())))
      const server = new Server({ heartbeatInterval: 0, binaryMode: 'buffer', maxMessageSize: 16 * MiB }).attach(httpsServer)
      track(() => new Promise<void>((resolve) => server.close(() => resolve())))
      const connections: Connection[] = []
      server.on('connection', (conn: Connection) => {
        connections.push(conn)
        conn.on('binary', (data) => conn.sendBinary(data as unknown as Buffer))
      })
      await new Promise<void>((resolve) => httpsServer.listen(0, '127.0.0.1', resolve))
      const port = (httpsServer.address() as AddressInfo).port
      const client = new WebSocket(`wss://localhost:${port}`, { ca: tls!.cert, maxPayload: 16 * MiB })
      track(() => client.terminate())
      await deadline(next(client, 'open'), 5_000, 'the wss client never opened')
      const payload = randomBytes(8 * MiB)
      const echo = next<[Buffer]>(client, 'message')
      client.send(payload)
      const [data] = await deadline(echo, 15_000, 'the echo never came back')
      expect(sha(data)).to.equal(sha(payload))
      expect(readsDirectly(connections[0])).to.equal(false)
    })
  })
})
