// The TypeScript in README.md and docs/*.md must compile, and the README's Quickstart must run.
//
// Rules (they apply to every section, present and future, without changes to this file):
// - Every fenced block tagged ```ts (or ```typescript) in README.md and docs/*.md is type-checked
//   as a module of its own: strict, CommonJS with node10 resolution (the set-up of a CommonJS or
//   NestJS project), experimentalDecorators + emitDecoratorMetadata. Imports of `gatewire` and
//   its subpaths resolve to ./src through package.json `exports`; other packages (class-validator,
//   chai, ...) resolve from ./node_modules.
// - Write blocks as complete files: imports included, and no top-level `await` (CommonJS has
//   none). A block that is deliberately partial is preceded, on the line right before its fence,
//   by `<!-- not-compiled: reason -->`. Keep those few.
// - `<!-- file: name.ts -->` on the line before a fence names the block; the named blocks of one
//   markdown file can import each other (`import { AppModule } from './chat'`).
// - A block with a `describe(` at the start of a line holds mocha tests: it is also run with mocha
//   in a temporary project, beside the named blocks of its markdown file, and each of its `it(`
//   must pass.
// - README.md's Quickstart is `chat.ts`, `main.ts` and `chat.test.ts`: main.ts is also started
//   (PORT=0) and talked to, and chat.test.ts runs against chat.ts by the rule above.
import { expect } from 'chai'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, relative } from 'node:path'
import * as ts from 'typescript'
import { connect, type Connection } from '../../src/transport'
import { markdownCodeBlocks, type CodeBlock } from './markdown-code-blocks'

const ROOT = join(__dirname, '..', '..')
/** Where the blocks live for the compiler: virtual files, inside the repository so that packages resolve. */
const VIRTUAL = join(ROOT, '.doc-blocks')

interface Located extends CodeBlock {
  /** `README.md`, `docs/framework.md`, ... */
  readonly markdown: string
  /** The block's virtual path. */
  readonly path: string
}

function markdownFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort()
  return ['README.md', ...docs.map((name) => `docs/${name}`)]
}

function collect(): Located[] {
  const all: Located[] = []
  for (const markdown of markdownFiles()) {
    const seen = new Set<string>()
    for (const block of markdownCodeBlocks(readFileSync(join(ROOT, markdown), 'utf8'), markdown)) {
      const name = block.file ?? `line-${block.line}.ts`
      if (seen.has(name)) throw new Error(`${markdown}:${block.line}: a second block named ${name}`)
      seen.add(name)
      all.push({ ...block, markdown, path: join(VIRTUAL, markdown.replace(/[/.]/g, '_'), name) })
    }
  }
  return all
}

/** `gatewire`, `gatewire/core`, ... → the source file behind each package.json export's types. */
function entryPoints(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> }
  const entries: Record<string, string> = {}
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const types = findTypes(target)
    if (types === undefined) continue
    const source = types.replace(/^\.\//, '').replace(/^dist\//, '').replace(/\.d\.ts$/, '.ts')
    const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.replace(/^\.\//, '')}`
    if (!ts.sys.fileExists(join(ROOT, source))) throw new Error(`package.json exports ${specifier} (${types}), but ${source} does not exist`)
    entries[specifier] = join(ROOT, source)
  }
  return entries
}

function findTypes(target: unknown): string | undefined {
  if (typeof target === 'string') return target.endsWith('.d.ts') ? target : undefined
  if (target === null || typeof target !== 'object') return undefined
  for (const value of Object.values(target)) {
    const found = findTypes(value)
    if (found !== undefined) return found
  }
  return undefined
}

/** The compiler options of a user's CommonJS project (the repository's own tsconfig is not used). */
function compilerOptions(entries: Record<string, string>): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    moduleDetection: ts.ModuleDetectionKind.Force,
    lib: ['lib.es2022.d.ts'],
    types: ['node', 'mocha'],
    typeRoots: [join(ROOT, 'node_modules', '@types')],
    strict: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    baseUrl: ROOT,
    paths: Object.fromEntries(Object.entries(entries).map(([specifier, file]) => [specifier, [file]])),
  }
}

/** Type-checks every block at once; returns the formatted errors of each block, by virtual path. */
function typeCheck(blocks: readonly Located[]): Map<string, string[]> {
  const byPath = new Map(blocks.map((b) => [b.path, b]))
  const options = compilerOptions(entryPoints())
  const host = ts.createCompilerHost(options)
  const { fileExists, readFile, getSourceFile, directoryExists } = host
  host.fileExists = (file) => byPath.has(file) || fileExists.call(host, file)
  host.readFile = (file) => byPath.get(file)?.code ?? readFile.call(host, file)
  host.directoryExists = (dir) => dir.startsWith(VIRTUAL) || (directoryExists?.call(host, dir) ?? true)
  host.getSourceFile = (file, language, onError) => {
    const block = byPath.get(file)
    if (block !== undefined) return ts.createSourceFile(file, block.code, language, true)
    return getSourceFile.call(host, file, language, onError)
  }
  // src's own ambient declarations (Buffer internals), which its compiled .d.ts do not need.
  const ambient = readdirSync(join(ROOT, 'src', 'types')).filter((n) => n.endsWith('.d.ts')).map((n) => join(ROOT, 'src', 'types', n))
  const program = ts.createProgram({ rootNames: [...byPath.keys(), ...ambient], options, host })
  const errors = new Map<string, string[]>(blocks.map((b) => [b.path, []]))
  const global: string[] = []
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
    const block = diagnostic.file === undefined ? undefined : byPath.get(diagnostic.file.fileName)
    if (block === undefined || diagnostic.start === undefined) {
      const where = diagnostic.file === undefined ? '' : `${relative(ROOT, diagnostic.file.fileName)}: `
      global.push(`${where}TS${diagnostic.code}: ${message}`)
      continue
    }
    const { line, character } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start)
    const text = block.code.split('\n')[line]
    errors.get(block.path)!.push(`${block.markdown}:${block.line + line}:${character + 1} TS${diagnostic.code}: ${message}\n    ${text.trim()}`)
  }
  // An error outside the blocks (a broken option, a library) concerns them all.
  if (global.length > 0) for (const list of errors.values()) list.push(...global)
  return errors
}

const blocks = collect()
const compiled = blocks.filter((b) => b.notCompiled === undefined)

describe('code blocks in README.md and docs/*.md', function () {
  this.timeout(120_000)
  let errors: Map<string, string[]>

  before(() => {
    errors = typeCheck(compiled)
  })

  it('finds the blocks (README.md has the Quickstart, docs/ has blocks too)', () => {
    expect(compiled.filter((b) => b.markdown === 'README.md').length, 'TypeScript blocks in README.md').to.be.at.least(3)
    expect(compiled.filter((b) => b.markdown.startsWith('docs/')).length, 'TypeScript blocks in docs/*.md').to.be.at.least(1)
  })

  for (const block of blocks) {
    const label = `${block.markdown}:${block.line}${block.file === undefined ? '' : ` (${block.file})`}`
    if (block.notCompiled !== undefined) {
      it(`${label} is marked not-compiled with a reason: ${block.notCompiled}`, () => {
        expect(block.notCompiled).to.match(/\w{3,}/)
      })
      continue
    }
    it(`${label} type-checks`, () => {
      const list = errors.get(block.path)!
      expect(list, `\n${list.join('\n')}\n`).to.deep.equal([])
    })
  }
})

/** Whether a block defines mocha tests (a `describe(` at the start of a line). */
const definesTests = (block: CodeBlock): boolean => /^describe\(/m.test(block.code)

describe('running the docs', function () {
  this.timeout(60_000)
  const readme = new Map(blocks.filter((b) => b.markdown === 'README.md' && b.file !== undefined).map((b) => [b.file!, b]))
  let dir: string | undefined
  const children: ChildProcess[] = []
  let client: Connection | undefined

  /** A temporary project holding the named blocks of `markdown` (and `extra`), with `gatewire` installed. */
  function workspace(markdown: string, extra?: Located): string {
    dir = mkdtempSync(join(tmpdir(), 'gatewire-docs-'))
    for (const block of blocks) {
      if (block.markdown === markdown && (block.file !== undefined || block === extra)) writeFileSync(join(dir, basename(block.path)), block.code)
    }
    linkPackage(dir)
    const options = { target: 'ES2022', module: 'commonjs', strict: true, experimentalDecorators: true, emitDecoratorMetadata: true, esModuleInterop: true }
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: options }))
    return dir
  }

  afterEach(async () => {
    client?.terminate()
    client = undefined
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGKILL')
        await exited
      }
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    dir = undefined
  })

  /** Runs `node -r ts-node/register/transpile-only ...args` in `cwd`, collecting its output. */
  function run(cwd: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
    const child = spawn(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), ...args], {
      cwd,
      env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules'), TS_NODE_PROJECT: join(cwd, 'tsconfig.json'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    return { child, output: () => output, exit }
  }

  it('has the Quickstart: README.md blocks named chat.ts, main.ts and chat.test.ts', () => {
    for (const name of ['chat.ts', 'main.ts', 'chat.test.ts']) {
      expect(readme.has(name), `README.md has no block marked <!-- file: ${name} -->`).to.equal(true)
    }
  })

  it('README.md main.ts starts the chat, which welcomes, answers a say event and stops with 1001 on SIGINT', async () => {
    const main = run(workspace('README.md'), ['main.ts'], { PORT: '0' })
    const port = await within(20_000, 'main.ts to print its ws://localhost:<port> address', async () => {
      for (;;) {
        const match = /ws:\/\/localhost:(\d+)/.exec(main.output())
        if (match !== null) return Number(match[1])
        const ended = await Promise.race([main.exit.then(() => true), new Promise<false>((r) => main.child.stdout!.once('data', () => r(false)))])
        if (ended) throw new Error(`main.ts exited before listening:\n${main.output()}`)
      }
    })
    const conn = connect(`ws://127.0.0.1:${port}/chat/lobby`, { protocols: ['chat.v2'] })
    client = conn
    const received: string[] = []
    conn.on('text', (text: string) => received.push(text))
    const closed = new Promise<number>((resolve) => conn.once('close', (code: number) => resolve(code)))
    await within(5000, 'the welcome message', () => until(() => received.length >= 1, conn))
    expect(received[0]).to.equal('welcome to lobby')
    conn.sendText(JSON.stringify({ event: 'say', data: { text: 'hi' } }))
    await within(5000, 'the answer to a say event', () => until(() => received.length >= 2, conn))
    expect(JSON.parse(received[1])).to.deep.equal({ event: 'said', data: 'hi' })

    main.child.kill('SIGINT')
    expect(await within(10_000, 'the close after SIGINT', () => closed)).to.equal(1001)
    expect(await within(10_000, 'main.ts to exit after SIGINT', () => main.exit), main.output()).to.equal(0)
  })

  it('finds the mocha tests of the docs (at least the Quickstart\'s chat.test.ts)', () => {
    expect(compiled.filter(definesTests).map((b) => b.file)).to.include('chat.test.ts')
  })

  for (const block of compiled.filter(definesTests)) {
    it(`${block.markdown}:${block.line}${block.file === undefined ? '' : ` (${block.file})`} passes under mocha`, async () => {
      const cwd = workspace(block.markdown, block)
      const mocha = run(cwd, [require.resolve('mocha/bin/mocha.js'), '--no-config', '--require', require.resolve('ts-node/register/transpile-only'), '--timeout', '10000', '--exit', basename(block.path)])
      const code = await within(45_000, `mocha to finish ${block.markdown}:${block.line}`, () => mocha.exit)
      expect(code, mocha.output()).to.equal(0)
      const passing = /(\d+) passing/.exec(mocha.output())
      expect(passing, mocha.output()).to.not.equal(null)
      const declared = block.code.match(/^\s*it\(/gm)?.length ?? 0
      expect(Number(passing![1]), `tests passing out of the ${declared} its(...) of the block`).to.equal(declared)
    })
  }
})

/**
 * `node_modules/gatewire` in `dir`: one shim per package.json export, each requiring the source
 * behind it, so the blocks import `gatewire` exactly as a user does.
 */
function linkPackage(dir: string): void {
  const pkg = join(dir, 'node_modules', 'gatewire')
  mkdirSync(pkg, { recursive: true })
  const exports: Record<string, string> = {}
  for (const [specifier, source] of Object.entries(entryPoints())) {
    const name = specifier === 'gatewire' ? 'index.js' : `${specifier.slice('gatewire/'.length).replace(/\//g, '-')}.js`
    writeFileSync(join(pkg, name), `module.exports = require(${JSON.stringify(source)})\n`)
    exports[specifier === 'gatewire' ? '.' : `./${specifier.slice('gatewire/'.length)}`] = `./${name}`
  }
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'gatewire', main: 'index.js', exports }))
}

/** Resolves with `work`, or fails with what was awaited when it takes longer than `ms`. */
async function within<T>(ms: number, what: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms)
  })
  try {
    return await Promise.race([work(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once `done()` holds, re-checking on each message of `conn`; rejects if it closes first. */
function until(done: () => boolean, conn: Connection): Promise<void> {
  return new Promise((resolve, reject) => {
    if (done()) return resolve()
    const check = (): void => {
      if (!done()) return
      cleanup()
      resolve()
    }
    const closed = (code: number): void => {
      cleanup()
      reject(new Error(`the connection closed (${code}) first`))
    }
    const cleanup = (): void => {
      conn.off('text', check)
      conn.off('close', closed)
    }
    conn.on('text', check)
    conn.on('close', closed)
  })
}
