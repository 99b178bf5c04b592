import { expect } from 'chai'
import { legacyLine } from '../../example-app/legacy-line'

describe('example-app legacyLine (chat.v2 events as chat.v1 lines)', () => {
  const at = Date.UTC(2025, 0, 2, 14, 3)

  it('renders a message with its UTC time', () => {
    const line = legacyLine({ event: 'message', data: { id: 1, room: 'lobby', nick: 'ada', text: 'hello', at, via: 'chat.v2' } })
    expect(line).to.equal('[14:03] ada: hello')
  })

  it('renders presence changes', () => {
    expect(legacyLine({ event: 'presence', data: { room: 'lobby', members: ['ada'], joined: 'ada' } })).to.equal('* ada joined #lobby')
    expect(legacyLine({ event: 'presence', data: { room: 'lobby', members: [], left: 'ada' } })).to.equal('* ada left #lobby')
  })

  it('renders a shared file with a readable size', () => {
    const file = { id: 2, room: 'lobby', nick: 'ada', name: 'cat.jpg', type: 'image/jpeg', size: 1536 * 1024, at }
    expect(legacyLine({ event: 'file', data: file })).to.equal('* ada shared cat.jpg (1.5 MiB, for chat.v2 clients)')
  })

  it('has no line for typing and room lists', () => {
    expect(legacyLine({ event: 'typing', data: { room: 'lobby', nick: 'ada', typing: true } })).to.equal(undefined)
    expect(legacyLine({ event: 'rooms', data: [] })).to.equal(undefined)
  })
})
