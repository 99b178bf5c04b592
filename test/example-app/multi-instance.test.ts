import { expect } from 'chai'
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { startExampleApp, type ExampleApp } from '../../example-app/start-example-app'
import { freePort, requireRedisServer, RedisServer } from '../helpers/redis-server'
import { MainProcess } from './main-process'
import { readFileFrame } from './chat-client'
import { WsClient } from './ws-client'

interface Event<T = any> {
  event: string
  data: T
}

/** Reads until the JSON event `name` arrives (other events are skipped), bounded by `timeout`. */
async function nextEvent<T = any>(client: WsClient, name: string, timeout = 5000): Promise<Event<T>> {
  const deadline = Date.now() + timeout
  for (;;) {
    const message = await client.next(Math.max(1, deadline - Date.now())).catch(() => {
      throw new Error(`no "${name}" event within ${timeout} ms`)
    })
    if (typeof message !== 'string') throw new Error(`expected the "${name}" event, got ${message.length} bytes of binary`)
    const parsed = JSON.parse(message) as Event<T>
    if (parsed.event === name) return parsed
  }
}

async function nextLine(client: WsClient, timeout = 5000): Promise<string> {
  const message = await client.next(timeout).catch(() => {
    throw new Error(`no text line within ${timeout} ms`)
  })
  if (typeof message !== 'string') throw new Error(`expected a text line, got ${message.length} bytes of binary`)
  return message
}

/** Reads until a binary message arrives (text events on the way are skipped), bounded by `timeout`. */
async function nextBinary(client: WsClient, timeout = 5000): Promise<Buffer> {
  const deadline = Date.now() + timeout
  for (;;) {
    const message = await client.next(Math.max(1, deadline - Date.now())).catch(() => {
      throw new Error(`no binary message within ${timeout} ms`)
    })
    if (typeof message !== 'string') return message
  }
}

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`GET ${url}: ${res.statusCode} ${body}`))))
    })
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url}: no answer within 5 s`)))
    req.once('error', reject)
    req.end()
  })
}

/** One redis-server for the calling suite (skipped, saying why, without one), stopped after it. */
function useRedisServer(): () => RedisServer {
  let server: RedisServer | undefined
  before(async function () {
    requireRedisServer(this)
    server = await RedisServer.start()
  })
  after(async () => {
    await server?.destroy()
  })
  return () => {
    if (server === undefined) throw new Error('redis-server is not started yet')
    return server
  }
}

describe('example-app on two instances sharing one Redis (REDIS_URL)', function () {
  this.timeout(20_000)
  const redis = useRedisServer()
  const instances: ExampleApp[] = []
  const clients: WsClient[] = []
  let a: ExampleApp
  let b: ExampleApp

  beforeEach(async () => {
    a = await startExampleApp({ port: 0, host: '127.0.0.1', logger: false, redisUrl: redis().url })
    instances.push(a)
    b = await startExampleApp({ port: 0, host: '127.0.0.1', logger: false, redisUrl: redis().url })
    instances.push(b)
  })
  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate()
    await Promise.all(instances.splice(0).map((instance) => instance.close()))
    await redis().cli('flushall')
  })

  /** Both instances' subscriptions and presence have reached Redis. */
  const settled = (): Promise<unknown> => Promise.all([a, b].map((instance) => instance.app.server.broker.synced?.()))

  async function v2(on: ExampleApp, nick: string, room = 'lobby'): Promise<{ client: WsClient; joined: Event }> {
    const client = await WsClient.open(`ws://127.0.0.1:${on.port}/chat/${room}?nick=${nick}`, ['chat.v2'])
    clients.push(client)
    client.ws.send(JSON.stringify({ event: 'join', data: {} }))
    const joined = await nextEvent(client, 'joined')
    await settled()
    return { client, joined }
  }

  async function v1(on: ExampleApp, nick: string, room = 'lobby'): Promise<{ client: WsClient; welcome: string }> {
    const client = await WsClient.open(`ws://127.0.0.1:${on.port}/chat/${room}?nick=${nick}`, ['chat.v1'])
    clients.push(client)
    const welcome = await nextLine(client)
    await settled()
    return { client, welcome }
  }

  const say = (client: WsClient, text: string): void => client.ws.send(JSON.stringify({ event: 'say', data: { text } }))

  /** The texts of the next `count` message events, skipping other events. */
  async function messages(client: WsClient, count: number): Promise<string[]> {
    const texts: string[] = []
    for (let i = 0; i < count; i++) texts.push((await nextEvent(client, 'message')).data.text)
    return texts
  }

  it('lists the members of both instances on join, in presence events and in GET /api/rooms', async () => {
    const { client: ada } = await v2(a, 'ada')
    const { joined } = await v2(b, 'grace')
    expect(joined.data.members).to.deep.equal(['ada', 'grace'])
    expect((await nextEvent(ada, 'presence')).data).to.deep.equal({ room: 'lobby', members: ['ada', 'grace'], joined: 'grace' })
    const { welcome } = await v1(b, 'old')
    expect(welcome).to.equal('* welcome to #lobby, old; here: ada, grace, old')
    expect((await nextEvent(ada, 'presence')).data).to.deep.equal({ room: 'lobby', members: ['ada', 'grace', 'old'], joined: 'old' })
    for (const instance of [a, b]) {
      expect(await getJson(`${instance.url}api/rooms`)).to.deep.equal([
        { name: 'lobby', members: 3 },
        { name: 'random', members: 0 },
        { name: 'help', members: 0 },
      ])
    }
  })

  it('tells every chat.v2 client on every instance the head counts, joined or not', async () => {
    const watcher = await WsClient.open(`ws://127.0.0.1:${a.port}/chat/lobby?nick=watcher`, ['chat.v2'])
    clients.push(watcher)
    await settled()
    await v2(b, 'grace', 'design-review')
    const rooms = await nextEvent(watcher, 'rooms')
    expect(rooms.data).to.deep.equal([
      { name: 'lobby', members: 0 },
      { name: 'random', members: 0 },
      { name: 'help', members: 0 },
      { name: 'design-review', members: 1 },
    ])
  })

  it('delivers a message said on one instance to every member on both, exactly once, as JSON or as a line', async () => {
    const { client: ada } = await v2(a, 'ada')
    const { client: alan } = await v1(a, 'alan')
    const { client: grace } = await v2(b, 'grace')
    const { client: old } = await v1(b, 'old')
    say(ada, 'hello from a')
    say(ada, 'and again')
    for (const client of [ada, grace]) expect(await messages(client, 2)).to.deep.equal(['hello from a', 'and again'])
    old.ws.send('hello from b, over chat.v1')
    // Exactly once: right after ada's two messages comes old's, no copy in between.
    for (const client of [ada, grace]) expect(await messages(client, 1)).to.deep.equal(['hello from b, over chat.v1'])
    const lines = async (client: WsClient): Promise<string[]> => {
      const said: string[] = []
      while (said.length < 3) {
        const line = await nextLine(client)
        if (line.startsWith('[')) said.push(line.replace(/^\[\d\d:\d\d\] /, ''))
      }
      return said
    }
    const expected = ['ada: hello from a', 'ada: and again', 'old: hello from b, over chat.v1']
    expect(await lines(alan)).to.deep.equal(expected)
    expect(await lines(old)).to.deep.equal(expected)
  })

  it('relays typing to the members of the other instance, not back to the typist', async () => {
    const { client: ada } = await v2(a, 'ada')
    const { client: grace } = await v2(b, 'grace')
    ada.ws.send(JSON.stringify({ event: 'typing', data: { typing: true } }))
    expect((await nextEvent(grace, 'typing')).data).to.deep.equal({ room: 'lobby', nick: 'ada', typing: true })
    say(ada, 'done')
    const heard: string[] = []
    for (let event = ''; event !== 'message'; heard.push(event)) event = JSON.parse(String(await ada.next())).event
    expect(heard).to.include('message').and.not.include('typing')
  })

  it('shares a file with the other instance as one binary message: the description, then the bytes intact', async () => {
    const { client: ada } = await v2(a, 'ada')
    const { client: grace } = await v2(b, 'grace')
    const { client: old } = await v1(b, 'old')
    const bytes = randomBytes(256 * 1024)
    ada.ws.send(JSON.stringify({ event: 'file', data: { name: 'noise.bin', type: 'application/octet-stream', size: bytes.length } }))
    ada.ws.send(bytes)
    const received = await nextBinary(grace)
    const frame = readFileFrame(received)
    expect(frame.file).to.include({ room: 'lobby', nick: 'ada', name: 'noise.bin', size: bytes.length })
    expect(frame.bytes.equals(bytes), 'the bytes arrive unchanged').to.equal(true)
    expect(await nextLine(old)).to.equal('* ada shared noise.bin (256.0 KiB, for chat.v2 clients)')
  })

  it('keeps each file whole when members of both instances share files at the same moment', async () => {
    const { client: ada } = await v2(a, 'ada')
    const { client: grace } = await v2(b, 'grace')
    const { client: watcher } = await v2(b, 'watcher')
    const files = new Map<string, Buffer>()
    for (let i = 0; i < 10; i++) {
      for (const [client, who] of [[ada, 'ada'], [grace, 'grace']] as const) {
        const name = `${who}-${i}.bin`
        const bytes = randomBytes(1024 + i)
        files.set(name, bytes)
        client.ws.send(JSON.stringify({ event: 'file', data: { name, type: 'application/octet-stream', size: bytes.length } }))
        client.ws.send(bytes)
      }
    }
    const seen: string[] = []
    while (seen.length < files.size) {
      const { file, bytes } = readFileFrame<{ name: string }>(await nextBinary(watcher))
      expect(bytes.equals(files.get(file.name)!), `${file.name} arrives with its own bytes`).to.equal(true)
      seen.push(file.name)
    }
    expect(seen.filter((name) => name.startsWith('ada-')), "ada's files in her order").to.deep.equal([...files.keys()].filter((name) => name.startsWith('ada-')))
  })

  it('tells the other instance who left, and counts them out everywhere', async () => {
    const { client: ada } = await v2(a, 'ada')
    const { client: alan } = await v1(a, 'alan')
    const { client: grace } = await v2(b, 'grace')
    expect((await nextEvent(ada, 'presence')).data.joined).to.equal('alan')
    expect((await nextEvent(ada, 'presence')).data.joined).to.equal('grace')
    grace.terminate()
    expect((await nextEvent(ada, 'presence')).data).to.deep.equal({ room: 'lobby', members: ['ada', 'alan'], left: 'grace' })
    expect((await nextEvent(ada, 'rooms')).data).to.deep.include({ name: 'lobby', members: 2 })
    let line = ''
    while (!line.startsWith('* grace left')) line = await nextLine(alan)
    expect(line).to.equal('* grace left #lobby')
    await settled()
    for (const instance of [a, b]) expect(await getJson(`${instance.url}api/rooms`)).to.deep.include({ name: 'lobby', members: 2 })
  })

  it('keeps a nickname present while it is still connected to the other instance', async () => {
    const { client: ada } = await v2(a, 'ada')
    await v2(a, 'grace')
    const { client: graceOnB } = await v2(b, 'grace')
    for (let i = 0; i < 2; i++) {
      expect((await nextEvent(ada, 'presence')).data).to.deep.equal({ room: 'lobby', members: ['ada', 'grace'], joined: 'grace' })
    }
    graceOnB.terminate()
    expect((await nextEvent(ada, 'presence')).data).to.deep.equal({ room: 'lobby', members: ['ada', 'grace'], left: 'grace' })
  })

  it('while Redis is down, answers a join with an error event and closes a chat.v1 client with 1013, then serves again', async () => {
    await v2(a, 'ada')
    await redis().stop()
    try {
      // Bounded: ioredis notices the closed connection within moments.
      for (const deadline = Date.now() + 5000; a.app.server.broker.state === 'ready' && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      expect(a.app.server.broker.state, 'the broker noticed Redis is gone').to.not.equal('ready')
      const grace = await WsClient.open(`ws://127.0.0.1:${a.port}/chat/lobby?nick=grace`, ['chat.v2'])
      clients.push(grace)
      grace.ws.send(JSON.stringify({ event: 'join', data: {} }))
      const error = await nextEvent(grace, 'error')
      expect(error.data.event).to.equal('join')
      expect(error.data.message).to.match(/^who is here is unknown for now \(gatewire\/redis: .*not connected.*\); try again$/)
      const old = await WsClient.open(`ws://127.0.0.1:${a.port}/chat/lobby?nick=old`, ['chat.v1'])
      clients.push(old)
      expect(await old.expectClose()).to.deep.equal({ code: 1013, reason: 'who is here is unknown for now: try again later' })
    } finally {
      await redis().restart()
    }
    // Back: the broker reconnects by itself and joins work again, across instances.
    const ready = (): boolean => [a, b].every((instance) => instance.app.server.broker.state === 'ready')
    for (const deadline = Date.now() + 10_000; !ready() && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(ready(), 'both brokers reconnected within 10 s of Redis being back').to.equal(true)
    const { joined } = await v2(b, 'grace')
    expect(joined.data.members).to.deep.equal(['ada', 'grace'])
  })

  it('fails to start with a clear error naming the URL when Redis cannot be reached', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`
    const started = await startExampleApp({ port: 0, host: '127.0.0.1', logger: false, redisUrl: url }).then(
      (chat) => {
        instances.push(chat)
        return undefined
      },
      (err: Error) => err,
    )
    expect(started, 'startExampleApp resolved').to.be.instanceOf(Error)
    expect(started!.message).to.include(`cannot reach ${url}`)
  })
})

describe('example-app: two `npm start` processes with one REDIS_URL', function () {
  this.timeout(60_000)
  const redis = useRedisServer()
  const processes: MainProcess[] = []
  const clients: WsClient[] = []

  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate()
    await Promise.all(processes.splice(0).map((main) => main.stop()))
  })

  /** Polls `check` every 50 ms until it holds, failing with `what` after 10 s. */
  async function until(check: () => Promise<boolean>, what: string): Promise<void> {
    let ok = await check()
    for (const deadline = Date.now() + 10_000; !ok && Date.now() < deadline; ok = await check()) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(ok, what).to.equal(true)
  }

  it('serve one chat on two ports: presence of both, messages both ways', async () => {
    const env = { PORT: '0', HOST: '127.0.0.1', REDIS_URL: redis().url }
    // One after the other: two ts-node compilations at once are slow on a shared machine.
    const urlA = await MainProcess.start(env, (m) => processes.push(m), 30_000)
    const urlB = await MainProcess.start(env, (m) => processes.push(m), 30_000)
    expect(new URL(urlA).port).to.not.equal(new URL(urlB).port)
    expect(processes[1].output).to.include('Rooms and presence shared through Redis')
    const open = async (url: string, nick: string): Promise<WsClient> => {
      const client = await WsClient.open(`${url.replace(/^http/, 'ws')}chat/lobby?nick=${nick}`, ['chat.v2'])
      clients.push(client)
      client.ws.send(JSON.stringify({ event: 'join', data: {} }))
      return client
    }
    const lobbyCount = async (url: string): Promise<number> =>
      ((await getJson(`${url}api/rooms`)) as { name: string; members: number }[]).find((r) => r.name === 'lobby')!.members

    const ada = await open(urlA, 'ada')
    await nextEvent(ada, 'joined')
    // The first process's join reaches Redis in the background: the second sees it once it has.
    await until(async () => (await lobbyCount(urlB)) === 1, 'the second process counts ada (on the first) in the lobby')
    const grace = await open(urlB, 'grace')
    expect((await nextEvent(grace, 'joined')).data.members).to.deep.equal(['ada', 'grace'])
    expect((await nextEvent(ada, 'presence')).data).to.deep.equal({ room: 'lobby', members: ['ada', 'grace'], joined: 'grace' })
    // Both processes subscribe to the lobby's channel once a member joins there.
    const lobby = 'gatewire:/chat/:room#chat.v2:lobby'
    await until(async () => (await redis().cli('pubsub', 'numsub', lobby)).split('\n')[1] === '2', `both processes subscribe to ${lobby}`)

    ada.ws.send(JSON.stringify({ event: 'say', data: { text: 'hi grace' } }))
    expect((await nextEvent(grace, 'message')).data).to.include({ nick: 'ada', text: 'hi grace' })
    grace.ws.send(JSON.stringify({ event: 'say', data: { text: 'hi ada' } }))
    const heard: string[] = []
    while (heard.length < 2) heard.push((await nextEvent(ada, 'message')).data.text)
    expect(heard).to.deep.equal(['hi grace', 'hi ada'])
  })
})
