// Interop with an independently written peer: the `ws` package as client against our server,
// and as server for our client.
import { expect } from 'chai'
import { createHash, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import WebSocket, { WebSocketServer } from 'ws'
import { CloseCode, connect, HandshakeError, type Connection } from '../../src'
import { closeRecorder, collect, listen, next, open, releaseAll, track } from '../helpers/transport-harness'

const MiB = 1024 * 1024

/** A `ws` client, open, with its messages queued; terminated after the test. */
async function wsClient(url: string, protocols: string[] = []): Promise<{ ws: WebSocket; message(): Promise<[Buffer, boolean]> }> {
  const ws = new WebSocket(url, protocols, { maxPayload: 128 * MiB })
  track(() => ws.terminate())
  const queue: [Buffer, boolean][] = []
  const waiters: ((m: [Buffer, boolean]) => void)[] = []
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const waiter = waiters.shift()
    if (waiter) waiter([data, isBinary])
    else queue.push([data, isBinary])
  })
  ws.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return {
    ws,
    message: () => {
      const queued = queue.shift()
      if (queued) return Promise.resolve(queued)
      return new Promise((resolve) => waiters.push(resolve))
    },
  }
}

/** An echo server of ours for `ws` clients: text as text, binary (streamed) as binary. */
async function ourEchoServer(options: Parameters<typeof listen>[0] = {}): ReturnType<typeof listen> {
  return listen({ maxMessageSize: 64 * MiB, maxBufferedAmount: 128 * MiB, ...options }, (conn) => {
    conn.on('text', (text) => conn.sendText(text))
    conn.on('binary', (stream: Readable) => void collect(stream).then((data) => conn.sendBinary(data)))
    conn.on('error', () => {})
  })
}

/** A `ws` echo server for our client. */
async function wsEchoServer(
  options: ConstructorParameters<typeof WebSocketServer>[0] = {},
  onConnection?: (ws: WebSocket) => void,
): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 128 * MiB, ...options })
  track(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate()
        wss.close(() => resolve())
      }),
  )
  wss.on('connection', (ws) => {
    ws.on('error', () => {})
    if (onConnection) onConnection(ws)
    else ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
  })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` }
}

describe('interop with the ws package', () => {
  afterEach(releaseAll)

  describe('ws client → gatewire server', () => {
    it('echoes text, including multi-byte characters and the empty message', async () => {
      const { url } = await ourEchoServer()
      const { ws, message } = await wsClient(url)
      ws.send('héllo wörld ✓ 𝄞')
      ws.send('')
      expect((await message())[0].toString()).to.equal('héllo wörld ✓ 𝄞')
      const [empty, isBinary] = await message()
      expect([empty.length, isBinary]).to.deep.equal([0, false])
    })

    it('echoes binary', async () => {
      const { url } = await ourEchoServer()
      const { ws, message } = await wsClient(url)
      const data = randomBytes(1000)
      ws.send(data)
      const [echo, isBinary] = await message()
      expect(isBinary).to.equal(true)
      expect(echo.equals(data)).to.equal(true)
    })

    it('echoes a 16 MiB binary message', async () => {
      const { url } = await ourEchoServer()
      const { ws, message } = await wsClient(url)
      const data = randomBytes(16 * MiB)
      ws.send(data)
      const [echo] = await message()
      expect(echo.length).to.equal(data.length)
      expect(echo.equals(data)).to.equal(true)
    })

    it('reassembles messages ws sends in fragments (text split inside a character, and binary)', async () => {
      const { url } = await ourEchoServer()
      const { ws, message } = await wsClient(url)
      const text = Buffer.from('fragmented €uro')
      const cut = text.indexOf(0xe2) + 1
      ws.send(text.subarray(0, cut), { binary: false, fin: false })
      ws.send(text.subarray(cut), { binary: false, fin: true })
      expect((await message())[0].toString()).to.equal('fragmented €uro')
      const parts = [randomBytes(70_000), randomBytes(3), randomBytes(20_000)]
      ws.send(parts[0], { binary: true, fin: false })
      ws.send(parts[1], { binary: true, fin: false })
      ws.send(parts[2], { binary: true, fin: true })
      expect((await message())[0].equals(Buffer.concat(parts))).to.equal(true)
    })

    it('streams beginBinary() fragments that ws reassembles', async () => {
      const { url, nextConnection } = await listen({ fragmentSize: 16 * 1024 })
      const { message } = await wsClient(url)
      const conn = await nextConnection()
      const writer = conn.beginBinary()
      const data = randomBytes(100_000)
      writer.write(data.subarray(0, 33_333))
      writer.end(data.subarray(33_333))
      const [received, isBinary] = await message()
      expect(isBinary).to.equal(true)
      expect(received.equals(data)).to.equal(true)
    })

    it('answers ws pings with the same payload, and ws answers ours', async () => {
      const { url, nextConnection } = await ourEchoServer()
      const { ws } = await wsClient(url)
      const conn = await nextConnection()
      const payload = Buffer.from([0, 1, 0xfe, 0xff])
      const pong = next<[Buffer]>(ws, 'pong')
      ws.ping(payload)
      expect((await pong)[0].equals(payload)).to.equal(true)
      const ours = next<[Buffer]>(conn, 'pong')
      conn.sendPing(Buffer.from('are you there'))
      expect((await ours)[0].toString()).to.equal('are you there')
    })

    it('reports the close code and reason ws sends, exactly once', async () => {
      const { url, nextConnection } = await ourEchoServer()
      const { ws } = await wsClient(url)
      const conn = await nextConnection()
      const closes = closeRecorder(conn)
      const wsClosed = next<[number, Buffer]>(ws, 'close')
      ws.close(4001, 'client leaves')
      expect(await closes.closed).to.deep.equal({ code: 4001, reason: 'client leaves' })
      expect((await wsClosed)[0]).to.equal(4001)
      expect(closes.closes).to.have.length(1)
    })

    it('delivers our close code and reason to ws', async () => {
      const { url, nextConnection } = await ourEchoServer()
      const { ws } = await wsClient(url)
      const conn = await nextConnection()
      const closes = closeRecorder(conn)
      const wsClosed = next<[number, Buffer]>(ws, 'close')
      conn.close(CloseCode.TryAgainLater, 'busy')
      const [code, reason] = await wsClosed
      expect([code, reason.toString()]).to.deep.equal([1013, 'busy'])
      expect((await closes.closed).code).to.equal(1013)
    })

    it('negotiates the subprotocol ws prefers among those we support', async () => {
      const { url, nextConnection } = await ourEchoServer({ validProtocols: ['chat.v1', 'chat.v2'] })
      const { ws } = await wsClient(url, ['chat.v3', 'chat.v2', 'chat.v1'])
      expect(ws.protocol).to.equal('chat.v2')
      expect((await nextConnection()).protocol).to.equal('chat.v2')
    })

    it('closes ws with 1009 for a message over maxMessageSize', async () => {
      const { url } = await ourEchoServer({ maxMessageSize: 1024 })
      const { ws } = await wsClient(url)
      const closed = next<[number]>(ws, 'close')
      ws.send(Buffer.alloc(2048))
      expect((await closed)[0]).to.equal(1009)
    })

    it('refuses ws with the verifyRequest status', async () => {
      const { url } = await listen({
        verifyRequest: () => {
          throw new HandshakeError(403, 'nope')
        },
      })
      const ws = new WebSocket(url)
      track(() => ws.terminate())
      ws.on('error', () => {})
      const [, response] = await next<[unknown, { statusCode: number; resume(): void }]>(ws, 'unexpected-response')
      response.resume()
      expect(response.statusCode).to.equal(403)
    })
  })

  describe('gatewire client → ws server', () => {
    it('exchanges text and binary', async () => {
      const { url } = await wsEchoServer()
      const client = await open(url, { binaryMode: 'buffer' })
      client.sendText('über ✓')
      expect((await next<[string]>(client, 'text'))[0]).to.equal('über ✓')
      const data = randomBytes(5000)
      client.sendBinary(data)
      expect((await next<[Buffer]>(client, 'binary'))[0].equals(data)).to.equal(true)
    })

    it('sends a 32 MiB message with beginBinary() and streams the echo back', async function () {
      this.timeout(30_000)
      const { url } = await wsEchoServer()
      const client = await open(url, { maxMessageSize: 64 * MiB, maxBufferedAmount: 128 * MiB })
      const data = randomBytes(32 * MiB)
      const echoed = new Promise<Readable>((resolve) => client.once('binary', resolve))
      const writer = client.beginBinary()
      for (let at = 0; at < data.length; at += MiB) {
        if (!writer.write(data.subarray(at, at + MiB))) await next(writer, 'drain')
      }
      writer.end()
      const received = await collect(await echoed)
      expect(received.length).to.equal(data.length)
      expect(createHash('sha256').update(received).digest('hex')).to.equal(createHash('sha256').update(data).digest('hex'))
    })

    it('receives fragments ws sends as one message', async () => {
      const { url } = await wsEchoServer({}, (ws) => {
        ws.send('part one, ', { fin: false })
        ws.send('part two', { fin: true })
        ws.send(Buffer.from([1, 2]), { binary: true, fin: false })
        ws.send(Buffer.from([3]), { binary: true, fin: true })
      })
      const client = connectQueued(url)
      expect(await client.nextText()).to.equal('part one, part two')
      expect([...(await client.nextBinary())]).to.deep.equal([1, 2, 3])
    })

    it('answers ws server pings with the same payload', async () => {
      let serverSide!: WebSocket
      const { url } = await wsEchoServer({}, (ws) => (serverSide = ws))
      const client = await open(url)
      const pinged = next<[Buffer]>(client, 'ping')
      const pong = next<[Buffer]>(serverSide, 'pong')
      serverSide.ping(Buffer.from([9, 8, 7]))
      expect([...(await pong)[0]]).to.deep.equal([9, 8, 7])
      expect([...(await pinged)[0]]).to.deep.equal([9, 8, 7])
    })

    it('closes with a code ws reports, and reports the code ws closes with', async () => {
      let serverSide!: WebSocket
      const { url } = await wsEchoServer({}, (ws) => (serverSide = ws))
      const first = await open(url)
      const wsClosed = next<[number, Buffer]>(serverSide, 'close')
      const closes = closeRecorder(first)
      first.close(4100, 'done here')
      const [code, reason] = await wsClosed
      expect([code, reason.toString()]).to.deep.equal([4100, 'done here'])
      expect((await closes.closed).code).to.equal(4100)

      const second = await open(url)
      const secondCloses = closeRecorder(second)
      serverSide.close(1012, 'restarting')
      expect(await secondCloses.closed).to.deep.equal({ code: 1012, reason: 'restarting' })
      expect(secondCloses.closes).to.have.length(1)
    })

    it('negotiates a subprotocol chosen by ws', async () => {
      const { url } = await wsEchoServer({ handleProtocols: (protocols) => (protocols.has('b') ? 'b' : false) })
      const client = await open(url, { protocols: ['a', 'b'] })
      expect(client.protocol).to.equal('b')
    })

    it('rejects a ws server that answers a protocol the client did not offer', async () => {
      const { url } = await wsEchoServer({ handleProtocols: () => 'evil' })
      const error = await open(url, { protocols: ['good'] }).then(
        () => null,
        (e: Error) => e,
      )
      expect(error).to.be.instanceOf(HandshakeError)
    })

    it('reports a ws server refusal with its HTTP status', async () => {
      const { url } = await wsEchoServer({ verifyClient: (_info, callback) => callback(false, 401, 'no') })
      const error = await open(url).then(
        () => null,
        (e: Error) => e,
      )
      expect(error).to.be.instanceOf(HandshakeError)
      expect((error as HandshakeError).status).to.equal(401)
    })
  })
})

/** Our client with text and binary messages queued from the start (ws may send on open). */
function connectQueued(url: string): { nextText(): Promise<string>; nextBinary(): Promise<Buffer> } {
  const texts: string[] = []
  const binaries: Buffer[] = []
  const waiting: { text: ((t: string) => void)[]; binary: ((b: Buffer) => void)[] } = { text: [], binary: [] }
  const conn: Connection = connect(url, { binaryMode: 'buffer' })
  track(() => conn.terminate())
  conn.on('text', (t: string) => (waiting.text.length ? waiting.text.shift()!(t) : texts.push(t)))
  conn.on('binary', (b: Buffer) => (waiting.binary.length ? waiting.binary.shift()!(b) : binaries.push(b)))
  return {
    nextText: () => (texts.length ? Promise.resolve(texts.shift()!) : new Promise((r) => waiting.text.push(r))),
    nextBinary: () => (binaries.length ? Promise.resolve(binaries.shift()!) : new Promise((r) => waiting.binary.push(r))),
  }
}
