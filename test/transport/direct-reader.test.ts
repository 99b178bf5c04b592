import { expect } from 'chai'
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import WebSocket from 'ws'
import { Server, type Connection } from '../../src'
import { maskableBuffer, maskSimdFunctions } from '../../src/protocol/maskable-buffer'
import { DirectReader } from '../../src/transport/direct-reader'
import { deadline } from '../helpers/deadline'
import { selfSignedCertificate } from '../helpers/self-signed'
import { closeRecorder, listen, next, RawPeer, releaseAll, tcp, track, upgradeRequest, wireFrame } from '../helpers/transport-harness'

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

/** Waits (bounded poll) until the server side of `conn` has read `bytes` bytes: what was sent so far arrived in reads of its own. */
async function readUpTo(conn: Connection, bytes: number): Promise<void> {
  for (let i = 0; conn.socket.bytesRead < bytes; i++) {
    if (i > 500) expect.fail(`the server read ${conn.socket.bytesRead} of ${bytes} bytes`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** A bounded poll for `condition`, failing with `what`. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; !condition(); i++) {
    if (i > 1000) expect.fail(what)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Decodes the unmasked frames a server sends after its 101 (payload lengths < 2^32). */
function serverFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = []
  let at = 0
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1] & 0x7f
    let header = 2
    if (length === 126) (length = bytes.readUInt16BE(at + 2)), (header = 4)
    else if (length === 127) (length = bytes.readUInt32BE(at + 6)), (header = 10)
    if (at + header + length > bytes.length) break
    frames.push({ opcode: bytes[at] & 0x0f, payload: bytes.subarray(at + header, at + header + length) })
    at += header + length
  }
  return frames
}

describe('transport/direct-reader', () => {
  afterEach(releaseAll)

  it('keeps the shared read buffer in the WebAssembly memory where unmasking runs as SIMD code', function () {
    const buffer = DirectReader.buffer()
    expect(buffer.length).to.equal(64 * 1024)
    expect(DirectReader.buffer(), 'one buffer for the process').to.equal(buffer)
    // Starts the SIMD module if the read buffer did not (a 1-byte buffer of its memory).
    const simd = maskSimdFunctions() ?? (maskableBuffer(1), maskSimdFunctions())
    // No WebAssembly SIMD on this Node, or GATEWIRE_WASM_SIMD=off: an ordinary buffer is right.
    if (simd === null) this.skip()
    expect(buffer.buffer, 'the shared read buffer is a view of the SIMD memory').to.equal(simd.memory)
  })

  describe('every plain TCP socket, from its first read', () => {
    it('reads directly through listen() and through an attached http.Server', async () => {
      const direct = await rawPair()
      direct.peer.send(wireFrame(Op.Text, 'hello'))
      await deadline(direct.arrived(1), 5_000, 'the message never arrived')
      expect(readsDirectly(direct.conn), 'listen()').to.equal(true)

      const httpServer = http.createServer()
      track(() => new Promise<void>((resolve) => httpServer.close(() => resolve())))
      const server = new Server({ heartbeatInterval: 0 }).attach(httpServer)
      track(() => new Promise<void>((resolve) => server.close(() => resolve())))
      const opened = next<[Connection]>(server, 'connection')
      await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve))
      const peer = await RawPeer.connect((httpServer.address() as AddressInfo).port)
      const [conn] = await opened
      const text = next<[string]>(conn, 'text')
      peer.send(wireFrame(Op.Text, 'through http.Server'))
      expect((await deadline(text, 5_000, 'the message never arrived'))[0]).to.equal('through http.Server')
      expect(readsDirectly(conn), 'attach(http.Server)').to.equal(true)
    })

    it('keeps binary messages a handler holds on to intact while later reads reuse the read buffer', async function () {
      this.timeout(20_000)
      const { peer, conn, messages, arrived } = await rawPair()
      const sent: Buffer[] = []
      let bytes = 0
      for (let i = 0; i < 300; i++) {
        const payload = randomBytes(1 + ((i * 977) % 3000))
        sent.push(payload)
        const frame = wireFrame(Op.Binary, payload)
        bytes += frame.length
        peer.send(frame)
        // Some reads of one message, some of several.
        if (i % 7 === 0) await readUpTo(conn, bytes)
      }
      await deadline(arrived(300), 10_000, 'not every message arrived')
      expect(readsDirectly(conn)).to.equal(true)
      expect((messages as Buffer[]).map(sha)).to.deep.equal(sent.map(sha))
    })

    it('delivers messages that span reads intact: UTF-8 split inside a character, ASCII, binary, fragments, a split header', async function () {
      this.timeout(20_000)
      const { peer, conn, messages, arrived } = await rawPair()
      let bytes = 0
      /** Sends `wire` in pieces cut at `cuts`, each piece read by the server before the next is sent. */
      const sendInReads = async (wire: Buffer, cuts: number[]): Promise<void> => {
        let from = 0
        for (const cut of [...cuts, wire.length]) {
          peer.send(wire.subarray(from, cut))
          bytes += cut - from
          from = cut
          await readUpTo(conn, bytes)
        }
      }
      const utf8 = 'ж€😀a'.repeat(3000)
      const ascii = 'x'.repeat(100 * KiB)
      const binary = randomBytes(40 * KiB)
      const utf8Wire = wireFrame(Op.Text, utf8)
      // Cuts inside the header, inside the mask, and (the header is 8 bytes) inside 3- and 4-byte characters.
      await sendInReads(utf8Wire, [1, 6, 8 + 3, 8 + 11 * 100 + 5, 8 + 20_000 + 2])
      await sendInReads(wireFrame(Op.Text, ascii), [20 * KiB, 60 * KiB])
      await sendInReads(wireFrame(Op.Binary, binary), [3, 10 * KiB, 30 * KiB])
      const first = wireFrame(Op.Text, 'frag-one ', { fin: false })
      const second = wireFrame(0x0, 'frag-two ', { fin: false })
      const third = wireFrame(0x0, 'frag-€', { fin: true })
      await sendInReads(Buffer.concat([first, second, third]), [first.length, first.length + 4, first.length + second.length])
      // Small messages after them overwrite the read buffer again.
      await sendInReads(Buffer.concat([wireFrame(Op.Text, 'after'), wireFrame(Op.Binary, Buffer.from('tail'))]), [])
      await deadline(arrived(6), 10_000, 'not every message arrived')
      expect(messages[0]).to.equal(utf8)
      expect(messages[1]).to.equal(ascii)
      expect(sha(messages[2] as Buffer)).to.equal(sha(binary))
      expect(messages[3]).to.equal('frag-one frag-two frag-€')
      expect(messages[4]).to.equal('after')
      expect(messages[5]).to.deep.equal(Buffer.from('tail'))
    })

    it('echoes texts over 4 KiB received whole, at once and again after the read, while its output queues', async function () {
      this.timeout(30_000)
      const listening = await listen({}, (conn) =>
        conn.on('text', (text: string) => {
          conn.sendText(text)
          // After the read: the bytes it was decoded from have been overwritten by then.
          setImmediate(() => conn.sendText(text))
        }),
      )
      const [peer, conn] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
      // The peer reads nothing for a while, so the echoes wait in the socket's queue.
      peer.socket.pause()
      const texts = Array.from({ length: 400 }, (_, i) => `${i}:`.padEnd(6 * KiB + i, String.fromCharCode(97 + (i % 26))))
      let bytes = 0
      for (const [i, text] of texts.entries()) {
        const frame = wireFrame(Op.Text, text)
        bytes += frame.length
        peer.send(frame)
        if (i % 10 === 0) await readUpTo(conn, bytes)
      }
      await until(() => conn.bufferedAmount > 0 || conn.socket.writableLength > 0, 'the echoes never queued')
      peer.socket.resume()
      const echoes = await deadline(Promise.all(texts.flatMap(() => [peer.opcodeFrame(Op.Text), peer.opcodeFrame(Op.Text)])), 20_000, 'not every echo came back')
      const received = echoes.map((frame) => frame.payload.toString())
      // Each text comes back twice; the copies sent after the read may come later than the next text's.
      expect([...received].sort()).to.deep.equal(texts.flatMap((t) => [t, t]).sort())
    })

    it('hands ping payloads over intact to a listener that keeps them, and answers each', async function () {
      this.timeout(10_000)
      const { peer, conn, arrived } = await rawPair()
      const pings: Buffer[] = []
      conn.on('ping', (payload: Buffer) => pings.push(payload))
      let bytes = 0
      for (let i = 0; i < 40; i++) {
        const wire = Buffer.concat([wireFrame(Op.Ping, `ping ${i}`), wireFrame(Op.Binary, randomBytes(100 + i))])
        bytes += wire.length
        peer.send(wire)
        if (i % 3 === 0) await readUpTo(conn, bytes)
      }
      await deadline(arrived(40), 5_000, 'not every message arrived')
      expect(pings.map(String)).to.deep.equal(Array.from({ length: 40 }, (_, i) => `ping ${i}`))
      const pongs = await deadline(Promise.all(pings.map(() => peer.opcodeFrame(Op.Pong))), 5_000, 'not every pong came')
      expect(pongs.map((f) => f.payload.toString())).to.deep.equal(pings.map(String))
    })

    it('pauses for a streamed message nobody reads yet, keeps what arrives meanwhile in order, and resumes', async function () {
      this.timeout(20_000)
      const listening = await listen({ binaryMode: 'stream' })
      const [peer, conn] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
      const streams: Readable[] = []
      const texts: string[] = []
      conn.on('binary', (stream: Readable) => streams.push(stream))
      conn.on('text', (text: string) => texts.push(text))
      const payload = randomBytes(2 * MiB)
      peer.send(Buffer.concat([wireFrame(Op.Binary, payload), ...Array.from({ length: 50 }, (_, i) => wireFrame(Op.Text, `after ${i}`))]))
      await until(() => streams.length === 1, 'the streamed message never started')
      const handle = (conn.socket as unknown as { _handle: { reading: boolean } })._handle
      // Nobody reads the stream: the socket stops reading once its stream buffer is full.
      await until(() => !handle.reading, 'reading never stopped')
      expect(texts).to.deep.equal([])
      const chunks: Buffer[] = []
      for await (const chunk of streams[0]) chunks.push(chunk as Buffer)
      expect(sha(Buffer.concat(chunks))).to.equal(sha(payload))
      await until(() => texts.length === 50, `${texts.length} of the 50 texts after it arrived`)
      expect(texts).to.deep.equal(Array.from({ length: 50 }, (_, i) => `after ${i}`))
      expect(readsDirectly(conn)).to.equal(true)
    })

    it('notices a peer that resets while reading is paused for a streamed message', async function () {
      this.timeout(10_000)
      const listening = await listen({ binaryMode: 'stream' })
      const [peer, conn] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
      const closes = closeRecorder(conn)
      conn.on('error', () => {})
      conn.on('binary', (stream: Readable) => stream.on('error', () => {}))
      peer.send(wireFrame(Op.Binary, randomBytes(40 * KiB)).subarray(0, 30 * KiB))
      await deadline(next(conn, 'binary'), 5_000, 'the streamed message never started')
      peer.socket.resetAndDestroy()
      expect((await deadline(closes.closed, 5_000, 'the reset was not noticed')).code).to.equal(1006)
    })

    it('relays compressed texts received whole, at once and after the read', async function () {
      this.timeout(10_000)
      const listening = await listen({ compression: true }, (conn) =>
        conn.on('text', (text: string) => {
          conn.sendText(text)
          setImmediate(() => conn.sendText(text))
        }),
      )
      const client = new WebSocket(listening.url, { perMessageDeflate: { clientNoContextTakeover: true, serverNoContextTakeover: true, threshold: 0 } })
      track(() => client.terminate())
      await deadline(next(client, 'open'), 5_000, 'the ws client never opened')
      const received: string[] = []
      const all = new Promise<void>((resolve) =>
        client.on('message', (data: Buffer) => {
          received.push(data.toString())
          if (received.length === 200) resolve()
        }),
      )
      const texts = Array.from({ length: 100 }, (_, i) => `{"message":${i},"text":"${'hello '.repeat(20 + i)}"}`)
      for (const text of texts) client.send(text)
      await deadline(all, 8_000, `${received.length} of 200 echoes came back`)
      expect([...received].sort()).to.deep.equal(texts.flatMap((t) => [t, t]).sort())
    })

    for (const via of ['listen()', 'an attached http.Server'] as const) {
      it(`parses frames that came with the handshake (the head) through ${via}, then reads directly`, async () => {
        let port: number
        let connections: Server
        if (via === 'listen()') {
          const listening = await listen()
          port = listening.port
          connections = listening.server
        } else {
          const httpServer = http.createServer()
          track(() => new Promise<void>((resolve) => httpServer.close(() => resolve())))
          connections = new Server({ heartbeatInterval: 0 }).attach(httpServer)
          const server = connections
          track(() => new Promise<void>((resolve) => server.close(() => resolve())))
          await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve))
          port = (httpServer.address() as AddressInfo).port
        }
        const echoed: Connection[] = []
        connections.on('connection', (conn: Connection) => {
          echoed.push(conn)
          conn.on('message', (data: string | Buffer) => (typeof data === 'string' ? conn.sendText(data) : conn.sendBinary(data)))
        })
        const socket = await tcp(port)
        let received = Buffer.alloc(0)
        socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])))
        const binary = randomBytes(3000)
        socket.write(Buffer.concat([Buffer.from(upgradeRequest()), wireFrame(Op.Text, 'in the head'), wireFrame(Op.Binary, binary)]))
        const frames = (): { opcode: number; payload: Buffer }[] => {
          const end = received.indexOf('\r\n\r\n')
          return end === -1 ? [] : serverFrames(received.subarray(end + 4))
        }
        await until(() => frames().length >= 2, 'the messages of the head were not echoed')
        socket.write(wireFrame(Op.Text, 'after the head'))
        await until(() => frames().length >= 3, 'the message after the head was not echoed')
        const [text, data, after] = frames()
        expect(received.subarray(0, 12).toString()).to.equal('HTTP/1.1 101')
        expect(text.payload.toString()).to.equal('in the head')
        expect(sha(data.payload)).to.equal(sha(binary))
        expect(after.payload.toString()).to.equal('after the head')
        expect(readsDirectly(echoed[0])).to.equal(true)
      })
    }
  })

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
      // Small messages after it, several per read, through the same 'data' events.
      const texts = Array.from({ length: 30 }, (_, i) => `small ${i}`)
      const echoes: string[] = []
      const all = new Promise<void>((resolve) => client.on('message', (d: Buffer, isBinary: boolean) => (isBinary ? null : echoes.push(d.toString())) === 30 && resolve()))
      connections[0].on('text', (text: string) => connections[0].sendText(text))
      for (const text of texts) client.send(text)
      await deadline(all, 5_000, 'not every small echo came back')
      expect(echoes).to.deep.equal(texts)
      expect(readsDirectly(connections[0])).to.equal(false)
    })
  })
})
