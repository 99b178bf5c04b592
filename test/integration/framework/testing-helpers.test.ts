import { expect } from 'chai'
import { Gateway, HandshakeError, Module, OnBinary, OnText, WsException } from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'

@Gateway('/echo')
class Echo {
  @OnText() text(text: string) {
    if (text === 'close') throw new WsException(4000, 'asked to')
    return text
  }
  @OnBinary() binary(data: Buffer) {
    return data
  }
}

@Module({ gateways: [Echo] })
class AppModule {}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (err) {
    return err as Error
  }
  expect.fail('expected a failure')
}

describe('gatewire/testing', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp(AppModule)
  })
  afterEach(() => t.close())

  it('bootstraps on 127.0.0.1 with a free port', () => {
    expect(t.url).to.match(/^ws:\/\/127\.0\.0\.1:\d+$/)
    expect(t.port).to.be.greaterThan(0)
  })

  it('sends and receives text, binary and JSON', async () => {
    const client = await t.connect<{ n: number }>('/echo')
    client.send('a')
    client.send(Buffer.from([1]))
    client.sendJson({ n: 1 })
    expect(await client.nextMessage()).to.equal('a')
    expect(await client.nextBinary()).to.deep.equal(Buffer.from([1]))
    const json = await client.nextJson()
    expect(json.n).to.equal(1)
  })

  it('fails nextMessage() after its timeout with a message naming the client', async () => {
    const client = await t.connect('/echo')
    const err = await failure(client.nextMessage(30))
    expect(err.message).to.match(/client ws:\/\/127\.0\.0\.1:\d+\/echo: no message within 30 ms/)
  })

  it('fails nextText() on a binary message and nextJson() on text that is not JSON', async () => {
    const client = await t.connect('/echo')
    client.send(Buffer.from([1, 2]))
    expect((await failure(client.nextText())).message).to.match(/expected a text message, got 2 bytes of binary/)
    client.send('not json')
    expect((await failure(client.nextJson())).message).to.match(/expected JSON, got "not json"/)
  })

  it('resolves expectClose() with the close, and explains a different code', async () => {
    const a = await t.connect('/echo')
    a.send('close')
    expect(await a.expectClose(4000)).to.deep.equal({ code: 4000, reason: 'asked to' })
    const b = await t.connect('/echo')
    b.send('close')
    expect((await failure(b.expectClose(1000))).message).to.match(/closed with 4000 \(asked to\), expected 1000/)
  })

  it('fails a pending nextMessage() when the connection closes', async () => {
    const client = await t.connect('/echo')
    const next = client.nextMessage()
    client.send('close')
    expect((await failure(next)).message).to.match(/closed with 4000 \(asked to\) before a message arrived/)
  })

  it('resolves expectRejected() with the HandshakeError and explains an accepted connection or another status', async () => {
    const err = await t.expectRejected('/nowhere', 404)
    expect(err).to.be.instanceOf(HandshakeError)
    expect(err.status).to.equal(404)
    expect((await failure(t.expectRejected('/echo', 404))).message).to.match(/expectRejected\(\/echo, 404\): the server accepted the connection/)
    expect((await failure(t.expectRejected('/nowhere', 401))).message).to.match(/the server answered HTTP 404/)
  })

  it('rejects connect() with the HandshakeError of a refused handshake', async () => {
    const err = await failure(t.connect('/nowhere'))
    expect(err).to.be.instanceOf(HandshakeError)
    expect((err as HandshakeError).status).to.equal(404)
  })
})
