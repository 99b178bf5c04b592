import { expect } from 'chai'
import { Conn, Gateway, Module, OnConnect, OnText, Param, Query, type Connection } from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'
import { closePeers, connectPeer, refusal } from './ws-peer'

@Gateway('/chat')
class ChatGateway {
  @OnText() onText(text: string) {
    return `chat:${text}`
  }
}

@Gateway('/rooms/:room')
class RoomGateway {
  @OnConnect() hello(@Param('room') room: string, @Query('nick') nick: string | undefined, @Conn() conn: Connection) {
    return { room, nick: nick ?? null, path: conn.path }
  }
}

@Gateway('/rooms/:room/files/*')
class FileGateway {
  @OnConnect() hello(@Param() params: Record<string, string>) {
    return params
  }
}

@Module({ gateways: [ChatGateway, RoomGateway, FileGateway] })
class AppModule {}

@Gateway('*')
class CatchAll {
  @OnConnect() hello(conn: Connection) {
    return `catch-all ${conn.path}`
  }
}

@Module({ gateways: [CatchAll, ChatGateway] })
class CatchAllModule {}

describe('framework routing', () => {
  let t: TestApp
  afterEach(async () => {
    await t?.close()
    closePeers()
  })

  it('answers an unknown path with HTTP 404 before the upgrade', async () => {
    t = await createTestApp(AppModule)
    const refused = await refusal(`${t.url}/nowhere`)
    expect(refused.status).to.equal(404)
    expect((await refusal(`${t.url}/rooms`)).status).to.equal(404)
  })

  it('routes by path, ignoring the query string and a trailing slash', async () => {
    t = await createTestApp(AppModule)
    const peer = await connectPeer(`${t.url}/chat/?x=1`)
    peer.send('hi')
    expect(await peer.next()).to.equal('chat:hi')
  })

  it('passes path parameters (decoded) and query values to handlers', async () => {
    t = await createTestApp(AppModule)
    const peer = await connectPeer(`${t.url}/rooms/caf%C3%A9?nick=ada&nick=bob`)
    expect(await peer.nextJson()).to.deep.equal({ room: 'café', nick: 'ada', path: '/rooms/caf%C3%A9?nick=ada&nick=bob' })
  })

  it('binds the rest of the path to a trailing wildcard', async () => {
    t = await createTestApp(AppModule)
    const client = await t.connect('/rooms/lobby/files/a/b.txt')
    expect(await client.nextJson()).to.deep.equal({ room: 'lobby', '*': 'a/b.txt' })
  })

  it("serves every path no other gateway serves with a '*' gateway", async () => {
    t = await createTestApp(CatchAllModule)
    const a = await t.connect('/chat')
    a.send('x')
    expect(await a.nextText()).to.equal('chat:x')
    const b = await t.connect('/any/thing?q=1')
    expect(await b.nextText()).to.equal('catch-all /any/thing?q=1')
  })

  it('keeps an encoded slash or percent sign inside its path parameter', async () => {
    t = await createTestApp(AppModule)
    const a = await t.connect('/rooms/a%2Fb')
    expect(await a.nextJson()).to.deep.include({ room: 'a/b' })
    const b = await t.connect('/rooms/100%25')
    expect(await b.nextJson()).to.deep.include({ room: '100%' })
  })

  it('refuses a path parameter with malformed percent-encoding with 400', async () => {
    t = await createTestApp(AppModule)
    expect((await refusal(`${t.url}/rooms/%E0%A4%A`)).status).to.equal(400)
  })
})
