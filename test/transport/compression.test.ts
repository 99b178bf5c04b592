import { expect } from 'chai'
import * as zlib from 'node:zlib'
import { CloseCode, type Connection } from '../../src'
import { PerMessageDeflate } from '../../src/protocol/extensions/per-message-deflate'
import {
  RawPeer,
  listen,
  next,
  open,
  pair,
  rawServer,
  releaseAll,
  switchingProtocols,
  track,
  wireFrame,
} from '../helpers/transport-harness'

const RSV1 = 0x40
const echo = (connection: Connection): void => {
  connection.on('text', (text) => connection.sendText(text))
  connection.on('binary', (data) => connection.sendBinary(data as unknown as Buffer))
}

/** Raw DEFLATE as the RFC sends it: sync-flushed, the 0x00 0x00 0xff 0xff tail removed (node:zlib, not the code under test). */
function deflate(data: Buffer | string): Buffer {
  const out = zlib.deflateRawSync(Buffer.from(data), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
  return out.subarray(0, out.length - 4)
}
function inflate(data: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
}

/**
 * A compressed payload that inflates to `mebibytes` MiB of zeros: one sync-flushed block of
 * 1 MiB, then the block that follows it (valid wherever the window holds only zeros) repeated.
 */
async function bomb(mebibytes: number): Promise<Buffer> {
  const deflater = zlib.createDeflateRaw({ level: 9 })
  const chunks: Buffer[] = []
  deflater.on('data', (chunk: Buffer) => chunks.push(chunk))
  const block = async (): Promise<Buffer> => {
    deflater.write(Buffer.alloc(1 << 20))
    await new Promise<void>((resolve) => deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()))
    return Buffer.concat(chunks.splice(0))
  }
  const first = await block()
  const repeat = await block()
  deflater.close()
  return Buffer.concat([first, ...Array<Buffer>(mebibytes - 1).fill(repeat)])
}

describe('permessage-deflate over real sockets', () => {
  afterEach(releaseAll)

  it('is off by default: an offer is answered without Sec-WebSocket-Extensions', async () => {
    const { port } = await listen()
    const peer = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' })
    expect(peer.response.headers['sec-websocket-extensions']).to.equal(undefined)
  })

  it('negotiates no context takeover both ways by default and echoes compressed text and binary', async () => {
    const { client, server } = await pair({ compression: true, binaryMode: 'buffer' }, { compression: true, binaryMode: 'buffer' })
    echo(server)
    expect(server.extensions).to.equal('permessage-deflate; server_no_context_takeover; client_no_context_takeover')
    expect(client.extensions).to.equal(server.extensions)
    for (const size of [0, 10, 200, 5000, 70_000, 1_000_000]) {
      const text = 'chat message '.repeat(Math.ceil(size / 13)).slice(0, size)
      client.sendText(text)
      const [echoed] = await next<[string]>(client, 'text')
      expect(echoed).to.equal(text)
      const data = Buffer.from(text)
      client.sendBinary(data)
      const [echoedData] = await next<[Buffer]>(client, 'binary')
      expect(echoedData.equals(data), `binary of ${size}`).to.equal(true)
    }
  })

  it('sends RSV1 frames that inflate to the message, and messages under the threshold uncompressed', async () => {
    const { port } = await listen({ compression: { threshold: 100 } }, echo)
    const peer = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' })
    expect(peer.response.headers['sec-websocket-extensions']).to.equal('permessage-deflate; server_no_context_takeover; client_no_context_takeover')
    const long = JSON.stringify({ type: 'chat', text: 'hello '.repeat(50) })
    peer.sendFrame(0x1, deflate(long), { rsv: RSV1 })
    const compressed = await peer.frame()
    expect(compressed.rsv).to.equal(RSV1)
    expect(compressed.payload.length).to.be.below(long.length / 3)
    expect(inflate(compressed.payload).toString()).to.equal(long)
    peer.sendFrame(0x1, 'short')
    const plain = await peer.frame()
    expect(plain.rsv).to.equal(0)
    expect(plain.payload.toString()).to.equal('short')
  })

  it('accepts every parameter as offered when configured so, keeping context across messages', async () => {
    const asOffered = { serverNoContextTakeover: false, clientNoContextTakeover: false, threshold: 0 }
    const { port } = await listen({ compression: asOffered }, echo)
    const peer = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' })
    expect(peer.response.headers['sec-websocket-extensions']).to.equal('permessage-deflate')
    // The RFC 7692 §7.2.3.2 pair: the second message refers back into the first.
    peer.sendFrame(0x1, Buffer.from('f248cdc9c90700', 'hex'), { rsv: RSV1 })
    peer.sendFrame(0x1, Buffer.from('f200110000', 'hex'), { rsv: RSV1 })
    const first = await peer.frame()
    const second = await peer.frame()
    const inflater = zlib.createInflateRaw()
    const out: Buffer[] = []
    inflater.on('data', (chunk: Buffer) => out.push(chunk))
    for (const frame of [first, second]) {
      inflater.write(Buffer.concat([frame.payload, Buffer.from([0, 0, 0xff, 0xff])]))
      await new Promise<void>((resolve) => inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()))
    }
    inflater.close()
    expect(Buffer.concat(out).toString()).to.equal('HelloHello')
    // With the server's context kept, its second "Hello" is a back-reference: shorter.
    expect(second.payload.length).to.be.below(first.payload.length)
  })

  it('declines an invalid offer and takes the next one, and declines malformed headers without refusing the connection', async () => {
    const { port } = await listen({ compression: true }, echo)
    const peer = await RawPeer.connect(port, '/', {
      'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=10',
    })
    expect(peer.response.headers['sec-websocket-extensions']).to.equal(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10',
    )
    const malformed = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate; ="' })
    expect(malformed.response.headers['sec-websocket-extensions']).to.equal(undefined)
    // No extension: RSV1 is a protocol error again.
    malformed.sendFrame(0x1, deflate('x'), { rsv: RSV1 })
    expect((await malformed.closeFrame()).code).to.equal(CloseCode.ProtocolError)
  })

  it('fails with 1002 on a compressed ping or RSV1 on a continuation frame', async () => {
    const { port } = await listen({ compression: true })
    const ping = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' })
    ping.sendFrame(0x9, 'p', { rsv: RSV1 })
    expect((await ping.closeFrame()).code).to.equal(CloseCode.ProtocolError)
    const continuation = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' })
    const payload = deflate('Hello')
    continuation.sendFrame(0x1, payload.subarray(0, 2), { rsv: RSV1, fin: false })
    continuation.sendFrame(0x0, payload.subarray(2), { rsv: RSV1 })
    expect((await continuation.closeFrame()).code).to.equal(CloseCode.ProtocolError)
  })

  it('inflates fragmented compressed messages and streams compressed fragments out', async () => {
    const { port } = await listen({ compression: { threshold: 0 }, fragmentSize: 1000 }, (connection) => {
      connection.on('text', (text) => {
        const stream = connection.beginBinary()
        stream.end(Buffer.from(text))
      })
    })
    const peer = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' })
    const text = Array.from({ length: 400 }, (_, i) => `line ${i}: ${'abcdefghij'.slice(i % 10)}`).join('\n')
    const payload = deflate(text)
    const cut = [0, 7, 8, payload.length >> 1, payload.length]
    for (let i = 0; i < cut.length - 1; i++) {
      peer.sendFrame(i === 0 ? 0x1 : 0x0, payload.subarray(cut[i], cut[i + 1]), { rsv: i === 0 ? RSV1 : 0, fin: i === cut.length - 2 })
    }
    const frames = []
    for (;;) {
      const frame = await peer.frame()
      frames.push(frame)
      if (frame.fin) break
    }
    expect(frames.length).to.be.above(1)
    expect(frames.map((f) => f.rsv)).to.deep.equal([RSV1, ...Array(frames.length - 1).fill(0)])
    expect(inflate(Buffer.concat(frames.map((f) => f.payload))).toString()).to.equal(text)
  })

  it('fails with 1009 on a small frame that inflates to 2 GiB, inflating no more than the limit', async function () {
    this.timeout(20_000)
    const payload = await bomb(2048)
    expect(payload.length).to.be.below(3 * 1024 * 1024)
    const limit = 4 * 1024 * 1024
    const { port, nextConnection } = await listen({ compression: true, maxMessageSize: limit })
    const peer = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' })
    await nextConnection()
    global.gc?.()
    const before = process.memoryUsage()
    const started = process.hrtime.bigint()
    peer.send(wireFrame(0x2, payload, { rsv: RSV1 }))
    // A deadline, not a wait: without the limit the server would go on inflating for seconds.
    let deadline: NodeJS.Timeout | undefined
    const close = await Promise.race([
      peer.closeFrame(),
      new Promise<null>((resolve) => (deadline = setTimeout(resolve, 5000, null))),
    ])
    clearTimeout(deadline)
    expect(close, 'a close frame within 5 s').to.not.equal(null)
    expect(close!.code).to.equal(CloseCode.MessageTooBig)
    const elapsed = Number(process.hrtime.bigint() - started) / 1e6
    const after = process.memoryUsage()
    // 2 GiB inflated would take seconds and show in the process's memory; the limit is 4 MiB.
    expect(after.rss - before.rss, 'RSS growth').to.be.below(64 * 1024 * 1024)
    expect(after.arrayBuffers - before.arrayBuffers, 'Buffer memory growth').to.be.below(32 * 1024 * 1024)
    expect(elapsed, 'ms to fail').to.be.below(1000)
  })

  it('client: fails with 1010 when the answer is not acceptable, sending a close frame with 1010', async () => {
    const answers = [
      'permessage-deflate; server_max_window_bits=16',
      'permessage-deflate; x-unknown',
      'x-other-extension',
      'permessage-deflate, permessage-deflate',
    ]
    for (const extension of answers) {
      const server = await rawServer((key) => switchingProtocols(key, `Sec-WebSocket-Extensions: ${extension}\r\n`))
      const { connect } = await import('../../src')
      const client = connect(`ws://127.0.0.1:${server.port}`, { compression: true })
      track(() => client.terminate())
      const errors: Error[] = []
      client.on('error', (error) => errors.push(error))
      let opened = false
      client.on('connect', () => (opened = true))
      const closed = next<[number]>(client, 'close')
      const socket = await server.nextSocket()
      const frame = await new Promise<Buffer>((resolve) => socket.once('data', resolve))
      const [code] = await closed
      expect(code, extension).to.equal(CloseCode.MandatoryExtension)
      expect(opened, extension).to.equal(false)
      expect(errors.map((e) => (e as { closeCode?: number }).closeCode), extension).to.deep.equal([CloseCode.MandatoryExtension])
      // A masked close frame carrying 1010.
      expect(frame[0], extension).to.equal(0x88)
      const key = frame.subarray(2, 6)
      expect(((frame[6] ^ key[0]) << 8) | (frame[7] ^ key[1]), extension).to.equal(CloseCode.MandatoryExtension)
    }
  })

  it('client: accepts a declined offer unless the extension is required', async () => {
    const { url } = await listen({}, echo)
    const plain = await open(url, { compression: true })
    expect(plain.extensions).to.equal('')
    plain.sendText('x'.repeat(500))
    expect((await next<[string]>(plain, 'text'))[0]).to.equal('x'.repeat(500))
    const { connect } = await import('../../src')
    const strict = connect(url, { compression: { required: true } })
    track(() => strict.terminate())
    strict.on('error', () => {})
    const [code] = await next<[number]>(strict, 'close')
    expect(code).to.equal(CloseCode.MandatoryExtension)
  })

  it('relays a text received compressed as the same compressed bytes when the windows allow, recompressing otherwise', async () => {
    const { port, nextConnection } = await listen({
      compression: true,
      verifyRequest: (request) => {
        if (request.path === '/small') request.compression = { serverMaxWindowBits: 9 }
      },
    })
    const offer = { 'Sec-WebSocket-Extensions': 'permessage-deflate' }
    const sender = await RawPeer.connect(port, '/', offer)
    const from = await nextConnection()
    const same = await RawPeer.connect(port, '/', offer)
    const to = await nextConnection()
    const small = await RawPeer.connect(port, '/small', offer)
    const toSmall = await nextConnection()
    from.on('text', (text) => {
      to.sendText(text)
      toSmall.sendText(text)
    })
    const text = JSON.stringify({ type: 'chat', text: 'relayed '.repeat(40) })
    // Compressed with level 9 here, unlike the server's level 1: identical bytes mean a copy.
    const payload = zlib.deflateRawSync(Buffer.from(text), { level: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4)
    sender.sendFrame(0x1, payload, { rsv: RSV1 })
    const relayed = await same.frame()
    expect(relayed.rsv).to.equal(RSV1)
    expect(relayed.payload.equals(payload)).to.equal(true)
    // A 15-bit window's bytes are not valid where the server agreed to 9 bits: compressed anew.
    const recompressed = await small.frame()
    expect(recompressed.rsv).to.equal(RSV1)
    expect(recompressed.payload.equals(payload)).to.equal(false)
    expect(inflate(recompressed.payload).toString()).to.equal(text)
  })

  it('compresses a text sent to many connections in a loop once, and each gets the same bytes', async () => {
    const { port, nextConnection } = await listen({ compression: true })
    const peers: RawPeer[] = []
    const connections: Connection[] = []
    for (let i = 0; i < 3; i++) {
      peers.push(await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' }))
      connections.push(await nextConnection())
    }
    const compress = PerMessageDeflate.prototype.compress
    let calls = 0
    PerMessageDeflate.prototype.compress = function (this: PerMessageDeflate, data: Buffer) {
      calls++
      return compress.call(this, data)
    }
    try {
      const text = JSON.stringify({ event: 'announcement', text: 'to everyone '.repeat(30) })
      for (const connection of connections) connection.sendText(text)
      const frames = await Promise.all(peers.map((peer) => peer.frame()))
      expect(calls).to.equal(1)
      for (const frame of frames) {
        expect(frame.rsv).to.equal(RSV1)
        expect(inflate(frame.payload).toString()).to.equal(text)
        expect(frame.payload.equals(frames[0].payload)).to.equal(true)
      }
    } finally {
      PerMessageDeflate.prototype.compress = compress
    }
  })

  it('holds no zlib object on an idle connection without context takeover, even after traffic', async () => {
    const { client, server } = await pair({ compression: true, binaryMode: 'buffer' }, { compression: true, binaryMode: 'buffer' })
    echo(server)
    client.sendText('y'.repeat(10_000))
    await next(client, 'text')
    // A streamed message borrows a pooled compressor (and the peer a pooled decompressor, across reads): given back at its end.
    const stream = client.beginBinary()
    stream.end(Buffer.alloc(200_000, 'z'))
    await next(client, 'binary')
    for (const connection of [client, server]) {
      const state = connection.compression as unknown as Record<string, unknown>
      expect(state.zlib, `${connection === client ? 'client' : 'server'} holds no zlib objects`).to.equal(null)
    }
  })

  it('shares one immutable agreement state between connections that agreed the same', async () => {
    const listening = await listen({ compression: true })
    const clients = await Promise.all([open(listening.url, { compression: true }), open(listening.url, { compression: true })])
    const servers = [await listening.nextConnection(), await listening.nextConnection()]
    const setting = (connection: Connection): unknown => (connection.compression as unknown as Record<string, unknown>).setting
    expect(setting(servers[0])).to.equal(setting(servers[1]))
    expect(setting(clients[0])).to.equal(setting(clients[1]))
    expect(Object.isFrozen(setting(servers[0]))).to.equal(true)
    expect(Object.keys(servers[0].compression!).sort(), 'two references per connection').to.deep.equal(['setting', 'zlib'])
  })

  it('refuses invalid compression options at once', async () => {
    const { createServer, connect } = await import('../../src')
    expect(() => createServer({ compression: { level: 12 } })).to.throw(RangeError, /level/)
    expect(() => connect('ws://127.0.0.1:1', { compression: { serverMaxWindowBits: 7 } })).to.throw(RangeError, /serverMaxWindowBits/)
  })
})
