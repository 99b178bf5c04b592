import { expect } from 'chai'
import { AppModule, appOptions } from '../../example-app/app-module'
import { ChatLimits } from '../../example-app/chat-config'
import { createTestApp, type TestApp } from '../../src/testing'
import { joinAs, nextEvent, nextFile } from './chat-client'

describe('example-app ChatGateway (chat.v2)', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp(AppModule, appOptions)
  })
  afterEach(() => t.close())

  describe('join and presence', () => {
    it('answers join with the room, the nickname, who is here and the limits', async () => {
      const { client, joined } = await joinAs(t, 'ada')
      expect(client.protocol).to.equal('chat.v2')
      expect(joined.data).to.deep.equal({ room: 'lobby', nick: 'ada', members: ['ada'], history: [], limits: ChatLimits })
    })

    it('tells the members already there who joined, and everyone the new head counts', async () => {
      const { client: ada } = await joinAs(t, 'ada')
      const { joined } = await joinAs(t, 'grace')
      expect(joined.data.members).to.deep.equal(['ada', 'grace'])
      const presence = await nextEvent(ada, 'presence')
      expect(presence.data).to.deep.equal({ room: 'lobby', members: ['ada', 'grace'], joined: 'grace' })
      const rooms = await nextEvent(ada, 'rooms')
      expect(rooms.data).to.deep.include({ name: 'lobby', members: 2 })
    })

    it('tells the room who left when a member closes', async () => {
      const { client: ada } = await joinAs(t, 'ada')
      const { client: grace } = await joinAs(t, 'grace')
      await nextEvent(ada, 'presence')
      await grace.close()
      const left = await nextEvent(ada, 'presence')
      expect(left.data).to.deep.equal({ room: 'lobby', members: ['ada'], left: 'grace' })
    })

    it('lists a new room while someone is in it', async () => {
      const { client: ada } = await joinAs(t, 'ada')
      await joinAs(t, 'grace', 'design-review')
      const rooms = await nextEvent(ada, 'rooms')
      expect(rooms.data.map((r: { name: string }) => r.name)).to.deep.equal(['lobby', 'random', 'help', 'design-review'])
    })

    it('keeps rooms apart', async () => {
      const { client: ada } = await joinAs(t, 'ada', 'random')
      const { client: grace } = await joinAs(t, 'grace', 'help')
      grace.sendEvent('say', { text: 'anyone?' })
      await nextEvent(grace, 'message')
      ada.sendEvent('say', { text: 'only random' })
      expect((await nextEvent(ada, 'message')).data.text).to.equal('only random')
    })
  })

  describe('say', () => {
    it('broadcasts a message to every member of the room, the author included, trimmed', async () => {
      const { client: ada } = await joinAs(t, 'ada')
      const { client: grace } = await joinAs(t, 'grace')
      ada.sendEvent('say', { text: '  hello grace  ' })
      for (const client of [ada, grace]) {
        const message = await nextEvent(client, 'message')
        expect(message.data).to.include({ room: 'lobby', nick: 'ada', text: 'hello grace', via: 'chat.v2' })
        expect(message.data.id).to.be.a('number')
        expect(message.data.at).to.be.closeTo(Date.now(), 5000)
      }
    })

    it('gives newcomers the history, as many messages as they ask for', async () => {
      const { client: ada } = await joinAs(t, 'ada')
      for (const text of ['one', 'two', 'three']) ada.sendEvent('say', { text })
      for (let i = 0; i < 3; i++) await nextEvent(ada, 'message')
      const { joined: all } = await joinAs(t, 'grace')
      expect(all.data.history.map((m: { text: string }) => m.text)).to.deep.equal(['one', 'two', 'three'])
      const { joined: last } = await joinAs(t, 'alan', 'lobby', 1)
      expect(last.data.history.map((m: { text: string }) => m.text)).to.deep.equal(['three'])
    })

    it('refuses to relay for a connection that has not joined', async () => {
      const client = await t.connect('/chat/lobby?nick=ada', { protocols: ['chat.v2'] })
      client.sendEvent('say', { text: 'hi' })
      expect(await client.nextJson()).to.deep.equal({
        event: 'error',
        data: { event: 'say', message: 'join the room first: send a "join" event', errors: [] },
      })
    })
  })

  describe('validation', () => {
    it('answers an empty message with the failed constraint and keeps the connection open', async () => {
      const { client } = await joinAs(t, 'ada')
      client.sendEvent('say', { text: '   ' })
      expect(await nextEvent(client, 'error')).to.deep.equal({
        event: 'error',
        data: {
          event: 'say',
          message: 'validation failed',
          errors: [{ property: 'text', constraints: { isNotEmpty: 'say something: the message is empty' } }],
        },
      })
      client.sendEvent('say', { text: 'still here' })
      expect((await nextEvent(client, 'message')).data.text).to.equal('still here')
    })

    it('answers an over-long message with the length limit', async () => {
      const { client } = await joinAs(t, 'ada')
      client.sendEvent('say', { text: 'x'.repeat(ChatLimits.maxTextLength + 1) })
      const error = await nextEvent(client, 'error')
      expect(error.data.errors).to.deep.equal([{ property: 'text', constraints: { maxLength: 'a message is at most 500 characters' } }])
    })

    it('refuses properties an event does not define, and data of the wrong type', async () => {
      const { client } = await joinAs(t, 'ada')
      client.sendEvent('say', { text: 'hi', admin: true })
      expect((await nextEvent(client, 'error')).data.errors).to.deep.equal([
        { property: 'admin', constraints: { whitelistValidation: 'property admin should not exist' } },
      ])
      client.sendEvent('typing', { typing: 'yes' })
      expect((await nextEvent(client, 'error')).data.errors[0].constraints).to.have.property('isBoolean')
      client.sendEvent('join', { history: 1000 })
      expect((await nextEvent(client, 'error')).data.errors[0].constraints).to.have.property('max')
    })

    it('answers text that is not an event', async () => {
      const { client } = await joinAs(t, 'ada')
      client.send('hello?')
      expect((await nextEvent(client, 'error')).data).to.deep.equal({ event: null, message: 'invalid JSON', errors: [] })
      client.sendEvent('shout', { text: 'HI' })
      expect((await nextEvent(client, 'error')).data.message).to.equal('unknown event "shout"')
    })
  })

  describe('typing', () => {
    it('relays typing to the other members only', async () => {
      const { client: ada } = await joinAs(t, 'ada')
      const { client: grace } = await joinAs(t, 'grace')
      ada.sendEvent('typing', { typing: true })
      expect((await nextEvent(grace, 'typing')).data).to.deep.equal({ room: 'lobby', nick: 'ada', typing: true })
      // Everything ada hears up to her own message: no typing among it.
      ada.sendEvent('say', { text: 'done' })
      const heard: string[] = []
      for (let event = ''; event !== 'message'; heard.push(event)) event = JSON.parse(await ada.nextText()).event
      expect(heard).to.include('message').and.not.include('typing')
    })
  })

  describe('file sharing (a file event, then the bytes; the room gets both as one binary message)', () => {
    it('relays the file to the room, sender included, as one binary message: its description, then the bytes', async () => {
      const { client: ada } = await joinAs(t, 'ada')
      const { client: grace } = await joinAs(t, 'grace')
      const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3])
      ada.sendEvent('file', { name: 'dot.png', type: 'image/png', size: bytes.length })
      ada.send(bytes)
      for (const client of [grace, ada]) {
        const frame = await nextFile(client)
        expect(frame.file).to.include({ room: 'lobby', nick: 'ada', name: 'dot.png', type: 'image/png', size: bytes.length })
        expect(frame.file.id, 'the file has an id').to.be.a('number')
        expect(frame.bytes).to.deep.equal(bytes)
      }
    })

    it('answers bytes that no file event announced', async () => {
      const { client } = await joinAs(t, 'ada')
      client.send(Buffer.from('surprise'))
      expect((await nextEvent(client, 'error')).data.message).to.equal('announce a file with a "file" event before sending its bytes')
    })

    it('answers bytes that do not match the announced size', async () => {
      const { client } = await joinAs(t, 'ada')
      client.sendEvent('file', { name: 'notes.txt', type: 'text/plain', size: 10 })
      client.send(Buffer.from('short'))
      expect((await nextEvent(client, 'error')).data.message).to.equal('"notes.txt" was announced with 10 bytes, but 5 arrived')
    })

    it('validates the announcement: name, type and size', async () => {
      const { client } = await joinAs(t, 'ada')
      client.sendEvent('file', { name: '../etc/passwd', type: 'not a type', size: ChatLimits.maxFileSize + 1 })
      const error = await nextEvent(client, 'error')
      expect(error.data.errors.map((e: { property: string }) => e.property)).to.have.members(['name', 'type', 'size'])
      expect(error.data.errors.find((e: { property: string }) => e.property === 'size').constraints).to.deep.equal({ max: 'a file is at most 4 MiB' })
    })

    it('closes with 1009 on a binary message over the gateway limit', async () => {
      const { client } = await joinAs(t, 'ada')
      client.send(Buffer.alloc(ChatLimits.maxFileSize + 1))
      await client.expectClose(1009, 5000)
    })
  })

  describe('handshake guards', () => {
    it('refuses a handshake without a nickname with 401', async () => {
      const refusal = await t.expectRejected('/chat/lobby', 401, { protocols: ['chat.v2'] })
      expect(refusal.status).to.equal(401)
      await t.expectRejected('/chat/lobby?nick=', 401)
      await t.expectRejected('/chat/lobby?nick=%20%20', 401)
    })

    it('refuses a nickname that is not one (401)', async () => {
      await t.expectRejected(`/chat/lobby?nick=${encodeURIComponent('<script>')}`, 401)
      await t.expectRejected(`/chat/lobby?nick=${'a'.repeat(ChatLimits.maxNickLength + 1)}`, 401)
    })

    it('takes the nickname from the nick cookie when the query has none', async () => {
      const client = await t.connect('/chat/lobby', { protocols: ['chat.v2'], headers: { Cookie: 'theme=dark; nick=Grace%20H' } })
      client.sendEvent('join', {})
      expect((await nextEvent(client, 'joined')).data.nick).to.equal('Grace H')
    })

    it('refuses malformed room names with 404', async () => {
      await t.expectRejected('/chat/Lobby?nick=ada', 404)
      await t.expectRejected(`/chat/${'a'.repeat(33)}?nick=ada`, 404)
      await t.expectRejected('/chat?nick=ada', 404)
    })

    it('refuses browsers from another origin with 403, and lets its own pages in', async () => {
      const host = new URL(t.url).host
      await t.expectRejected('/chat/lobby?nick=ada', 403, { headers: { Origin: 'https://evil.example' } })
      await t.expectRejected('/echo', 403, { headers: { Origin: 'https://evil.example' } })
      const client = await t.connect('/chat/lobby?nick=ada', { headers: { Origin: `http://${host}` } })
      expect(client.protocol).to.equal(undefined)
    })

    it('refuses a client that offers only protocols the chat does not speak (400)', async () => {
      await t.expectRejected('/chat/lobby?nick=ada', 400, { protocols: ['mqtt'] })
    })
  })
})

describe('example-app ChatGateway (chat.v1, side by side with chat.v2)', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp(AppModule, appOptions)
  })
  afterEach(() => t.close())

  const legacy = (nick: string, room = 'lobby') => t.connect(`/chat/${room}?nick=${nick}`, { protocols: ['chat.v1'] })

  it("negotiates chat.v1 when the client prefers it (the client's order wins)", async () => {
    const client = await t.connect('/chat/lobby?nick=old', { protocols: ['chat.v1', 'chat.v2'] })
    expect(client.protocol).to.equal('chat.v1')
  })

  it('joins on connect and greets with a text line and the recent history', async () => {
    const { client: ada } = await joinAs(t, 'ada')
    ada.sendEvent('say', { text: 'before you came' })
    await nextEvent(ada, 'message')
    const old = await legacy('old')
    expect(await old.nextText()).to.equal('* welcome to #lobby, old; here: ada, old')
    expect(await old.nextText()).to.match(/^\[\d\d:\d\d\] ada: before you came$/)
    expect((await nextEvent(ada, 'presence')).data.joined).to.equal('old')
  })

  it('relays a v1 text line to v2 members as a message event, and a v2 message to v1 as a line', async () => {
    const { client: ada } = await joinAs(t, 'ada')
    const old = await legacy('old')
    await old.nextText() // welcome
    old.send('  hi from the past ')
    const message = await nextEvent(ada, 'message')
    expect(message.data).to.include({ nick: 'old', text: 'hi from the past', via: 'chat.v1' })
    expect(await old.nextText()).to.match(/^\[\d\d:\d\d\] old: hi from the past$/)
    ada.sendEvent('say', { text: 'hello, v1' })
    expect(await old.nextText()).to.match(/^\[\d\d:\d\d\] ada: hello, v1$/)
  })

  it('answers an empty line with a "!" line instead of a JSON error', async () => {
    const old = await legacy('old')
    await old.nextText()
    old.send('   ')
    expect(await old.nextText()).to.equal('! a message is 1 to 500 characters')
  })

  it('tells v1 clients about shared files in a line, without the bytes', async () => {
    const old = await legacy('old')
    await old.nextText()
    const { client: ada } = await joinAs(t, 'ada')
    expect(await old.nextText()).to.equal('* ada joined #lobby')
    ada.sendEvent('file', { name: 'a.txt', type: 'text/plain', size: 3 })
    ada.send(Buffer.from('abc'))
    expect(await old.nextText()).to.equal('* ada shared a.txt (3 B, for chat.v2 clients)')
    ada.sendEvent('say', { text: 'next' })
    // No binary message came in between.
    expect(await old.nextText()).to.match(/ada: next$/)
  })

  it('closes with 1003 when a v1 client sends binary', async () => {
    const old = await legacy('old')
    old.send(Buffer.from([1, 2, 3]))
    const close = await old.expectClose(1003)
    expect(close.reason).to.equal('chat.v1 is text only: share files over chat.v2')
  })

  it('tells the room when a v1 client leaves', async () => {
    const { client: ada } = await joinAs(t, 'ada')
    const old = await legacy('old')
    await nextEvent(ada, 'presence')
    await old.close()
    expect((await nextEvent(ada, 'presence')).data).to.deep.equal({ room: 'lobby', members: ['ada'], left: 'old' })
  })
})
