import { expect } from 'chai'
import cookieParser from 'cookie-parser'
import express from 'express'
import session from 'express-session'
import passport from 'passport'
import * as http from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import { bootstrap, ConnData, fromMiddleware, Gateway, Module, OnText, type Application, type GuardFunction } from '../../../src'
import { deadline } from '../../helpers/deadline'
import { closePeers, connectPeer, refusal } from '../framework/ws-peer'
import { closeServer, destroySockets, listenOn, rawUpgrade } from './host-harness'

declare module 'express-session' {
  interface SessionData {
    user: string
  }
}

@Gateway('/echo')
class EchoGateway {
  @OnText() echo(text: string, @ConnData() data: { user?: string; sid?: string }) {
    return text === 'sid' ? String(data.sid) : `${data.user ?? 'anonymous'}: ${text}`
  }
}

@Module({ gateways: [EchoGateway] })
class EchoModule {}

const SECRET = 'express session secret'

describe('hosts: Express 5', () => {
  let server: http.Server
  let app: Application
  let port: number
  let wss: WebSocketServer | undefined

  afterEach(async () => {
    closePeers()
    destroySockets()
    wss?.close()
    wss = undefined
    await app?.close()
    await closeServer(server)
  })

  /** Express with express-session, a login route and a route on the gateway's own path. */
  function expressApp(sessions: express.RequestHandler): express.Express {
    const web = express()
    web.use(sessions)
    web.post('/login/:user', (req, res) => {
      req.session.user = req.params.user
      res.send('ok')
    })
    // Must never answer an upgrade to /echo (not even while gatewire closes).
    web.get('/echo', (_req, res) => res.send('the Express route'))
    return web
  }

  async function login(user: string): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${port}/login/${user}`, { method: 'POST' })
    expect(response.status).to.equal(200)
    return String(response.headers.get('set-cookie')).split(';')[0]
  }

  it('shares one port with Express and ws (noServer), and takes the user from express-session', async () => {
    const sessions = session({ secret: SECRET, resave: false, saveUninitialized: false })
    const signedIn: GuardFunction = (ctx) => {
      if (ctx.data.user === undefined) ctx.reject(401, 'sign in first')
    }
    app = bootstrap(EchoModule, {
      logger: false,
      guards: [fromMiddleware([sessions], (req) => ({ user: req.session.user })), signedIn],
    })
    server = http.createServer(expressApp(sessions))
    app.attach(server)
    wss = new WebSocketServer({ noServer: true })
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`ws: ${m}`)))
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url === '/legacy') wss!.handleUpgrade(req, socket, head, (ws) => wss!.emit('connection', ws, req))
    })
    port = await listenOn(server)

    const cookie = await login('ada')
    const ours = await connectPeer(`ws://127.0.0.1:${port}/echo`, { headers: { Cookie: cookie } })
    ours.send('hi')
    expect(await ours.next()).to.equal('ada: hi')
    const theirs = await connectPeer(`ws://127.0.0.1:${port}/legacy`)
    theirs.send('yo')
    expect(await theirs.next()).to.equal('ws: yo')
    expect(await (await fetch(`http://127.0.0.1:${port}/echo`)).text()).to.equal('the Express route')

    const anonymous = await refusal(`ws://127.0.0.1:${port}/echo`)
    expect(anonymous.status).to.equal(401)
    expect(anonymous.body).to.equal('sign in first')
  })

  it('reads the signed session cookie with ctx.signedCookie(), without hand-parsing', async () => {
    const sessions = session({ secret: SECRET, resave: false, saveUninitialized: false })
    app = bootstrap(EchoModule, {
      logger: false,
      guards: [(ctx) => void (ctx.data.sid = ctx.signedCookie('connect.sid', ['rotated-out', SECRET]))],
    })
    server = http.createServer(expressApp(sessions))
    app.attach(server)
    port = await listenOn(server)
    const cookie = await login('ada')
    const raw = decodeURIComponent(cookie.slice('connect.sid='.length))
    expect(raw).to.match(/^s:/)
    const peer = await connectPeer(`ws://127.0.0.1:${port}/echo`, { headers: { Cookie: cookie } })
    peer.send('sid')
    expect(await peer.next()).to.equal(raw.slice(2, raw.lastIndexOf('.')))
  })

  it('takes the user from passport.session() and the signed cookies from cookie-parser', async () => {
    const sessions = session({ secret: SECRET, resave: false, saveUninitialized: false })
    passport.serializeUser((user: Express.User, done) => done(null, (user as { name: string }).name))
    passport.deserializeUser((name: string, done) => done(null, { name }))
    const web = express()
    web.use(cookieParser(SECRET), sessions, passport.initialize(), passport.session())
    web.post('/login/:user', (req, res, next) => req.login({ name: req.params.user }, (err) => (err ? next(err) : res.cookie('theme', 'dark', { signed: true }).send('ok'))))
    const middleware = [cookieParser(SECRET), sessions, passport.initialize(), passport.session()]
    app = bootstrap(EchoModule, {
      logger: false,
      // The request type of Express middleware, for toData (inference takes the plainest one).
      guards: [fromMiddleware<express.Request>(middleware, (req) => ({ user: `${(req.user as { name: string } | undefined)?.name} (${req.signedCookies.theme})` }))],
    })
    server = http.createServer(web)
    app.attach(server)
    port = await listenOn(server)
    const response = await fetch(`http://127.0.0.1:${port}/login/grace`, { method: 'POST' })
    const cookies = response.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
    const peer = await connectPeer(`ws://127.0.0.1:${port}/echo`, { headers: { Cookie: cookies } })
    peer.send('hi')
    expect(await peer.next()).to.equal('grace (dark): hi')
  })

  it('refuses with the status, headers and body a middleware answered with', async () => {
    const basic: express.RequestHandler = (req, res, next) => {
      if (req.headers.authorization === 'Basic good') return next()
      res.statusCode = 401
      res.setHeader('WWW-Authenticate', 'Basic realm="chat"')
      res.end('who are you?')
    }
    const teapot: express.RequestHandler = (req, _res, next) => next(req.headers['x-tea'] ? Object.assign(new Error('short and stout'), { status: 418 }) : undefined)
    app = bootstrap(EchoModule, { logger: false, guards: [fromMiddleware([teapot, basic])] })
    server = http.createServer(express())
    app.attach(server)
    port = await listenOn(server)
    const refused = await refusal(`ws://127.0.0.1:${port}/echo`)
    expect(refused.status).to.equal(401)
    expect(refused.headers['www-authenticate']).to.equal('Basic realm="chat"')
    expect(refused.body).to.equal('who are you?')
    const tea = await refusal(`ws://127.0.0.1:${port}/echo`, { headers: { 'x-tea': '1' } })
    expect(tea.status).to.equal(418)
    expect(tea.body).to.equal('short and stout')
    await connectPeer(`ws://127.0.0.1:${port}/echo`, { headers: { Authorization: 'Basic good' } })
  })

  it('shuts down in one call: 1001 to the WebSockets, then the HTTP server closes, 503 meanwhile', async () => {
    app = bootstrap(EchoModule, { logger: false, transport: { closeTimeout: 10_000 } })
    server = http.createServer(expressApp(session({ secret: SECRET, resave: false, saveUninitialized: false })))
    app.attach(server)
    port = await listenOn(server)
    const peer = await connectPeer(`ws://127.0.0.1:${port}/echo`)
    const stalled = await rawUpgrade(port, '/echo')
    expect(stalled.status).to.equal(101)
    const closing = app.close({ servers: true })
    expect((await deadline(peer.closed, 5000, 'the 1001 from the shutdown')).code).to.equal(1001)
    // Express has a GET /echo route: an upgrade there must get gatewire's 503, not its 200.
    expect((await rawUpgrade(port, '/echo')).status).to.equal(503)
    stalled.socket.destroy()
    await deadline(closing, 5000, 'the shutdown')
    expect(server.listening).to.equal(false)
    expect(app.connections(EchoGateway).size).to.equal(0)
  })
})
