import { expect } from 'chai'
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Readable } from 'node:stream'
import { CloseCode, ConnectionStateError, ProtocolError, type Connection, type ServerOptions } from '../../src'
import {
  closePayload,
  closeRecorder,
  collect,
  listen,
  next,
  pair,
  RawPeer,
  releaseAll,
  track,
  wireFrame,
} from '../helpers/transport-harness'
import { deadline } from '../helpers/deadline'
import WebSocket from 'ws'

const MiB = 1024 * 1024
const Op = { Continuation: 0x0, Text: 0x1, Binary: 0x2, Close: 0x8, Ping: 0x9, Pong: 0xa } as const

/** A raw peer and the server-side connection it opened. */
async function rawPair(options: ServerOptions = {}): Promise<{ peer: RawPeer; conn: Connection }> {
  const listening = await listen(options)
  const [peer, conn] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
  return { peer, conn }
}

/**
 * Sends to a peer that has stopped reading until the kernel's buffers are full and at least
 * `target` bytes wait in user space (each round yields so the queued frames reach the socket).
 */
async function saturate(conn: Connection, target = 2 * MiB): Promise<void> {
  const chunk = Buffer.alloc(256 * 1024, 1)
  for (let sent = 0; conn.bufferedAmount < target; sent += chunk.length) {
    if (sent > 256 * MiB) throw new Error('the socket never filled up')
    conn.sendBinary(chunk)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

describe('transport/connection', () => {
  afterEach(releaseAll)

  describe('closing handshake', () => {
    it('server-initiated: both sides report the code exactly once, the client also the reason', async () => {
      const { client, server } = await pair()
      const clientCloses = closeRecorder(client)
      const serverCloses = closeRecorder(server)
      server.close(4000, 'bye now')
      expect(server.readyState).to.equal(2)
      expect(await clientCloses.closed).to.deep.equal({ code: 4000, reason: 'bye now' })
      expect((await serverCloses.closed).code).to.equal(4000)
      expect(client.readyState).to.equal(3)
      expect(server.readyState).to.equal(3)
      server.close(1000) // no effect once closed
      expect(clientCloses.closes).to.have.length(1)
      expect(serverCloses.closes).to.have.length(1)
    })

    it('client-initiated: the server echoes the code and closes the TCP connection first', async () => {
      const { client, server } = await pair()
      const clientCloses = closeRecorder(client)
      const serverCloses = closeRecorder(server)
      client.close(CloseCode.GoingAway, 'leaving')
      expect(await serverCloses.closed).to.deep.equal({ code: 1001, reason: 'leaving' })
      expect((await clientCloses.closed).code).to.equal(1001)
      expect(clientCloses.closes).to.have.length(1)
      expect(serverCloses.closes).to.have.length(1)
    })

    it('close() without a code sends 1000; a close frame without a code is reported as 1005', async () => {
      const { peer, conn } = await rawPair()
      const closes = closeRecorder(conn)
      conn.close()
      expect((await peer.closeFrame()).code).to.equal(1000)
      peer.sendFrame(Op.Close)
      expect((await closes.closed).code).to.equal(CloseCode.NoStatus)
    })

    it('answers a peer close frame with the same code, then ends the TCP connection', async () => {
      const { peer, conn } = await rawPair({ closeTimeout: 10_000 })
      const closes = closeRecorder(conn)
      peer.sendFrame(Op.Close, closePayload(3001, 'done'))
      expect((await peer.closeFrame()).code).to.equal(3001)
      await peer.ended
      peer.socket.end()
      expect(await closes.closed).to.deep.equal({ code: 3001, reason: 'done' })
    })

    it('refuses close codes that may not be sent', async () => {
      const { conn } = await rawPair()
      for (const code of [1004, 1006, 1015, 999, 2000, 5000, 1000.5]) {
        expect(() => conn.close(code)).to.throw(RangeError)
      }
      expect(() => conn.close(1000, 'x'.repeat(124))).to.throw(RangeError)
      expect(conn.readyState).to.equal(1)
    })

    it('destroys the socket after closeTimeout when the peer never answers the close frame (1006)', async () => {
      const { peer, conn } = await rawPair({ closeTimeout: 200 })
      const closes = closeRecorder(conn)
      const started = Date.now()
      conn.close(1000)
      await peer.closeFrame()
      expect((await closes.closed).code).to.equal(CloseCode.Abnormal)
      const elapsed = Date.now() - started
      expect(elapsed).to.be.at.least(150)
      expect(elapsed).to.be.below(1500)
      await peer.closed
    })

    it('drops a peer that sends its close frame and then never reads nor closes, after closeTimeout', async () => {
      const { peer, conn } = await rawPair({ closeTimeout: 200 })
      const closes = closeRecorder(conn)
      peer.socket.pause()
      peer.sendFrame(Op.Close, closePayload(1000))
      expect((await closes.closed).code).to.equal(1000)
      peer.socket.resume()
      await peer.closed
    })

    it('reports 1006 at once when the peer ends TCP without a close frame', async () => {
      const { peer, conn } = await rawPair({ closeTimeout: 10_000 })
      const closes = closeRecorder(conn)
      const started = Date.now()
      peer.socket.end()
      expect((await closes.closed).code).to.equal(CloseCode.Abnormal)
      expect(Date.now() - started).to.be.below(1000)
    })
  })

  describe('failing the connection on a protocol error', () => {
    const cases: { name: string; send: (peer: RawPeer) => void; code: number }[] = [
      { name: 'an unmasked client frame', send: (p) => p.sendFrame(Op.Text, 'x', { mask: false }), code: 1002 },
      { name: 'a reserved opcode', send: (p) => p.sendFrame(0x3, 'x'), code: 1002 },
      { name: 'RSV bits without an extension', send: (p) => p.sendFrame(Op.Text, 'x', { rsv: 0x40 }), code: 1002 },
      { name: 'a fragmented ping', send: (p) => p.sendFrame(Op.Ping, 'x', { fin: false }), code: 1002 },
      { name: 'a continuation without a message', send: (p) => p.sendFrame(Op.Continuation, 'x'), code: 1002 },
      { name: 'an invalid close code', send: (p) => p.sendFrame(Op.Close, closePayload(1005)), code: 1002 },
      { name: 'invalid UTF-8 in a text message', send: (p) => p.sendFrame(Op.Text, Buffer.from([0x61, 0xc3, 0x28])), code: 1007 },
      { name: 'a one-frame text message ending inside a character', send: (p) => p.sendFrame(Op.Text, Buffer.from([0x61, 0xe2, 0x82])), code: 1007 },
      { name: 'a close reason that is not UTF-8', send: (p) => p.sendFrame(Op.Close, Buffer.from([0x03, 0xe8, 0xff])), code: 1002 },
      { name: 'a 1-byte close payload', send: (p) => p.sendFrame(Op.Close, Buffer.from([0x03])), code: 1002 },
      { name: 'a new message inside a fragmented one', send: (p) => { p.sendFrame(Op.Text, 'a', { fin: false }); p.sendFrame(Op.Text, 'b') }, code: 1002 },
      { name: 'a ping over 125 bytes', send: (p) => p.sendFrame(Op.Ping, Buffer.alloc(126)), code: 1002 },
      { name: 'a message over maxMessageSize', send: (p) => p.sendFrame(Op.Binary, Buffer.alloc(2048)), code: 1009 },
    ]
    for (const c of cases) {
      it(`sends close ${c.code} for ${c.name}, then closes TCP without waiting for the peer`, async () => {
        const { peer, conn } = await rawPair({ maxMessageSize: 1024, closeTimeout: 10_000 })
        const errors: Error[] = []
        conn.on('error', (error) => errors.push(error))
        const closes = closeRecorder(conn)
        const started = Date.now()
        c.send(peer)
        expect((await peer.closeFrame()).code).to.equal(c.code)
        await peer.ended // the server's FIN, long before closeTimeout
        expect(Date.now() - started).to.be.below(2000)
        expect(errors).to.have.length(1)
        expect(errors[0]).to.be.instanceOf(ProtocolError)
        expect((errors[0] as ProtocolError).closeCode).to.equal(c.code)
        peer.socket.end()
        await closes.closed
        expect(closes.closes).to.have.length(1)
      })
    }

    it('fails fast on invalid UTF-8 in the first fragment, before the message ends', async () => {
      const { peer } = await rawPair()
      peer.sendFrame(Op.Text, Buffer.from([0x68, 0x69, 0xff]), { fin: false })
      expect((await peer.closeFrame()).code).to.equal(1007)
    })
  })

  describe('ping and pong', () => {
    it('answers a ping with a pong carrying the same binary payload, and emits ping', async () => {
      const { peer, conn } = await rawPair()
      const payload = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x0d, 0xc3])
      const pinged = next<[Buffer]>(conn, 'ping')
      peer.sendFrame(Op.Ping, payload)
      const pong = await peer.opcodeFrame(Op.Pong)
      expect(pong.payload.equals(payload)).to.equal(true)
      expect((await pinged)[0].equals(payload)).to.equal(true)
    })

    it('answers a 125-byte ping, and an empty one', async () => {
      const { peer } = await rawPair()
      const big = Buffer.alloc(125, 7)
      peer.sendFrame(Op.Ping, big)
      expect((await peer.opcodeFrame(Op.Pong)).payload.equals(big)).to.equal(true)
      peer.sendFrame(Op.Ping)
      expect((await peer.opcodeFrame(Op.Pong)).payload.length).to.equal(0)
    })

    it('emits pong with the payload of the peer answer to sendPing()', async () => {
      const { client, server } = await pair()
      const ponged = next<[Buffer]>(server, 'pong')
      server.sendPing(Buffer.from([1, 2, 3]))
      expect([...(await ponged)[0]]).to.deep.equal([1, 2, 3])
      const clientPonged = next<[Buffer]>(client, 'pong')
      client.sendPing('hello')
      expect((await clientPonged)[0].toString()).to.equal('hello')
    })

    it('refuses a ping payload over 125 bytes', async () => {
      const { client } = await pair()
      expect(() => client.sendPing(Buffer.alloc(126))).to.throw(RangeError)
    })
  })

  describe('messages and fragmentation', () => {
    it('round-trips text and binary, empty ones included', async () => {
      const { client, server } = await pair({ binaryMode: 'buffer' }, { binaryMode: 'buffer' })
      server.on('message', (m) => server.send(m))
      const got: (string | Buffer)[] = []
      client.on('message', (m) => got.push(m))
      const done = new Promise((resolve) => client.on('message', () => got.length === 5 && resolve(null)))
      client.sendText('héllo ✓ 𝄞')
      client.sendText('')
      client.sendBinary(Buffer.from([0, 1, 2, 255]))
      client.sendBinary(new Uint8Array(0))
      client.send('x'.repeat(70_000))
      await done
      expect(got[0]).to.equal('héllo ✓ 𝄞')
      expect(got[1]).to.equal('')
      expect([...(got[2] as Buffer)]).to.deep.equal([0, 1, 2, 255])
      expect((got[3] as Buffer).length).to.equal(0)
      expect(got[4]).to.equal('x'.repeat(70_000))
    })

    it('echoes large texts that span socket reads (ASCII, multi-byte) back to a ws client intact and in order', async () => {
      const listening = await listen()
      const client = new WebSocket(listening.url)
      track(() => client.terminate())
      const [conn] = await Promise.all([listening.nextConnection(), next(client, 'open')])
      conn.on('text', (text: string) => conn.sendText(text))
      const texts = [
        'ascii only, 300 KiB worth. '.repeat(11_378),
        'ünïcødé ✓ 𝄞 \ufeff'.repeat(10_000),
        'x'.repeat(70_000),
        'y'.repeat(1024 * 1024 + 10), // over the pieces limit: gathered in place
      ]
      const echoed: string[] = []
      const all = new Promise<void>((resolve) =>
        client.on('message', (data: Buffer, isBinary: boolean) => {
          expect(isBinary).to.equal(false)
          echoed.push(data.toString())
          if (echoed.length === texts.length) resolve()
        }),
      )
      for (const text of texts) client.send(text)
      await deadline(all, 10_000, 'every echo')
      expect(echoed.length).to.equal(texts.length)
      echoed.forEach((text, i) => expect(text === texts[i], `echo ${i} (${texts[i].length} characters)`).to.equal(true))
    })

    it('reassembles a fragmented text message with a character split across fragments and a ping between', async () => {
      const { peer, conn } = await rawPair()
      const text = next<[string]>(conn, 'text')
      const bytes = Buffer.from('a€b') // € is e2 82 ac
      peer.sendFrame(Op.Text, bytes.subarray(0, 2), { fin: false })
      peer.sendFrame(Op.Ping, 'p')
      peer.sendFrame(Op.Continuation, bytes.subarray(2, 3), { fin: false })
      peer.sendFrame(Op.Continuation, bytes.subarray(3), { fin: true })
      expect((await text)[0]).to.equal('a€b')
      expect((await peer.opcodeFrame(Op.Pong)).payload.toString()).to.equal('p')
    })

    it("emits a fragmented binary message as a Readable of its fragments ('stream' mode)", async () => {
      const { peer, conn } = await rawPair()
      const streamed = next<[Readable]>(conn, 'binary')
      const parts = [Buffer.alloc(1000, 1), Buffer.alloc(3000, 2), Buffer.alloc(10, 3)]
      peer.sendFrame(Op.Binary, parts[0], { fin: false })
      peer.sendFrame(Op.Continuation, parts[1], { fin: false })
      peer.sendFrame(Op.Continuation, parts[2])
      const [stream] = await streamed
      expect((await collect(stream)).equals(Buffer.concat(parts))).to.equal(true)
    })

    it("emits a fragmented binary message as one Buffer in 'buffer' mode", async () => {
      const { peer, conn } = await rawPair({ binaryMode: 'buffer' })
      const received = next<[Buffer]>(conn, 'binary')
      peer.sendFrame(Op.Binary, Buffer.from([1, 2]), { fin: false })
      peer.sendFrame(Op.Continuation, Buffer.from([3]))
      expect([...(await received)[0]]).to.deep.equal([1, 2, 3])
    })

    it('beginBinary() sends fragments of fragmentSize, the last one with FIN', async () => {
      const { peer, conn } = await rawPair({ fragmentSize: 1000 })
      const stream = conn.beginBinary()
      stream.write(Buffer.alloc(2500, 0xaa))
      stream.end(Buffer.alloc(1000, 0xbb))
      const frames = []
      for (let i = 0; i < 4; i++) frames.push(await peer.frame((f) => f.opcode === Op.Binary || f.opcode === Op.Continuation))
      expect(frames.map((f) => [f.opcode, f.fin, f.payload.length])).to.deep.equal([
        [Op.Binary, false, 1000],
        [Op.Continuation, false, 1000],
        [Op.Continuation, false, 1000],
        [Op.Continuation, true, 500],
      ])
      expect(frames.every((f) => !f.masked)).to.equal(true)
    })

    it('beginBinary() with nothing written sends one empty final frame', async () => {
      const { peer, conn } = await rawPair()
      conn.beginBinary().end()
      const frame = await peer.opcodeFrame(Op.Binary)
      expect([frame.fin, frame.payload.length]).to.deep.equal([true, 0])
    })

    it('holds messages sent during beginBinary() until the stream ends, in order', async () => {
      const { peer, conn } = await rawPair({ fragmentSize: 4 })
      const stream = conn.beginBinary()
      stream.write(Buffer.from('abcdefgh'))
      conn.sendText('after')
      stream.end()
      const data = await peer.frame((f) => f.opcode === Op.Continuation && f.fin)
      const text = await peer.opcodeFrame(Op.Text)
      expect(data.payload.toString()).to.equal('efgh')
      expect(text.payload.toString()).to.equal('after')
      expect(peer.frames).to.have.length(1) // the first fragment, 'abcd', is still unclaimed
    })

    it('closes with 1011 when a beginBinary() stream is destroyed mid-message', async () => {
      const { peer, conn } = await rawPair()
      const stream = conn.beginBinary()
      stream.write(Buffer.alloc(10))
      stream.destroy()
      expect((await peer.closeFrame()).code).to.equal(1011)
    })

    it('sends a 64 MiB message through beginBinary() into a binary Readable, intact', async function () {
      this.timeout(30_000)
      const { client, server } = await pair({ maxMessageSize: 65 * MiB })
      const chunk = Buffer.alloc(MiB)
      const expected = createHash('sha256')
      const received = new Promise<{ length: number; digest: string }>((resolve, reject) => {
        server.once('binary', (stream: Readable) => {
          const hash = createHash('sha256')
          let length = 0
          stream.on('data', (data: Buffer) => {
            length += data.length
            hash.update(data)
          })
          stream.on('end', () => resolve({ length, digest: hash.digest('hex') }))
          stream.on('error', reject)
        })
      })
      const started = Date.now()
      const writer = client.beginBinary()
      for (let i = 0; i < 64; i++) {
        for (let j = 0; j < chunk.length; j += 4) chunk.writeUInt32LE((i * 7919 + j) >>> 0, j)
        expected.update(chunk)
        if (!writer.write(Buffer.from(chunk))) await next(writer, 'drain')
      }
      writer.end()
      const result = await received
      expect(result.length).to.equal(64 * MiB)
      expect(result.digest).to.equal(expected.digest('hex'))
      expect(Date.now() - started).to.be.below(15_000)
    })
  })

  describe('backpressure', () => {
    it('reports bufferedAmount, returns false past the high-water mark, then emits drain', async () => {
      const { peer, conn } = await rawPair({ highWaterMark: 64 * 1024, maxBufferedAmount: 64 * MiB })
      peer.socket.pause()
      expect(conn.bufferedAmount).to.equal(0)
      expect(conn.sendBinary(Buffer.alloc(1000))).to.equal(true)
      await saturate(conn)
      expect(conn.sendBinary(Buffer.alloc(1000))).to.equal(false)
      expect(conn.bufferedAmount).to.be.at.least(2 * MiB)
      const drained = next(conn, 'drain')
      peer.socket.resume()
      await drained
      expect(conn.bufferedAmount).to.be.below(64 * 1024)
    })

    it('drain() resolves once the peer reads, and at once when nothing is queued', async () => {
      const { peer, conn } = await rawPair({ maxBufferedAmount: 64 * MiB })
      await conn.drain()
      peer.socket.pause()
      await saturate(conn)
      let drained = false
      const waiting = conn.drain().then(() => (drained = true))
      await new Promise((resolve) => setImmediate(resolve))
      expect(drained).to.equal(false)
      peer.socket.resume()
      await waiting
      expect(conn.bufferedAmount).to.be.below(64 * 1024)
    })

    it('drain() resolves with a high-water mark below the socket\u2019s own (no lost drain event)', async () => {
      const { conn } = await rawPair({ highWaterMark: 1024 })
      expect(conn.sendBinary(Buffer.alloc(4096))).to.equal(false)
      const drainEvent = next(conn, 'drain')
      await conn.drain()
      await drainEvent
    })

    it('drain() rejects with ConnectionStateError when the connection closes first', async () => {
      const { peer, conn } = await rawPair({ maxBufferedAmount: 64 * MiB })
      peer.socket.pause()
      await saturate(conn)
      const waiting = conn.drain()
      conn.terminate()
      const error = await waiting.then(() => null, (e: Error) => e)
      expect(error).to.be.instanceOf(ConnectionStateError)
    })

    it('a binary Readable that is not read pauses the socket until it is', async () => {
      const { client, server } = await pair({ maxMessageSize: 64 * MiB })
      const streamed = next<[Readable]>(server, 'binary')
      const paused = next(server.socket, 'pause')
      const data = Buffer.alloc(8 * MiB, 3)
      client.sendBinary(data)
      const [stream] = await streamed
      await paused // nobody reads the stream yet: the socket stops being read
      expect(stream.readableLength).to.be.below(2 * MiB)
      const received = await collect(stream)
      expect(received.equals(data)).to.equal(true)
    })

    it('flush() resolves once everything sent so far is written; send callbacks run in order', async () => {
      const { peer, conn } = await rawPair()
      const order: string[] = []
      conn.sendText('one', (error) => order.push(`one:${error ?? 'ok'}`))
      conn.sendBinary(Buffer.alloc(10_000), (error) => order.push(`two:${error ?? 'ok'}`))
      conn.sendPing('p', (error) => order.push(`ping:${error ?? 'ok'}`))
      await conn.flush()
      expect(order).to.deep.equal(['one:ok', 'two:ok', 'ping:ok'])
      expect(conn.bufferedAmount).to.equal(0)
      await peer.opcodeFrame(Op.Ping)
    })

    it('pauses reading from a peer that floods messages and never reads the echoes', async function () {
      this.timeout(20_000)
      const maxBufferedAmount = 2 * MiB
      const listening = await listen({ maxBufferedAmount, binaryMode: 'buffer' }, (conn) =>
        conn.on('binary', (data: Buffer) => conn.sendBinary(data)),
      )
      const [peer, conn] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
      peer.socket.pause() // never reads the echoes
      const paused = next(conn.socket, 'pause')
      const message = wireFrame(Op.Binary, Buffer.alloc(64 * 1024, 9))
      let pausedSeen = false
      void paused.then(() => (pausedSeen = true))
      // Flood until the server stops reading (with a generous cap: 256 MiB).
      for (let sent = 0; !pausedSeen && sent < 256 * MiB; sent += message.length) {
        if (!peer.send(message)) await Promise.race([next(peer.socket, 'drain'), paused])
      }
      expect(pausedSeen, 'the server never paused reading').to.equal(true)
      const bytesRead = conn.socket.bytesRead
      expect(conn.bufferedAmount).to.be.at.most(maxBufferedAmount + 64 * MiB / 1024)
      // Keep flooding for a while: the server must not read (and so must not buffer) more.
      const extra = Array.from({ length: 64 }, () => message)
      for (const m of extra) peer.send(m)
      await new Promise((resolve) => setTimeout(resolve, 150)) // a measuring window, not synchronisation
      expect(conn.socket.bytesRead - bytesRead).to.be.at.most(64 * 1024)
      expect(conn.bufferedAmount).to.be.at.most(maxBufferedAmount + MiB)
      expect(conn.readyState).to.equal(1)
    })
  })

  describe('per-connection options', () => {
    /** The resolved options a connection works with (private: read here for the memory check). */
    const optionsOf = (conn: Connection): { maxBufferedAmount: number; slowConsumer: string } =>
      (conn as unknown as { options: { maxBufferedAmount: number; slowConsumer: string } }).options

    it("shares the server's options object when verifyRequest sets the same limits (no copy per connection)", async () => {
      const listening = await listen({
        maxBufferedAmount: 2 * MiB,
        verifyRequest: (request) => {
          request.maxBufferedAmount = 2 * MiB
          request.slowConsumer = 'close'
        },
      })
      const [, a] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
      const [, b] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
      expect(optionsOf(a)).to.equal(optionsOf(b))
      expect(optionsOf(a).maxBufferedAmount).to.equal(2 * MiB)
    })

    it('applies limits verifyRequest changes, to that connection only', async () => {
      let first = true
      const listening = await listen({
        maxBufferedAmount: 2 * MiB,
        verifyRequest: (request) => {
          if (first) request.slowConsumer = 'drop'
          first = false
        },
      })
      const [, changed] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
      const [, plain] = await Promise.all([RawPeer.connect(listening.port), listening.nextConnection()])
      expect(optionsOf(changed).slowConsumer).to.equal('drop')
      expect(optionsOf(changed).maxBufferedAmount).to.equal(2 * MiB)
      expect(optionsOf(plain).slowConsumer).to.equal('close')
      expect(optionsOf(changed)).to.not.equal(optionsOf(plain))
    })
  })

  describe('slow-consumer policy', () => {
    it("'close' (default): a send past maxBufferedAmount fails with 1008 and errors the callback", async () => {
      const { peer, conn } = await rawPair({ maxBufferedAmount: 2 * MiB, closeTimeout: 2000 })
      const closes = closeRecorder(conn)
      peer.socket.pause()
      await saturate(conn, 2 * MiB)
      expect(conn.readyState).to.equal(1)
      let refused: Error | undefined
      expect(conn.sendBinary(Buffer.alloc(10), (error) => (refused = error))).to.equal(false)
      expect(conn.readyState).to.equal(2)
      peer.socket.resume()
      expect((await peer.closeFrame()).code).to.equal(CloseCode.PolicyViolation)
      await closes.closed
      expect(refused).to.be.instanceOf(ConnectionStateError)
      expect(closes.closes).to.have.length(1)
    })

    it('ignores what the peer sends after the connection failed before any input arrived', async () => {
      const { peer, conn } = await rawPair({ maxBufferedAmount: 2 * MiB, closeTimeout: 2000 })
      const texts: string[] = []
      conn.on('text', (text) => texts.push(text))
      const closes = closeRecorder(conn)
      peer.socket.pause()
      await saturate(conn, 2 * MiB)
      conn.sendBinary(Buffer.alloc(10))
      expect(conn.readyState).to.equal(2)
      // Sent after our close frame: a failed connection reads no more messages (RFC 6455 §7.1.7).
      peer.sendFrame(Op.Text, 'too late')
      peer.socket.resume()
      expect((await peer.closeFrame()).code).to.equal(CloseCode.PolicyViolation)
      await closes.closed
      expect(texts).to.deep.equal([])
    })

    it("'drop': sends past maxBufferedAmount are dropped, the connection stays open", async () => {
      const { peer, conn } = await rawPair({ maxBufferedAmount: 2 * MiB, slowConsumer: 'drop' })
      peer.socket.pause()
      await saturate(conn, 2 * MiB)
      const before = conn.bufferedAmount
      const errors: Error[] = []
      expect(conn.sendText('dropped', (error) => error && errors.push(error))).to.equal(false)
      expect(conn.bufferedAmount).to.equal(before)
      await new Promise((resolve) => process.nextTick(resolve))
      expect(errors).to.have.length(1)
      expect(errors[0]).to.be.instanceOf(ConnectionStateError)
      expect(conn.readyState).to.equal(1)
      peer.socket.resume()
      await conn.drain()
      conn.sendText('after drain')
      const texts = []
      texts.push(await peer.opcodeFrame(Op.Text))
      expect(texts.map((t) => t.payload.toString())).to.deep.equal(['after drain'])
    })
  })

  describe('message events', () => {
    it('calls every listener, once listeners once, and message listeners too', async () => {
      const { peer, conn } = await rawPair()
      const calls: string[] = []
      conn.on('text', (text) => calls.push(`a:${text}`))
      conn.on('text', (text) => calls.push(`b:${text}`))
      conn.once('text', (text) => calls.push(`once:${text}`))
      conn.on('message', (data) => calls.push(`message:${String(data)}`))
      const second = new Promise((resolve) => conn.on('text', (text) => text === '2' && resolve(text)))
      peer.sendFrame(Op.Text, '1')
      peer.sendFrame(Op.Text, '2')
      await second
      expect(calls).to.deep.equal(['a:1', 'b:1', 'once:1', 'message:1', 'a:2', 'b:2', 'message:2'])
    })

    it('goes through an emit that was wrapped (instrumentation sees every message event)', async () => {
      const { peer, conn } = await rawPair()
      const seen: string[] = []
      const emit = conn.emit.bind(conn)
      conn.emit = (event: string | symbol, ...args: unknown[]): boolean => {
        if (event === 'text' || event === 'message') seen.push(`${String(event)}:${String(args[0])}`)
        return emit(event, ...args)
      }
      const text = next<[string]>(conn, 'text')
      peer.sendFrame(Op.Text, 'traced')
      await text
      expect(seen).to.deep.equal(['text:traced', 'message:traced'])
    })

    it("keeps EventEmitter's captureRejections: a rejected async listener becomes an 'error'", async () => {
      const previous = EventEmitter.captureRejections
      EventEmitter.captureRejections = true
      try {
        const { peer, conn } = await rawPair()
        conn.on('text', async (text) => {
          throw new Error(`rejected ${text}`)
        })
        const error = next<[Error]>(conn, 'error')
        peer.sendFrame(Op.Text, 'hi')
        expect((await error)[0].message).to.equal('rejected hi')
      } finally {
        EventEmitter.captureRejections = previous
      }
    })
  })

  describe('memory of an idle connection', () => {
    it('holds no frame parser until the peer sends, and no sender until something is sent', async () => {
      const { peer, conn } = await rawPair()
      const internals = conn as unknown as { parser: object | null; sender: object | null }
      expect(internals.parser).to.equal(null)
      expect(internals.sender).to.equal(null)
      expect(conn.bufferedAmount).to.equal(0)
      conn.sendText('first')
      expect(internals.sender).to.not.equal(null)
      expect(internals.parser).to.equal(null)
      expect((await peer.opcodeFrame(Op.Text)).payload.toString()).to.equal('first')
      const text = next<[string]>(conn, 'text')
      peer.sendFrame(Op.Text, 'hello')
      expect((await text)[0]).to.equal('hello')
      expect(internals.parser).to.not.equal(null)
    })
  })

  describe('sending in the wrong state', () => {
    it('send on a closed connection returns false, errors the callback and never throws', async () => {
      const { client, server } = await pair()
      const closed = next(server, 'close')
      client.terminate()
      await closed
      const errors: Error[] = []
      const collectError = (error?: Error): void => void (error && errors.push(error))
      expect(server.sendText('x', collectError)).to.equal(false)
      expect(server.sendBinary(Buffer.from('x'), collectError)).to.equal(false)
      expect(server.send('x', collectError)).to.equal(false)
      expect(server.sendPing('x', collectError)).to.equal(false)
      expect(server.sendText('no callback')).to.equal(false)
      await new Promise((resolve) => process.nextTick(resolve))
      expect(errors).to.have.length(4)
      for (const error of errors) {
        expect(error).to.be.instanceOf(ConnectionStateError)
        expect((error as ConnectionStateError).readyState).to.equal(3)
      }
      expect(() => server.beginBinary()).to.throw(ConnectionStateError)
      await server.flush().then(
        () => expect.fail('flush resolved on a closed connection'),
        (error) => expect(error).to.be.instanceOf(ConnectionStateError),
      )
    })

    it('send while CLOSING returns false with a ConnectionStateError', async () => {
      const { conn } = await rawPair()
      conn.close()
      let error: Error | undefined
      expect(conn.sendText('late', (e) => (error = e))).to.equal(false)
      await new Promise((resolve) => process.nextTick(resolve))
      expect(error).to.be.instanceOf(ConnectionStateError)
      expect((error as ConnectionStateError).readyState).to.equal(2)
    })
  })

  describe('faults', () => {
    it('an ECONNRESET mid-frame ends with 1006 exactly once and no crash', async () => {
      const { peer, conn } = await rawPair()
      const closes = closeRecorder(conn)
      const frame = wireFrame(Op.Binary, Buffer.alloc(50_000))
      const streamErrors: Error[] = []
      conn.on('binary', (stream: Readable) => stream.on('error', (e) => streamErrors.push(e)))
      conn.on('error', () => {})
      peer.send(frame.subarray(0, 20_000))
      await next(conn, 'binary')
      peer.socket.resetAndDestroy()
      expect((await closes.closed).code).to.equal(CloseCode.Abnormal)
      expect(closes.closes).to.have.length(1)
      expect(streamErrors).to.have.length(1)
      expect(conn.readyState).to.equal(3)
    })

    it('an abrupt destroy in the middle of a header ends with 1006', async () => {
      const { peer, conn } = await rawPair({ closeTimeout: 10_000 })
      const closes = closeRecorder(conn)
      peer.send(Buffer.from([0x81]))
      peer.socket.destroy()
      expect((await closes.closed).code).to.equal(CloseCode.Abnormal)
    })

    it('an error thrown by a text listener closes with 1011 and is reported as error', async () => {
      const { peer, conn } = await rawPair()
      const errors: Error[] = []
      conn.on('error', (e) => errors.push(e))
      conn.on('text', () => {
        throw new Error('handler bug')
      })
      peer.sendFrame(Op.Text, 'boom')
      expect((await peer.closeFrame()).code).to.equal(CloseCode.InternalError)
      expect(errors.map((e) => e.message)).to.deep.equal(['handler bug'])
    })

    it('an error thrown by a listener with no error listener is logged, not thrown (1011)', async () => {
      const { peer, conn } = await rawPair()
      const logged: unknown[][] = []
      const original = console.error
      console.error = (...args: unknown[]) => void logged.push(args)
      try {
        conn.on('binary', () => {
          throw new Error('stream handler bug')
        })
        peer.sendFrame(Op.Binary, 'x')
        expect((await peer.closeFrame()).code).to.equal(CloseCode.InternalError)
      } finally {
        console.error = original
      }
      expect(logged).to.have.length(1)
    })

    it('an error thrown by a close listener does not escape', async () => {
      const { client, server } = await pair()
      const logged: unknown[][] = []
      const original = console.error
      console.error = (...args: unknown[]) => void logged.push(args)
      try {
        const closed = next<[number]>(server, 'close')
        server.on('close', () => {
          throw new Error('close handler bug')
        })
        client.close(4001)
        const [code] = await deadline(closed, 2000, "the server's close event")
        expect(code).to.equal(4001)
      } finally {
        console.error = original
      }
      expect(logged.flat().map(String).join(' ')).to.include('close handler bug')
      expect(server.readyState).to.equal(3)
    })
  })

  describe('hostile peers', () => {
    it('fails with 1008 when the pongs owed for a burst of pings pile up past maxBufferedAmount', async () => {
      // One socket read of 64 KiB holds ~500 pings of 125 bytes: ~62 KiB of pongs, past 16 KiB.
      const { peer, conn } = await rawPair({ maxBufferedAmount: 16 * 1024, closeTimeout: 2000 })
      conn.on('error', () => {})
      const closes = closeRecorder(conn)
      peer.socket.pause()
      const ping = wireFrame(Op.Ping, Buffer.alloc(125, 1))
      peer.send(Buffer.concat(Array.from({ length: 4096 }, () => ping))) // 512 KiB of pings
      peer.socket.resume()
      expect((await peer.closeFrame()).code).to.equal(CloseCode.PolicyViolation)
      await closes.closed
      expect(closes.closes).to.have.length(1)
    })

    it('closes a ping flood from a peer that never reads its pongs with 1008, before pongs pile up', async () => {
      const { peer, conn } = await rawPair({ maxBufferedAmount: 64 * MiB })
      peer.socket.pause()
      const paused = next(conn.socket, 'pause')
      let pausedSeen = false
      void paused.then(() => (pausedSeen = true))
      let peakBuffered = 0
      const pings = Buffer.concat(Array.from({ length: 1024 }, () => wireFrame(Op.Ping, Buffer.alloc(125, 2))))
      for (let sent = 0; conn.readyState === 1 && !pausedSeen && sent < 512 * MiB; sent += pings.length) {
        if (!peer.send(pings)) await Promise.race([next(peer.socket, 'drain'), paused, next(conn, 'close')])
        peakBuffered = Math.max(peakBuffered, conn.bufferedAmount)
      }
      expect(pausedSeen, 'the server paused reading instead of closing').to.equal(false)
      expect(conn.readyState, 'the flood was not detected').to.not.equal(1)
      expect(peakBuffered).to.be.at.most(2 * MiB)
      peer.socket.resume()
      expect((await peer.closeFrame()).code).to.equal(CloseCode.PolicyViolation)
    })

    it('fails a flood of tiny fragments with 1009 after reading about maxMessageSize / fragmentOverhead of them', async () => {
      const maxMessageSize = MiB
      const { peer, conn } = await rawPair({ maxMessageSize })
      let bytesReadAtError = -1
      conn.on('error', () => (bytesReadAtError = conn.socket.bytesRead))
      const fragment = wireFrame(Op.Continuation, Buffer.from([0x61]), { fin: false }) // 7 bytes on the wire
      const batch = Buffer.concat(Array.from({ length: 8192 }, () => fragment))
      peer.sendFrame(Op.Binary, Buffer.from([0x61]), { fin: false })
      const closing = peer.closeFrame()
      let closed = false
      void closing.then(() => (closed = true))
      // Send up to 8 MiB of 1-byte fragments; without a per-fragment cost that would all be accepted.
      for (let i = 0; i < 150 && !closed; i++) {
        if (!peer.send(batch)) await Promise.race([next(peer.socket, 'drain'), closing])
      }
      expect((await closing).code).to.equal(CloseCode.MessageTooBig)
      // Each fragment costs its byte plus 64: about 16 K fragments (≈ 113 KB on the wire) fit.
      expect(bytesReadAtError).to.be.greaterThan(0)
      expect(bytesReadAtError).to.be.below((maxMessageSize / 64) * 7 + 128 * 1024)
    })

    it('still accepts a legitimate 4 MiB message in 65,536 fragments, with maxMessageSize exactly 4 MiB', async function () {
      this.timeout(20_000)
      const { peer, conn } = await rawPair({ maxMessageSize: 4 * MiB, binaryMode: 'buffer' })
      const received = next<[Buffer]>(conn, 'binary')
      const frames: Buffer[] = []
      for (let i = 0; i < 65_536; i++) {
        const opcode = i === 0 ? Op.Binary : Op.Continuation
        frames.push(wireFrame(opcode, Buffer.alloc(64, i & 0xff), { fin: i === 65_535 }))
      }
      peer.send(Buffer.concat(frames))
      const [data] = await received
      expect(data.length).to.equal(4 * MiB)
      expect(data[64 * 300]).to.equal(300 & 0xff)
    })
  })

  describe('idle timeout', () => {
    it('pings a silent peer after idleTimeout, then closes with 1001 \'idle timeout\' when nothing answers', async () => {
      const { peer, conn } = await rawPair({ idleTimeout: 200 })
      const started = Date.now()
      const ping = await deadline(peer.opcodeFrame(Op.Ping), 2000, 'the idle ping')
      const pinged = Date.now() - started
      expect(pinged, 'pinged after idleTimeout').to.be.at.least(150)
      expect(await deadline(peer.closeFrame(), 2000, 'the idle close')).to.deep.equal({ code: CloseCode.GoingAway, reason: 'idle timeout' })
      expect(Date.now() - started - pinged, 'closed one idleTimeout after the ping').to.be.at.least(150)
      expect(ping.payload.length).to.equal(0)
      expect(conn.readyState).to.equal(2)
    })

    it('counts only what the peer sends: server output does not keep a peer that ignores pings alive', async () => {
      const { peer, conn } = await rawPair({ idleTimeout: 300 })
      const ticker = setInterval(() => conn.sendText('tick'), 50)
      try {
        expect((await deadline(peer.closeFrame(), 3000, 'the idle close')).code).to.equal(CloseCode.GoingAway)
      } finally {
        clearInterval(ticker)
      }
    })

    it('keeps a listen-only ws client open past idleTimeout while it answers the idle pings', async () => {
      // Long enough that a loaded machine answers each ping well within it.
      const idleTimeout = 300
      const listening = await listen({ idleTimeout })
      const client = new WebSocket(listening.url)
      track(() => client.terminate())
      const [conn] = await Promise.all([listening.nextConnection(), next(client, 'open')])
      let pongs = 0
      conn.on('pong', () => pongs++)
      let clientClose: number | undefined
      client.on('close', (code: number) => (clientClose = code))
      const started = Date.now()
      // The server streams a feed; the client never sends a message of its own.
      const ticker = setInterval(() => conn.sendText('tick'), 20)
      try {
        await deadline(
          new Promise<void>((resolve) => conn.on('pong', () => pongs === 3 && resolve())),
          10 * idleTimeout,
          'three answered idle pings',
        )
      } finally {
        clearInterval(ticker)
      }
      expect(Date.now() - started, 'open for more than 3 idleTimeouts').to.be.at.least(3 * idleTimeout - 50)
      expect(clientClose, 'the client saw no close').to.equal(undefined)
      expect(conn.readyState).to.equal(1)
    })

    it('closes a peer with 1001 once it stops answering, after answering earlier idle pings', async () => {
      const { peer, conn } = await rawPair({ idleTimeout: 300 })
      const closes = closeRecorder(conn)
      await deadline(peer.opcodeFrame(Op.Ping), 2000, 'the first idle ping')
      peer.sendFrame(Op.Pong, Buffer.alloc(0), { mask: true })
      await deadline(peer.opcodeFrame(Op.Ping), 2000, 'the second idle ping')
      expect(conn.readyState, 'the pong kept it open').to.equal(1)
      expect((await deadline(peer.closeFrame(), 2000, 'the idle close')).code).to.equal(CloseCode.GoingAway)
      peer.sendFrame(Op.Close, closePayload(CloseCode.GoingAway))
      expect(await deadline(closes.closed, 2000, 'the close event')).to.deep.equal({ code: CloseCode.GoingAway, reason: '' })
    })

    it('keeps a peer that keeps sending', async () => {
      const { peer, conn } = await rawPair({ idleTimeout: 300 })
      let texts = 0
      const enough = new Promise((resolve) => conn.on('text', () => ++texts === 8 && resolve(null)))
      const ticker = setInterval(() => peer.sendFrame(Op.Text, 'still here'), 80)
      try {
        await deadline(enough, 3000, 'eight messages')
      } finally {
        clearInterval(ticker)
      }
      expect(conn.readyState).to.equal(1)
      expect(peer.frames.filter((f) => f.opcode === Op.Ping), 'no idle ping to a peer that sends').to.have.length(0)
    })
  })
})
