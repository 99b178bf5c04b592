import { expect } from 'chai'
import { chooseProtocol } from '../../src/framework/choose-protocol'

describe('chooseProtocol', () => {
  it("picks the client's most preferred supported protocol by default", () => {
    expect(chooseProtocol(['chat.v1', 'chat.v2'], ['chat.v2', 'chat.v1'])).to.equal('chat.v1')
  })

  it("picks the server's most preferred offered protocol in 'server' order", () => {
    expect(chooseProtocol(['chat.v1', 'chat.v2'], ['chat.v2', 'chat.v1'], 'server')).to.equal('chat.v2')
  })

  it('returns undefined when nothing is in common or nothing was offered', () => {
    expect(chooseProtocol(['mqtt'], ['chat.v1'])).to.equal(undefined)
    expect(chooseProtocol([], ['chat.v1'], 'server')).to.equal(undefined)
    expect(chooseProtocol(['chat.v1'], [])).to.equal(undefined)
  })

  it('never returns a protocol the client did not offer', () => {
    for (const order of ['client', 'server'] as const) {
      const chosen = chooseProtocol(['b'], ['a', 'b', 'c'], order)
      expect(chosen).to.equal('b')
    }
  })
})
