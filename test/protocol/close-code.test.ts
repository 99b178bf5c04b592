import { expect } from 'chai'
import { CloseCode, Opcode } from '../../src/protocol/constants'
import { encodeClosePayload, isValidCloseCode } from '../../src/protocol/close-code'
import { encodeFrame } from '../../src/protocol/frame-builder'
import { CLIENT, SERVER, expectOneError, hex, parse } from './frame-recorder'

describe('isValidCloseCode', () => {
  it('accepts 1000–1003, 1007–1014 and 3000–4999', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3500, 3999, 4000, 4999]) {
      expect(isValidCloseCode(code), `${code}`).to.equal(true)
    }
  })

  it('rejects codes never allowed on the wire: 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000', () => {
    for (const code of [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1999, 2000, 2999, 5000, 65535, -1, 1000.5, NaN]) {
      expect(isValidCloseCode(code), `${code}`).to.equal(false)
    }
  })

  it('agrees with the ranges over every 16-bit code', () => {
    let valid = 0
    for (let code = 0; code <= 0xffff; code++) if (isValidCloseCode(code)) valid++
    expect(valid).to.equal(4 + 8 + 2000)
  })
})

describe('encodeClosePayload', () => {
  it('encodes a code and a UTF-8 reason', () => {
    expect(encodeClosePayload(1000, 'bye')).to.deep.equal(hex('03 e8 62 79 65'))
    expect(encodeClosePayload(4000, 'é')).to.deep.equal(hex('0f a0 c3 a9'))
    expect(encodeClosePayload(1001)).to.deep.equal(hex('03 e9'))
  })

  it('encodes no code (1005) as an empty payload', () => {
    expect(encodeClosePayload(undefined)).to.have.length(0)
    expect(encodeClosePayload(CloseCode.NoStatus)).to.have.length(0)
  })

  it('refuses a reason without a code', () => {
    expect(() => encodeClosePayload(undefined, 'why')).to.throw(RangeError)
    expect(() => encodeClosePayload(CloseCode.NoStatus, 'why')).to.throw(RangeError)
  })

  it('refuses codes that must not be sent (1004, 1005 with a reason, 1006, 1015, out of range, fractions)', () => {
    for (const code of [0, 999, 1004, 1006, 1015, 1016, 2999, 5000, 1000.5]) {
      expect(() => encodeClosePayload(code), `${code}`).to.throw(RangeError)
    }
  })

  it('accepts a 123-byte reason and refuses a 124-byte one, counting UTF-8 bytes', () => {
    expect(encodeClosePayload(1000, 'x'.repeat(123))).to.have.length(125)
    expect(() => encodeClosePayload(1000, 'x'.repeat(124))).to.throw(RangeError)
    // 62 × 'é' is 124 bytes although only 62 characters.
    expect(() => encodeClosePayload(1000, 'é'.repeat(62))).to.throw(RangeError)
  })

  it('round-trips through the parser for every valid code', () => {
    for (const code of [1000, 1003, 1007, 1014, 3000, 4999]) {
      const frame = encodeFrame(Opcode.Close, encodeClosePayload(code, 'reason ✓'))
      expect(parse(frame, CLIENT)).to.deep.equal([{ type: 'close', code, reason: 'reason ✓' }])
    }
  })
})

describe('close codes on receipt (FrameParser)', () => {
  const closeFrame = (payload: Buffer): Buffer => encodeFrame(Opcode.Close, payload, { maskKey: hex('01 02 03 04') })
  const codeBytes = (code: number): Buffer => {
    const payload = Buffer.alloc(2)
    payload.writeUInt16BE(code)
    return payload
  }

  it('reports every valid code with its reason', () => {
    for (let code = 0; code <= 0xffff; code += code < 5100 ? 1 : 97) {
      if (!isValidCloseCode(code)) continue
      const events = parse(closeFrame(Buffer.concat([codeBytes(code), Buffer.from('ok')])), SERVER)
      expect(events, `${code}`).to.deep.equal([{ type: 'close', code, reason: 'ok' }])
    }
  })

  it('closes with 1002 on every invalid code', () => {
    for (let code = 0; code <= 0xffff; code += code < 5100 ? 1 : 97) {
      if (isValidCloseCode(code)) continue
      expectOneError(parse(closeFrame(codeBytes(code)), SERVER), CloseCode.ProtocolError)
    }
  })

  it('closes with 1002 on a 1-byte close payload', () => {
    expectOneError(parse(closeFrame(hex('03')), SERVER), CloseCode.ProtocolError)
  })

  it('closes with 1002 on a reason that is not valid UTF-8', () => {
    expectOneError(parse(closeFrame(hex('03 e8 c0 80')), SERVER), CloseCode.ProtocolError)
    expectOneError(parse(closeFrame(hex('03 e8 f0 9f 98')), SERVER), CloseCode.ProtocolError)
  })

  it('reports an empty close payload as 1005 (NoStatus)', () => {
    expect(parse(closeFrame(Buffer.alloc(0)), SERVER)).to.deep.equal([{ type: 'close', code: 1005, reason: '' }])
  })
})
