import { expect } from 'chai'
import { CloseCode, Opcode } from '../../../src/protocol/constants'
import { resolveCompressionOptions } from '../../../src/protocol/extensions/compression-options'
import type { DeflateParams } from '../../../src/protocol/extensions/negotiate-deflate'
import { PerMessageDeflate } from '../../../src/protocol/extensions/per-message-deflate'
import { encodeFrame } from '../../../src/protocol/frame-builder'
import type { FrameParserOptions } from '../../../src/protocol/frame-parser'
import { CLIENT, SERVER, createParser, expectAtEverySplit, expectOneError, hex, parse, type FrameEvent } from '../frame-recorder'

const TAKEOVER: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }
const NO_TAKEOVER: DeflateParams = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }
const options = resolveCompressionOptions({ threshold: 0 })!

function codec(role: 'server' | 'client', params: DeflateParams = TAKEOVER): PerMessageDeflate {
  return new PerMessageDeflate(params, options, role, 'permessage-deflate')
}

/** Parser options with a fresh codec per parser (a context must not leak from one parse into the next). */
function withDeflate(base: FrameParserOptions, params: DeflateParams = TAKEOVER, role: 'server' | 'client' = base.expectMasked ? 'server' : 'client'): FrameParserOptions {
  return {
    ...base,
    get inflater() {
      return codec(role, params)
    },
  }
}

const text = (value: string): FrameEvent => ({ type: 'text', text: value })
const binary = (data: Buffer): FrameEvent => ({ type: 'binary', data })
const KEY = hex('37 fa 21 3d')

describe('permessage-deflate frames (RFC 7692 §7.2.3 examples)', () => {
  // The server → client examples of §7.2.3, unmasked, as a client parses them.
  const vectors: Array<[string, string, string[], DeflateParams?]> = [
    ['§7.2.3.1 a message in one compressed frame', 'c1 07 f2 48 cd c9 c9 07 00', ['Hello']],
    ['§7.2.3.1 a compressed message in two fragments', '41 03 f2 48 cd 80 04 c9 c9 07 00', ['Hello']],
    ['§7.2.3.2 two messages sharing the LZ77 window', 'c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00', ['Hello', 'Hello']],
    ['§7.2.3.2 the same messages without context takeover', 'c1 07 f2 48 cd c9 c9 07 00 c1 07 f2 48 cd c9 c9 07 00', ['Hello', 'Hello'], NO_TAKEOVER],
    ['§7.2.3.3 a DEFLATE block with no compression', 'c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00', ['Hello']],
    ['§7.2.3.4 a DEFLATE block with BFINAL set', 'c1 08 f3 48 cd c9 c9 07 00 00', ['Hello']],
    ['§7.2.3.5 two DEFLATE blocks in one message', 'c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00', ['Hello']],
    ['an empty message (a deflated empty input, 0x00)', 'c1 01 00', ['']],
  ]
  for (const [name, bytes, messages, params] of vectors) {
    it(`inflates ${name}, split at every point`, () => {
      expectAtEverySplit(hex(bytes), messages.map(text), withDeflate(CLIENT, params))
    })
  }

  it('inflates an uncompressed message (RSV1 clear) between compressed ones', () => {
    expectAtEverySplit(hex('c1 07 f2 48 cd c9 c9 07 00 81 02 68 69 c1 05 f2 00 11 00 00'), [text('Hello'), text('hi'), text('Hello')], withDeflate(CLIENT))
  })

  it('inflates a masked compressed message from a client, split at every point', () => {
    const frame = encodeFrame(Opcode.Text, hex('f2 48 cd c9 c9 07 00'), { rsv: 0x40, maskKey: KEY })
    expectAtEverySplit(frame, [text('Hello')], withDeflate(SERVER))
  })

  it('inflates a compressed message in many fragments, with a control frame between them, at every split point', () => {
    const message = Buffer.from('{"type":"chat","text":"' + 'bonjour tout le monde '.repeat(20) + '"}')
    const compressed = codec('client').compress(message)
    const parts = [compressed.subarray(0, 5), compressed.subarray(5, 9), Buffer.alloc(0), compressed.subarray(9)]
    const frames = Buffer.concat([
      encodeFrame(Opcode.Text, parts[0], { fin: false, rsv: 0x40, maskKey: KEY }),
      encodeFrame(Opcode.Continuation, parts[1], { fin: false, maskKey: KEY }),
      encodeFrame(Opcode.Ping, Buffer.from('p'), { maskKey: KEY }),
      encodeFrame(Opcode.Continuation, parts[2], { fin: false, maskKey: KEY }),
      encodeFrame(Opcode.Continuation, parts[3], { maskKey: KEY }),
    ])
    expectAtEverySplit(frames, [{ type: 'ping', data: Buffer.from('p') }, text(message.toString())], withDeflate(SERVER))
  })

  it('ends a compressed message with an empty final fragment', () => {
    const compressed = codec('server').compress(Buffer.from('Hello Hello Hello'))
    const frames = Buffer.concat([encodeFrame(Opcode.Text, compressed, { fin: false, rsv: 0x40 }), encodeFrame(Opcode.Continuation, Buffer.alloc(0))])
    expectAtEverySplit(frames, [text('Hello Hello Hello')], withDeflate(CLIENT))
  })

  it('streams an inflated binary message in pieces when binary messages are streamed', () => {
    const data = Buffer.alloc(300_000, 7)
    const frame = encodeFrame(Opcode.Binary, codec('server').compress(data), { rsv: 0x40 })
    const events = parse(frame, { ...withDeflate(CLIENT), streamBinary: true })
    expect(events[0].type).to.equal('binaryStart')
    expect(events[events.length - 1].type).to.equal('binaryEnd')
    const chunks = events.flatMap((e) => (e.type === 'binaryChunk' ? [e.data] : []))
    expect(Buffer.concat(chunks).equals(data)).to.equal(true)
  })

  it('round-trips messages of many sizes through compress and inflate, with and without context takeover', () => {
    for (const params of [TAKEOVER, NO_TAKEOVER]) {
      const sender = codec('server', params)
      const { parser, recorder } = createParser(withDeflate(CLIENT, params))
      const sent: FrameEvent[] = []
      for (const size of [0, 1, 100, 125, 126, 1000, 65535, 65536, 200_000]) {
        const data = Buffer.alloc(size)
        for (let i = 0; i < size; i++) data[i] = (i % 251) ^ (i >> 9)
        parser.push(encodeFrame(Opcode.Binary, sender.compress(data), { rsv: 0x40 }))
        sent.push(binary(data))
      }
      expect(recorder.events.map((e) => (e.type === 'binary' ? e.data.toString('hex') : e.type))).to.deep.equal(
        sent.map((e) => (e as { data: Buffer }).data.toString('hex')),
      )
    }
  })

  it('compresses fragments of one streamed message that inflate to the whole', () => {
    const sender = codec('server', NO_TAKEOVER)
    const pieces = [Buffer.from('abc'.repeat(50)), Buffer.from('def'.repeat(50)), Buffer.from('ghi')]
    const frames = pieces.map((piece, i) =>
      encodeFrame(i === 0 ? Opcode.Text : Opcode.Continuation, sender.compressFragment(piece, i === pieces.length - 1), { fin: i === pieces.length - 1, rsv: i === 0 ? 0x40 : 0 }),
    )
    expect(parse(Buffer.concat(frames), withDeflate(CLIENT, NO_TAKEOVER))).to.deep.equal([text(Buffer.concat(pieces).toString())])
  })
})

describe('PerMessageDeflate without context takeover (process-wide zlib objects)', () => {
  it('inflates correctly again after a corrupt message and after one over the limit', () => {
    const connection = codec('server', NO_TAKEOVER)
    const other = codec('server', NO_TAKEOVER)
    const good = other.compress(Buffer.from('hello hello hello'))
    const corrupt = Buffer.from([0xff, 0xff, 0xff])
    const huge = other.compress(Buffer.alloc(100_000, 'a'))
    expect((connection.inflate(corrupt, 0, 3, true, true, 1000) as { closeCode: number }).closeCode).to.equal(CloseCode.InvalidPayload)
    expect(String(other.inflate(good, 0, good.length, true, true, 1000))).to.equal('hello hello hello')
    expect((connection.inflate(huge, 0, huge.length, true, true, 1000) as { closeCode: number }).closeCode).to.equal(CloseCode.MessageTooBig)
    expect(String(other.inflate(good, 0, good.length, true, true, 1000))).to.equal('hello hello hello')
  })

  it('keeps messages of two connections apart when both span several reads', () => {
    const a = codec('server', NO_TAKEOVER)
    const b = codec('server', NO_TAKEOVER)
    const sender = codec('client', NO_TAKEOVER)
    const one = Buffer.from(sender.compress(Buffer.from('first message, '.repeat(30))))
    const two = Buffer.from(sender.compress(Buffer.from('second message, '.repeat(30))))
    const outA = [a.inflate(one, 0, 10, true, false, 1e6) as Buffer]
    const outB = [b.inflate(two, 0, 10, true, false, 1e6) as Buffer]
    outA.push(a.inflate(one, 10, one.length, false, true, 1e6) as Buffer)
    outB.push(b.inflate(two, 10, two.length, false, true, 1e6) as Buffer)
    expect(Buffer.concat(outA).toString()).to.equal('first message, '.repeat(30))
    expect(Buffer.concat(outB).toString()).to.equal('second message, '.repeat(30))
  })
})

describe('permessage-deflate framing rules (RFC 7692 §6.1)', () => {
  it('closes with 1002 when RSV1 is set without the extension', () => {
    expectOneError(parse(hex('c1 07 f2 48 cd c9 c9 07 00'), CLIENT), CloseCode.ProtocolError)
  })

  it('closes with 1002 on RSV1 on a continuation frame', () => {
    const error = expectOneError(parse(hex('41 03 f2 48 cd c0 04 c9 c9 07 00'), withDeflate(CLIENT)), CloseCode.ProtocolError)
    expect(error.message).to.match(/continuation/)
  })

  it('closes with 1002 on a compressed control frame', () => {
    for (const opcode of ['c9', 'ca', 'c8']) {
      const error = expectOneError(parse(hex(`${opcode} 00`), withDeflate(CLIENT)), CloseCode.ProtocolError)
      expect(error.message).to.match(/control/)
    }
  })

  it('closes with 1002 on RSV2 or RSV3 even with the extension', () => {
    expectOneError(parse(hex('a1 00'), withDeflate(CLIENT)), CloseCode.ProtocolError)
    expectOneError(parse(hex('91 00'), withDeflate(CLIENT)), CloseCode.ProtocolError)
  })

  it('closes with 1007 on corrupt compressed data', () => {
    expectOneError(parse(hex('c1 03 ff ff ff'), withDeflate(CLIENT)), CloseCode.InvalidPayload)
  })

  it('closes with 1007 when the inflated text is not UTF-8, whole or in fragments', () => {
    const bad = codec('server', NO_TAKEOVER).compress(Buffer.from([0x48, 0xc3, 0x28, 0x48]))
    expectOneError(parse(encodeFrame(Opcode.Text, bad, { rsv: 0x40 }), withDeflate(CLIENT, NO_TAKEOVER)), CloseCode.InvalidPayload)
    const frames = Buffer.concat([
      encodeFrame(Opcode.Text, bad.subarray(0, 2), { fin: false, rsv: 0x40 }),
      encodeFrame(Opcode.Continuation, bad.subarray(2)),
    ])
    expectOneError(parse(frames, withDeflate(CLIENT, NO_TAKEOVER)), CloseCode.InvalidPayload)
  })

  it('counts the inflated size against maxMessageSize (1009), whole or fragmented', () => {
    const data = Buffer.alloc(10_000, 'a')
    const compressed = codec('server', NO_TAKEOVER).compress(data)
    expect(compressed.length).to.be.below(100)
    const limited = { ...withDeflate(CLIENT, NO_TAKEOVER), maxMessageSize: 9_999 }
    expectOneError(parse(encodeFrame(Opcode.Text, compressed, { rsv: 0x40 }), limited), CloseCode.MessageTooBig)
    const frames = Buffer.concat([
      encodeFrame(Opcode.Text, compressed.subarray(0, 10), { fin: false, rsv: 0x40 }),
      encodeFrame(Opcode.Continuation, compressed.subarray(10)),
    ])
    expectOneError(parse(frames, limited), CloseCode.MessageTooBig)
    expect(parse(encodeFrame(Opcode.Text, compressed, { rsv: 0x40 }), { ...limited, maxMessageSize: 10_000 })).to.deep.equal([text(data.toString())])
  })
})
