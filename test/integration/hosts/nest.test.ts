import { expect } from 'chai'
import { Controller, Get, Injectable as NestInjectable, Module as NestModule, Param, Post, Req, type INestApplication } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { WsAdapter } from '@nestjs/platform-ws'
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets'
import session from 'express-session'
import type { Request } from 'express'
import type { Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { WebSocket } from 'ws'
import { ConnData, fromMiddleware, Gateway, Module, OnText } from '../../../src'
import { GatewireHost, GatewireModule } from '../../../src/nest'
import { deadline } from '../../helpers/deadline'
import { closePeers, connectPeer, refusal } from '../framework/ws-peer'
import { destroySockets, rawUpgrade } from './host-harness'

declare module 'express-session' {
  interface SessionData {
    user: string
  }
}

/** A Nest provider that gatewire's gateway is injected with. */
@NestInjectable()
class Greeter {
  greet(user: string | undefined, text: string): string {
    return `${user ?? 'anonymous'} says ${text}`
  }
}

@Gateway('/chat')
class ChatGateway {
  constructor(private readonly greeter: Greeter) {}
  @OnText() say(text: string, @ConnData() data: { user?: string }) {
    return this.greeter.greet(data.user, text)
  }
}

@Module({ gateways: [ChatGateway] })
class ChatModule {}

/** Nest's own WebSocket gateway (platform-ws) on another path of the same server. */
@WebSocketGateway({ path: '/nest-ws' })
class NestGateway implements OnGatewayConnection {
  handleConnection(client: WebSocket): void {
    client.send('hello from Nest')
  }
}

@Controller()
class WebController {
  @Get('hello') hello(): string {
    return 'hello over http'
  }
  @Post('login/:user') login(@Param('user') user: string, @Req() req: Request): string {
    req.session.user = user
    return 'ok'
  }
  // Must never answer an upgrade to /chat, even while gatewire closes.
  @Get('chat') chat(): string {
    return 'the Nest route'
  }
}

const sessions = session({ secret: 'nest session secret', resave: false, saveUninitialized: false })

@NestModule({
  imports: [
    GatewireModule.forRoot({
      module: ChatModule,
      options: { logger: false, guards: [fromMiddleware([sessions], (req) => ({ user: req.session.user }))], transport: { closeTimeout: 10_000 } },
    }),
  ],
  controllers: [WebController],
  providers: [Greeter, NestGateway],
})
class AppModule {}

describe('hosts: NestJS 11', () => {
  let nest: INestApplication
  let port: number
  let closed = false

  beforeEach(async () => {
    closed = false
    nest = await NestFactory.create(AppModule, { logger: false })
    nest.useWebSocketAdapter(new WsAdapter(nest))
    nest.use(sessions)
    await nest.listen(0, '127.0.0.1')
    port = ((nest.getHttpServer() as HttpServer).address() as AddressInfo).port
  })

  afterEach(async () => {
    closePeers()
    destroySockets()
    if (!closed) await nest.close()
  })

  it("splits one port with Nest's WsAdapter and HTTP routes, injecting Nest providers into gateways", async () => {
    const ours = await connectPeer(`ws://127.0.0.1:${port}/chat`)
    const theirs = await connectPeer(`ws://127.0.0.1:${port}/nest-ws`)
    expect(await theirs.next()).to.equal('hello from Nest')
    ours.send('hi')
    expect(await ours.next()).to.equal('anonymous says hi')
    expect(await (await fetch(`http://127.0.0.1:${port}/hello`)).text()).to.equal('hello over http')
    expect(nest.get(GatewireHost).app.connections(ChatGateway).size).to.equal(1)
    // An upgrade neither serves: Nest's adapter drops it (gatewire leaves it to the adapter).
    await refusal(`ws://127.0.0.1:${port}/nowhere`).then(
      () => expect.fail('answered'),
      (err: Error) => expect(err.message).to.match(/socket hang up|closed/),
    )
  })

  it("takes the user from the Nest app's express-session", async () => {
    const login = await fetch(`http://127.0.0.1:${port}/login/ada`, { method: 'POST' })
    expect(login.status).to.equal(201)
    const cookie = String(login.headers.get('set-cookie')).split(';')[0]
    const peer = await connectPeer(`ws://127.0.0.1:${port}/chat`, { headers: { Cookie: cookie } })
    peer.send('hi')
    expect(await peer.next()).to.equal('ada says hi')
  })

  it('closes the WebSockets with 1001 before Nest closes its server, answering 503 meanwhile', async () => {
    const peer = await connectPeer(`ws://127.0.0.1:${port}/chat`)
    const stalled = await rawUpgrade(port, '/chat')
    expect(stalled.status).to.equal(101)
    closed = true
    const closing = nest.close()
    expect((await deadline(peer.closed, 5000, 'the 1001 from the shutdown')).code).to.equal(1001)
    expect((await rawUpgrade(port, '/chat')).status).to.equal(503)
    stalled.socket.destroy()
    await deadline(closing, 5000, 'the shutdown')
    expect((nest.getHttpServer() as HttpServer).listening).to.equal(false)
  })
})
