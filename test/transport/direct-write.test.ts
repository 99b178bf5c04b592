import { expect } from 'chai'
import { once } from 'node:events'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { directWrite, directWriteAvailable, type DirectWriter } from '../../src/transport/direct-write'
import { deadline } from '../helpers/deadline'

const MiB = 1024 * 1024

describe('transport/direct-write', () => {
  let server: Server | undefined
  const sockets: Socket[] = []

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy()
    if (server !== undefined) await new Promise<void>((resolve) => server!.close(() => resolve()))
    server = undefined
  })

  /** A connected pair on loopback: `local` is the accepted (server-side) socket we write to. */
  async function pair(): Promise<{ local: Socket; remote: Socket }> {
    // Half-open allowed: after the peer's FIN the local side stays writable (see the EPIPE test).
    server = createServer({ allowHalfOpen: true })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('no address')
    const accepted = once(server, 'connection') as Promise<[Socket]>
    const remote = createConnection(address.port, '127.0.0.1')
    sockets.push(remote)
    await once(remote, 'connect')
    const [local] = await accepted
    sockets.push(local)
    return { local, remote }
  }

  /** Collects what `remote` receives until `bytes` have arrived. */
  function receive(remote: Socket, bytes: number): Promise<Buffer> {
    const chunks: Buffer[] = []
    let received = 0
    return new Promise((resolve) => {
      remote.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        received += chunk.length
        if (received >= bytes) resolve(Buffer.concat(chunks))
      })
    })
  }

  it('finds the internals it needs in this Node version', () => {
    expect(directWriteAvailable, 'process.binding("stream_wrap") has WriteWrap and streamBaseState').to.equal(true)
  })

  it('writes to the handle when the socket has nothing queued, and counts the bytes in bytesWritten', async () => {
    const { local, remote } = await pair()
    const owner: DirectWriter = { directQueued: 0 }
    const arrived = receive(remote, 5)
    expect(directWrite(local, Buffer.from('hello'), owner)).to.equal(true)
    expect(owner.directQueued, 'a small write is taken by the kernel at once').to.equal(0)
    expect((await deadline(arrived, 2000, 'the bytes')).toString()).to.equal('hello')
    expect(local.bytesWritten).to.equal(5)
  })

  it('declines (returns false) while the Writable has bytes of its own queued or is corked, so nothing overtakes them', async () => {
    const { local } = await pair()
    const owner: DirectWriter = { directQueued: 0 }
    local.cork()
    local.write('queued')
    expect(directWrite(local, Buffer.from('x'), owner), 'corked').to.equal(false)
    local.uncork()
    // Fill the kernel so that the Writable keeps bytes (nobody reads the other side).
    remote: for (let i = 0; i < 1000; i++) {
      local.write(Buffer.alloc(MiB))
      if (local.writableLength > 0) break remote
    }
    expect(local.writableLength, 'the Writable holds bytes').to.be.greaterThan(0)
    expect(directWrite(local, Buffer.from('x'), owner), 'Writable not empty').to.equal(false)
  })

  it('keeps order with later socket.write calls when the kernel is full, counts what libuv holds, and emits drain once written', async () => {
    const { local, remote } = await pair()
    remote.pause()
    const owner: DirectWriter = { directQueued: 0 }
    let total = 0
    let index = 0
    // Direct writes of numbered 256 KiB blocks until one goes asynchronous (the kernel is full).
    while (owner.directQueued === 0) {
      if (index >= 400) expect.fail('the kernel never filled up after 100 MiB')
      const block = Buffer.alloc(256 * 1024, index % 251)
      expect(directWrite(local, block, owner)).to.equal(true)
      total += block.length
      index++
    }
    expect(owner.directQueued, 'libuv holds the unwritten part').to.be.greaterThan(0)
    // A write through the stream now must come after the direct ones.
    const tail = Buffer.from('the end')
    local.write(tail)
    total += tail.length
    const drained = once(local, 'drain')
    const arrived = receive(remote, total)
    remote.resume()
    const data = await deadline(arrived, 10_000, 'every byte')
    await deadline(drained, 10_000, "the socket's drain")
    expect(owner.directQueued, 'nothing held once written').to.equal(0)
    expect(data.length).to.equal(total)
    for (let i = 0; i < index; i++) expect(data[i * 256 * 1024], `block ${i} in place`).to.equal(i % 251)
    expect(data.subarray(total - tail.length).toString(), 'the stream write came last').to.equal('the end')
  })

  it('delivers every byte still held by libuv when the socket is ended behind them, without an error', async () => {
    const { local, remote } = await pair()
    remote.pause()
    const owner: DirectWriter = { directQueued: 0 }
    let errors = 0
    local.on('error', () => errors++)
    let total = 0
    for (let i = 0; owner.directQueued === 0; i++) {
      if (i >= 400) expect.fail('the kernel never filled up after 100 MiB')
      directWrite(local, Buffer.alloc(256 * 1024, 7), owner)
      total += 256 * 1024
    }
    // A stream write behind them, then end(): the direct writes complete while the socket ends.
    local.write('last')
    const finished = once(local, 'finish')
    local.end()
    const arrived = receive(remote, total + 4)
    remote.resume()
    const data = await deadline(arrived, 10_000, 'every byte')
    await deadline(finished, 10_000, "the socket's finish")
    expect(data.subarray(-4).toString()).to.equal('last')
    expect(errors, 'no error (such as a write after end)').to.equal(0)
  })

  it('destroys the socket with the write error when the peer is gone, as socket.write would', async () => {
    const { local, remote } = await pair()
    const errored = once(local, 'error') as Promise<[NodeJS.ErrnoException]>
    remote.destroy()
    await once(local, 'end')
    const owner: DirectWriter = { directQueued: 0 }
    // The first write reaches the closed peer, which answers with a reset; a later one fails.
    for (let i = 0; i < 50 && !local.destroyed; i++) {
      expect(directWrite(local, Buffer.alloc(1024), owner), `write ${i} went direct`).to.equal(true)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const [error] = await deadline(errored, 2000, "the socket's error")
    expect(error.code).to.be.oneOf(['EPIPE', 'ECONNRESET'])
    expect(error.syscall).to.equal('write')
    expect(local.destroyed).to.equal(true)
  })
})
