// permessage-deflate interop with the `ws` package (its perMessageDeflate) as client and as
// server, across the parameter combinations each side can ask for.
import { expect } from 'chai'
import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer, type PerMessageDeflateOptions } from 'ws'
import type { CompressionOptions, Connection } from '../../src'
import { listen, next, open, releaseAll, track } from '../helpers/transport-harness'

const MiB = 1024 * 1024
const echo = (connection: Connection): void => {
  connection.on('text', (text) => connection.sendText(text))
  connection.on('binary', (data) => connection.sendBinary(data as unknown as Buffer))
}

/** Messages of the sizes that matter: empty, under and over thresholds, over 64 KiB, repetitive and not. */
function messages(): Array<string | Buffer> {
  const random = Buffer.alloc(100_000)
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24
  return [
    '',
    'hi',
    JSON.stringify({ type: 'chat', text: 'hello '.repeat(30) }),
    JSON.stringify({ type: 'chat', text: 'hello '.repeat(30) }),
    'é✓𝄞'.repeat(5000),
    random,
    Buffer.alloc(MiB, 3),
  ]
}

function wsOpen(url: string, perMessageDeflate: boolean | PerMessageDeflateOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate })
    track(() => ws.terminate())
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

function wsNext(ws: WebSocket): Promise<string | Buffer> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, binary: boolean) => resolve(binary ? data : data.toString())))
}

const wsOffers: Array<[string, PerMessageDeflateOptions | true]> = [
  ['the default offer', true],
  ['server_no_context_takeover', { serverNoContextTakeover: true, threshold: 0 }],
  ['client_no_context_takeover', { clientNoContextTakeover: true, threshold: 0 }],
  ['server_max_window_bits=9', { serverMaxWindowBits: 9, threshold: 0 }],
  ['client_max_window_bits=10', { clientMaxWindowBits: 10, threshold: 0 }],
  ['every parameter', { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 12, threshold: 0 }],
]
const ourServers: Array<[string, CompressionOptions]> = [
  ['default policy', {}],
  ['as offered', { serverNoContextTakeover: false, clientNoContextTakeover: false, threshold: 0 }],
  ['small windows', { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 9, clientMaxWindowBits: 9, threshold: 0 }],
]

describe('permessage-deflate interop with ws', function () {
  this.timeout(30_000)
  afterEach(releaseAll)

  for (const [serverName, compression] of ourServers) {
    for (const [offerName, offer] of wsOffers) {
      it(`ws client (${offerName}) → gatewire server (${serverName}): every message echoed`, async () => {
        const { url } = await listen({ compression, binaryMode: 'buffer', maxMessageSize: 64 * MiB }, echo)
        const ws = await wsOpen(url, offer)
        expect(ws.extensions).to.equal('permessage-deflate')
        for (const message of messages()) {
          ws.send(message)
          const echoed = await wsNext(ws)
          expect(typeof echoed).to.equal(typeof message)
          expect(Buffer.from(echoed).equals(Buffer.from(message))).to.equal(true)
        }
        // A compressed message in fragments (ws compresses each and sets RSV1 on the first).
        ws.send('part one, ', { fin: false, compress: true })
        ws.send('part two '.repeat(100), { fin: true, compress: true })
        expect(await wsNext(ws)).to.equal('part one, ' + 'part two '.repeat(100))
      })
    }
  }

  const wsServers: Array<[string, PerMessageDeflateOptions]> = [
    ['the defaults (context takeover)', { threshold: 0 }],
    ['server_no_context_takeover', { serverNoContextTakeover: true, threshold: 0 }],
    ['client_no_context_takeover', { clientNoContextTakeover: true, threshold: 0 }],
    ['server_max_window_bits=10', { serverMaxWindowBits: 10, threshold: 0 }],
    ['client_max_window_bits=9', { clientMaxWindowBits: 9, threshold: 0 }],
  ]
  const ourClients: Array<[string, CompressionOptions | true]> = [
    ['default offer', true],
    ['context takeover offer', { serverNoContextTakeover: false, clientNoContextTakeover: false, threshold: 0 }],
  ]
  for (const [serverName, perMessageDeflate] of wsServers) {
    for (const [clientName, compression] of ourClients) {
      it(`gatewire client (${clientName}) → ws server (${serverName}): every message echoed, fragments streamed`, async () => {
        const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate, maxPayload: 64 * MiB })
        track(() => new Promise<void>((resolve) => wss.close(() => resolve())))
        wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })))
        await next(wss, 'listening')
        const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`
        const client = await open(url, { compression, binaryMode: 'buffer', maxMessageSize: 64 * MiB, fragmentSize: 4096 })
        expect(client.extensions).to.match(/^permessage-deflate/)
        for (const message of messages()) {
          client.send(message)
          const [echoed] = await next<[string | Buffer]>(client, 'message')
          expect(Buffer.from(echoed).equals(Buffer.from(message))).to.equal(true)
        }
        const stream = client.beginBinary()
        const data = Buffer.alloc(50_000, 'abc')
        stream.end(data)
        const [echoed] = await next<[Buffer]>(client, 'binary')
        expect(echoed.equals(data)).to.equal(true)
      })
    }
  }
})
