import { expect } from 'chai'
import { InProcessBroker, InProcessHub } from '../../src/broker/in-process-broker'
import { describeBrokerConformance } from './broker-conformance'

describeBrokerConformance('InProcessHub', {
  async create(count) {
    const hub = new InProcessHub()
    return Array.from({ length: count }, () => hub.broker())
  },
})

describe('InProcessBroker', () => {
  it('carries nothing to other brokers when it has a hub of its own', async () => {
    const alone = new InProcessBroker()
    const other = new InProcessBroker()
    const received: string[] = []
    await alone.start({ message: (m) => received.push(m.payload.toString()) })
    await other.start({ message: (m) => received.push(m.payload.toString()) })
    alone.subscribe('t')
    other.subscribe('t')
    other.publish('t', Buffer.from('x'), false)
    alone.publish('t', Buffer.from('y'), false)
    expect(received).to.deep.equal([])
    expect(alone.stats().published).to.equal(1)
    await Promise.all([alone.close(), other.close()])
  })

  it('uses the instance id it is given', () => {
    expect(new InProcessHub().broker({ instanceId: 'node-1' }).instanceId).to.equal('node-1')
  })

  it('drops a hub topic, with its sequence numbers, when its last subscriber leaves', async () => {
    const hub = new InProcessHub()
    const [a, b] = [hub.broker(), hub.broker()]
    await a.start({ message() {} })
    await b.start({ message() {} })
    b.subscribe('t')
    a.publish('t', Buffer.from('x'), false)
    b.unsubscribe('t')
    expect((hub as unknown as { topics: Map<string, unknown> }).topics.size).to.equal(0)
    await Promise.all([a.close(), b.close()])
  })
})
