// The example app in a real browser: Debian's headless Chromium, driven by playwright-core.
import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { startExampleApp, type ExampleApp } from '../../example-app/start-example-app'
import { launchChromium, requireChromium, screenshot, type Chromium } from '../helpers/chromium'

/** Every wait in a page: generous for a loaded CI machine, short enough to fail fast. */
const STEP_TIMEOUT = 5000

describe('example-app in a real browser (headless Chromium)', function () {
  this.timeout(60_000)

  let chat: ExampleApp
  /** A second app started on the first one's port, by the test that restarts the server. */
  let restarted: ExampleApp | undefined
  let chromium: Chromium | undefined
  let browser: BrowserContext
  let profile: string
  let pageErrors: string[]

  before(async function () {
    requireChromium(this)
    // Each test gets its own app on a new port, so its pages share no storage.
    chromium = await launchChromium()
    browser = chromium.context
    profile = chromium.profile
  })

  after(async () => {
    await chromium?.close()
  })

  beforeEach(async () => {
    chat = await startExampleApp({ port: 0, host: '127.0.0.1' })
    pageErrors = []
  })

  afterEach(async function () {
    for (const page of browser.pages()) await page.close()
    await chat.close()
    await restarted?.close()
    restarted = undefined
    if (this.currentTest?.state === 'passed') expect(pageErrors, 'errors thrown in the page').to.deep.equal([])
  })

  async function openPage(query = '', setup?: (page: Page) => Promise<void>): Promise<Page> {
    const page = await browser.newPage()
    page.setDefaultTimeout(STEP_TIMEOUT)
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await setup?.(page)
    await page.goto(chat.url + query)
    return page
  }

  /** Opens the page, types a nickname into the join form and waits until the room is shown. */
  async function joinChat(nick: string, room = 'lobby', setup?: (page: Page) => Promise<void>): Promise<Page> {
    const page = await openPage(`?room=${room}`, setup)
    await page.fill('#nick', nick)
    await page.click('#join-button')
    await page.locator('#status-text').filter({ hasText: `Connected as ${nick}` }).waitFor()
    return page
  }

  function messages(page: Page) {
    return page.locator('#messages .message')
  }

  it('shows a message sent in one page in another page of the same room, with presence and typing', async () => {
    const ada = await joinChat('ada')
    const grace = await joinChat('grace')
    await ada.locator('#members').filter({ hasText: 'grace' }).waitFor()
    expect(await grace.locator('#members .name').allTextContents()).to.deep.equal(['ada', 'grace'])
    expect(await grace.locator('#members .you').count()).to.equal(1)
    expect(await grace.locator('#protocol').textContent()).to.equal('chat.v2')
    // Chromium offers permessage-deflate; the chat gateway accepts it.
    expect(await grace.locator('#protocol').getAttribute('data-extensions')).to.contain('permessage-deflate')

    await ada.fill('#text', 'Hello Grace! The gateway demo is live.')
    await ada.press('#text', 'Enter')
    const received = messages(grace).filter({ hasText: 'Hello Grace! The gateway demo is live.' })
    await received.waitFor()
    expect(await received.locator('.author').textContent()).to.equal('ada')

    await grace.type('#text', 'Looks great')
    await ada.locator('#typing').filter({ hasText: 'grace is typing…' }).waitFor()
    await grace.press('#text', 'Enter')
    await messages(ada).filter({ hasText: 'Looks great' }).waitFor()
    await ada.locator('#typing').filter({ hasText: /^$/ }).waitFor()
  })

  it('delivers a file shared as binary to the other page, and shows an image inline', async () => {
    const ada = await joinChat('ada')
    const grace = await joinChat('grace')
    // A real PNG, drawn by the browser itself.
    const png = Buffer.from(await ada.evaluate(drawBanner), 'base64')
    await ada.setInputFiles('#file', { name: 'banner.png', mimeType: 'image/png', buffer: png })

    const shared = messages(grace).filter({ hasText: 'banner.png' })
    await shared.waitFor()
    expect(await shared.locator('.author').textContent()).to.equal('ada')
    const image = shared.locator('img.shared-image')
    expect(await image.evaluate((img) => (img as PageImage).decode().then(() => (img as PageImage).naturalWidth))).to.equal(240)
    // The bytes that arrived are the bytes that were sent: download them as a user would.
    const [download] = await Promise.all([grace.waitForEvent('download'), shared.locator('a.file-link').click()])
    expect(download.suggestedFilename()).to.equal('banner.png')
    const saved = join(profile, 'banner.png')
    await download.saveAs(saved)
    expect(readFileSync(saved).equals(png)).to.equal(true)

    // A non-image file is offered as a download, not rendered.
    await grace.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('meeting at 3\n') })
    const notes = messages(ada).filter({ hasText: 'notes.txt' })
    await notes.waitFor()
    expect(await notes.locator('img').count()).to.equal(0)
    const link = notes.locator('a.file-link')
    expect(await link.getAttribute('download')).to.equal('notes.txt')
    // The card says what clicking it does, to the eye and to a screen reader.
    expect(await link.locator('.file-action').textContent()).to.equal('Download')
    expect(await link.getAttribute('aria-label')).to.equal('Download notes.txt (13 B · text/plain)')

    await grace.fill('#text', 'Nice banner!')
    await grace.press('#text', 'Enter')
    await ada.type('#text', 'Thanks, shipping it')
    await grace.locator('#typing').filter({ hasText: 'ada is typing…' }).waitFor()
    await messages(ada).filter({ hasText: 'Nice banner!' }).waitFor()
    await screenshot(grace, 'example-app-chat.png')
  })

  it("shows the server's validation errors and does not deliver the message", async () => {
    // A fake clock on ada's page only, to see the error banner clear itself without waiting.
    const ada = await joinChat('ada', 'lobby', (page) => page.clock.install())
    const grace = await joinChat('grace')
    const error = ada.locator('#error')

    // The counter follows the server's limit (sent with `joined`) and says when it is passed.
    await ada.fill('#text', 'x'.repeat(499))
    expect(await ada.locator('#counter').textContent()).to.equal('499/500')
    await ada.fill('#text', 'x'.repeat(501))
    const counter = ada.locator('#counter')
    expect(await counter.textContent()).to.equal('501/500 · 1 too many')
    expect(await counter.getAttribute('data-level')).to.equal('over')
    expect(await ada.getAttribute('#text', 'aria-invalid')).to.equal('true')
    await ada.press('#text', 'Enter')
    await error.filter({ hasText: 'Message not sent: a message is at most 500 characters' }).waitFor()
    // The refused text is put back for editing.
    expect(await ada.inputValue('#text')).to.have.length(501)
    await screenshot(ada, 'example-app-validation.png')

    await ada.fill('#text', '   ')
    await ada.press('#text', 'Enter')
    await error.filter({ hasText: 'say something: the message is empty' }).waitFor()
    // Left alone, the banner goes away by itself after a few seconds.
    await ada.clock.fastForward(9000)
    await error.waitFor({ state: 'hidden' })

    await ada.fill('#text', 'a valid one')
    await ada.press('#text', 'Enter')
    await messages(grace).filter({ hasText: 'a valid one' }).waitFor()
    expect(await error.isHidden()).to.equal(true)
    expect(await messages(grace).count()).to.equal(1)
  })

  it('keeps the transcript, greyed, when the server stops, clears the live counts, and joins again once it is back', async () => {
    const ada = await joinChat('ada')
    const grace = await joinChat('grace')
    await ada.locator('#rooms .count').filter({ hasText: '2' }).waitFor()
    await grace.fill('#text', 'before the restart')
    await grace.press('#text', 'Enter')
    await messages(ada).filter({ hasText: 'before the restart' }).waitFor()

    const port = chat.port
    await chat.close()
    await ada.locator('#offline').filter({ hasText: 'Disconnected from #lobby: the server is shutting down (close code 1001).' }).waitFor()
    expect(await messages(ada).filter({ hasText: 'before the restart' }).isVisible(), 'the transcript is still shown').to.equal(true)
    expect(await ada.locator('#messages').getAttribute('class')).to.include('disconnected')
    expect(await ada.locator('#rooms .count').count(), 'no stale room counts').to.equal(0)
    expect(await ada.locator('#member-count').textContent()).to.equal('')
    expect(await ada.locator('#text').isDisabled()).to.equal(true)
    await screenshot(ada, 'example-app-disconnected.png')

    restarted = await startExampleApp({ port, host: '127.0.0.1' })
    await ada.click('#rejoin')
    await ada.locator('#status-text').filter({ hasText: 'Connected as ada' }).waitFor()
    expect(await ada.locator('#offline').isHidden()).to.equal(true)
    expect(await ada.locator('#messages').getAttribute('class')).not.to.include('disconnected')
  })

  it('refuses a page without a nickname at the handshake (401) and tells the user', async () => {
    const page = await openPage()
    const socketErrors: string[] = []
    page.on('websocket', (ws) => ws.on('socketerror', (message) => socketErrors.push(message)))
    await page.click('#join-button')
    await page.locator('#join-error').filter({ hasText: 'Refused by the server (HTTP 401 at the handshake): a nickname is required.' }).waitFor()
    expect(await page.locator('#status-text').textContent()).to.equal('Refused (401)')
    expect(await page.locator('#text').isDisabled()).to.equal(true)
    // Chromium's own account of the handshake: its wording for a 401 answer.
    expect(socketErrors).to.deep.equal(['HTTP Authentication failed; no valid credentials available'])
    await screenshot(page, 'example-app-refused.png')
  })
})

// What the page scripts below use of the DOM, typed here: the project compiles without the DOM lib.
interface PageImage {
  decode(): Promise<void>
  readonly naturalWidth: number
}
interface PageCanvas {
  width: number
  height: number
  getContext(kind: '2d'): {
    fillStyle: unknown
    font: string
    createLinearGradient(x0: number, y0: number, x1: number, y1: number): { addColorStop(offset: number, color: string): void }
    fillRect(x: number, y: number, w: number, h: number): void
    fillText(text: string, x: number, y: number): void
  }
  toDataURL(type: string): string
}
declare const document: { createElement(tag: 'canvas'): PageCanvas }

/** Runs in the page: a 240×140 PNG banner, base64. */
function drawBanner(): string {
  const canvas = document.createElement('canvas')
  canvas.width = 240
  canvas.height = 140
  const g = canvas.getContext('2d')
  const gradient = g.createLinearGradient(0, 0, 240, 140)
  gradient.addColorStop(0, '#4f46e5')
  gradient.addColorStop(1, '#06b6d4')
  g.fillStyle = gradient
  g.fillRect(0, 0, 240, 140)
  g.fillStyle = '#fff'
  g.font = 'bold 30px sans-serif'
  g.fillText('gatewire', 58, 80)
  return canvas.toDataURL('image/png').split(',')[1]
}
