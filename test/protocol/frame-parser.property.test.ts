import { expect } from 'chai'
import fc from 'fast-check'
import { isValidCloseCode } from '../../src/protocol/close-code'
import { CloseCode, Opcode } from '../../src/protocol/constants'
import { encodeFrame, writeFrameHeader } from '../../src/protocol/frame-builder'
import type { FrameParserOptions } from '../../src/protocol/frame-parser'
import { ProtocolError } from '../../src/protocol/protocol-error'
import { createParser, expectSameEvents, mergeChunks, type FrameEvent } from './frame-recorder'

// Modest run counts keep the whole protocol suite within a few seconds.
const RUNS = 300

/** `bytes` cut at `cuts` (any numbers, reduced to positions inside it), each chunk its own copy. */
function chunksOf(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => (bytes.length === 0 ? 0 : cut % (bytes.length + 1))))].sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let from = 0
  for (const to of [...points, bytes.length]) {
    if (to > from) chunks.push(Buffer.from(bytes.subarray(from, to)))
    from = Math.max(from, to)
  }
  return chunks
}

/** Feeds `chunks`, asserting push never throws; returns the events and whether the parser is done. */
function run(chunks: Buffer[], options: FrameParserOptions): { events: FrameEvent[]; done: boolean } {
  const { parser, recorder } = createParser(options)
  let thrown: unknown
  try {
    for (const chunk of chunks) parser.push(chunk)
  } catch (error) {
    thrown = error
  }
  expect(thrown, 'push() threw').to.equal(undefined)
  return { events: recorder.events, done: parser.done }
}

/** What must hold for any input at all. */
function checkInvariants(events: readonly FrameEvent[], done: boolean, options: FrameParserOptions): void {
  const endings = events.filter((event) => event.type === 'error' || event.type === 'close')
  expect(endings.length, 'at most one error or close').to.be.at.most(1)
  if (endings.length === 1) expect(events[events.length - 1], 'nothing after an error or a close').to.equal(endings[0])
  expect(done, 'done exactly after an error or a close').to.equal(endings.length === 1)

  let streaming = false
  let streamed = 0
  for (const event of events) {
    switch (event.type) {
      case 'error':
        expect(event.error).to.be.instanceOf(ProtocolError)
        expect([CloseCode.ProtocolError, CloseCode.InvalidPayload, CloseCode.MessageTooBig]).to.include(event.code)
        break
      case 'close':
        expect(event.code === CloseCode.NoStatus || isValidCloseCode(event.code), `close code ${event.code}`).to.equal(true)
        expect(Buffer.byteLength(event.reason)).to.be.at.most(123)
        break
      case 'text':
        expect(Buffer.byteLength(event.text)).to.be.at.most(options.maxMessageSize)
        expect(streaming, 'no text inside a streamed binary message').to.equal(false)
        break
      case 'binary':
        expect(event.data.length).to.be.at.most(options.maxMessageSize)
        expect(options.streamBinary ?? false).to.equal(false)
        break
      case 'ping':
      case 'pong':
        expect(event.data.length).to.be.at.most(125)
        break
      case 'binaryStart':
        expect(options.streamBinary).to.equal(true)
        expect(streaming, 'binary streams do not nest').to.equal(false)
        streaming = true
        streamed = 0
        break
      case 'binaryChunk':
        expect(streaming, 'chunks only inside a binary stream').to.equal(true)
        expect(event.data.length).to.be.greaterThan(0)
        streamed += event.data.length
        expect(streamed).to.be.at.most(options.maxMessageSize)
        break
      case 'binaryEnd':
        expect(streaming).to.equal(true)
        streaming = false
        break
    }
  }
}

const optionsArb: fc.Arbitrary<FrameParserOptions> = fc.record({
  expectMasked: fc.boolean(),
  maxMessageSize: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constant(1 << 20)),
  streamBinary: fc.boolean(),
  allowedRsv: fc.constantFrom(0, 0, 0, 0x40, 0x70),
  fragmentOverhead: fc.constantFrom(undefined, 0, 16, 64),
})

/** Any frame at all: every opcode, RSV and FIN, masked or not, with an honest length. */
const anyFrameArb = fc
  .record({
    opcode: fc.oneof(fc.constantFrom(0x0, 0x1, 0x2, 0x8, 0x9, 0xa), fc.integer({ min: 0, max: 15 })),
    fin: fc.boolean(),
    rsv: fc.constantFrom(0, 0, 0, 0x40, 0x20, 0x10),
    masked: fc.boolean(),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 10 }).map((s) => new Uint8Array(Buffer.from(s))),
      fc.uint8Array({ minLength: 120, maxLength: 300 }),
    ),
  })
  .map(({ opcode, fin, rsv, masked, payload }) =>
    encodeFrame(opcode, payload, { fin, rsv, maskKey: masked ? Buffer.from([1, 2, 3, 4]) : null }),
  )

/** A frame header claiming any length, the payload never sent. */
const lyingHeaderArb = fc
  .record({
    b0: fc.integer({ min: 0, max: 255 }),
    masked: fc.boolean(),
    length: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.constant(2 ** 53 - 1)),
  })
  .map(({ b0, masked, length }) => {
    const header = Buffer.alloc(14)
    const end = writeFrameHeader(header, 0, b0 & 0x0f, (b0 & 0x80) !== 0, length, masked ? Buffer.from([9, 9, 9, 9]) : null, b0 & 0x70)
    return header.subarray(0, end)
  })

/** Byte streams: random bytes, frame soups, and soups with bytes overwritten. */
const streamArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.array(fc.oneof({ weight: 5, arbitrary: anyFrameArb }, { weight: 1, arbitrary: lyingHeaderArb }), { maxLength: 8 }).map((frames) =>
    Buffer.concat(frames),
  ),
  fc
    .tuple(
      fc.array(anyFrameArb, { minLength: 1, maxLength: 6 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    )
    .map(([frames, edits]) => {
      const bytes = Buffer.concat(frames)
      for (const [at, value] of edits) bytes[at % bytes.length] = value
      return bytes
    }),
)

const cutsArb = fc.array(fc.nat(), { maxLength: 12 })

// ---- A model of valid traffic, to predict exactly what the parser reports. ----

interface ControlFrame {
  opcode: typeof Opcode.Ping | typeof Opcode.Pong
  payload: Buffer
}
interface DataMessage {
  opcode: typeof Opcode.Text | typeof Opcode.Binary
  payload: Buffer
  /** Cut points inside the payload: fragment boundaries (empty fragments allowed). */
  cuts: number[]
  /** Control frames sent after fragment i (keys are fragment indexes before the last). */
  controls: ControlFrame[][]
}

const controlArb: fc.Arbitrary<ControlFrame> = fc.record({
  opcode: fc.constantFrom(Opcode.Ping, Opcode.Pong),
  payload: fc.uint8Array({ maxLength: 125 }).map((bytes) => Buffer.from(bytes)),
})

const messageArb: fc.Arbitrary<DataMessage> = fc
  .record({
    payload: fc.oneof(
      { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => ({ opcode: Opcode.Text, bytes: Buffer.from(s) })) },
      { weight: 5, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ opcode: Opcode.Binary, bytes: Buffer.from(bytes) })) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 60000, max: 70000 })
          .map((length) => ({ opcode: Opcode.Binary, bytes: Buffer.alloc(length, 0xa5) })),
      },
    ),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
    controls: fc.array(fc.array(controlArb, { maxLength: 2 }), { maxLength: 4 }),
  })
  .map(({ payload, cuts, controls }) => ({
    opcode: payload.opcode as DataMessage['opcode'],
    payload: payload.bytes,
    cuts: cuts.map((cut) => cut % (payload.bytes.length + 1)).sort((a, b) => a - b),
    controls: controls.slice(0, cuts.length),
  }))

const trafficArb = fc.record({
  items: fc.array(fc.oneof({ weight: 3, arbitrary: messageArb }, { weight: 1, arbitrary: controlArb }), { maxLength: 5 }),
  close: fc.option(
    // At most 20 code points: at most 80 bytes, within the 123 a close reason may take.
    fc.record({ code: fc.constantFrom(1000, 1001, 1011, 3000, 4999), reason: fc.string({ unit: 'binary', maxLength: 20 }) }),
  ),
  masked: fc.boolean(),
  streamBinary: fc.boolean(),
})

type Traffic = typeof trafficArb extends fc.Arbitrary<infer T> ? T : never

/** Builds the wire bytes of `traffic` with the frame builder, and the events a parser must report. */
function buildTraffic(traffic: Traffic): { bytes: Buffer; events: FrameEvent[] } {
  const maskKey = traffic.masked ? Buffer.from([0x37, 0xfa, 0x21, 0x3d]) : null
  const frames: Buffer[] = []
  const events: FrameEvent[] = []
  const control = (frame: ControlFrame): void => {
    frames.push(encodeFrame(frame.opcode, frame.payload, { maskKey }))
    events.push({ type: frame.opcode === Opcode.Ping ? 'ping' : 'pong', data: frame.payload })
  }
  for (const item of traffic.items) {
    if (!('cuts' in item)) {
      control(item)
      continue
    }
    const bounds = [0, ...item.cuts, item.payload.length]
    const streamed = item.opcode === Opcode.Binary && traffic.streamBinary
    if (streamed) events.push({ type: 'binaryStart' })
    for (let i = 0; i + 1 < bounds.length; i++) {
      const piece = item.payload.subarray(bounds[i], bounds[i + 1])
      const last = i + 2 === bounds.length
      frames.push(encodeFrame(i === 0 ? item.opcode : Opcode.Continuation, piece, { fin: last, maskKey }))
      if (streamed && piece.length > 0) events.push({ type: 'binaryChunk', data: piece })
      if (!last) for (const frame of item.controls[i] ?? []) control(frame)
    }
    if (streamed) events.push({ type: 'binaryEnd' })
    else if (item.opcode === Opcode.Text) events.push({ type: 'text', text: item.payload.toString() })
    else events.push({ type: 'binary', data: item.payload })
  }
  if (traffic.close !== null) {
    const reason = Buffer.from(traffic.close.reason)
    const payload = Buffer.alloc(2)
    payload.writeUInt16BE(traffic.close.code)
    frames.push(encodeFrame(Opcode.Close, Buffer.concat([payload, reason]), { maskKey }))
    events.push({ type: 'close', code: traffic.close.code, reason: reason.toString() })
    // Anything after the close frame is ignored.
    frames.push(Buffer.from([0x81, 0x01, 0x41]))
  }
  return { bytes: Buffer.concat(frames), events }
}

describe('FrameParser properties', () => {
  it('never throws on arbitrary bytes at arbitrary split points, and reports messages or exactly one ProtocolError (1002/1007/1009)', () => {
    fc.assert(
      fc.property(streamArb, cutsArb, optionsArb, (bytes, cuts, options) => {
        const whole = run([Buffer.from(bytes)], options)
        checkInvariants(whole.events, whole.done, options)
        const split = run(chunksOf(bytes, cuts), options)
        checkInvariants(split.events, split.done, options)
        // However the bytes were cut, the parser reports the same things.
        expectSameEvents(split.events, whole.events)
        const bytewise = run(chunksOf(bytes, Array.from(bytes.keys())), options)
        expectSameEvents(bytewise.events, whole.events)
      }),
      { numRuns: RUNS },
    )
  })

  it('parses arbitrary traffic built by the frame builder back identically at arbitrary split points', () => {
    fc.assert(
      fc.property(trafficArb, cutsArb, (traffic, cuts) => {
        const { bytes, events } = buildTraffic(traffic)
        const options: FrameParserOptions = {
          expectMasked: traffic.masked,
          maxMessageSize: 1 << 20,
          streamBinary: traffic.streamBinary,
        }
        const whole = run([Buffer.from(bytes)], options)
        expectSameEvents(whole.events, events)
        const split = run(chunksOf(bytes, cuts), options)
        expectSameEvents(split.events, events)
        checkInvariants(split.events, split.done, options)
      }),
      { numRuns: RUNS },
    )
  })

  it('reports the close code of the first rule broken, after everything valid before it', () => {
    const violations: Array<{ name: string; frames: (key: Buffer | null) => Buffer[]; code: number }> = [
      { name: 'reserved opcode', frames: (key) => [encodeFrame(0x3, Buffer.alloc(1), { maskKey: key })], code: 1002 },
      { name: 'RSV bit', frames: (key) => [encodeFrame(0x1, Buffer.alloc(1), { maskKey: key, rsv: 0x40 })], code: 1002 },
      { name: 'fragmented ping', frames: (key) => [encodeFrame(0x9, Buffer.alloc(1), { maskKey: key, fin: false })], code: 1002 },
      { name: 'big ping', frames: (key) => [encodeFrame(0x9, Buffer.alloc(126), { maskKey: key })], code: 1002 },
      { name: 'lone continuation', frames: (key) => [encodeFrame(0x0, Buffer.alloc(1), { maskKey: key })], code: 1002 },
      {
        name: 'data frame inside a message',
        frames: (key) => [encodeFrame(0x2, Buffer.alloc(1), { maskKey: key, fin: false }), encodeFrame(0x2, Buffer.alloc(1), { maskKey: key })],
        code: 1002,
      },
      { name: 'invalid UTF-8', frames: (key) => [encodeFrame(0x1, Buffer.from([0x41, 0xc0, 0x80]), { maskKey: key })], code: 1007 },
      { name: 'truncated UTF-8', frames: (key) => [encodeFrame(0x1, Buffer.from([0xe2, 0x82]), { maskKey: key })], code: 1007 },
      { name: 'too big', frames: (key) => [encodeFrame(0x2, Buffer.alloc(1001), { maskKey: key })], code: 1009 },
      { name: 'bad close code', frames: (key) => [encodeFrame(0x8, Buffer.from([0x03, 0xed]), { maskKey: key })], code: 1002 },
      { name: '1-byte close', frames: (key) => [encodeFrame(0x8, Buffer.from([0x03]), { maskKey: key })], code: 1002 },
    ]
    fc.assert(
      fc.property(
        trafficArb.map((traffic) => ({ ...traffic, close: null })),
        fc.constantFrom(...violations),
        cutsArb,
        (traffic, violation, cuts) => {
          const valid = buildTraffic({
            ...traffic,
            // Messages within maxMessageSize, in no more fragments than the budget allows (64 KiB / 64).
            items: traffic.items.filter((item) => !('cuts' in item) || (item.payload.length <= 1000 && item.cuts.length <= 1024)),
          })
          const bytes = Buffer.concat([valid.bytes, ...violation.frames(traffic.masked ? Buffer.from([5, 6, 7, 8]) : null)])
          const options = { expectMasked: traffic.masked, maxMessageSize: 1000, streamBinary: traffic.streamBinary }
          const { events, done } = run(chunksOf(bytes, cuts), options)
          expect(done).to.equal(true)
          const expected = [...valid.events]
          // The second frame of 'data frame inside a message' starts a message the parser has already begun.
          if (violation.name === 'data frame inside a message' && traffic.streamBinary) {
            expected.push({ type: 'binaryStart' }, { type: 'binaryChunk', data: Buffer.alloc(1) })
          }
          expectSameEvents(events.slice(0, -1), expected, violation.name)
          const last = events[events.length - 1]
          expect(last.type, violation.name).to.equal('error')
          expect((last as { code: number }).code, violation.name).to.equal(violation.code)
        },
      ),
      { numRuns: RUNS },
    )
  })
})
