import { expect } from 'chai'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

const ROOT = join(__dirname, '..')

/** Packages under node_modules that a fresh process has loaded after running `code`. */
function packagesLoadedBy(code: string): string[] {
  // Packages loaded before `code` runs (ts-node and its own dependencies) are left out.
  const script = `
    const loaded = () => new Set(Object.keys(require.cache)
      .filter((file) => file.includes('node_modules'))
      .map((file) => file.split('node_modules/').pop().split('/')[0]))
    const before = loaded()
    ${code}
    const added = [...loaded()].filter((name) => !before.has(name)).sort()
    process.stdout.write(JSON.stringify(added))`
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  return JSON.parse(out) as string[]
}

describe('gatewire/core entry', () => {
  it('exports the protocol and transport API', async () => {
    const core = await import('../src/core')
    for (const name of ['createServer', 'connect', 'Connection', 'Server', 'FrameParser', 'applyMask', 'CloseCode']) {
      expect(core, name).to.have.property(name)
    }
    expect(core).not.to.have.property('Gateway')
  })

  it('loads no package outside Node itself', () => {
    expect(packagesLoadedBy("require('./src/core')")).to.deep.equal([])
  })

  it('the main entry loads class-validator and class-transformer only once a gateway validates a DTO', () => {
    expect(packagesLoadedBy("require('./src')")).to.deep.equal(['reflect-metadata'])
    const validating = `
      const { compilePayloadValidator } = require('./src/framework/payload-validator')
      class Dto {}
      compilePayloadValidator('event', Dto, Dto, true)`
    expect(packagesLoadedBy(`require('./src'); ${validating}`)).to.include.members(['class-transformer', 'class-validator'])
  })
})
