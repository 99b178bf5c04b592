import { expect } from 'chai'
import { GatewayConnections } from '../../src/framework/gateway-connections'
import { FakeConnection } from './fake-connection'

describe('GatewayConnections', () => {
  class ChatGateway {}
  function connections(count: number) {
    const open = new Map<FakeConnection, unknown>()
    const conns = Array.from({ length: count }, (_, i) => {
      const conn = new FakeConnection()
      conn.data.n = i
      open.set(conn, undefined)
      return conn
    })
    return { open, conns, view: new GatewayConnections<{ n: number }>(ChatGateway, open as never) }
  }

  it('iterates and counts the live connections', () => {
    const { open, conns, view } = connections(3)
    expect(view.size).to.equal(3)
    open.delete(conns[1])
    expect([...view]).to.deep.equal([conns[0], conns[2]])
    expect(view.filter((c) => c.data.n > 0)).to.deep.equal([conns[2]])
  })

  it('broadcasts text, binary and JSON to those that pass the filter, skipping closing ones', () => {
    const { conns, view } = connections(3)
    conns[2].readyState = 2
    expect(view.broadcast('hi')).to.equal(2)
    expect(view.broadcast(Buffer.from([1]), (c) => c.data.n === 0)).to.equal(1)
    expect(view.broadcast({ a: 1 })).to.equal(2)
    expect(view.broadcastEvent('tick', 5, (c) => c.data.n === 1)).to.equal(1)
    expect(conns[0].sent).to.deep.equal(['hi', Buffer.from([1]), '{"a":1}'])
    expect(conns[1].sent).to.deep.equal(['hi', '{"a":1}', '{"event":"tick","data":5}'])
    expect(conns[2].sent).to.deep.equal([])
  })

  it('closes all (or the filtered) connections', () => {
    const { conns, view } = connections(2)
    view.closeAll(4000, 'bye', (c) => c.data.n === 1)
    expect(conns[0].closedWith).to.equal(undefined)
    expect(conns[1].closedWith).to.deep.equal({ code: 4000, reason: 'bye' })
  })
})
