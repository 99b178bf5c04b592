import { expect } from 'chai'
import { Gateway, Module, OnBinary, OnText, Protocol, SelectProtocol, type UpgradeRequest } from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'
import { closePeers, connectPeer, refusal } from './ws-peer'

@Gateway('/client-order', { protocols: ['chat.v2', 'chat.v1'] })
class ClientOrder {
  @OnText({ protocol: 'chat.v1' }) v1(text: string) {
    return `v1:${text}`
  }
  @OnText() other(text: string, @Protocol() protocol: string | undefined) {
    return `${protocol ?? 'none'}:${text}`
  }
  @OnBinary({ protocol: 'chat.v2' }) v2Binary(data: Buffer) {
    return data
  }
}

@Gateway('/server-order', { protocols: ['chat.v2', 'chat.v1'], protocolOrder: 'server' })
class ServerOrder {
  @OnText() onText(text: string, @Protocol() protocol: string) {
    return protocol
  }
}

@Gateway('/required', { protocols: ['chat.v1'], protocolRequired: true })
class Required {
  @OnText() onText() {}
}

@Gateway('/custom')
class Custom {
  @SelectProtocol()
  async choose(request: UpgradeRequest, offered: string[]) {
    await Promise.resolve()
    const wanted = request.query.get('want')
    if (wanted === 'unoffered') return 'never-offered'
    return offered.find((p) => p === wanted)
  }
  @OnText() onText(text: string, @Protocol() protocol: string | undefined) {
    return protocol ?? 'none'
  }
}

@Gateway('/by-handlers')
class ByHandlers {
  @OnText({ protocol: 'a' }) a() {
    return 'a'
  }
  @OnText({ protocol: 'b' }) b() {
    return 'b'
  }
}

@Gateway('/legacy-order')
class LegacyOrder {
  @SelectProtocol()
  choose(offered: string[], request: UpgradeRequest) {
    return offered.find((p) => p === request.query.get('want'))
  }
  @OnText() onText(text: string, @Protocol() protocol: string | undefined) {
    return protocol ?? 'none'
  }
}

@Module({ gateways: [ClientOrder, ServerOrder, Required, Custom, ByHandlers, LegacyOrder] })
class AppModule {}

describe('framework subprotocol selection', () => {
  let t: TestApp
  let warnings: string[]
  beforeEach(async () => {
    warnings = []
    t = await createTestApp(AppModule, { logger: { error: () => {}, warn: (_fields: object, message: string) => warnings.push(message) } })
  })
  afterEach(async () => {
    await t.close()
    closePeers()
  })

  it("picks the client's most preferred supported protocol by default", async () => {
    const peer = await connectPeer(`${t.url}/client-order`, { protocols: ['mqtt', 'chat.v1', 'chat.v2'] })
    expect(peer.protocol).to.equal('chat.v1')
  })

  it("picks the server's preferred protocol with protocolOrder: 'server'", async () => {
    const peer = await connectPeer(`${t.url}/server-order`, { protocols: ['chat.v1', 'chat.v2'] })
    expect(peer.protocol).to.equal('chat.v2')
    peer.send('which')
    expect(await peer.next()).to.equal('chat.v2')
  })

  it('dispatches to the handler of the negotiated protocol, side by side', async () => {
    const v1 = await t.connect('/client-order', { protocols: ['chat.v1'] })
    const v2 = await t.connect('/client-order', { protocols: ['chat.v2'] })
    const none = await t.connect('/client-order')
    v1.send('hi')
    v2.send('hi')
    none.send('hi')
    expect(await v1.nextText()).to.equal('v1:hi')
    expect(await v2.nextText()).to.equal('chat.v2:hi')
    expect(await none.nextText()).to.equal('none:hi')
    expect(none.protocol).to.equal(undefined)
  })

  it('closes with 1003 when only another protocol handles the message type', async () => {
    const v1 = await t.connect('/client-order', { protocols: ['chat.v1'] })
    v1.send(Buffer.from([1]))
    await v1.expectClose(1003)
    const v2 = await t.connect('/client-order', { protocols: ['chat.v2'] })
    v2.send(Buffer.from([1]))
    expect(await v2.nextBinary()).to.deep.equal(Buffer.from([1]))
  })

  it('refuses with 400 when the client offers only unsupported protocols', async () => {
    const refused = await refusal(`${t.url}/client-order`, { protocols: ['mqtt', 'stomp'] })
    expect(refused.status).to.equal(400)
  })

  it('refuses with 400 a handshake without agreement under protocolRequired, even with nothing offered', async () => {
    expect((await refusal(`${t.url}/required`)).status).to.equal(400)
    await t.expectRejected('/required', 400, { protocols: ['chat.v2'] })
    const ok = await t.connect('/required', { protocols: ['chat.v1'] })
    expect(ok.protocol).to.equal('chat.v1')
  })

  it('lets an async @SelectProtocol method choose', async () => {
    const peer = await connectPeer(`${t.url}/custom?want=y`, { protocols: ['x', 'y'] })
    expect(peer.protocol).to.equal('y')
    peer.send('?')
    expect(await peer.next()).to.equal('y')
    await t.expectRejected('/custom?want=z', 400, { protocols: ['x', 'y'] })
  })

  it('still calls a selector declared (offered: string[], request) with that order, and warns it is deprecated', async () => {
    const peer = await connectPeer(`${t.url}/legacy-order?want=y`, { protocols: ['x', 'y'] })
    expect(peer.protocol).to.equal('y')
    expect(warnings).to.have.lengthOf(1)
    expect(warnings[0]).to.match(/LegacyOrder @SelectProtocol\(\) takes \(offered, request\): deprecated/)
  })

  it('never answers a protocol the client did not offer, even when the selector returns one', async () => {
    warnings.length = 0
    await t.expectRejected('/custom?want=unoffered', 400, { protocols: ['x'] })
    expect(warnings).to.deep.equal([
      'gatewire: Custom @SelectProtocol chose "never-offered", which the client did not offer; treating it as no agreement',
    ])
  })

  it('connects without protocol when the client offers none and none is required', async () => {
    const client = await t.connect('/custom')
    client.send('?')
    expect(await client.nextText()).to.equal('none')
  })

  it('supports the protocols its handlers name when the gateway lists none', async () => {
    const b = await t.connect('/by-handlers', { protocols: ['c', 'b'] })
    expect(b.protocol).to.equal('b')
    b.send('?')
    expect(await b.nextText()).to.equal('b')
  })
})
