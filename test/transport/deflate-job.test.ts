import { expect } from 'chai'
import * as zlib from 'node:zlib'
import { CloseCode, type Connection } from '../../src'
import { DeflateJob } from '../../src/transport/deflate-job'
import { RawPeer, listen, next, open, pair, releaseAll, type WireFrame } from '../helpers/transport-harness'

const RSV1 = 0x40
const OFFER = { 'Sec-WebSocket-Extensions': 'permessage-deflate' }

/** Chat-like text of `size` bytes (compressible, not trivially). */
function chat(size: number, seed: number): string {
  let out = ''
  for (let i = 0; out.length < size; i++) out += `{"id":${seed * 100_000 + i},"user":"u${(i * 7) % 13}","text":"message ${i} of ${seed}"}\n`
  return out.slice(0, size)
}

function inflate(frame: WireFrame): Buffer {
  return zlib.inflateRawSync(Buffer.concat([frame.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH })
}

/** Waits (event-loop turn by turn, for at most 5 s) until `done()`, failing with `what`. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  expect(done(), what).to.equal(true)
}

/** Resolves with the next `count` frames a raw peer receives, in order. */
async function frames(peer: RawPeer, count: number): Promise<WireFrame[]> {
  const out: WireFrame[] = []
  for (let i = 0; i < count; i++) out.push(await peer.frame())
  return out
}

describe('permessage-deflate: asynchronous compression of large messages', () => {
  afterEach(async () => {
    await releaseAll()
    await until(() => DeflateJob.running === 0 && DeflateJob.queued === 0, 'every zlib job has ended after the test')
  })

  it('sends messages of mixed sizes, pings and the close frame in the order they were sent', async () => {
    const { port, nextConnection } = await listen({ compression: true })
    const peer = await RawPeer.connect(port, '/', OFFER)
    const server = await nextConnection()
    const big = chat(300_000, 1)
    const bigBinary = Buffer.from(chat(100_000, 2))
    server.sendText(big)
    expect(DeflateJob.running, 'the large text is compressed on the thread pool').to.equal(1)
    server.sendText('small one')
    server.sendBinary(bigBinary)
    server.sendPing('p')
    server.sendText(chat(1000, 3))
    server.close(CloseCode.Normal, 'bye')
    const got = await frames(peer, 6)
    expect(got.map((f) => f.opcode)).to.deep.equal([0x1, 0x1, 0x2, 0x9, 0x1, 0x8])
    expect(got.map((f) => f.rsv)).to.deep.equal([RSV1, 0, RSV1, 0, RSV1, 0])
    expect(inflate(got[0]).toString()).to.equal(big)
    expect(got[1].payload.toString()).to.equal('small one')
    expect(inflate(got[2]).equals(bigBinary)).to.equal(true)
    expect(got[3].payload.toString()).to.equal('p')
    expect(inflate(got[4]).toString()).to.equal(chat(1000, 3))
    expect(got[5].payload.readUInt16BE(0)).to.equal(CloseCode.Normal)
  })

  it('keeps a context takeover compressor consistent: messages of every size inflate in order on one stream', async () => {
    const takeover = { serverNoContextTakeover: false, clientNoContextTakeover: false }
    const { client, server } = await pair({ compression: takeover }, { compression: takeover })
    expect(server.extensions).to.equal('permessage-deflate')
    const sent = [chat(200_000, 1), chat(500, 2), chat(40_000, 1), 'x'.repeat(200), chat(200_000, 1), chat(300, 4)]
    const received: string[] = []
    client.on('text', (text: string) => received.push(text))
    for (const text of sent) server.sendText(text)
    // The client sends back the same way: its large messages are compressed asynchronously too.
    const echoed: string[] = []
    server.on('text', (text: string) => echoed.push(text))
    for (const text of sent) client.sendText(text)
    await until(() => received.length === sent.length && echoed.length === sent.length, 'all messages arrived both ways')
    expect(received).to.deep.equal(sent)
    expect(echoed).to.deep.equal(sent)
  })

  it('keeps small messages synchronous: framed inside the send call, no zlib job', async () => {
    const { server } = await pair({ compression: true }, { compression: true })
    server.sendText(chat(16 * 1024 - 1, 1))
    server.sendBinary(Buffer.from(chat(2000, 2)))
    expect(DeflateJob.running + DeflateJob.queued).to.equal(0)
    expect(server['waiting'], 'nothing waits behind a job').to.equal(null)
    expect(server.bufferedAmount).to.be.above(0)
  })

  it('measures a text against asyncThreshold in UTF-8 bytes, not characters', async () => {
    const { client, server } = await pair({ compression: true }, { compression: true })
    const texts: string[] = []
    client.on('text', (text: string) => texts.push(text))
    server.sendText('€'.repeat(5000)) // 15,000 bytes
    expect(DeflateJob.running + DeflateJob.queued, '15,000 bytes: synchronous').to.equal(0)
    server.sendText('€'.repeat(6000)) // 18,000 bytes in 6,000 characters
    expect(DeflateJob.running, '18,000 bytes: asynchronous').to.equal(1)
    await until(() => texts.length === 2, 'both texts arrived')
    expect(texts).to.deep.equal(['€'.repeat(5000), '€'.repeat(6000)])
  })

  it('keeps every message synchronous with asyncThreshold: Infinity', async () => {
    const { client, server } = await pair({ compression: { asyncThreshold: Infinity } }, { compression: true })
    const big = chat(1_000_000, 1)
    server.sendText(big)
    expect(DeflateJob.running + DeflateJob.queued).to.equal(0)
    const [text] = await next<[string]>(client, 'text')
    expect(text).to.equal(big)
  })

  it('runs at most maxAsyncJobs zlib jobs at once across connections, the rest queued, all delivered', async () => {
    const listening = await listen({ compression: { maxAsyncJobs: 2 } })
    const clients: Connection[] = []
    const servers: Connection[] = []
    for (let i = 0; i < 6; i++) {
      clients.push(await open(listening.url, { compression: true, binaryMode: 'buffer' }))
      servers.push(await listening.nextConnection())
    }
    const received = clients.map((client) => next<[string]>(client, 'text'))
    const messages = servers.map((_, i) => chat(1 << 20, i))
    servers.forEach((server, i) => server.sendText(messages[i]))
    expect([DeflateJob.running, DeflateJob.queued], 'two running, four queued').to.deep.equal([2, 4])
    let most = 0
    const watch = setInterval(() => (most = Math.max(most, DeflateJob.running)), 0)
    try {
      const texts = await Promise.all(received)
      texts.forEach(([text], i) => expect(text === messages[i], `connection ${i} got its message`).to.equal(true))
    } finally {
      clearInterval(watch)
    }
    expect(most).to.be.at.most(2)
  })

  it('drops a queued job when its connection is destroyed, and never writes a running one after a destroy', async () => {
    const listening = await listen({ compression: { maxAsyncJobs: 1 } })
    const clientA = await open(listening.url, { compression: true })
    const serverA = await listening.nextConnection()
    const clientB = await open(listening.url, { compression: true })
    const serverB = await listening.nextConnection()
    const big = chat(1 << 20, 1)
    const errors: (Error | undefined)[] = []
    serverA.sendText(big, (error) => errors.push(error))
    serverB.sendText(big, (error) => errors.push(error))
    expect([DeflateJob.running, DeflateJob.queued]).to.deep.equal([1, 1])
    const closedB = next<[number]>(clientB, 'close')
    const serverClosedB = next(serverB, 'close')
    serverB.terminate()
    await serverClosedB
    expect(DeflateJob.queued, "B's queued job left the queue when B closed").to.equal(0)
    expect(DeflateJob.running, "A's job still runs").to.equal(1)
    // A's job is running: destroying A now must not write anything afterwards.
    const written = serverA.socket.bytesWritten
    const textsA: string[] = []
    clientA.on('text', (text: string) => textsA.push(text))
    const closedA = next<[number]>(clientA, 'close')
    serverA.terminate()
    expect((await closedA)[0]).to.equal(CloseCode.Abnormal)
    expect((await closedB)[0]).to.equal(CloseCode.Abnormal)
    await until(() => DeflateJob.running === 0, 'the running job ended')
    await new Promise((resolve) => setImmediate(resolve))
    expect(serverA.socket.bytesWritten, 'nothing written after the destroy').to.equal(written)
    expect(textsA).to.deep.equal([])
    await until(() => errors.length === 2, 'both send callbacks were called')
    expect(errors.map((error) => error?.name)).to.deep.equal(['ConnectionStateError', 'ConnectionStateError'])
  })

  it('closes a context takeover compressor only once its running job has called back, when destroyed mid-job', async () => {
    const takeover = { serverNoContextTakeover: false, clientNoContextTakeover: false }
    const { client, server } = await pair({ compression: takeover }, { compression: takeover })
    const errors: (Error | undefined)[] = []
    server.sendText(chat(1 << 20, 7), (error) => errors.push(error))
    expect(DeflateJob.running).to.equal(1)
    const own = (server.compression as unknown as { zlib: Record<string, unknown> }).zlib
    const closed = next<[number]>(client, 'close')
    server.terminate()
    await next(server, 'close')
    expect(own.busy, 'the job still runs after the close').to.equal(true)
    expect((own.deflater as Record<string, unknown>).closed, 'its zlib handle is not closed under the running job').to.equal(false)
    await until(() => DeflateJob.running === 0, 'the running job ended')
    expect((own.deflater as Record<string, unknown> | null)?.closed ?? true, 'closed once the job called back').to.equal(true)
    expect((await closed)[0]).to.equal(CloseCode.Abnormal)
    await until(() => errors.length === 1, 'the send callback was called')
    expect(errors[0]?.name).to.equal('ConnectionStateError')
  })

  it('sends the close frame after a message still compressing when close() is called mid-job', async () => {
    const { client, server } = await pair({ compression: true }, { compression: true })
    const big = chat(1 << 20, 5)
    const got = next<[string]>(client, 'text')
    const closed = next<[number, string]>(client, 'close')
    server.sendText(big)
    server.close(CloseCode.GoingAway, 'later')
    expect(server.sendText('refused after close')).to.equal(false)
    expect((await got)[0] === big).to.equal(true)
    expect(await closed).to.deep.equal([CloseCode.GoingAway, 'later'])
  })

  it('counts bytes waiting for a job against maxBufferedAmount: drop policy', async () => {
    const { server } = await pair({ compression: true, maxBufferedAmount: 300_000, highWaterMark: 1 << 20, slowConsumer: 'drop' }, { compression: true })
    const errors: (Error | null | undefined)[] = [null, null, null]
    const results = [0, 1, 2].map((i) => server.sendText(chat(200_000, 31 + i), (error) => (errors[i] = error)))
    expect(server.bufferedAmount, 'the queued messages are buffered').to.be.at.least(400_000)
    expect(DeflateJob.running).to.equal(1)
    // The third comes with 400,000 bytes waiting: over 300,000, so it is dropped.
    expect(results).to.deep.equal([true, true, false])
    await until(() => !errors.includes(null), 'all three callbacks ran')
    expect(errors[2]?.message).to.match(/slow consumer/)
    expect(errors.slice(0, 2)).to.deep.equal([undefined, undefined])
  })

  it('counts bytes waiting for a job against maxBufferedAmount: close policy fails with 1008 and drops what waits', async () => {
    const { client, server } = await pair({ compression: true, maxBufferedAmount: 300_000 }, { compression: true })
    const closed = next<[number]>(client, 'close')
    const texts: string[] = []
    client.on('text', (text: string) => texts.push(text))
    // Texts no connection received before (a received text would be relayed as its compressed bytes, synchronously).
    server.sendText(chat(200_000, 21))
    server.sendText(chat(200_000, 22))
    expect(DeflateJob.running).to.equal(1)
    server.sendText(chat(200_000, 23))
    expect((await closed)[0]).to.equal(CloseCode.PolicyViolation)
    expect(texts).to.deep.equal([])
  })

  it('emits drain once the output waiting for a job has been written', async () => {
    const { client, server } = await pair({ compression: true, highWaterMark: 64 * 1024 }, { compression: true })
    const got = next<[string]>(client, 'text')
    expect(server.sendText(chat(200_000, 1))).to.equal(false)
    await next(server, 'drain')
    expect(server.bufferedAmount).to.be.below(64 * 1024)
    expect((await got)[0].length).to.equal(200_000)
  })

  it('deflates a large publish once, asynchronously, and delivers it to every subscriber in publish order', async () => {
    const { port, server, nextConnection } = await listen({ compression: true })
    const compressed = await Promise.all([0, 1, 2].map(() => RawPeer.connect(port, '/', OFFER)))
    const plain = await RawPeer.connect(port, '/')
    for (let i = 0; i < 4; i++) (await nextConnection()).subscribe('t')
    const big1 = chat(300_000, 1)
    const big2 = chat(100_000, 2)
    server.publish('t', big1)
    expect([DeflateJob.running, DeflateJob.queued], 'one job for all three subscribers').to.deep.equal([1, 0])
    server.publish('t', 'small')
    server.publish('t', big2)
    server.publish('t', chat(500, 3))
    for (const peer of compressed) {
      const got = await frames(peer, 4)
      expect(got.map((f) => f.rsv)).to.deep.equal([RSV1, 0, RSV1, RSV1])
      expect(inflate(got[0]).toString() === big1).to.equal(true)
      expect(got[1].payload.toString()).to.equal('small')
      expect(inflate(got[2]).toString() === big2).to.equal(true)
      expect(inflate(got[3]).toString()).to.equal(chat(500, 3))
    }
    const got = await frames(plain, 4)
    expect(got.map((f) => f.payload.toString())).to.deep.equal([big1, 'small', big2, chat(500, 3)])
  })
})
