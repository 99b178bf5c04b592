import { expect } from 'chai'
import { CloseCode, Opcode } from '../../src/protocol/constants'
import { encodeFrame, encodeFrameHeader } from '../../src/protocol/frame-builder'
import { FrameParser, type FrameHandler, type FrameParserOptions } from '../../src/protocol/frame-parser'
import { countJoins } from '../helpers/count-joins'
import {
  CLIENT,
  SERVER,
  bytewise,
  createParser,
  expectAtEverySplit,
  expectOneError,
  expectSameEvents,
  hex,
  parse,
  splitAt,
  type FrameEvent,
} from './frame-recorder'

// The masking key of RFC 6455 §5.7's masked example.
const KEY = hex('37 fa 21 3d')

const text = (value: string): FrameEvent => ({ type: 'text', text: value })
const binary = (data: Buffer): FrameEvent => ({ type: 'binary', data })
const ping = (data: Buffer | string): FrameEvent => ({ type: 'ping', data: Buffer.from(data) })
const pong = (data: Buffer | string): FrameEvent => ({ type: 'pong', data: Buffer.from(data) })
const close = (code: number, reason = ''): FrameEvent => ({ type: 'close', code, reason })
const bytes = (length: number, seed = 0): Buffer => {
  const data = Buffer.allocUnsafe(length)
  for (let i = 0; i < length; i++) data[i] = (i * 31 + seed) & 0xff
  return data
}

/** A masked (client → server) frame. */
function masked(opcode: number, payload: Buffer | string = '', options: { fin?: boolean; rsv?: number } = {}): Buffer {
  return encodeFrame(opcode, Buffer.from(payload), { ...options, maskKey: KEY })
}

/** An unmasked (server → client) frame. */
function unmasked(opcode: number, payload: Buffer | string = '', options: { fin?: boolean; rsv?: number } = {}): Buffer {
  return encodeFrame(opcode, Buffer.from(payload), options)
}

/** Parses `input` as a server and expects one ProtocolError with `code`. */
function expectFailure(input: Buffer | Buffer[], code: number, options: FrameParserOptions = SERVER): FrameEvent[] {
  const events = parse(input, options)
  expectOneError(events, code)
  return events
}

/** Feeds only a frame header and expects the error to have fired already. */
function expectFailureOnHeader(header: Buffer, code: number, options: FrameParserOptions = SERVER): void {
  for (const chunks of [[header], bytewise(header)]) {
    const { parser, recorder } = createParser(options)
    for (const chunk of chunks) parser.push(chunk)
    expectOneError(recorder.events, code)
    expect(parser.done).to.equal(true)
  }
}

describe('FrameParser', () => {
  describe('RFC 6455 §5.7 examples and other named vectors, whole, at every split point and byte by byte', () => {
    const vectors: Array<{ name: string; bytes: Buffer; options: FrameParserOptions; events: FrameEvent[] }> = [
      {
        name: 'a single-frame unmasked text message ("Hello")',
        bytes: hex('81 05 48 65 6c 6c 6f'),
        options: CLIENT,
        events: [text('Hello')],
      },
      {
        name: 'a single-frame masked text message ("Hello")',
        bytes: hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'),
        options: SERVER,
        events: [text('Hello')],
      },
      {
        name: 'a fragmented unmasked text message ("Hel" + "lo")',
        bytes: hex('01 03 48 65 6c 80 02 6c 6f'),
        options: CLIENT,
        events: [text('Hello')],
      },
      {
        name: 'a fragmented masked text message ("Hel" + "lo")',
        bytes: hex('01 83 37 fa 21 3d 7f 9f 4d   80 82 37 fa 21 3d 5b 95'),
        options: SERVER,
        events: [text('Hello')],
      },
      {
        name: 'an unmasked ping ("Hello")',
        bytes: hex('89 05 48 65 6c 6c 6f'),
        options: CLIENT,
        events: [ping('Hello')],
      },
      {
        name: 'a masked pong ("Hello")',
        bytes: hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'),
        options: SERVER,
        events: [pong('Hello')],
      },
      {
        name: 'an unmasked pong ("Hello")',
        bytes: hex('8a 05 48 65 6c 6c 6f'),
        options: CLIENT,
        events: [pong('Hello')],
      },
      {
        name: 'an empty masked ping',
        bytes: hex('89 80 37 fa 21 3d'),
        options: SERVER,
        events: [ping('')],
      },
      {
        name: 'a 256-byte unmasked binary message (16-bit length)',
        bytes: Buffer.concat([hex('82 7e 01 00'), bytes(256)]),
        options: CLIENT,
        events: [binary(bytes(256))],
      },
      {
        name: 'a 256-byte masked binary message (16-bit length)',
        bytes: masked(Opcode.Binary, bytes(256)),
        options: SERVER,
        events: [binary(bytes(256))],
      },
      {
        name: 'an empty unmasked text message',
        bytes: hex('81 00'),
        options: CLIENT,
        events: [text('')],
      },
      {
        name: 'an empty masked binary message',
        bytes: hex('82 80 37 fa 21 3d'),
        options: SERVER,
        events: [binary(Buffer.alloc(0))],
      },
      {
        name: 'a masked close frame with code 1000 and reason "bye"',
        bytes: masked(Opcode.Close, hex('03 e8 62 79 65')),
        options: SERVER,
        events: [close(1000, 'bye')],
      },
      {
        name: 'an unmasked close frame without a code',
        bytes: hex('88 00'),
        options: CLIENT,
        events: [close(CloseCode.NoStatus)],
      },
      {
        name: 'a multi-byte text message ("κόσμε", 11 bytes of UTF-8)',
        bytes: masked(Opcode.Text, hex('ce ba e1 bd b9 cf 83 ce bc ce b5')),
        options: SERVER,
        events: [text(hex('ce ba e1 bd b9 cf 83 ce bc ce b5').toString())],
      },
      {
        name: 'three messages back to back (text, ping, binary)',
        bytes: Buffer.concat([masked(Opcode.Text, 'one'), masked(Opcode.Ping, 'p'), masked(Opcode.Binary, hex('00 ff'))]),
        options: SERVER,
        events: [text('one'), ping('p'), binary(hex('00 ff'))],
      },
      {
        name: 'a fragmented text message with a ping and a pong between its fragments',
        bytes: Buffer.concat([
          masked(Opcode.Text, 'Hel', { fin: false }),
          masked(Opcode.Ping, 'ping'),
          masked(Opcode.Continuation, 'l', { fin: false }),
          masked(Opcode.Pong, 'pong'),
          masked(Opcode.Continuation, 'o'),
        ]),
        options: SERVER,
        events: [ping('ping'), pong('pong'), text('Hello')],
      },
    ]

    for (const vector of vectors) {
      it(`parses ${vector.name}`, () => {
        expectAtEverySplit(vector.bytes, vector.events, vector.options)
      })
    }

    it('parses a 64 KiB unmasked binary message (64-bit length) the same however it is split', () => {
      const payload = bytes(65536, 7)
      const frame = Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), payload])
      expect(frame.length).to.equal(65546)
      const expected = [binary(payload)]
      expectSameEvents(parse(frame, CLIENT), expected, 'whole')
      expectSameEvents(parse(bytewise(frame), CLIENT), expected, 'one byte at a time')
      // 65,545 two-chunk splits: the parser leaves unmasked input untouched, so one frame serves
      // them all, and a handler that does not copy checks the bytes around each cut (all of them
      // every 64th cut), keeping this at a fraction of a second.
      let at = 0
      let messages = 0
      const parser = (): FrameParser =>
        new FrameParser(
          {
            ...noopHandler(),
            onBinary: (data) => {
              messages++
              const cut = Math.max(0, at - 10)
              const from = Math.max(0, cut - 8)
              const window = data.subarray(from, cut + 8).equals(payload.subarray(from, cut + 8))
              if (data.length !== payload.length || !window || (at % 64 === 0 && !data.equals(payload))) {
                expect.fail(`split at ${at}: the message differs from the payload`)
              }
            },
            onError: (error) => expect.fail(`split at ${at}: ${error.message}`),
          },
          CLIENT,
        )
      for (at = 1; at < frame.length; at++) {
        const p = parser()
        p.push(frame.subarray(0, at))
        p.push(frame.subarray(at))
      }
      expect(messages).to.equal(frame.length - 1)
    })

    it('parses a 64 KiB masked binary message at header splits, around the 4-byte mask phases and byte by byte', () => {
      const payload = bytes(65536, 3)
      const frame = masked(Opcode.Binary, payload)
      expect(frame.subarray(0, 14)).to.deep.equal(hex('82 ff 00 00 00 00 00 01 00 00 37 fa 21 3d'))
      const points = new Set<number>()
      for (let at = 1; at <= 64; at++) points.add(at)
      for (let at = 100; at < frame.length; at += 997) points.add(at)
      for (let at = frame.length - 8; at < frame.length; at++) points.add(at)
      for (const at of points) expectSameEvents(parse(splitAt(frame, at)), [binary(payload)], `split at ${at}`)
      expectSameEvents(parse(bytewise(frame)), [binary(payload)], 'one byte at a time')
    })
  })

  describe('delivery', () => {
    it('delivers a message that arrives in one chunk as a view of that chunk, not a copy', () => {
      const chunk = masked(Opcode.Binary, bytes(1000))
      let received: Buffer | undefined
      const parser = new FrameParser({ ...noopHandler(), onBinary: (data) => (received = data) }, SERVER)
      parser.push(chunk)
      expect(received?.buffer).to.equal(chunk.buffer)
      expect(received).to.deep.equal(bytes(1000))
    })

    it('gathers a one-frame message that spans chunks into one buffer of its final size', () => {
      const payload = bytes(100_000, 3)
      const frame = masked(Opcode.Binary, payload)
      let received: Buffer | undefined
      const parser = new FrameParser({ ...noopHandler(), onBinary: (data) => (received = data) }, SERVER)
      const joins = countJoins(() => {
        for (const [from, to] of [[0, 65_536], [65_536, 131_072], [131_072, frame.length]]) {
          parser.push(Buffer.from(frame.subarray(from, to)))
        }
      })
      expect(received?.equals(payload)).to.equal(true)
      expect(received?.buffer.byteLength).to.equal(payload.length)
      expect(joins).to.equal(0) // copied piece by piece into place, never joined afterwards
    })

    it('does not reserve a large message on the strength of its header and a few bytes', () => {
      const header = encodeFrameHeader({ opcode: Opcode.Binary, fin: true, payloadLength: 1 << 20, maskKey: KEY })
      const parser = new FrameParser(noopHandler(), SERVER)
      parser.push(Buffer.concat([header, Buffer.alloc(1000)]))
      // Under a quarter of the payload has arrived: pieces are kept as received instead.
      expect(parser['assembly']).to.equal(null)
      parser.push(Buffer.alloc(200_000))
      expect(parser['assembly']).to.equal(null)
    })

    it('moves a large message read in small chunks into one buffer once a quarter of it is in, never joining the pieces', () => {
      const payload = bytes(1 << 20, 5)
      const frame = masked(Opcode.Binary, payload)
      let received: Buffer | undefined
      const parser = new FrameParser({ ...noopHandler(), onBinary: (data) => (received = data) }, SERVER)
      const gatheredAt: number[] = []
      const joins = countJoins(() => {
        for (let at = 0; at < frame.length; at += 65_536) {
          parser.push(Buffer.from(frame.subarray(at, at + 65_536)))
          if (parser['assembly'] !== null && gatheredAt.length === 0) gatheredAt.push(at + 65_536)
        }
      })
      expect(received?.equals(payload)).to.equal(true)
      expect(joins).to.equal(0)
      // Gathered on the chunk that completed a quarter of the payload, not before.
      expect(gatheredAt).to.deep.equal([Math.ceil((payload.length / 4 + 14) / 65_536) * 65_536])
    })

    it('decodes a text that spans chunks or fragments the same whether or not its later pieces are ASCII', () => {
      const ascii = 'plain ASCII text; '.repeat(8)
      const accented = 'déjà vu, ça ira 🎉 '.repeat(6)
      for (const [name, value] of [
        ['all ASCII', ascii + ascii],
        ['ASCII then non-ASCII', ascii + accented],
        ['non-ASCII then ASCII', accented + ascii],
      ] as const) {
        const whole = masked(Opcode.Text, value)
        for (const at of [20, whole.length >> 1, whole.length - 3]) {
          expectSameEvents(parse(splitAt(whole, at)), [text(value)], `${name}, one frame split at ${at}`)
        }
        const half = Buffer.from(value).length >> 1
        const fragments = Buffer.concat([
          masked(Opcode.Text, Buffer.from(value).subarray(0, half), { fin: false }),
          masked(Opcode.Continuation, Buffer.from(value).subarray(half)),
        ])
        expectAtEverySplit(fragments, [text(value)])
      }
    })

    it('joins text fragments as bytes, so a character split across fragments survives', () => {
      const euro = hex('e2 82 ac')
      const frames = Buffer.concat([
        masked(Opcode.Text, euro.subarray(0, 1), { fin: false }),
        masked(Opcode.Continuation, euro.subarray(1, 2), { fin: false }),
        masked(Opcode.Continuation, euro.subarray(2, 3)),
      ])
      expectAtEverySplit(frames, [text('€')])
    })

    it('delivers a message whose first fragments are empty', () => {
      const frames = Buffer.concat([
        masked(Opcode.Binary, '', { fin: false }),
        masked(Opcode.Continuation, '', { fin: false }),
        masked(Opcode.Continuation, hex('01 02 03')),
      ])
      expectAtEverySplit(frames, [binary(hex('01 02 03'))])
    })

    it('delivers a message whose last fragment is empty', () => {
      const frames = Buffer.concat([masked(Opcode.Text, 'ab', { fin: false }), masked(Opcode.Continuation, '')])
      expectAtEverySplit(frames, [text('ab')])
    })

    it('keeps ping payloads byte for byte, including bytes that are not UTF-8', () => {
      const payload = Buffer.from([0x00, 0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0x0a, 0x0d])
      expectAtEverySplit(masked(Opcode.Ping, payload), [ping(payload)])
      expectAtEverySplit(unmasked(Opcode.Pong, payload), [pong(payload)], CLIENT)
    })

    it('accepts a ping with the largest control payload (125 bytes)', () => {
      expectAtEverySplit(masked(Opcode.Ping, bytes(125)), [ping(bytes(125))])
    })

    it('accepts a message of exactly maxMessageSize bytes', () => {
      const options = { ...SERVER, maxMessageSize: 300 }
      expect(parse(masked(Opcode.Binary, bytes(300)), options)).to.have.length(1)
      expectSameEvents(parse(masked(Opcode.Binary, bytes(300)), options), [binary(bytes(300))])
    })

    it('accepts RSV bits that a negotiated extension allows (allowedRsv)', () => {
      const options = { ...SERVER, allowedRsv: 0x40 }
      expectAtEverySplit(masked(Opcode.Binary, 'x', { rsv: 0x40 }), [binary(Buffer.from('x'))], options)
      const all = { ...SERVER, allowedRsv: 0x70 }
      expectSameEvents(parse(masked(Opcode.Text, 'y', { rsv: 0x70 }), all), [text('y')])
    })

    it('accepts valid UTF-8 edge characters (U+0000, U+007F, U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF)', () => {
      const value = '\u0000\u007f\u0080\u07ff\u0800\ud7ff\ue000\uffff\u{10000}\u{10ffff}'
      expectAtEverySplit(masked(Opcode.Text, value), [text(value)])
    })
  })

  describe('binary streaming mode', () => {
    const streaming: FrameParserOptions = { ...SERVER, streamBinary: true }

    it('reports onBinaryStart, pieces whose concatenation is the message, and onBinaryEnd', () => {
      const payload = bytes(3000, 9)
      const frames = Buffer.concat([
        masked(Opcode.Binary, payload.subarray(0, 1000), { fin: false }),
        masked(Opcode.Continuation, payload.subarray(1000, 1001), { fin: false }),
        masked(Opcode.Continuation, payload.subarray(1001)),
      ])
      const expected: FrameEvent[] = [{ type: 'binaryStart' }, { type: 'binaryChunk', data: payload }, { type: 'binaryEnd' }]
      for (const at of [1, 7, 500, 1006, 1010, 2000, frames.length - 1]) {
        expectSameEvents(parse(splitAt(frames, at), streaming), expected, `split at ${at}`)
      }
      const byteByByte = parse(bytewise(frames), streaming)
      expect(byteByByte.filter((event) => event.type === 'binaryChunk')).to.have.length(3000)
      expectSameEvents(byteByByte, expected)
    })

    it('reports the pieces as they arrive, before the frame is complete', () => {
      const frame = masked(Opcode.Binary, bytes(100))
      const { parser, recorder } = createParser(streaming)
      parser.push(Buffer.from(frame.subarray(0, 6 + 40)))
      expect(recorder.events.map((event) => event.type)).to.deep.equal(['binaryStart', 'binaryChunk'])
      expect((recorder.events[1] as { data: Buffer }).data).to.deep.equal(bytes(100).subarray(0, 40))
      parser.push(Buffer.from(frame.subarray(46)))
      expect(recorder.events.map((event) => event.type)).to.deep.equal(['binaryStart', 'binaryChunk', 'binaryChunk', 'binaryEnd'])
    })

    it('streams an empty binary message as a start and an end', () => {
      expectAtEverySplit(masked(Opcode.Binary, ''), [{ type: 'binaryStart' }, { type: 'binaryEnd' }], streaming)
    })

    it('delivers control frames interleaved in a streamed message in order', () => {
      const frames = Buffer.concat([
        masked(Opcode.Binary, hex('01'), { fin: false }),
        masked(Opcode.Ping, 'p'),
        masked(Opcode.Continuation, hex('02')),
      ])
      expectAtEverySplit(
        frames,
        [
          { type: 'binaryStart' },
          { type: 'binaryChunk', data: hex('01') },
          ping('p'),
          { type: 'binaryChunk', data: hex('02') },
          { type: 'binaryEnd' },
        ],
        streaming,
      )
    })

    it('still delivers text messages whole', () => {
      expectAtEverySplit(masked(Opcode.Text, 'hi'), [text('hi')], streaming)
    })

    it('checks the size limit before onBinaryStart', () => {
      const events = parse(masked(Opcode.Binary, bytes(101)), { ...streaming, maxMessageSize: 100 })
      expect(events.map((event) => event.type)).to.deep.equal(['error'])
      expectOneError(events, CloseCode.MessageTooBig)
    })

    it('stops reporting when the handler stops the parser inside onBinaryStart', () => {
      let parser: FrameParser | undefined
      const seen: string[] = []
      parser = new FrameParser(
        {
          ...noopHandler(),
          onBinaryStart: () => {
            seen.push('start')
            parser?.stop()
          },
          onBinaryChunk: () => seen.push('chunk'),
          onBinaryEnd: () => seen.push('end'),
        },
        streaming,
      )
      parser.push(Buffer.concat([masked(Opcode.Binary, 'abc'), masked(Opcode.Binary, 'def')]))
      expect(seen).to.deep.equal(['start'])
      expect(parser.done).to.equal(true)
    })
  })

  describe('RFC 6455 §5.1 and §5.3: masking', () => {
    it('closes with 1002 when a client frame is not masked', () => {
      expectFailureOnHeader(hex('81 05'), CloseCode.ProtocolError)
    })

    it('closes with 1002 when a server frame is masked', () => {
      expectFailureOnHeader(hex('81 85 37 fa 21 3d'), CloseCode.ProtocolError, CLIENT)
    })

    it('closes with 1002 when an unmasked control frame reaches a server', () => {
      expectFailure(hex('89 00'), CloseCode.ProtocolError)
    })
  })

  describe('RFC 6455 §5.2: RSV bits', () => {
    for (const rsv of [0x40, 0x20, 0x10, 0x70]) {
      it(`closes with 1002 when RSV bits 0x${rsv.toString(16)} are set without an extension`, () => {
        expectFailureOnHeader(masked(Opcode.Text, '', { rsv }).subarray(0, 6), CloseCode.ProtocolError)
      })
    }

    it('closes with 1002 on an RSV bit the negotiated extension does not allow', () => {
      expectFailure(masked(Opcode.Binary, 'x', { rsv: 0x20 }), CloseCode.ProtocolError, { ...SERVER, allowedRsv: 0x40 })
    })

    it('closes with 1002 on RSV bits of a control frame without an extension', () => {
      expectFailure(masked(Opcode.Ping, 'x', { rsv: 0x40 }), CloseCode.ProtocolError)
    })
  })

  describe('RFC 6455 §5.2: opcodes', () => {
    for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      it(`closes with 1002 on reserved opcode 0x${opcode.toString(16)}`, () => {
        expectFailureOnHeader(masked(opcode, 'abc').subarray(0, 6), CloseCode.ProtocolError)
        expectFailureOnHeader(unmasked(opcode, '').subarray(0, 2), CloseCode.ProtocolError, CLIENT)
      })
    }

    it('closes with 1002 on a reserved opcode inside a fragmented message', () => {
      const events = expectFailure(
        Buffer.concat([masked(Opcode.Text, 'a', { fin: false }), masked(0x3, 'b')]),
        CloseCode.ProtocolError,
      )
      expect(events).to.have.length(1)
    })
  })

  describe('RFC 6455 §5.5: control frames', () => {
    for (const opcode of [Opcode.Close, Opcode.Ping, Opcode.Pong]) {
      it(`closes with 1002 when a control frame (0x${opcode.toString(16)}) is fragmented`, () => {
        expectFailureOnHeader(masked(opcode, 'ab', { fin: false }).subarray(0, 6), CloseCode.ProtocolError)
      })

      it(`closes with 1002 when a control frame (0x${opcode.toString(16)}) carries more than 125 bytes`, () => {
        // Detected on the header, before the payload arrives.
        expectFailureOnHeader(masked(opcode, bytes(126)).subarray(0, 8), CloseCode.ProtocolError)
      })
    }

    it('closes with 1002 on a control frame claiming a 64-bit length', () => {
      expectFailureOnHeader(encodeFrameHeader({ opcode: Opcode.Ping, fin: true, payloadLength: 70000, maskKey: KEY }), CloseCode.ProtocolError)
    })
  })

  describe('RFC 6455 §5.4: fragmentation', () => {
    it('closes with 1002 on a continuation frame without a message to continue', () => {
      expectFailureOnHeader(masked(Opcode.Continuation, 'x').subarray(0, 6), CloseCode.ProtocolError)
      expectFailure(masked(Opcode.Continuation, 'x', { fin: false }), CloseCode.ProtocolError)
    })

    it('closes with 1002 on a continuation frame after a message has ended', () => {
      const events = expectFailure(
        Buffer.concat([masked(Opcode.Text, 'done'), masked(Opcode.Continuation, 'more')]),
        CloseCode.ProtocolError,
      )
      expect(events[0]).to.deep.equal(text('done'))
    })

    for (const [first, second] of [
      [Opcode.Text, Opcode.Text],
      [Opcode.Text, Opcode.Binary],
      [Opcode.Binary, Opcode.Text],
      [Opcode.Binary, Opcode.Binary],
    ]) {
      it(`closes with 1002 on a new data frame (0x${second}) inside a fragmented message (0x${first})`, () => {
        const events = expectFailure(
          Buffer.concat([masked(first, 'a', { fin: false }), masked(second, 'b')]),
          CloseCode.ProtocolError,
        )
        expect(events).to.have.length(1)
      })
    }

    it('closes with 1002 on a new data frame inside a streamed binary message', () => {
      const events = expectFailure(
        Buffer.concat([masked(Opcode.Binary, 'a', { fin: false }), masked(Opcode.Binary, 'b')]),
        CloseCode.ProtocolError,
        { ...SERVER, streamBinary: true },
      )
      expect(events.map((event) => event.type)).to.deep.equal(['binaryStart', 'binaryChunk', 'error'])
    })
  })

  describe('RFC 6455 §5.2: payload length', () => {
    it('closes with 1002 on a 64-bit length with the most significant bit set', () => {
      expectFailureOnHeader(hex('82 ff 80 00 00 00 00 00 00 05 37 fa 21 3d'), CloseCode.ProtocolError)
      expectFailureOnHeader(hex('82 7f ff ff ff ff ff ff ff ff'), CloseCode.ProtocolError, CLIENT)
    })

    it('closes with 1009 on a 64-bit length beyond any message size (2^53)', () => {
      expectFailureOnHeader(hex('82 ff 00 20 00 00 00 00 00 00 37 fa 21 3d'), CloseCode.MessageTooBig)
    })
  })

  describe('message size limits', () => {
    const small: FrameParserOptions = { ...SERVER, maxMessageSize: 1000 }

    it('closes with 1009 on the header of a frame over maxMessageSize, before its payload arrives', () => {
      expectFailureOnHeader(encodeFrameHeader({ opcode: Opcode.Binary, fin: true, payloadLength: 1001, maskKey: KEY }), CloseCode.MessageTooBig, small)
      expectFailureOnHeader(encodeFrameHeader({ opcode: Opcode.Text, fin: false, payloadLength: 70000, maskKey: KEY }), CloseCode.MessageTooBig, small)
      expectFailureOnHeader(
        encodeFrameHeader({ opcode: Opcode.Binary, fin: true, payloadLength: 2 ** 40, maskKey: null }),
        CloseCode.MessageTooBig,
        { ...CLIENT, maxMessageSize: 64 * 1024 * 1024 },
      )
    })

    it('closes with 1009 when fragments add up to more than maxMessageSize, on the header of the fragment that crosses it', () => {
      const { parser, recorder } = createParser(small)
      parser.push(masked(Opcode.Binary, bytes(600), { fin: false }))
      expect(recorder.events).to.deep.equal([])
      parser.push(encodeFrameHeader({ opcode: Opcode.Continuation, fin: true, payloadLength: 600, maskKey: KEY }))
      expectOneError(recorder.events, CloseCode.MessageTooBig)
    })

    /** Starts a fragmented message, then pushes `fragment` until the parser reports; how many were pushed. */
    function floodFragments(options: FrameParserOptions, first: Buffer, fragment: Buffer): number {
      const { parser, recorder } = createParser(options)
      parser.push(first)
      let sent = 0
      while (recorder.events.length === 0 && sent < 5000) {
        parser.push(Buffer.from(fragment))
        sent++
      }
      expectOneError(recorder.events, CloseCode.MessageTooBig)
      return sent
    }

    it('bounds the fragments of a message, so a flood of empty fragments ends with 1009', () => {
      const sent = floodFragments(small, masked(Opcode.Text, '', { fin: false }), masked(Opcode.Continuation, '', { fin: false }))
      // 64 per fragment after the first (the default) against the smallest budget, 64 KiB
      // (maxMessageSize is only 1000 here): 1024 fit, the 1025th crosses it.
      expect(sent).to.equal(1025)
    })

    it('uses maxMessageSize as the fragment budget when it is above 64 KiB', () => {
      const options = { ...SERVER, maxMessageSize: 128 * 1024 }
      const sent = floodFragments(options, masked(Opcode.Binary, bytes(1), { fin: false }), masked(Opcode.Continuation, bytes(1), { fin: false }))
      // 128 KiB / 64: 2048 fit (their 2049 payload bytes are far below the limit), the 2049th crosses it.
      expect(sent).to.equal(2049)
    })

    it('accepts a message of exactly maxMessageSize however it is fragmented', () => {
      const payload = bytes(1000, 3)
      for (const size of [1000, 500, 100, 7, 1]) {
        const frames: Buffer[] = []
        for (let at = 0; at < payload.length; at += size) {
          const end = Math.min(at + size, payload.length)
          frames.push(masked(at === 0 ? Opcode.Binary : Opcode.Continuation, payload.subarray(at, end), { fin: end === payload.length }))
        }
        const events = parse(Buffer.concat(frames), small)
        expect(events.map((event) => event.type), `${size}-byte fragments`).to.deep.equal(['binary'])
        expect((events[0] as { data: Buffer }).data.equals(payload)).to.equal(true)
      }
      // One byte more fails on the header of the fragment that crosses the limit.
      const over = parse([masked(Opcode.Binary, bytes(501), { fin: false }), masked(Opcode.Continuation, bytes(500)).subarray(0, 8)], small)
      expectOneError(over, CloseCode.MessageTooBig)
    })

    it('uses the configured fragmentOverhead', () => {
      const { parser, recorder } = createParser({ ...small, fragmentOverhead: 250 })
      parser.push(masked(Opcode.Binary, '', { fin: false }))
      // 65536 / 250: 262 fragments after the first fit, the 263rd does not.
      for (let i = 0; i < 262; i++) parser.push(masked(Opcode.Continuation, '', { fin: false }))
      expect(recorder.events).to.deep.equal([])
      parser.push(masked(Opcode.Continuation, '', { fin: false }))
      expectOneError(recorder.events, CloseCode.MessageTooBig)
    })

    it('accepts a 4 MiB message in 65,536 fragments with maxMessageSize 64 MiB', () => {
      const payload = bytes(4 * 1024 * 1024, 5)
      const fragmentSize = payload.length / 65536
      const frames: Buffer[] = []
      for (let i = 0; i < 65536; i++) {
        const opcode = i === 0 ? Opcode.Binary : Opcode.Continuation
        frames.push(masked(opcode, payload.subarray(i * fragmentSize, (i + 1) * fragmentSize), { fin: i === 65535 }))
      }
      const stream = Buffer.concat(frames)
      const { parser, recorder } = createParser({ ...SERVER, maxMessageSize: 64 * 1024 * 1024 })
      // Socket-sized reads that cut frames anywhere.
      for (let at = 0; at < stream.length; at += 65533) parser.push(stream.subarray(at, at + 65533))
      expect(recorder.events).to.have.length(1)
      expect(recorder.events[0].type).to.equal('binary')
      expect((recorder.events[0] as { data: Buffer }).data.equals(payload)).to.equal(true)
    })

    it('starts counting afresh for the next message', () => {
      const { parser, recorder } = createParser(small)
      for (let i = 0; i < 5; i++) {
        parser.push(masked(Opcode.Binary, bytes(500), { fin: false }))
        parser.push(masked(Opcode.Continuation, bytes(400)))
      }
      expect(recorder.events.map((event) => event.type)).to.deep.equal(['binary', 'binary', 'binary', 'binary', 'binary'])
    })
  })

  describe('UTF-8 in text messages', () => {
    // Autobahn 6.4.1: "κόσμε", then F4 90 80 80 (above U+10FFFF), then "edited".
    const prefix = hex('ce ba e1 bd b9 cf 83 ce bc ce b5')
    const payload = Buffer.concat([prefix, hex('f4 90 80 80'), Buffer.from('edited')])

    it('closes with 1007 as soon as the invalid byte arrives, before the frame ends (Autobahn 6.4.1)', () => {
      const frame = masked(Opcode.Text, payload)
      const header = 6
      const { parser, recorder } = createParser(SERVER)
      parser.push(Buffer.from(frame.subarray(0, header + prefix.length)))
      expect(recorder.events).to.deep.equal([])
      parser.push(Buffer.from(frame.subarray(header + prefix.length, header + prefix.length + 1))) // F4
      expect(recorder.events).to.deep.equal([])
      parser.push(Buffer.from(frame.subarray(header + prefix.length + 1, header + prefix.length + 2))) // 90
      expectOneError(recorder.events, CloseCode.InvalidPayload)
      parser.push(Buffer.from(frame.subarray(header + prefix.length + 2)))
      expect(recorder.events).to.have.length(1)
    })

    it('closes with 1007 as soon as the invalid byte arrives in a long frame, on the native validation path', () => {
      const long = Buffer.concat([Buffer.alloc(500, 0x61), hex('f4 90 80 80'), Buffer.alloc(500, 0x61)])
      const frame = masked(Opcode.Text, long)
      const badAt = 8 + 500 + 1 // header (16-bit length) + prefix + F4: the 90 byte
      for (const cut of [8 + 100, badAt - 1]) {
        const { parser, recorder } = createParser(SERVER)
        parser.push(Buffer.from(frame.subarray(0, cut)))
        expect(recorder.events, `cut at ${cut}`).to.deep.equal([])
        parser.push(Buffer.from(frame.subarray(cut, badAt + 1)))
        expectOneError(recorder.events, CloseCode.InvalidPayload)
      }
    })

    it('closes with 1007 when the invalid byte opens the next fragment', () => {
      const { parser, recorder } = createParser(SERVER)
      parser.push(masked(Opcode.Text, Buffer.concat([prefix, hex('f4')]), { fin: false }))
      expect(recorder.events).to.deep.equal([])
      const next = masked(Opcode.Continuation, hex('90 80 80 41'))
      parser.push(Buffer.from(next.subarray(0, 6)))
      expect(recorder.events).to.deep.equal([])
      parser.push(Buffer.from(next.subarray(6, 7)))
      expectOneError(recorder.events, CloseCode.InvalidPayload)
    })

    it('closes with 1007 when a long ASCII fragment follows a fragment that ended inside a character', () => {
      // ASCII bytes are valid UTF-8 only after a complete character: the ASCII shortcut of the
      // unmasking pass must not skip the check when a character is still open.
      for (const length of [1, 31, 32, 100]) {
        // The third fragment would complete the character, were the ASCII bytes not checked.
        const events = parse([
          masked(Opcode.Text, hex('e2 82'), { fin: false }),
          masked(Opcode.Continuation, Buffer.alloc(length, 0x61), { fin: false }),
          masked(Opcode.Continuation, hex('ac')),
        ])
        expectOneError(events, CloseCode.InvalidPayload)
      }
    })

    it('delivers long ASCII and non-ASCII text frames, whole and fragmented, with their source bytes', () => {
      const ascii = 'a'.repeat(40) + 'Z'.repeat(300)
      const mixed = 'ascii then é and € and 😀 '.repeat(20)
      for (const value of [ascii, mixed]) {
        expectSameEvents(parse(masked(Opcode.Text, value)), [text(value)])
        const bytesOf = Buffer.from(value)
        const cut = 37
        expectSameEvents(
          parse([
            masked(Opcode.Text, bytesOf.subarray(0, cut), { fin: false }),
            masked(Opcode.Continuation, bytesOf.subarray(cut)),
          ]),
          [text(value)],
        )
      }
    })

    it('leaves the source bytes of a delivered text message unchanged while it parses on', () => {
      const held: { source: Buffer; start: number; end: number }[] = []
      const parser = new FrameParser(
        { ...noopHandler(), onText: (_text, source, start, end) => held.push({ source, start, end }) },
        SERVER,
      )
      const stream = Buffer.concat([masked(Opcode.Text, 'first message'), masked(Opcode.Text, 'second')])
      parser.push(stream.subarray(0, 25))
      parser.push(Buffer.concat([stream.subarray(25), masked(Opcode.Binary, bytes(64)), masked(Opcode.Text, 'x'.repeat(64))]))
      expect(held.map((h) => h.source.toString('utf8', h.start, h.end))).to.deep.equal([
        'first message',
        'second',
        'x'.repeat(64),
      ])
    })

    it('closes with 1007 on invalid UTF-8 in an early fragment of a message that is never finished', () => {
      const events = expectFailure(
        Buffer.concat([masked(Opcode.Text, 'ok', { fin: false }), masked(Opcode.Continuation, hex('ff'), { fin: false })]),
        CloseCode.InvalidPayload,
      )
      expect(events).to.have.length(1)
    })

    it('closes with 1007 when a text message ends inside a character', () => {
      expectFailure(masked(Opcode.Text, hex('41 e2 82')), CloseCode.InvalidPayload)
      expectFailure(
        Buffer.concat([masked(Opcode.Text, hex('e2 82'), { fin: false }), masked(Opcode.Continuation, '')]),
        CloseCode.InvalidPayload,
      )
      expectFailure(
        Buffer.concat([masked(Opcode.Text, hex('f0 9f'), { fin: false }), masked(Opcode.Continuation, hex('98'))]),
        CloseCode.InvalidPayload,
      )
    })

    const invalid: Record<string, string> = {
      'an overlong 2-byte NUL (C0 80)': 'c0 80',
      'an overlong 2-byte "/" (C1 AF)': 'c1 af',
      'an overlong 3-byte NUL (E0 80 80)': 'e0 80 80',
      'an overlong 3-byte U+07FF (E0 9F BF)': 'e0 9f bf',
      'an overlong 4-byte NUL (F0 80 80 80)': 'f0 80 80 80',
      'an overlong 4-byte U+FFFF (F0 8F BF BF)': 'f0 8f bf bf',
      'a high surrogate U+D800 (ED A0 80)': 'ed a0 80',
      'a low surrogate U+DFFF (ED BF BF)': 'ed bf bf',
      'a surrogate pair encoded as two characters (ED A0 BD ED B2 A9)': 'ed a0 bd ed b2 a9',
      'U+110000 (F4 90 80 80)': 'f4 90 80 80',
      'a 5-byte lead F5': 'f5 80 80 80',
      'lead byte F8': 'f8 88 80 80 80',
      'byte FE': 'fe',
      'byte FF': 'ff',
      'a lone continuation byte 80': '80',
      'a lone continuation byte BF': 'bf',
      'a lead byte followed by ASCII (C3 41)': 'c3 41',
      'a 3-byte lead followed by ASCII (E2 82 41)': 'e2 82 41',
    }
    for (const [name, bytesHex] of Object.entries(invalid)) {
      it(`closes with 1007 on ${name}`, () => {
        const frame = masked(Opcode.Text, Buffer.concat([Buffer.from('ok'), hex(bytesHex), Buffer.from('!')]))
        for (const chunks of [[frame], bytewise(frame)]) expectFailure(chunks, CloseCode.InvalidPayload)
      })
    }

    it('does not validate binary messages as UTF-8', () => {
      expectAtEverySplit(masked(Opcode.Binary, hex('ff fe c0 80')), [binary(hex('ff fe c0 80'))])
    })
  })

  describe('a one-frame text that spans socket reads', () => {
    // Texts of a few KiB, so that pieces reach the 4 KiB pieces path and the 8 KiB native ASCII check.
    const ascii = 'the quick brown fox jumps over the lazy dog. '.repeat(230) // 10,350 bytes

    /** Parses `payload` as one text frame cut at `cuts` (offsets in the frame); each chunk is its own buffer. */
    function parseCut(payload: Buffer, cuts: number[], options: FrameParserOptions = SERVER): { events: FrameEvent[]; pieceTexts: number } {
      const frame = options.expectMasked ? masked(Opcode.Text, payload) : unmasked(Opcode.Text, payload)
      const { parser, recorder } = createParser(options)
      let at = 0
      for (const cut of [...cuts, frame.length]) {
        parser.push(Buffer.from(frame.subarray(at, cut)))
        at = cut
      }
      return { events: recorder.events, pieceTexts: recorder.pieceTexts }
    }

    for (const [side, options, header] of [['server', SERVER, 8], ['client', CLIENT, 4]] as const) {
      it(`delivers an ASCII text cut at every point as the same string, as pieces when the first is 4 KiB or more (${side})`, () => {
        const payload = Buffer.from(ascii)
        let asPieces = 0
        for (let cut = 1; cut < header + payload.length; cut++) {
          const { events, pieceTexts } = parseCut(payload, [cut], options)
          expectSameEvents(events, [text(ascii)], `cut at ${cut}`)
          // The unmasked client side checks a first piece for ASCII natively only from 8 KiB.
          const first = cut - header
          const expected = first >= (options.expectMasked ? 4096 : 8192) ? 1 : 0
          expect(pieceTexts, `cut at ${cut}`).to.equal(expected)
          asPieces += pieceTexts
        }
        expect(asPieces).to.be.greaterThan(1000)
      })
    }

    it('leaves the pieces of a text unchanged while it parses the frames after it (they may be sent back as they are)', () => {
      const held: { text: string; pieces: readonly Buffer[] }[] = []
      const parser = new FrameParser({ ...noopHandler(), onTextPieces: (value, pieces) => held.push({ text: value, pieces }) }, SERVER)
      const stream = Buffer.concat([masked(Opcode.Text, ascii), masked(Opcode.Binary, bytes(9000)), masked(Opcode.Text, ascii.toUpperCase())])
      for (let at = 0; at < stream.length; at += 6000) parser.push(Buffer.from(stream.subarray(at, at + 6000)))
      expect(held.map((h) => h.text)).to.deep.equal([ascii, ascii.toUpperCase()])
      expect(held.map((h) => Buffer.concat(h.pieces).toString('latin1'))).to.deep.equal([ascii, ascii.toUpperCase()])
      expect(held[0].pieces.length).to.be.greaterThan(1)
    })

    it('joins a text read in pieces under 4 KiB instead of keeping a string per piece', () => {
      const payload = Buffer.from(ascii)
      const cuts: number[] = []
      for (let at = 1000; at < payload.length; at += 1000) cuts.push(at)
      const { events, pieceTexts } = parseCut(payload, cuts)
      expectSameEvents(events, [text(ascii)])
      expect(pieceTexts).to.equal(0)
    })

    it('switches to joining when a small piece comes after a pieces start, with the same string', () => {
      const payload = Buffer.from(ascii)
      const { events, pieceTexts } = parseCut(payload, [5000, 5100, 5200])
      expectSameEvents(events, [text(ascii)])
      expect(pieceTexts).to.equal(0)
    })

    // Multi-byte characters after 9,000 ASCII bytes (the native ASCII check's range), cut at
    // every point around them: each character is split across reads at each of its bytes.
    const multi = 'é€😀\u{10ffff}'
    const vectors: Record<string, string> = {
      '2-, 3- and 4-byte characters after ASCII': 'a'.repeat(9000) + multi + 'b'.repeat(9000),
      'a byte-order mark first (kept)': '\ufeff' + 'c'.repeat(9000) + multi,
      'multi-byte characters throughout': ('ünïcødé ✓ 𝄞 ' + 'd'.repeat(40)).repeat(300),
    }
    for (const [name, value] of Object.entries(vectors)) {
      for (const [side, options, header] of [['server', SERVER, 10], ['client', CLIENT, 4]] as const) {
        it(`decodes ${name} cut at every point near them (${side})`, () => {
          const payload = Buffer.from(value)
          const at = payload.indexOf(Buffer.from(multi))
          const around = at === -1 ? [0, 20] : [at - 2, at + Buffer.byteLength(multi) + 2]
          for (let cut = header + around[0]; cut < header + around[1]; cut++) {
            for (const cuts of [[cut], [header + 4500, Math.max(cut, header + 4501)]]) {
              expectSameEvents(parseCut(payload, cuts, options).events, [text(value)], `cuts at ${cuts.join(', ')}`)
            }
          }
          expect(parseCut(payload, [header + 100, header + 9000], options).events).to.deep.equal([text(value)])
        })
      }
    }

    // The bytes, and which of them makes the sequence invalid (ED is a valid lead; A0 after it is not).
    const bad: Record<string, [string, number]> = {
      'byte FF': ['ff', 0],
      'a lone continuation byte 80': ['80', 0],
      'a UTF-16 surrogate (ED A0 80)': ['ed a0 80', 1],
      'an overlong NUL (C0 80)': ['c0 80', 0],
      'U+110000 (F4 90 80 80)': ['f4 90 80 80', 1],
    }
    for (const [name, [bytesHex, decisive]] of Object.entries(bad)) {
      it(`closes with 1007 on ${name} at every position of a text read in three pieces, in the read that brings it`, () => {
        const invalid = hex(bytesHex)
        const size = 9 * 1024
        const header = 8
        const cuts = [header + 3000, header + 7500]
        for (let position = 0; position + invalid.length <= size; position++) {
          const payload = Buffer.alloc(size, 0x61)
          invalid.copy(payload, position)
          const frame = masked(Opcode.Text, payload)
          const { parser, recorder } = createParser(SERVER)
          const decidedAt = header + position + decisive
          let at = 0
          for (const cut of [...cuts, frame.length]) {
            parser.push(Buffer.from(frame.subarray(at, cut)))
            if (cut <= decidedAt) expect(recorder.events, `position ${position}: nothing before the read with the bad byte`).to.deep.equal([])
            else {
              expectOneError(recorder.events, CloseCode.InvalidPayload)
              break
            }
            at = cut
          }
          expect(recorder.pieceTexts, `position ${position}`).to.equal(0)
        }
      })
    }
  })

  describe('close frames', () => {
    const validCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
    for (const code of validCodes) {
      it(`accepts close code ${code}`, () => {
        const payload = Buffer.alloc(2)
        payload.writeUInt16BE(code)
        expectAtEverySplit(masked(Opcode.Close, payload), [close(code)])
      })
    }

    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
      it(`closes with 1002 on close code ${code}`, () => {
        const payload = Buffer.alloc(2)
        payload.writeUInt16BE(code)
        expectFailure(masked(Opcode.Close, payload), CloseCode.ProtocolError)
      })
    }

    it('closes with 1002 on a 1-byte close payload', () => {
      expectFailure(masked(Opcode.Close, hex('03')), CloseCode.ProtocolError)
    })

    it('closes with 1002 on a close reason that is not valid UTF-8', () => {
      expectFailure(masked(Opcode.Close, hex('03 e8 ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64')), CloseCode.ProtocolError)
      expectFailure(masked(Opcode.Close, hex('03 e8 e2 82')), CloseCode.ProtocolError)
      expectFailure(masked(Opcode.Close, hex('03 e8 ff')), CloseCode.ProtocolError)
    })

    it('reports an empty close frame as code 1005 with an empty reason', () => {
      expectAtEverySplit(masked(Opcode.Close, ''), [close(CloseCode.NoStatus, '')])
    })

    it('reports a UTF-8 reason of the largest size (123 bytes)', () => {
      const reason = 'é'.repeat(61) + 'x'
      const payload = Buffer.concat([hex('0f a0'), Buffer.from(reason)])
      expect(payload.length).to.equal(125)
      expectAtEverySplit(masked(Opcode.Close, payload), [close(4000, reason)])
    })

    it('accepts a close frame in the middle of a fragmented message', () => {
      const events = parse(Buffer.concat([masked(Opcode.Text, 'a', { fin: false }), masked(Opcode.Close, hex('03 e8'))]))
      expect(events).to.deep.equal([close(1000)])
    })
  })

  describe('after a close frame or an error', () => {
    it('ignores input after a close frame', () => {
      const { parser, recorder } = createParser(SERVER)
      parser.push(Buffer.concat([masked(Opcode.Close, hex('03 e8')), masked(Opcode.Text, 'late')]))
      parser.push(masked(Opcode.Text, 'later'))
      parser.push(hex('ff ff ff'))
      expect(recorder.events).to.deep.equal([close(1000)])
      expect(parser.done).to.equal(true)
    })

    it('reports only one error and ignores input after it', () => {
      const { parser, recorder } = createParser(SERVER)
      parser.push(Buffer.concat([hex('81 05 48 65 6c 6c 6f'), masked(Opcode.Text, 'late')]))
      parser.push(hex('83 80 00 00 00 00'))
      parser.push(masked(Opcode.Close, hex('03 e8')))
      expectOneError(recorder.events, CloseCode.ProtocolError)
      expect(parser.done).to.equal(true)
    })

    it('ignores input after stop()', () => {
      const { parser, recorder } = createParser(SERVER)
      parser.push(masked(Opcode.Text, 'a', { fin: false }))
      expect(parser.done).to.equal(false)
      parser.stop()
      parser.push(masked(Opcode.Continuation, 'b'))
      expect(recorder.events).to.deep.equal([])
      expect(parser.done).to.equal(true)
    })

    it('reports messages that came before the error in the same chunk', () => {
      const events = parse(Buffer.concat([masked(Opcode.Text, 'first'), masked(Opcode.Ping, 'p'), hex('8b 80 00 00 00 00')]))
      expect(events.slice(0, 2)).to.deep.equal([text('first'), ping('p')])
      expectOneError(events, CloseCode.ProtocolError)
    })
  })
})

function noopHandler(): FrameHandler {
  return {
    onText: () => {},
    onTextPieces: () => {},
    onBinary: () => {},
    onBinaryStart: () => {},
    onBinaryChunk: () => {},
    onBinaryEnd: () => {},
    onPing: () => {},
    onPong: () => {},
    onClose: () => {},
    onError: () => {},
  }
}
