import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import * as ts from 'typescript'
import { cjsNode10, esmMjs, esmNodeNext, type ConsumerProject, type EntrySpecifier } from './consumer-projects'

// What a user gets from `npm pack` + `npm install ./gatewire-<version>.tgz`: the test packs a copy
// of this checkout (without dist/, as a fresh clone has none, so `prepare` must build it), installs
// the tarball once into a folder shared by three consumer projects, compiles them with this repo's
// TypeScript 5.9 (and TypeScript 7 from the registry) and runs a gateway and a gatewire/testing test
// in each. The entry points come from package.json `exports`, so a new one is checked as it is added.

const ROOT = join(__dirname, '..', '..')
const MANIFEST = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageManifest
const TSC_5 = require.resolve('typescript/bin/tsc')
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const NPM_QUIET = ['--prefer-offline', '--no-audit', '--no-fund']
/** TypeScript 7 (the native compiler): installed once into a cache outside the test's temp dir. */
const TS7_VERSION = '7.0.2'
const TS7_CACHE = join(tmpdir(), 'gatewire-test-cache', `typescript-${TS7_VERSION}`)
/** What a fresh clone has not: never copied into the checkout that is packed. */
const NOT_IN_A_CLONE = new Set(['node_modules', 'dist', '.git', 'test-artifacts', join('bench', 'node_modules'), join('src', 'protocol', 'mask-simd-binary.ts')])

interface PackageManifest {
  name: string
  main: string
  types: string
  exports: Record<string, string | Record<string, string>>
  typesVersions?: Record<string, Record<string, string[]>>
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

interface EntryPoint extends EntrySpecifier {
  /** Declarations the `types` condition points at, relative to the package. */
  readonly types: string | undefined
  /** The JavaScript Node loads (`default`, else `require`), relative to the package. */
  readonly runtime: string | undefined
}

/** Every JavaScript entry point in `exports` (`./package.json` is data, not an entry point). */
function entryPoints(manifest: PackageManifest): EntryPoint[] {
  return Object.entries(manifest.exports)
    .filter(([key]) => key !== './package.json')
    .map(([key, target]) => ({
      key,
      specifier: key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`,
      types: typeof target === 'string' ? undefined : target.types,
      runtime: typeof target === 'string' ? target : (target.default ?? target.require),
    }))
}

interface Output {
  stdout: string
  stderr: string
}

/**
 * Runs a command, bounded by `timeout`; rejects with the command, why it failed and all it
 * printed. npm's own per-run variables are dropped so that the child npm sees this checkout as
 * any user's shell would, not as the `npm test` that started mocha.
 */
function run(file: string, args: readonly string[], cwd: string, timeout = 60_000): Promise<Output> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_(package|lifecycle|config_(local_)?prefix)/i.test(name)))
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { cwd, timeout, env, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) return resolvePromise({ stdout, stderr })
      const why = error.killed ? `was killed after ${timeout} ms` : `exited with ${error.code ?? error.signal}`
      reject(new Error(`\`${[file, ...args].join(' ')}\` in ${cwd} ${why}:\n${stdout}${stderr}`))
    })
  })
}

/** A list of problems as an assertion message: the first ten, and how many more. */
function listed(problems: readonly string[]): string {
  const more = problems.length > 10 ? `\n… and ${problems.length - 10} more` : ''
  return problems.slice(0, 10).join('\n') + more
}

/** Writes a consumer project's files under `dir`. */
function writeProject(dir: string, project: ConsumerProject): string {
  const home = join(dir, project.name)
  for (const [file, text] of Object.entries(project.files)) {
    mkdirSync(dirname(join(home, file)), { recursive: true })
    writeFileSync(join(home, file), text)
  }
  return home
}

/** The version of `name` installed in this checkout, so that the consumers' install hits npm's cache. */
function installedVersion(name: string): string | undefined {
  const file = join(ROOT, 'node_modules', name, 'package.json')
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : undefined
}

/** Asserts that a node:test run printed a pass and no failure (its exit code is checked by run()). */
function expectNodeTestPassed(output: Output): void {
  expect(output.stdout, `node:test output:\n${output.stdout}${output.stderr}`).to.match(/^# pass [1-9]/m)
  expect(output.stdout, `node:test output:\n${output.stdout}${output.stderr}`).to.match(/^# fail 0$/m)
}

/** `tsc` of TypeScript 7 from the cache (installed on first use), or why it cannot be had. */
async function typeScript7(): Promise<{ tsc: string } | { unavailable: string }> {
  const tsc = join(TS7_CACHE, 'node_modules', 'typescript', 'bin', 'tsc')
  if (existsSync(tsc)) return { tsc }
  let published: string
  try {
    published = (await run(NPM, ['view', `typescript@${TS7_VERSION}`, 'version'], tmpdir(), 30_000)).stdout.trim()
  } catch (error) {
    published = `(${(error as Error).message.split('\n').slice(1).join(' ').trim().slice(0, 200)})`
  }
  if (published !== TS7_VERSION) return { unavailable: `the npm registry has no typescript@${TS7_VERSION} or cannot be reached ${published}` }
  // Installed beside the cache and renamed into place, so two test runs at once cannot see half of it.
  mkdirSync(dirname(TS7_CACHE), { recursive: true })
  const staging = mkdtempSync(`${TS7_CACHE}.staging-`)
  writeFileSync(join(staging, 'package.json'), JSON.stringify({ private: true }))
  await run(NPM, ['install', ...NPM_QUIET, `typescript@${TS7_VERSION}`], staging, 120_000)
  try {
    renameSync(staging, TS7_CACHE)
  } catch {
    rmSync(staging, { recursive: true, force: true }) // another run got there first
  }
  return { tsc }
}

describe('package.json entry points', () => {
  it('gives every entry point but the main one a typesVersions entry naming its exports types, for node10 resolution', () => {
    const mapped = MANIFEST.typesVersions?.['*'] ?? {}
    const problems: string[] = []
    for (const entry of entryPoints(MANIFEST)) {
      if (entry.types === undefined) problems.push(`exports['${entry.key}'] has no "types" condition`)
      if (entry.key === '.') continue
      const subpath = entry.key.slice(2)
      if (JSON.stringify(mapped[subpath]) !== JSON.stringify([entry.types])) {
        problems.push(`typesVersions["*"]["${subpath}"] must be ["${entry.types}"] (is ${JSON.stringify(mapped[subpath])})`)
      }
    }
    for (const subpath of Object.keys(mapped)) {
      if (!(`./${subpath}` in MANIFEST.exports)) problems.push(`typesVersions["*"]["${subpath}"] has no exports['./${subpath}']`)
    }
    expect(problems, listed(problems)).to.deep.equal([])
  })

  it("names the main entry's files in main and types too, for tools that read no exports", () => {
    const main = entryPoints(MANIFEST).find((entry) => entry.key === '.')
    const relativePath = (path: string | undefined): string | undefined => path?.replace(/^\.\//, '')
    expect(relativePath(main?.runtime), 'exports["."] default vs main').to.equal(relativePath(MANIFEST.main))
    expect(relativePath(main?.types), 'exports["."] types vs types').to.equal(relativePath(MANIFEST.types))
  })
})

describe('the packed package, installed in consumer projects', function () {
  this.timeout(150_000) // a compile on a loaded machine; every child process has its own bound
  const entries = entryPoints(MANIFEST)
  let tmp: string
  let consumers: string
  let installed: string
  let packed: string[]
  const project: Record<string, string> = {}

  before(async function () {
    this.timeout(300_000)
    tmp = mkdtempSync(join(tmpdir(), 'gatewire-packaging-'))
    const checkout = join(tmp, 'checkout')
    cpSync(ROOT, checkout, { recursive: true, filter: (file) => !NOT_IN_A_CLONE.has(relative(ROOT, file)) })
    // The build tools of this checkout, as `npm ci` would have installed them.
    symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'junction')
    const pack = await run(NPM, ['pack', '--json', '--pack-destination', tmp], checkout, 180_000)
    const [report] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>
    packed = report.files.map((file) => file.path)

    consumers = join(tmp, 'consumers')
    mkdirSync(consumers)
    // Peer dependencies are installed too, so that every entry point (gatewire/redis, ...) loads.
    const peers = Object.fromEntries(Object.entries(MANIFEST.peerDependencies ?? {}).map(([name, range]) => [name, installedVersion(name) ?? range]))
    const dependencies = { [MANIFEST.name]: `file:${join(tmp, report.filename)}`, '@types/node': installedVersion('@types/node') ?? '20', ...peers }
    writeFileSync(join(consumers, 'package.json'), JSON.stringify({ name: 'consumers', private: true, dependencies }, null, 2))
    await run(NPM, ['install', ...NPM_QUIET], consumers, 180_000)
    installed = join(consumers, 'node_modules', MANIFEST.name)
    for (const consumer of [cjsNode10(entries), esmNodeNext(entries), esmMjs(entries)]) project[consumer.name] = writeProject(consumers, consumer)
  })

  after(() => {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true })
  })

  describe('the tarball', () => {
    it('holds the runtime file and the declarations of every entry point', () => {
      const missing = entries.flatMap((entry) =>
        [entry.runtime, entry.types]
          .filter((target): target is string => target !== undefined && !packed.includes(target.slice(2)))
          .map((target) => `exports['${entry.key}'] → ${target} is not in the tarball`),
      )
      expect(missing, listed(missing)).to.deep.equal([])
    })

    it('ships only the build of src/, the sources its maps point at, README, LICENSE and package.json', () => {
      const stray = packed.filter((file) => !/^(dist\/src\/|src\/)/.test(file) && !['README.md', 'LICENSE', 'package.json'].includes(file))
      expect(stray, `files outside dist/src and src: ${stray.join(', ')}`).to.deep.equal([])
      expect(packed).to.include('LICENSE')
    })

    it('has a source for every path its source maps name', () => {
      const dangling: string[] = []
      for (const map of packed.filter((file) => file.endsWith('.map'))) {
        const { sources } = JSON.parse(readFileSync(join(installed, map), 'utf8')) as { sources: string[] }
        for (const source of sources) {
          const target = relative(installed, resolve(dirname(join(installed, map)), source)).split(sep).join('/')
          if (!packed.includes(target)) dangling.push(`${map} → ${source}`)
        }
      }
      expect(packed.filter((file) => file.endsWith('.map')).length, 'source maps in the tarball').to.be.greaterThan(0)
      expect(dangling, listed(dangling)).to.deep.equal([])
    })
  })

  it('resolves every entry point to its declarations under node10, node16, nodenext and bundler resolution', () => {
    const { ModuleKind, ModuleResolutionKind } = ts
    const resolutions: Array<{ name: string; options: ts.CompilerOptions; mode?: ts.ResolutionMode }> = [
      { name: 'node10', options: { module: ModuleKind.CommonJS, moduleResolution: ModuleResolutionKind.Node10 } },
      { name: 'node16, require', options: { module: ModuleKind.Node16, moduleResolution: ModuleResolutionKind.Node16 }, mode: ModuleKind.CommonJS },
      { name: 'node16, import', options: { module: ModuleKind.Node16, moduleResolution: ModuleResolutionKind.Node16 }, mode: ModuleKind.ESNext },
      { name: 'nodenext, require', options: { module: ModuleKind.NodeNext, moduleResolution: ModuleResolutionKind.NodeNext }, mode: ModuleKind.CommonJS },
      { name: 'nodenext, import', options: { module: ModuleKind.NodeNext, moduleResolution: ModuleResolutionKind.NodeNext }, mode: ModuleKind.ESNext },
      { name: 'bundler', options: { module: ModuleKind.ESNext, moduleResolution: ModuleResolutionKind.Bundler } },
    ]
    const from = join(project['cjs-node10'], 'src', 'entries.ts')
    const problems: string[] = []
    for (const entry of entries) {
      const expected = entry.types === undefined ? undefined : join(installed, entry.types)
      for (const { name, options, mode } of resolutions) {
        const found = ts.resolveModuleName(entry.specifier, from, options, ts.sys, undefined, undefined, mode).resolvedModule
        if (found === undefined) problems.push(`${entry.specifier} (${name}): no types found`)
        else if (found.resolvedFileName !== expected) problems.push(`${entry.specifier} (${name}): resolved to ${found.resolvedFileName}, not ${expected}`)
      }
    }
    expect(problems, listed(problems)).to.deep.equal([])
  })

  it('loads only its own dependencies on require of the main entry (no peer or dev dependency)', async () => {
    const script = `require(${JSON.stringify(MANIFEST.name)})
      const packages = Object.keys(require.cache).filter((file) => file.includes('node_modules'))
        .map((file) => file.split(/node_modules[\\\\/]/).pop().split(/[\\\\/]/)[0])
      console.log(JSON.stringify([...new Set(packages)].filter((name) => name !== ${JSON.stringify(MANIFEST.name)})))`
    const { stdout } = await run(process.execPath, ['-e', script], project['cjs-node10'])
    const loaded = JSON.parse(stdout) as string[]
    expect(loaded).to.include('reflect-metadata')
    expect(loaded.filter((name) => !(name in (MANIFEST.dependencies ?? {})))).to.deep.equal([])
  })

  for (const name of ['cjs-node10', 'esm-nodenext']) {
    describe(`a TypeScript consumer: ${name}`, () => {
      it('compiles with TypeScript 5.9 against the installed declarations', async () => {
        await run(process.execPath, [TSC_5, '-p', 'tsconfig.json'], project[name], 120_000)
      })

      it('serves a gateway with bootstrap() and talks to it with the client of gatewire/core', async () => {
        const { stdout } = await run(process.execPath, ['out/main.js'], project[name])
        expect(stdout).to.include('main: lobby:HI')
      })

      it('passes a gatewire/testing test', async () => {
        expectNodeTestPassed(await run(process.execPath, ['out/app.test.js'], project[name]))
      })

      it('loads every entry point', async () => {
        const { stdout } = await run(process.execPath, ['out/entries.js'], project[name])
        expect(stdout).to.include(`entries: ${entries.length} loaded`)
      })
    })
  }

  describe('a plain ESM consumer: esm-mjs', () => {
    it('passes a gatewire/testing test with decorators applied as functions', async () => {
      expectNodeTestPassed(await run(process.execPath, ['app.test.mjs'], project['esm-mjs']))
    })

    it('sees with import every named export that require sees, for every entry point', async () => {
      const { stdout } = await run(process.execPath, ['entries.mjs'], project['esm-mjs'])
      expect(stdout).to.include('entries: named exports match')
    })
  })

  describe(`TypeScript ${TS7_VERSION} (native tsc, installed from the registry once)`, () => {
    let tsc7: string

    before(async function () {
      this.timeout(180_000)
      const found = await typeScript7()
      if ('unavailable' in found) {
        console.log(`      skipped: ${found.unavailable}`)
        this.skip()
      } else {
        tsc7 = found.tsc
      }
    })

    // TypeScript 7 removed node10 resolution: with module commonjs it resolves like a bundler.
    for (const name of ['cjs-node10', 'esm-nodenext']) {
      it(`compiles the ${name} consumer, whose gateway and gatewire/testing test then pass`, async () => {
        await run(process.execPath, [tsc7, '-p', 'tsconfig.ts7.json'], project[name], 120_000)
        expectNodeTestPassed(await run(process.execPath, ['out-ts7/app.test.js'], project[name]))
        const { stdout } = await run(process.execPath, ['out-ts7/main.js'], project[name])
        expect(stdout).to.include('main: lobby:HI')
      })
    }
  })
})
