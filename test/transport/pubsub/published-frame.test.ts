import { expect } from 'chai'
import { publishedFrame, publishedPayload } from '../../../src/transport/pubsub/published-frame'

describe('transport/pubsub: publishedFrame', () => {
  const cases: Array<[string, number, string]> = [
    ['empty text', 0, '8100'],
    ['125 bytes: 7-bit length', 125, '817d'],
    ['126 bytes: 16-bit length', 126, '817e007e'],
    ['65535 bytes: 16-bit length', 65535, '817effff'],
    ['65536 bytes: 64-bit length', 65536, '817f0000000000010000'],
  ]
  for (const [name, length, header] of cases) {
    it(`writes an unmasked FIN text header for ${name}`, () => {
      const frame = publishedFrame(0x1, 'a'.repeat(length))
      expect(frame.subarray(0, header.length / 2).toString('hex')).to.equal(header)
      expect(frame.length).to.equal(header.length / 2 + length)
      expect(publishedPayload(frame).toString()).to.equal('a'.repeat(length))
    })
  }

  it('encodes multi-byte UTF-8 once, with its byte length in the header', () => {
    const frame = publishedFrame(0x1, 'é🌍')
    expect(frame.toString('hex')).to.equal('8106c3a9f09f8c8d')
    expect(publishedPayload(frame).toString('utf8')).to.equal('é🌍')
  })

  it('copies a binary payload, so later changes by the caller do not reach subscribers', () => {
    const data = Uint8Array.from([1, 2, 3])
    const frame = publishedFrame(0x2, data)
    data[0] = 9
    expect(frame.toString('hex')).to.equal('8203010203')
    expect(publishedPayload(frame)).to.deep.equal(Buffer.from([1, 2, 3]))
  })
})
