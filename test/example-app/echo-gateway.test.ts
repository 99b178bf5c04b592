import { expect } from 'chai'
import { AppModule, appOptions } from '../../example-app/app-module'
import { createTestApp, type TestApp } from '../../src/testing'
import { WsClient } from './ws-client'

describe('example-app EchoGateway', () => {
  let t: TestApp
  const clients: WsClient[] = []
  beforeEach(async () => {
    t = await createTestApp(AppModule, appOptions)
  })
  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate()
    await t.close()
  })

  it('echoes text as text and binary as binary to a ws client', async () => {
    const client = await WsClient.open(`${t.url}/echo`)
    clients.push(client)
    client.ws.send('héllo')
    client.ws.send(Buffer.from([0, 1, 2, 255]))
    expect(await client.next()).to.equal('héllo')
    expect(await client.next()).to.deep.equal(Buffer.from([0, 1, 2, 255]))
  })

  it('needs no nickname', async () => {
    const client = await t.connect('/echo')
    client.send('ping')
    expect(await client.nextText()).to.equal('ping')
  })

  it('closes with 1009 above the app-wide 64 KiB limit', async () => {
    const client = await t.connect('/echo')
    client.send(Buffer.alloc(64 * 1024))
    expect((await client.nextBinary()).length).to.equal(64 * 1024)
    client.send(Buffer.alloc(64 * 1024 + 1))
    await client.expectClose(1009)
  })
})
