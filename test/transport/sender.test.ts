import { expect } from 'chai'
import { Socket as NetSocket, type Socket } from 'node:net'
import { PassThrough } from 'node:stream'
import { MaskKeyPool } from '../../src/protocol'
import { rememberText, rememberTextPieces, Sender, sharedFrameBuffer } from '../../src/transport/sender'
import { listen, RawPeer, releaseAll, wireFrame } from '../helpers/transport-harness'
import { countJoins } from '../helpers/count-joins'

/** Records what the Sender hands to its socket: one entry per socket-level write batch. */
class FakeSocket {
  batches: Buffer[][] = []
  writableLength = 0
  destroyed = false
  private corked = 0
  private current: Buffer[] = []
  private callbacks: ((error?: Error | null) => void)[] = []

  cork(): void {
    this.corked++
  }

  uncork(): void {
    if (--this.corked === 0) this.push()
  }

  /** The Buffers as handed to write(), not copied (which memory they view). */
  originals: Buffer[] = []

  write(data: Buffer, callback?: (error?: Error | null) => void): boolean {
    this.originals.push(data)
    this.current.push(Buffer.from(data)) // copy: the slab region must not change afterwards either
    if (callback) this.callbacks.push(callback)
    if (this.corked === 0) this.push()
    return true
  }

  /** Completes the pending writes, as the kernel would. */
  complete(): void {
    for (const callback of this.callbacks.splice(0)) callback(null)
  }

  private push(): void {
    this.batches.push(this.current)
    this.current = []
  }
}

function frames(bytes: Buffer): { fin: boolean; opcode: number; masked: boolean; payload: Buffer }[] {
  const out = []
  let at = 0
  while (at < bytes.length) {
    const masked = (bytes[at + 1] & 0x80) !== 0
    let length = bytes[at + 1] & 0x7f
    let p = at + 2
    if (length === 126) {
      length = bytes.readUInt16BE(p)
      p += 2
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(p))
      p += 8
    }
    const key = masked ? bytes.subarray(p, p + 4) : null
    if (masked) p += 4
    const payload = Buffer.from(bytes.subarray(p, p + length))
    if (key) for (let i = 0; i < length; i++) payload[i] ^= key[i & 3]
    out.push({ fin: (bytes[at] & 0x80) !== 0, opcode: bytes[at] & 0x0f, masked, payload })
    at = p + length
  }
  return out
}

/** The Buffers handed to `socket.write`, as they are (not copies). */
function recordWrites(socket: FakeSocket): Buffer[] {
  const writes: Buffer[] = []
  const original = socket.write.bind(socket)
  socket.write = (data, callback) => {
    writes.push(data)
    return original(data, callback)
  }
  return writes
}

const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve))
const endOfIteration = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('transport/sender', () => {
  afterEach(releaseAll)

  it('gathers what is sent within one tick into a single write', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, null)
    sender.text('one', true)
    sender.text('two', true)
    sender.frame(0x2, Buffer.from([1, 2, 3]), true)
    expect(socket.batches).to.have.length(0)
    expect(sender.bufferedAmount).to.equal(5 + 5 + 5)
    await tick()
    expect(socket.batches).to.have.length(1)
    const sent = frames(Buffer.concat(socket.batches[0]))
    expect(sent.map((f) => [f.opcode, f.payload.toString('hex')])).to.deep.equal([
      [0x1, Buffer.from('one').toString('hex')],
      [0x1, Buffer.from('two').toString('hex')],
      [0x2, '010203'],
    ])
    expect(sender.bufferedAmount).to.equal(0)
  })

  it('holds writes while corked (one socket read) and writes once at uncork', () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, null)
    sender.cork()
    for (let i = 0; i < 50; i++) sender.text(`reply ${i}`, true)
    sender.frame(0xa, Buffer.from('pong'), true)
    expect(socket.batches).to.have.length(0)
    sender.uncork()
    expect(socket.batches).to.have.length(1)
    expect(frames(Buffer.concat(socket.batches[0]))).to.have.length(51)
  })

  it('queues a large unmasked payload as it is, never copied', async () => {
    const socket = new FakeSocket()
    const writes = recordWrites(socket)
    const sender = new Sender(socket as unknown as Socket, null)
    const payload = Buffer.alloc(100_000, 7)
    sender.frame(0x2, payload, true)
    await tick()
    expect(writes.some((w) => w === payload)).to.equal(true)
  })

  it('queues a shared (published) frame by reference: that very Buffer reaches the socket', async () => {
    const socket = new FakeSocket()
    const writes = recordWrites(socket)
    const sender = new Sender(socket as unknown as Socket, null)
    const frame = Buffer.concat([Buffer.from([0x82, 0x7e, 0x80, 0x00]), Buffer.alloc(0x8000, 3)])
    sender.shared(frame)
    expect(sender.bufferedAmount).to.equal(frame.length)
    await endOfIteration()
    expect(writes).to.have.length(1)
    expect(writes[0] === frame, 'the same Buffer object').to.equal(true)
  })

  it('writes published frames at the end of the event-loop iteration, and with a later send at its tick', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, null)
    const frame = (text: string): Buffer => Buffer.concat([Buffer.from([0x81, text.length]), Buffer.from(text)])
    sender.shared(frame('p1'))
    await tick()
    expect(socket.batches, 'not at the end of the tick').to.have.length(0)
    sender.shared(frame('p2')) // another read of the same iteration publishes again
    await endOfIteration()
    expect(socket.batches).to.have.length(1)
    expect(frames(Buffer.concat(socket.batches[0])).map((f) => f.payload.toString())).to.deep.equal(['p1', 'p2'])
    sender.shared(frame('p3'))
    sender.text('direct', true)
    await tick()
    expect(socket.batches, "the send's tick flush takes the publish before it").to.have.length(2)
    expect(frames(Buffer.concat(socket.batches[1])).map((f) => f.payload.toString())).to.deep.equal(['p3', 'direct'])
    await endOfIteration()
    expect(socket.batches, 'nothing left for the end of the iteration').to.have.length(2)
  })

  it('queues frames built back to back in the shared-frame arena as one region, written without a copy', async () => {
    const socket = new FakeSocket()
    const writes = recordWrites(socket)
    const sender = new Sender(socket as unknown as Socket, null)
    const built: Buffer[] = []
    for (let i = 0; i < 40; i++) {
      const frame = sharedFrameBuffer(2 + 100)
      frame[0] = 0x82
      frame[1] = 100
      frame.fill(i, 2)
      built.push(frame)
      sender.shared(frame)
    }
    await endOfIteration()
    expect(writes.length, 'one write').to.equal(1)
    const payloads = frames(Buffer.concat(socket.batches[0])).map((f) => f.payload[0])
    expect(payloads).to.deep.equal(Array.from({ length: 40 }, (_, i) => i))
    // 40 × 102 bytes may have crossed into a fresh arena (then two regions, gathered by a copy).
    if (built[0].buffer === built[39].buffer) {
      const written = writes[0]
      expect(written.buffer === built[0].buffer && written.byteOffset === built[0].byteOffset, 'a view of the arena').to.equal(true)
      expect(written.length).to.equal(40 * 102)
    }
  })

  it('gathers many small segments (shared frames between its own) into one write, in order', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, null)
    const shared = (text: string): Buffer => Buffer.concat([Buffer.from([0x81, text.length]), Buffer.from(text)])
    const frameA = shared('published 1')
    sender.shared(frameA)
    sender.text('direct', true)
    sender.shared(shared('published 2'))
    sender.shared(shared('published 3'))
    sender.frame(0x2, Buffer.alloc(5000, 1), true) // queued by reference, under the gathering limit
    await tick()
    expect(socket.batches).to.have.length(1)
    expect(socket.batches[0], 'one buffer, not a writev').to.have.length(1)
    const sent = frames(socket.batches[0][0])
    expect(sent.map((f) => (f.opcode === 1 ? f.payload.toString() : f.payload.length))).to.deep.equal([
      'published 1',
      'direct',
      'published 2',
      'published 3',
      5000,
    ])
    expect(frameA.toString('latin1', 2), 'a shared frame is never written to').to.equal('published 1')
  })

  it('masks client frames with a fresh key each, leaving the caller payload intact', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, new MaskKeyPool())
    const small = Buffer.from('small payload')
    const large = Buffer.alloc(10_000, 0x5a)
    sender.frame(0x2, small, true)
    sender.frame(0x2, large, true)
    sender.text('héllo', true)
    await tick()
    const bytes = Buffer.concat(socket.batches.flat())
    const sent = frames(bytes)
    expect(sent.every((f) => f.masked)).to.equal(true)
    expect(sent[0].payload.equals(Buffer.from('small payload'))).to.equal(true)
    expect(sent[1].payload.equals(Buffer.alloc(10_000, 0x5a))).to.equal(true)
    expect(sent[2].payload.toString()).to.equal('héllo')
    expect(small.toString()).to.equal('small payload')
    expect(large.every((b) => b === 0x5a)).to.equal(true)
  })

  it('encodes 16- and 64-bit payload lengths', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, null)
    sender.frame(0x2, Buffer.alloc(125), true)
    sender.frame(0x2, Buffer.alloc(126), true)
    sender.frame(0x2, Buffer.alloc(65_535), true)
    sender.frame(0x2, Buffer.alloc(65_536), true)
    sender.text('x'.repeat(3000), true) // a long string, encoded on its own
    await tick()
    const sent = frames(Buffer.concat(socket.batches.flat()))
    expect(sent.map((f) => f.payload.length)).to.deep.equal([125, 126, 65_535, 65_536, 3000])
  })

  it('keeps frames of two senders apart when they interleave in the shared slab', async () => {
    const a = new FakeSocket()
    const b = new FakeSocket()
    const senderA = new Sender(a as unknown as Socket, null)
    const senderB = new Sender(b as unknown as Socket, null)
    for (let i = 0; i < 2000; i++) {
      senderA.text(`a${i}`, true)
      senderB.frame(0x2, Buffer.from(`b${i}`), true)
    }
    await tick()
    const sentA = frames(Buffer.concat(a.batches.flat()))
    const sentB = frames(Buffer.concat(b.batches.flat()))
    expect(sentA.map((f) => f.payload.toString())).to.deep.equal(Array.from({ length: 2000 }, (_, i) => `a${i}`))
    expect(sentB.map((f) => f.payload.toString())).to.deep.equal(Array.from({ length: 2000 }, (_, i) => `b${i}`))
  })

  it('runs callbacks once the write completes, and fails them when discarded', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, null)
    const results: string[] = []
    sender.text('a', true, (error) => results.push(`a:${error?.message ?? 'ok'}`))
    await tick()
    expect(results).to.deep.equal([])
    socket.complete()
    expect(results).to.deep.equal(['a:ok'])
    sender.text('b', true, (error) => results.push(`b:${error?.message ?? 'ok'}`))
    sender.discard(new Error('gone'))
    await tick()
    expect(results).to.deep.equal(['a:ok', 'b:gone'])
  })

  it('fills its slab region again once the socket took the write at once, never a region still queued', () => {
    /** A net.Socket that keeps what it is handed; `pending` says whether the kernel has taken it yet. */
    class HoldingSocket extends NetSocket {
      writes: Buffer[] = []
      private pendingBytes = 0
      constructor(private readonly keepsPending: boolean) {
        super()
        // What the sender reads: bytes not yet taken by the kernel.
        Object.defineProperty(this, 'writableLength', { get: () => this.pendingBytes })
      }
      override cork(): void {}
      override uncork(): void {}
      override write(data: Uint8Array | string): boolean {
        this.writes.push(data as Buffer)
        if (this.keepsPending) this.pendingBytes += data.length
        return true
      }
    }
    const fast = new HoldingSocket(false)
    const slow = new HoldingSocket(true)
    const fastSender = new Sender(fast as unknown as Socket, null)
    const slowSender = new Sender(slow as unknown as Socket, null)
    const send = (sender: Sender, text: string): void => {
      sender.cork()
      sender.text(text, true)
      sender.uncork()
    }
    send(fastSender, 'first')
    send(fastSender, 'again')
    // Taken at once: the second frame was written where the first one was.
    expect(fast.writes[1].buffer).to.equal(fast.writes[0].buffer)
    expect(fast.writes[1].byteOffset).to.equal(fast.writes[0].byteOffset)
    expect(frames(fast.writes[1])[0].payload.toString()).to.equal('again')

    send(slowSender, 'still queued')
    const queued = slow.writes[0]
    const copy = Buffer.from(queued)
    for (let i = 0; i < 5000; i++) send(fastSender, `overwrite ${i}`)
    expect(queued.equals(copy)).to.equal(true)
    expect(frames(queued)[0].payload.toString()).to.equal('still queued')
  })

  it('never refills a region handed to a stream that may keep it (not a net.Socket)', () => {
    const stream = new PassThrough() // completes writes at once, but hands the very Buffer to its reader
    const sender = new Sender(stream as unknown as Socket, null)
    for (const text of ['first', 'second', 'third']) {
      sender.cork()
      sender.text(text, true)
      sender.uncork()
    }
    const written: Buffer[] = []
    let chunk: Buffer | null
    while ((chunk = stream.read() as Buffer | null) !== null) written.push(chunk)
    expect(frames(Buffer.concat(written)).map((f) => f.payload.toString())).to.deep.equal(['first', 'second', 'third'])
  })

  it('sends a text just received by copying its bytes instead of encoding it again', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, null)
    const received = 'héllo wörld, ünïcode'
    const source = Buffer.concat([Buffer.from('xx'), Buffer.from(received), Buffer.from('yy')])
    rememberText(received, source, 2, source.length - 2)
    expect(countEncodes(() => sender.text(received, true))).to.equal(0)
    // Another string of the same length: encoded.
    expect(countEncodes(() => sender.text(received.toUpperCase(), true))).to.equal(1)
    await tick()
    const sent = frames(Buffer.concat(socket.batches.flat()))
    expect(sent.map((f) => f.payload.toString())).to.deep.equal([received, received.toUpperCase()])
  })

  for (const [name, received] of [
    ['a short ASCII text', 'ascii, short'],
    ['a long ASCII text', 'the quick brown fox jumps over the lazy dog; '.repeat(30)],
    ['a long non-ASCII text', 'héllo wörld, ünïcode 🎉 '.repeat(20)],
  ]) {
    for (const client of [false, true]) {
      it(`sends ${name} just received without encoding it (${client ? 'client, masked' : 'server'})`, async () => {
        const socket = new FakeSocket()
        const sender = new Sender(socket as unknown as Socket, client ? new MaskKeyPool() : null)
        const source = Buffer.concat([Buffer.from('xyz'), Buffer.from(received), Buffer.from('!')])
        rememberText(received, source, 3, source.length - 1)
        expect(countEncodes(() => sender.text(received, true))).to.equal(0)
        await tick()
        const [frame] = frames(Buffer.concat(socket.batches.flat()))
        expect(frame.masked).to.equal(client)
        expect(frame.payload.toString()).to.equal(received)
      })
    }
  }

  it('queues a large text just received as its received bytes, without encoding or copying them', async () => {
    const socket = new FakeSocket()
    const written = socket.originals
    const sender = new Sender(socket as unknown as Socket, null)
    const received = 'the quick brown fox jumps over the lazy dog; '.repeat(1500) // 66 KiB
    const source = Buffer.concat([Buffer.from('xyz'), Buffer.from(received), Buffer.from('!')])
    rememberText(received, source, 3, source.length - 1)
    const encodes = countEncodes(() => sender.text(received, true))
    await tick()
    expect(encodes).to.equal(0)
    const payload = written.find((b) => b.length === Buffer.byteLength(received))
    expect(payload, 'the payload is written as one segment').to.not.equal(undefined)
    expect(payload!.buffer, 'the segment is a view of the received bytes').to.equal(source.buffer)
    expect(frames(Buffer.concat(socket.batches.flat()))[0].payload.toString()).to.equal(received)
  })

  it('masks a large text just received into a copy, leaving the received bytes as they were (client)', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, new MaskKeyPool())
    const received = 'héllo wörld, ünïcode 🎉 '.repeat(3000)
    const source = Buffer.from(received)
    rememberText(received, source, 0, source.length)
    sender.text(received, true)
    await tick()
    const [frame] = frames(Buffer.concat(socket.batches.flat()))
    expect(frame.masked).to.equal(true)
    expect(frame.payload.toString()).to.equal(received)
    expect(source.toString()).to.equal(received)
  })

  it('queues a text just received in pieces as those very pieces, never joined or encoded', async () => {
    const socket = new FakeSocket()
    const written = socket.originals
    const sender = new Sender(socket as unknown as Socket, null)
    const pieces = [Buffer.from('a'.repeat(30_000)), Buffer.from('b'.repeat(30_000)), Buffer.from('c'.repeat(6_000))]
    const received = pieces.map((piece) => piece.toString('latin1')).join('')
    rememberTextPieces(received, pieces, 66_000)
    const joins = countJoins(() => expect(countEncodes(() => sender.text(received, true))).to.equal(0))
    await tick()
    expect(joins).to.equal(0)
    for (const piece of pieces) expect(written.includes(piece), 'each piece is written as it is').to.equal(true)
    expect(frames(Buffer.concat(socket.batches.flat()))[0].payload.toString()).to.equal(received)
  })

  for (const [name, size] of [['a small text', 3000], ['a large text (client)', 66_000]] as const) {
    it(`frames ${name} just received in pieces from a joined copy when it must copy or mask, leaving the pieces as they were`, async () => {
      const client = size > 4096
      const socket = new FakeSocket()
      const sender = new Sender(socket as unknown as Socket, client ? new MaskKeyPool() : null)
      const pieces = [Buffer.from('x'.repeat(size - 100)), Buffer.from('y'.repeat(100))]
      const received = 'x'.repeat(size - 100) + 'y'.repeat(100)
      rememberTextPieces(received, pieces, size)
      sender.text(received, true)
      await tick()
      const [frame] = frames(Buffer.concat(socket.batches.flat()))
      expect(frame.masked).to.equal(client)
      expect(frame.payload.toString()).to.equal(received)
      expect(Buffer.concat(pieces).toString()).to.equal(received)
    })
  }

  it('encodes a text again once another text was remembered after its pieces', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, null)
    const pieces = [Buffer.from('p'.repeat(5000)), Buffer.from('q'.repeat(5000))]
    const received = 'p'.repeat(5000) + 'q'.repeat(5000)
    rememberTextPieces(received, pieces, 10_000)
    const later = 'later'
    rememberText(later, Buffer.from(later), 0, later.length)
    const written = socket.originals
    sender.text(received, true)
    sender.text(later, true)
    await tick()
    expect(written.some((b) => pieces.some((piece) => piece === b)), 'no piece is written').to.equal(false)
    expect(frames(Buffer.concat(socket.batches.flat())).map((f) => f.payload.toString())).to.deep.equal([received, later])
  })

  it('encodes a text over the 1 MiB remembering limit again', async () => {
    const socket = new FakeSocket()
    const written = socket.originals
    const sender = new Sender(socket as unknown as Socket, null)
    const received = 'x'.repeat(1024 * 1024 + 1)
    const source = Buffer.from(received)
    rememberText(received, source, 0, source.length)
    sender.text(received, true)
    await tick()
    expect(written.some((b) => b.buffer === source.buffer)).to.equal(false)
    expect(frames(Buffer.concat(socket.batches.flat()))[0].payload.toString()).to.equal(received)
  })

  it('masks a copied text frame on the client side', async () => {
    const socket = new FakeSocket()
    const sender = new Sender(socket as unknown as Socket, new MaskKeyPool())
    const received = 'echo me back'
    rememberText(received, Buffer.from(received), 0, received.length)
    sender.text(received, true)
    await tick()
    const [frame] = frames(Buffer.concat(socket.batches.flat()))
    expect(frame.masked).to.equal(true)
    expect(frame.payload.toString()).to.equal(received)
  })

  it('answers every message of one socket read with a single write (echo batching on a real socket)', async () => {
    const writes: number[] = []
    const listening = await listen({ binaryMode: 'buffer' }, (conn) => {
      // Count socket-level writes (a corked batch is one _writev).
      const socket = conn.socket as unknown as { _writev: (...a: unknown[]) => void; _write: (...a: unknown[]) => void }
      const writev = socket._writev.bind(socket)
      const write = socket._write.bind(socket)
      socket._writev = (...args: unknown[]) => {
        writes.push(2)
        writev(...args)
      }
      socket._write = (...args: unknown[]) => {
        writes.push(1)
        write(...args)
      }
      conn.on('text', (text) => conn.sendText(text))
    })
    const peer = await RawPeer.connect(listening.port)
    const burst = Buffer.concat(Array.from({ length: 100 }, (_, i) => wireFrame(0x1, `message ${i}`)))
    peer.send(burst) // one write: arrives in one read on loopback
    const last = await peer.frame((f) => f.payload.toString() === 'message 99')
    expect(last.opcode).to.equal(0x1)
    expect(peer.frames).to.have.length(99)
    expect(writes.length).to.be.at.most(2) // 100 echoes, at most one write per read
  })
})

/** How many times `run` makes Node encode a string into a Buffer (Buffer#utf8Write calls). */

function countEncodes(run: () => void): number {
  const proto = Buffer.prototype as unknown as { utf8Write: (...args: unknown[]) => number }
  const original = proto.utf8Write
  let encodes = 0
  proto.utf8Write = function (this: Buffer, ...args: unknown[]) {
    encodes++
    return original.apply(this, args)
  }
  try {
    run()
  } finally {
    proto.utf8Write = original
  }
  return encodes
}
