import { expect } from 'chai'
import * as zlib from 'node:zlib'
import { PerMessageDeflate } from '../../../src/protocol/extensions/per-message-deflate'
import { RawPeer, listen, releaseAll } from '../../helpers/transport-harness'

const RSV1 = 0x40
const inflate = (data: Buffer): Buffer =>
  zlib.inflateRawSync(Buffer.concat([data, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH })

describe('transport/pubsub: publish with permessage-deflate', () => {
  const compress = PerMessageDeflate.prototype.compress
  let calls = 0
  beforeEach(() => {
    calls = 0
    // Counts the real compressor's calls (it still does the work).
    PerMessageDeflate.prototype.compress = function (this: PerMessageDeflate, data: Buffer) {
      calls++
      return compress.call(this, data)
    }
  })
  afterEach(async () => {
    PerMessageDeflate.prototype.compress = compress
    await releaseAll()
  })

  it('deflates a publish once and writes the same compressed bytes to every compatible subscriber', async () => {
    const { port, server, nextConnection } = await listen({
      compression: true,
      // /takeover: this connection's compressor keeps its context.
      verifyRequest: (request) => {
        if (request.path === '/takeover') request.compression = { serverNoContextTakeover: false, clientNoContextTakeover: false }
      },
    })
    const offer = { 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' }
    const peers: Record<string, RawPeer> = {}
    for (const [name, path, headers] of [
      ['a', '/', offer],
      ['b', '/', offer],
      ['c', '/', offer],
      ['plain', '/', {}],
      ['takeover', '/takeover', offer],
    ] as const) {
      peers[name] = await RawPeer.connect(port, path, headers)
      ;(await nextConnection()).subscribe('room')
    }
    expect(peers.takeover.response.headers['sec-websocket-extensions']).to.equal('permessage-deflate')
    const message = JSON.stringify({ type: 'chat', from: 'ada', text: 'hello everyone, '.repeat(20) })
    expect(server.publish('room', message)).to.equal(5)
    const frames = Object.fromEntries(await Promise.all(Object.entries(peers).map(async ([name, peer]) => [name, await peer.frame()] as const)))
    expect(calls, 'compressions for one publish').to.equal(1)
    for (const name of ['a', 'b', 'c']) {
      expect(frames[name].rsv, name).to.equal(RSV1)
      expect(frames[name].payload.equals(frames.a.payload), name).to.equal(true)
    }
    expect(frames.a.payload.length).to.be.below(message.length / 3)
    expect(inflate(frames.a.payload).toString()).to.equal(message)
    // No compression negotiated, or a compressor with context of its own: the plain frame.
    for (const name of ['plain', 'takeover']) {
      expect(frames[name].rsv, name).to.equal(0)
      expect(frames[name].payload.toString(), name).to.equal(message)
    }
  })

  it('publishes messages under the threshold uncompressed', async () => {
    const { port, server, nextConnection } = await listen({ compression: { threshold: 1000 } })
    const peer = await RawPeer.connect(port, '/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' })
    ;(await nextConnection()).subscribe('t')
    server.publish('t', 'short')
    const frame = await peer.frame()
    expect([frame.rsv, frame.payload.toString()]).to.deep.equal([0, 'short'])
    expect(calls).to.equal(0)
  })
})
