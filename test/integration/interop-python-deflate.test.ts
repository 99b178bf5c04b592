// permessage-deflate interop with Python's `websockets` (Debian's python3-websockets), which
// compresses by default: its client against our server in both memory modes, its server (which
// limits both windows to 12 bits) for our client.
import { expect } from 'chai'
import { spawn, spawnSync } from 'node:child_process'
import * as path from 'node:path'
import type { Connection } from '../../src'
import { PYTHON, PYTHON_FIXTURES, runPython } from '../helpers/python-fixtures'
import { listen, next, open, releaseAll, track } from '../helpers/transport-harness'

const FIXTURES = PYTHON_FIXTURES
const MiB = 1024 * 1024

function hasWebsockets(): boolean {
  return spawnSync(PYTHON, ['-c', 'import websockets'], { encoding: 'utf8' }).status === 0
}

/** The python echo server fixture (compression on by default); resolves with its URL. */
function pythonServer(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [path.join(FIXTURES, 'ws_server.py')])
    track(() => {
      child.stdin.end()
      child.kill()
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /^PORT (\d+)\n/.exec(out)
      if (match) resolve(`ws://127.0.0.1:${match[1]}`)
    })
    child.on('exit', (code) => reject(new Error(`ws_server.py exited with ${code}`)))
  })
}

const echo = (connection: Connection): void => {
  connection.on('text', (text) => connection.sendText(text))
  connection.on('binary', (data) => connection.sendBinary(data as unknown as Buffer))
}

describe("permessage-deflate interop with Python's websockets", function () {
  this.timeout(30_000)

  before(function () {
    if (!hasWebsockets()) {
      console.warn(`\n  !!! SKIPPED: ${PYTHON} cannot import websockets (apt-get install -y python3-websockets)\n`)
      this.skip()
    }
  })

  afterEach(releaseAll)

  const limits = { maxMessageSize: 64 * MiB, binaryMode: 'buffer' as const }

  it('python client → gatewire server, default compression (no context takeover either way)', async () => {
    const { url } = await listen({ ...limits, compression: true }, echo)
    const report = JSON.parse(await runPython('ws_deflate_client.py', [url]))
    expect(report).to.deep.equal({
      extensions: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      echo_ok: true,
      close_code: 1000,
    })
  })

  it('python client → gatewire server, context takeover as offered', async () => {
    const { url } = await listen({ ...limits, compression: { serverNoContextTakeover: false, clientNoContextTakeover: false, threshold: 0 } }, echo)
    const report = JSON.parse(await runPython('ws_deflate_client.py', [url]))
    expect(report).to.deep.equal({ extensions: 'permessage-deflate', echo_ok: true, close_code: 1000 })
  })

  for (const [mode, compression] of [
    ['default compression', true],
    ['context takeover both ways', { serverNoContextTakeover: false, clientNoContextTakeover: false, threshold: 0 }],
  ] as const) {
    it(`gatewire client → python server (12-bit windows), ${mode}`, async () => {
      const url = await pythonServer()
      const client = await open(`${url}/echo`, { ...limits, compression })
      expect(client.extensions).to.match(/^permessage-deflate/)
      expect(client.extensions).to.contain('client_max_window_bits=12')
      for (let i = 0; i < 30; i++) {
        const text = JSON.stringify({ type: 'chat', n: i, text: 'ça va? '.repeat(i * 5) })
        client.sendText(text)
        expect((await next<[string]>(client, 'text'))[0]).to.equal(text)
      }
      const data = Buffer.alloc(2 * MiB)
      for (let i = 0; i < data.length; i++) data[i] = (i >> 4) & 0xff
      client.sendBinary(data)
      expect((await next<[Buffer]>(client, 'binary'))[0].equals(data)).to.equal(true)
    })
  }
})
