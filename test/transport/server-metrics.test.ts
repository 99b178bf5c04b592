import { expect } from 'chai'
import { Readable } from 'node:stream'
import { createServer, ServerMetrics } from '../../src'
import { closeRecorder, collect, listen, next, open, pair, rawHttp, releaseAll, upgradeRequest } from '../helpers/transport-harness'

describe('transport/server metrics (the core alone)', () => {
  afterEach(releaseAll)

  it('counts accepted and refused handshakes by status', async () => {
    const { server, port, url } = await listen()
    await open(url)
    expect((await rawHttp(port, upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }))).status).to.equal(426)
    expect((await rawHttp(port, upgradeRequest('/', {}, 'GET / HTTP/1.0'))).status).to.equal(400)
    expect(server.metrics!.snapshot().handshakes).to.deep.equal({ '101': 1, '400': 1, '426': 1 })
  })

  it('reports handshakes, messages and bytes in server.metrics', async () => {
    const { listening, client, server } = await pair({ binaryMode: 'buffer' })
    server.on('text', (text: string) => server.sendText(text))
    client.sendText('ab')
    await next(client, 'text')
    client.sendBinary(Buffer.alloc(10))
    await next(server, 'binary')
    const snapshot = listening.server.metrics!.snapshot()
    expect(snapshot.handshakes).to.deep.equal({ '101': 1 })
    expect(snapshot.connections).to.deep.include({
      connectionsOpen: { '': 1 },
      connectionsOpened: 1,
      messagesReceived: { text: 1, binary: 1 },
      bytesReceived: { text: 2, binary: 10 },
      messagesSent: { text: 1, binary: 0 },
    })
  })

  it('counts every published delivery as a message sent, with its payload bytes', async () => {
    const { listening, client, server } = await pair({ binaryMode: 'buffer' })
    server.subscribe('news')
    const text = next<[string]>(client, 'text')
    expect(listening.server.publish('news', 'héllo')).to.equal(1)
    expect((await text)[0]).to.equal('héllo')
    const binary = next<[Buffer]>(client, 'message')
    listening.server.publish('news', Buffer.alloc(300))
    expect((await binary)[0].length).to.equal(300)
    const c = listening.server.metrics!.snapshot().connections
    expect(c.messagesSent).to.deep.equal({ text: 1, binary: 1 })
    expect(c.bytesSent).to.deep.equal({ text: 6, binary: 300 })
  })

  it('counts a streamed binary message once, with all its bytes, both ways', async () => {
    const { listening, client, server } = await pair({ fragmentSize: 1000 })
    const received = next<[Readable]>(server, 'binary')
    const out = client.beginBinary()
    out.end(Buffer.alloc(2500))
    const [stream] = await received
    expect((await collect(stream)).length).to.equal(2500)
    const reply = server.beginBinary()
    reply.end(Buffer.alloc(1500))
    await new Promise((resolve) => reply.once('finish', resolve))
    const c = listening.server.metrics!.snapshot().connections
    expect(c.messagesReceived.binary).to.equal(1)
    expect(c.bytesReceived.binary).to.equal(2500)
    expect(c.messagesSent.binary).to.equal(1)
    expect(c.bytesSent.binary).to.equal(1500)
  })

  it('counts the close codes sent and received', async () => {
    const { listening, client } = await pair()
    const { closed } = closeRecorder(client)
    client.close(4001)
    await closed
    const second = await Promise.all([open(listening.url), listening.nextConnection()])
    const recorder = closeRecorder(second[0])
    second[1].close(1000)
    await recorder.closed
    const c = listening.server.metrics!.snapshot().connections
    expect(c.closeCodesReceived).to.deep.equal({ '1000': 1, '4001': 1 })
    expect(c.closeCodesSent).to.deep.equal({ '1000': 1, '4001': 1 })
  })

  it('is null with metrics: false, and the server works the same', async () => {
    expect(createServer({ metrics: false }).metrics).to.equal(null)
    expect(new ServerMetrics().snapshot()).to.deep.equal({ handshakes: {}, connections: new ServerMetrics().connections.snapshot() })
    const { client, server } = await pair({ metrics: false })
    server.on('text', (text: string) => server.sendText(text))
    client.sendText('still echoes')
    expect((await next<[string]>(client, 'text'))[0]).to.equal('still echoes')
  })
})
