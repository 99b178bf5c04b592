// Interop with Python's `websockets` (Debian's python3-websockets), an implementation written
// independently of both gatewire and `ws`: its client against our server, its server for our
// client. The scripts are in test/fixtures/python/.
import { expect } from 'chai'
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import * as path from 'node:path'
import type { Readable } from 'node:stream'
import { CloseCode, type Connection } from '../../src'
import { PYTHON, PYTHON_FIXTURES, runPython } from '../helpers/python-fixtures'
import { closeRecorder, collect, listen, next, open, releaseAll, track } from '../helpers/transport-harness'

const FIXTURES = PYTHON_FIXTURES
const MiB = 1024 * 1024

function pythonWebsockets(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8' })
  return probe.status === 0 ? probe.stdout.trim() : null
}

/** Starts the python server fixture; resolves with its port and a reader of its later lines. */
async function pythonServer(): Promise<{ url: string; line(): Promise<string> }> {
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, [path.join(FIXTURES, 'ws_server.py')])
  track(() => {
    child.stdin.end()
    child.kill()
  })
  const lines: string[] = []
  const waiters: ((line: string) => void)[] = []
  let buffered = ''
  let stderr = ''
  child.stderr.on('data', (chunk) => (stderr += chunk))
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    let end: number
    while ((end = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, end)
      buffered = buffered.slice(end + 1)
      const waiter = waiters.shift()
      if (waiter) waiter(line)
      else lines.push(line)
    }
  })
  const line = (): Promise<string> =>
    lines.length ? Promise.resolve(lines.shift()!) : new Promise((resolve) => waiters.push(resolve))
  const first = await Promise.race([
    line(),
    next(child, 'exit').then(() => {
      throw new Error(`ws_server.py exited:\n${stderr}`)
    }),
  ])
  const match = /^PORT (\d+)$/.exec(first)
  if (!match) throw new Error(`unexpected first line from ws_server.py: ${first}`)
  return { url: `ws://127.0.0.1:${match[1]}`, line }
}

describe("interop with Python's websockets", function () {
  this.timeout(30_000)
  let version: string | null = null

  before(function () {
    version = pythonWebsockets()
    if (version === null) {
      console.warn(
        `\n  !!! SKIPPED: interop with Python's websockets — ${PYTHON} cannot import websockets.\n` +
          '  !!! Install it with: apt-get update && apt-get install -y python3-websockets\n',
      )
      this.skip()
    }
  })

  afterEach(releaseAll)

  it('python client → gatewire server: text, binary, 16 MiB, fragments, ping, close code, subprotocol', async () => {
    const serverSide: { conn?: Connection; closes?: ReturnType<typeof closeRecorder> } = {}
    const { url } = await listen(
      { validProtocols: ['chat.v1', 'chat.v2'], maxMessageSize: 64 * MiB, maxBufferedAmount: 128 * MiB },
      (conn) => {
        serverSide.conn = conn
        serverSide.closes = closeRecorder(conn)
        conn.on('text', (text) => conn.sendText(text))
        conn.on('binary', (stream: Readable) => void collect(stream).then((data) => conn.sendBinary(data)))
      },
    )
    const report = JSON.parse(await runPython('ws_client.py', [`${url}/python`]))
    expect(report).to.deep.equal({
      subprotocol: 'chat.v2',
      text: 'héllo wörld ✓ 𝄞',
      binary_ok: true,
      large_ok: true,
      fragmented_text: 'frag€mented',
      fragmented_binary: [0, 1, 2, 3, 4],
      pong_ok: true,
      close_code: 4001,
    })
    expect(serverSide.conn?.path).to.equal('/python')
    expect(await serverSide.closes!.closed).to.deep.equal({ code: 4001, reason: 'python leaves' })
    expect(serverSide.closes!.closes).to.have.length(1)
  })

  it('gatewire client → python server: text and binary echo, with the negotiated subprotocol', async () => {
    const { url } = await pythonServer()
    const client = await open(`${url}/echo`, { protocols: ['chat.v1', 'chat.v2'], binaryMode: 'buffer' })
    expect(client.protocol).to.equal('chat.v1')
    client.sendText('über ✓ 𝄞')
    expect((await next<[string]>(client, 'text'))[0]).to.equal('über ✓ 𝄞')
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i & 0xff))
    client.sendBinary(data)
    expect((await next<[Buffer]>(client, 'binary'))[0].equals(data)).to.equal(true)
  })

  it('gatewire client → python server: a 16 MiB beginBinary() message comes back intact', async () => {
    const { url } = await pythonServer()
    const client = await open(`${url}/echo`, { maxMessageSize: 64 * MiB, maxBufferedAmount: 128 * MiB })
    const data = Buffer.alloc(16 * MiB)
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i * 2654435761 >>> 0, i)
    const echoed = new Promise<Readable>((resolve) => client.once('binary', resolve))
    const writer = client.beginBinary()
    for (let at = 0; at < data.length; at += MiB) {
      if (!writer.write(data.subarray(at, at + MiB))) await next(writer, 'drain')
    }
    writer.end()
    expect((await collect(await echoed)).equals(data)).to.equal(true)
  })

  it('gatewire client → python server: receives fragmented messages whole', async () => {
    const { url } = await pythonServer()
    const texts: string[] = []
    let gotBinary!: Promise<[Buffer]>
    await open(`${url}/fragments`, { binaryMode: 'buffer' }, (client) => {
      client.on('text', (t) => texts.push(t))
      gotBinary = next<[Buffer]>(client, 'binary')
    })
    const [binary] = await gotBinary
    expect(texts).to.deep.equal(['part one, part two'])
    expect([...binary]).to.deep.equal([1, 2, 3])
  })

  it('gatewire client → python server: answers its ping with the same payload', async () => {
    const { url } = await pythonServer()
    let pinged!: Promise<[Buffer]>
    let text!: Promise<[string]>
    await open(`${url}/ping`, {}, (client) => {
      pinged = next<[Buffer]>(client, 'ping')
      text = next<[string]>(client, 'text')
    })
    expect([...(await pinged)[0]]).to.deep.equal([9, 8, 0, 255])
    expect((await text)[0]).to.equal('pong ok')
  })

  it('gatewire client → python server: close codes both ways', async () => {
    const server = await pythonServer()
    let closes!: ReturnType<typeof closeRecorder>
    await open(`${server.url}/close`, {}, (client) => (closes = closeRecorder(client))).catch(() => {
      // Python may close before our 'connect' is observed; the close is what this checks.
    })
    expect(await closes.closed).to.deep.equal({ code: 4002, reason: 'python says bye' })

    const closing = await open(`${server.url}/peer-close`)
    const ours = closeRecorder(closing)
    closing.close(CloseCode.GoingAway, 'node leaves')
    expect((await ours.closed).code).to.equal(1001)
    expect(await server.line()).to.equal('CLOSED 1001 node leaves')
  })
})
