import { expect } from 'chai'
import { RoomService } from '../../example-app/room-service'

describe('example-app RoomService', () => {
  const config = { rooms: ['lobby', 'help'], historySize: 3 }
  let rooms: RoomService
  beforeEach(() => {
    rooms = new RoomService(config)
  })

  it('lists the configured rooms first, empty, in their order', () => {
    expect(rooms.list()).to.deep.equal([
      { name: 'lobby', members: 0 },
      { name: 'help', members: 0 },
    ])
  })

  it('counts members by nickname, sorted, once however many tabs they use', () => {
    rooms.enter('lobby', 'grace')
    rooms.enter('lobby', 'ada')
    rooms.enter('lobby', 'ada')
    expect(rooms.members('lobby')).to.deep.equal(['ada', 'grace'])
    rooms.leave('lobby', 'ada')
    expect(rooms.members('lobby')).to.deep.equal(['ada', 'grace'])
    rooms.leave('lobby', 'ada')
    expect(rooms.members('lobby')).to.deep.equal(['grace'])
  })

  it('creates other rooms on entry, lists them after the configured ones, and forgets them when empty', () => {
    rooms.enter('zeta', 'ada')
    rooms.enter('alpha', 'ada')
    expect(rooms.list().map((r) => r.name)).to.deep.equal(['lobby', 'help', 'alpha', 'zeta'])
    rooms.record('zeta', 'ada', 'hi', 'chat.v2')
    rooms.leave('zeta', 'ada')
    expect(rooms.list().map((r) => r.name)).to.deep.equal(['lobby', 'help', 'alpha'])
    expect(rooms.history('zeta')).to.deep.equal([])
  })

  it('keeps the configured rooms and their history when everyone leaves', () => {
    rooms.enter('lobby', 'ada')
    rooms.record('lobby', 'ada', 'hi', 'chat.v2')
    rooms.leave('lobby', 'ada')
    expect(rooms.history('lobby').map((m) => m.text)).to.deep.equal(['hi'])
  })

  it('keeps the last historySize messages of each room, oldest first', () => {
    rooms.enter('lobby', 'ada')
    for (const text of ['1', '2', '3', '4', '5']) rooms.record('lobby', 'ada', text, 'chat.v2')
    expect(rooms.history('lobby').map((m) => m.text)).to.deep.equal(['3', '4', '5'])
    expect(rooms.history('lobby', 2).map((m) => m.text)).to.deep.equal(['4', '5'])
    expect(rooms.history('lobby', 0)).to.deep.equal([])
    expect(rooms.history('help')).to.deep.equal([])
  })

  it('stamps each message with a unique id, the time and the protocol it came by', () => {
    rooms.enter('lobby', 'ada')
    const first = rooms.record('lobby', 'ada', 'one', 'chat.v1')
    const second = rooms.record('lobby', 'ada', 'two', 'chat.v2')
    expect(second.id).to.be.greaterThan(first.id)
    expect(first).to.include({ room: 'lobby', nick: 'ada', text: 'one', via: 'chat.v1' })
    expect(first.at).to.be.closeTo(Date.now(), 1000)
  })
})
