import { expect } from 'chai'
import { randomBytes } from 'node:crypto'
import { Opcode } from '../../src/protocol/constants'
import { encodeFrame } from '../../src/protocol/frame-builder'
import type { FrameParser } from '../../src/protocol/frame-parser'
import { createParser, expectSameEvents, parse, type FrameEvent } from './frame-recorder'

const KiB = 1024
const MiB = 1024 * KiB
const OPTIONS = { expectMasked: true, maxMessageSize: 8 * MiB }
const KEY = Buffer.from('37fa213d', 'hex')

/** A masked client frame (the mask applied by encodeFrame, checked against the round trip below). */
function clientFrame(opcode: number, payload: Buffer, options: { fin?: boolean } = {}): Buffer {
  return encodeFrame(opcode, payload, { maskKey: KEY, fin: options.fin ?? true })
}

/**
 * Feeds `wire` the way a transport with direct reads does: `first` bytes pushed as a chunk,
 * then, while the parser offers a payload target, reads of the given sizes (cycled) copied
 * into it and reported with pushTarget; whatever the target does not take is pushed.
 */
function feedWithTargets(parser: FrameParser, wire: Buffer, first: number, reads: number[]): { targetBytes: number } {
  parser.push(Buffer.from(wire.subarray(0, first)))
  let at = first
  let targetBytes = 0
  let turn = 0
  while (at < wire.length) {
    const target = parser.payloadTarget()
    const n = Math.min(reads[turn++ % reads.length], wire.length - at)
    if (target !== null) {
      const taken = Math.min(n, target.length)
      wire.copy(target, 0, at, at + taken)
      parser.pushTarget(taken)
      targetBytes += taken
      at += taken
    } else {
      parser.push(Buffer.from(wire.subarray(at, at + n)))
      at += n
    }
  }
  return { targetBytes }
}

describe('protocol/frame-parser payload target', () => {
  it('offers no target for a message that fits in one chunk, a text message, a small binary message, or a streamed one', () => {
    const cases: { name: string; wire: Buffer; chunk?: number; streamBinary?: boolean }[] = [
      { name: 'binary 1 MiB in one chunk', wire: clientFrame(Opcode.Binary, randomBytes(MiB)), chunk: 2 * MiB },
      { name: 'text 1 MiB', wire: clientFrame(Opcode.Text, Buffer.alloc(MiB, 0x61)) },
      { name: 'binary 1 MiB - 1', wire: clientFrame(Opcode.Binary, randomBytes(MiB - 1)) },
      { name: 'streamed binary 1 MiB', wire: clientFrame(Opcode.Binary, randomBytes(MiB)), streamBinary: true },
    ]
    for (const { name, wire, chunk = 64 * KiB, streamBinary } of cases) {
      const { parser } = createParser({ ...OPTIONS, streamBinary })
      const offered: number[] = []
      for (let at = 0; at < wire.length; at += chunk) {
        parser.push(Buffer.from(wire.subarray(at, at + chunk)))
        const target = parser.payloadTarget()
        if (target !== null) offered.push(target.length)
      }
      expect(offered, name).to.deep.equal([])
    }
  })

  it('offers buffers for the pieces of a large binary message, growing with what arrived, then the rest of its final buffer from a quarter on', () => {
    const payload = randomBytes(2 * MiB)
    const wire = clientFrame(Opcode.Binary, payload)
    const { parser, recorder } = createParser(OPTIONS)
    const header = wire.length - payload.length
    parser.push(Buffer.from(wire.subarray(0, header + 100 * KiB)))
    const sizes: number[] = []
    let at = header + 100 * KiB
    let received = 100 * KiB
    while (received < 512 * KiB) {
      const target = parser.payloadTarget()!
      // Never more than what has arrived (or 64 KiB): what a header alone can make us allocate stays bounded.
      expect(target.length, `after ${received} bytes`).to.be.at.most(Math.max(64 * KiB, received))
      sizes.push(target.length)
      wire.copy(target, 0, at, at + target.length)
      parser.pushTarget(target.length)
      at += target.length
      received += target.length
    }
    // Each as large as what has arrived; the third takes the message past its quarter (512 KiB).
    expect(sizes).to.deep.equal([100 * KiB, 200 * KiB, 400 * KiB])
    const rest = parser.payloadTarget()!
    expect(rest.length, 'the rest of the message').to.equal(2 * MiB - 800 * KiB)
    wire.copy(rest, 0, at)
    parser.pushTarget(rest.length)
    expect(recorder.events).to.have.length(1)
    expect((recorder.events[0] as { data: Buffer }).data.equals(payload)).to.equal(true)
  })

  it('delivers the same events through the target as through push(), at every read size and mask phase', () => {
    const payload = randomBytes(MiB + 3)
    const wire = Buffer.concat([
      clientFrame(Opcode.Binary, payload),
      clientFrame(Opcode.Text, Buffer.from('after')),
      clientFrame(Opcode.Ping, Buffer.from('p')),
    ])
    const expected: FrameEvent[] = parse(wire, OPTIONS)
    expect(expected.map((e) => e.type)).to.deep.equal(['binary', 'text', 'ping'])
    for (const reads of [[1], [7], [4093], [64 * KiB + 5], [3, 100_001, 2], [8 * MiB]]) {
      for (const first of [17, 64 * KiB + 1, 300 * KiB, 300 * KiB + 2, 300 * KiB + 3]) {
        if (reads[0] === 1 && first !== 300 * KiB) continue // byte-wise once is enough (slow)
        const { parser, recorder } = createParser(OPTIONS)
        const { targetBytes } = feedWithTargets(parser, Buffer.from(wire), first, reads)
        expect(targetBytes, `reads ${reads}`).to.equal(MiB + 3 - first + 14)
        expectSameEvents(recorder.events, expected, `reads ${reads}, first ${first}`)
      }
    }
  })

  it('delivers a message whose last bytes come through the target as the target buffer, unmasked', () => {
    const payload = randomBytes(2 * MiB)
    const wire = clientFrame(Opcode.Binary, payload)
    const { parser, recorder } = createParser(OPTIONS)
    feedWithTargets(parser, wire, 600 * KiB, [256 * KiB + 1])
    expect(recorder.events).to.have.length(1)
    expect((recorder.events[0] as { data: Buffer }).data.equals(payload)).to.equal(true)
  })

  it('offers no target after the parser stopped, and ignores a pushTarget() then', () => {
    const wire = clientFrame(Opcode.Binary, randomBytes(MiB))
    const { parser, recorder } = createParser(OPTIONS)
    parser.push(Buffer.from(wire.subarray(0, 400 * KiB)))
    expect(parser.payloadTarget()).to.not.equal(null)
    parser.stop()
    expect(parser.payloadTarget()).to.equal(null)
    parser.pushTarget(1000)
    expect(recorder.events).to.deep.equal([])
  })

  it('throws a RangeError when told of more bytes than the target holds', () => {
    const wire = clientFrame(Opcode.Binary, randomBytes(MiB))
    const { parser } = createParser(OPTIONS)
    parser.push(Buffer.from(wire.subarray(0, 400 * KiB)))
    const target = parser.payloadTarget()!
    expect(() => parser.pushTarget(target.length + 1)).to.throw(RangeError, /offered/)
    expect(() => parser.pushTarget(MiB)).to.throw(RangeError, /offered/)
  })

  it('keeps the size limit: a header over maxMessageSize fails with 1009 before any target is offered', () => {
    const { parser, recorder } = createParser({ ...OPTIONS, maxMessageSize: MiB })
    // FIN + binary, masked with a 64-bit length of 2 MiB, then 400 KiB of payload.
    const big = Buffer.concat([Buffer.from([0x82, 0xff]), Buffer.from('0000000000200000', 'hex'), KEY, Buffer.alloc(400 * KiB)])
    parser.push(big)
    expect(parser.payloadTarget()).to.equal(null)
    expect(recorder.errors.map((e) => e.closeCode)).to.deep.equal([1009])
  })
})
