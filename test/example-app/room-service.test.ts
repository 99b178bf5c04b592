import { expect } from 'chai'
import { RoomService, type DirectoryMember } from '../../example-app/room-service'

describe('example-app RoomService', () => {
  const config = { rooms: ['lobby', 'help'], historySize: 3 }
  let rooms: RoomService
  beforeEach(() => {
    rooms = new RoomService(config)
  })

  /** Directory entries as presence lists them, on instances `node` (default this one). */
  const present = (...members: Array<[room: string, nick: string, node?: string]>): DirectoryMember[] =>
    members.map(([room, nick, node], i) => ({ id: String(i + 1), instance: node ?? 'here', data: { room, nick, node: node ?? rooms.node } }))

  it('lists the configured rooms first, empty, in their order', () => {
    expect(rooms.list([])).to.deep.equal([
      { name: 'lobby', members: 0 },
      { name: 'help', members: 0 },
    ])
  })

  it('counts members by nickname, sorted, once however many tabs or instances they use', () => {
    const directory = present(['lobby', 'grace'], ['lobby', 'ada'], ['lobby', 'ada', 'other-instance'], ['help', 'alan'])
    expect(rooms.members('lobby', directory)).to.deep.equal(['ada', 'grace'])
    expect(rooms.list(directory)).to.deep.include({ name: 'lobby', members: 2 })
    expect(rooms.members('lobby', directory.slice(2))).to.deep.equal(['ada'])
  })

  it('lists other rooms while someone is in them, after the configured ones, sorted', () => {
    const directory = present(['zeta', 'ada'], ['alpha', 'grace', 'other-instance'], ['alpha', 'alan'])
    expect(rooms.list(directory)).to.deep.equal([
      { name: 'lobby', members: 0 },
      { name: 'help', members: 0 },
      { name: 'alpha', members: 2 },
      { name: 'zeta', members: 1 },
    ])
    expect(rooms.list(directory.slice(1)).map((r) => r.name)).to.deep.equal(['lobby', 'help', 'alpha'])
  })

  it('ignores directory entries without room data (members another app put there)', () => {
    const stray: DirectoryMember = { id: '9', instance: 'x', data: null as never }
    expect(rooms.list([stray, ...present(['lobby', 'ada'])])).to.deep.include({ name: 'lobby', members: 1 })
    expect(rooms.members('lobby', [stray])).to.deep.equal([])
  })

  it("tells this instance's directory entries from another instance's with the same connection id", () => {
    const [mine] = present(['lobby', 'ada'])
    const [theirs] = present(['lobby', 'ada', 'other-instance'])
    expect(rooms.isOwn(mine, '1')).to.equal(true)
    expect(rooms.isOwn(theirs, '1')).to.equal(false)
    expect(rooms.isOwn(mine, '2')).to.equal(false)
    expect(new RoomService(config).node).to.not.equal(rooms.node)
  })

  it('forgets the history of a room that is not configured once this instance has nobody in it', () => {
    rooms.record('zeta', 'ada', 'hi', 'chat.v2')
    expect(rooms.history('zeta').map((m) => m.text)).to.deep.equal(['hi'])
    rooms.emptied('zeta')
    expect(rooms.history('zeta')).to.deep.equal([])
  })

  it('keeps the configured rooms and their history when everyone leaves', () => {
    rooms.record('lobby', 'ada', 'hi', 'chat.v2')
    rooms.emptied('lobby')
    expect(rooms.history('lobby').map((m) => m.text)).to.deep.equal(['hi'])
  })

  it('keeps the last historySize messages of each room, oldest first', () => {
    for (const text of ['1', '2', '3', '4', '5']) rooms.record('lobby', 'ada', text, 'chat.v2')
    expect(rooms.history('lobby').map((m) => m.text)).to.deep.equal(['3', '4', '5'])
    expect(rooms.history('lobby', 2).map((m) => m.text)).to.deep.equal(['4', '5'])
    expect(rooms.history('lobby', 0)).to.deep.equal([])
    expect(rooms.history('help')).to.deep.equal([])
  })

  it('stamps each message with an id unique across instances, the time and the protocol it came by', () => {
    const first = rooms.record('lobby', 'ada', 'one', 'chat.v1')
    const second = rooms.record('lobby', 'ada', 'two', 'chat.v2')
    expect(second.id).to.be.greaterThan(first.id)
    expect(Number.isSafeInteger(second.id)).to.equal(true)
    expect(first).to.include({ room: 'lobby', nick: 'ada', text: 'one', via: 'chat.v1' })
    expect(first.at).to.be.closeTo(Date.now(), 1000)
    // Another instance counts from its own base, 2^32 ids away at least.
    const elsewhere = new RoomService(config).nextId()
    expect(Math.abs(elsewhere - first.id)).to.be.greaterThan(2 ** 31)
  })
})
