import { expect } from 'chai'
import { WsException } from '../../src/framework/ws-exception'

describe('WsException', () => {
  it('carries a close code and reason', () => {
    const err = new WsException(4001, 'banned')
    expect(err).to.be.instanceOf(Error)
    expect(err).to.include({ closeCode: 4001, reason: 'banned', name: 'WsException', message: 'banned' })
  })

  it('without a code, is a reply: a reason and optional error details', () => {
    const err = new WsException('room is full', [{ property: 'room' }])
    expect(err.closeCode).to.equal(undefined)
    expect(err.reason).to.equal('room is full')
    expect(err.errors).to.deep.equal([{ property: 'room' }])
    expect(new WsException().errors).to.deep.equal([])
  })

  it('refuses close codes that may not be sent, and reasons longer than 123 bytes', () => {
    for (const code of [999, 1004, 1005, 1006, 1015, 2000, 5000, 4000.5]) {
      expect(() => new WsException(code), String(code)).to.throw(RangeError)
    }
    expect(() => new WsException(4000, 'é'.repeat(62))).to.throw(RangeError, /123 bytes/)
    expect(new WsException(4000, 'é'.repeat(61)).reason).to.have.length(61)
  })
})
