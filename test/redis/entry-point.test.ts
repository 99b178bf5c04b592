import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'chai'

const ROOT = join(__dirname, '..', '..')

/** The modules loaded in a fresh Node process after requiring `entry` (through ts-node). */
function modulesLoadedBy(entry: string): string[] {
  const script = `require(${JSON.stringify(entry)}); process.stdout.write(JSON.stringify(Object.keys(require.cache)))`
  const output = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
  return JSON.parse(output) as string[]
}

describe('the gatewire/redis entry point', function () {
  this.timeout(60_000)

  for (const entry of ['./src/index.ts', './src/core.ts']) {
    it(`is the only one that loads ioredis: ${entry} does not`, () => {
      const loaded = modulesLoadedBy(entry)
      expect(loaded.some((file) => file.includes(join('src', entry.includes('core') ? 'core.ts' : 'index.ts'))), 'the entry itself loaded').to.equal(true)
      expect(loaded.filter((file) => /[\\/]node_modules[\\/]ioredis[\\/]|[\\/]src[\\/]redis[\\/]/.test(file))).to.deep.equal([])
    })
  }

  it('loads ioredis when gatewire/redis is imported', () => {
    const loaded = modulesLoadedBy('./src/redis/index.ts')
    expect(loaded.some((file) => /[\\/]node_modules[\\/]ioredis[\\/]/.test(file))).to.equal(true)
  })

  it('is declared in package.json: an export, and ioredis an optional peer dependency', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require(join(ROOT, 'package.json')) as {
      exports: Record<string, { types: string; default: string }>
      peerDependencies: Record<string, string>
      peerDependenciesMeta: Record<string, { optional: boolean }>
      dependencies: Record<string, string>
    }
    expect(pkg.exports['./redis']).to.deep.equal({ types: './dist/src/redis/index.d.ts', default: './dist/src/redis/index.js' })
    expect(pkg.peerDependencies.ioredis).to.match(/^\^6\./)
    expect(pkg.peerDependenciesMeta.ioredis).to.deep.equal({ optional: true })
    expect(pkg.dependencies).to.not.have.property('ioredis')
  })

  it('imports only ioredis, Node, the broker contract and the pure codec', () => {
    const dir = join(ROOT, 'src', 'redis')
    const files = readdirSync(dir).filter((name) => name.endsWith('.ts'))
    expect(files).to.include('redis-broker.ts')
    for (const name of files) {
      const specs = [...readFileSync(join(dir, name), 'utf8').matchAll(/^(?:import|export)\s[^\n]*?from\s+'([^']+)'/gm)].map((m) => m[1])
      for (const spec of specs) expect(spec, `src/redis/${name}`).to.match(/^(ioredis|node:[a-z_/]+|\.\/[a-z-]+|\.\.\/broker\/[a-z-]+|\.\.\/protocol\/[a-z0-9-]+)$/)
    }
  })
})
