import { expect } from 'chai'
import { next, pair, releaseAll } from '../helpers/transport-harness'

describe("transport/connection 'message' event", () => {
  afterEach(releaseAll)

  it("answers binary messages in the default 'stream' mode: the echo conn.on('message', m => conn.send(m)) works", async () => {
    const { client, server } = await pair({ fragmentSize: 4 }, { binaryMode: 'buffer', fragmentSize: 4 })
    server.on('message', (m) => server.send(m))
    const echoed = next<[Buffer]>(client, 'binary')
    // Longer than fragmentSize: it arrives in several fragments and is gathered for 'message'.
    client.sendBinary(Buffer.from('0123456789'))
    expect((await echoed)[0].toString()).to.equal('0123456789')
    const text = next<[string]>(client, 'text')
    client.sendText('hi')
    expect((await text)[0]).to.equal('hi')
  })

  it("still streams binary to a 'binary' listener while 'message' gets the whole Buffer", async () => {
    const { client, server } = await pair({ fragmentSize: 4 }, { fragmentSize: 4 })
    const whole = next<[Buffer]>(server, 'message')
    const streamed = next<[NodeJS.ReadableStream]>(server, 'binary')
    client.sendBinary(Buffer.from('abcdefghij'))
    const chunks: Buffer[] = []
    for await (const chunk of (await streamed)[0]) chunks.push(chunk as Buffer)
    expect(Buffer.concat(chunks).toString()).to.equal('abcdefghij')
    expect((await whole)[0]).to.be.instanceOf(Buffer)
    expect((await whole)[0].toString()).to.equal('abcdefghij')
  })
})
