// Two example-app instances sharing one real redis-server, each with its own page in Debian's
// headless Chromium: the chat works across instances as in one.
import { expect } from 'chai'
import type { Page } from 'playwright-core'
import { startExampleApp, type ExampleApp } from '../../example-app/start-example-app'
import { launchChromium, requireChromium, screenshot, type Chromium } from '../helpers/chromium'
import { requireRedisServer, RedisServer } from '../helpers/redis-server'

const STEP_TIMEOUT = 5000

describe('example-app on two instances (one Redis) in a real browser (headless Chromium)', function () {
  this.timeout(60_000)

  let chromium: Chromium | undefined
  let redis: RedisServer | undefined
  const instances: ExampleApp[] = []
  let pageErrors: string[]

  before(async function () {
    requireChromium(this)
    requireRedisServer(this)
    chromium = await launchChromium()
    redis = await RedisServer.start()
  })

  after(async () => {
    await chromium?.close()
    await redis?.destroy()
  })

  beforeEach(() => {
    pageErrors = []
  })

  afterEach(async function () {
    for (const page of chromium?.context.pages() ?? []) await page.close()
    await Promise.all(instances.splice(0).map((instance) => instance.close()))
    if (this.currentTest?.state === 'passed') expect(pageErrors, 'errors thrown in the page').to.deep.equal([])
  })

  async function instance(): Promise<ExampleApp> {
    const chat = await startExampleApp({ port: 0, host: '127.0.0.1', redisUrl: redis!.url })
    instances.push(chat)
    return chat
  }

  /** Opens `chat`'s page, joins `room` as `nick` and waits until the room is shown. */
  async function joinChat(chat: ExampleApp, nick: string, room = 'lobby'): Promise<Page> {
    const page = await chromium!.context.newPage()
    page.setDefaultTimeout(STEP_TIMEOUT)
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await page.goto(`${chat.url}?room=${room}`)
    await page.fill('#nick', nick)
    await page.click('#join-button')
    await page.locator('#status-text').filter({ hasText: `Connected as ${nick}` }).waitFor()
    return page
  }

  it('lets two pages on two instances chat in one room, each seeing the other in the member list', async () => {
    const [a, b] = [await instance(), await instance()]
    expect(a.port).to.not.equal(b.port)
    const ada = await joinChat(a, 'ada')
    const grace = await joinChat(b, 'grace')

    // Presence across instances: each page lists both members, and the lobby's head count.
    await ada.locator('#members').filter({ hasText: 'grace' }).waitFor()
    expect(await grace.locator('#members .name').allTextContents()).to.deep.equal(['ada', 'grace'])
    expect(await ada.locator('#members .name').allTextContents()).to.deep.equal(['ada', 'grace'])
    await ada.locator('#rooms .count').filter({ hasText: '2' }).waitFor()

    await ada.fill('#text', `Hello from instance A (port ${a.port})`)
    await ada.press('#text', 'Enter')
    const fromAda = grace.locator('#messages .message').filter({ hasText: `Hello from instance A (port ${a.port})` })
    await fromAda.waitFor()
    expect(await fromAda.locator('.author').textContent()).to.equal('ada')

    await grace.type('#text', `Hi ada, this is instance B (port ${b.port})`)
    await ada.locator('#typing').filter({ hasText: 'grace is typing…' }).waitFor()
    await grace.press('#text', 'Enter')
    const fromGrace = ada.locator('#messages .message').filter({ hasText: `Hi ada, this is instance B (port ${b.port})` })
    await fromGrace.waitFor()
    expect(await fromGrace.locator('.author').textContent()).to.equal('grace')
    // Exactly once on each page: the author's own copy and the other instance's.
    for (const page of [ada, grace]) expect(await page.locator('#messages .message').count()).to.equal(2)
    await screenshot(ada, 'example-app-multi-a.png')
    await screenshot(grace, 'example-app-multi-b.png')

    // Leaving on one instance updates the member list on the other.
    await grace.close()
    await ada.locator('#members .name').filter({ hasText: 'grace' }).waitFor({ state: 'detached' })
    expect(await ada.locator('#members .name').allTextContents()).to.deep.equal(['ada'])
  })
})
