import { expect } from 'chai'
import { Gateway, Module, OnText, bootstrap } from '../../../src'
import { DefinitionError } from '../../../src/framework/definition-error'
import { createTestApp, type TestApp } from '../../../src/testing'
import { closePeers, connectPeer } from './ws-peer'

@Gateway('/compressed', { compression: true })
class Compressed {
  @OnText() onText(text: string) {
    return text
  }
}

@Gateway('/plain')
class Plain {
  @OnText() onText(text: string) {
    return text
  }
}

@Gateway('/tuned', { compression: { threshold: 10_000, serverMaxWindowBits: 10 } })
class Tuned {
  @OnText() onText(text: string) {
    return text
  }
}

@Module({ gateways: [Compressed, Plain, Tuned] })
class AppModule {}

describe('framework compression option (permessage-deflate per gateway)', () => {
  let t: TestApp
  afterEach(async () => {
    await t?.close()
    closePeers()
  })

  it('accepts permessage-deflate on a gateway with compression and declines it on one without', async () => {
    t = await createTestApp(AppModule)
    // ws offers permessage-deflate by default, as browsers do.
    const compressed = await connectPeer(`${t.url}/compressed`)
    const plain = await connectPeer(`${t.url}/plain`)
    expect(compressed.ws.extensions).to.equal('permessage-deflate')
    expect(plain.ws.extensions).to.equal('')
    const text = JSON.stringify({ event: 'chat', data: 'compress me '.repeat(100) })
    compressed.send(text)
    expect(await compressed.next()).to.equal(text)
  })

  it("passes the gateway's options to the negotiation", async () => {
    t = await createTestApp(AppModule)
    const tuned = await connectPeer(`${t.url}/tuned`)
    const offer = (tuned.ws as unknown as { _extensions: Record<string, { params: Record<string, unknown> }> })._extensions
    expect(offer['permessage-deflate'].params).to.deep.include({ server_no_context_takeover: true, client_no_context_takeover: true, server_max_window_bits: 10 })
  })

  it('takes an app-wide default from bootstrap options, which a gateway may override', async () => {
    t = await createTestApp(AppModule, { compression: true })
    const plain = await connectPeer(`${t.url}/plain`)
    expect(plain.ws.extensions).to.equal('permessage-deflate')
  })

  it('fails at bootstrap with a DefinitionError on invalid compression options', async () => {
    @Gateway('/bad', { compression: { level: 42 } })
    class Bad {
      @OnText() onText() {}
    }
    @Module({ gateways: [Bad] })
    class BadModule {}
    let caught: unknown
    try {
      await bootstrap(BadModule).close()
    } catch (error) {
      caught = error
    }
    expect(caught).to.be.instanceOf(DefinitionError)
    expect(String(caught)).to.match(/compression\.level/)
  })
})
