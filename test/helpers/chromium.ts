// Debian's headless Chromium, driven by playwright-core, for the browser end-to-end tests.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
// Without the background-networking flags Chromium keeps dialling out (updates, sync, QUIC
// probes), which this closed network would flag.
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
export const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts')

/**
 * Skips the calling suite when Chromium is missing, loudly, except in CI (.ci/run installs it),
 * where a missing browser is a failure.
 */
export function requireChromium(suite: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return
  const install = 'apt-get update && apt-get install -y chromium'
  if (process.env.CI) throw new Error(`${CHROMIUM} is not installed (.ci/run should have run: ${install})`)
  console.warn(
    [
      '',
      '  ##########################################################################',
      `  #  SKIPPING the browser end-to-end tests: ${CHROMIUM} is not installed.`,
      `  #  Install it with:   ${install}`,
      '  ##########################################################################',
      '',
    ].join('\n'),
  )
  suite.skip()
}

/** A browser with a fresh profile directory of its own; `close()` removes it. */
export interface Chromium {
  readonly context: BrowserContext
  readonly profile: string
  close(): Promise<void>
}

export async function launchChromium(): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), 'gatewire-chromium-'))
  // A persistent context is how playwright takes a --user-data-dir of our choosing: a fresh
  // one per run.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    headless: true,
    viewport: { width: 1100, height: 700 },
    timeout: 30_000,
  })
  return {
    context,
    profile,
    async close() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** Saves a screenshot of `page` under test-artifacts/. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, name) })
}
