import { expect } from 'chai'
import { StringTable } from '../../src/transport/string-table'

describe('StringTable', () => {
  it('returns a string equal to the one it is given, and keeps one entry per distinct value', () => {
    const table = new StringTable(8, 64)
    const first = table.share(['web', 'socket'].join(''))
    const second = table.share(['webs', 'ocket'].join(''))
    expect(first).to.equal('websocket')
    expect(second).to.equal('websocket')
    expect(table.size).to.equal(1)
  })

  it('keeps no value longer than maxLength', () => {
    const table = new StringTable(8, 4)
    expect(table.share('abcde')).to.equal('abcde')
    expect(table.size).to.equal(0)
    table.share('abcd')
    expect(table.size).to.equal(1)
  })

  it('holds at most maxEntries values, starting over when full', () => {
    const table = new StringTable(3, 64)
    for (let i = 0; i < 10; i++) {
      expect(table.share(`host-${i}`)).to.equal(`host-${i}`)
      expect(table.size).to.be.at.most(3)
    }
  })
})
