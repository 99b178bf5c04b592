import { expect } from 'chai'
import { Opcode } from '../../src/protocol/constants'
import {
  MAX_HEADER_SIZE,
  encodeFrame,
  encodeFrameHeader,
  frameHeaderSize,
  writeFrameHeader,
} from '../../src/protocol/frame-builder'
import { CLIENT, SERVER, expectAtEverySplit, expectSameEvents, hex, parse, splitAt, type FrameEvent } from './frame-recorder'

const KEY = hex('37 fa 21 3d')

function pattern(length: number): Buffer {
  const data = Buffer.allocUnsafe(length)
  for (let i = 0; i < length; i++) data[i] = (i * 7 + 3) & 0xff
  return data
}

describe('frame builder', () => {
  describe('encodeFrame', () => {
    it('builds RFC 6455 §5.7\'s single-frame unmasked text message', () => {
      expect(encodeFrame(Opcode.Text, Buffer.from('Hello'))).to.deep.equal(hex('81 05 48 65 6c 6c 6f'))
    })

    it('builds RFC 6455 §5.7\'s single-frame masked text message', () => {
      expect(encodeFrame(Opcode.Text, Buffer.from('Hello'), { maskKey: KEY })).to.deep.equal(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'))
    })

    it('builds RFC 6455 §5.7\'s fragmented unmasked text message', () => {
      const first = encodeFrame(Opcode.Text, Buffer.from('Hel'), { fin: false })
      const last = encodeFrame(Opcode.Continuation, Buffer.from('lo'))
      expect(Buffer.concat([first, last])).to.deep.equal(hex('01 03 48 65 6c 80 02 6c 6f'))
    })

    it('builds RFC 6455 §5.7\'s unmasked ping and masked pong', () => {
      expect(encodeFrame(Opcode.Ping, Buffer.from('Hello'))).to.deep.equal(hex('89 05 48 65 6c 6c 6f'))
      expect(encodeFrame(Opcode.Pong, Buffer.from('Hello'), { maskKey: KEY })).to.deep.equal(hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58'))
    })

    it('builds RFC 6455 §5.7\'s 256-byte and 64 KiB binary headers (16- and 64-bit lengths)', () => {
      expect(encodeFrame(Opcode.Binary, Buffer.alloc(256)).subarray(0, 4)).to.deep.equal(hex('82 7e 01 00'))
      const big = encodeFrame(Opcode.Binary, pattern(65536))
      expect(big.subarray(0, 10)).to.deep.equal(hex('82 7f 00 00 00 00 00 01 00 00'))
      expect(big.subarray(10)).to.deep.equal(pattern(65536))
    })

    it('leaves the caller\'s payload unmodified when masking', () => {
      const payload = pattern(300)
      encodeFrame(Opcode.Binary, payload, { maskKey: KEY })
      expect(payload).to.deep.equal(pattern(300))
    })

    it('sets the RSV bits it is given', () => {
      expect(encodeFrame(Opcode.Text, Buffer.alloc(0), { rsv: 0x40 })[0]).to.equal(0xc1)
      expect(encodeFrame(Opcode.Binary, Buffer.alloc(0), { rsv: 0x70, fin: false })[0]).to.equal(0x72)
    })
  })

  describe('frame headers', () => {
    const cases: Array<[string, number, string]> = [
      ['0 bytes (7-bit length)', 0, '82 00'],
      ['125 bytes (largest 7-bit length)', 125, '82 7d'],
      ['126 bytes (smallest 16-bit length)', 126, '82 7e 00 7e'],
      ['65535 bytes (largest 16-bit length)', 65535, '82 7e ff ff'],
      ['65536 bytes (smallest 64-bit length)', 65536, '82 7f 00 00 00 00 00 01 00 00'],
      ['2^32 + 5 bytes (a 64-bit length over 32 bits)', 2 ** 32 + 5, '82 7f 00 00 00 01 00 00 00 05'],
      ['2^53 - 1 bytes', Number.MAX_SAFE_INTEGER, '82 7f 00 1f ff ff ff ff ff ff'],
    ]
    for (const [name, length, expected] of cases) {
      it(`encodes the length of ${name}`, () => {
        const header = encodeFrameHeader({ opcode: Opcode.Binary, fin: true, payloadLength: length, maskKey: null })
        expect(header.toString('hex')).to.equal(expected.replace(/ /g, ''))
        expect(header.length).to.equal(frameHeaderSize(length, false))
        const masked = encodeFrameHeader({ opcode: Opcode.Binary, fin: true, payloadLength: length, maskKey: KEY })
        expect(masked.length).to.equal(frameHeaderSize(length, true))
        expect(masked[1] & 0x80).to.equal(0x80)
        expect(masked.subarray(masked.length - 4)).to.deep.equal(KEY)
      })
    }

    it('writes into a target at an offset and returns the offset after the header', () => {
      const target = Buffer.alloc(20, 0xee)
      const end = writeFrameHeader(target, 3, Opcode.Text, false, 300, KEY)
      expect(end).to.equal(3 + 8)
      expect(target.subarray(0, 12).toString('hex')).to.equal('eeeeee' + '01fe012c37fa213d' + 'ee')
    })

    it('matches the first bytes of encodeFrame', () => {
      for (const length of [0, 1, 125, 126, 65535, 65536]) {
        for (const maskKey of [null, KEY]) {
          const frame = encodeFrame(Opcode.Binary, pattern(length), { maskKey, fin: false, rsv: 0x10 })
          const header = encodeFrameHeader({ opcode: Opcode.Binary, fin: false, payloadLength: length, maskKey, rsv: 0x10 })
          expect(frame.subarray(0, header.length)).to.deep.equal(header)
          expect(frame.length).to.equal(header.length + length)
        }
      }
    })

    it('never needs more than MAX_HEADER_SIZE bytes', () => {
      expect(MAX_HEADER_SIZE).to.equal(14)
      expect(frameHeaderSize(2 ** 40, true)).to.equal(MAX_HEADER_SIZE)
      expect(frameHeaderSize(0, false)).to.equal(2)
      expect(frameHeaderSize(126, true)).to.equal(8)
    })
  })

  describe('builder ↔ parser round trips', () => {
    const binary = (data: Buffer): FrameEvent => ({ type: 'binary', data })
    const lengths = [0, 1, 125, 126, 127, 65535, 65536]

    for (const length of lengths) {
      it(`round-trips a ${length}-byte binary message, masked and unmasked`, () => {
        const payload = pattern(length)
        const masked = encodeFrame(Opcode.Binary, payload, { maskKey: KEY })
        const unmasked = encodeFrame(Opcode.Binary, payload)
        if (length <= 1000) {
          expectAtEverySplit(masked, [binary(payload)], SERVER)
          expectAtEverySplit(unmasked, [binary(payload)], CLIENT)
        } else {
          for (const at of [1, 2, 3, 4, 5, 9, 10, 11, 13, 14, 15, 1000, masked.length - 1]) {
            expectSameEvents(parse(splitAt(masked, at), SERVER), [binary(payload)], `masked split at ${at}`)
            expectSameEvents(parse(splitAt(unmasked, at), CLIENT), [binary(payload)], `unmasked split at ${at}`)
          }
        }
      })
    }

    it('round-trips text messages of every length class, masked and unmasked', () => {
      for (const length of lengths) {
        const value = 'é'.repeat(length >> 1) + (length & 1 ? 'x' : '')
        expect(Buffer.byteLength(value)).to.equal(length)
        const events = [{ type: 'text', text: value } as FrameEvent]
        expectSameEvents(parse(encodeFrame(Opcode.Text, Buffer.from(value), { maskKey: KEY }), SERVER), events)
        expectSameEvents(parse(encodeFrame(Opcode.Text, Buffer.from(value)), CLIENT), events)
      }
    })

    it('round-trips a fragmented text message with a multi-byte character split across fragments', () => {
      const value = 'a😀b€c'
      const bytes = Buffer.from(value)
      // Cut inside 😀 (bytes 1–4) and inside € (bytes 6–8).
      const cuts = [0, 2, 3, 7, bytes.length]
      for (const maskKey of [KEY, null]) {
        const frames: Buffer[] = []
        for (let i = 0; i + 1 < cuts.length; i++) {
          frames.push(
            encodeFrame(i === 0 ? Opcode.Text : Opcode.Continuation, bytes.subarray(cuts[i], cuts[i + 1]), {
              fin: i + 2 === cuts.length,
              maskKey,
            }),
          )
        }
        expectAtEverySplit(Buffer.concat(frames), [{ type: 'text', text: value }], maskKey ? SERVER : CLIENT)
      }
    })

    it('round-trips a fragmented binary message with a 64-bit-length fragment', () => {
      const payload = pattern(70000)
      const stream = Buffer.concat([
        encodeFrame(Opcode.Binary, payload.subarray(0, 100), { fin: false, maskKey: KEY }),
        encodeFrame(Opcode.Continuation, payload.subarray(100, 69000), { fin: false, maskKey: KEY }),
        encodeFrame(Opcode.Continuation, payload.subarray(69000), { maskKey: KEY }),
      ])
      for (const at of [50, 106, 107, 110, 120, 5000, 69100, stream.length - 3]) {
        expectSameEvents(parse(splitAt(stream, at), SERVER), [binary(payload)], `split at ${at}`)
      }
    })

    it('round-trips a header written with writeFrameHeader followed by the payload', () => {
      const payload = pattern(200)
      const header = Buffer.alloc(MAX_HEADER_SIZE)
      const end = writeFrameHeader(header, 0, Opcode.Binary, true, payload.length, null)
      expectAtEverySplit(Buffer.concat([header.subarray(0, end), payload]), [binary(payload)], CLIENT)
    })
  })
})
