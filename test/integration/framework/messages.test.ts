import { expect } from 'chai'
import { Type } from 'class-transformer'
import { IsInt, IsString, MaxLength, Min, ValidateNested } from 'class-validator'
import { Gateway, Module, OnMessage, OnText, Payload, WsException, type Connection } from '../../../src'
import { createTestApp, type TestApp } from '../../../src/testing'
import { closePeers, connectPeer } from './ws-peer'

class Author {
  @IsString() name!: string
}
class Say {
  @IsString() @MaxLength(10) text!: string
  @ValidateNested() @Type(() => Author) author!: Author
}
class Join {
  @IsString() room!: string
  @IsInt() @Min(1) seats!: number
}

@Gateway('/chat')
class ChatGateway {
  @OnMessage('say') say(msg: Say, conn: Connection) {
    return { event: 'said', data: { text: msg.text, by: msg.author.name, dto: msg instanceof Say, open: conn.readyState === 1 } }
  }
  @OnMessage('join') join(@Payload(Join) join: Join) {
    if (join.room === 'full') throw new WsException('room is full')
    return { event: 'joined', data: join.room }
  }
  @OnMessage('count') count(n: number) {
    return { event: 'counted', data: n + 1 }
  }
}

@Gateway('/strict', { invalidMessage: 'close' })
class StrictGateway {
  @OnMessage('say') say(msg: Say) {
    return msg.text
  }
}

@Gateway('/mixed')
class MixedGateway {
  @OnMessage('say') say(msg: Say) {
    return msg.text
  }
  @OnText() raw(text: string) {
    return `raw:${text}`
  }
}

@Module({ gateways: [ChatGateway, StrictGateway, MixedGateway] })
class AppModule {}

describe('framework @OnMessage routing and validation', () => {
  let t: TestApp
  beforeEach(async () => {
    t = await createTestApp(AppModule)
  })
  afterEach(async () => {
    await t.close()
    closePeers()
  })

  it('routes a valid message to its handler with a converted DTO', async () => {
    const peer = await connectPeer(`${t.url}/chat`)
    peer.sendJson({ event: 'say', data: { text: 'hello', author: { name: 'ada' } } })
    expect(await peer.nextJson()).to.deep.equal({ event: 'said', data: { text: 'hello', by: 'ada', dto: true, open: true } })
  })

  it('answers a failed validation with the exact error event, listing each property and constraint', async () => {
    const peer = await connectPeer(`${t.url}/chat`)
    peer.send(JSON.stringify({ event: 'say', data: { text: 'much too long', author: { name: 3 } } }))
    expect(await peer.next()).to.equal(
      '{"event":"error","data":{"event":"say","message":"validation failed","errors":[' +
        '{"property":"text","constraints":{"maxLength":"text must be shorter than or equal to 10 characters"}},' +
        '{"property":"author.name","constraints":{"isString":"name must be a string"}}]}}',
    )
    peer.sendJson({ event: 'join', data: { room: 'a', seats: 0 } })
    expect(await peer.nextJson()).to.deep.equal({
      event: 'error',
      data: { event: 'join', message: 'validation failed', errors: [{ property: 'seats', constraints: { min: 'seats must not be less than 1' } }] },
    })
  })

  it('answers invalid JSON, a message without event and an unknown event, and keeps the connection open', async () => {
    const client = await t.connect('/chat')
    client.send('not json')
    client.sendJson({ data: 1 })
    client.sendEvent('dance', {})
    client.sendEvent('count', 41)
    expect(await client.nextJson()).to.deep.equal({ event: 'error', data: { event: null, message: 'invalid JSON', errors: [] } })
    expect(await client.nextJson()).to.deep.equal({
      event: 'error',
      data: { event: null, message: 'a message must be a JSON object with a string "event"', errors: [] },
    })
    expect(await client.nextJson()).to.deep.equal({ event: 'error', data: { event: 'dance', message: 'unknown event "dance"', errors: [] } })
    expect(await client.nextJson()).to.deep.equal({ event: 'counted', data: 42 })
  })

  it('type-checks primitive payloads', async () => {
    const client = await t.connect('/chat')
    client.sendEvent('count', 'forty')
    expect(await client.nextJson()).to.deep.equal({
      event: 'error',
      data: { event: 'count', message: 'validation failed', errors: [{ property: 'data', constraints: { isNumber: 'data must be a number' } }] },
    })
  })

  it('answers a WsException without code from an @OnMessage handler with an error event naming the event', async () => {
    const client = await t.connect('/chat')
    client.sendEvent('join', { room: 'full', seats: 2 })
    expect(await client.nextJson()).to.deep.equal({ event: 'error', data: { event: 'join', message: 'room is full', errors: [] } })
  })

  it("closes with 1008 under invalidMessage: 'close'", async () => {
    const client = await t.connect('/strict')
    client.sendEvent('say', { text: 'far, far too long', author: { name: 'x' } })
    expect(await client.expectClose(1008)).to.deep.equal({ code: 1008, reason: 'validation failed' })
    const other = await t.connect('/strict')
    other.send('{')
    await other.expectClose(1008)
  })

  it('gives what no @OnMessage routes to the gateway @OnText', async () => {
    const client = await t.connect('/mixed')
    client.send('plain')
    client.sendEvent('say', { text: 'ok', author: { name: 'a' } })
    client.sendEvent('other')
    expect(await client.nextText()).to.equal('raw:plain')
    expect(await client.nextText()).to.equal('ok')
    expect(await client.nextText()).to.equal('raw:{"event":"other"}')
  })
})
