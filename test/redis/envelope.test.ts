import { expect } from 'chai'
import { ENVELOPE_VERSION, decodeEnvelope, encodeEnvelope } from '../../src/redis/envelope'

// Version 1, text, origin "ab", sequence 1, payload "hi".
const TEXT_VECTOR = '01' + '00' + '02' + '6162' + '0000000000000001' + '6869'
// Version 1, binary + position, origin "a", sequence 2^32 + 5, position "p7", payload 00 ff.
const BINARY_POSITION_VECTOR = '01' + '03' + '01' + '61' + '0000000100000005' + '02' + '7037' + '00ff'

describe('envelope', () => {
  it('encodes a text message as the named vector', () => {
    expect(encodeEnvelope(Buffer.from('ab'), 1, false, Buffer.from('hi')).toString('hex')).to.equal(TEXT_VECTOR)
    expect(ENVELOPE_VERSION).to.equal(1)
  })

  it('encodes a binary message with a history position as the named vector', () => {
    const bytes = encodeEnvelope(Buffer.from('a'), 2 ** 32 + 5, true, Uint8Array.from([0, 255]), Buffer.from('p7'))
    expect(bytes.toString('hex')).to.equal(BINARY_POSITION_VECTOR)
  })

  it('decodes both vectors back', () => {
    const text = decodeEnvelope(Buffer.from(TEXT_VECTOR, 'hex'))
    expect(text).to.deep.include({ origin: 'ab', sequence: 1, binary: false, position: undefined })
    expect(typeof text !== 'string' && text.payload.toString()).to.equal('hi')
    const binary = decodeEnvelope(Buffer.from(BINARY_POSITION_VECTOR, 'hex'))
    expect(binary).to.deep.include({ origin: 'a', sequence: 2 ** 32 + 5, binary: true, position: 'p7' })
    expect(typeof binary !== 'string' && binary.payload.toString('hex')).to.equal('00ff')
  })

  it('round-trips the largest exact sequence number and an empty payload', () => {
    const decoded = decodeEnvelope(encodeEnvelope(Buffer.from('origin'), Number.MAX_SAFE_INTEGER, true, new Uint8Array(0)))
    expect(decoded).to.deep.include({ origin: 'origin', sequence: Number.MAX_SAFE_INTEGER, binary: true })
    expect(typeof decoded !== 'string' && decoded.payload.length).to.equal(0)
  })

  it('rejects every truncation of the header with a reason, never a throw', () => {
    const full = Buffer.from(BINARY_POSITION_VECTOR, 'hex')
    // The header is everything before the 2-byte payload; any shorter prefix is malformed.
    for (let length = 0; length < full.length - 2; length++) {
      const result = decodeEnvelope(full.subarray(0, length))
      expect(result, `prefix of ${length} bytes`).to.be.a('string')
    }
  })

  it('rejects unknown versions, unknown flags, an empty origin and sequences past 2^53', () => {
    const bytes = Buffer.from(TEXT_VECTOR, 'hex')
    const variant = (at: number, value: number): Buffer => {
      const copy = Buffer.from(bytes)
      copy[at] = value
      return copy
    }
    expect(decodeEnvelope(variant(0, 2))).to.match(/unknown envelope version 2/)
    expect(decodeEnvelope(variant(1, 0x04))).to.match(/unknown envelope flags/)
    expect(decodeEnvelope(variant(2, 0))).to.match(/without origin/)
    expect(decodeEnvelope(variant(5, 0x20))).to.match(/sequence out of range/)
  })
})
