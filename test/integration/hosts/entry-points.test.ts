import { expect } from 'chai'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

const ROOT = join(__dirname, '..', '..', '..')

/** The host packages a file loads when required alone, in a fresh Node process. */
function hostPackagesLoadedBy(entry: string): string[] {
  const script = `require(${JSON.stringify(entry)}); console.log(JSON.stringify(Object.keys(require.cache).map((k) => (/node_modules\\/((?:@nestjs\\/)?[^/]+)\\//.exec(k) || [])[1]).filter((p) => /^(fastify|@nestjs\\/|express)/.test(p || ''))))`
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8' })
  return [...new Set(JSON.parse(out) as string[])]
}

describe('hosts: entry points', () => {
  it("loads neither Fastify nor Nest nor Express with import 'gatewire'", () => {
    expect(hostPackagesLoadedBy('./src')).to.deep.equal([])
  })

  it('loads no Fastify code with gatewire/fastify (its types only)', () => {
    expect(hostPackagesLoadedBy('./src/fastify')).to.deep.equal([])
  })

  it('loads @nestjs/common and @nestjs/core with gatewire/nest, and neither Fastify nor Express', () => {
    const loaded = hostPackagesLoadedBy('./src/nest')
    expect(loaded).to.include.members(['@nestjs/common', '@nestjs/core'])
    expect(loaded.filter((p) => !p.startsWith('@nestjs/'))).to.deep.equal([])
  })
})
