import { Parser } from '@asyncapi/parser'
import { expect } from 'chai'
import { Type } from 'class-transformer'
import { IsInt, IsString, MaxLength, ValidateNested } from 'class-validator'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AppModule, appOptions } from '../../example-app/app-module'
import { Joined } from '../../example-app/chat-events'
import {
  bootstrap,
  DefinitionError,
  Gateway,
  Module,
  OnBinary,
  OnConnect,
  OnMessage,
  OnText,
  Payload,
  Query,
  type AsyncApiDocument,
} from '../../src'

const SNAPSHOT = join(__dirname, 'example-app.asyncapi.json')

/** Parses and validates with the official parser; returns the errors (severity 0) as text. */
async function validationErrors(document: AsyncApiDocument): Promise<string[]> {
  const { diagnostics } = await new Parser().parse(JSON.stringify(document))
  return diagnostics.filter((d) => d.severity === 0).map((d) => `${d.code} at ${d.path.join('.')}: ${d.message}`)
}

/** Shares its name with the example app's `Say` DTO: the app's document must not mix the two. */
class Say {
  @IsInt() notTheChatOne!: number
}

class Author {
  @IsString() name!: string
}
class Post {
  @IsString() @MaxLength(200) title!: string
  @ValidateNested() @Type(() => Author) author!: Author
}
class Posted {
  @IsInt() id!: number
}

@Gateway('/boards/:board/*', { protocols: ['board.v2', 'board.v1'], protocolRequired: true })
class BoardGateway {
  @OnConnect() hello(): Posted {
    return { id: 0 }
  }
  @OnMessage('post', { reply: { event: 'posted', data: Posted } }) post(post: Post, @Query('token') token: string | undefined): void {
    void post
    void token
  }
  @OnMessage('count') count(n: number): Posted {
    return { id: n }
  }
  @OnMessage('anything') async anything(data: unknown): Promise<string> {
    return String(data)
  }
  @OnText({ protocol: 'board.v1' }) legacy(text: string): string {
    return text
  }
  @OnBinary({ stream: true, protocol: 'board.v1' }) upload(): void {}
}

@Module({ gateways: [BoardGateway] })
class BoardModule {}

describe('asyncapi document', () => {
  it('describes the example app as a valid AsyncAPI 3.0 document', async () => {
    const document = bootstrap(AppModule, appOptions).asyncapi({ title: 'gatewire example chat', version: '1.0.0' })
    expect(document.asyncapi).to.equal('3.0.0')
    expect(await validationErrors(document)).to.deep.equal([])
  })

  it('matches the reviewed snapshot of the example app (UPDATE_SNAPSHOTS=1 rewrites it)', () => {
    const document = bootstrap(AppModule, appOptions).asyncapi({ title: 'gatewire example chat', version: '1.0.0' })
    const text = JSON.stringify(document, null, 2) + '\n'
    if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(SNAPSHOT, text)
    expect(existsSync(SNAPSHOT), `${SNAPSHOT} is missing: run with UPDATE_SNAPSHOTS=1 and review it`).to.equal(true)
    expect(JSON.parse(text)).to.deep.equal(JSON.parse(readFileSync(SNAPSHOT, 'utf8')))
  })

  it('documents the reply hint of the example chat: join is answered with joined and its data schema', () => {
    const document = bootstrap(AppModule, appOptions).asyncapi() as any
    const join = document.operations.ChatGateway_join
    expect(join.action).to.equal('receive')
    expect(join.reply.messages).to.deep.equal([{ $ref: '#/channels/ChatGateway/messages/join.reply' }])
    const reply = document.channels.ChatGateway.messages['join.reply']
    expect(reply.payload.properties.event).to.deep.equal({ type: 'string', const: 'joined' })
    expect(reply.payload.properties.data).to.deep.equal({ $ref: `#/components/schemas/${Joined.name}` })
    expect(document.components.schemas.Joined.required).to.include.members(['room', 'nick', 'members'])
  })

  it("takes a DTO's schema from that class alone, not from other classes of the same name", () => {
    expect(new Say()).to.be.instanceOf(Say)
    const document = bootstrap(AppModule, appOptions).asyncapi() as any
    expect(Object.keys(document.components.schemas.Say.properties)).to.deep.equal(['text'])
  })

  describe('of a gateway with parameters, subprotocols, nested DTOs and replies', () => {
    let document: any
    before(() => {
      document = bootstrap(BoardModule, { logger: false }).asyncapi({ title: 'boards', version: '2.0.0', servers: { local: { host: 'localhost:8080', protocol: 'ws' } } })
    })

    it('is valid', async () => {
      expect(await validationErrors(document)).to.deep.equal([])
    })

    it('has one channel per gateway path, with path parameters (and the wildcard) as channel parameters', () => {
      const channel = document.channels.BoardGateway
      expect(channel.address).to.equal('/boards/{board}/{wildcard}')
      expect(Object.keys(channel.parameters)).to.deep.equal(['board', 'wildcard'])
      expect(document.servers).to.deep.equal({ local: { host: 'localhost:8080', protocol: 'ws' } })
      expect(document.info).to.deep.equal({ title: 'boards', version: '2.0.0' })
    })

    it('lists the subprotocols, required ones as a required Sec-WebSocket-Protocol header, and @Query names', () => {
      const channel = document.channels.BoardGateway
      expect(channel['x-gatewire-subprotocols']).to.deep.equal(['board.v2', 'board.v1'])
      expect(channel.bindings.ws.headers.required).to.deep.equal(['sec-websocket-protocol'])
      expect(channel.bindings.ws.query.properties).to.deep.equal({ token: { type: 'string' } })
      expect(channel.description).to.include('refused with 400')
    })

    it('gives each event the JSON Schema of its DTO, nested DTOs included', () => {
      const post = document.channels.BoardGateway.messages.post
      expect(post.payload.properties.data).to.deep.equal({ $ref: '#/components/schemas/Post' })
      expect(post.payload.required).to.deep.equal(['event', 'data'])
      const schemas = document.components.schemas
      expect(schemas.Post.properties.title).to.include({ type: 'string', maxLength: 200 })
      expect(JSON.stringify(schemas.Post.properties.author)).to.include('#/components/schemas/Author')
      expect(schemas.Author.properties.name).to.deep.equal({ type: 'string' })
      // Only what the app's DTOs reach: other classes known to class-validator stay out.
      expect(schemas).to.not.have.property('Say')
    })

    it('types primitive payloads and leaves unchecked ones open', () => {
      const messages = document.channels.BoardGateway.messages
      expect(messages.count.payload.properties.data).to.deep.equal({ type: 'number' })
      expect(messages.anything.payload.required).to.deep.equal(['event'])
      expect(messages.anything.payload.properties.data).to.deep.equal({})
    })

    it('documents replies from { reply } and from class or string return types, not from promises', () => {
      const ops = document.operations
      expect(ops.BoardGateway_post.reply.messages).to.have.length(1)
      expect(document.channels.BoardGateway.messages['post.reply'].name).to.equal('posted')
      expect(document.channels.BoardGateway.messages['count.reply'].payload).to.deep.equal({ $ref: '#/components/schemas/Posted' })
      expect(ops.BoardGateway_anything).to.not.have.property('reply')
      expect(ops['BoardGateway_text.board.v1'].reply.messages).to.deep.equal([{ $ref: '#/channels/BoardGateway/messages/text.board.v1.reply' }])
      expect(ops.BoardGateway_connect).to.include({ action: 'send' })
    })

    it('marks protocol-specific text and binary handlers and streamed binary', () => {
      const messages = document.channels.BoardGateway.messages
      expect(messages['text.board.v1']).to.include({ contentType: 'text/plain', 'x-gatewire-protocol': 'board.v1' })
      expect(messages['binary.board.v1']).to.include({ contentType: 'application/octet-stream' })
      expect(messages['binary.board.v1'].summary).to.include('stream')
    })

    it('describes the error event every channel may send', () => {
      expect(document.operations.BoardGateway_error.action).to.equal('send')
      const error = document.components.schemas.GatewireErrorEvent
      expect(error.properties.data.required).to.deep.equal(['event', 'message', 'errors'])
    })
  })

  it('fails at bootstrap, naming class and method, on a reply hint that is neither a class nor an event', () => {
    @Gateway('/x')
    class Wrong {
      @OnMessage('x', { reply: { data: Posted } as never }) x(): void {}
    }
    @Module({ gateways: [Wrong] })
    class WrongModule {}
    expect(() => bootstrap(WrongModule)).to.throw(DefinitionError, /Wrong.*x.*reply must be a class or \{ event: string, data\?: class \}/)
  })

  it('refuses two DTO classes with one name, which would share a schema', () => {
    const make = () => {
      class Dup {
        @IsString() a!: string
      }
      return Dup
    }
    const A = make()
    const B = make()
    @Gateway('/dup')
    class DupGateway {
      @OnMessage('a') a(@Payload(A) data: unknown): void {
        void data
      }
      @OnMessage('b', { reply: B }) b(): void {}
    }
    @Module({ gateways: [DupGateway] })
    class DupModule {}
    expect(() => bootstrap(DupModule).asyncapi()).to.throw(/two different DTO classes are named Dup/)
  })
})
